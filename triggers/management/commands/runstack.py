"""Run the whole stack on one machine: migrations, web server and task worker."""

import signal
import subprocess
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Apply migrations, then run the web server and a db_worker until Ctrl+C."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port for the web server")
        parser.add_argument("--workers", type=int, default=1, help="number of db_worker processes")

    def handle(self, *args, addr: str, workers: int, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        manage = [sys.executable, "manage.py"]
        commands = [[*manage, "runserver", addr, "--noreload"]]
        commands += [[*manage, "db_worker", "--no-reload", "--interval", "0.2"]] * max(workers, 1)
        children = [subprocess.Popen(command) for command in commands]
        self.stdout.write(f"evonexus is up: http://{addr}/admin/ (Ctrl+C stops everything)")
        stop = False

        def request_stop(signum, frame):
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, request_stop)
        try:
            # One dead child means the stack is broken: stop the rest rather than limp on.
            while not stop and all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            for child in children:
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
