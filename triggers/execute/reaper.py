"""Crash safety: find executions whose worker or task was lost.

Safe to run from several machines at once: every change is a conditional
UPDATE, so each lost execution is handled by exactly one reaper.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from evonexus.logs import log_event
from triggers.execute.executor import enqueue_execution, release_capped, tick_gateway
from triggers.models import TriggerExecution

logger = logging.getLogger("evonexus.reaper")

@dataclass
class ReapResult:
    lost: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)


def reap_lost_runs(now: datetime) -> list[int]:
    """Return the executions moved to the DLQ because their worker died mid-run.

    A run older than `EXECUTION_LEASE_SECONDS` lost its worker; see
    `ExecutionQuerySet.mark_lost`.
    """
    cutoff = now - timedelta(seconds=settings.EXECUTION_LEASE_SECONDS)
    lost = []
    for execution_id in TriggerExecution.objects.lost_runs(cutoff).values_list("pk", flat=True):
        if TriggerExecution.objects.mark_lost(execution_id, cutoff=cutoff, now=now):
            lost.append(execution_id)
            log_event(logger, "execution_reaped", level=logging.WARNING, exec_id=execution_id, reason="lease")
    return lost


def requeue_stranded(now: datetime) -> list[int]:
    """Return the executions queued again because their task may be gone.

    A pending execution older than `PENDING_REQUEUE_SECONDS` (or a redelivery
    that long overdue) gets a new task, at most once per that period; the
    claim's compare-and-set makes a surplus task a no-op.
    """
    cutoff = now - timedelta(seconds=settings.PENDING_REQUEUE_SECONDS)
    requeued = []
    for execution_id in TriggerExecution.objects.stranded(cutoff).values_list("pk", flat=True):
        with transaction.atomic():
            won = TriggerExecution.objects.redeliver(execution_id, cutoff=cutoff, now=now)
            if won:
                enqueue_execution(execution_id)
        if won:
            requeued.append(execution_id)
            log_event(logger, "execution_requeued", exec_id=execution_id)
    return requeued


def reap(*, now: datetime | None = None) -> ReapResult:
    """Return what one reaper pass did: lost runs to the DLQ, stranded executions re-queued.

    It also moves the gateway breaker on where a lost task would have (a due
    probe, a finished trial, executions still waiting after it closed).
    """
    now = now or timezone.now()
    result = ReapResult(lost=reap_lost_runs(now), requeued=requeue_stranded(now))
    tick_gateway(now=now)
    release_capped(now=now)
    return result
