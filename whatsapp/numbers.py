"""WhatsApp recipients: phone numbers and JIDs, as the gateway takes them."""

import re

_JID = re.compile(r"^[0-9A-Za-z._:-]+@(s\.whatsapp\.net|g\.us|lid|broadcast|newsletter)$")
_PHONE_FORMATTING = re.compile(r"[\s()+.-]")


class InvalidNumber(ValueError):
    """The recipient is neither a phone number nor a WhatsApp JID."""


def to_jid(number: str) -> str:
    """Return the WhatsApp JID for a phone number or JID.

    Digits (with optional `+`, spaces, dots, dashes or parentheses; 8 to 15
    digits) become `<digits>@s.whatsapp.net`; a JID (`…@s.whatsapp.net`,
    `…@g.us`, `…@lid`) passes unchanged. Anything else raises `InvalidNumber`.
    """
    text = str(number).strip()
    if _JID.match(text):
        return text
    digits = _PHONE_FORMATTING.sub("", text)
    if digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15:
        return f"{digits}@s.whatsapp.net"
    raise InvalidNumber(f"invalid number {text[:40]!r}: expected 8-15 digits or a WhatsApp JID")
