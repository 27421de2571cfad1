"""The idempotency key, chosen the same way for every sender."""

from triggers.sources.base import NOTHING_SIGNED, SIGNED_BODY, Proof
from triggers.sources.keys import choose_key, normalize_key


def test_a_key_the_signature_covers_wins_over_an_unsigned_header():
    key = choose_key({"idempotency-key": "h"}, {"idempotency_key": "b"}, {}, (), [], proof=SIGNED_BODY)

    assert key == "b"


def test_an_unsigned_header_keys_a_signed_body_by_its_digest():
    key = choose_key({"idempotency-key": "h"}, {}, {}, (), [], proof=SIGNED_BODY, body_sha256="ab")

    assert key == "sha256:ab"


def test_an_unsigned_header_is_the_key_when_nothing_is_signed():
    assert choose_key({"idempotency-key": "h"}, {}, {}, (), [], proof=NOTHING_SIGNED) == "h"


def test_a_signed_header_id_is_covered():
    proof = Proof(body_signed=True, signed_headers=frozenset({"webhook-id"}))

    assert choose_key({}, {}, {}, (), [("webhook-id", "m-1")], proof=proof) == "m-1"


def test_numbers_become_strings_and_booleans_are_no_key():
    assert (normalize_key(12), normalize_key(True), normalize_key("  ")) == ("12", None, None)
