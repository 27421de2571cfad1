"""The one retry policy for every gateway call, built on tenacity.

At most 3 attempts; before attempt n+1 wait `min(2**n + uniform(0, 0.5), 8)`
seconds (about 2-2.5 s, then 4-4.5 s); a `Retry-After` longer than that is
honoured; the total sleep never exceeds 8 s, and a wait that would break that
budget ends the retries instead.
"""

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import tenacity

from evonexus.logs import log_event

logger = logging.getLogger("evonexus.whatsapp")


class AttemptOutcome(Protocol):
    """What an attempt returns: whether it may be retried, and for how long to hold off."""

    retryable: bool
    retry_after: float | None
    status_code: int | None
    category: str | None


T = TypeVar("T", bound=AttemptOutcome)


@dataclass
class RetryPolicy:
    max_attempts: int = 3
    max_total_sleep: float = 8.0
    max_wait: float = 8.0
    max_jitter: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float, float], float] = field(default=random.uniform)

    def backoff(self, attempt_number: int) -> float:
        """Return the wait before attempt `attempt_number + 1` (without Retry-After)."""
        return min(2**attempt_number + self.jitter(0, self.max_jitter), self.max_wait)

    def _wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome.result()
        delay = self.backoff(state.attempt_number)
        if outcome.retry_after is not None:
            delay = max(delay, outcome.retry_after)
        return delay

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        over_budget = state.idle_for + state.upcoming_sleep > self.max_total_sleep
        return state.attempt_number >= self.max_attempts or over_budget

    def run(self, attempt: Callable[[], T], *, label: str) -> tuple[T, int]:
        """Return the last outcome of `attempt` and how many attempts were made.

        `attempt` must not raise for gateway failures: it returns an outcome
        whose `retryable` says whether another try may help.
        """

        def log_failed_attempt(state: tenacity.RetryCallState, delay: float | None) -> None:
            outcome = state.outcome.result()
            log_event(
                logger,
                "whatsapp_send_attempt",
                level=logging.WARNING,
                call=label,
                attempt=state.attempt_number,
                max_attempts=self.max_attempts,
                http_status=outcome.status_code,
                category=outcome.category,
                delay_s=None if delay is None else round(delay, 2),
            )

        def give_up(state: tenacity.RetryCallState) -> T:
            log_failed_attempt(state, None)
            return state.outcome.result()

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_result(lambda outcome: outcome.retryable),
            wait=self._wait,
            stop=self._stop,
            sleep=self.sleep,
            before_sleep=lambda state: log_failed_attempt(state, state.upcoming_sleep),
            retry_error_callback=give_up,
        )
        attempts = 0

        def counted_attempt() -> T:
            nonlocal attempts
            attempts += 1
            return attempt()

        return retrying(counted_attempt), attempts
