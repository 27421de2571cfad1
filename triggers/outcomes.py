"""How one run of an action ended (shared by every kind of action)."""

from dataclasses import dataclass

from triggers.choices import ErrorCategory, ExecutionStatus, failure_status


@dataclass(frozen=True)
class ActionOutcome:
    """How one run of an action ended."""

    status: str
    category: str | None = None
    summary: str = ""
    error: str = ""
    attempts: int = 1
    whatsapp_attempts: int = 0
    hold_reason: str = ""
    # The gateway said the instance is not connected (or could not be reached at all).
    not_connected: bool = False

    @classmethod
    def completed(cls, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        return cls(ExecutionStatus.COMPLETED, None, summary, "", attempts)

    @classmethod
    def failure(cls, category: str, error: str, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        """Return a failed outcome; `failure_status` decides whether it can be tried again."""
        return cls(failure_status(category), ErrorCategory(category), summary, error, attempts)

    @classmethod
    def held(cls, reason: str, why: str, attempts: int = 0) -> "ActionOutcome":
        """Return an outcome that waits (`held`) for `reason`, without counting as a failure."""
        return cls(ExecutionStatus.HELD, None, "", why, attempts, hold_reason=reason)

    @classmethod
    def transient(cls, error: str, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        return cls.failure(ErrorCategory.TRANSIENT, error, summary, attempts)

    @classmethod
    def permanent(cls, error: str, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        return cls.failure(ErrorCategory.PERMANENT, error, summary, attempts)
