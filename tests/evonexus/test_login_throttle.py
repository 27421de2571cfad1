"""Admin sign-in is throttled per username, so passwords cannot be guessed at speed."""

import pytest

LOGIN = "/admin/login/"


@pytest.fixture
def operator(db, django_user_model):
    return django_user_model.objects.create_user("ops", password="pw-correct-horse-1", is_staff=True)


def sign_in(client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def test_a_correct_password_within_the_rate_signs_in(client, operator):
    response = sign_in(client, "ops", "pw-correct-horse-1")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_it_answers_429_once_one_username_has_used_its_attempts(client, operator, settings):
    settings.ADMIN_LOGIN_RATE = "3/h"

    wrong = [sign_in(client, "ops", f"guess-{n}").status_code for n in range(3)]
    throttled = sign_in(client, "ops", "pw-correct-horse-1")

    assert wrong == [200, 200, 200]  # the form, with its error
    assert throttled.status_code == 429
    assert "Too many sign-in attempts" in throttled.content.decode()
    assert "_auth_user_id" not in client.session


def test_other_usernames_keep_their_attempts(client, operator, django_user_model, settings):
    settings.ADMIN_LOGIN_RATE = "3/h"
    django_user_model.objects.create_user("other", password="pw-other-horse-1", is_staff=True)
    for n in range(4):
        sign_in(client, "ops", f"guess-{n}")

    assert sign_in(client, "other", "pw-other-horse-1").status_code == 302


def test_the_sign_in_page_itself_is_never_throttled(client, operator, settings):
    settings.ADMIN_LOGIN_RATE = "1/h"
    sign_in(client, "ops", "guess")
    sign_in(client, "ops", "guess")

    assert client.get(LOGIN).status_code == 200


@pytest.mark.parametrize(
    "spelling", ["ops ", " ops", "\uff4f\uff50\uff53"], ids=["trailing", "leading", "full-width"]
)
def test_spellings_the_backend_normalizes_share_the_usernames_budget(client, operator, settings, spelling):
    settings.ADMIN_LOGIN_RATE = "3/h"
    for n in range(3):
        sign_in(client, "ops", f"guess-{n}")

    assert sign_in(client, spelling, "pw-correct-horse-1").status_code == 429
    assert "_auth_user_id" not in client.session


def test_one_address_cannot_spray_many_usernames(client, operator, settings):
    settings.ADMIN_LOGIN_ADDRESS_RATE = "5/h"
    codes = [sign_in(client, f"user-{n}", "guess").status_code for n in range(6)]

    assert codes == [200] * 5 + [429]


def sign_in_from(client, address: str, username: str, password: str, peer: str = "127.0.0.1"):
    data = {"username": username, "password": password, "next": "/admin/"}
    return client.post(LOGIN, data, REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=f"203.0.113.99, {address}")


def test_behind_a_trusted_proxy_an_attackers_failures_never_lock_out_another_address(
    client, operator, settings
):
    settings.TRUSTED_PROXIES = frozenset({"127.0.0.1"})
    settings.ADMIN_LOGIN_ADDRESS_RATE = "60/h"
    settings.ADMIN_LOGIN_RATE = "10/h"

    attacker = [sign_in_from(client, "198.51.100.7", "ops", f"guess-{n}").status_code for n in range(61)]
    operator_answer = sign_in_from(client, "192.0.2.10", "ops", "pw-correct-horse-1")

    assert attacker[:10] == [200] * 10 and attacker[-1] == 429
    assert operator_answer.status_code == 302


def test_the_client_address_is_the_last_one_the_trusted_proxy_did_not_write(rf, settings):
    from evonexus.admin_login import client_address

    settings.TRUSTED_PROXIES = frozenset({"127.0.0.1", "10.0.0.2"})
    request = rf.post(LOGIN, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.7, 10.0.0.2")

    assert client_address("g", request) == "198.51.100.7"  # 1.2.3.4 was the client's own claim


def test_from_an_untrusted_peer_x_forwarded_for_is_ignored(client, operator, settings):
    settings.TRUSTED_PROXIES = frozenset({"127.0.0.1"})
    settings.ADMIN_LOGIN_ADDRESS_RATE = "3/h"

    spoofed = [
        sign_in_from(client, f"198.51.100.{n}", f"user-{n}", "guess", peer="203.0.113.5").status_code
        for n in range(4)
    ]

    assert spoofed == [200, 200, 200, 429]  # one peer, one budget, whatever the header says
