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

    @classmethod
    def completed(cls, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        return cls(ExecutionStatus.COMPLETED, None, summary, "", attempts)

    @classmethod
    def failure(cls, category: str, error: str, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        """Return a failed outcome; `failure_status` decides whether it can be tried again."""
        return cls(failure_status(category), ErrorCategory(category), summary, error, attempts)

    @classmethod
    def transient(cls, error: str, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        return cls.failure(ErrorCategory.TRANSIENT, error, summary, attempts)

    @classmethod
    def permanent(cls, error: str, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        return cls.failure(ErrorCategory.PERMANENT, error, summary, attempts)
