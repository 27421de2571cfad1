"""Secret rotation: old and new secrets both verify until the rotation is finished."""

import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from tests.support.forms import admin_trigger_form
from tests.support.signing import SECRET, sign, webhook_path
from triggers.models import Trigger
from triggers.operate import rotation

NEW_SECRET = "the-next-secret-the-sender-chose-42"


def post_signed(client, trigger: Trigger, secret: str, event_id: str):
    body = json.dumps({"id": event_id}).encode()
    return client.post(
        webhook_path(trigger),
        data=body,
        content_type="application/json",
        headers={"X-Webhook-Signature": sign(body, secret)},
    )


def test_both_secrets_verify_during_a_rotation(client, make_trigger):
    trigger = make_trigger()

    rotation.start_rotation(trigger, NEW_SECRET)

    assert post_signed(client, trigger, SECRET, "evt-old").status_code == 202
    assert post_signed(client, trigger, NEW_SECRET, "evt-new").status_code == 202
    assert post_signed(client, trigger, "some-third-secret-000000", "evt-x").status_code == 401


def test_only_the_new_secret_verifies_once_the_rotation_is_finished(client, make_trigger):
    trigger = make_trigger()
    rotation.start_rotation(trigger, NEW_SECRET)

    rotation.finish_rotation(trigger)

    assert post_signed(client, trigger, SECRET, "evt-old").status_code == 401
    assert post_signed(client, trigger, NEW_SECRET, "evt-new").status_code == 202
    assert (trigger.secret, trigger.next_secret) == (NEW_SECRET, "")


def test_only_the_old_secret_verifies_once_the_rotation_is_cancelled(client, make_trigger):
    trigger = make_trigger()
    rotation.start_rotation(trigger, NEW_SECRET)

    rotation.cancel_rotation(trigger)

    assert post_signed(client, trigger, SECRET, "evt-old").status_code == 202
    assert post_signed(client, trigger, NEW_SECRET, "evt-new").status_code == 401


def test_it_generates_a_next_secret_when_none_is_given(make_trigger):
    trigger = make_trigger()

    next_secret = rotation.start_rotation(trigger)

    assert len(next_secret) == 64
    assert trigger.signing_secrets() == [SECRET, next_secret]


@pytest.mark.parametrize("bad", ["short", SECRET])
def test_it_refuses_a_next_secret_that_is_short_or_the_current_one(make_trigger, bad):
    with pytest.raises(ValueError):
        rotation.start_rotation(make_trigger(), bad)


def test_finishing_or_cancelling_without_a_rotation_is_refused(make_trigger):
    trigger = make_trigger()

    with pytest.raises(rotation.RotationError):
        rotation.finish_rotation(trigger)
    with pytest.raises(rotation.RotationError):
        rotation.cancel_rotation(trigger)


# --- The API ---------------------------------------------------------------------------


def test_the_api_shows_the_next_secret_once(staff_client, make_trigger):
    trigger = make_trigger()

    started = staff_client.post(f"/api/triggers/{trigger.pk}/secret-rotation", format="json")

    assert started.status_code == 201
    trigger.refresh_from_db()
    assert started.json()["next_secret"] == trigger.next_secret
    shown_later = staff_client.get(f"/api/triggers/{trigger.pk}/").json()
    assert shown_later["secret_rotation_in_progress"] is True
    assert trigger.next_secret not in json.dumps(shown_later)
    assert SECRET not in json.dumps(shown_later)


def test_the_api_takes_a_next_secret_the_sender_chose(staff_client, make_trigger):
    trigger = make_trigger()

    started = staff_client.post(
        f"/api/triggers/{trigger.pk}/secret-rotation", {"next_secret": NEW_SECRET}, format="json"
    )
    too_short = staff_client.post(
        f"/api/triggers/{trigger.pk}/secret-rotation", {"next_secret": "short"}, format="json"
    )

    assert started.json()["next_secret"] == NEW_SECRET
    assert too_short.status_code == 400
    assert "next_secret" in too_short.json()
    assert "short" not in json.dumps(too_short.json())


def test_the_api_finishes_and_cancels_rotations(staff_client, make_trigger):
    trigger = make_trigger()
    base = f"/api/triggers/{trigger.pk}/secret-rotation"

    assert staff_client.post(f"{base}/finish").status_code == 409
    assert staff_client.delete(base).status_code == 409
    staff_client.post(base, {"next_secret": NEW_SECRET}, format="json")
    assert staff_client.delete(base).status_code == 204
    staff_client.post(base, {"next_secret": NEW_SECRET}, format="json")
    finished = staff_client.post(f"{base}/finish")

    assert finished.status_code == 200
    trigger.refresh_from_db()
    assert (trigger.secret, trigger.next_secret) == (NEW_SECRET, "")


