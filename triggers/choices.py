"""The words the models store: sources, action types, execution statuses, error categories.

Kept apart from the models so that services, validators and the pure modules
can name them without importing the models.
"""

from django.db import models

from whatsapp import classify


class Source(models.TextChoices):
    GITHUB = "github", "GitHub"
    STRIPE = "stripe", "Stripe"
    LINEAR = "linear", "Linear"
    TELEGRAM = "telegram", "Telegram"
    DISCORD = "discord", "Discord"
    WHATSAPP = "whatsapp", "WhatsApp (Evolution Go / Evolution API)"
    CUSTOM = "custom", "Custom (N8N, scripts, anything)"


class ActionType(models.TextChoices):
    SCRIPT = "script", "Run a script"
    WHATSAPP = "whatsapp", "Send a WhatsApp message"


class ExecutionStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED_RETRYABLE = "failed_retryable", "Failed (retryable)"
    FAILED = "failed", "Failed (permanent)"
    REPLAYED = "replayed", "Replayed"
    # Waiting to send WhatsApp, without burning attempts: see `HoldReason`.
    HELD = "held", "Held"


class HoldReason(models.TextChoices):
    GATEWAY_DOWN = "gateway_down", "WhatsApp gateway unreachable"
    DAILY_CAP = "daily_cap", "WhatsApp daily cap reached"


class ErrorCategory(models.TextChoices):
    # The words are the gateway classifier's own: one definition for both.
    TRANSIENT = classify.TRANSIENT, "Transient"
    PERMANENT = classify.PERMANENT, "Permanent"
    UNKNOWN = classify.UNKNOWN, "Unknown"


def failure_status(category: str) -> ExecutionStatus:
    """Return the status an execution ends in when its action fails with `category`.

    Permanent failures are final (`failed`); transient and unknown ones
    (a crash, a lost worker) can be tried again (`failed_retryable`, the
    dead-letter queue).
    """
    if category == ErrorCategory.PERMANENT:
        return ExecutionStatus.FAILED
    return ExecutionStatus.FAILED_RETRYABLE
