"""The WhatsApp gateway breaker: pause an instance's sends while it is down, resume by itself.

When Evolution Go's instance is not connected (the phone is offline, the session
expired), every send fails with `client disconnected` after up to 48 s inside the
server. Rather than burn a worker and three attempts on each, then drop them all in
the dead-letter queue, an execution whose send meets a down gateway waits in
`held` (reason `gateway_down`), and after `GATEWAY_BREAKER_FAILURES` such failures
in a row the breaker opens: sends are not attempted at all.

The instance's own connection events move it too (`connection_lost`): `Disconnected`
and `ConnectFailure` open it at once (no send needs to fail first); `LoggedOut` opens
it until the phone is paired again (no periodic probe can close it); `TemporaryBan`
holds every send until the ban's end, then probes. A `Connected` event only asks for a
status probe (`claim_event_probe`, rate-limited): it decides nothing itself.

It closes by itself: a probe of `/instance/status` (every 15 s, doubling to 5 min,
or asked for by a `Connected` event) that finds the instance connected moves it to
half-open, where the oldest waiting execution is the one
trial send. Its success closes the breaker and releases every waiting execution
in arrival order, spaced `GATEWAY_RELEASE_INTERVAL_SECONDS` apart; its failure
opens it again. An operator may close it by hand, or open it for maintenance
(then only an operator closes it).

Each instance (one WhatsApp number) has its own breaker, one database row, and
every move is a conditional UPDATE, so any number of workers agree on it; one
number down holds only its own sends. This module is the state machine; the executor
(`triggers/execute/executor.py`) releases waiting executions and queues the probes.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from evonexus.logs import log_event
from triggers.choices import ExecutionStatus, HoldReason
from triggers.models import GatewayBreaker, TriggerExecution
from triggers.stats.metrics import BREAKER_TRANSITIONS
from whatsapp.models import Instance
from whatsapp.retry import RetryPolicy

logger = logging.getLogger("evonexus.breaker")

State = GatewayBreaker.State


def _row(instance: Instance) -> GatewayBreaker:
    return GatewayBreaker.objects.get_or_create(instance=instance)[0]


def _breaker(instance: Instance) -> QuerySet[GatewayBreaker]:
    """Return the instance's breaker row as a query, for conditional updates."""
    _row(instance)
    return GatewayBreaker.objects.filter(instance=instance)


def waiting(instance: Instance) -> QuerySet[TriggerExecution]:
    """Return the executions waiting for `instance` to come back, oldest first."""
    return TriggerExecution.objects.held(HoldReason.GATEWAY_DOWN).filter(trigger__instance=instance)


def _longer_interval(breaker: GatewayBreaker) -> int:
    """Return the breaker's next probe interval: twice the current one, up to the maximum."""
    return min(max(breaker.probe_interval_seconds, 1) * 2, settings.GATEWAY_PROBE_MAX_SECONDS)


def _closing(now: datetime) -> dict:
    """Return the fields of a breaker closing at `now`: nothing held, nothing to probe or try."""
    return {
        "state": State.CLOSED,
        "trial_execution_id": None,
        "opened_at": None,
        "next_probe_at": None,
        "banned_until": None,
        "changed_at": now,
    }


def _transition(instance: Instance, to: str, now: datetime, **fields) -> None:
    BREAKER_TRANSITIONS.labels(to).inc()
    level = logging.WARNING if to == State.OPEN else logging.INFO
    count = waiting(instance).count()
    name = instance.name
    log_event(logger, "gateway_breaker", level=level, instance=name, state=to, waiting=count, **fields)


def enabled() -> bool:
    """Return whether the breaker is on (`GATEWAY_BREAKER_FAILURES` above 0)."""
    return settings.GATEWAY_BREAKER_FAILURES > 0


def may_send(instance: Instance, execution_id: int) -> bool:
    """Return whether execution `execution_id` may contact `instance` now.

    Always when the breaker is off or closed; when half-open, only the trial.
    """
    if not enabled():
        return True
    breaker = _row(instance)
    if breaker.state == State.CLOSED:
        return True
    return breaker.state == State.HALF_OPEN and breaker.trial_execution_id == execution_id


