"""How one run of an action ended (shared by every kind of action)."""

from dataclasses import dataclass

from triggers.models import ErrorCategory, ExecutionStatus


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
    def transient(cls, error: str, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        return cls(ExecutionStatus.FAILED_RETRYABLE, ErrorCategory.TRANSIENT, summary, error, attempts)

    @classmethod
    def permanent(cls, error: str, summary: str = "", attempts: int = 1) -> "ActionOutcome":
        return cls(ExecutionStatus.FAILED, ErrorCategory.PERMANENT, summary, error, attempts)
