"""Structured `evt=name key=value` log lines, one per thing that happened."""

import logging
from typing import Any

# logging refuses extra fields that shadow a LogRecord attribute; such fields are renamed.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def _format_value(value: Any) -> str:
    text = "-" if value is None else str(value)
    # Quote values with spaces or quotes so a line always splits back into pairs.
    if not text or any(ch in text for ch in ' "=\n\r\t'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
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
