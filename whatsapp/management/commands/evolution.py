"""`manage.py evolution <command>`: the Evolution Go client from the shell.

Prints the JSON result on stdout and exits 0 on success; on failure prints a
JSON error and exits 1. Retry logs go to stderr, so stdout stays parseable.
Secret-named fields (the instances' tokens, for one) are redacted in every output.

Every command acts for one WhatsApp instance: `--instance NAME`, or the only one
(several and none named: an error listing them). `instance_list`, `instance_add`,
`instance_update` and `instance_remove` manage the instances themselves.
"""

import json
import sys
from collections.abc import Callable
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandParser
from django.db import IntegrityError
from django.db.models import ProtectedError

from evonexus.redaction import redact_secrets
from whatsapp.client import EvolutionClient, GatewayResult
from whatsapp.contract import EVENT_TYPES, MEDIA_TYPES, SUBSCRIBE_ALL
from whatsapp.media import MediaNotConfigured, media_storage_configured, media_type_for, media_url_for
from whatsapp.models import Instance


def _connect(client: EvolutionClient, o: dict) -> GatewayResult:
    """Point the instance's webhook at `--webhook-url`, or at the trigger that listens to it."""
    url = o["webhook_url"] or o["instance_record"].webhook_url(o["base_url"])
    return client.connect(url, subscribe=o["subscribe"], phone=o["phone"])


def _described(instance: Instance) -> dict:
    """Return the instance as commands print it: never its token."""
    return {
        "name": instance.name,
        "url": instance.server_url,
        "daily_cap": instance.cap or None,
        "watermark": instance.threshold,
        "state": instance.state,
        "state_since": instance.state_since.isoformat() if instance.state_since else None,
        "triggers": sorted(instance.triggers.values_list("slug", flat=True)),
    }


def _instance_list(o: dict) -> dict:
    return {"ok": True, "instances": [_described(each) for each in Instance.objects.order_by("name")]}


def _instance_fields(o: dict) -> dict:
    fields = {"url": o["url"], "token": o["token"], "daily_cap": o["daily_cap"], "watermark": o["watermark"]}
    return {name: value for name, value in fields.items() if value is not None}


def _instance_add(o: dict) -> dict:
    if Instance.objects.held_by_another(o["token"]):
        raise ValueError("another instance holds this token")
    instance = Instance(name=o["name"], **_instance_fields(o))
    _save(instance)
    return {"ok": True, "instance": _described(instance)}


def _instance_update(o: dict) -> dict:
    instance = Instance.objects.pick(o["name"])
    fields = _instance_fields(o)
    if Instance.objects.held_by_another(fields.get("token"), instance):
        raise ValueError("another instance holds this token")
    for name, value in fields.items():
        setattr(instance, name, value)
    _save(instance)
    return {"ok": True, "instance": _described(instance)}


def _save(instance: Instance) -> None:
    try:
        instance.full_clean()
        instance.save()
    except ValidationError as exc:
        raise ValueError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
    except IntegrityError:
        raise ValueError("another instance holds this name or token") from None


def _instance_remove(o: dict) -> dict:
    instance = Instance.objects.pick(o["name"])
    try:
        instance.delete()
    except ProtectedError:
        bound = ", ".join(sorted(instance.triggers.values_list("slug", flat=True)))
        raise ValueError(f"instance {instance.name} has triggers ({bound}): rebind them first") from None
    return {"ok": True, "removed": instance.name}


_INSTANCE_FIELDS = [
    ("--url", {"help": "the Evolution Go server; default EVOLUTION_GO_URL"}),
    ("--daily-cap", {"type": int, "help": "sends allowed in any 24 hours (0: none)"}),
    ("--watermark", {"type": int, "help": "sends in 24 hours above which stats warn"}),
]
# The instances themselves: these act on evonexus's records, not through the gateway.
LOCAL_COMMANDS: dict[str, tuple[list[tuple[str, dict]], Callable[[dict], dict]]] = {
    "instance_list": ([], _instance_list),
    "instance_add": (
        [("--name", {"required": True}), ("--token", {"required": True}), *_INSTANCE_FIELDS],
        _instance_add,
    ),
    "instance_update": (
        [("--name", {"required": True}), ("--token", {"help": "a new token: rotates it"}), *_INSTANCE_FIELDS],
        _instance_update,
    ),
    "instance_remove": ([("--name", {"required": True})], _instance_remove),
}


