"""The dead-letter console in the Django admin: see what failed, replay it after a confirmation."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.support.forms import admin_trigger_form
from triggers.models import TriggerExecution

CHANGELIST = "/admin/triggers/triggerexecution/"


def login(django_user_model, *codenames: str, username="operator") -> Client:
    user = django_user_model.objects.create_user(username, password="pw-operator-1", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_triggerexecution", *codenames]))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator(db, django_user_model) -> Client:
    """A staff member who may view executions and replay them."""
    return login(django_user_model, "replay_triggerexecution")


@pytest.fixture
def viewer(db, django_user_model) -> Client:
    """A staff member who may view executions but not replay them."""
    return login(django_user_model, username="viewer")


def whatsapp_dlq_execution(make_trigger, make_failed_execution, key="evt-1"):
    trigger = make_trigger(source="whatsapp", action_type="whatsapp", action_payload={"message": "hi"})
    return make_failed_execution(
        trigger, key=key, event={"text": "/balance", "sender": "5511977776666@s.whatsapp.net"}
    )


def choose_replay(client: Client, *executions, post: bool = False, **extra):
    data = {"action": "replay_selected", "_selected_action": [e.pk for e in executions], **extra}
    if post:
        data["post"] = "yes"
    return client.post(CHANGELIST, data)


def test_the_list_shows_status_badges_recipients_and_commands(operator, make_trigger, make_failed_execution):
    whatsapp_dlq_execution(make_trigger, make_failed_execution)

    page = operator.get(CHANGELIST).content.decode()

    assert 'class="status-badge"' in page
    assert "Failed (retryable)" in page
    assert "5511977776666@s.whatsapp.net" in page
    assert "/balance" in page


def test_the_dead_letter_filter_shows_only_failed_retryable(operator, make_failed_execution):
    waiting = make_failed_execution(key="dlq")
    done = make_failed_execution(key="done", status="completed", category=None)

    page = operator.get(CHANGELIST, {"status": "dlq"}).content.decode()

    assert "Dead-letter queue" in page
    assert f'value="{waiting.pk}"' in page
    assert f'value="{done.pk}"' not in page


def test_executions_cannot_be_added_or_edited(operator, make_failed_execution):
    execution = make_failed_execution()

    assert operator.get(CHANGELIST + "add/").status_code == 403
    detail = operator.get(f"{CHANGELIST}{execution.pk}/change/").content.decode()
    assert 'type="submit" value="Save"' not in detail


def test_the_detail_shows_the_event_the_error_and_the_replay_chain(operator, make_failed_execution):
    original = make_failed_execution()
    TriggerExecution.objects.filter(pk=original.pk).update(error="client disconnected")
    choose_replay(operator, original, post=True)
    replacement = TriggerExecution.objects.get(replay_of=original)

    original_page = operator.get(f"{CHANGELIST}{original.pk}/change/").content.decode()
    replacement_page = operator.get(f"{CHANGELIST}{replacement.pk}/change/").content.decode()

    assert "client disconnected" in original_page
    assert "&quot;text&quot;: &quot;/status&quot;" in original_page
    assert (
        f'replaced by <a href="{CHANGELIST}{replacement.pk}/change/">#{replacement.pk}</a>' in original_page
    )
    assert f'replays <a href="{CHANGELIST}{original.pk}/change/">#{original.pk}</a>' in replacement_page


def test_the_action_asks_for_confirmation_showing_what_will_be_replayed_and_skipped(
    operator, make_trigger, make_failed_execution
):
    waiting = whatsapp_dlq_execution(make_trigger, make_failed_execution)
    done = make_failed_execution(key="done", status="completed", category=None)

    page = choose_replay(operator, waiting, done)

    html = page.content.decode()
    assert page.status_code == 200
    assert "Will be replayed (1)" in html
    assert "5511977776666@s.whatsapp.net" in html and "/balance" in html
    assert waiting.created_at.strftime("%Y-%m-%d %H:%M:%S") in html
    assert "Will be skipped (1)" in html
    assert "not replayable: it is completed" in html
    assert 'name="post" value="yes"' in html
    assert TriggerExecution.objects.count() == 2  # nothing happened yet


def test_confirming_replays_and_reports_counts_by_reason(operator, make_trigger, make_failed_execution):
    first, second = make_failed_execution(key="a"), make_failed_execution(key="b")
    done = make_failed_execution(key="c", status="completed", category=None)
    disabled = make_failed_execution(make_trigger(enabled=False), key="d")

    response = choose_replay(operator, first, second, done, disabled, post=True)

    assert response.status_code == 302
    page = operator.get(response["Location"]).content.decode()
    assert "Replayed 2 execution(s)" in page
    assert "Skipped 2: 1 not replayable, 1 trigger disabled." in page
    assert TriggerExecution.objects.filter(status="pending", replay_of__in=[first, second]).count() == 2


def test_a_second_confirmation_within_a_minute_is_skipped_as_rate_limited(operator, make_failed_execution):
    original = make_failed_execution()
    choose_replay(operator, original, post=True)
    replacement = TriggerExecution.objects.get(replay_of=original)
    TriggerExecution.objects.filter(pk=replacement.pk).update(status="failed_retryable")

    page = choose_replay(operator, replacement).content.decode()

    assert "rate-limited: replayed less than a minute ago, try in" in page


def test_more_than_the_bulk_maximum_is_refused_with_a_way_to_narrow_it(
    operator, make_failed_execution, settings
):
    settings.REPLAY_BULK_MAX = 2
    executions = [make_failed_execution(key=f"k{i}") for i in range(3)]

    response = choose_replay(operator, executions[0], select_across="1", post=True)

    page = operator.get(response["Location"]).content.decode()
    assert "3 executions selected; at most 2 can be replayed at once" in page
    assert "Narrow the list" in page
    assert TriggerExecution.objects.count() == 3


def test_staff_without_the_permission_do_not_see_the_action_and_get_403_posting_it(
    viewer, make_failed_execution
):
    execution = make_failed_execution()

    page = viewer.get(CHANGELIST).content.decode()
    posted = choose_replay(viewer, execution, post=True)

    assert "replay_selected" not in page
    assert posted.status_code == 403
    assert TriggerExecution.objects.count() == 1


def test_anonymous_visitors_are_sent_to_the_login_page(db):
    response = Client().get(CHANGELIST)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_confirmation_without_the_csrf_token_is_refused(django_user_model, make_failed_execution):
    execution = make_failed_execution()
    user = django_user_model.objects.create_superuser("root", password="pw-root-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = choose_replay(client, execution, post=True)

    assert response.status_code == 403
    assert TriggerExecution.objects.count() == 1


def test_a_json_field_holding_a_nul_character_is_a_form_error(admin_client):
    form = admin_trigger_form(event_filter='{"x": "a\\u0000b"}')

    response = admin_client.post("/admin/triggers/trigger/add/", form)

    assert response.status_code == 200
    assert "NUL" in response.content.decode()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("event_filter", '{"x": "\\ud800"}', "unpaired surrogates"),
        ("action_payload", '{"script": "a.sh", "n": ' + "9" * 5000 + "}", "digits"),
        ("event_filter", '{"x": ' + "[" * 5000 + "]" * 5000 + "}", "nested"),
        ("action_payload", "[" * 5000 + "]" * 5000, "nested"),
    ],
    ids=["lone surrogate", "5000-digit integer", "5000-deep array", "5000-deep top level"],
)
def test_a_json_field_the_database_cannot_hold_is_a_form_error_never_a_500(admin_client, field, value, says):
    response = admin_client.post("/admin/triggers/trigger/add/", admin_trigger_form(**{field: value}))

    assert response.status_code == 200
    assert "Enter a valid JSON" in response.content.decode() and says in response.content.decode()
