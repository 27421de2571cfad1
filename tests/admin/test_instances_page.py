"""The "WhatsApp instances" admin page: tokens never shown, the server's configuration, one-step connect."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from tests.support.sandbox import SANDBOX_TOKEN
from whatsapp.models import Instance

CHANGELIST = "/admin/whatsapp/instance/"
TOKEN = "the-shops-instance-token-0123"


@pytest.fixture
def admin(db, django_user_model) -> Client:
    user = django_user_model.objects.create_user("ops", password="pw-ops-123456", is_staff=True)
    codenames = ["view_instance", "add_instance", "change_instance", "delete_instance", "view_trigger"]
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


def test_an_instance_is_added_with_its_token_which_no_page_shows_again(admin, settings):
    settings.EVOLUTION_GO_URL = ""  # nothing to read the configuration from: the page still answers
    added = admin.post(f"{CHANGELIST}add/", {"name": "shop", "url": "", "token": TOKEN, "watermark": "40"})
    number = Instance.objects.get()

    pages = [admin.get(CHANGELIST), admin.get(f"{CHANGELIST}{number.pk}/change/")]

    assert added.status_code == 302 and number.token == TOKEN and number.watermark == 40
    for page in pages:
        assert page.status_code == 200 and TOKEN not in page.content.decode()


def test_a_blank_token_on_change_keeps_it_and_a_new_one_rotates_it(admin):
    number = Instance.objects.create(name="shop", token=TOKEN)
    change = f"{CHANGELIST}{number.pk}/change/"

    admin.post(change, {"name": "shop", "url": "", "token": "", "daily_cap": "100"})
    kept = Instance.objects.get()
    admin.post(change, {"name": "shop", "url": "", "token": "a-new-token-0123456"})

    assert (kept.token, kept.daily_cap) == (TOKEN, 100)
    assert Instance.objects.get().token == "a-new-token-0123456"


def test_adding_without_a_token_or_with_a_taken_one_is_a_form_error(admin):
    Instance.objects.create(name="shop", token=TOKEN)

    missing = admin.post(f"{CHANGELIST}add/", {"name": "other", "url": ""})
    taken = admin.post(f"{CHANGELIST}add/", {"name": "other", "url": "", "token": TOKEN})

    assert missing.status_code == 200 and "This field is required." in missing.content.decode()
    assert "Another instance holds this token." in taken.content.decode()
    assert TOKEN not in taken.content.decode()
    assert Instance.objects.count() == 1


def test_the_page_says_whether_the_servers_configuration_matches_and_connect_makes_it(
    admin, sandbox, make_trigger, settings
):
    settings.PUBLIC_BASE_URL = "https://hooks.example.com"
    trigger = make_trigger(source="whatsapp", secret=SANDBOX_TOKEN, slug="inbox")

    before = admin.get(CHANGELIST).content.decode()
    admin.post(CHANGELIST, {"action": "connect_webhook", "_selected_action": [trigger.instance_id]})
    after = admin.get(CHANGELIST).content.decode()

    assert "differs: webhook —" in before
    assert sandbox.state.first.webhook_url == f"https://hooks.example.com{trigger.get_webhook_path()}"
    assert sandbox.state.first.subscriptions == ["MESSAGE", "READ_RECEIPT", "CONNECTION"]
    assert "matches (webhook to its trigger" in after


def test_an_instance_its_triggers_name_cannot_be_deleted_from_the_admin(admin, make_trigger):
    trigger = make_trigger(source="whatsapp", secret=TOKEN, slug="inbox")

    page = admin.post(f"{CHANGELIST}{trigger.instance_id}/delete/", {"post": "yes"})

    assert Instance.objects.filter(pk=trigger.instance_id).exists()
    assert "inbox" in page.content.decode()  # Django names what protects it
