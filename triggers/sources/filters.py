"""A trigger's event filter: which parsed events it acts on, the same for every sender."""

import fnmatch
from collections.abc import Mapping
from typing import Any

from triggers.sources.base import lookup_path


def _filter_value_matches(expected: Any, actual: Any) -> bool:
    if isinstance(expected, str) and isinstance(actual, str):
        return actual == expected or fnmatch.fnmatchcase(actual, expected)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    return expected == actual


def matches_filter(event: dict, event_filter: Mapping[str, Any]) -> bool:
    """Return whether the event passes every condition of `event_filter`.

    Each key (a dotted path) is looked up in the event, then in `event.data`;
    a missing key fails. Strings match by equality or fnmatch pattern
    (`push`, `refs/heads/*`); other values by equality. An empty filter passes.
    """
    for path, expected in event_filter.items():
        actual = lookup_path(event, path)
        if actual is None:
            actual = lookup_path(event.get("data"), path)
        if actual is None or not _filter_value_matches(expected, actual):
            return False
    return True
