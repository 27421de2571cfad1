"""A local double of Evolution Go: the server's routes, answers and webhooks, with faults on demand.

It answers as the server's source does (docs/evolution-go.md): the `apikey`
check, `200 {"message": "success", "data": ...}`, errors as `{"error": "..."}`
with the server's status and text, numbers resolved the way the server resolves
them, gin's plain-text 404. And it calls back like the server: the webhook URL
given to `/instance/connect` receives `Message` events, the `SendMessage` echo
of each send, and `Receipt` events (Delivered, then Read), filtered by the
subscriptions, each carrying `instanceToken`, `instanceId` and `instanceName`.

Like the server it runs several instances, one per WhatsApp number, each with its
own token, connection, webhook and subscriptions: a route's `apikey` names the
instance it acts for. The first is `sandbox`; `instances` adds more
(`{"sandbox-2": "its-token"}`).

For tests and demos it also serves (a control route takes `"instance": NAME`,
default the first; what it lists carries each entry's `instance`):

- `GET /_sandbox/messages`: what was delivered, each with its `id`;
- `GET /_sandbox/requests`: every send attempt, delivered or failed (and every call of
  a message route, `kind` `message/react`... with the `jid` the server made), with the
  number as it arrived;
- `GET /_sandbox/webhooks`: every webhook it posted, with the answer it got;
- `POST /_sandbox/faults {"faults": [{"status": 502}, ...]}`: answer the next
  sends with these faults, one each (`status`, `error`, `code`, `retry_after`,
  or `"drop": true` to close the connection without an answer);
- `POST /_sandbox/state {"connected": false}`: the phone goes offline (sends
  answer 500 `client disconnected`, `/instance/status` 400) and a `Disconnected`
  event is posted (`"silent": true`: none, as before the server notices); `true`
  brings it back and posts `Connected`;
  `{"logged_out": true}` posts `LoggedOut`, `{"banned_until": 3600}` posts
  `TemporaryBan` (expiring in that many seconds), each taking the phone offline;
  `webhook_retry_seconds` sets the pause between webhook attempts (the server's
  30 s; tests make it short); `disconnected_latency_ms` how long a send to a
  disconnected instance takes to fail (the server tries to reconnect first);
- `POST /_sandbox/incoming {"from": "5511...", "text": "/ping"}`: someone
  writes to the instance (optional `push_name`, `id`, `from_me`, `media_type`
  to make the text a caption of that media, `quoted_id`); with `media_bytes` the
  file itself comes along as the server's `WEBHOOK_FILES` sends it, base64 in
  `data.Message.base64`: a photo (`media_type: "image"`), a voice note (`audio`),
  a large document (`document`, `media_bytes: 150000000`), a sticker (as PNG);
- `DELETE /_sandbox/messages`: forget messages, requests, webhooks and faults.
"""

import base64
import email.parser
import email.policy
import json
import queue
import random
import re
import secrets
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from whatsapp.contract import EVENT_TYPES, MEDIA_TYPES, SUBSCRIBE_ALL, refusal, route_of
from whatsapp.numbers import JID_SUFFIXES, country_fixes

INSTANCE_ID = "00000000-0000-4000-8000-000000000001"
OWN_JID = "5500000000000@s.whatsapp.net"
FIRST_INSTANCE = "sandbox"
SEND_KINDS = {"text", "media", "link", "location", "contact", "poll", "sticker"}
_DEFAULT_ERRORS = {500: "client disconnected", 503: "service unavailable", 429: "too many requests"}
# Info.Type of what a send produced (the server's messageType).
_MESSAGE_TYPES = {
    "text": "ExtendedTextMessage",
    "link": "ExtendedTextMessage",
    "location": "LocationMessage",
    "contact": "ContactMessage",
    "poll": "PollCreationMessage",
    "sticker": "StickerMessage",
    "image": "ImageMessage",
    "video": "VideoMessage",
    "ptv": "PtvMessage",
    "audio": "AudioMessage",
    "document": "DocumentMessage",
}
# Routes that need the WhatsApp client: a disconnected instance fails them.
_CLIENT_ROUTES = ("/send/", "/message/", "/user/")


