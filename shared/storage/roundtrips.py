"""Counts storage round trips (HTTP requests to Table/Queue storage, retries included).

Counts are deterministic where times are not, so tests assert them, and each invocation's count goes into its
telemetry record (which the benchmark reads). A counter is bound to the current context: one request or invocation.
"""

from __future__ import annotations

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


@contextmanager
def counting() -> Iterator[RoundTrips]:
    """Count the round trips made inside the block."""
    counter = RoundTrips()
    token = _current.set(counter)
    try:
        yield counter
    finally:
        _current.reset(token)


def record_request(request: Any) -> None:
    """azure-core `raw_request_hook`: called once per HTTP attempt."""
    counter = _current.get()
    if counter is not None:
        counter.count += 1
        counter.methods.append(str(getattr(request.http_request, "method", "?")))
