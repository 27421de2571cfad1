"""The trigger's filter, the same for every sender."""

from triggers.sources.filters import matches_filter


def test_a_pattern_matches_a_branch_and_a_missing_key_fails():
    event = {"event_type": "push", "branch": "release/1", "data": {"action": "opened"}}

    assert matches_filter(event, {"branch": "release/*", "action": "opened"})
    assert not matches_filter(event, {"missing": "x"})


def test_booleans_match_only_booleans():
    assert not matches_filter({"from_me": 1}, {"from_me": True})
    assert matches_filter({"from_me": True}, {"from_me": True})
