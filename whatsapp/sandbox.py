"""A local stand-in for Evolution Go: the real server's shapes, with faults on demand.

Serves `/send/*`, `/instance/status` and `/instance/all` as Evolution Go does
(the `apikey` check, `200 {"message": "success", "data": ...}`, errors as
`{"error": "..."}`), and for tests and demos:

- `GET /_sandbox/messages`: what was delivered, each with its `id`;
- `GET /_sandbox/requests`: every send attempt, delivered or failed;
- `POST /_sandbox/faults {"faults": [{"status": 502}, ...]}`: answer the next
  sends with these faults, one each (`status`, `error`, `code`, `retry_after`,
  or `"drop": true` to close the connection without an answer);
- `DELETE /_sandbox/messages`: forget messages, requests and queued faults.
"""

import json
import random
import secrets
import threading
import time
from collections import deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEND_KINDS = {"text", "media", "link", "location", "contact", "poll", "sticker"}
MEDIA_TYPES = {"image", "video", "ptv", "audio", "document"}
_DEFAULT_ERRORS = {500: "client disconnected", 503: "service unavailable", 429: "too many requests"}
_REQUIRED = {
    "text": ("text", "message body is required"),
    "media": ("url", "URL is required"),
    "link": ("url", "URL is required"),
    "poll": ("question", "question is required"),
    "sticker": ("sticker", "sticker is required"),
}


class SandboxState:
    """What the sandbox was told and what it received; safe across handler threads."""

    def __init__(
        self,
        *,
        instance_token: str,
        global_key: str,
        fail_rate: float = 0.0,
        fail_status: int = 500,
        latency_ms: int = 0,
        not_registered: set[str] | None = None,
        seed: int | None = None,
    ):
        self.instance_token = instance_token
        self.global_key = global_key
        self.fail_rate = fail_rate
        self.fail_status = fail_status
        self.latency_ms = latency_ms
        self.not_registered = {n.split("@")[0] for n in (not_registered or set())}
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.requests: list[dict] = []
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
            self.faults.clear()


class SandboxHandler(BaseHTTPRequestHandler):
    server: "SandboxServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # --- plumbing ---------------------------------------------------------------------

    def _reply(self, status: int, body: Any, headers: dict | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _authorized(self, key: str) -> bool:
        if secrets.compare_digest(self.headers.get("apikey", "").encode(), key.encode()):
            return True
        self._reply(401, {"error": "not authorized"})
        return False

    @property
    def state(self) -> SandboxState:
        return self.server.state

    # --- routes -----------------------------------------------------------------------

    def do_GET(self) -> None:
        if self.path in ("/_sandbox/messages", "/_sandbox/requests"):
            name = self.path.removeprefix("/_sandbox/")
            with self.state.lock:
                return self._reply(200, {name: list(getattr(self.state, name))})
        if self.path == "/instance/status":
            if self._authorized(self.state.instance_token):
                status = {"Connected": True, "LoggedIn": True, "Name": "sandbox"}
                self._reply(200, {"message": "success", "data": status})
            return None
        if self.path == "/instance/all":
            if self._authorized(self.state.global_key):
                instance = {
                    "id": "00000000-0000-4000-8000-000000000001",
                    "name": "sandbox",
                    "connected": True,
                }
                self._reply(200, {"message": "success", "data": [instance]})
            return None
        return self._reply(404, {"error": "not found"})

    def do_DELETE(self) -> None:
        if self.path == "/_sandbox/messages":
            self.state.reset()
            return self._reply(200, {"message": "success"})
        self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path == "/_sandbox/faults":
            faults = self._body().get("faults", [])
            with self.state.lock:
                self.state.faults.extend(faults)
            return self._reply(200, {"message": "success", "queued": len(faults)})
        kind = self.path.removeprefix("/send/")
        if not self.path.startswith("/send/") or kind not in SEND_KINDS:
            return self._reply(404, {"error": "not found"})
        if self._authorized(self.state.instance_token):
            self._send(kind)

    def _send(self, kind: str) -> None:
        try:
            body = self._body()
        except ValueError:
            return self._reply(400, {"error": "Invalid JSON format"})
        if not isinstance(body, dict):
            return self._reply(400, {"error": "Invalid JSON format"})
        if self.state.latency_ms:
            time.sleep(self.state.latency_ms / 1000)
        number = str(body.get("number") or "")
        message_id = str(body.get("id") or "") or "3EB0" + secrets.token_hex(14).upper()
        fault = self.state.next_fault()
        attempt = {"kind": kind, "id": message_id, "number": number, "fault": fault}
        with self.state.lock:
            self.state.requests.append(attempt)
        if fault:
            return self._fault(fault)
        error = self._validate(kind, number, body)
        if error:
            return self._reply(*error)
        jid = number if "@" in number else f"{number}@s.whatsapp.net"
        info = {
            "ID": message_id,
            "Chat": jid,
            "Sender": "5500000000000@s.whatsapp.net",
            "IsFromMe": True,
            "Timestamp": datetime.now(UTC).isoformat(),
            "Type": kind,
        }
        with self.state.lock:
            self.state.messages.append(
                {"id": message_id, "kind": kind, "number": jid, "body": body, "received_at": time.time()}
            )
        self._reply(200, {"message": "success", "data": {"Info": info}})

    def _validate(self, kind: str, number: str, body: dict) -> tuple[int, dict] | None:
        if not number:
            return 400, {"error": "phone number is required"}
        if "@" not in number and not number.isdigit():
            return 400, {"error": f"Invalid number format: {number}"}
        if kind in _REQUIRED and not body.get(_REQUIRED[kind][0]):
            return 400, {"error": _REQUIRED[kind][1]}
        if number.split("@")[0] in self.state.not_registered:
            return 500, {"error": f"number {number.split('@')[0]} is not registered on WhatsApp"}
        if kind == "media" and body.get("type") not in MEDIA_TYPES:
            return 500, {"error": "invalid media type"}
        return None

    def _fault(self, fault: dict) -> None:
        if fault.get("drop"):
            self.close_connection = True
            self.connection.shutdown(2)  # no answer at all: the client sees a reset
            return
        status = int(fault.get("status", 500))
        body = {"error": fault.get("error", _DEFAULT_ERRORS.get(status, "sandbox fault"))}
        if fault.get("code"):
            body["code"] = fault["code"]
        headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else None
        self._reply(status, body, headers)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, state: SandboxState, verbose: bool = False):
        super().__init__((host, port), SandboxHandler)
        self.state = state
        self.verbose = verbose

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
