"""Serves the app's HTTP functions (and the local admin endpoint) the way `func start` does: the host's front end.

Routing, the URL and body limits and the admin endpoint are the host's and stay here; the request is handed to the
worker as the host converts it (`HttpCall`), and the worker's answer is written back as it comes."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from devhost.routes import RouteTemplate, compile_template
from devhost.worker import HttpCall, IndexedFunction, InvocationFailed, QueueCall, TimerCall, Worker, invoke

log = logging.getLogger("devhost")

DEFAULT_BODY_LIMIT = 104_857_600  # the host's FUNCTIONS_REQUEST_BODY_SIZE_LIMIT default (100 MB)
MAX_URL_CHARS = 4_096
"""The HTTP trigger's URL limit (4 KB): a longer URL is refused by the host with 414, before any function runs."""


class HttpRoutes:
    def __init__(self, functions: list[IndexedFunction], route_prefix: str) -> None:
        self.prefix = route_prefix.strip("/")
        routes: list[tuple[RouteTemplate, frozenset[str] | None, IndexedFunction]] = []
        for function in functions:
            if function.trigger_type != "httpTrigger":
                continue
            methods = function.trigger.get("methods")
            allowed = frozenset(m.upper() for m in methods) if methods else None
            routes.append((compile_template(function.trigger.get("route") or function.name), allowed, function))
        self.routes = sorted(routes, key=lambda r: r[0].precedence)

    def find(self, method: str, path: str) -> tuple[IndexedFunction, dict[str, str]] | None:
        relative = path.strip("/")
        if self.prefix:
            head, _, rest = relative.partition("/")
            if head.lower() != self.prefix.lower():
                return None
            relative = rest
        for template, allowed, function in self.routes:
            if allowed is not None and method not in allowed:
                continue
            values = template.match(relative)
            if values is not None:
                return function, values
        return None


class DevHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], routes: HttpRoutes, worker: Worker, body_limit: int) -> None:
        super().__init__(address, _Handler)
        self.routes = routes
        self.worker = worker
        self.functions = {f.name.lower(): f for f in worker.functions}
        self.body_limit = body_limit


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real front end
    # Headers and body leave in one write (flushed by handle_one_request), and without Nagle's delay: written
    # separately, a keep-alive client's delayed ACK stalled every response by ~40 ms.
    wbufsize = 1 << 16
    disable_nagle_algorithm = True
    server: DevHttpServer

    def log_message(self, format: str, *args: Any) -> None:
        if log.isEnabledFor(logging.DEBUG):  # called for every answer: format nothing when nobody reads it
            log.debug("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.server.body_limit or len(self.path) > MAX_URL_CHARS:
            self._send(413 if length > self.server.body_limit else 414, [], b"")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        segments = parts.path.strip("/").split("/")
        if len(segments) == 3 and segments[0].lower() == "admin" and segments[1].lower() == "functions":
            self._admin(segments[2], body)
            return
        found = self.server.routes.find(self.command.upper(), parts.path)
        if found is None:
            self._send(404, [], b"")
            return
        function, route_params = found
        host = self.headers.get("Host") or f"{self.server.server_address[0]!s}:{self.server.server_address[1]}"
        call = HttpCall.from_http(self.command, f"http://{host}{self.path}", list(self.headers.items()),
                                  parse_qsl(parts.query, keep_blank_values=True), route_params, body)
        try:
            answer = invoke(self.server.worker, function, call,
                            "This function was programmatically called via the host APIs.")
        except InvocationFailed:
            self._send(500, [], b"")  # the host's answer to a failed invocation: an empty 500
            return
        assert answer is not None
        self._send(answer.status, answer.headers, answer.body)

    def _admin(self, name: str, body: bytes) -> None:
        """`POST /admin/functions/{name}` with {"input": "..."} runs a non-HTTP function once: 202."""
        function = self.server.functions.get(name.lower())
        if self.command != "POST" or function is None:
            self._send(404, [], b"")
            return
        if function.trigger_type == "httpTrigger":
            self._send(400, [("Content-Type", "text/plain")], b"HTTP functions are called on their own route.")
            return
        try:
            payload = json.loads(body or b"{}")
            data = str(payload.get("input", "")) if isinstance(payload, dict) else ""
        except ValueError:
            self._send(400, [("Content-Type", "text/plain")], b"body must be JSON like {\"input\": \"...\"}")
            return
        threading.Thread(target=_run_manually, args=(self.server.worker, function, data), daemon=True).start()
        self._send(202, [], b"")

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


def _run_manually(worker: Worker, function: IndexedFunction, data: str) -> None:
    from datetime import UTC, datetime

    call: TimerCall | QueueCall
    if function.trigger_type == "timerTrigger":
        call = TimerCall(past_due=False)
    elif function.trigger_type == "queueTrigger":
        call = QueueCall(id="manual", body=data.encode("utf-8"), dequeue_count=1, insertion_time=datetime.now(UTC))
    else:
        log.warning("manual run of %s (%s) is not supported", function.name, function.trigger_type)
        return
    try:
        invoke(worker, function, call, "This function was programmatically called via the host APIs.")
    except InvocationFailed:
        pass  # logged by invoke
