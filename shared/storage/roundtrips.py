"""Counts storage round trips (HTTP requests to Table/Queue storage, retries included), and with them the storage
work they carry: entities written (one per write, one per operation of a `$batch`), entities read (one per entity in
an answer) and request bytes sent.

Counts are deterministic where times are not, so tests assert them, and each invocation's count goes into its
telemetry record (which the benchmark reads). A counter is bound to the current context: one request or invocation.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared.storage.clock import storage_clock

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class RoundTrips:
    count: int = 0
    methods: list[str] = field(default_factory=list)
    entities_written: int = 0
    entities_read: int = 0
    bytes_sent: int = 0


WRITES = frozenset({"POST", "PUT", "PATCH", "MERGE", "DELETE"})
BATCH_PART = b"Content-Type: application/http"
"""Each operation of a `$batch` changeset is one such part (shared/storage/changesets.py writes them)."""
ENTITY = b'"odata.etag"'
"""Every entity in a JSON answer (minimal metadata, as the SDK asks for) carries its ETag: one per entity."""


SENT = "scim.sent"
"""Where the request hook leaves the monotonic time an attempt left at, for the response hook."""

_current: ContextVar[RoundTrips | None] = ContextVar("storage_round_trips", default=None)


@contextmanager
def counting() -> Iterator[RoundTrips]:
    """Count the round trips made inside the block."""
    counter = RoundTrips()
    token = _current.set(counter)
    try:
        yield counter
    finally:
        _current.reset(token)


_reads: ThreadPoolExecutor | None = None
_reads_lock = threading.Lock()


def in_parallel(read: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """`read` of each item, 16 at a time, in order. Each runs in a copy of the caller's context, so the request's
    round-trip count (and trace) includes it. Reads only: a task here never waits on another one."""
    global _reads
    with _reads_lock:
        if _reads is None:
            _reads = ThreadPoolExecutor(max_workers=16, thread_name_prefix="scim-reads")
    return list(_reads.map(lambda pair: pair[0].run(read, pair[1]),
                           [(copy_context(), item) for item in items]))


def record_request(request: Any) -> None:
    """azure-core `raw_request_hook`: called once per HTTP attempt."""
    request.context[SENT] = time.monotonic()
    counter = _current.get()
    if counter is not None:
        http = request.http_request
        method = str(getattr(http, "method", "?")).upper()
        counter.count += 1
        counter.methods.append(method)
        body = getattr(http, "body", None)
        data = body.encode() if isinstance(body, str) else bytes(body) if isinstance(body, bytes | bytearray) else b""
        counter.bytes_sent += len(data)
        if method in WRITES:
            counter.entities_written += data.count(BATCH_PART) if "$batch" in str(http.url) else 1


def record_response(response: Any) -> None:
    """azure-core `raw_response_hook`: counts the entities an answer carries (none for a `$batch`'s answer), and
    gives storage's clock the answer's time."""
    sent = response.context.get(SENT)
    if sent is not None:
        headers = response.http_response.headers
        written = str(getattr(response.http_request, "method", "")).upper() in WRITES  # a read's ETag is old
        storage_clock.observe(sent, time.monotonic(), headers.get("ETag") if written else None, headers.get("Date"))
    counter = _current.get()
    if counter is None or "$batch" in str(response.http_request.url):
        return
    try:
        counter.entities_read += response.http_response.body().count(ENTITY)
    except Exception:  # a streamed or already consumed body: not counted
        pass
