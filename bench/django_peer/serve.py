"""`python -m bench.django_peer.serve --port P --token T --database F`: create the schema, then serve with gunicorn
(2 workers x 4 threads: the client's concurrency of 8)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--database", type=Path, required=True)
    args = parser.parse_args()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.django_peer.settings", "PEER_TOKEN": args.token,
           "PEER_DATABASE": str(args.database), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "django", "migrate", "--run-syncdb", "--verbosity", "0"], cwd=ROOT, env=env,
                   check=True)
    os.execve(sys.executable, [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{args.port}", "--workers", "2",
                               "--threads", "4", "--worker-class", "gthread", "--log-level", "warning",
                               "bench.django_peer.wsgi:application"], env)


if __name__ == "__main__":
    main()
