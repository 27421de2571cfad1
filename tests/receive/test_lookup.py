"""The webhook finds its trigger without a query per request, never a stale one, and keeps secrets home."""

import subprocess
import sys
import uuid

import pytest
import redis
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.support.processes import ROOT, process_env
from tests.support.signing import SECRET
from triggers.models import Trigger
from triggers.receive.lookup import get_trigger


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


def test_a_bulk_update_is_seen_at_once(make_trigger, post_event):
    trigger = make_trigger()
    assert post_event(trigger, {"a": 1}).status_code == 202

    Trigger.objects.filter(pk=trigger.pk).update(enabled=False)

    assert post_event(trigger, {"a": 2}).json() == {"status": "ignored", "reason": "disabled"}


@pytest.fixture
def redis_cache(settings):
    """Return a Redis client on the database the shared cache now uses, emptied before and after."""
    url = "redis://127.0.0.1:6379/14"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}}
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield client
    client.flushdb()


def test_with_redis_no_secret_reaches_the_shared_cache(make_trigger, redis_cache):
    trigger = make_trigger(next_secret="the-next-secret-0123456789")
    get_trigger(str(trigger.public_id))
    trigger.enabled = False
    trigger.save()
    get_trigger(str(trigger.public_id))

    stored = b"".join(redis_cache.dump(key) or b"" for key in redis_cache.keys("*"))
    assert redis_cache.keys("*")  # the version token is there
    assert SECRET.encode() not in stored
    assert b"the-next-secret" not in stored


@pytest.mark.process
def test_with_redis_a_change_made_by_another_process_is_seen_at_the_next_request(
    transactional_db, make_trigger, redis_cache
):
    trigger = make_trigger()
    assert get_trigger(str(trigger.public_id)).enabled is True
    code = (
        "import django; django.setup(); from triggers.models import Trigger; "
        f"Trigger.objects.filter(pk={trigger.pk}).update(enabled=False)"
    )

    subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=process_env(REDIS_URL="redis://127.0.0.1:6379/14"),
        check=True,
        timeout=60,
    )

    assert get_trigger(str(trigger.public_id)).enabled is False
