"""Read settings from the environment, failing loudly on malformed values.

A typo in a deployment's environment should stop the process at start-up with a
message naming the variable, not run with a silently wrong default.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "") -> str:
    """Return the variable's value, or `default` when it is unset or empty."""
    return os.environ.get(name, "") or default


def env_bool(name: str, default: bool = False) -> bool:
    """Return the variable as a boolean; only true/false spellings are accepted.

    Unset or empty means `default`; anything else (e.g. "ture") is an error.
    """
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    """Return the variable as an integer, at least `minimum` when given."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def env_float(name: str, default: float, *, minimum: float = 0.0) -> float:
    """Return the variable as a float, at least `minimum`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if not value >= minimum:  # also rejects NaN
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {raw}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Return a comma-separated variable as a list of non-empty, stripped items."""
    raw = os.environ.get(name, "")
    if not raw.strip():
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_seconds_list(name: str, default: list[float]) -> list[float]:
    """Return a comma-separated list of non-negative durations in seconds (at least one)."""
    items = env_list(name)
    if not items:
        return list(default)
    try:
        values = [float(item) for item in items]
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be comma-separated seconds, e.g. 60,300") from None
    if not all(value >= 0 for value in values):  # also rejects NaN
        raise ImproperlyConfigured(f"{name} must not hold negative durations")
    return values
