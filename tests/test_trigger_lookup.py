"""The webhook finds its trigger without a query per request, and never serves a stale one here."""

import uuid

from django.db import connection
from django.test.utils import CaptureQueriesContext

from triggers.lookup import get_trigger


def test_a_second_lookup_needs_no_query(make_trigger):
    trigger = make_trigger()
    get_trigger(str(trigger.public_id))

    with CaptureQueriesContext(connection) as queries:
        found = get_trigger(str(trigger.public_id))

    assert found.pk == trigger.pk
    assert len(queries) == 0


def test_saving_a_trigger_is_seen_at_once(make_trigger, post_event):
    trigger = make_trigger()
    assert post_event(trigger, {"a": 1}).status_code == 202

    trigger.enabled = False
    trigger.save()

    assert post_event(trigger, {"a": 2}).json() == {"status": "ignored", "reason": "disabled"}


def test_a_deleted_trigger_is_gone_at_once(make_trigger, post_event):
    trigger = make_trigger()
    get_trigger(str(trigger.public_id))

    trigger.delete()

    assert get_trigger(str(trigger.public_id)) is None


def test_unknown_and_malformed_ids_are_not_found(db):
    assert get_trigger(str(uuid.uuid4())) is None
    assert get_trigger("not-a-uuid") is None