def note_not_connected(
    instance: Instance, error: str, *, failures: int = 1, now: datetime | None = None
) -> datetime | None:
    """Return when to probe, if this send that found the gateway down opened the breaker.

    `failures` counts the send's attempts (each was a "not connected"). The
    breaker opens at `GATEWAY_BREAKER_FAILURES` in a row, so with the default
    3 the first send that fails all its attempts opens it; or at once when the
    half-open trial fails (probing then half as often).
    """
    now = now or timezone.now()
    breaker = _breaker(instance)
    breaker.update(consecutive_failures=F("consecutive_failures") + max(failures, 1), last_error=error[:500])
    interval = settings.GATEWAY_PROBE_MIN_SECONDS
    opened = breaker.filter(
        state=State.CLOSED, consecutive_failures__gte=settings.GATEWAY_BREAKER_FAILURES
    ).update(
        state=State.OPEN,
        opened_at=now,
        probe_interval_seconds=interval,
        next_probe_at=now + timedelta(seconds=interval),
        changed_at=now,
        changed_by="",
    )
    if not opened:
        # A failed trial: back to open, probing less often.
        interval = _longer_interval(_row(instance))
        opened = breaker.filter(state=State.HALF_OPEN).update(
            state=State.OPEN,
            trial_execution_id=None,
            probe_interval_seconds=interval,
            next_probe_at=now + timedelta(seconds=interval),
            changed_at=now,
        )
    if not opened:
        return None
    _transition(instance, State.OPEN, now, error=error[:200], next_probe_in_s=interval)
    return now + timedelta(seconds=interval)


# A ban longer than this is held this long, then probed (a bogus expiry cannot hold forever).
MAX_BAN = timedelta(days=30)
# Connection events ask for at most one status probe in this long.
EVENT_PROBE_INTERVAL = timedelta(seconds=10)


def ban_length(ban_seconds: float | None) -> timedelta:
    """Return how long a ban of `ban_seconds` holds sends: `MAX_BAN` at most, and when unknown."""
    return MAX_BAN if ban_seconds is None else min(timedelta(seconds=max(ban_seconds, 0)), MAX_BAN)


def connection_lost(
    instance: Instance,
    how: str, *, error: str, ban_seconds: float | None = None, now: datetime | None = None
) -> datetime | None:
    """Return when to probe, after the instance said its connection is gone (`None`: do not probe).

    `how` is `disconnected` (probe from `GATEWAY_PROBE_MIN_SECONDS` on),
    `logged_out` (never probe: the phone must be paired again) or `banned`
    (hold until `ban_seconds` from now, at most `MAX_BAN`, then probe). A
    breaker an operator opened stays theirs. Repeated events change nothing
    but a longer ban.
    """
    now = now or timezone.now()
    changes = {"state": State.OPEN, "trial_execution_id": None, "last_error": error[:500], "changed_at": now}
    probe_at: datetime | None = now + timedelta(seconds=settings.GATEWAY_PROBE_MIN_SECONDS)
    if how == "logged_out":
        probe_at = None
        changes["logged_out"] = True
    elif how == "banned":
        probe_at = changes["banned_until"] = now + ban_length(ban_seconds)
    opening = _breaker(instance).filter(manual=False).exclude(state=State.OPEN, logged_out=True)
    if how == "disconnected":
        opening = opening.exclude(state=State.OPEN)
    elif how == "banned":
        opening = opening.exclude(banned_until__gte=probe_at)
    moved = opening.update(
        **changes,
        opened_at=Coalesce(F("opened_at"), Value(now)),
        probe_interval_seconds=settings.GATEWAY_PROBE_MIN_SECONDS,
        next_probe_at=probe_at,
    )
    if not moved:
        return None
    _transition(instance, State.OPEN, now, error=error[:200], reason=how)
    if how == "logged_out":
        log_event(
            logger,
            "gateway_logged_out",
            level=logging.ERROR,
            instance=instance.name,
            action=f"pair the phone again (manage.py evolution qr --instance {instance.name}); sends wait",
        )
    return probe_at


