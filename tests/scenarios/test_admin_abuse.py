"""Hostile query strings and forms in the admin: a 4xx or a page, never a 500."""

import pytest

EXECUTIONS = "/admin/triggers/triggerexecution/"


@pytest.mark.parametrize(
    "url",
    [
        f"{EXECUTIONS}?q=a%00b",
        f"{EXECUTIONS}?status=%00",
        f"{EXECUTIONS}?trigger__id__exact=abc",
        f"{EXECUTIONS}?created_at__gte=zzz",
        f"{EXECUTIONS}?created_at__day=99",
        f"{EXECUTIONS}?o=99",
        f"{EXECUTIONS}?q=" + "x" * 5000,
        f"{EXECUTIONS}abc/change/",
        f"{EXECUTIONS}99999999999999999999999/change/",
        "/admin/triggers/trigger/?q=%ff",
        "/admin/triggers/executionstats/?days=abc",
        "/admin/triggers/executionstats/?days=99999999999999999999",
    ],
)
def test_hostile_query_strings_never_get_a_500(admin_client, make_failed_execution, url):
    make_failed_execution()

    assert admin_client.get(url).status_code < 500


def test_a_nul_in_a_search_is_a_400_not_a_database_error(admin_client):
    assert admin_client.get(f"{EXECUTIONS}?q=a%00b").status_code == 400


@pytest.mark.parametrize("selected", ["abc", "\x00", "1.5"])
@pytest.mark.parametrize(
    ("changelist", "action"),
    [(EXECUTIONS, "replay_selected"), ("/admin/triggers/trigger/", "start_secret_rotation")],
)
def test_an_action_on_rows_that_are_not_ids_is_a_400(
    admin_client, make_failed_execution, changelist, action, selected
):
    make_failed_execution()

    response = admin_client.post(changelist, {"action": action, "_selected_action": [selected]})

    assert response.status_code == 400
