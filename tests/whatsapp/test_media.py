"""Local media goes to S3-compatible storage; the gateway gets a URL that downloads it."""

import pytest
import requests

from tests.support.sandbox import SANDBOX_GLOBAL_KEY, SANDBOX_TOKEN
from whatsapp.client import EvolutionClient
from whatsapp.media import MediaNotConfigured, media_type_for, media_url_for

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_a_local_file_is_uploaded_and_the_gateway_gets_a_url_that_downloads_it(sandbox, s3_store, tmp_path):
    photo = tmp_path / "receipt.png"
    photo.write_bytes(PNG_BYTES)
    client = EvolutionClient(sandbox.url, SANDBOX_TOKEN, SANDBOX_GLOBAL_KEY)

    result = client.send_media(
        "5511999999999",
        media_url_for(str(photo), s3_store),
        media_type_for(photo.name),
        caption="your receipt",
    )

    assert result.ok
    sent = sandbox.messages()[0]["body"]
    assert sent["type"] == "image"
    assert sent["caption"] == "your receipt"
    download = requests.get(sent["url"], timeout=10)
    assert download.status_code == 200
    assert download.content == PNG_BYTES
    assert download.headers["Content-Type"] == "image/png"


def test_two_files_with_one_name_get_different_urls(s3_store, tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "doc.pdf").write_bytes(b"first")
    (second / "doc.pdf").write_bytes(b"second")

    urls = [media_url_for(str(d / "doc.pdf"), s3_store) for d in (first, second)]

    assert [requests.get(url, timeout=10).content for url in urls] == [b"first", b"second"]


def test_a_url_is_sent_as_it_is(s3_store):
    assert media_url_for("https://cdn.example.com/a.mp4", s3_store) == "https://cdn.example.com/a.mp4"


def test_something_that_is_neither_a_url_nor_a_file_is_refused(s3_store, tmp_path):
    with pytest.raises(FileNotFoundError):
        media_url_for(str(tmp_path / "missing.png"), s3_store)


def test_a_local_file_without_configured_storage_is_refused_clearly(settings, tmp_path):
    settings.MEDIA_S3_ENDPOINT_URL = ""
    photo = tmp_path / "a.png"
    photo.write_bytes(PNG_BYTES)

    with pytest.raises(MediaNotConfigured, match="MEDIA_S3_ENDPOINT_URL"):
        media_url_for(str(photo))


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("photo.JPG", "image"),
        ("photo.jpeg", "image"),
        ("logo.png", "image"),
        ("sticker.webp", "image"),
        ("clip.mp4", "video"),
        ("voice.ogg", "audio"),
        ("song.mp3", "audio"),
        ("memo.m4a", "audio"),
        ("invoice.pdf", "document"),
        ("README", "document"),
        ("https://x.test/a.png?sig=1", "image"),
    ],
)
def test_the_media_type_follows_the_extension(name, media_type):
    assert media_type_for(name) == media_type
