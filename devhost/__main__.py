"""`python -m devhost [--host H] [--port P] [--app-dir DIR]`: run a v2 Functions app as `func start` does.

Azure Functions Core Tools cannot be installed on our machines, so this host plays the Functions host's part
(HTTP front end and routing, timer schedules, queue polling, retries and poison handling) and hands every
invocation to a worker: on Python 3.13 azure-functions-runtime, the library the host's proxy worker loads in Azure,
through its own handlers; on 3.11 and 3.12 the bundled worker's steps in process (devhost/worker.py). What it does
not emulate (function keys, functionTimeout, the cross-instance timer lease, output bindings) is listed in
docs/architecture.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from devhost.http_server import DEFAULT_BODY_LIMIT, DevHttpServer, HttpRoutes
from devhost.local_settings import load_host_json, load_local_settings
from devhost.queues import QueueSettings, start_queues
from devhost.timers import start_timers
from devhost.worker import start_worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--app-dir", type=Path, default=Path.cwd(), help="folder holding function_app.py and host.json")
    args = parser.parse_args(argv)

    logging.basicConfig(level=os.environ.get("DEVHOST_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    log = logging.getLogger("devhost")
    app_dir = args.app_dir.resolve()
    settings_file = load_local_settings(app_dir)
    host_json = load_host_json(app_dir)
    worker = start_worker(app_dir, os.environ.get("PYTHON_SCRIPT_FILE_NAME", "function_app.py"))
    log.info("settings from %s; worker: %s; %d functions: %s", settings_file, worker.description,
             len(worker.functions), ", ".join(f"{f.name} ({f.trigger_type})" for f in worker.functions))

    prefix = host_json.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    limit = int(os.environ.get("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT") or DEFAULT_BODY_LIMIT)
    server = DevHttpServer((args.host, args.port), HttpRoutes(worker.functions, prefix), worker, limit)
    stop = threading.Event()
    start_timers(worker, app_dir, stop)
    start_queues(worker, QueueSettings.from_host_json(host_json), stop)

    def shutdown(signum: int, frame: object) -> None:
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    host, port = str(server.server_address[0]), server.server_address[1]
    log.info("Functions host listening on http://%s:%s (route prefix '%s')", host, port, prefix)
    print(f"devhost ready on http://{host}:{port}", flush=True)
    server.serve_forever(poll_interval=0.2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
