"""`manage.py rebuild_stats`: recount the hourly stats rollup from the rows."""

import time

from django.core.management.base import BaseCommand

from triggers.stats import rollup


class Command(BaseCommand):
    help = (
        "Recount the stats rollup from the executions, events and sent messages: after a restore, "
        "a bulk import or a manual fix in the database. Safe while the service runs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--slice-hours",
            type=int,
            default=24,
            help="hours recounted per transaction (writers wait for one slice at a time); default 24",
        )

    def handle(self, *args, slice_hours: int, **options) -> None:
        started = time.monotonic()
        slices = rollup.rebuild(slice_hours=max(1, slice_hours))
        seconds = time.monotonic() - started
        self.stdout.write(f"rebuilt the stats rollup: {slices} slice(s) in {seconds:.1f} s")
