"""The operator console: what a replay will send, the Replay button on an execution, its title and History."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from rest_framework.test import APIClient

from tests.support.commands import run_command
from triggers.models import Trigger, TriggerExecution
from triggers.stats.figures import compute_stats, series

CHANGELIST = "/admin/triggers/triggerexecution/"


@pytest.fixture
def operator(db, django_user_model):
    user = django_user_model.objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    codenames = ["view_triggerexecution", "replay_triggerexecution"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return django_user_model.objects.get(pk=user.pk)


@pytest.fixture
def whatsapp_failure(make_trigger, make_failed_execution):
    trigger = make_trigger(
        slug="echo",
        source="whatsapp",
        action_type="whatsapp",
        action_payload={"message": "Hi {{ push_name }}!"},
    )
    return make_failed_execution(
        trigger, event={"text": "/status", "sender": "5511977776666", "push_name": "Ana"}
    )


@pytest.fixture
def script_failure(make_trigger, make_failed_execution):
    payload = {"script": "report.sh", "args": ["--daily", "--to", "ops"], "reply_via_whatsapp": True}
    return make_failed_execution(make_trigger(action_payload=payload), key="evt-2")


def confirmation(client, *ids: int) -> str:
    return client.post(
        CHANGELIST, {"action": "replay_selected", "_selected_action": list(ids)}
    ).content.decode()


def test_the_confirmation_page_shows_the_outgoing_text_and_the_script_command(
    client, operator, whatsapp_failure, script_failure
):
    client.force_login(operator)

    page = confirmation(client, whatsapp_failure.pk, script_failure.pk)

    assert "Hi Ana!" in page  # rendered now, as it would go out
    assert "report.sh --daily --to ops" in page and "replies via WhatsApp" in page


def test_a_template_that_no_longer_renders_shows_the_error_and_is_skipped(client, operator, whatsapp_failure):
    Trigger.objects.update(action_payload={"message": '{% include "gone.html" %}'})
    client.force_login(operator)

    page = confirmation(client, whatsapp_failure.pk)

    assert "Will be skipped (1)" in page and "no longer renders" in page


def test_the_execution_page_has_a_replay_button_that_leads_to_the_confirmation(
    client, operator, whatsapp_failure
):
    client.force_login(operator)

    page = client.get(f"{CHANGELIST}{whatsapp_failure.pk}/change/").content.decode()

    assert 'class="historylink replay-button"' in page
    assert f'name="_selected_action" value="{whatsapp_failure.pk}"' in page
    assert "Replay executions?" in confirmation(client, whatsapp_failure.pk)


def test_the_title_reads_like_a_sentence(whatsapp_failure):
    assert str(whatsapp_failure) == f"Execution #{whatsapp_failure.pk} · echo · Failed (retryable)"


def test_history_shows_who_replayed_from_the_admin_the_api_and_the_command(
    client, operator, whatsapp_failure, make_failed_execution, make_trigger, settings
):
    settings.REPLAY_MIN_INTERVAL_SECONDS = 0
    client.force_login(operator)
    client.post(
        CHANGELIST, {"action": "replay_selected", "_selected_action": [whatsapp_failure.pk], "post": "yes"}
    )
    by_api = make_failed_execution(make_trigger(), key="evt-api")
    api = APIClient()
    api.force_authenticate(operator)
    api.post(f"/api/triggers/executions/{by_api.pk}/replay")
    by_command = make_failed_execution(make_trigger(), key="evt-cmd")
    run_command("replay_executions", str(by_command.pk), "--user", "ops")

    for execution in (whatsapp_failure, by_api, by_command):
        history = client.get(f"{CHANGELIST}{execution.pk}/history/").content.decode()
        assert "Replayed as execution #" in history and "ops" in history


def test_the_replay_preview_api_answers_what_would_be_sent(operator, whatsapp_failure):
    api = APIClient()
    api.force_authenticate(operator)

    answer = api.get(f"/api/triggers/executions/{whatsapp_failure.pk}/replay-preview").json()

    assert (answer["recipient"], answer["incoming"], answer["outgoing"]) == (
        "5511977776666",
        "/status",
        "Hi Ana!",
    )
    assert answer["replayable"] is True and answer["error"] is None


def test_the_replay_preview_api_is_404_and_403_like_the_replay(operator, whatsapp_failure, django_user_model):
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_triggerexecution"))
    api = APIClient()
    api.force_authenticate(viewer)
    mine = APIClient()
    mine.force_authenticate(operator)

    assert api.get(f"/api/triggers/executions/{whatsapp_failure.pk}/replay-preview").status_code == 403
    assert mine.get("/api/triggers/executions/999999/replay-preview").status_code == 404


def test_a_dry_run_shows_what_would_be_sent(whatsapp_failure, script_failure):
    _, output = run_command(
        "replay_executions", "--dry-run", str(whatsapp_failure.pk), str(script_failure.pk)
    )

    assert "sends 'Hi Ana!' to 5511977776666" in output
    assert "runs report.sh --daily --to ops, replies via WhatsApp" in output


def test_the_rq_section_shows_only_with_the_rq_backend(admin_client, settings):
    page = admin_client.get("/admin/").content.decode()

    assert ("Django RQ" in page) == (settings.TASKS_BACKEND == "rq")


def test_held_executions_are_their_own_filter_and_count_in_by_status(client, operator, whatsapp_failure):
    TriggerExecution.objects.filter(pk=whatsapp_failure.pk).update(status="held", hold_reason="daily_cap")
    client.force_login(operator)

    listed = client.get(CHANGELIST, {"status": "held"}).content.decode()

    assert f"{CHANGELIST}{whatsapp_failure.pk}/change/" in listed


def stats_page(client, django_user_model) -> str:
    viewer = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_triggerexecution"))
    client.force_login(viewer)
    return client.get("/admin/triggers/executionstats/").content.decode()


def test_the_charts_render_with_no_executions(db, client, django_user_model):
    page = stats_page(client, django_user_model)

    charts = page.split('<div id="stats-charts">')[1].split("</div>")[0]
    assert page.count('<svg class="stats-chart"') == 3 and "watermark-line" in charts
    assert "<script" not in charts and "src=" not in charts  # nothing fetched: no CDN, no network


def test_the_charts_totals_equal_the_tables_with_one_and_with_a_month_of_executions(make_trigger):
    trigger, now = make_trigger(), timezone.now()
    made = TriggerExecution.objects.create(trigger=trigger, status="completed")
    one_hourly = series(buckets=24, width=timedelta(hours=1), now=timezone.now())
    for day in range(31):
        for status in ("completed", "failed", "failed_retryable"):
            execution = TriggerExecution.objects.create(trigger=trigger, status=status)
            created_at = now - timedelta(days=day, hours=1)
            TriggerExecution.objects.filter(pk=execution.pk).update(created_at=created_at)
    later = timezone.now()
    daily = series(buckets=30, width=timedelta(days=1), now=later)
    table = compute_stats(30, now=later).as_dict()

    assert one_hourly.total("completed") == 1 and made.pk
    for status in ("completed", "failed", "failed_retryable"):
        assert daily.total(status) == table["by_status"][status]
    assert daily.total("duplicates") == table["idempotent_replays"]
    assert daily.total("sends") == table["wpp_command_count"]
