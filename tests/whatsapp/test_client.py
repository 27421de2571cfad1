"""The gateway client retries what is transient, never what is permanent, within 8 s of sleep."""

import pytest
import requests

from tests.support.processes import free_port
from tests.support.sandbox import SANDBOX_GLOBAL_KEY, SANDBOX_TOKEN
from whatsapp.client import EvolutionClient, derive_message_id
from whatsapp.numbers import InvalidNumber, gateway_number, message_jid
from whatsapp.retry import RetryPolicy

NUMBER = "5511999999999"


def make_client(url, asked, jitter=None, token=SANDBOX_TOKEN):
    policy = RetryPolicy(sleep=asked.append, jitter=jitter or (lambda low, high: 0.25))
    return EvolutionClient(url, token, SANDBOX_GLOBAL_KEY, policy=policy)


@pytest.fixture
def asked():
    return []


def test_client_disconnected_three_times_is_transient_after_three_attempts(sandbox, asked):
    sandbox.fail_next(*[{"status": 500, "error": "client disconnected"}] * 3)

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert (result.ok, result.attempts, result.category) == (False, 3, "transient")
    assert result.error == "client disconnected"
    assert sandbox.messages() == []


def test_an_unrecognised_500_three_times_is_unknown_after_three_attempts(sandbox, asked):
    sandbox.fail_next(*[{"status": 500, "error": "runtime error: invalid memory address"}] * 3)

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert (result.attempts, result.category) == (3, "unknown")


def test_502_502_200_completes_after_three_attempts(sandbox, asked):
    sandbox.fail_next({"status": 502}, {"status": 502})

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert (result.ok, result.attempts, result.category) == (True, 3, None)
    assert len(sandbox.messages()) == 1


def test_a_400_is_permanent_after_one_attempt(sandbox, asked):
    sandbox.fail_next({"status": 400, "error": "Invalid JSON format"})

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert (result.attempts, result.category) == (1, "permanent")
    assert result.error == "Invalid JSON format"
    assert asked == []


def test_a_send_the_server_would_refuse_is_refused_with_its_message_before_any_request(sandbox, asked):
    result = make_client(sandbox.url, asked).send_text(NUMBER, "")

    assert (result.ok, result.attempts, result.category) == (False, 0, "permanent")
    assert result.error == "message body is required"
    assert sandbox.attempts() == []


def test_a_number_not_on_whatsapp_is_permanent_after_one_attempt(sandbox, asked):
    result = make_client(sandbox.url, asked).send_text("5511900000000", "hi")

    assert (result.status_code, result.attempts, result.category) == (500, 1, "permanent")
    assert "is not registered on WhatsApp" in result.error


def test_license_required_is_permanent_after_one_attempt(sandbox, asked):
    sandbox.fail_next({"status": 503, "error": "service not activated", "code": "LICENSE_REQUIRED"})

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert (result.status_code, result.attempts, result.category) == (503, 1, "permanent")


def test_a_plain_503_is_transient(sandbox, asked):
    sandbox.fail_next({"status": 503})

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert (result.ok, result.attempts) == (True, 2)


def test_a_wrong_api_key_is_permanent_after_one_attempt(sandbox, asked):
    result = make_client(sandbox.url, asked, token="wrong-token").send_text(NUMBER, "hi")

    assert (result.status_code, result.attempts, result.category) == (401, 1, "permanent")


def test_connection_refused_three_times_is_transient(asked):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there

    result = make_client(url, asked).send_text(NUMBER, "hi")

    assert (result.ok, result.status_code, result.attempts, result.category) == (False, None, 3, "transient")
    assert "ConnectionError" in result.error


def test_a_dropped_connection_is_retried(sandbox, asked):
    sandbox.fail_next({"drop": True})

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert (result.ok, result.attempts) == (True, 2)


def test_a_429_with_retry_after_waits_at_least_that_long_then_succeeds(sandbox, asked):
    sandbox.fail_next({"status": 429, "retry_after": 1})

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert result.ok
    assert len(asked) == 1 and asked[0] >= 1


def test_a_retry_after_longer_than_the_backoff_is_honoured(sandbox, asked):
    sandbox.fail_next({"status": 429, "retry_after": 5})

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert result.ok
    assert asked == [5.0]


