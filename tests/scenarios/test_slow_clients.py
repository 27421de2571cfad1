"""The production recipe stays up under slow and idle clients: nginx (deploy/nginx.conf) before gunicorn."""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests

from tests.support.processes import ROOT, ServerProcess, free_port, wait_until_serving

pytestmark = pytest.mark.process

IDLE_CONNECTIONS = 100
SLOW_BODY_CLIENTS = 8


def nginx_config(tmp_path, nginx_port: int, gunicorn_port: int) -> str:
    """Return deploy/nginx.conf pointed at these ports, with its files in `tmp_path`."""
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    config = config.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{gunicorn_port};")
    config = config.replace("listen 80;", f"listen 127.0.0.1:{nginx_port};")
    local_files = (
        f"access_log off; client_body_temp_path {tmp_path}/body; proxy_temp_path {tmp_path}/proxy; "
        f"fastcgi_temp_path {tmp_path}/f; uwsgi_temp_path {tmp_path}/u; scgi_temp_path {tmp_path}/s;"
    )
    config = config.replace("http {", "http {\n    " + local_files, 1)
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"{user}pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n{config}"


@pytest.fixture
def nginx(transactional_db, tmp_path):
    """Return the URL of nginx, configured as deploy/nginx.conf says, in front of a real gunicorn."""
    assert shutil.which("nginx"), "Debian's nginx is needed: apt-get install nginx-light (.ci/run does)"
    server = ServerProcess(tmp_path / "server.log")
    port = free_port()
    (tmp_path / "nginx.conf").write_text(nginx_config(tmp_path, port, server.port))
    process = subprocess.Popen(
        ["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{url}/healthz", process)
        yield url, server
    finally:
        process.terminate()
        process.wait(timeout=10)
        server.stop()


def hold_connections(port: int, stop: threading.Event) -> list[socket.socket]:
    """Open idle connections and slow-body clients to `port`; the slow ones drip until `stop`."""
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(IDLE_CONNECTIONS)]
    slow = []
    for _ in range(SLOW_BODY_CLIENTS):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(
            b"POST /api/triggers/00000000-0000-4000-8000-000000000000/webhook HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
        )
        slow.append(sock)

    def drip() -> None:
        while not stop.wait(0.5):
            for sock in slow:
                try:
                    sock.sendall(b" ")
                except OSError:
                    pass

    threading.Thread(target=drip, daemon=True).start()
    return idle + slow


def healthz_seconds(url: str, tries: int = 5) -> list[float]:
    timings = []
    for _ in range(tries):
        started = time.monotonic()
        try:
            assert requests.get(f"{url}/healthz", timeout=5).status_code == 200
            timings.append(time.monotonic() - started)
        except requests.Timeout:
            timings.append(float("inf"))
        time.sleep(0.2)
    return timings


def test_healthz_answers_within_a_second_while_100_idle_and_8_slow_clients_are_held(nginx):
    url, _ = nginx
    stop = threading.Event()
    held = hold_connections(int(url.rsplit(":", 1)[1]), stop)
    try:
        time.sleep(1)
        timings = healthz_seconds(url)
    finally:
        stop.set()
        for sock in held:
            sock.close()

    assert max(timings) < 1, timings