def test_each_rotation_step_is_logged_with_who_asked_and_no_secret(staff_client, make_trigger, caplog):
    trigger = make_trigger()
    base = f"/api/triggers/{trigger.pk}/secret-rotation"

    staff_client.post(base, {"next_secret": NEW_SECRET}, format="json")
    staff_client.post(f"{base}/finish")

    lines = [r.getMessage() for r in caplog.records if r.name == "evonexus.rotation"]
    assert [line.split("step=")[1].split()[0] for line in lines] == ["started", "finished"]
    assert all(f"trigger_id={trigger.pk}" in line and "user=operator" in line for line in lines)
    assert not any(SECRET in line or NEW_SECRET in line for line in lines)


def test_rotating_needs_the_change_trigger_permission(make_trigger, django_user_model):
    trigger = make_trigger()
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_trigger"))
    api = APIClient()
    api.force_authenticate(viewer)

    answer = api.post(f"/api/triggers/{trigger.pk}/secret-rotation", format="json")

    assert answer.status_code == 403
    trigger.refresh_from_db()
    assert trigger.next_secret == ""


# --- The command -----------------------------------------------------------------------


def run_command(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("rotate_trigger_secret", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_the_command_starts_and_finishes_a_rotation(make_trigger):
    trigger = make_trigger()

    printed, _ = run_command(trigger.slug)
    trigger.refresh_from_db()
    assert printed == trigger.next_secret
    run_command(trigger.slug, "--finish")

    trigger.refresh_from_db()
    assert (trigger.secret, trigger.next_secret) == (printed, "")


def test_the_command_reads_a_chosen_secret_from_the_environment(make_trigger, monkeypatch):
    trigger = make_trigger()
    monkeypatch.setenv("NEXT_TRIGGER_SECRET", NEW_SECRET)

    run_command(trigger.slug, "--from-env", "NEXT_TRIGGER_SECRET")

    trigger.refresh_from_db()
    assert trigger.next_secret == NEW_SECRET


def test_the_command_explains_what_it_cannot_do(make_trigger):
    trigger = make_trigger()

    with pytest.raises(CommandError, match="no trigger"):
        run_command("no-such-trigger")
    with pytest.raises(CommandError, match="No secret rotation"):
        run_command(trigger.slug, "--cancel")


# --- The admin -------------------------------------------------------------------------


def test_the_admin_add_form_offers_a_generated_secret(admin_client):
    page = admin_client.get("/admin/triggers/trigger/add/").content.decode()

    assert 'name="secret"' in page
    assert "never shown again" in page


def test_the_admin_add_form_refuses_a_secret_shorter_than_16_characters(admin_client):
    form = admin_trigger_form(secret="too-short")

    response = admin_client.post("/admin/triggers/trigger/add/", form)

    assert response.status_code == 200
    assert "at least 16 characters" in response.content.decode()
    assert not Trigger.objects.exists()


def test_the_admin_change_form_never_shows_a_secret(admin_client, make_trigger):
    trigger = make_trigger()
    rotation.start_rotation(trigger, NEW_SECRET)

    page = admin_client.get(f"/admin/triggers/trigger/{trigger.pk}/change/").content.decode()

    assert SECRET not in page
    assert NEW_SECRET not in page
    assert "rotating" in page


def test_the_admin_starts_a_rotation_showing_the_next_secret_once_then_finishes_it(
    admin_client, make_trigger
):
    trigger = make_trigger()
    changelist = "/admin/triggers/trigger/"

    shown = admin_client.post(
        changelist, {"action": "start_secret_rotation", "_selected_action": [trigger.pk]}
    )
    trigger.refresh_from_db()
    assert trigger.next_secret in shown.content.decode()
    assert "no-store" in shown["Cache-Control"]
    admin_client.post(changelist, {"action": "finish_secret_rotation", "_selected_action": [trigger.pk]})

    rotated_to = trigger.next_secret
    trigger.refresh_from_db()
    assert (trigger.secret, trigger.next_secret) == (rotated_to, "")


def test_saving_the_admin_change_form_keeps_the_secrets(admin_client, make_trigger):
    trigger = make_trigger()
    rotation.start_rotation(trigger, NEW_SECRET)
    form = admin_trigger_form(
        name="Renamed", slug=trigger.slug, action_payload=json.dumps(trigger.action_payload)
    )

    saved = admin_client.post(f"/admin/triggers/trigger/{trigger.pk}/change/", form)

    assert saved.status_code == 302, saved.content.decode()[-2000:]
    trigger.refresh_from_db()
    assert (trigger.name, trigger.secret, trigger.next_secret) == ("Renamed", SECRET, NEW_SECRET)


def test_a_whatsapp_triggers_secret_is_rotated_on_its_instance_not_here(staff_client, make_trigger, settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""
    trigger = make_trigger(source="whatsapp", secret="the-instance-token-0123")

    answer = staff_client.post(f"/api/triggers/{trigger.pk}/secret-rotation", {}, format="json")

    trigger.refresh_from_db()
    assert (answer.status_code, answer.json()["error"]) == (409, "not_rotatable")
    assert "rotate the instance's token" in answer.json()["message"]
    assert (trigger.secret, trigger.next_secret) == ("the-instance-token-0123", "")