def test_a_retry_after_beyond_the_budget_ends_the_retries(sandbox, asked):
    sandbox.fail_next({"status": 429, "retry_after": 30})

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert (result.ok, result.attempts, result.category) == (False, 1, "transient")
    assert asked == []


def test_the_backoff_is_exponential_with_jitter(sandbox, asked):
    sandbox.fail_next({"status": 502}, {"status": 502}, {"status": 502})

    make_client(sandbox.url, asked, jitter=lambda low, high: high).send_text(NUMBER, "hi")

    assert asked == [2.5, 4.5]


def test_total_sleep_stays_within_8_seconds_with_maximum_jitter_and_retry_after(sandbox, asked):
    sandbox.fail_next({"status": 429, "retry_after": 6}, {"status": 502}, {"status": 502})

    result = make_client(sandbox.url, asked, jitter=lambda low, high: high).send_text(NUMBER, "hi")

    assert sum(asked) <= 8
    assert asked == [6.0]  # the next backoff (4.5 s) would break the budget: stop instead
    assert result.attempts == 2


@pytest.mark.parametrize("jitter_draw", [0.0, 0.5])
def test_every_transient_failure_sleeps_at_most_8_seconds_in_total(sandbox, asked, jitter_draw):
    sandbox.fail_next(*[{"status": 504}] * 3)

    make_client(sandbox.url, asked, jitter=lambda low, high: jitter_draw).send_text(NUMBER, "hi")

    assert len(asked) == 2
    assert sum(asked) <= 8


def test_all_attempts_of_one_send_carry_the_same_message_id(sandbox, asked):
    sandbox.fail_next({"status": 502}, {"status": 500, "error": "no active session found"})

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi", message_id=derive_message_id("exec-1"))

    ids = {attempt["id"] for attempt in sandbox.attempts()}
    assert ids == {derive_message_id("exec-1")} == {result.message_id}
    assert len(sandbox.attempts()) == 3


def test_a_send_without_a_given_id_still_keeps_one_id_across_attempts(sandbox, asked):
    sandbox.fail_next({"status": 502})

    make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert len({attempt["id"] for attempt in sandbox.attempts()}) == 1


def test_a_malformed_number_is_permanent_before_any_request(sandbox, asked):
    result = make_client(sandbox.url, asked).send_text("call me maybe", "hi")

    assert (result.attempts, result.category) == (0, "permanent")
    assert "invalid number" in result.error
    assert sandbox.attempts() == []


@pytest.mark.parametrize(
    ("number", "sent"),
    [
        ("5511999999999", "5511999999999"),
        ("+55 (11) 99999-0000", "5511999990000"),
        ("+52 1 55 1234 5678", "5215512345678"),
        ("5511999999999@s.whatsapp.net", "5511999999999@s.whatsapp.net"),
        ("120363025246125486@g.us", "120363025246125486@g.us"),
        ("123456789012345@lid", "123456789012345@lid"),
    ],
)
def test_numbers_go_out_as_bare_digits_and_jids_pass_unchanged(number, sent):
    assert gateway_number(number) == sent


@pytest.mark.parametrize("number", ["", "abc", "123", "5511999999999@example.com", "١٢٣٤٥٦٧٨٩"])
def test_anything_else_is_an_invalid_number(number):
    with pytest.raises(InvalidNumber):
        gateway_number(number)


def test_a_formatted_number_reaches_the_server_as_digits_and_a_group_jid_unchanged(sandbox, asked):
    client = make_client(sandbox.url, asked)

    client.send_text("+55 (11) 99999-0000", "hi")
    client.send_text("120363025246125486@g.us", "hi all")

    assert [attempt["number"] for attempt in sandbox.attempts()] == [
        "5511999990000",
        "120363025246125486@g.us",
    ]


def test_the_server_applies_its_country_fixes_to_the_bare_numbers_we_send(sandbox, asked):
    # Brazil, area code 31 and above: the server drops the ninth digit of a mobile number.
    make_client(sandbox.url, asked).send_text("+55 31 99999-0000", "hi")

    assert sandbox.messages()[0]["number"] == "553199990000@s.whatsapp.net"


def test_message_ids_have_whatsmeows_shape_and_are_stable():
    message_id = derive_message_id("evonexus:execution:1")

    assert len(message_id) == 22 and message_id.startswith("3EB0")
    assert message_id == message_id.upper() and int(message_id[4:], 16) >= 0
    assert derive_message_id("evonexus:execution:1") == message_id != derive_message_id("x")


