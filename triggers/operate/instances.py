"""WhatsApp instances as operators manage them: connecting one to its trigger, and what the server stores.

Shared by the admin, the API and `manage.py evolution`. Registering the webhook
is one step (`connect`): the instance's webhook goes to the URL of the trigger
that listens to it, subscribed to messages, receipts and connection events.
`server_config` reads `/instance/all` (the server's global key) to tell, for each
instance, whether what the server stores matches that.
"""

from dataclasses import dataclass

from django.db.models import ProtectedError

from whatsapp.client import DEFAULT_SUBSCRIPTIONS, GatewayResult, make_client
from whatsapp.models import Instance
from whatsapp.retry import RetryPolicy

# What a trigger needs from its instance: messages, what became of ours, the connection.
SUBSCRIPTIONS = DEFAULT_SUBSCRIPTIONS


class InstanceInUse(Exception):
    """The instance has triggers bound to it: it cannot be deleted."""


def delete_instance(instance: Instance) -> None:
    """Delete the instance, its breaker and its token; raise `InstanceInUse` while triggers name it.

    The messages it sent stay, without their instance.
    """
    try:
        instance.delete()
    except ProtectedError:
        names = ", ".join(sorted(instance.triggers.values_list("slug", flat=True)))
        raise InstanceInUse(
            f"instance {instance.name} has triggers bound to it ({names}): rebind or delete them first"
        ) from None


def connect(instance: Instance, *, base_url: str | None = None) -> GatewayResult:
    """Return the server's answer to pointing `instance`'s webhook at its trigger, with `SUBSCRIPTIONS`.

    A permanent failure, and no request, when no `whatsapp` trigger listens to
    the instance or no public base URL is known.
    """
    try:
        url = instance.webhook_url(base_url)
    except ValueError as exc:
        return GatewayResult(False, None, "permanent", error=str(exc), attempts=0)
    return instance.client().connect(url, subscribe=SUBSCRIPTIONS)


@dataclass(frozen=True)
class ServerView:
    """What the server stores for one instance, against what its trigger needs."""

    found: bool
    webhook: str = ""
    events: str = ""
    connected: bool | None = None
    expected_webhook: str = ""

    @property
    def matches(self) -> bool:
        stored = {event.strip().upper() for event in self.events.split(",") if event.strip()}
        wanted = bool(self.expected_webhook) and self.webhook == self.expected_webhook
        return self.found and wanted and (set(SUBSCRIPTIONS) <= stored or "ALL" in stored)


def server_config(
    instances: list[Instance], *, base_url: str | None = None
) -> tuple[dict[str, ServerView], str]:
    """Return what `/instance/all` says of each instance (by name), and any error reading it.

    The server lists every instance with its token; each of ours is found by
    its token, on its own server. Tokens are compared and never returned.
    """
    views: dict[str, ServerView] = {}
    errors: list[str] = []
    listings: dict[str, list[dict]] = {}
    for instance in instances:
        server = instance.server_url
        if server not in listings:
            # A page waits on this: one short attempt.
            # The server's admin route: its global key, no instance token.
            reader = make_client(server, "", timeout=5, policy=RetryPolicy(max_attempts=1))
            answer = reader.instances()
            listings[server] = answer.data if answer.ok and isinstance(answer.data, list) else []
            if not answer.ok:
                errors.append(f"{server}: {answer.error}")
        rows = (row for row in listings[server] if isinstance(row, dict))
        entry = next((row for row in rows if instance.holds_token(row.get("token"))), None)
        try:
            expected = instance.webhook_url(base_url)
        except ValueError:
            expected = ""  # nothing to compare with: never a match
        if entry is None:
            views[instance.name] = ServerView(False, expected_webhook=expected)
        else:
            views[instance.name] = ServerView(
                True,
                str(entry.get("webhook") or ""),
                str(entry.get("events") or ""),
                entry.get("connected"),
                expected,
            )
    return views, "; ".join(errors)
