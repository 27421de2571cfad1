"""Secret redaction: the one rule for which names hold credentials, for stored events and printed output."""

import json
import re
import unicodedata
from typing import Any

REDACTED = "[redacted]"

# Key names whose values are credentials, at any depth of a payload, once normalized.
# `auth` but not `author` or `authority`.
_SECRET_KEY_NAME = re.compile(
    r"token|secret|passw(or)?d|pwd|passphrase|authorization|auth(?!or)|apikey|signature|privatekey|credential|cookie"
)
# Separators people put in names (`api-key`, `X-Api-Key`, `Api Key`, `api_key`, `api.key`,
# `api:key`) and characters that show nothing (zero-width spaces and joiners).
_SEPARATORS = re.compile(r"[\s_\-.:/\u200b-\u200d\u2060\ufeff]+")


def is_secret_name(name: str) -> bool:
    """Return whether a key named `name` holds a credential (token, secret, password, api key...).

    Names are compared in one spelling: compatibility-normalized (NFKC: a
    full-width "token" is `token`), case-folded, with separators and
    invisible characters removed, so `api-key`, `X-Api-Key`, `Api Key`,
    `api:key` and `API_KEY` are all `apikey`.
    """
    spelled = _SEPARATORS.sub("", unicodedata.normalize("NFKC", name).casefold())
    return bool(_SECRET_KEY_NAME.search(spelled))


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
    if isinstance(value, str) and value.startswith("{") and (inner := _json_object(value)) is not None:
        # A JSON object inside a string (Evolution Go's instance `proxy`): its secrets too.
        redacted = redact_secrets(inner)
        return value if redacted == inner else json.dumps(redacted)
    return value


def _json_object(text: str) -> dict | None:
    try:
        found = json.loads(text)
    except ValueError:
        return None
    return found if isinstance(found, dict) else None
