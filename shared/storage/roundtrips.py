"""Counts storage round trips (HTTP requests to Table/Queue storage, retries included).

Counts are deterministic where times are not, so tests assert them and the benchmark reports them.
A counter is bound to the current context (one request or invocation), and a process-wide total per
operation name is kept for the benchmark.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RoundTrips:
    count: int = 0
    methods: list[str] = field(default_factory=list)


_current: ContextVar[RoundTrips | None] = ContextVar("storage_round_trips", default=None)
_totals_lock = threading.Lock()
_totals: dict[str, list[int]] = {}


@contextmanager
def counting(operation: str | None = None) -> Iterator[RoundTrips]:
    """Count the round trips made inside the block; with an operation name, add them to the totals."""
    counter = RoundTrips()
    token = _current.set(counter)
    try:
        yield counter
    finally:
        _current.reset(token)
        if operation:
            with _totals_lock:
                calls_and_trips = _totals.setdefault(operation, [0, 0])
                calls_and_trips[0] += 1
                calls_and_trips[1] += counter.count


def totals() -> dict[str, dict[str, int]]:
    """{operation: {"calls": n, "round_trips": m}} since process start (or the last reset)."""
    with _totals_lock:
        return {op: {"calls": c, "round_trips": t} for op, (c, t) in sorted(_totals.items())}


def reset_totals() -> None:
    with _totals_lock:
        _totals.clear()


def record_request(request: Any) -> None:
    """azure-core `raw_request_hook`: called once per HTTP attempt."""
    counter = _current.get()
    if counter is not None:
        counter.count += 1
        counter.methods.append(str(getattr(request.http_request, "method", "?")))
