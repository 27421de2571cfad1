"""Each row is a request and Evolution Go's answer as its source gives it (0.6.1, commit 89eaae3).

The same rows run against the sandbox (which must answer as the server does) and
against the client's local validation (which must refuse, with the server's own
message, exactly the requests the server refuses for a missing field, and let
everything else through to the server). The comments cite the server's files;
docs/evolution-go.md explains them.
"""

from dataclasses import dataclass, field

import pytest
import requests

from tests.support.sandbox import SANDBOX_GLOBAL_KEY, SANDBOX_TOKEN
from whatsapp.contract import refusal
from whatsapp.sandbox import INSTANCE_ID

NUMBER = "5511999999999"
NOT_ON_WHATSAPP = "5511900000000"  # the sandbox fixture's unregistered number


@dataclass(frozen=True)
class Row:
    path: str
    body: dict
    status: int
    error: str | None = None  # None: success
    local: bool = False  # the client refuses it before sending (a required field)
    files: dict = field(default_factory=dict)
    admin: bool = False

    @property
    def id(self) -> str:
        return f"{self.path} {self.status} {self.error or 'ok'}"


def send(path: str, **body) -> dict:
    return {"number": NUMBER, **body} if "number" not in body else body


ROWS = [
    # pkg/sendMessage/handler/send_handler.go SendText, lines 57-65
    Row("/send/text", send("", text="hi"), 200),
    Row("/send/text", {"text": "hi"}, 400, "phone number is required", local=True),
    Row("/send/text", send("", text=""), 400, "message body is required", local=True),
    # pkg/middleware/jid_validation_middleware.go ValidateNumberFieldWithFormatJid, lines 400-430
    Row(
        "/send/text", {"number": "", "text": "hi"}, 400, "number is required and cannot be empty", local=True
    ),
    Row(
        "/send/text",
        {"number": 5511999999999, "text": "hi"},
        400,
        "number must be a string or array of strings",
        local=True,
    ),
    # send_service.go validateAndCheckUserExists, line 425
    Row(
        "/send/text",
        {"number": NOT_ON_WHATSAPP, "text": "hi"},
        500,
        f"number {NOT_ON_WHATSAPP} is not registered on WhatsApp",
    ),
    # SendLink, lines 103-110: text is required; `url` is never read
    Row("/send/link", send("", text="see https://example.com"), 200),
    Row("/send/link", send("", url="https://example.com"), 400, "message body is required", local=True),
    # SendMedia (JSON), lines 222-235; send_service.go line 1328 for the type
    Row("/send/media", send("", url="https://example.com/a.png", type="image"), 200),
    Row("/send/media", send("", type="image"), 400, "URL is required", local=True),
    Row("/send/media", send("", url="https://example.com/a.png"), 400, "media type is required", local=True),
    Row("/send/media", send("", url="https://example.com/a.gif", type="gif"), 500, "invalid media type"),
    # SendMedia (multipart), lines 149-178
    Row("/send/media", send("", type="image"), 200, files={"file": ("a.png", b"\x89PNG")}),
    Row("/send/media", send(""), 400, "media type is required", local=True, files={"file": ("a", b"x")}),
    Row(
        "/send/media",
        send("", type="image"),
        400,
        "file is required",
        local=True,
        files={"other": ("a", b"")},
    ),
    # SendPoll, lines 274-287
    Row("/send/poll", send("", question="Lunch?", options=["yes", "no"]), 200),
    Row("/send/poll", send("", options=["yes", "no"]), 400, "question is required", local=True),
    Row(
        "/send/poll",
        send("", question="Lunch?", options=["yes"]),
        400,
        "minimum 2 options are required",
        local=True,
    ),
    # SendSticker, lines 325-333; send_service.go line 1463
    Row("/send/sticker", send("", sticker="https://example.com/s.webp"), 200),
    Row("/send/sticker", send(""), 400, "sticker is required", local=True),
    Row("/send/sticker", send("", sticker="s.webp"), 500, "invalid sticker URL"),
    # SendLocation, lines 371-394: an exact 0 counts as missing
    Row("/send/location", send("", latitude=-23.5, longitude=-46.6, name="Sé", address="Praça da Sé"), 200),
    Row(
        "/send/location",
        send("", latitude=0, longitude=-46.6, name="Sé", address="Praça da Sé"),
        400,
        "latitude is required",
        local=True,
    ),
    Row(
        "/send/location",
        send("", latitude=-23.5, longitude=-46.6, name="Sé"),
        400,
        "address is required",
        local=True,
    ),
    Row(
        "/send/location",
        send("", latitude=-23.5, longitude=-46.6, address="Praça da Sé"),
        400,
        "name is required",
        local=True,
    ),
    # SendContact, lines 432-445
    Row("/send/contact", send("", vcard={"fullName": "Ana", "phone": "5511988887777"}), 200),
    Row(
        "/send/contact",
        send("", vcard={"fullName": "Ana"}),
        400,
        "contact phone number is required",
        local=True,
    ),
    Row(
        "/send/contact",
        send("", vcard={"phone": "5511988887777"}),
        400,
        "contact full name is required",
        local=True,
    ),
    # pkg/message/handler/message_handler.go React (41-48), message_service.go line 142
    Row("/message/react", send("", id="3EB0AAAAAAAAAAAAAAAAAA", reaction="👍"), 200),
    Row(
        "/message/react",
        send("", id="3EB0AAAAAAAAAAAAAAAAAA"),
        400,
        "message reaction is required",
        local=True,
    ),
    Row("/message/react", send("", reaction="👍"), 500, "missing id in payload"),
    # ChatPresence (76-83), MarkRead (115-122), GetMessageStatus (184-186)
    Row("/message/presence", send("", state="composing"), 200),
    Row("/message/presence", send(""), 400, "state is required", local=True),
    Row("/message/markread", send("", id=["3EB0AAAAAAAAAAAAAAAAAA"]), 200),
    Row("/message/markread", send("", id=[]), 400, "id is required", local=True),
    Row("/message/status", {}, 400, "id is required", local=True),
    # DeleteMessageEveryone (219-226), EditMessage (259-271)
    Row("/message/delete", {"chat": NUMBER, "messageId": "3EB0AAAAAAAAAAAAAAAAAA"}, 200),
    Row("/message/delete", {"chat": NUMBER}, 400, "messageId is required", local=True),
    Row("/message/edit", {"chat": NUMBER, "messageId": "3EB0AAAAAAAAAAAAAAAAAA", "message": "fixed"}, 200),
    Row(
        "/message/edit",
        {"messageId": "3EB0AAAAAAAAAAAAAAAAAA", "message": "x"},
        400,
        "chat is required",
        local=True,
    ),
    Row(
        "/message/edit",
        {"chat": NUMBER, "messageId": "3EB0AAAAAAAAAAAAAAAAAA"},
        400,
        "message is required",
        local=True,
    ),
    # pkg/user/handler/user_handler.go CheckUser, lines 98-101
    Row("/user/check", {"number": [NUMBER]}, 200),
    Row("/user/check", {"number": []}, 400, "phone number is required", local=True),
    # pkg/instance/handler/instance_handler.go Pair (line 319), Create (59-65), SetProxy (436-442)
    Row("/instance/pair", {"phone": NUMBER}, 200),
    Row("/instance/pair", {}, 400, "phone is required", local=True),
    Row("/instance/create", {"name": "other", "token": "t"}, 200, admin=True),
    Row("/instance/create", {"token": "t"}, 400, "name is required", local=True, admin=True),
    # instance_service.go Create, line 163
    Row("/instance/create", {"name": "sandbox", "token": "t"}, 500, "instance already exists", admin=True),
    Row(f"/instance/proxy/{INSTANCE_ID}", {"host": "proxy.internal", "port": "3128"}, 200, admin=True),
    Row(f"/instance/proxy/{INSTANCE_ID}", {"port": "3128"}, 400, "host is required", local=True, admin=True),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_the_sandbox_answers_as_the_server_does(sandbox, row):
    key = SANDBOX_GLOBAL_KEY if row.admin else SANDBOX_TOKEN
    if row.files:
        form = {name: str(value) for name, value in row.body.items()}
        answer = requests.post(
            sandbox.url + row.path, data=form, files=row.files, headers={"apikey": key}, timeout=5
        )
    else:
        answer = requests.post(sandbox.url + row.path, json=row.body, headers={"apikey": key}, timeout=5)

    assert answer.status_code == row.status, answer.text
    if row.error is None:
        assert answer.json()["message"] == "success"
    else:
        assert answer.json() == {"error": row.error}


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_the_client_refuses_locally_exactly_what_the_server_refuses_for_a_missing_field(row):
    form = {**row.body, **row.files}

    assert refusal(row.path, form, multipart=bool(row.files)) == (row.error if row.local else None)


def test_an_unknown_route_is_gins_plain_404_before_any_authentication(sandbox):
    answer = requests.post(f"{sandbox.url}/send/nothing", json={}, timeout=5)

    assert (answer.status_code, answer.text) == (404, "404 page not found")
    assert answer.headers["Content-Type"].startswith("text/plain")


def test_a_wrong_key_is_401_not_authorized(sandbox):
    answer = requests.post(
        f"{sandbox.url}/send/text", json=send("", text="hi"), headers={"apikey": "x"}, timeout=5
    )

    assert (answer.status_code, answer.json()) == (401, {"error": "not authorized"})


def test_a_successful_send_answers_info_message_and_context_as_the_server_does(sandbox):
    answer = requests.post(
        f"{sandbox.url}/send/text",
        json=send("", text="hi", id="3EB0ABCDEF0123456789AB"),
        headers={"apikey": SANDBOX_TOKEN},
        timeout=5,
    ).json()

    info = answer["data"]["Info"]
    assert set(answer["data"]) == {"Info", "Message", "MessageContextInfo"}
    assert (info["ID"], info["Type"], info["IsFromMe"], info["IsGroup"]) == (
        "3EB0ABCDEF0123456789AB",
        "ExtendedTextMessage",
        True,
        False,
    )
    assert info["Chat"] == f"{NUMBER}@s.whatsapp.net" and "ServerID" in info


def test_disconnected_sends_answer_500_client_disconnected_and_status_says_so(sandbox):
    requests.post(f"{sandbox.url}/_sandbox/state", json={"connected": False}, timeout=5)
    headers = {"apikey": SANDBOX_TOKEN}

    sent = requests.post(f"{sandbox.url}/send/text", json=send("", text="hi"), headers=headers, timeout=5)
    status = requests.get(f"{sandbox.url}/instance/status", headers=headers, timeout=5)

    assert (sent.status_code, sent.json()) == (500, {"error": "client disconnected"})
    assert (status.status_code, status.json()) == (400, {"error": "client disconnected"})


@pytest.mark.parametrize(
    ("subscribe", "stored"),
    [
        ([], "MESSAGE"),
        (["MESSAGE", "READ_RECEIPT"], "MESSAGE,READ_RECEIPT"),
        (["MESSAGE", "NOT_A_TYPE"], "MESSAGE"),  # dropped without a word
        (
            ["ALL"],
            "MESSAGE,SEND_MESSAGE,READ_RECEIPT,PRESENCE,HISTORY_SYNC,CHAT_PRESENCE,CALL,"
            "CONNECTION,LABEL,CONTACT,GROUP,NEWSLETTER,QRCODE",
        ),
    ],
)
def test_connect_stores_the_subscriptions_as_the_server_does(sandbox, subscribe, stored):
    # pkg/instance/service/instance_service.go Connect, lines 194-215
    body = {"webhookUrl": "http://127.0.0.1:1/hook", "subscribe": subscribe}

    answer = requests.post(
        f"{sandbox.url}/instance/connect", json=body, headers={"apikey": SANDBOX_TOKEN}, timeout=5
    )

    assert answer.json()["data"]["eventString"] == stored
