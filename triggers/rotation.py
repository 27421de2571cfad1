"""Secret rotation: a trigger holds a next secret beside its current one for a while.

The one place the rotation rules live; the API, the admin and the
`rotate_trigger_secret` command call these. During a rotation both secrets
verify, so the sender can be switched over at any moment without losing events:

1. `start_rotation` sets the next secret (generated, or one the sender chose).
2. The operator configures the sender with it.
3. `finish_rotation` makes it the only secret (or `cancel_rotation` drops it).
"""

from django.db import transaction

from triggers.models import Trigger, generate_secret

MIN_SECRET_LENGTH = 16


class RotationError(Exception):
    """The rotation step does not apply to the trigger's state (answered 409 by the API)."""


def _locked(trigger: Trigger) -> Trigger:
    return Trigger.objects.select_for_update().get(pk=trigger.pk)


def start_rotation(trigger: Trigger, next_secret: str | None = None) -> str:
    """Return the next secret, which now verifies beside the current one.

    Without `next_secret` one is generated. Starting again during a rotation
    replaces the next secret (the old next secret stops verifying). Raises
    `ValueError` for a secret shorter than 16 characters or equal to the current one.
    """
    next_secret = generate_secret() if next_secret is None else next_secret.strip()
    if len(next_secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"The next secret must have at least {MIN_SECRET_LENGTH} characters.")
    with transaction.atomic():
        locked = _locked(trigger)
        if next_secret == locked.secret:
            raise ValueError("The next secret must differ from the current one.")
        locked.next_secret = next_secret
        locked.save(update_fields=["next_secret", "updated_at"])
    trigger.refresh_from_db()
    return next_secret


def finish_rotation(trigger: Trigger) -> None:
    """Make the next secret the only one; the old secret stops verifying.

    Raises `RotationError` when no rotation is in progress.
    """
    _end_rotation(trigger, promote=True)


def cancel_rotation(trigger: Trigger) -> None:
    """Drop the next secret; only the current one verifies again.

    Raises `RotationError` when no rotation is in progress.
    """
    _end_rotation(trigger, promote=False)


def _end_rotation(trigger: Trigger, *, promote: bool) -> None:
    with transaction.atomic():
        locked = _locked(trigger)
        if not locked.next_secret:
            raise RotationError("No secret rotation is in progress for this trigger.")
        if promote:
            locked.secret = locked.next_secret
        locked.next_secret = ""
        locked.save(update_fields=["secret", "next_secret", "updated_at"])
    trigger.refresh_from_db()
