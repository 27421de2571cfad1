"""Evolution Go client: every call goes through one retry policy and one classifier.

Shapes follow the server's source (docs/evolution-go.md): one `apikey` header
(the instance token on send, message and instance routes, the global key on
admin routes), success as `200 {"message": "success", "data": ...}`, errors as
`{"error": "..."}`. A request the server would refuse for a missing field is
refused here first, with the server's message and no request (`contract.py`).
"""

import dataclasses
import hashlib
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from prometheus_client import Counter

from evonexus.logs import log_event
from whatsapp.classify import (
    PERMANENT,
    RETRYABLE,
    classify_exception,
    classify_response,
    means_not_connected,
)
from whatsapp.contract import EVENT_TYPES, SUBSCRIBE_ALL, refusal, unknown_event_types
from whatsapp.numbers import InvalidNumber, gateway_number, message_jid
from whatsapp.retry import RetryPolicy

logger = logging.getLogger("evonexus.whatsapp")

SEND_ATTEMPTS = Counter(
    "evonexus_whatsapp_send_attempts", "Calls to the gateway's /send routes, by outcome.", ["outcome"]
)

CONNECT_TIMEOUT_SECONDS = 5.0


# A send to a disconnected instance waits inside the server for up to 3 attempts of
# about 12-16 s each: 48 s at worst (docs/evolution-go.md, "Timeouts"). Reading for
# less cuts off a send that may still go out, and our retry would then start a
# second reconnect cycle beside the first; 60 s leaves the server its worst case.
DEFAULT_READ_TIMEOUT_SECONDS = 60.0

# Messages (the work), delivery receipts (what became of ours) and the instance's
# connection events (the breaker's state); never ALL: our own sends' echoes are noise.
DEFAULT_SUBSCRIPTIONS = ("MESSAGE", "READ_RECEIPT", "CONNECTION")


def derive_message_id(seed: str) -> str:
    """Return a stable WhatsApp message id for `seed` (the same seed, the same id).

    The shape is whatsmeow's own (`3EB0` + 18 upper-case hex digits, 22
    characters). Every attempt of one send carries it, so a duplicate that
    WhatsApp delivers after an ambiguous timeout is recognisable, and delivery
    receipts can be matched to the send. It does not stop a second delivery:
    Evolution Go does not deduplicate a repeated id, it sends again.
    """
    return "3EB0" + hashlib.sha256(seed.encode()).hexdigest()[:18].upper()


@dataclass(frozen=True)
class GatewayResult:
    """The outcome of one gateway call, after retries."""

    ok: bool
    status_code: int | None
    category: str | None
    error: str | None = None
    data: Any = None
    attempts: int = 1
    message_id: str | None = None
    retry_after: float | None = None
    # The instance is not connected (or the server unreachable): nothing was sent.
    not_connected: bool = False

    @property
    def retryable(self) -> bool:
        return self.category in RETRYABLE

    def as_dict(self) -> dict:
        """Return the result as JSON-ready data (for the CLI and execution records)."""
        fields = ("ok", "status_code", "attempts", "category", "message_id", "error", "data")
        return {name: getattr(self, name) for name in fields}


def _retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:
        return None  # an HTTP date: not worth parsing, the backoff applies


def _result_from_response(response: requests.Response) -> GatewayResult:
    try:
        body = response.json()
    except ValueError:
        body = None
    error_text = error_code = ""
    if isinstance(body, dict):
        error_text = str(body.get("error") or "")
        error_code = str(body.get("code") or "")
    elif response.status_code >= 300:
        error_text = response.text[:500]
    category = classify_response(response.status_code, error_text, error_code)
    data = body.get("data") if isinstance(body, dict) else body
    return GatewayResult(
        ok=category is None,
        status_code=response.status_code,
        category=category,
        error=None if category is None else (error_text or f"HTTP {response.status_code}"),
        data=data,
        retry_after=_retry_after_seconds(response),
        not_connected=category is not None and means_not_connected(response.status_code, error_text),
    )