def _summary(client: EvolutionClient) -> dict:
    status = client.status()
    instances = client.instances() if client.global_key else None
    return {
        "ok": status.ok and (instances is None or instances.ok),
        "status": status.as_dict(),
        "instances": instances.as_dict() if instances else "EVOLUTION_GO_KEY not set",
    }


def _send_media(client: EvolutionClient, o: dict) -> GatewayResult:
    """Send a URL as it is; a local file through S3 when configured, else uploaded to the gateway."""
    media_type = o["type"] or media_type_for(o["media"])
    is_url = o["media"].startswith(("http://", "https://"))
    if not is_url and not media_storage_configured():
        path = Path(o["media"]).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{o['media']!r} is neither an http(s) URL nor a local file")
        return client.send_media_file(
            o["number"], path, media_type, caption=o["caption"], filename=o["filename"]
        )
    filename = o["filename"] or (None if is_url else Path(o["media"]).name)
    url = media_url_for(o["media"])
    return client.send_media(o["number"], url, media_type, caption=o["caption"], filename=filename)


# Each command: (arguments, what it does with the client and the parsed options).
COMMANDS: dict[str, tuple[list[tuple[str, dict]], Callable[[EvolutionClient, dict], object]]] = {
    "instances": ([], lambda c, o: c.instances()),
    "create_instance": (
        [("--name", {"required": True}), ("--token", {"required": True})],
        lambda c, o: c.create_instance(o["name"], o["token"]),
    ),
    "connect": (
        [
            ("--webhook-url", {"help": "default: the URL of the whatsapp trigger listening to the instance"}),
            ("--base-url", {"help": "where that trigger is served; default PUBLIC_BASE_URL"}),
            (
                "--subscribe",
                {
                    "nargs": "+",
                    "metavar": "EVENT",
                    "help": "default: MESSAGE READ_RECEIPT CONNECTION; one of "
                    f"{SUBSCRIBE_ALL} {' '.join(EVENT_TYPES)}",
                },
            ),
            ("--phone", {}),
        ],
        _connect,
    ),
    "disconnect": ([], lambda c, o: c.disconnect()),
    "reconnect": ([], lambda c, o: c.reconnect()),
    "status": ([], lambda c, o: c.status()),
    "qr": ([], lambda c, o: c.qr()),
    "pair": ([("--phone", {"required": True})], lambda c, o: c.pair(o["phone"])),
    "logout": ([], lambda c, o: c.logout()),
    "delete_instance": ([("--id", {"required": True})], lambda c, o: c.delete_instance(o["id"])),
    "delete_proxy": ([("--id", {"required": True})], lambda c, o: c.delete_proxy(o["id"])),
    "summary": ([], lambda c, o: _summary(c)),
    "send_text": (
        [("--number", {"required": True}), ("--text", {"required": True}), ("--id", {})],
        lambda c, o: c.send_text(o["number"], o["text"], message_id=o["id"]),
    ),
    "send_media": (
        [
            ("--number", {"required": True}),
            (
                "--media",
                {
                    "required": True,
                    "help": "an http(s) URL, or a local file (through S3 when MEDIA_S3_* is set, "
                    "else uploaded to the gateway)",
                },
            ),
            ("--type", {"choices": MEDIA_TYPES}),
            ("--caption", {}),
            ("--filename", {}),
        ],
        _send_media,
    ),
    "send_location": (
        [
            ("--number", {"required": True}),
            ("--latitude", {"required": True, "type": float}),
            ("--longitude", {"required": True, "type": float}),
            ("--name", {"required": True}),
            ("--address", {"required": True}),
        ],
        lambda c, o: c.send_location(
            o["number"], o["latitude"], o["longitude"], name=o["name"], address=o["address"]
        ),
    ),
    "send_contact": (
        [
            ("--number", {"required": True}),
            ("--name", {"required": True}),
            ("--phone", {"required": True}),
            ("--organization", {}),
        ],
        lambda c, o: c.send_contact(o["number"], o["name"], o["phone"], organization=o["organization"]),
    ),
    "send_link": (
        [
            ("--number", {"required": True}),
            ("--text", {"required": True, "help": "the preview is made of the first URL in it"}),
            ("--url", {"help": "appended to the text when not already in it"}),
        ],
        # No --title or --description: the server takes the preview's from the page.
        lambda c, o: c.send_link(o["number"], o["text"], o["url"]),
    ),
    "send_sticker": (
        [("--number", {"required": True}), ("--sticker", {"required": True})],
        lambda c, o: c.send_sticker(o["number"], o["sticker"]),
    ),
    "send_poll": (
        [
            ("--number", {"required": True}),
            ("--question", {"required": True}),
            ("--option", {"action": "append", "required": True, "dest": "options"}),
            ("--max-answer", {"type": int, "default": 1}),
        ],
        lambda c, o: c.send_poll(o["number"], o["question"], o["options"], max_answer=o["max_answer"]),
    ),
    "react": (
        [
            ("--number", {"required": True}),
            ("--id", {"required": True, "help": "the message to react to"}),
            ("--reaction", {"required": True, "help": "an emoji, or 'remove'"}),
            ("--from-me", {"action": "store_true", "help": "the message is one we sent"}),
        ],
        lambda c, o: c.react(o["number"], o["id"], o["reaction"], from_me=o["from_me"]),
    ),
    "mark_read": (
        [("--number", {"required": True}), ("--id", {"required": True, "action": "append", "dest": "ids"})],
        lambda c, o: c.mark_read(o["number"], o["ids"]),
    ),
    "edit_message": (
        [("--chat", {"required": True}), ("--id", {"required": True}), ("--text", {"required": True})],
        lambda c, o: c.edit_message(o["chat"], o["id"], o["text"]),
    ),
    "delete_message": (
        [("--chat", {"required": True}), ("--id", {"required": True})],
        lambda c, o: c.delete_message(o["chat"], o["id"]),
    ),
    "message_status": ([("--id", {"required": True})], lambda c, o: c.message_status(o["id"])),
    "set_presence": (
        [
            ("--number", {"required": True}),
            ("--state", {"required": True, "choices": ["composing", "paused"]}),
            ("--audio", {"action": "store_true", "help": "recording audio rather than typing"}),
        ],
        lambda c, o: c.set_presence(o["number"], o["state"], is_audio=o["audio"]),
    ),
    "check": (
        [("--number", {"required": True, "action": "append", "dest": "numbers"})],
        lambda c, o: c.check(o["numbers"]),
    ),
    "instance_info": ([("--id", {"required": True})], lambda c, o: c.instance_info(o["id"])),
    "set_proxy": (
        [
            ("--id", {"required": True}),
            ("--host", {"required": True}),
            ("--port", {"required": True}),
            ("--username", {"default": ""}),
            ("--password", {"default": ""}),
        ],
        lambda c, o: c.set_proxy(
            o["id"], o["host"], o["port"], username=o["username"], password=o["password"]
        ),
    ),
}


