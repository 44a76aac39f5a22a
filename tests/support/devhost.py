"""Runs `python -m devhost` as a separate process on a free port, as a developer would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.support.azurite import ROOT, free_port, wait_for_port


class DevHost:
    def __init__(self, app_dir: Path, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
        with open(log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devhost", "--port", str(self.port), "--app-dir", str(app_dir)],
                cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"devhost did not start:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            content = self.log()
            if text in content:
                return content
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in devhost log after {timeout}s:\n{self.log()[-3000:]}")

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.base_url + path, timeout=30, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
