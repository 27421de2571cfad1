"""Each error Evolution Go's source can answer is classified as the server means it (docs/evolution-go.md)."""

import pytest

from tests.whatsapp.test_client import NUMBER, make_client
from whatsapp.classify import (
    PERMANENT,
    PERMANENT_TEXTS,
    SESSION_DOWN_TEXTS,
    TRANSIENT,
    TRANSIENT_400_TEXTS,
    UNKNOWN,
    classify_response,
    means_not_connected,
)


@pytest.mark.parametrize(
    ("status", "error", "category"),
    [
        (500, "client disconnected", TRANSIENT),
        (500, "no active session found", TRANSIENT),
        (500, "failed to connect client: context deadline exceeded", TRANSIENT),
        (400, "no QR code available. Please wait a moment and try again", TRANSIENT),
        (500, "number 5511900000000 is not registered on WhatsApp", PERMANENT),
        (500, "Invalid file format: 'image/gif'. Only 'image/jpeg', 'image/png' are accepted", PERMANENT),
        (500, "invalid media type", PERMANENT),
        (500, "invalid sticker URL", PERMANENT),
        (500, "could not parse phone: abc", PERMANENT),
        (500, "instance already exists", PERMANENT),
        (500, "record not found", PERMANENT),
        (
            500,
            "documentos não são suportados em canais do WhatsApp. Use imagem, vídeo, áudio ou enquete",
            PERMANENT,
        ),
        (400, "message body is required", PERMANENT),
        (400, "session already logged in", PERMANENT),
        (500, "", UNKNOWN),  # a panic: the server answers nothing
        (500, "runtime error: invalid memory address", UNKNOWN),
    ],
)
def test_each_server_error_has_its_category(status, error, category):
    assert classify_response(status, error) == category


def test_an_empty_500_from_the_server_is_unknown_and_retried(sandbox):
    asked: list[float] = []
    sandbox.fail_next(*[{"status": 500, "error": ""}] * 3)

    result = make_client(sandbox.url, asked).send_text(NUMBER, "hi")

    assert (result.ok, result.category, result.attempts) == (False, UNKNOWN, 3)
    assert result.error == "HTTP 500"


# Every text the server's source can answer for a call we make (docs/evolution-go.md,
# "Errors"), as it answers it, with the category it must get and whether it says the
# session is down (the breaker then holds the send instead of failing it).
SERVER_TEXTS = [
    ("client disconnected", TRANSIENT, True),
    ("no active session found", TRANSIENT, True),
    ("failed to connect client: context deadline exceeded", TRANSIENT, True),
    ("failed to connect client after 3 attempts", TRANSIENT, True),
    ("websocket not connected", TRANSIENT, True),
    ("info query timed out", TRANSIENT, True),
    ("client is not connected to WhatsApp", TRANSIENT, True),
    ("client is not logged in to WhatsApp", TRANSIENT, True),
    ("number 5511900000000 is not registered on WhatsApp", PERMANENT, False),
    ("number 5511900000000 not found in WhatsApp response", PERMANENT, False),
    ("could not parse phone: abc", PERMANENT, False),
    ("could not parse formatted phone", PERMANENT, False),
    ("invalid phone number", PERMANENT, False),
    ("invalid number format", PERMANENT, False),
    ("missing id in payload", PERMANENT, False),
    ("error marking message as read", PERMANENT, False),
    ("failed to convert image to WebP: image: unknown format", PERMANENT, False),
    ("failed to decode image: unexpected EOF", PERMANENT, False),
    ("error during conversion: exit status 1, details: Invalid data found", PERMANENT, False),
    ("duração não encontrada", PERMANENT, False),
    ("formato de duração não encontrado", PERMANENT, False),
    ("invalid media type", PERMANENT, False),
    ("invalid sticker URL", PERMANENT, False),
    ("missing StanzaId in ContextInfo", PERMANENT, False),
    ("botões do tipo 'reply' não podem ser misturados com outros tipos", PERMANENT, False),
    ('Get "htp://f.example/a": unsupported protocol scheme "htp"', PERMANENT, False),
    ('Get "https://no.invalid/a": dial tcp: lookup no.invalid: no such host', PERMANENT, False),
    ('Get "https://f.example/a": x509: certificate signed by unknown authority', PERMANENT, False),
    ('Get "https://f.example/a": dial tcp 10.0.0.1:443: connect: connection refused', TRANSIENT, False),
    ('Get "https://f.example/a": context deadline exceeded (Client.Timeout exceeded)', TRANSIENT, False),
    ('Get "https://f.example/a": read tcp: connection reset by peer', TRANSIENT, False),
    ('failed to fetch image from URL: Get "https://x.example/s": dial tcp: i/o timeout', TRANSIENT, False),
    ("requisição falhou com status: 404, resposta: not found", PERMANENT, False),
    ("requisição falhou com status: 502, resposta: bad gateway", TRANSIENT, False),
]


@pytest.mark.parametrize(
    ("text", "category", "session_down"), SERVER_TEXTS, ids=[text[:40] for text, *_ in SERVER_TEXTS]
)
def test_every_server_text_has_its_category_on_purpose(text, category, session_down):
    assert classify_response(500, text) == category
    assert means_not_connected(500, text) is session_down


def test_each_list_holds_one_meaning_and_no_text_is_in_two():
    lists = [SESSION_DOWN_TEXTS, PERMANENT_TEXTS, TRANSIENT_400_TEXTS]
    every = [text for texts in lists for text in texts]

    assert len(every) == len(set(every))
    assert all(text == text.lower() for text in every)


def test_a_websocket_not_connected_answer_says_the_session_is_down(sandbox):
    sandbox.fail_next(*[{"status": 500, "error": "websocket not connected"}] * 3)

    result = make_client(sandbox.url, []).send_text(NUMBER, "hi")

    assert (result.ok, result.category, result.attempts) == (False, TRANSIENT, 3)
    assert result.not_connected is True


def test_a_permanent_server_text_is_sent_once(sandbox):
    sandbox.fail_next({"status": 500, "error": "could not parse formatted phone"})

    result = make_client(sandbox.url, []).send_text(NUMBER, "hi")

    assert (result.ok, result.category, result.attempts) == (False, PERMANENT, 1)
