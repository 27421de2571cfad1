"""Run the local Evolution Go sandbox (see whatsapp/sandbox.py)."""

from django.core.management.base import BaseCommand, CommandError

from whatsapp.sandbox import SandboxServer, SandboxState


class Command(BaseCommand):
    help = "Serve a local double of Evolution Go: its answers, its webhooks, and faults on demand."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8081)
        parser.add_argument("--instance-token", default="sandbox-instance-token", help="the first instance's")
        parser.add_argument(
            "--instance",
            action="append",
            default=[],
            metavar="NAME=TOKEN",
            help="another instance (WhatsApp number) on this server; repeat for more",
        )
        parser.add_argument("--global-key", default="sandbox-global-key")
        parser.add_argument("--fail-rate", type=float, default=0.0, help="share of sends that fail (0-1)")
        parser.add_argument("--fail-status", type=int, default=500, help="status of injected failures")
        parser.add_argument("--latency-ms", type=int, default=0, help="delay before each send answers")
        parser.add_argument("--not-registered", default="", help="comma-separated numbers not on WhatsApp")
        parser.add_argument(
            "--seed", type=int, default=None, help="seed for --fail-rate, for repeatable runs"
        )
        parser.add_argument(
            "--webhook-retry-seconds",
            type=float,
            default=30.0,
            help="pause between webhook attempts (the server's 30 s; shorter for tests)",
        )
        parser.add_argument(
            "--duplicate-webhooks",
            action="store_true",
            help="post every event twice, as a server with a global and an instance webhook URL does",
        )

    def handle(self, *args, **options) -> None:
        if not 0.0 <= options["fail_rate"] <= 1.0:
            raise CommandError("--fail-rate must be between 0 and 1")
        more = dict(spec.partition("=")[::2] for spec in options["instance"])
        if not all(more) or not all(more.values()):
            raise CommandError("--instance takes NAME=TOKEN")
        state = SandboxState(
            instance_token=options["instance_token"],
            instances=more,
            global_key=options["global_key"],
            fail_rate=options["fail_rate"],
            fail_status=options["fail_status"],
            latency_ms=options["latency_ms"],
            not_registered={n.strip() for n in options["not_registered"].split(",") if n.strip()},
            seed=options["seed"],
            duplicate_webhooks=options["duplicate_webhooks"],
            webhook_retry_seconds=options["webhook_retry_seconds"],
        )
        server = SandboxServer(options["host"], options["port"], state, verbose=options["verbosity"] > 1)
        self.stdout.write(f"Evolution Go sandbox on {server.url} (messages: {server.url}/_sandbox/messages)")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
