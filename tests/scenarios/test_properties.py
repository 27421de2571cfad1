"""Properties of the pure parts, over generated input: nothing raises, nothing leaks, nothing forges."""

import hashlib
import hmac
import json
import string

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evonexus.redaction import redact_secrets
from triggers import sources
from triggers.sources.base import AuthenticationFailed, InvalidPayload
from triggers.sources.body import parse_json_body
from triggers.sources.filters import matches_filter
from triggers.sources.keys import normalize_key
from whatsapp.classify import PERMANENT, RETRYABLE, TRANSIENT, UNKNOWN, classify_response

SECRET = "property-test-secret-0123456789"
NOW = 1_764_381_600

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
json_objects = st.dictionaries(st.text(max_size=12), json_values, max_size=6)
header_maps = st.dictionaries(
    st.sampled_from(["Idempotency-Key", "X-GitHub-Delivery", "Linear-Delivery", "webhook-id", "X-Other"]),
    st.text(max_size=300),
)
SOURCES = ["github", "stripe", "linear", "telegram", "discord", "whatsapp", "custom"]
quick = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def custom_signature(body: bytes, secret: str = SECRET) -> dict:
    return {"X-Webhook-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


@quick
@given(body=st.binary(max_size=512))
def test_a_valid_signature_verifies_over_any_body(body):
    sources.verify_request("custom", [SECRET], custom_signature(body), body, {}, now=NOW)


@quick
@given(body=st.binary(min_size=1, max_size=512), position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_any_change_to_the_body_breaks_the_signature(body, position, flip):
    headers = custom_signature(body)
    index = position % len(body)
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]

    with pytest.raises(AuthenticationFailed):
        sources.verify_request("custom", [SECRET], headers, tampered, {}, now=NOW)


@quick
@given(body=st.binary(max_size=256), signature=st.text(alphabet=string.hexdigits, min_size=0, max_size=80))
def test_a_guessed_signature_never_verifies(body, signature):
    assume(signature.lower() != custom_signature(body)["X-Webhook-Signature"])

    with pytest.raises(AuthenticationFailed):
        sources.verify_request("custom", [SECRET], {"X-Webhook-Signature": signature}, body, {}, now=NOW)


@quick
@given(body=st.binary(max_size=256), skew=st.integers(min_value=-10_000, max_value=10_000))
def test_stripe_signatures_hold_only_within_300_seconds(body, skew):
    timestamp = str(NOW + skew)
    signed = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"Stripe-Signature": f"t={timestamp},v1={signed}"}

    if abs(skew) <= 300:
        sources.verify_request("stripe", [SECRET], headers, body, {}, now=NOW)
    else:
        with pytest.raises(AuthenticationFailed):
            sources.verify_request("stripe", [SECRET], headers, body, {}, now=NOW)


@quick
@given(source=st.sampled_from(SOURCES), headers=header_maps, payload=json_objects)
def test_no_header_or_payload_makes_authentication_raise_anything_but_a_refusal(source, headers, payload):
    body = json.dumps(payload).encode()
    try:
        sources.verify_request(source, [SECRET], headers, body, payload, now=NOW)
    except AuthenticationFailed:
        pass


@quick
@given(raw=st.binary(max_size=300))
def test_any_bytes_either_parse_to_an_object_or_are_refused_as_invalid(raw):
    try:
        assert isinstance(parse_json_body(raw), dict)
    except InvalidPayload:
        pass


# Text that includes what databases cannot store: NUL and halves of surrogate pairs.
hostile_text = st.text(st.characters() | st.sampled_from(["\x00", "\ud800", "\udfff"]), max_size=8)
hostile_objects = st.dictionaries(
    hostile_text,
    st.recursive(
        st.none() | st.integers() | hostile_text,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3),
        max_leaves=10,
    ),
    max_size=4,
)


@quick
@given(payload=hostile_objects)
def test_whatever_json_parses_can_be_stored_as_utf8_without_nul(payload):
    raw = json.dumps(payload).encode()  # ASCII: every odd character arrives as a \u escape
    try:
        parsed = parse_json_body(raw)
    except InvalidPayload:
        return
    stored = json.dumps(parsed, ensure_ascii=False)
    assert "\x00" not in stored
    stored.encode("utf-8")  # raises for an unpaired surrogate


@quick
@given(
    source=st.sampled_from(SOURCES),
    headers=header_maps,
    payload=json_objects,
    paths=st.lists(st.text(max_size=20), max_size=3),
)
def test_the_idempotency_key_never_raises_and_always_fits_the_column(source, headers, payload, paths):
    event = sources.parse_event(source, headers, payload)

    key = sources.extract_idempotency_key(source, headers, payload, event, paths)

    assert key is None or (isinstance(key, str) and 0 < len(key) <= 255)


@quick
@given(key=st.text(min_size=256, max_size=600))
def test_long_keys_hash_stably_and_apart(key):
    assume(key.strip() == key)
    hashed = normalize_key(key)

    assert (
        hashed
        == normalize_key(key)
        == hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    )
    assert normalize_key(key + "x") != hashed


@quick
@given(
    payload=json_objects,
    name=st.sampled_from(
        ["instanceToken", "apikey", "api_key", "Authorization", "password", "client_secret", "refreshToken"]
    ),
    path=st.lists(st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6), max_size=4),
)
def test_no_secret_survives_redaction_at_any_depth(payload, name, path):
    marker = "s3cr3t-marker-value"
    node = payload
    for part in path:
        node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else node
    node[name] = marker

    redacted = redact_secrets(payload)

    assert marker not in json.dumps(redacted)


@quick
@given(event=json_objects, event_filter=st.dictionaries(st.text(max_size=10), json_values, max_size=3))
def test_the_event_filter_never_raises(event, event_filter):
    assert matches_filter(event, event_filter) in (True, False)


@quick
@given(
    status=st.integers(100, 599),
    text=st.text(max_size=80),
    code=st.sampled_from(["", "LICENSE_REQUIRED", "X"]),
)
def test_every_answer_maps_to_exactly_one_category_and_permanent_is_never_retried(status, text, code):
    category = classify_response(status, text, code)

    assert category in (None, TRANSIENT, PERMANENT, UNKNOWN)
    assert (category is None) == (200 <= status < 300)
    assert PERMANENT not in RETRYABLE
    if 400 <= status < 500 and status != 429 and "no qr code available" not in text.lower():
        assert category == PERMANENT