def claim_event_probe(instance: Instance, *, now: datetime | None = None) -> bool:
    """Return whether a connection event may have a status probe now (one per `EVENT_PROBE_INTERVAL`).

    A forged or repeated `Connected` costs at most that: it never moves the
    breaker, its trial or its probe interval itself.
    """
    now = now or timezone.now()
    due = Q(event_probe_at__isnull=True) | Q(event_probe_at__lte=now - EVENT_PROBE_INTERVAL)
    return bool(_breaker(instance).filter(due).update(event_probe_at=now))


def note_paired(instance: Instance, *, now: datetime | None = None) -> None:
    """Clear the logged-out hold once a probe found the instance connected and logged in again."""
    _breaker(instance).filter(logged_out=True).update(logged_out=False, changed_at=now or timezone.now())


def note_connected(instance: Instance, *, now: datetime | None = None) -> bool:
    """Return whether waiting executions may go, after a send reached a connected gateway.

    Resets the failure count and closes an open or half-open breaker (unless
    an operator holds it open).
    """
    now = now or timezone.now()
    breaker = _breaker(instance)
    breaker.exclude(consecutive_failures=0).update(consecutive_failures=0)
    closable = breaker.filter(state__in=(State.OPEN, State.HALF_OPEN), manual=False, logged_out=False)
    closed = closable.exclude(banned_until__gt=now).update(**_closing(now))
    if closed:
        _transition(instance, State.CLOSED, now)
    return _row(instance).state == State.CLOSED


def begin_trial(instance: Instance, *, now: datetime | None = None) -> int | None:
    """Return the waiting execution chosen as the half-open trial (the caller releases it), or `None`.

    Called when the gateway looks connected again (a probe, a `Connected`
    event). Nothing waiting: the breaker simply closes. A breaker opened by an
    operator stays open.
    """
    now = now or timezone.now()
    oldest = waiting(instance).values_list("pk", flat=True).first()
    breaker = _breaker(instance).filter(state=State.OPEN, manual=False, logged_out=False)
    breaker = breaker.exclude(banned_until__gt=now)
    if oldest is None:
        if breaker.update(**_closing(now)):
            _transition(instance, State.CLOSED, now)
        return None
    # A ban is over once a trial may begin (the exclude above).
    trial = {"trial_execution_id": oldest, "banned_until": None, "changed_at": now}
    if not breaker.update(state=State.HALF_OPEN, **trial):
        return None
    _transition(instance, State.HALF_OPEN, now, trial=oldest)
    return oldest


def probe(instance: Instance, *, now: datetime | None = None) -> tuple[bool, datetime | None]:
    """Return whether a due probe found the instance connected, and when to probe next.

    Only an open breaker whose probe is due is probed, by one process (the
    claim moves `next_probe_at` on, doubling the interval up to
    `GATEWAY_PROBE_MAX_SECONDS`). `(False, None)`: nothing was due.
    """
    now = now or timezone.now()
    current = _row(instance)
    if current.state != State.OPEN or current.manual or current.logged_out or current.next_probe_at is None:
        return False, None
    interval = _longer_interval(current)
    claimed = _breaker(instance).filter(
        state=State.OPEN, manual=False, next_probe_at=current.next_probe_at, next_probe_at__lte=now
    ).update(probe_interval_seconds=interval, next_probe_at=now + timedelta(seconds=interval))
    if not claimed:
        return False, None
    connected, error = instance_connected(instance)
    fields = {"connected": connected, "error": error, "next_probe_in_s": interval}
    log_event(logger, "gateway_probe", instance=instance.name, **fields)
    return connected, now + timedelta(seconds=interval)