class Command(BaseCommand):
    help = "Talk to the Evolution Go gateway as one WhatsApp instance (--instance NAME). Prints JSON."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True, metavar="command")
        for name, (arguments, _) in COMMANDS.items():
            sub = commands.add_parser(name, help=name.replace("_", " "))
            sub.add_argument("--instance", help="the WhatsApp instance to act as; default: the only one")
            for flag, options in arguments:
                sub.add_argument(flag, **options)
        for name, (arguments, _) in LOCAL_COMMANDS.items():
            sub = commands.add_parser(name, help=name.replace("_", " "))
            for flag, options in arguments:
                sub.add_argument(flag, **options)

    def handle(self, *args, command: str, **options) -> None:
        try:
            if command in LOCAL_COMMANDS:
                result = LOCAL_COMMANDS[command][1](options)
            else:
                instance = Instance.objects.pick(options["instance"])
                result = COMMANDS[command][1](instance.client(), {**options, "instance_record": instance})
        except (ValueError, FileNotFoundError, MediaNotConfigured) as exc:
            result = {"ok": False, "error": str(exc)}
        data = result.as_dict() if isinstance(result, GatewayResult) else result
        self.stdout.write(json.dumps(redact_secrets(data), indent=2, ensure_ascii=False))
        if not data["ok"]:
            sys.exit(1)