def server_jid(number: str) -> str | None:
    """Return the chat JID the server makes of `number`, or `None` when it cannot make one.

    The server's `CreateJID` (pkg/utils/utils.go): a JID passes unchanged;
    otherwise spaces, `+` and parentheses go, 18+ characters (or a hyphenated
    24+) are a group, and phone numbers get Mexico's, Argentina's and
    Brazil's fixes.
    """
    if any(suffix in number for suffix in JID_SUFFIXES):
        return number
    cleaned = re.sub(r"[ +()]", "", number).split(":")[0]
    if ("-" in cleaned and len(cleaned) >= 24) or len(cleaned) >= 18:
        return re.sub(r"[^0-9-]", "", cleaned) + "@g.us"
    digits = re.sub(r"\D", "", cleaned)
    if not digits:
        return None
    return country_fixes(digits) + "@s.whatsapp.net"


def send_route_jid(number: str) -> str | None:
    """Return the chat the server's send routes (`/send/*`) make of `number`.

    `CreateJID`, then the country fixes once more on a phone JID's digits
    (send_service.go around 341-346): `5531999998888@s.whatsapp.net` is sent to
    `553199998888@s.whatsapp.net`.
    """
    jid = server_jid(number)
    if jid is None or not jid.endswith("@s.whatsapp.net"):
        return jid
    return country_fixes(jid.split("@")[0]) + "@s.whatsapp.net"


def message_route_jid(number: str) -> str | None:
    """Return the JID the server's message routes (`/message/react`, ...) make of `number`.

    They call `CreateJID` as it is: a bare number becomes `+<digits>@s.whatsapp.net`
    (a chat no one is in); only the send path strips that `+`.
    """
    jid = server_jid(number)
    if jid is None or any(suffix in number for suffix in JID_SUFFIXES) or jid.endswith("@g.us"):
        return jid
    return "+" + jid


def subscriptions_for(names: list[str]) -> list[str]:
    """Return what the server stores for a `subscribe` list: empty is MESSAGE, a leading ALL is all."""
    if not names:
        return ["MESSAGE"]
    if names[0] == SUBSCRIBE_ALL:
        return list(EVENT_TYPES)
    return [name for name in names if name in EVENT_TYPES or name == SUBSCRIBE_ALL]


# The instance's connection events (whatsmeow.go, routed at 1948).
CONNECTION_EVENTS = (
    "Connected",
    "PairSuccess",
    "TemporaryBan",
    "LoggedOut",
    "ConnectFailure",
    "Disconnected",
)

# Which subscription lets each event through (the server's CallWebhook).
_EVENT_SUBSCRIPTION = {
    "Message": "MESSAGE",
    "SendMessage": "SEND_MESSAGE",
    "Receipt": "READ_RECEIPT",
    **dict.fromkeys(CONNECTION_EVENTS, "CONNECTION"),
}


class SandboxInstance:
    """One instance (one WhatsApp number) of the sandbox: its token, connection and webhook."""

    def __init__(self, name: str, token: str, number: int):
        self.name = name
        self.token = token
        # The first instance keeps the ids tests and docs know; the others get their own.
        self.id = INSTANCE_ID if number == 1 else f"00000000-0000-4000-8000-{number:012d}"
        self.own_jid = OWN_JID if number == 1 else f"55000000000{number:02d}@s.whatsapp.net"
        self.connected = True
        self.webhook_url = ""
        self.subscriptions: list[str] = []
        self.proxy: dict = {}

    def listing(self) -> dict:
        """Return the instance as `/instance/all` lists it: with its token, as the server does."""
        return {
            "id": self.id,
            "name": self.name,
            "token": self.token,
            "webhook": self.webhook_url,
            "events": ",".join(self.subscriptions),
            "connected": self.connected,
            "jid": self.own_jid,
            "proxy": "",
        }

    def envelope(self, event: str, data: dict, **extra: Any) -> dict:
        """Return a webhook body as the server posts it for this instance."""
        return {
            "event": event,
            "data": data,
            **extra,
            "instanceToken": self.token,
            "instanceId": self.id,
            "instanceName": self.name,
        }


