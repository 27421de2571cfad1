"""Each error Evolution Go's source can answer is classified as the server means it (docs/evolution-go.md)."""

import pytest

from tests.whatsapp.test_client import NUMBER, make_client
from whatsapp.classify import PERMANENT, TRANSIENT, UNKNOWN, classify_response


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
