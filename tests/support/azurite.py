"""A private Azurite for the test session: table and queue services as separate processes on free ports in a
temporary folder, so tests never collide with `make run`'s Azurite or with each other, and a test can stop
the table service alone to cause a real storage outage."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


class Azurite:
    def __init__(self, location: Path) -> None:
        self.location = location
        self.table_port = free_port()
        self.queue_port = free_port()
        self._processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
                f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};")

    def _start(self, service: str, port: int) -> None:
        binary = ROOT / "node_modules" / ".bin" / f"azurite-{service}"
        if not binary.exists():
            raise RuntimeError("Azurite is not installed: run `make test` (it runs `npm ci`)")
        with open(self.location / f"{service}.log", "ab") as log:  # the child keeps its own descriptor
            self._processes[service] = subprocess.Popen(
                [str(binary), "--silent", "--skipApiVersionCheck", "--location", str(self.location / service),
                 f"--{service}Host", "127.0.0.1", f"--{service}Port", str(port)],
                stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(port)

    def start(self) -> None:
        self._start("table", self.table_port)
        self._start("queue", self.queue_port)

    def stop_service(self, service: str) -> None:
        process = self._processes.pop(service)
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:  # Azurite waits for open keep-alive connections to close
            process.kill()
            process.wait(5)

    def start_service(self, service: str) -> None:
        self._start(service, self.table_port if service == "table" else self.queue_port)

    def pid(self, service: str) -> int:
        return self._processes[service].pid

    def stop(self) -> None:
        for service in list(self._processes):
            self.stop_service(service)
