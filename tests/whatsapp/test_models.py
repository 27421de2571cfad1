"""WhatsApp instances are records: found by token, picked by name, made from the settings of one number."""

import pytest

from whatsapp.models import DEFAULT_NAME, Instance

pytestmark = pytest.mark.django_db

TOKEN_A, TOKEN_B = "token-of-number-a-0123", "token-of-number-b-0123"


@pytest.fixture
def two(settings) -> tuple[Instance, Instance]:
    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""
    return Instance.objects.create(name="a", token=TOKEN_A), Instance.objects.create(name="b", token=TOKEN_B)


def test_an_instance_is_found_by_its_token_and_an_unknown_or_empty_token_finds_none(two):
    assert Instance.objects.holding(TOKEN_B) == two[1]
    assert Instance.objects.holding("token-of-nobody-0123") is None
    assert Instance.objects.holding("") is None
    assert Instance.objects.holding(None) is None


def test_with_several_instances_none_is_the_sole_one(two):
    assert Instance.objects.sole() is None


def test_with_none_the_settings_token_makes_the_instance_default_once(settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = "settings-token-0123456789"

    first, again = Instance.objects.sole(), Instance.objects.sole()

    assert first == again and first.name == DEFAULT_NAME
    assert first.token == "settings-token-0123456789"
    assert first.url == ""  # it follows EVOLUTION_GO_URL
    assert Instance.objects.count() == 1


def test_with_none_and_no_settings_token_there_is_no_instance(settings):
    settings.EVOLUTION_GO_INSTANCE_TOKEN = ""

    assert Instance.objects.sole() is None
    assert not Instance.objects.exists()


def test_pick_takes_a_name_or_the_only_one_and_otherwise_says_which_there_are(two):
    assert Instance.objects.pick("b") == two[1]
    with pytest.raises(ValueError, match=r"several WhatsApp instances \(a, b\)"):
        Instance.objects.pick(None)
    with pytest.raises(ValueError, match=r"no WhatsApp instance 'c'; instances: a, b"):
        Instance.objects.pick("c")


def test_a_blank_url_means_the_settings_url_and_the_client_carries_the_instances_own_token(two, settings):
    settings.EVOLUTION_GO_URL = "http://gateway.internal:8080"
    a, b = two
    b.url = "http://other.internal:8080"

    assert (a.client().base_url, a.client().instance_token) == ("http://gateway.internal:8080", TOKEN_A)
    assert (b.client().base_url, b.client().instance_token) == ("http://other.internal:8080", TOKEN_B)


def test_the_token_is_never_in_its_text(two):
    assert TOKEN_A not in f"{two[0]} {two[0]!r}"


def test_a_repeated_state_changes_nothing_and_keeps_its_since(two):
    a = two[0]

    moved = a.note_state(Instance.State.DISCONNECTED)
    since = Instance.objects.get(pk=a.pk).state_since
    again = a.note_state(Instance.State.DISCONNECTED)

    assert (moved, again) == (True, False)
    assert Instance.objects.get(pk=a.pk).state_since == since
    assert Instance.objects.get(pk=two[1].pk).state == Instance.State.UNKNOWN  # b is not concerned


def test_cap_and_watermark_default_to_the_settings_and_0_means_no_cap(two, settings):
    settings.WHATSAPP_DAILY_CAP, settings.WHATSAPP_DAILY_WATERMARK = 200, 50
    a, b = two
    b.daily_cap, b.watermark = 0, 80

    assert (a.cap, a.threshold) == (200, 50)
    assert (b.cap, b.threshold) == (0, 80)
