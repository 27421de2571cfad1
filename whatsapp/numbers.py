"""WhatsApp recipients: phone numbers and JIDs, as the gateway wants them.

Evolution Go's send routes (`/send/*`) apply its country fixes (Brazil's ninth
digit, Mexico's and Argentina's prefixes) to bare numbers, so phone numbers go
there as bare digits (`gateway_number`). Its message routes (`/message/react`,
`markread`, `presence`, `edit`, `delete`) use `CreateJID` as it is, which turns
bare digits into `+<digits>@s.whatsapp.net`, a JID whatsmeow cannot use: they get
a JID built here the way `CreateJID` builds it, fixes included (`message_jid`).
See docs/evolution-go.md, "Numbers" (the server's pkg/utils/utils.go).
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


def country_fixes(digits: str) -> str:
    """Return a phone number's digits as the server fixes them (`formatMXOrARNumber`, `formatBRNumber`).

    Mexico: 13 digits from 52 lose their 3rd and 4th; Argentina: 13 from 54 lose
    their 3rd; Brazil: 13 from 55 with an area code of 31 or more and a mobile
    first digit (7 and up) lose the ninth digit. Anything else is unchanged.
    """
    if len(digits) == 13 and digits[:2] == "52":
        digits = digits[:2] + digits[4:]
    elif len(digits) == 13 and digits[:2] == "54":
        digits = digits[:2] + digits[3:]
    if len(digits) == 13 and digits.startswith("55") and int(digits[2:4]) >= 31 and int(digits[4]) >= 7:
        digits = digits[:4] + digits[5:]
    return digits


def message_jid(number: str) -> str:
    """Return the recipient as a JID, built the way the server's `CreateJID` builds one from a number.

    A JID passes unchanged. A phone number (validated as `gateway_number`
    does) gets the country fixes, then `@s.whatsapp.net` (without the `+` the
    server would put in front). Raises `InvalidNumber` like `gateway_number`.
    """
    recipient = gateway_number(number)
    if _JID.match(recipient):
        return recipient
    return country_fixes(recipient) + "@s.whatsapp.net"
