"""Run the whole stack on one machine: web server, task worker and, by default, the sandbox."""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from triggers.execute.demo import (
    connect_sandbox,
    demo_curl,
    disable_demo_trigger,
    ensure_demo_trigger,
    ensure_sandbox_instances,
)

# Public demo values: they only ever unlock the local sandbox.
SANDBOX_TOKEN = "sandbox-instance-token"  # noqa: S105
SANDBOX_2_TOKEN = "sandbox-2-instance-token"  # noqa: S105
SANDBOX_GLOBAL_KEY = "sandbox-global-key"


class Command(BaseCommand):
    help = (
        "Apply migrations, then run the web server, db_worker(s) and, unless EVOLUTION_GO_URL is set, "
        "the local Evolution Go sandbox with a demo trigger. Ctrl+C stops everything."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port for the web server")
        parser.add_argument("--workers", type=int, default=1, help="number of db_worker processes")
        parser.add_argument("--sandbox-port", type=int, default=8081)
        parser.add_argument("--no-sandbox", action="store_true", help="use the configured gateway only")

    def handle(self, *args, addr: str, workers: int, sandbox_port: int, no_sandbox: bool, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        manage = [sys.executable, "manage.py"]
        env = dict(os.environ)
        # One metrics directory for all the processes below, so /metrics counts the
        # worker's WhatsApp sends too; fresh each run, as prometheus-client requires.
        metrics_dir = tempfile.mkdtemp(prefix="evonexus-metrics-")
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", metrics_dir)
        commands = []
        sandbox_url = ""
        if not no_sandbox and not settings.EVOLUTION_GO_URL:
            sandbox_url = f"http://127.0.0.1:{sandbox_port}"
            env.update(
                EVOLUTION_GO_URL=sandbox_url,
                EVOLUTION_GO_INSTANCE_TOKEN=SANDBOX_TOKEN,
                EVOLUTION_GO_KEY=SANDBOX_GLOBAL_KEY,
            )
            commands.append(
                [
                    *manage,
                    "evolution_sandbox",
                    "--port",
                    str(sandbox_port),
                    "--instance-token",
                    SANDBOX_TOKEN,
                    "--global-key",
                    SANDBOX_GLOBAL_KEY,
                    # Like a server with a global and an instance webhook: every event twice.
                    "--duplicate-webhooks",
                    # A second number on the same server, as agencies run them.
                    "--instance",
                    f"sandbox-2={SANDBOX_2_TOKEN}",
                ]
            )
            ensure_sandbox_instances({"sandbox": SANDBOX_TOKEN, "sandbox-2": SANDBOX_2_TOKEN})
            ensure_demo_trigger(SANDBOX_TOKEN)
            incoming = json.dumps({"from": "5511999999999", "text": "hello"})
            self.stdout.write(
                "Write to the demo WhatsApp instance (the sandbox posts it to the demo trigger):\n\n"
                f"  curl -s -X POST {sandbox_url}/_sandbox/incoming -d '{incoming}'\n\n"
                f"then see the answer it sent: curl -s {sandbox_url}/_sandbox/messages\n"
                "or post a WhatsApp event to the trigger yourself:\n\n"
                f"  {demo_curl('http://' + addr, SANDBOX_TOKEN)}\n\n"
                "A second number, sandbox-2, runs on the same sandbox: give it a whatsapp trigger\n"
                "(admin, instance sandbox-2), connect it (WhatsApp instances page, Connect), then\n"
                f"write to it: curl -s -X POST {sandbox_url}/_sandbox/incoming "
                """-d '{"instance": "sandbox-2", "from": "5511988887777", "text": "hi"}'\n"""
            )
        elif disable_demo_trigger():
            self.stdout.write("The demo trigger only runs against the sandbox: it is disabled now.")
        commands.append([*manage, "runserver", addr, "--noreload"])
        commands += [[*manage, "db_worker", "--no-reload", "--interval", "0.2"]] * max(workers, 1)
        commands.append([*manage, "reap_executions", "--loop", "60"])
        try:
            children = [subprocess.Popen(command, env=env) for command in commands]
            if sandbox_url:
                connected = connect_sandbox(sandbox_url, SANDBOX_TOKEN, "http://" + addr)
                if not connected.ok:
                    self.stderr.write(f"The sandbox did not take the demo webhook: {connected.error}")
            self._supervise(children, addr)
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)

    def _supervise(self, children: list[subprocess.Popen], addr: str) -> None:
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
