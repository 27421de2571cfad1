"""Secret rotation: a trigger holds a next secret beside its current one for a while.

The one place the rotation rules live; the API, the admin and the
`rotate_trigger_secret` command call these. During a rotation both secrets
verify, so the sender can be switched over at any moment without losing events:

1. `start_rotation` sets the next secret (generated, or one the sender chose).
2. The operator configures the sender with it.
3. `finish_rotation` makes it the only secret (or `cancel_rotation` drops it).
"""

import logging

from django.db import transaction

from evonexus.logs import log_event
from triggers.choices import Source
from triggers.models import Trigger
from triggers.validators import MIN_SECRET_LENGTH, generate_secret

logger = logging.getLogger("evonexus.rotation")


class RotationError(Exception):
    """The rotation step does not apply to the trigger's state (answered 409 by the API)."""


def _locked(trigger: Trigger) -> Trigger:
    return Trigger.objects.select_for_update().get(pk=trigger.pk)


def start_rotation(trigger: Trigger, next_secret: str | None = None, *, user: str = "") -> str:
    """Return the next secret, which now verifies beside the current one.

    Without `next_secret` one is generated. Starting again during a rotation
    replaces the next secret (the old next secret stops verifying). Raises
    `ValueError` for a secret shorter than `MIN_SECRET_LENGTH` (16) characters or equal to the current one,
    and `RotationError` for a `whatsapp` trigger bound to its instance: its secret is that
    instance's token, rotated on the instance. Each step is logged with `user` (who asked),
    never with a secret.
    """
    next_secret = generate_secret() if next_secret is None else next_secret.strip()
    if len(next_secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"The next secret must have at least {MIN_SECRET_LENGTH} characters.")
    with transaction.atomic():
        locked = _locked(trigger)
        if locked.source == Source.WHATSAPP and locked.instance_id is not None:
            raise RotationError(
                "A whatsapp trigger's secret is its WhatsApp instance's token: rotate the instance's "
                "token instead (WhatsApp instances page, the API or evolution instance_update)."
            )
        if next_secret == locked.secret:
            raise ValueError("The next secret must differ from the current one.")
        locked.next_secret = next_secret
        locked.save(update_fields=["next_secret", "updated_at"])
    trigger.refresh_from_db()
    log_event(logger, "trigger_secret_rotation", trigger_id=trigger.pk, step="started", user=user)
    return next_secret


def finish_rotation(trigger: Trigger, *, user: str = "") -> None:
    """Make the next secret the only one; the old secret stops verifying.

    Raises `RotationError` when no rotation is in progress.
    """
    _end_rotation(trigger, promote=True, user=user)


def cancel_rotation(trigger: Trigger, *, user: str = "") -> None:
    """Drop the next secret; only the current one verifies again.

    Raises `RotationError` when no rotation is in progress.
    """
    _end_rotation(trigger, promote=False, user=user)


def _end_rotation(trigger: Trigger, *, promote: bool, user: str) -> None:
    with transaction.atomic():
        locked = _locked(trigger)
        if not locked.next_secret:
            raise RotationError("No secret rotation is in progress for this trigger.")
        if promote:
            locked.secret = locked.next_secret
        locked.next_secret = ""
        locked.save(update_fields=["secret", "next_secret", "updated_at"])
    trigger.refresh_from_db()
    step = "finished" if promote else "cancelled"
    log_event(logger, "trigger_secret_rotation", trigger_id=trigger.pk, step=step, user=user)
