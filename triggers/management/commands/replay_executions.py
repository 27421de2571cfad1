"""`manage.py replay_executions`: replay executions by id, or the dead-letter queue."""

import re
import sys
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from triggers.models import TriggerExecution
from triggers.operate.preview import preview
from triggers.operate.replay import check_replayable, dead_letter_queue, double_send_warning, replay_execution

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """Return the timedelta for `30s`, `15m`, `2h` or `7d`; raise `CommandError` otherwise."""
    match = _DURATION.match(text.strip())
    if not match:
        raise CommandError(f"--since takes a duration like 30m, 2h or 7d, not {text!r}")
    return timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])


class Command(BaseCommand):
    help = "Replay executions by id, or the dead-letter queue (--dlq). Exits 1 if any was refused."

    def add_arguments(self, parser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="execution ids")
        parser.add_argument("--dlq", action="store_true", help="replay what waits in the dead-letter queue")
        parser.add_argument("--trigger", help="with --dlq: only this trigger (slug)")
        parser.add_argument("--since", help="with --dlq: only executions created within, e.g. 2h")
        parser.add_argument(
            "--limit",
            type=int,
            default=settings.REPLAY_BULK_MAX,
            help=f"with --dlq: at most N, 1 to REPLAY_BULK_MAX ({settings.REPLAY_BULK_MAX})",
        )
        parser.add_argument(
            "--force", action="store_true", help="replay even executions whose message WhatsApp delivered"
        )
        parser.add_argument(
            "--user", help="the operator's username: the replays go into the executions' History as theirs"
        )
        parser.add_argument("--dry-run", action="store_true", help="say what would happen; change nothing")

    def handle(self, *args, ids: list[int], dlq: bool, trigger, since, limit: int, dry_run: bool, **options):
        self.force = options["force"]
        self.user_id = None
        if options["user"]:
            operator = get_user_model().objects.filter(username=options["user"]).first()
            if operator is None:
                raise CommandError(f"no user {options['user']!r}")
            self.user_id = operator.pk
        if not 1 <= limit <= settings.REPLAY_BULK_MAX:
            raise CommandError(f"--limit must be between 1 and REPLAY_BULK_MAX ({settings.REPLAY_BULK_MAX})")
        if len(ids) > settings.REPLAY_BULK_MAX:
            raise CommandError(f"at most REPLAY_BULK_MAX ({settings.REPLAY_BULK_MAX}) ids at once")
        if bool(ids) == dlq:
            raise CommandError("give execution ids, or --dlq (not both)")
        if not dlq and (trigger or since):
            raise CommandError("--trigger and --since go with --dlq")
        if dlq:
            cutoff = timezone.now() - parse_duration(since) if since else None
            ids = list(
                dead_letter_queue(trigger_slug=trigger, since=cutoff).values_list("pk", flat=True)[:limit]
            )
        replayed = refused = 0
        for execution_id in ids:
            line, ok = self._dry_run(execution_id) if dry_run else self._replay(execution_id)
            self.stdout.write(line)
            replayed, refused = replayed + ok, refused + (not ok)
        verb = "would replay" if dry_run else "replayed"
        self.stdout.write(f"{verb} {replayed}, refused {refused}, of {len(ids)} selected")
        if refused:
            sys.exit(1)

    def _replay(self, execution_id: int) -> tuple[str, bool]:
        execution = TriggerExecution.objects.filter(pk=execution_id).first()
        warning = double_send_warning(execution) if execution else None
        result = replay_execution(
            execution_id, user="replay_executions", user_id=self.user_id, force=self.force
        )
        if result.ok:
            note = f" (beware: {warning})" if warning else ""
            return f"{execution_id}: replayed as {result.new_execution_id}{note}", True
        return f"{execution_id}: refused, {result.refusal.describe()}", False

    def _dry_run(self, execution_id: int) -> tuple[str, bool]:
        execution = TriggerExecution.objects.select_related("trigger").filter(pk=execution_id).first()
        if execution is None:
            return f"{execution_id}: refused, not found", False
        refusal = check_replayable(execution, force=self.force)
        if refusal:
            return f"{execution_id}: would be refused, {refusal.describe()}", False
        warning = double_send_warning(execution)
        line = f"{execution_id}: would replay: {preview(execution).describe()}"
        return line + (f" (beware: {warning})" if warning else ""), True
