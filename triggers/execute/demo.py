"""The demo trigger that `runstack` sets up against the local sandbox.

Its URL and secret are fixed so that the README can show a curl that works
as is; that is only safe while it sends to the sandbox. So it refuses to send
anywhere else (`demo_refusal`, checked by the executor whatever command
started the process), `runstack` disables it whenever a real gateway is
configured, and `check --deploy` reports it when it exists with DEBUG off.

`connect_sandbox` points the sandbox's webhooks at it, so the demo is the whole
loop: a message arrives, the trigger answers, the echo of the answer is ignored,
and the receipts come back.
"""

import json
import socket
import time
import uuid
from urllib.parse import urlsplit

from triggers.choices import ActionType, Source
from triggers.models import Trigger
from whatsapp.client import EvolutionClient, GatewayResult
from whatsapp.models import Instance

# What the demo subscribes to: messages, the echo of our own sends (ignored, to show
# that it is), delivery receipts and the instance's connection events.
DEMO_SUBSCRIPTIONS = ["MESSAGE", "SEND_MESSAGE", "READ_RECEIPT", "CONNECTION"]

DEMO_SLUG = "demo-whatsapp-echo"
DEMO_PUBLIC_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://evonexus.invalid/demo-whatsapp-echo")
DEMO_EVENT = {
    "event": "Message",
    "instanceName": "sandbox",
    "data": {
        "Info": {
            "ID": "DEMO-MESSAGE-1",
            "Sender": "5511999999999@s.whatsapp.net",
            "Chat": "5511999999999@s.whatsapp.net",
            "IsFromMe": False,
            "PushName": "Ana",
        },
        "Message": {"conversation": "hello"},
    },
}


def is_demo(trigger: Trigger) -> bool:
    """Return whether `trigger` is the demo trigger (public URL, public secret)."""
    return trigger.public_id == DEMO_PUBLIC_ID or trigger.slug == DEMO_SLUG


def demo_refusal(trigger: Trigger) -> str | None:
    """Return why the demo trigger may not send now, or `None` (it may, or it is no demo).

    It may send only to the sandbox it was made for: its instance (the one
    holding the demo's public token) on a server on this machine (loopback).
    Anything else would make it an open relay: anyone could send any text to
    any number.
    """
    if not is_demo(trigger):
        return None
    instance = trigger.instance
    host = urlsplit(instance.server_url).hostname or "" if instance is not None else ""
    if host in ("127.0.0.1", "localhost", "::1") and instance.holds_token(trigger.secret):
        return None
    return "the demo trigger only sends to the local sandbox, and the configured gateway is not it"


def ensure_sandbox_instances(tokens: dict[str, str]) -> list[Instance]:
    """Return the sandbox's instances (name -> token), made when missing; their URL is the settings'.

    An instance already holding one of the tokens keeps its name: the demo
    finds it by its token, as triggers do.
    """
    found = []
    for name, token in tokens.items():
        instance = Instance.objects.holding(token)
        if instance is None:
            instance, _ = Instance.objects.update_or_create(name=name, defaults={"token": token, "url": ""})
        found.append(instance)
    return found


def ensure_demo_trigger(instance_token: str) -> Trigger:
    """Return the demo trigger, created or re-enabled, authenticated by `instance_token`."""
    trigger, _ = Trigger.objects.update_or_create(
        slug=DEMO_SLUG,
        defaults={
            "public_id": DEMO_PUBLIC_ID,
            "name": "Demo: answer WhatsApp messages (sandbox)",
            "source": Source.WHATSAPP,
            "secret": instance_token,
            # Messages only: receipts and the echoes of our own replies are not answered.
            "event_filter": {"event_type": "Message"},
            "action_type": ActionType.WHATSAPP,
            "action_payload": {"message": "Hi {{ push_name }}! You said: {{ text }}"},
            "enabled": True,
        },
    )
    return trigger


def disable_demo_trigger() -> bool:
    """Return whether a demo trigger existed and was enabled (it is disabled now)."""
    return bool(Trigger.objects.filter(slug=DEMO_SLUG, enabled=True).update(enabled=False))


def connect_sandbox(
    sandbox_url: str, instance_token: str, base_url: str, wait_seconds: float = 30
) -> GatewayResult:
    """Return the result of pointing the sandbox's webhooks at the demo trigger, once it listens."""
    address = urlsplit(sandbox_url)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((address.hostname, address.port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)  # the sandbox process is still starting
    webhook_url = f"{base_url}/api/triggers/{DEMO_PUBLIC_ID}/webhook"
    return EvolutionClient(sandbox_url, instance_token).connect(webhook_url, subscribe=DEMO_SUBSCRIPTIONS)


def demo_curl(base_url: str, instance_token: str) -> str:
    """Return a curl command that sends the demo event to the demo trigger."""
    body = json.dumps({**DEMO_EVENT, "instanceToken": instance_token})
    url = f"{base_url}/api/triggers/{DEMO_PUBLIC_ID}/webhook"
    return f"curl -s -X POST {url} -H 'Content-Type: application/json' -d '{body}'"
