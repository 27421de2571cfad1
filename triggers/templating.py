"""Message templates: the Django template language over an event, as plain text."""

from django.core.exceptions import ValidationError
from django.template import Context, Engine, TemplateSyntaxError

_ENGINE = Engine()


def validate_template(template: object, field: str, what: str) -> None:
    """Raise `ValidationError` unless `template` is a non-empty Django template that compiles.

    `field` names the payload key and `what` says what it is for, in the message.
    """
    if not isinstance(template, str) or not template.strip():
        raise ValidationError(f'A whatsapp action needs "{field}": {what} (a Django template).')
    try:
        _ENGINE.from_string(template)
    except TemplateSyntaxError as exc:
        raise ValidationError(f"The {field} template does not compile: {exc}") from None


def render_message(template: str, event: dict) -> str:
    """Return the message for `event`: the event's keys are template variables, and so is `event`."""
    # Messages are plain text, not HTML: nothing may be escaped (a Context escapes by default).
    return _ENGINE.from_string(template).render(Context({**event, "event": event}, autoescape=False))
