"""Crash safety: find executions whose worker or task was lost.

Safe to run from several machines at once: every change is a conditional
UPDATE, so each lost execution is handled by exactly one reaper.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from evonexus.logs import log_event
from triggers.choices import ErrorCategory, ExecutionStatus, failure_status
from triggers.executor import enqueue_execution, release_capped, tick_gateway
from triggers.models import TriggerExecution

logger = logging.getLogger("evonexus.reaper")

LOST_WORKER_ERROR = "worker lost during execution; the action may have partly run"


@dataclass
class ReapResult:
    lost: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)


def reap_lost_runs(now: datetime) -> list[int]:
    """Return the executions moved to the DLQ because their worker died mid-run.

    A run older than `EXECUTION_LEASE_SECONDS` lost its worker. It becomes
    `failed_retryable` / `unknown` and is never re-run automatically: the
    action may have partly happened, so an operator decides.
    """
    cutoff = now - timedelta(seconds=settings.EXECUTION_LEASE_SECONDS)
    lost = []
    stale = TriggerExecution.objects.filter(status=ExecutionStatus.RUNNING, started_at__lt=cutoff)
    for execution_id in stale.values_list("pk", flat=True):
        moved = TriggerExecution.objects.filter(
            pk=execution_id, status=ExecutionStatus.RUNNING, started_at__lt=cutoff
        ).update(
            status=failure_status(ErrorCategory.UNKNOWN),
            error_category=ErrorCategory.UNKNOWN,
            error=LOST_WORKER_ERROR,
            completed_at=now,
            redelivery_at=None,
        )
        if moved:
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
    overdue = (Q(status=ExecutionStatus.PENDING) & Q(created_at__lt=cutoff)) | Q(
        status=ExecutionStatus.FAILED_RETRYABLE, redelivery_at__lt=cutoff
    )
    not_recently = Q(requeued_at__isnull=True) | Q(requeued_at__lt=cutoff)
    requeued = []
    for execution_id in TriggerExecution.objects.filter(overdue, not_recently).values_list("pk", flat=True):
        with transaction.atomic():
            won = TriggerExecution.objects.filter(overdue, not_recently, pk=execution_id).update(
                requeued_at=now
            )
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
