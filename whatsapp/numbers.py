"""WhatsApp recipients: phone numbers and JIDs, as the gateway wants them.

Evolution Go applies its country fixes (Brazil's ninth digit, Mexico's and
Argentina's prefixes) only to bare numbers and passes anything holding a JID
suffix through untouched (docs/evolution-go.md, "Numbers"). So phone numbers go
out as bare digits and JIDs as they are: a JID built here would skip the fixes.
"""

import re

JID_SUFFIXES = ("@s.whatsapp.net", "@g.us", "@lid", "@broadcast", "@newsletter")
_JID = re.compile(r"^[0-9A-Za-z._:-]+@(s\.whatsapp\.net|g\.us|lid|broadcast|newsletter)$")
_PHONE_FORMATTING = re.compile(r"[\s()+.-]")


class InvalidNumber(ValueError):
    """The recipient is neither a phone number nor a WhatsApp JID."""


def gateway_number(number: str) -> str:
    """Return the recipient as the gateway should receive it: bare digits, or the JID unchanged.

    A phone number may carry `+`, spaces, dots, dashes and parentheses
    (`+55 (11) 99999-0000` becomes `5511999990000`); it must have 8 to 15
    digits. A JID (`…@s.whatsapp.net`, `@g.us`, `@lid`, `@broadcast`,
    `@newsletter`) passes unchanged. Anything else raises `InvalidNumber`.
    """
    text = str(number).strip()
    if _JID.match(text):
        return text
    digits = _PHONE_FORMATTING.sub("", text)
    if digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15:
        return digits
    raise InvalidNumber(f"invalid number {text[:40]!r}: expected 8-15 digits or a WhatsApp JID")
