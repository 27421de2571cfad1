"""WhatsApp instances through the API: write-only tokens, names that bind triggers, no delete while in use."""

import json

import pytest
from rest_framework.test import APIClient

from triggers.models import Trigger
from whatsapp.models import Instance

URL = "/api/whatsapp/instances/"
TOKEN = "token-of-the-shop-0123456789"


@pytest.fixture(autouse=True)
def no_settings_number(settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""


def create(staff_client, **fields):
    return staff_client.post(URL, {"name": "shop", "token": TOKEN, **fields}, format="json")


def test_it_creates_an_instance_and_never_shows_its_token(staff_client):
    created = create(staff_client, daily_cap=300)
    listed = staff_client.get(URL)
    one = staff_client.get(f"{URL}shop/")

    assert created.status_code == 201
    for answer in (created, listed, one):
        assert TOKEN not in answer.content.decode()
    assert one.json()["daily_cap"] == 300
    assert one.json()["state"] == "unknown"
    assert Instance.objects.get().token == TOKEN


def test_it_refuses_a_missing_token_a_taken_token_and_a_name_that_is_no_slug(staff_client):
    create(staff_client)

    missing = staff_client.post(URL, {"name": "other"}, format="json")
    taken = staff_client.post(URL, {"name": "other", "token": TOKEN}, format="json")
    bad_name = staff_client.post(URL, {"name": "no spaces", "token": "another-token-0123"}, format="json")

    assert (missing.status_code, list(missing.json())) == (400, ["token"])
    assert taken.status_code == 400 and TOKEN not in taken.content.decode()
    assert (bad_name.status_code, list(bad_name.json())) == (400, ["name"])


def test_a_patched_token_rotates_it_for_the_instances_whatsapp_trigger(staff_client, make_trigger):
    create(staff_client)
    trigger = make_trigger(source="whatsapp", secret=TOKEN)

    answer = staff_client.patch(f"{URL}shop/", {"token": "the-rotated-token-0123"}, format="json")

    trigger.refresh_from_db()
    assert answer.status_code == 200 and "the-rotated-token" not in answer.content.decode()
    assert trigger.secret == "the-rotated-token-0123"


def test_an_instance_with_triggers_is_not_deleted_409_and_one_without_is(staff_client, make_trigger):
    create(staff_client)
    make_trigger(source="whatsapp", slug="orders", secret=TOKEN)
    staff_client.post(URL, {"name": "spare", "token": "spare-token-0123456"}, format="json")

    refused = staff_client.delete(f"{URL}shop/")
    deleted = staff_client.delete(f"{URL}spare/")

    assert (refused.status_code, refused.json()["error"]) == (409, "instance_in_use")
    assert "orders" in refused.json()["message"]
    assert deleted.status_code == 204
    assert Instance.objects.names() == ["shop"]


def test_a_trigger_that_sends_must_name_its_instance_when_there_are_several(staff_client):
    create(staff_client)
    staff_client.post(URL, {"name": "other", "token": "other-token-0123456"}, format="json")
    body = {"name": "Alert", "slug": "alert", "action_type": "whatsapp", "action_payload": {"message": "hi"}}

    unnamed = staff_client.post("/api/triggers/", body, format="json")
    named = staff_client.post("/api/triggers/", {**body, "instance": "other"}, format="json")
    unknown = staff_client.post("/api/triggers/", {**body, "slug": "x", "instance": "nope"}, format="json")

    assert unnamed.status_code == 400
    assert "several WhatsApp instances exist (other, shop)" in json.dumps(unnamed.json())
    assert (named.status_code, named.json()["instance"]) == (201, "other")
    assert (unknown.status_code, list(unknown.json())) == (400, ["instance"])
    assert Trigger.objects.get().instance.name == "other"


def test_reading_instances_needs_the_view_permission(db, django_user_model):
    bare = django_user_model.objects.create_user("bare", password="pw-bare-12345", is_staff=True)
    api = APIClient()
    api.force_authenticate(bare)

    assert api.get(URL).status_code == 403


@pytest.mark.parametrize("name", ["shop", "%00", "a" * 60, "../x"])
def test_odd_names_in_the_url_get_a_404_never_a_500(staff_client, name):
    assert staff_client.get(f"{URL}{name}/").status_code == 404
