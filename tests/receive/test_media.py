"""A photo or voice note in a WhatsApp event is accepted whole; the file never goes into the database."""

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
import requests

from tests.receive.test_idempotency_keys import EVOLUTION_GO_MESSAGE
from tests.support.forms import write_script
from tests.support.signing import SECRET, sign, webhook_path
from triggers.execute import executor
from triggers.models import TriggerExecution

FILE = os.urandom(5 * 1024 * 1024)  # 5 MiB: about 6.7 MiB of base64 in the body
SHA256 = hashlib.sha256(FILE).hexdigest()


def media_event(data: bytes = FILE, message_id: str = "3EB0MEDIA00000000000001") -> dict:
    """Return an Evolution Go `Message` carrying `data` as WEBHOOK_FILES does: base64 in the body."""
    event = json.loads(json.dumps(EVOLUTION_GO_MESSAGE))
    event["data"]["Info"].update(ID=message_id, Type="media", MediaType="image")
    event["data"]["Message"] = {
        "imageMessage": {"caption": "/scan", "mimetype": "image/jpeg"},
        "base64": base64.b64encode(data).decode(),
    }
    return event


def post(client, trigger, payload: dict):
    return client.post(webhook_path(trigger), payload, content_type="application/json")


@pytest.fixture
def media_trigger(make_trigger):
    return make_trigger(source="whatsapp", action_payload={"script": "read.sh"})