class EvolutionClient:
    """A client for one Evolution Go server and instance."""

    def __init__(
        self,
        base_url: str,
        instance_token: str = "",
        global_key: str = "",
        *,
        timeout: float = DEFAULT_READ_TIMEOUT_SECONDS,
        policy: RetryPolicy | None = None,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.instance_token = instance_token
        self.global_key = global_key
        self.timeout = (CONNECT_TIMEOUT_SECONDS, timeout)
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()

    # --- the one way a call is made ---------------------------------------------------

    def _attempt(
        self, method: str, path: str, key: str, body: dict | None, files: dict | None
    ) -> GatewayResult:
        # A multipart request carries its fields as form data beside the file.
        payload = {"data": body, "files": files} if files else {"json": body}
        try:
            response = self.session.request(
                method, self.base_url + path, headers={"apikey": key}, timeout=self.timeout, **payload
            )
        except requests.RequestException as exc:
            result = GatewayResult(
                False,
                None,
                classify_exception(exc),
                error=f"{type(exc).__name__}: {exc}",
                not_connected=means_not_connected(None, exc=exc),
            )
        else:
            result = _result_from_response(response)
        if path.startswith("/send/"):
            SEND_ATTEMPTS.labels("ok" if result.ok else result.category).inc()
        return result

    def call(
        self,
        method: str,
        path: str,
        body: dict | None = None,
        *,
        admin: bool = False,
        files: dict | None = None,
    ) -> GatewayResult:
        """Return the result of one gateway call, retried as the policy allows.

        `admin` calls use the global key, all others the instance token;
        `files` makes it a multipart upload with `body` as its form fields. A
        missing key, or a body the server would refuse for a missing field, is
        a permanent failure before any request (the latter with the server's
        own message).
        """
        form = {**(body or {}), **(files or {})}
        if body is not None and (message := refusal(path, form, multipart=bool(files))):
            return GatewayResult(False, None, PERMANENT, error=message, attempts=0)
        key = self.global_key if admin else self.instance_token
        if not self.base_url or not key:
            missing = (
                "EVOLUTION_GO_URL"
                if not self.base_url
                else ("EVOLUTION_GO_KEY" if admin else "EVOLUTION_GO_INSTANCE_TOKEN")
            )
            return GatewayResult(False, None, PERMANENT, error=f"{missing} is not configured", attempts=0)
        result, attempts = self.policy.run(lambda: self._attempt(method, path, key, body, files), label=path)
        return dataclasses.replace(result, attempts=attempts)

    def _send(
        self,
        path: str,
        number: str,
        fields: dict,
        message_id: str | None = None,
        files: dict | None = None,
    ) -> GatewayResult:
        try:
            recipient = gateway_number(number)
        except InvalidNumber as exc:
            return GatewayResult(False, None, PERMANENT, error=str(exc), attempts=0)
        # One id for every attempt: a retry after an ambiguous timeout carries the
        # same WhatsApp message id, so a second delivery is recognisable.
        message_id = message_id or derive_message_id(secrets.token_hex(16))
        body = {"number": recipient, "id": message_id, **{k: v for k, v in fields.items() if v is not None}}
        result = self.call("POST", path, body, files=files)
        sent_id = (result.data or {}).get("Info", {}).get("ID") if isinstance(result.data, dict) else None
        result = dataclasses.replace(result, message_id=sent_id or message_id)
        log_event(
            logger,
            "whatsapp_send",
            level=logging.INFO if result.ok else logging.WARNING,
            call=path,
            attempts=result.attempts,
            final_status=result.status_code,
            category=result.category,
            message_id=result.message_id,
        )
        return result

    # --- sending ----------------------------------------------------------------------

    def send_text(
        self,
        number: str,
        text: str,
        *,
        message_id: str | None = None,
        delay_ms: int | None = None,
        mentioned_jids: list[str] | None = None,
        mention_all: bool | None = None,
        quoted: dict | None = None,
    ) -> GatewayResult:
        """Return the result of sending `text` to `number`."""
        fields = {
            "text": text,
            "delay": delay_ms,
            "mentionedJid": mentioned_jids,
            "mentionAll": mention_all,
            "quoted": quoted,
        }
        return self._send("/send/text", number, fields, message_id)

    def send_media(
        self,
        number: str,
        url: str,
        media_type: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
        message_id: str | None = None,
    ) -> GatewayResult:
        """Return the result of sending the media at `url` (`image`, `video`, `ptv`, `audio`, `document`)."""
        fields = {"url": url, "type": media_type, "caption": caption, "filename": filename}
        return self._send("/send/media", number, fields, message_id)

    def send_media_file(
        self,
        number: str,
        path: Path,
        media_type: str,
        *,
        caption: str | None = None,
        filename: str | None = None,
        message_id: str | None = None,
    ) -> GatewayResult:
        """Return the result of uploading the local file at `path` as media (multipart `file`).

        For any type but `ptv`, which the server takes only as a URL (refused
        here before any request). The filename defaults to the file's name.
        """
        if media_type == "ptv":
            error = "a ptv (round video) can only be sent from a URL, not uploaded"
            return GatewayResult(False, None, PERMANENT, error=error, attempts=0)
        fields = {"type": media_type, "caption": caption, "filename": filename or path.name}
        files = {"file": (filename or path.name, path.read_bytes())}
        return self._send("/send/media", number, fields, message_id, files=files)

    def send_link(
        self,
        number: str,
        text: str,
        url: str | None = None,
        *,
        message_id: str | None = None,
    ) -> GatewayResult:
        """Return the result of sending a text whose first URL gets a preview.

        The server never reads a `url` field: the preview comes from the first
        URL inside `text`, so `url` is appended to the text when it is not
        already in it. The preview's title, description and image are the
        page's own: the server fetches them and overwrites any it was given
        (send_service.go `SendLink`), so none is sent.
        """
        if url and url not in text:
            text = f"{text} {url}".strip()
        fields = {"text": text}
        return self._send("/send/link", number, fields, message_id)

    def send_location(
        self,
        number: str,
        latitude: float,
        longitude: float,
        *,
        name: str,
        address: str,
        message_id: str | None = None,
    ) -> GatewayResult:
        """Return the result of sending a location pin (all fields required; 0 counts as missing)."""
        fields = {"latitude": latitude, "longitude": longitude, "name": name, "address": address}
        return self._send("/send/location", number, fields, message_id)

    def send_contact(
        self,
        number: str,
        full_name: str,
        phone: str,
        *,
        organization: str | None = None,
        message_id: str | None = None,
    ) -> GatewayResult:
        """Return the result of sending a contact card."""
        vcard = {"fullName": full_name, "phone": phone, "organization": organization or ""}
        return self._send("/send/contact", number, {"vcard": vcard}, message_id)

    def send_poll(
        self,
        number: str,
        question: str,
        options: list[str],
        *,
        max_answer: int = 1,
        message_id: str | None = None,
    ) -> GatewayResult:
        """Return the result of sending a poll; fewer than two options is refused before any request."""
        fields = {"question": question, "options": options, "maxAnswer": max_answer}
        return self._send("/send/poll", number, fields, message_id)

    def send_sticker(self, number: str, sticker: str, *, message_id: str | None = None) -> GatewayResult:
        """Return the result of sending a sticker (an http(s) URL to an image)."""
        return self._send("/send/sticker", number, {"sticker": sticker}, message_id)

    # --- messages already sent: a JID, as the server's message routes need (`message_jid`;
    # these raise `InvalidNumber` for a malformed number) -----------------------------------

    def react(
        self,
        number: str,
        message_id: str,
        reaction: str,
        *,
        from_me: bool = False,
        participant: str | None = None,
    ) -> GatewayResult:
        """Return the result of reacting to message `message_id` in the chat with `number`.

        `reaction` is an emoji, or `remove`. `from_me` says whose message it is.
        The server sends the reaction under the target message's own id (its
        quirk), so the answer's message id is the target's.
        """
        body = {
            "number": message_jid(number),
            "id": message_id,
            "reaction": reaction,
            "fromMe": from_me,
            **({"participant": participant} if participant else {}),
        }
        return self.call("POST", "/message/react", body)

    def mark_read(self, number: str, message_ids: list[str]) -> GatewayResult:
        """Return the result of marking messages of the chat with `number` as read."""
        return self.call("POST", "/message/markread", {"number": message_jid(number), "id": message_ids})

    def edit_message(self, chat: str, message_id: str, text: str) -> GatewayResult:
        """Return the result of replacing the text of a message we sent."""
        body = {"chat": message_jid(chat), "messageId": message_id, "message": text}
        return self.call("POST", "/message/edit", body)

    def delete_message(self, chat: str, message_id: str) -> GatewayResult:
        """Return the result of deleting a message we sent, for everyone."""
        return self.call("POST", "/message/delete", {"chat": message_jid(chat), "messageId": message_id})

    def message_status(self, message_id: str) -> GatewayResult:
        """Return what the server stored of a message's delivery (needs its message storage on)."""
        return self.call("POST", "/message/status", {"id": message_id})

    def set_presence(self, number: str, state: str, *, is_audio: bool = False) -> GatewayResult:
        """Return the result of showing `state` (`composing` or `paused`) in the chat with `number`."""
        body = {"number": message_jid(number), "state": state, "isAudio": is_audio}
        return self.call("POST", "/message/presence", body)

    def check(self, numbers: list[str]) -> GatewayResult:
        """Return, for each number, whether it is on WhatsApp and its JID."""
        return self.call("POST", "/user/check", {"number": [gateway_number(n) for n in numbers]})

    # --- instances --------------------------------------------------------------------

    def instances(self) -> GatewayResult:
        """Return every instance on the server (global key)."""
        return self.call("GET", "/instance/all", admin=True)

    def instance_info(self, instance_id: str) -> GatewayResult:
        """Return one instance by its UUID (global key)."""
        return self.call("GET", f"/instance/info/{instance_id}", admin=True)

    def create_instance(self, name: str, token: str, **extra: Any) -> GatewayResult:
        """Return the result of creating an instance with its own API token (global key)."""
        return self.call("POST", "/instance/create", {"name": name, "token": token, **extra}, admin=True)

    def delete_instance(self, instance_id: str) -> GatewayResult:
        """Return the result of deleting an instance by UUID, not name (global key)."""
        return self.call("DELETE", f"/instance/delete/{instance_id}", admin=True)

    def set_proxy(
        self, instance_id: str, host: str, port: str, *, username: str = "", password: str = ""
    ) -> GatewayResult:
        """Return the result of setting an instance's proxy (global key)."""
        body = {"host": host, "port": str(port), "username": username, "password": password}
        return self.call("POST", f"/instance/proxy/{instance_id}", body, admin=True)

    def delete_proxy(self, instance_id: str) -> GatewayResult:
        """Return the result of removing an instance's proxy (global key)."""
        return self.call("DELETE", f"/instance/proxy/{instance_id}", admin=True)

    def connect(
        self,
        webhook_url: str,
        *,
        subscribe: list[str] | None = None,
        phone: str | None = None,
    ) -> GatewayResult:
        """Return the result of connecting the instance, its webhook and its subscriptions.

        `subscribe` defaults to `MESSAGE`, `READ_RECEIPT` and `CONNECTION`
        (incoming messages, delivery receipts, the instance's connection; not
        our own sends' echoes). Raises
        `ValueError`, before any request, without a `webhook_url` (the server
        erases the stored one when it is omitted) and for names the server
        would silently drop. The answer is checked: a server that stored
        another URL or other subscriptions than asked is a failure.
        """
        if not webhook_url:
            raise ValueError("connect needs a webhook URL: omitting it erases the stored one")
        subscribe = list(subscribe or DEFAULT_SUBSCRIPTIONS)
        if unknown := unknown_event_types(subscribe):
            names = ", ".join((SUBSCRIBE_ALL, *EVENT_TYPES))
            raise ValueError(f"unknown event type(s) {', '.join(unknown)}: use {names}")
        body = {"webhookUrl": webhook_url, "subscribe": subscribe}
        if phone:
            body["phone"] = phone
        result = self.call("POST", "/instance/connect", body)
        return _checked_connection(result, webhook_url, subscribe) if result.ok else result

    def status(self) -> GatewayResult:
        """Return the instance's `Connected`, `LoggedIn` and `Name`."""
        return self.call("GET", "/instance/status")

    def qr(self) -> GatewayResult:
        """Return the pairing QR code (`Qrcode`, `Code`)."""
        return self.call("GET", "/instance/qr")

    def pair(self, phone: str) -> GatewayResult:
        """Return a pairing code for `phone`."""
        return self.call("POST", "/instance/pair", {"phone": phone})

    def disconnect(self) -> GatewayResult:
        """Return the result of disconnecting the instance (the session is kept)."""
        return self.call("POST", "/instance/disconnect")

    def reconnect(self) -> GatewayResult:
        """Return the result of reconnecting the instance."""
        return self.call("POST", "/instance/reconnect")

    def logout(self) -> GatewayResult:
        """Return the result of logging the instance out (the session is dropped)."""
        return self.call("DELETE", "/instance/logout")


def _checked_connection(result: GatewayResult, webhook_url: str, subscribe: list[str]) -> GatewayResult:
    """Return `result`, failed when the server stored another webhook or other subscriptions."""
    data = result.data if isinstance(result.data, dict) else {}
    expected = set(EVENT_TYPES) if subscribe[0] == SUBSCRIBE_ALL else set(subscribe)
    stored = {name for name in str(data.get("eventString", "")).split(",") if name}
    if data.get("webhookUrl") == webhook_url and stored == expected:
        return result
    error = (
        f"the server stored webhook {data.get('webhookUrl')!r} with {sorted(stored)}, "
        f"not {webhook_url!r} with {sorted(expected)}"
    )
    return dataclasses.replace(result, ok=False, category=PERMANENT, error=error)


def make_client(base_url: str, instance_token: str, **overrides: Any) -> EvolutionClient:
    """Return a client for one instance, with the settings' global key and timeout.

    The one place every gateway client of the service is made: each instance's
    (`Instance.client`), and one with no instance token for the server's admin routes.
    """
    options = {
        "base_url": base_url,
        "instance_token": instance_token,
        "global_key": settings.EVOLUTION_GO_KEY,
        "timeout": settings.EVOLUTION_GO_TIMEOUT,
        **overrides,
    }
    return EvolutionClient(**options)

