"""What we sent, and what WhatsApp says became of it: recording sends and applying receipts.

Every message the gateway accepts from us is a `SentMessage`. Evolution Go's
`Receipt` events name those messages by the ids we gave them; each moves a
message forward once, with a conditional UPDATE (a repeated or late receipt
matches no row), so receipts posted twice or out of order leave the same result.
"""

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from triggers.models import SentMessage
from triggers.stats.metrics import MESSAGES_DELIVERED, MESSAGES_READ, MESSAGES_SENT
from whatsapp.models import Instance

DELIVERED, READ = "Delivered", "Read"


def record_sent(
    instance: Instance, execution_id: int, message_id: str, recipient: str, *, now: datetime | None = None
) -> None:
    """Record that `instance` accepted message `message_id` of execution `execution_id`.

    A message sent again under the same id (an automatic redelivery of the
    execution) keeps its first record.
    """
    _, created = SentMessage.objects.get_or_create(
        message_id=message_id,
        defaults={
            "execution_id": execution_id,
            "instance": instance,
            "recipient": recipient,
            "sent_at": now or timezone.now(),
        },
    )
    if created:
        MESSAGES_SENT.inc()


def apply_receipt(
    message_ids: Iterable[str], state: str, *, instance_id: int | None, now: datetime | None = None
) -> int:
    """Return how many of `message_ids` are messages `instance_id` sent, after applying the receipt to them.

    A receipt matches only the messages of the instance whose token
    authenticated it (the trigger's): one posted by instance A never marks a
    message B sent, even under the same id; with no instance, nothing.
    `Delivered` sets `delivered_at`; `Read` sets `read_at`, and `delivered_at`
    too when no Delivered came first (read implies delivered). Each is set
    once: a repeated or out-of-order receipt changes nothing. Other states
    (`ReadSelf`: read on our own other device) change nothing.
    """
    if instance_id is None:
        return 0
    ids = [message_id for message_id in message_ids if isinstance(message_id, str)][:1000]
    now = now or timezone.now()
    ours = SentMessage.objects.filter(instance_id=instance_id, message_id__in=ids)
    if state in (DELIVERED, READ):
        with transaction.atomic():
            MESSAGES_DELIVERED.inc(ours.filter(delivered_at__isnull=True).update(delivered_at=now))
            if state == READ:
                MESSAGES_READ.inc(ours.filter(read_at__isnull=True).update(read_at=now))
    return ours.count()
