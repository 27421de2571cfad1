"""Evolution Go client: every call goes through one retry policy and one classifier.

Shapes follow the server's source (Evolution Go's `pkg/` handlers): one
`apikey` header (the instance token on send and instance routes, the global
key on admin routes), success as `200 {"message": "success", "data": ...}`,
errors as `{"error": "..."}`.
"""

import dataclasses
import hashlib
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from prometheus_client import Counter

from evonexus.logs import log_event
from whatsapp.classify import PERMANENT, RETRYABLE, classify_exception, classify_response
from whatsapp.numbers import InvalidNumber, to_jid
from whatsapp.retry import RetryPolicy

logger = logging.getLogger("evonexus.whatsapp")

SEND_ATTEMPTS = Counter(
    "evonexus_whatsapp_send_attempts", "Calls to the gateway's /send routes, by outcome.", ["outcome"]
)

CONNECT_TIMEOUT_SECONDS = 5.0


def derive_message_id(seed: str) -> str:
    """Return a stable WhatsApp message id for `seed` (the same seed, the same id).

    The shape (`3EB0` + 28 upper-case hex digits) is that of the ids WhatsApp
    Web generates, so the gateway accepts it as its own.
    """
    return "3EB0" + hashlib.sha256(seed.encode()).hexdigest()[:28].upper()


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
    )


class EvolutionClient:
    """A client for one Evolution Go server and instance."""

    def __init__(
        self,
        base_url: str,
        instance_token: str = "",
        global_key: str = "",
        *,
        timeout: float = 40.0,
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

    def _attempt(self, method: str, path: str, key: str, body: dict | None) -> GatewayResult:
        try:
            response = self.session.request(
                method, self.base_url + path, json=body, headers={"apikey": key}, timeout=self.timeout
            )
        except requests.RequestException as exc:
            result = GatewayResult(False, None, classify_exception(exc), error=f"{type(exc).__name__}: {exc}")
        else:
            result = _result_from_response(response)
        if path.startswith("/send/"):
            SEND_ATTEMPTS.labels("ok" if result.ok else result.category).inc()
        return result

    def call(self, method: str, path: str, body: dict | None = None, *, admin: bool = False) -> GatewayResult:
        """Return the result of one gateway call, retried as the policy allows.

        `admin` calls use the global key, all others the instance token. A
        missing key is a permanent failure before any request.
        """
        key = self.global_key if admin else self.instance_token
        if not self.base_url or not key:
            missing = (
                "EVOLUTION_GO_URL"
                if not self.base_url
                else ("EVOLUTION_GO_KEY" if admin else "EVOLUTION_GO_INSTANCE_TOKEN")
            )
            return GatewayResult(False, None, PERMANENT, error=f"{missing} is not configured", attempts=0)
        result, attempts = self.policy.run(lambda: self._attempt(method, path, key, body), label=path)
        return dataclasses.replace(result, attempts=attempts)

    def _send(self, path: str, number: str, fields: dict, message_id: str | None = None) -> GatewayResult:
        try:
            jid = to_jid(number)
        except InvalidNumber as exc:
            return GatewayResult(False, None, PERMANENT, error=str(exc), attempts=0)
        # One id for every attempt: a retry after an ambiguous timeout re-sends the
        # same WhatsApp message instead of a second one.
        message_id = message_id or derive_message_id(secrets.token_hex(16))
        body = {"number": jid, "id": message_id, **{k: v for k, v in fields.items() if v is not None}}
        result = self.call("POST", path, body)
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
        """Return the result of sending the media at `url` (`image`, `video`, `audio`, `document`)."""
        fields = {"url": url, "type": media_type, "caption": caption, "filename": filename}
        return self._send("/send/media", number, fields, message_id)

    def send_link(
        self,
        number: str,
        text: str,
        url: str,
        *,
        title: str | None = None,
        description: str | None = None,
        img_url: str | None = None,
        message_id: str | None = None,
    ) -> GatewayResult:
        """Return the result of sending a link preview."""
        fields = {"text": text, "url": url, "title": title, "description": description, "imgUrl": img_url}
        return self._send("/send/link", number, fields, message_id)

    def send_location(
        self,
        number: str,
        latitude: float,
        longitude: float,
        *,
        name: str | None = None,
        address: str | None = None,
        message_id: str | None = None,
    ) -> GatewayResult:
        """Return the result of sending a location pin."""
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
        if len(options) < 2:
            return GatewayResult(False, None, PERMANENT, error="a poll needs at least 2 options", attempts=0)
        fields = {"question": question, "options": options, "maxAnswer": max_answer}
        return self._send("/send/poll", number, fields, message_id)

    def send_sticker(self, number: str, sticker: str, *, message_id: str | None = None) -> GatewayResult:
        """Return the result of sending a sticker (a URL)."""
        return self._send("/send/sticker", number, {"sticker": sticker}, message_id)

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

    def set_proxy(self, instance_id: str, proxy: dict) -> GatewayResult:
        """Return the result of setting an instance's proxy (global key)."""
        return self.call("POST", f"/instance/proxy/{instance_id}", proxy, admin=True)

    def delete_proxy(self, instance_id: str) -> GatewayResult:
        """Return the result of removing an instance's proxy (global key)."""
        return self.call("DELETE", f"/instance/proxy/{instance_id}", admin=True)

    def connect(
        self,
        webhook_url: str,
        *,
        subscribe: list[str] | None = None,
        immediate: bool = True,
        phone: str | None = None,
    ) -> GatewayResult:
        """Return the result of connecting the instance.

        Raises `ValueError` without a `webhook_url`: Evolution Go erases the
        stored webhook when the field is omitted.
        """
        if not webhook_url:
            raise ValueError("connect needs a webhook URL: omitting it erases the stored one")
        body = {"webhookUrl": webhook_url, "subscribe": subscribe or ["ALL"], "immediate": immediate}
        if phone:
            body["phone"] = phone
        return self.call("POST", "/instance/connect", body)

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


def client_from_settings(**overrides: Any) -> EvolutionClient:
    """Return a client configured from the EVOLUTION_GO_* settings."""
    options = {
        "base_url": settings.EVOLUTION_GO_URL,
        "instance_token": settings.EVOLUTION_GO_INSTANCE_TOKEN,
        "global_key": settings.EVOLUTION_GO_KEY,
        "timeout": settings.EVOLUTION_GO_TIMEOUT,
        **overrides,
    }
    return EvolutionClient(**options)