def instance_connected(instance: Instance) -> tuple[bool, str]:
    """Return whether `/instance/status` says the instance is connected and logged in, and any error.

    What it says is recorded as the instance's state; an unreachable server tells nothing.
    """
    status = instance.client(policy=RetryPolicy(max_attempts=1)).status()
    data = status.data if isinstance(status.data, dict) else {}
    connected = status.ok and data.get("Connected") is True and data.get("LoggedIn") is True
    if connected:
        instance.note_state(Instance.State.CONNECTED)
    elif status.ok:
        gone = Instance.State.DISCONNECTED if data.get("LoggedIn") is not False else Instance.State.LOGGED_OUT
        instance.note_state(gone)
    return connected, status.error


def trial_outcome(instance: Instance) -> str | None:
    """Return the status of a half-open breaker's trial execution (`None` when not half-open)."""
    current = _row(instance)
    if current.state != State.HALF_OPEN:
        return None
    found = TriggerExecution.objects.filter(pk=current.trial_execution_id).values_list("status", flat=True)
    return found.first() or ExecutionStatus.FAILED


def set_by_operator(instance: Instance, open_: bool, *, user: str, now: datetime | None = None) -> bool:
    """Return whether an operator's open (maintenance) or close changed the breaker.

    Opened by hand, it stays open (no probes, no `Connected`) until closed by
    hand; the caller releases the waiting executions after a close.
    """
    now = now or timezone.now()
    breaker = _breaker(instance)
    if open_:
        changed = breaker.exclude(state=State.OPEN, manual=True).update(
            state=State.OPEN,
            manual=True,
            opened_at=now,
            next_probe_at=None,
            trial_execution_id=None,
            changed_at=now,
            changed_by=user,
        )
    else:
        changed = breaker.exclude(state=State.CLOSED).update(
            **_closing(now), manual=False, consecutive_failures=0, logged_out=False, changed_by=user
        )
    if changed:
        _transition(instance, State.OPEN if open_ else State.CLOSED, now, user=user)
    return bool(changed)


@dataclass(frozen=True)
class BreakerStatus:
    """An instance's breaker as operators see it: the banner, /healthz, the metrics."""

    instance: str
    state: str
    since: datetime | None
    waiting: int
    next_check: datetime | None
    manual: bool
    last_error: str
    logged_out: bool = False
    banned_until: datetime | None = None

    @property
    def open(self) -> bool:
        return self.state != State.CLOSED

    def as_dict(self) -> dict:
        return {
            "instance": self.instance,
            "state": self.state,
            "since": self.since.isoformat() if self.since else None,
            "waiting": self.waiting,
            "next_check": self.next_check.isoformat() if self.next_check else None,
            "opened_by_operator": self.manual,
            "logged_out": self.logged_out,
            "banned_until": self.banned_until.isoformat() if self.banned_until else None,
        }


def status(instance: Instance) -> BreakerStatus:
    """Return the instance's breaker state now (two small queries)."""
    return _status(_row(instance), instance)


def _status(current: GatewayBreaker, instance: Instance) -> BreakerStatus:
    """Return the state of `instance`'s breaker row `current`, with the executions waiting for it."""
    return BreakerStatus(
        instance=instance.name,
        state=current.state,
        since=current.opened_at or (current.changed_at if current.state != State.CLOSED else None),
        waiting=waiting(instance).count(),
        next_check=current.next_probe_at,
        manual=current.manual,
        last_error=current.last_error,
        logged_out=current.logged_out,
        banned_until=current.banned_until,  # every close clears it
    )


def statuses() -> list[BreakerStatus]:
    """Return every instance's breaker state, by instance name."""
    return [status(instance) for instance in Instance.objects.order_by("name")]


def open_statuses() -> list[BreakerStatus]:
    """Return the states of the breakers holding sends back (open or half-open), by instance name.

    One query when every breaker is closed: the banner's cost on every admin page.
    """
    rows = GatewayBreaker.objects.exclude(state=State.CLOSED).select_related("instance")
    return [_status(row, row.instance) for row in rows.order_by("instance__name")]