class SandboxState:
    """What the sandbox was told and what it received; safe across handler threads."""

    def __init__(
        self,
        *,
        instance_token: str,
        global_key: str,
        instances: dict[str, str] | None = None,
        fail_rate: float = 0.0,
        fail_status: int = 500,
        latency_ms: int = 0,
        disconnected_latency_ms: int = 0,
        not_registered: set[str] | None = None,
        seed: int | None = None,
        duplicate_webhooks: bool = False,
        webhook_retry_seconds: float = 30.0,
    ):
        self.instances: dict[str, SandboxInstance] = {}
        for name, token in {FIRST_INSTANCE: instance_token, **(instances or {})}.items():
            self.add_instance(name, token)
        self.global_key = global_key
        self.fail_rate = fail_rate
        self.fail_status = fail_status
        self.latency_ms = latency_ms
        # How long a send to a disconnected instance takes to fail (the server's own
        # reconnect attempts: up to 48 s); only that instance's sends wait it.
        self.disconnected_latency_ms = disconnected_latency_ms
        self.not_registered = {n.split("@")[0] for n in (not_registered or set())}
        # The server posts every event twice when both a global and an instance URL are set.
        self.duplicate_webhooks = duplicate_webhooks
        self.webhook_retry_seconds = webhook_retry_seconds
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.requests: list[dict] = []
        self.webhooks: list[dict] = []
        self.receipts: dict[str, str] = {}  # message id -> last receipt state
        self.faults: deque[dict] = deque()
        self.random = random.Random(seed)  # noqa: S311 - fault injection, not security

    def next_fault(self) -> dict | None:
        with self.lock:
            if self.faults:
                return self.faults.popleft()
            if self.fail_rate and self.random.random() < self.fail_rate:
                return {"status": self.fail_status}
        return None

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.requests.clear()
            self.webhooks.clear()
            self.receipts.clear()
            self.faults.clear()

    def add_instance(self, name: str, token: str) -> SandboxInstance:
        """Return a new instance of this server, named `name`, authenticated by `token`."""
        self.instances[name] = SandboxInstance(name, token, len(self.instances) + 1)
        return self.instances[name]

    @property
    def first(self) -> SandboxInstance:
        return self.instances[FIRST_INSTANCE]

    def holding(self, token: str) -> SandboxInstance | None:
        """Return the instance whose token is `token` (the server's auth middleware), or `None`."""
        found = None
        for instance in self.instances.values():
            if secrets.compare_digest(instance.token.encode(), token.encode()):
                found = instance
        return found

    def by_id(self, instance_id: str) -> SandboxInstance | None:
        return next((each for each in self.instances.values() if each.id == instance_id), None)


class WebhookSender:
    """Posts events to the instance's webhook in order, retrying like the server (5 attempts)."""

    ATTEMPTS = 5

    def __init__(self, state: SandboxState):
        self.state = state
        self.queue: queue.Queue = queue.Queue()
        self.session = requests.Session()
        threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True).start()

    def post(self, instance: SandboxInstance, body: dict) -> None:
        """Queue `body` for `instance`'s webhook URL, if one is set and its event is subscribed."""
        with self.state.lock:
            url, subscriptions = instance.webhook_url, list(instance.subscriptions)
            copies = 2 if self.state.duplicate_webhooks else 1
        needed = _EVENT_SUBSCRIPTION.get(body["event"])
        if not url or not (SUBSCRIBE_ALL in subscriptions or needed in subscriptions):
            return
        for _ in range(copies):
            self.queue.put((url, body))

    def _run(self) -> None:
        while True:
            url, body = self.queue.get()
            for attempt in range(1, self.ATTEMPTS + 1):
                status = self._deliver(url, body)
                with self.state.lock:
                    delivery = {"url": url, "event": body["event"], "attempt": attempt, "status": status}
                    delivery["instance"] = body["instanceName"]
                    self.state.webhooks.append({**delivery, "body": body})
                if status is not None and 200 <= status < 300:
                    break
                time.sleep(self.state.webhook_retry_seconds)

    def _deliver(self, url: str, body: dict) -> int | None:
        try:
            return self.session.post(url, json=body, timeout=30).status_code
        except requests.RequestException:
            return None


