"""WhatsApp messages from events: the template, the recipient, and the send's outcome."""

import dataclasses
from dataclasses import dataclass

from triggers.choices import ExecutionStatus, HoldReason
from triggers.execute import breaker
from triggers.execute.receipts import record_sent
from triggers.models import TriggerExecution
from triggers.outcomes import ActionOutcome
from triggers.templating import render_message
from whatsapp import client as gateway
from whatsapp.media import media_type_for
from whatsapp.models import Instance

MAX_REPLY_CHARS = 4096

# Where each sender puts "who wrote this", in order of preference: the chat
# first, so a command sent in a group is answered in the group.
_SENDER_PATHS = (
    ("chat",),
    ("sender",),
    ("data", "phone"),
    ("data", "from"),
)


def resolve_recipient(configured: str, event: dict) -> str | None:
    """Return who to send to: the trigger's `configured` recipient, else the event's sender.

    The sender is the chat or sender of an Evolution Go message or the
    `remoteJid` of an Evolution API v2 one (both parsed into `chat` and
    `sender`), or `data.phone` / `data.from` of a custom event. `None` when
    there is none.
    """
    if configured.strip():
        return configured.strip()
    for path in _SENDER_PATHS:
        value: object = event
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


@dataclass(frozen=True)
class Media:
    """A file to send by URL, with Evolution Go's media `type`."""

    url: str
    media_type: str


def send_message(
    text: str,
    recipient: str,
    *,
    instance: Instance,
    execution_id: int,
    message_seed: str,
    media: Media | None = None,
    may_wait: bool = True,
) -> ActionOutcome:
    """Return the `ActionOutcome` of sending `text` (or `media`, captioned by it) from `instance`.

    `message_seed` fixes the WhatsApp message id, so every attempt of this
    send, and every retry after an ambiguous timeout, carries the same id. A
    message the gateway accepts is recorded for execution `execution_id`, so
    delivery receipts can find it. A send that finds the instance not
    connected surely did not go out: with the gateway breaker on and
    `may_wait`, the execution waits (`held`) to send it later, under the same id.
    """
    client = instance.client()
    message_id = gateway.derive_message_id(message_seed)
    if media is None:
        result = client.send_text(recipient, text, message_id=message_id)
    else:
        result = client.send_media(
            recipient, media.url, media.media_type, caption=text or None, message_id=message_id
        )
    if result.ok:
        chat = result.data.get("Info", {}).get("Chat") if isinstance(result.data, dict) else None
        record_sent(instance, execution_id, result.message_id, chat or recipient)
        summary = f"sent WhatsApp message {result.message_id} to {recipient} from {instance.name}"
        return ActionOutcome(
            ExecutionStatus.COMPLETED, None, summary, "", result.attempts, whatsapp_attempts=result.attempts
        )
    error = f"WhatsApp send failed after {result.attempts} attempt(s): {result.error}"
    if result.not_connected and may_wait and breaker.enabled():
        waits = ActionOutcome.held(HoldReason.GATEWAY_DOWN, error, attempts=result.attempts)
    else:
        waits = ActionOutcome.failure(result.category, error, attempts=result.attempts)
    return dataclasses.replace(waits, whatsapp_attempts=result.attempts, not_connected=result.not_connected)


def message_seed(execution: TriggerExecution) -> str:
    """Return the seed of the execution's message ids: its random `send_id`, unique across databases.

    A replay is a new execution, so it sends under new ids; the retries and
    redeliveries of one execution keep its ids.
    """
    return f"evonexus:send:{execution.send_id}"


def send_event_message(
    payload: dict, configured_recipient: str, event: dict, *, execution: TriggerExecution, instance: Instance
) -> ActionOutcome:
    """Return the outcome of the `whatsapp` action: the rendered message (or media) to the recipient.

    With `media` (a URL template) the file is sent and the message becomes
    its caption; `media_type` defaults to what the URL's extension says. No
    recipient, an empty message without media, or an empty media URL fails
    permanently with a clear error and no request.
    """
    recipient = resolve_recipient(configured_recipient, event)
    if recipient is None:
        return ActionOutcome.permanent(
            "no recipient: set the trigger's recipient, or send events that carry a sender", attempts=0
        )
    text = render_message(payload.get("message") or "", event).strip()
    media = None
    if payload.get("media"):
        url = render_message(payload["media"], event).strip()
        if not url:
            return ActionOutcome.permanent("the media template rendered to an empty URL", attempts=0)
        media = Media(url, payload.get("media_type") or media_type_for(url))
    elif not text:
        return ActionOutcome.permanent("the message template rendered to an empty message", attempts=0)
    seed = message_seed(execution)
    return send_message(
        text, recipient, instance=instance, execution_id=execution.pk, message_seed=seed, media=media
    )


def reply_with_output(
    output: str, configured_recipient: str, event: dict, *, execution: TriggerExecution, instance: Instance
) -> ActionOutcome:
    """Return the outcome of answering the event's sender with a script's output.

    The output is trimmed and cut to 4096 characters; empty output sends
    nothing and completes. The script's output stays in the summary.
    """
    text = output.strip()[:MAX_REPLY_CHARS]
    if not text:
        return ActionOutcome.completed("script printed nothing; no reply sent")
    recipient = resolve_recipient(configured_recipient, event)
    if recipient is None:
        return ActionOutcome.permanent("no recipient for the reply: the event carries no sender", output)
    seed = message_seed(execution) + ":reply"
    # The script has run: waiting would run it again on release, so a reply that meets a
    # down gateway fails as before (to the dead-letter queue) rather than wait.
    sent = send_message(
        text, recipient, instance=instance, execution_id=execution.pk, message_seed=seed, may_wait=False
    )
    summary = f"{output.rstrip()}\n---\n{sent.summary}" if sent.summary else output
    return dataclasses.replace(sent, summary=summary)
