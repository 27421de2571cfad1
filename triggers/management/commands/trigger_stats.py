"""`manage.py trigger_stats`: the operational stats as a table, or as the API's JSON."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from triggers.stats.figures import compute_stats
from whatsapp.models import Instance

WATERMARK_HIT_EXIT_CODE = 2


class Command(BaseCommand):
    help = "Print execution stats; with --fail-on-watermark exit 2 while the WhatsApp watermark is hit."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=1, help="window in days, 1-30 (clamped)")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="the same JSON as GET /api/triggers/stats"
        )
        parser.add_argument(
            "--fail-on-watermark", action="store_true", help="exit 2 while an instance's watermark is hit"
        )
        parser.add_argument("--instance", help="one WhatsApp instance's messages and watermark")

    def handle(self, *args, days: int, as_json: bool, fail_on_watermark: bool, instance: str | None, **_):
        if instance is not None:
            try:
                Instance.objects.named(instance)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        stats = compute_stats(days, instance=instance).as_dict()
        self.stdout.write(json.dumps(stats, indent=2) if as_json else self._table(stats))
        if fail_on_watermark and stats["circuit_breaker_watermark_hit"]:
            sys.exit(WATERMARK_HIT_EXIT_CODE)

    def _table(self, stats: dict) -> str:
        hit = stats["circuit_breaker_watermark_hit"]
        watermark = f"HIT on {stats['worst_instance']} - slow down WhatsApp volume" if hit else "below"
        rows = [
            ("window", f"last {stats['window_days']} day(s)"),
            ("executions", stats["total_executions"]),
            *((f"  {status}", count) for status, count in stats["by_status"].items()),
            ("dead-letter queue (now)", stats["dlq_size"]),
            ("duplicates absorbed", stats["idempotent_replays"]),
            ("replays", stats["replays"]),
            ("WhatsApp sends", stats["wpp_command_count"]),
            ("gateway retries", stats["retries_observed"]),
            ("messages sent", stats["messages_sent"]),
            ("  delivered", stats["messages_delivered"]),
            ("  read", stats["messages_read"]),
            ("  not delivered in time", stats["undelivered"]),
            ("WhatsApp sends, last 24 h", self._total(stats)),
            ("watermark", watermark),
            *(
                (f"  {each['instance']}", self._volume(each))
                for each in stats["instances"]
            ),
            ("generated at", stats["generated_at"]),
        ]
        width = max(len(label) for label, _ in rows)
        if stats["instance"]:
            rows.insert(1, ("instance", stats["instance"]))
            width = max(width, len("instance"))
        return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)

    @staticmethod
    def _volume(each: dict) -> str:
        """Return one instance's line: sends in 24 h against its watermark, and its cap."""
        line = f"{each['sends_24h']}/{each['watermark_threshold']}"
        if each["watermark_hit"]:
            line += " HIT"
        if each["daily_cap"]:
            line += f", cap {each['daily_cap']} ({each['daily_cap_room']} left)"
        return line

    @staticmethod
    def _total(stats: dict) -> str:
        """Return the sends of the last 24 hours: against the watermark for one number, else in total."""
        if len(stats["instances"]) > 1:
            return f"{stats['whatsapp_sends_24h']} (all numbers; each below)"
        return f"{stats['whatsapp_sends_24h']}/{stats['watermark_threshold']}"
