"""WhatsApp numbers: one Evolution Go instance per number, each with its own token, state and limits.

An Evolution Go server runs many instances, one per WhatsApp number, each with
its own token. Every send, probe, receipt and upload goes through the instance
it belongs to; nothing of one instance (its breaker, its cap, its watermark, its
receipts) changes what another sends. The token is write-only: it is stored,
used and never shown (`__str__` and every page, answer and log name the instance
by its `name`).
"""

import hmac
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from whatsapp import client as gateway
from whatsapp.client import EvolutionClient

DEFAULT_NAME = "default"


class InstanceQuerySet(models.QuerySet):
    def holding(self, token: str | None) -> "Instance | None":
        """Return the instance whose token is `token` (compared in constant time), or `None`.

        An empty token matches nothing.
        """
        if not token:
            return None
        found = None
        for candidate in self.only("pk", "name", "token"):
            if hmac.compare_digest(candidate.token.encode(), token.encode()):
                found = candidate
        return found

    def held_by_another(self, token: str | None, instance: "Instance | None" = None) -> bool:
        """Return whether an instance other than `instance` holds `token` (an empty token: no).

        What a new or changed token must not be: an event's token names one instance.
        """
        holder = self.holding(token)
        return holder is not None and (instance is None or holder.pk != instance.pk)

    def sole(self) -> "Instance | None":
        """Return the only instance, or `None` when there is none or several.

        With none and `EVOLUTION_GO_INSTANCE_TOKEN` set, the instance `default`
        is made from the settings first: a deployment configured by settings
        alone keeps working with nothing to change.
        """
        instances = list(self.all()[:2])
        if not instances:
            made = self.from_settings()
            return made
        return instances[0] if len(instances) == 1 else None

    def from_settings(self) -> "Instance | None":
        """Return the instance `default`, made from `EVOLUTION_GO_INSTANCE_TOKEN` if missing (`None`: unset).

        Its URL is left blank, so it follows `EVOLUTION_GO_URL`. Two processes
        making it at once end with one row.
        """
        token = settings.EVOLUTION_GO_INSTANCE_TOKEN
        if not token:
            return None
        if (existing := self.filter(name=DEFAULT_NAME).first()) is not None:
            return existing
        if (holder := self.holding(token)) is not None:
            return holder
        try:
            with transaction.atomic():
                return self.create(name=DEFAULT_NAME, token=token)
        except IntegrityError:  # made meanwhile by another process
            return self.filter(name=DEFAULT_NAME).first() or self.holding(token)

    def names(self) -> list[str]:
        """Return every instance's name, sorted (for messages that list them)."""
        return sorted(self.values_list("name", flat=True))

    def named(self, name: str) -> "Instance":
        """Return the instance named `name`; else raise `ValueError` saying which instances there are."""
        if (found := self.filter(name=name).first()) is None:
            known = ", ".join(self.names()) or "none"
            raise ValueError(f"no WhatsApp instance {name!r}; instances: {known}")
        return found

    def pick(self, name: str | None) -> "Instance":
        """Return the instance named `name`, or with no name the only one; else raise `ValueError`.

        The error says which instances there are, so a command can show it.
        """
        if name:
            return self.named(name)
        if (sole := self.sole()) is not None:
            return sole
        if names := self.names():
            raise ValueError(f"several WhatsApp instances ({', '.join(names)}): name one with --instance")
        raise ValueError("no WhatsApp instance: add one (evolution instance_add, the admin or the API)")


class Instance(models.Model):
    """One WhatsApp number on an Evolution Go server: where it is, its token, its limits, its state."""

    class State(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        CONNECTED = "connected", "Connected"
        DISCONNECTED = "disconnected", "Disconnected"
        LOGGED_OUT = "logged_out", "Logged out (pair the phone again)"
        BANNED = "banned", "Temporarily banned"

    name = models.SlugField(
        max_length=50, unique=True, help_text="How triggers, pages and commands name this number."
    )
    url = models.URLField(
        blank=True, default="", help_text="The Evolution Go server; blank: EVOLUTION_GO_URL."
    )
    # Write-only: accepted and stored, never shown. Unique: an event's token names one instance.
    token = models.CharField(max_length=255, unique=True, help_text="The instance token (never shown).")
    daily_cap = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Sends allowed in any 24 hours; 0: no cap; blank: WHATSAPP_DAILY_CAP.",
    )
    watermark = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Sends in 24 h above which stats warn; blank: WHATSAPP_DAILY_WATERMARK.",
    )
    # Whether the watermark was last seen hit: its flip is logged once, by whoever sees it.
    watermark_hit = models.BooleanField(default=False, editable=False)
    # What the server last told us (connection events and status probes).
    state = models.CharField(max_length=12, choices=State.choices, default=State.UNKNOWN, editable=False)
    state_since = models.DateTimeField(null=True, blank=True, editable=False)
    banned_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = InstanceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "WhatsApp instance"

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Instance {self.name}>"

    @property
    def server_url(self) -> str:
        """Return the instance's server: its own URL, else `EVOLUTION_GO_URL`."""
        return self.url or settings.EVOLUTION_GO_URL

    @property
    def cap(self) -> int:
        """Return the daily cap in force (0: none): the instance's own, else `WHATSAPP_DAILY_CAP`."""
        return settings.WHATSAPP_DAILY_CAP if self.daily_cap is None else self.daily_cap

    @property
    def threshold(self) -> int:
        """Return the watermark in force: the instance's own, else `WHATSAPP_DAILY_WATERMARK`."""
        return self.watermark or settings.WHATSAPP_DAILY_WATERMARK

    def client(self, **overrides: Any) -> EvolutionClient:
        """Return a client for this instance: its server, its token (one client per instance)."""
        return gateway.make_client(self.server_url, self.token, **overrides)

    def webhook_url(self, base_url: str | None = None) -> str:
        """Return the webhook URL of the `whatsapp` trigger listening to this instance (the oldest).

        Under `base_url`, by default `PUBLIC_BASE_URL`. Raises `ValueError`
        saying what is missing: no public URL, or no trigger listening. The
        trigger is found through the relation triggers bind to instances
        (`triggers`), so this app needs nothing of theirs.
        """
        base = base_url or settings.PUBLIC_BASE_URL
        if not base:
            raise ValueError("no public URL: set PUBLIC_BASE_URL (or pass --base-url)")
        listener = self.triggers.filter(source="whatsapp").order_by("created_at", "pk").first()
        if listener is None:
            raise ValueError(f"no whatsapp trigger listens to instance {self.name}: make one first")
        return base.rstrip("/") + listener.get_webhook_path()

    def holds_token(self, token: str | None) -> bool:
        """Return whether `token` is this instance's token (constant time; empty: no)."""
        return bool(token) and hmac.compare_digest(self.token.encode(), str(token).encode())

    def note_state(
        self, state: str, *, banned_until: datetime | None = None, now: datetime | None = None
    ) -> bool:
        """Return whether what the server said changed the recorded state (a conditional UPDATE).

        `since` moves only when the state changes; a repeated event changes nothing.
        """
        now = now or timezone.now()
        rows = Instance.objects.filter(pk=self.pk).exclude(state=state, banned_until=banned_until)
        changed = rows.update(state=state, state_since=now, banned_until=banned_until) == 1
        if changed:
            self.state, self.state_since, self.banned_until = state, now, banned_until
        return changed