class SandboxHandler(BaseHTTPRequestHandler):
    server: "SandboxServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # --- plumbing ---------------------------------------------------------------------

    def _reply(self, status: int, body: Any, headers: dict | None = None) -> None:
        self._write(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def _write(self, status: int, payload: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _ok(self, data: Any = None) -> None:
        self._reply(200, {"message": "success", **({"data": data} if data is not None else {})})

    def _not_found(self) -> None:
        # gin's own answer for an unknown route: plain text, before any authentication.
        self._write(404, b"404 page not found", "text/plain")

    def _raw_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> dict | None:
        """Return the JSON object sent, or `None` after answering 400 as the server does."""
        try:
            body = json.loads(self._raw_body() or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._reply(400, {"error": "Invalid JSON format"})
            return None
        return body

    def _form_body(self) -> dict:
        """Return a multipart form's fields (`file` as bytes, with `file_name`)."""
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + self._raw_body()
        )
        form: dict = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if part.get_filename():
                form[name], form[f"{name}_name"] = part.get_payload(decode=True), part.get_filename()
            else:
                form[name] = part.get_content().strip()
        return form

    def _authorized(self, key: str) -> bool:
        if secrets.compare_digest(self.headers.get("apikey", "").encode(), key.encode()):
            return True
        self._reply(401, {"error": "not authorized"})
        return False

    def _authorized_instance(self) -> bool:
        """Return whether the `apikey` is an instance's token (then `self.instance` is it); else 401."""
        self.instance = self.state.holding(self.headers.get("apikey", ""))
        if self.instance is None:
            self._reply(401, {"error": "not authorized"})
        return self.instance is not None

    def _named_instance(self, body: dict) -> SandboxInstance | None:
        """Return the instance a control route names (`instance`, default the first); `None`: 404 sent."""
        name = body.get("instance") or FIRST_INSTANCE
        found = self.state.instances.get(name) if isinstance(name, str) else None
        if found is None:
            self._reply(404, {"error": f"no instance {name!r}: {sorted(self.state.instances)}"})
        return found

    @property
    def state(self) -> SandboxState:
        return self.server.state

    # --- routing ----------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path in ("/_sandbox/messages", "/_sandbox/requests", "/_sandbox/webhooks"):
            name = self.path.removeprefix("/_sandbox/")
            with self.state.lock:
                return self._reply(200, {name: list(getattr(self.state, name))})
        instance_routes = {"/instance/status": self._status, "/instance/qr": self._qr}
        if self.path in instance_routes:
            if self._authorized_instance():
                instance_routes[self.path]()
            return None
        if self.path == "/instance/all" or self.path.startswith("/instance/info/"):
            if self._authorized(self.state.global_key):
                self._admin_read()
            return None
        return self._not_found()

    def do_DELETE(self) -> None:
        if self.path == "/_sandbox/messages":
            self.state.reset()
            return self._reply(200, {"message": "success"})
        if self.path == "/instance/logout":
            if self._authorized_instance():
                self._ok()
            return None
        if self.path.startswith(("/instance/delete/", "/instance/proxy/")):
            if self._authorized(self.state.global_key):
                self._admin_delete()
            return None
        return self._not_found()

    def do_POST(self) -> None:
        sandbox_routes = {
            "/_sandbox/faults": self._queue_faults,
            "/_sandbox/state": self._set_state,
            "/_sandbox/incoming": self._incoming,
        }
        if self.path in sandbox_routes:
            body = self._json_body()
            if body is not None:
                sandbox_routes[self.path](body)
            return None
        if self.path in ("/instance/create",) or self.path.startswith("/instance/proxy/"):
            if self._authorized(self.state.global_key):
                self._admin_write()
            return None
        instance_routes = {
            "/instance/connect": self._connect,
            "/instance/pair": self._pair,
            "/instance/disconnect": self._disconnect,
            "/instance/reconnect": self._reconnect,
            "/message/react": self._react,
            "/message/markread": self._timestamped,
            "/message/presence": self._timestamped,
            "/message/status": self._message_status,
            "/message/delete": self._edit,
            "/message/edit": self._edit,
            "/user/check": self._check,
        }
        kind = self.path.removeprefix("/send/")
        is_send = self.path.startswith("/send/") and kind in SEND_KINDS
        if not is_send and self.path not in instance_routes:
            return self._not_found()
        if not self._authorized_instance():
            return None
        if is_send:
            return self._send(kind)
        body = self._json_body()
        if body is None:
            return None
        if message := refusal(self.path, body):
            return self._reply(400, {"error": message})
        recipient = body.get("number", body.get("chat"))
        if self.path.startswith("/message/") and isinstance(recipient, str):
            # What the server's CreateJID made of the recipient: the chat it acts in.
            call = {"kind": self.path[1:], "number": recipient, "jid": message_route_jid(recipient)}
            call["instance"] = self.instance.name
            with self.state.lock:
                self.state.requests.append({**call, "at": time.time()})
        if self.path.startswith(_CLIENT_ROUTES) and not self.instance.connected:
            return self._reply(500, {"error": "client disconnected"})
        instance_routes[self.path](body)
        return None

    # --- sandbox controls ---------------------------------------------------------------

    def _queue_faults(self, body: dict) -> None:
        faults = body.get("faults", [])
        with self.state.lock:
            self.state.faults.extend(faults)
        self._reply(200, {"message": "success", "queued": len(faults)})

    def _set_state(self, body: dict) -> None:
        """Change the instance's connection as WhatsApp would, posting the server's connection events.

        `connected` true: `Connected`; false: `Disconnected`. `logged_out` true:
        `LoggedOut` (the phone must be paired again). `banned_until` (seconds
        from now): `TemporaryBan` with whatsmeow's `expire` in nanoseconds.
        Of the instance named `instance` (default the first).
        """
        if (instance := self._named_instance(body)) is None:
            return None
        events = []
        if body.get("logged_out"):
            events.append(("LoggedOut", {"OnConnect": False, "Reason": 401}))
        elif body.get("banned_until") is not None:
            expire = int(float(body["banned_until"]) * 1e9)
            ban = {"Code": 101, "Expire": expire, "reason": "101", "expire": expire}
            events.append(("TemporaryBan", ban))
        down = bool(events) or body.get("connected") is False
        up = body.get("connected") is True and not events
        with self.state.lock:
            was = instance.connected
            if down or up:
                instance.connected = up
        if up and not was:
            events.append(("Connected", {"status": "open", "jid": instance.own_jid, "pushName": "Sandbox"}))
        elif was and down and not events and not body.get("silent"):
            events.append(("Disconnected", {}))
        for name, data in events:
            self.server.webhooks.post(instance, instance.envelope(name, data))
        for name in ("duplicate_webhooks", "latency_ms", "disconnected_latency_ms", "webhook_retry_seconds"):
            if name in body:
                setattr(self.state, name, body[name])
        self._reply(200, {"message": "success", "connected": instance.connected})

    def _incoming(self, body: dict) -> None:
        if (instance := self._named_instance(body)) is None:
            return None
        sender = server_jid(str(body.get("from") or ""))
        if sender is None:
            return self._reply(400, {"error": 'incoming needs "from": the writer\'s number'})
        if not instance.webhook_url:
            return self._reply(409, {"error": "no webhook yet: call /instance/connect first"})
        message_id = str(body.get("id") or _new_message_id())
        text = str(body.get("text") or "")
        media_type = body.get("media_type") or ""
        context = {"contextInfo": {"stanzaID": body["quoted_id"]}} if body.get("quoted_id") else {}
        if media_type:
            media = {"caption": text, "mimetype": _mimetype(media_type), **context}
            if media_type == "audio":
                media["PTT"] = bool(body.get("voice_note", True))
            message = {f"{media_type}Message": media}
            if body.get("media_bytes"):
                # The server's WEBHOOK_FILES: the downloaded file, base64 in the event (no cap).
                message["base64"] = base64.b64encode(_file_bytes(int(body["media_bytes"]))).decode()
        elif context:
            message = {"extendedTextMessage": {"text": text, **context}}
        else:
            message = {"conversation": text}
        info = {
            "Chat": sender,
            "Sender": sender,
            "IsFromMe": bool(body.get("from_me", False)),
            "IsGroup": sender.endswith("@g.us"),
            "ID": message_id,
            "Type": "media" if media_type else "text",
            "MediaType": media_type,
            "PushName": str(body.get("push_name") or "Ana"),
            "Timestamp": _now(),
        }
        self.server.webhooks.post(instance, instance.envelope("Message", {"Info": info, "Message": message}))
        self._ok({"id": message_id})

    # --- sending ------------------------------------------------------------------------

    def _send(self, kind: str) -> None:
        multipart = (self.headers.get("Content-Type") or "").startswith("multipart/form-data")
        if multipart:
            body = self._form_body()
        else:
            body = self._json_body()
            if body is None:
                return None
        if self.state.latency_ms:
            time.sleep(self.state.latency_ms / 1000)
        if self.state.disconnected_latency_ms and not self.instance.connected:
            time.sleep(self.state.disconnected_latency_ms / 1000)
        number = str(body.get("number") or "")
        message_id = str(body.get("id") or "") or _new_message_id()
        fault = self.state.next_fault()
        attempt = {
            "kind": kind,
            "id": message_id,
            "number": number,
            "fault": fault,
            "multipart": multipart,
            "instance": self.instance.name,
            "connected": self.instance.connected,
            "at": time.time(),
        }
        with self.state.lock:
            self.state.requests.append(attempt)
        if fault:
            return self._fault(fault)
        error = self._validate(kind, body, multipart)
        if error:
            return self._reply(*error)
        chat = send_route_jid(number)
        data = self._sent_message(kind, message_id, chat, body)
        recorded = {key: value for key, value in body.items() if key != "file"}
        if multipart:
            recorded["file_bytes"] = len(body.get("file") or b"")
        with self.state.lock:
            delivered = {"id": message_id, "kind": kind, "number": chat, "body": recorded}
            delivered |= {"instance": self.instance.name, "received_at": time.time()}
            self.state.messages.append(delivered)
        self._ok(data)
        self._after_delivery(data)
        return None

    def _validate(self, kind: str, body: dict, multipart: bool) -> tuple[int, dict] | None:
        number = body.get("number")
        if not multipart and isinstance(number, str) and number and server_jid(number) is None:
            # The JSON middleware comes first: it checks and resolves `number` itself.
            return 400, {"error": "Invalid number format: invalid number format"}
        if message := refusal(f"/send/{kind}", body, multipart=multipart):
            return 400, {"error": message}
        chat = send_route_jid(str(number))
        if chat is None:
            return 500, {"error": f"could not parse phone: {number}"}
        if not self.instance.connected:
            return 500, {"error": "client disconnected"}
        if chat.split("@")[0] in self.state.not_registered:
            return 500, {"error": f"number {number} is not registered on WhatsApp"}
        if kind == "media" and body.get("type") not in MEDIA_TYPES:
            return 500, {"error": "invalid media type"}
        if kind == "media" and multipart and body.get("type") == "ptv":
            # The upload path knows image, video, audio and document only (SendMediaFile).
            return 500, {"error": "invalid media type"}
        if kind == "sticker" and not str(body.get("sticker")).startswith(("http://", "https://")):
            return 500, {"error": "invalid sticker URL"}
        return None

    def _sent_message(self, kind: str, message_id: str, chat: str, body: dict) -> dict:
        """Return a send's `data` as the server answers it: `Info`, `Message`, `MessageContextInfo`."""
        message_type = _MESSAGE_TYPES[body.get("type") if kind == "media" else kind]
        content = {"text": body.get("text")} if kind in ("text", "link") else {"caption": body.get("caption")}
        info = {
            "Chat": chat,
            "Sender": self.instance.own_jid,
            "IsFromMe": True,
            "IsGroup": chat.endswith("@g.us"),
            "ID": message_id,
            "Timestamp": _now(),
            "ServerID": self.state.random.randint(1, 10**6),
            "Type": message_type,
        }
        message = {message_type[0].lower() + message_type[1:]: content}
        return {"Info": info, "Message": message, "MessageContextInfo": {}}

    def _after_delivery(self, data: dict) -> None:
        """Post what the server and WhatsApp report after a send: the echo, then the receipts."""
        info = data["Info"]
        self.server.webhooks.post(self.instance, self.instance.envelope("SendMessage", data))
        for state, receipt_type in (("Delivered", ""), ("Read", "read")):
            with self.state.lock:
                self.state.receipts[info["ID"]] = state
            receipt = {
                "Chat": info["Chat"],
                "Sender": info["Chat"],
                "IsFromMe": False,
                "IsGroup": info["IsGroup"],
                "MessageIDs": [info["ID"]],
                "Timestamp": _now(),
                "Type": receipt_type,
                "MessageSender": self.instance.own_jid,
            }
            self.server.webhooks.post(self.instance, self.instance.envelope("Receipt", receipt, state=state))

    def _fault(self, fault: dict) -> None:
        if fault.get("drop"):
            self.close_connection = True
            self.connection.shutdown(2)  # no answer at all: the client sees a reset
            return
        status = int(fault.get("status", 500))
        if status == 500 and fault.get("error") == "":
            return self._write(500, b"", "text/plain")  # a server panic: no body at all
        body = {"error": fault.get("error", _DEFAULT_ERRORS.get(status, "sandbox fault"))}
        if fault.get("code"):
            body["code"] = fault["code"]
        headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else None
        return self._reply(status, body, headers)

    # --- instance -----------------------------------------------------------------------

    def _status(self) -> None:
        if not self.instance.connected:
            return self._reply(400, {"error": "client disconnected"})
        return self._ok({"Connected": True, "LoggedIn": True, "Name": self.instance.name})

    def _qr(self) -> None:
        if self.instance.connected:
            return self._reply(400, {"error": "session already logged in"})
        return self._ok({"Qrcode": "data:image/png;base64,c2FuZGJveA==", "Code": "2@sandbox-qr-code"})

    def _connect(self, body: dict) -> None:
        subscribe = body.get("subscribe") or []
        if not isinstance(subscribe, list) or not all(isinstance(name, str) for name in subscribe):
            return self._reply(400, {"error": "json: cannot unmarshal subscribe into []string"})
        with self.state.lock:
            self.instance.webhook_url = str(body.get("webhookUrl") or "")
            self.instance.subscriptions = subscriptions_for(subscribe)
            stored = ",".join(self.instance.subscriptions)
        url = self.instance.webhook_url
        return self._ok({"jid": self.instance.own_jid, "webhookUrl": url, "eventString": stored})

    def _pair(self, body: dict) -> None:
        self._ok({"PairingCode": "SAND-BOX1"})

    def _disconnect(self, body: dict) -> None:
        # The server clears the subscriptions too: no webhooks until connect runs again.
        with self.state.lock:
            self.instance.connected = False
            self.instance.subscriptions = []
        self._ok()

    def _reconnect(self, body: dict) -> None:
        if not self.instance.connected:
            return self._reply(500, {"error": "client disconnected"})
        return self._ok()

    def _admin_read(self) -> None:
        if self.path == "/instance/all":
            return self._ok([instance.listing() for instance in self.state.instances.values()])
        if (instance := self.state.by_id(self.path.removeprefix("/instance/info/"))) is None:
            return self._reply(500, {"error": "record not found"})
        return self._ok(instance.listing())

    def _admin_write(self) -> None:
        body = self._json_body()
        if body is None:
            return None
        if message := refusal(route_of(self.path), body):
            return self._reply(400, {"error": message})
        if self.path == "/instance/create":
            if body["name"] in self.state.instances:
                return self._reply(500, {"error": "instance already exists"})
            # The server answers the instance it stored, its proxy a JSON string (instance_service.go).
            proxy = json.dumps(body.get("proxy")) if isinstance(body.get("proxy"), dict) else ""
            created = {"id": secrets.token_hex(16), "name": body["name"], "token": body["token"]}
            return self._ok({**created, "proxy": proxy})
        if (instance := self.state.by_id(self.path.removeprefix("/instance/proxy/"))) is None:
            return self._reply(500, {"error": "record not found"})
        instance.proxy = body
        return self._ok()

    def _admin_delete(self) -> None:
        if self.state.by_id(self.path.rsplit("/", 1)[-1]) is None:
            return self._reply(500, {"error": "record not found"})
        return self._ok()

    # --- messages already sent ------------------------------------------------------------

    def _react(self, body: dict) -> None:
        if not body.get("id"):
            return self._reply(500, {"error": "missing id in payload"})
        # The server sends the reaction under the target message's own id.
        data = self._sent_message("text", body["id"], message_route_jid(body["number"]), {})
        data["Info"]["Type"] = "ReactionMessage"
        return self._ok(data)

    def _timestamped(self, body: dict) -> None:
        self._ok({"timestamp": _now()})

    def _edit(self, body: dict) -> None:
        # Edits and deletes are new messages: the server answers their id (message_handler.go).
        self._ok({"messageId": _new_message_id(), "timestamp": _ZERO_TIME})

    def _message_status(self, body: dict) -> None:
        with self.state.lock:
            status = self.state.receipts.get(body["id"])
        if status is None:
            return self._reply(500, {"error": "record not found"})
        row = {"id": str(uuid.uuid4()), "message_id": body["id"], "timestamp": _now(), "status": status}
        source = self.instance.own_jid.split("@")[0]
        return self._ok({"result": {**row, "source": source}, "timestamp": _ZERO_TIME})

    def _check(self, body: dict) -> None:
        numbers = body["number"] if isinstance(body["number"], list) else [body["number"]]
        users = []
        for number in numbers:
            jid = server_jid(str(number)) or ""
            on_whatsapp = jid.split("@")[0] not in self.state.not_registered
            user = {"Query": number, "IsInWhatsapp": on_whatsapp, "JID": jid, "RemoteJID": jid}
            users.append({**user, "VerifiedName": ""})
        self._ok({"Users": users})


def _new_message_id() -> str:
    return "3EB0" + secrets.token_hex(9).upper()


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _mimetype(media_type: str) -> str:
    # Stickers arrive as PNG: the server converts them before posting (whatsmeow.go 1329-1354).
    known = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/ogg; codecs=opus"}
    return {**known, "sticker": "image/png"}.get(media_type, "application/pdf")


def _file_bytes(size: int) -> bytes:
    """Return `size` bytes of a file someone sent (a repeating pattern: cheap to make, easy to check)."""
    pattern = bytes(range(256))
    return (pattern * (size // 256 + 1))[:size]


# The time the server's message routes answer (Go's zero time.Time, as its String() prints it).
_ZERO_TIME = "0001-01-01 00:00:00 +0000 UTC"


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, state: SandboxState, verbose: bool = False):
        super().__init__((host, port), SandboxHandler)
        self.state = state
        self.verbose = verbose
        self.webhooks = WebhookSender(state)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_in_thread(self) -> threading.Thread:
        """Serve from a daemon thread and return it (for tests and the stack runner)."""
        # A short poll interval lets shutdown() return quickly (tests stop one per test).
        thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="evolution-sandbox", daemon=True
        )
        thread.start()
        return thread
