"""The Evolution Go sandbox, run in a thread, with helpers to script faults and read what it got."""

import time

import requests

from tests.support.signing import SECRET
from whatsapp.sandbox import SandboxServer, SandboxState

SANDBOX_TOKEN = "sandbox-instance-token-for-tests"
SANDBOX_GLOBAL_KEY = "sandbox-global-key-for-tests"
# A second number on the same server, whose token is the tests' usual trigger secret: a
# `whatsapp` trigger made with it listens to this instance, and answers through it.
SIGNED_INSTANCE = "signed"


class Sandbox:
    """A running Evolution Go sandbox on a loopback port."""

    def __init__(self, **config):
        # The server waits 30 s between webhook attempts; tests cannot.
        config.setdefault("webhook_retry_seconds", 1.0)
        config.setdefault("instances", {SIGNED_INSTANCE: SECRET})
        self.state = SandboxState(instance_token=SANDBOX_TOKEN, global_key=SANDBOX_GLOBAL_KEY, **config)
        self.server = SandboxServer("127.0.0.1", 0, self.state)
        self.server.start_in_thread()
        self.url = self.server.url

    def fail_next(self, *faults: dict) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json={"faults": list(faults)}, timeout=5)

    def messages(self) -> list[dict]:
        return requests.get(f"{self.url}/_sandbox/messages", timeout=5).json()["messages"]

    def attempts(self) -> list[dict]:
        return requests.get(f"{self.url}/_sandbox/requests", timeout=5).json()["requests"]

    def webhooks(self) -> list[dict]:
        """Return every webhook the sandbox posted, with the answer it got (`status`)."""
        return requests.get(f"{self.url}/_sandbox/webhooks", timeout=5).json()["webhooks"]

    def incoming(self, sender: str, **message) -> None:
        """Make `sender` write to the instance (`text`, `from_me`, `media_type`, ...)."""
        answer = requests.post(f"{self.url}/_sandbox/incoming", json={"from": sender, **message}, timeout=5)
        assert answer.status_code == 200, answer.text

    def answered(self, event: str, count: int = 1, timeout: float = 20) -> list[dict]:
        """Return the answered webhooks of `event`, once `count` of them have been answered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [w for w in self.webhooks() if w["event"] == event and w["status"] is not None]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"fewer than {count} {event} webhook(s) answered within {timeout} s")

    def env(self) -> dict[str, str]:
        """Return the environment that points a server or worker process at this sandbox."""
        return {
            "EVOLUTION_GO_URL": self.url,
            "EVOLUTION_GO_INSTANCE_TOKEN": SANDBOX_TOKEN,
            "EVOLUTION_GO_KEY": SANDBOX_GLOBAL_KEY,
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
