"""`manage.py reap_executions`: one reaper pass, or one every N seconds with --loop."""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from triggers.execute.reaper import reap


class Command(BaseCommand):
    help = "Move executions whose worker died to the DLQ and re-queue those whose task was lost."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--loop", type=float, metavar="SECONDS", help="run a pass every SECONDS, forever")

    def handle(self, *args, loop: float | None, **options) -> None:
        while True:
            result = reap()
            self.stdout.write(f"reaped {len(result.lost)} lost run(s), re-queued {len(result.requeued)}")
            if not loop:
                return
            close_old_connections()
            time.sleep(loop)
