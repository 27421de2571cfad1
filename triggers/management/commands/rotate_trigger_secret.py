"""`manage.py rotate_trigger_secret`: start, finish or cancel a trigger's secret rotation."""

import os

from django.core.management.base import BaseCommand, CommandError

from triggers.models import Trigger
from triggers.operate import rotation

WHO = "manage.py rotate_trigger_secret"


class Command(BaseCommand):
    help = (
        "Start a secret rotation (prints the next secret, which verifies beside the current one), "
        "or --finish it (the next secret becomes the only one), or --cancel it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="the trigger's slug")
        step = parser.add_mutually_exclusive_group()
        step.add_argument("--finish", action="store_true", help="the next secret replaces the current one")
        step.add_argument("--cancel", action="store_true", help="drop the next secret")
        step.add_argument(
            "--from-env",
            metavar="VARIABLE",
            help="start with the next secret read from this environment variable (never from "
            "the command line, where other users could see it) instead of a generated one",
        )

    def handle(self, *args, slug: str, finish: bool, cancel: bool, from_env: str | None, **options):
        trigger = Trigger.objects.filter(slug=slug).first()
        if trigger is None:
            raise CommandError(f"no trigger with the slug {slug!r}")
        try:
            if finish:
                rotation.finish_rotation(trigger, user=WHO)
                self.stdout.write(f"{slug}: rotation finished; only the new secret verifies now.")
            elif cancel:
                rotation.cancel_rotation(trigger, user=WHO)
                self.stdout.write(f"{slug}: rotation cancelled; only the current secret verifies.")
            else:
                chosen = os.environ.get(from_env, "") if from_env else None
                next_secret = rotation.start_rotation(trigger, chosen, user=WHO)
                self.stderr.write(
                    f"{slug}: rotation started; both secrets verify until "
                    f"`rotate_trigger_secret {slug} --finish`. Configure the sender with:"
                )
                self.stdout.write(next_secret)
        except (rotation.RotationError, ValueError) as exc:
            raise CommandError(str(exc)) from None
