"""`manage.py trigger_stats`: the operational stats as a table, or as the API's JSON."""

import json
import sys

from django.core.management.base import BaseCommand

from triggers.stats.figures import compute_stats

WATERMARK_HIT_EXIT_CODE = 2


class Command(BaseCommand):
    help = "Print execution stats; with --fail-on-watermark exit 2 while the WhatsApp watermark is hit."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=1, help="window in days, 1-30 (clamped)")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="the same JSON as GET /api/triggers/stats"
        )
        parser.add_argument(
            "--fail-on-watermark", action="store_true", help="exit 2 while the watermark is hit"
        )

    def handle(self, *args, days: int, as_json: bool, fail_on_watermark: bool, **options) -> None:
        stats = compute_stats(days).as_dict()
        self.stdout.write(json.dumps(stats, indent=2) if as_json else self._table(stats))
        if fail_on_watermark and stats["circuit_breaker_watermark_hit"]:
            sys.exit(WATERMARK_HIT_EXIT_CODE)

    def _table(self, stats: dict) -> str:
        watermark = "HIT - slow down WhatsApp volume" if stats["circuit_breaker_watermark_hit"] else "below"
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
            ("WhatsApp sends, last 24 h", f"{stats['whatsapp_sends_24h']}/{stats['watermark_threshold']}"),
            ("watermark", watermark),
            ("generated at", stats["generated_at"]),
        ]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