def test_each_send_kind_reaches_the_gateway_in_its_shape(sandbox, asked):
    client = make_client(sandbox.url, asked)

    results = [
        client.send_media(NUMBER, "https://example.com/a.png", "image", caption="look"),
        client.send_link(NUMBER, "read this", "https://example.com"),
        client.send_location(NUMBER, -23.55, -46.63, name="São Paulo", address="Praça da Sé"),
        client.send_contact(NUMBER, "Ana", "5511988887777"),
        client.send_poll(NUMBER, "Lunch?", ["yes", "no"]),
        client.send_sticker(NUMBER, "https://example.com/s.webp"),
    ]

    assert all(result.ok for result in results), [r.error for r in results]
    kinds = [message["kind"] for message in sandbox.messages()]
    assert kinds == ["media", "link", "location", "contact", "poll", "sticker"]
    assert sandbox.messages()[3]["body"]["vcard"]["fullName"] == "Ana"


def test_instance_routes_use_the_right_key(sandbox, asked):
    client = make_client(sandbox.url, asked)

    assert client.status().data == {"Connected": True, "LoggedIn": True, "Name": "sandbox"}
    assert client.instances().data[0]["name"] == "sandbox"
    assert (
        EvolutionClient(sandbox.url, SANDBOX_TOKEN, "").instances().error
        == "EVOLUTION_GO_KEY is not configured"
    )


def test_connect_refuses_to_erase_the_webhook_url(sandbox, asked):
    with pytest.raises(ValueError, match="webhook URL"):
        make_client(sandbox.url, asked).connect("")


def test_the_logs_carry_each_failed_attempt_and_the_final_result_but_no_key_or_body(sandbox, asked, caplog):
    sandbox.fail_next({"status": 502})

    make_client(sandbox.url, asked).send_text(NUMBER, "a very private message")

    lines = [record.getMessage() for record in caplog.records if record.name == "evonexus.whatsapp"]
    assert any("evt=whatsapp_send_attempt" in line and "http_status=502" in line for line in lines)
    assert any(
        "evt=whatsapp_send " in line and "attempts=2" in line and "final_status=200" in line for line in lines
    )
    assert not any(SANDBOX_TOKEN in line or "very private" in line for line in lines)


@pytest.mark.parametrize(
    ("number", "jid"),
    [
        ("5511999999999", "5511999999999@s.whatsapp.net"),  # DDD 11 keeps its ninth digit
        ("+55 (31) 99999-8888", "553199998888@s.whatsapp.net"),  # DDD 31 and above lose it
        ("5215551234567", "52551234567@s.whatsapp.net"),  # Mexico: two digits go (the server's example)
        ("5491123456789", "541123456789@s.whatsapp.net"),  # Argentina's 9 goes
        ("120363025555555555@g.us", "120363025555555555@g.us"),  # a JID passes unchanged
    ],
)
def test_a_message_route_jid_is_built_as_the_servers_create_jid_builds_it(number, jid):
    assert message_jid(number) == jid


def test_the_message_routes_get_a_jid_and_the_send_routes_bare_digits(sandbox, asked):
    client = make_client(sandbox.url, asked)
    target = client.send_text("5531999998888", "hi").message_id

    react = client.react("5531999998888", target, "👍")
    client.mark_read("5531999998888", [target])
    client.set_presence("5531999998888", "composing")
    client.edit_message("5531999998888", target, "hello")
    client.delete_message("5531999998888", target)

    calls = {call["kind"]: call for call in sandbox.attempts()}
    routes = ["message/react", "message/markread", "message/presence", "message/edit", "message/delete"]
    assert calls["text"]["number"] == "5531999998888"
    assert [calls[route]["jid"] for route in routes] == ["553199998888@s.whatsapp.net"] * 5
    assert react.data["Info"]["Chat"] == "553199998888@s.whatsapp.net"  # not the server's "+55..."


def test_the_sandbox_shows_the_wrong_chat_the_server_makes_of_bare_digits_on_a_message_route(sandbox):
    requests.post(f"{sandbox.url}/message/presence", json={"number": "5531999998888", "state": "composing"},
                  headers={"apikey": SANDBOX_TOKEN}, timeout=5)

    assert sandbox.attempts()[-1]["jid"] == "+553199998888@s.whatsapp.net"
