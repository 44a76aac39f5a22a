"""One observed invocation, the same for every trigger (HTTP, the token endpoint, the queues, the timer): the host's
trace attached (`telemetry.invocation_trace`), a span named for the operation, the storage round trips counted
(shared/storage/roundtrips.py) and the invocation made current (shared/invocation.py), so recorded work names it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span, SpanKind

from shared import telemetry
from shared.invocation import invocation
from shared.storage.roundtrips import RoundTrips, counting


@dataclass
class Observation:
    invocation_id: str
    span: Span
    trips: RoundTrips
    started: float

    @property
    def duration_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


@contextmanager
def observed(context: Any, operation: str, kind: SpanKind = SpanKind.INTERNAL) -> Iterator[Observation]:
    """`context` is the host's func.Context (None in some tests: the invocation then gets an id of its own)."""
    invocation_id = getattr(context, "invocation_id", None) or str(uuid.uuid4())
    started = time.perf_counter()
    with telemetry.invocation_trace(context), telemetry.tracer.start_as_current_span(operation, kind=kind) as span, \
            counting() as trips, invocation(operation, invocation_id):
        yield Observation(invocation_id, span, trips, started)
