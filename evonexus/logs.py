"""Structured `evt=name key=value` log lines, one per thing that happened."""

import logging
import re
from typing import Any

# logging refuses extra fields that shadow a LogRecord attribute; such fields are renamed.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


# Characters that would break a line, or hide in it: every C0 and C1 control, DEL, and
# Unicode's line and paragraph separators. A value holding one is quoted with it escaped.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _format_value(value: Any) -> str:
    text = "-" if value is None else str(value)
    # Quote values with spaces, quotes or anything unprintable, so a line always splits
    # back into pairs and a value can never start a line of its own.
    if not text or any(ch in text for ch in ' "=') or _UNPRINTABLE.search(text):
        text = '"' + _UNPRINTABLE.sub(_escape, text.replace("\\", "\\\\").replace('"', '\\"')) + '"'
    return text


def format_event(evt: str, **fields: Any) -> str:
    """Return the `evt=... key=value` line for an event; `None` values print as `-`."""
    pairs = " ".join(f"{key}={_format_value(value)}" for key, value in fields.items())
    return f"evt={evt} {pairs}".rstrip()


def log_event(logger: logging.Logger, evt: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event line; the fields also travel as record attributes (for JSON logs)."""
    if logger.isEnabledFor(level):
        extra = {(f"field_{k}" if k in _RECORD_ATTRIBUTES else k): v for k, v in fields.items()}
        logger.log(level, format_event(evt, **fields), extra={"evt": evt, **extra})
