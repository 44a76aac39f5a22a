"""`make run` (scripts/run-local.sh) as a developer meets it: which storage it uses, what it does when its ports are
taken, and that restarting does not mint a new valid token each time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.azurite import ROOT, free_port

SCRIPT = ROOT / "scripts" / "run-local.sh"


def run_env(tmp_path: Path, ports: tuple[int, int, int], http_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AzureWebJobsStorage", "TABLE_PREFIX")}
    return {**env, "AZURITE_BLOB_PORT": str(ports[0]), "AZURITE_QUEUE_PORT": str(ports[1]),
            "AZURITE_TABLE_PORT": str(ports[2]), "AZURITE_LOCATION": str(tmp_path / "azurite"),
            "PORT": str(http_port), "DEVHOST_STATE_DIR": str(tmp_path)}


class Started:
    """The script running in its own process group, with its output so far."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(["bash", str(SCRIPT)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def wait_for(self, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            joined = "".join(self.output)
            if text in joined:
                return joined
            if self.process.poll() is not None:
                time.sleep(0.2)
                return "".join(self.output)
            time.sleep(0.2)
        raise AssertionError("".join(self.output))

    def stop(self) -> None:
        """Ctrl-C, as a developer stops it (the whole process group: the script, Azurite, the host)."""
        try:
            os.killpg(self.process.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def not_azurite() -> Iterator[int]:
    """Something else listening (an ordinary web server), where Azurite's table port would be."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Server", "SomethingElse/1.0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_a_port_held_by_something_else_is_refused_and_nothing_is_written(tmp_path: Path, not_azurite: int) -> None:
    started = Started(run_env(tmp_path, (free_port(), free_port(), not_azurite), free_port()))
    try:
        output = started.wait_for("error:")
        assert started.process.wait(30) == 1
    finally:
        started.stop()
    assert f"port {not_azurite} is in use by something that is not Azurite" in output
    assert "AZURITE_TABLE_PORT" in output and "Secret Token" not in output


def test_chosen_ports_are_used_and_said_and_a_restart_reuses_the_token(tmp_path: Path) -> None:
    ports = (free_port(), free_port(), free_port())
    http_port = free_port()
    first = Started(run_env(tmp_path, ports, http_port))
    try:
        output = first.wait_for("devhost ready")
        assert f"tables at http://127.0.0.1:{ports[2]}" in output and "Azurite started here" in output
        token = next(line.split(": ", 1)[1].strip() for line in output.splitlines() if "Secret Token:" in line)
        ping = requests.get(f"http://127.0.0.1:{http_port}/api/scim/account/dev/ServiceProviderConfig",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert ping.status_code == 200
    finally:
        first.stop()
    deadline = time.monotonic() + 15
    while True:  # Azurite went with it
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", ports[2])) != 0:
                break
        assert time.monotonic() < deadline, "Azurite still listening after Ctrl-C"
        time.sleep(0.2)

    second = Started(run_env(tmp_path, ports, http_port))
    try:
        again = second.wait_for("devhost ready")
    finally:
        second.stop()
    assert f"Secret Token: {token}" in again and "from an earlier start" in again
