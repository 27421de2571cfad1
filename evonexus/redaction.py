"""Secret redaction: the one rule for which names hold credentials, for stored events and printed output."""

import re
from typing import Any

REDACTED = "[redacted]"

# Key names whose values are credentials, at any depth of a payload, once normalized.
_SECRET_KEY_NAME = re.compile(r"token|secret|passw(or)?d|authorization|apikey|signature")
# Separators people put in names: `api-key`, `X-Api-Key`, `Api Key`, `api_key`, `api.key`.
_SEPARATORS = re.compile(r"[\s_\-.]+")


def is_secret_name(name: str) -> bool:
    """Return whether a key named `name` holds a credential (token, secret, password, api key...).

    Names are compared lower-cased (case-folded) with separators removed, so
    `api-key`, `X-Api-Key`, `Api Key` and `API_KEY` are all `apikey`.
    """
    return bool(_SECRET_KEY_NAME.search(_SEPARATORS.sub("", name.casefold())))


def redact_secrets(value: Any) -> Any:
    """Return a copy of `value` with every credential-named key's value replaced.

    Keys named like token, secret, password, authorization, apikey or
    signature (any case, any depth, e.g. `instanceToken`) become `"[redacted]"`.
    """
    if isinstance(value, dict):
        return {
            key: REDACTED if isinstance(key, str) and is_secret_name(key) else redact_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_secrets(item) for item in value]
    return value