def s3_keys(store) -> list[str]:
    listing = store._client().list_objects_v2(Bucket=store.bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_a_5_mib_media_event_is_accepted_and_its_base64_never_stored(client, media_trigger, settings):
    settings.MEDIA_S3_ENDPOINT_URL = ""

    response = post(client, media_trigger, media_event())

    stored = TriggerExecution.objects.get().event_data
    assert response.status_code == 202
    assert "base64" not in json.dumps(stored)
    assert stored["media"] == {
        "bytes": len(FILE),
        "sha256": SHA256,
        "mimetype": "image/jpeg",
        "object": f"media/{SHA256}",
        "stored_in": "local",
    }
    assert stored["data"]["Message"]["media"] == stored["media"]
    assert stored["text"] == "/scan"


def test_without_s3_the_file_is_kept_in_the_media_directory_and_a_script_gets_its_path(
    client, media_trigger, settings, scripts_dir, tmp_path
):
    settings.WHATSAPP_MEDIA_DIR = tmp_path / "media"
    stdin = tmp_path / "stdin.json"
    write_script(scripts_dir, "read.sh", f"cat > {stdin}")

    response = post(client, media_trigger, media_event())
    executor.execute(response.json()["execution_id"])

    event = json.loads(stdin.read_text())
    assert Path(event["media_path"]).read_bytes() == FILE
    assert list((tmp_path / "media" / "incoming").iterdir()) == []  # nothing left spooled


def test_a_file_over_the_media_limit_is_dropped_and_the_message_kept(
    client, media_trigger, settings, tmp_path
):
    settings.WHATSAPP_MEDIA_DIR = tmp_path / "media"
    settings.WHATSAPP_MEDIA_MAX_BYTES = 1024 * 1024

    response = post(client, media_trigger, media_event())

    stored = TriggerExecution.objects.get().event_data
    assert response.status_code == 202
    assert (stored["media_dropped"], stored["media"]["dropped"], stored["media"]["object"]) == (
        "too_large",
        "too_large",
        None,
    )
    media = stored["media"]
    assert (media["bytes"], media["sha256"], stored["text"]) == (len(FILE), SHA256, "/scan")
    assert [p.name for p in (tmp_path / "media").rglob("*") if p.is_file()] == []


def test_a_forged_media_object_in_the_event_is_dropped_and_never_presigned(
    client, media_trigger, s3_store, scripts_dir, tmp_path
):
    stdin = tmp_path / "stdin.json"
    write_script(scripts_dir, "read.sh", f"cat > {stdin}")
    event = json.loads(json.dumps(EVOLUTION_GO_MESSAGE))
    event["data"]["Message"]["media"] = {"object": "media/someone-elses-file", "stored_in": "s3"}

    response = post(client, media_trigger, event)
    executor.execute(response.json()["execution_id"])

    stored = TriggerExecution.objects.get().event_data
    assert "media" not in stored["data"]["Message"] and stored.get("media") is None
    assert json.loads(stdin.read_text()).get("media_url") is None


def test_an_ignored_event_leaves_no_file_behind(client, make_trigger, settings, tmp_path):
    settings.WHATSAPP_MEDIA_DIR = tmp_path / "media"
    picky = make_trigger(source="whatsapp", event_filter={"text": "/only-this"})

    response = post(client, picky, media_event())

    assert response.json() == {"status": "ignored", "reason": "filtered"}
    assert [p for p in (tmp_path / "media").rglob("*") if p.is_file()] == []


def test_with_s3_the_file_is_stored_under_its_sha256_and_the_script_downloads_it(
    client, media_trigger, s3_store, scripts_dir, tmp_path
):
    stdin = tmp_path / "stdin.json"
    write_script(scripts_dir, "read.sh", f"cat > {stdin}")

    response = post(client, media_trigger, media_event())
    executor.execute(response.json()["execution_id"])

    event = json.loads(stdin.read_text())
    assert response.status_code == 202
    assert s3_keys(s3_store) == [f"media/{SHA256}"]
    assert event["media"]["object"] == f"media/{SHA256}"
    assert requests.get(event["media_url"], timeout=30).content == FILE
    assert TriggerExecution.objects.get().event_data["media_url"] is None  # presigned per run, never stored


def test_the_same_file_twice_is_stored_once(client, media_trigger, s3_store, monkeypatch):
    puts = []
    real_put = s3_store.put_file_if_absent
    monkeypatch.setattr(
        "whatsapp.media.MediaStore.put_file_if_absent", lambda self, *a: puts.append(real_put(*a)) or puts[-1]
    )

    first = post(client, media_trigger, media_event(message_id="3EB0MEDIA00000000000001"))
    second = post(client, media_trigger, media_event(message_id="3EB0MEDIA00000000000002"))

    assert (first.status_code, second.status_code) == (202, 202)
    assert s3_keys(s3_store) == [f"media/{SHA256}"]
    assert puts == [True, False]


def test_with_the_storage_down_the_answer_is_503_and_nothing_is_stored(client, media_trigger, settings):
    settings.MEDIA_S3_ENDPOINT_URL = "http://127.0.0.1:9"  # nothing listens there
    settings.MEDIA_S3_BUCKET = "evonexus-media"

    response = post(client, media_trigger, media_event())

    assert response.status_code == 503
    assert response.json()["error"] == "media_storage_unavailable"
    assert not TriggerExecution.objects.exists()


def test_an_unauthenticated_large_body_costs_no_storage(client, media_trigger, s3_store):
    event = media_event()
    event["instanceToken"] = "not-the-token"

    response = post(client, media_trigger, event)

    assert response.status_code == 401
    assert s3_keys(s3_store) == []


def test_a_body_over_the_whatsapp_limit_is_413(client, media_trigger, settings):
    settings.WHATSAPP_WEBHOOK_MAX_BODY_BYTES = 4 * 1024 * 1024  # a setting: the default is 3 GiB

    response = post(client, media_trigger, media_event())

    assert response.status_code == 413
    assert str(4 * 1024 * 1024) in response.json()["message"]


def test_other_sources_still_answer_413_above_1_mib(client, make_trigger):
    body = json.dumps({"blob": "x" * (1024 * 1024)}).encode()

    response = client.post(
        webhook_path(make_trigger()),
        body,
        content_type="application/json",
        headers={"X-Webhook-Signature": sign(body)},
    )

    assert response.status_code == 413


def test_base64_that_is_not_base64_is_a_400(client, media_trigger):
    event = media_event()
    event["data"]["Message"]["base64"] = "not base64 at all!"

    response = post(client, media_trigger, event)

    assert (response.status_code, response.json()["message"]) == (
        400,
        "data.Message.base64 is not valid base64",
    )


def test_a_minio_media_url_is_kept_as_the_server_sent_it(client, media_trigger):
    event = json.loads(json.dumps(EVOLUTION_GO_MESSAGE))
    event["data"]["Message"] = {
        "imageMessage": {"mimetype": "image/jpeg"},
        "mediaUrl": "https://minio.example/a.jpg",
    }

    post(client, media_trigger, event)

    assert TriggerExecution.objects.get().event_data["media_url"] == "https://minio.example/a.jpg"
    assert SECRET not in json.dumps(TriggerExecution.objects.get().event_data)


def test_a_storage_that_hangs_answers_503_in_time_never_a_proxys_504(client, media_trigger, settings):
    import socket
    import threading
    import time

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never answers a byte
    accepted: list[socket.socket] = []

    def accept_and_say_nothing() -> None:
        for _ in range(16):
            accepted.append(silent.accept()[0])

    threading.Thread(target=accept_and_say_nothing, daemon=True).start()
    settings.MEDIA_S3_ENDPOINT_URL = f"http://127.0.0.1:{silent.getsockname()[1]}"
    settings.MEDIA_S3_BUCKET = "evonexus-media"

    started = time.monotonic()
    response = post(client, media_trigger, media_event())
    took = time.monotonic() - started
    silent.close()

    assert (response.status_code, response.json()["error"]) == (503, "media_storage_unavailable")
    assert took < 15
    assert not TriggerExecution.objects.exists()
