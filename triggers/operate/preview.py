"""What an execution's action would do if it ran now: the one preview the replay doors show.

An operator about to replay must see what goes out to a customer: the WhatsApp
message as it would be rendered now (and the media URL), or the script and its
arguments. The admin's confirmation page, `replay_executions --dry-run` and
`GET /api/triggers/executions/<id>/replay-preview` all show this.
"""

from dataclasses import asdict, dataclass, field

from triggers.choices import ActionType
from triggers.execute.messaging import resolve_recipient
from triggers.models import TriggerExecution
from triggers.templating import render_message


@dataclass(frozen=True)
class SendPreview:
    """What the action would do now; `error` when its template no longer renders."""

    recipient: str | None
    incoming: str
    outgoing: str | None = None
    media_url: str | None = None
    script: str | None = None
    args: list[str] = field(default_factory=list)
    replies_via_whatsapp: bool = False
    error: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        """Return the preview as one line for people: what goes out, and to whom."""
        if self.error:
            return f"cannot be sent: {self.error}"
        if self.script is not None:
            command = " ".join([self.script, *self.args])
            reply = f", replies via WhatsApp to {self.recipient}" if self.replies_via_whatsapp else ""
            return f"runs {command}{reply}"
        media = f" with {self.media_url}" if self.media_url else ""
        return f"sends {self.outgoing!r}{media} to {self.recipient}"


def preview(execution: TriggerExecution) -> SendPreview:
    """Return what replaying `execution` would do, rendered from its stored event now."""
    trigger, event = execution.trigger, execution.event_data if isinstance(execution.event_data, dict) else {}
    payload = trigger.action_payload
    incoming = str(event.get("text") or event.get("event_type") or "")
    if trigger.action_type == ActionType.SCRIPT:
        replies = trigger.sends_whatsapp
        return SendPreview(
            recipient=resolve_recipient(trigger.recipient, event) if replies else None,
            incoming=incoming,
            script=str(payload.get("script")),
            args=[str(arg) for arg in payload.get("args", [])],
            replies_via_whatsapp=replies,
        )
    recipient = resolve_recipient(trigger.recipient, event)
    try:
        outgoing = render_message(payload.get("message") or "", event).strip()
        media_url = render_message(payload["media"], event).strip() if payload.get("media") else None
    except Exception as exc:  # any template error: show it rather than fail the page
        return SendPreview(recipient, incoming, error=f"the template no longer renders: {exc}")
    return SendPreview(recipient, incoming, outgoing=outgoing, media_url=media_url)
