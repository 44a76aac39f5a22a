"""What the host hands a language worker and gets back, and which worker runs the functions.

The host's side of an invocation (the HTTP front end's conversions, the queue and timer triggers' metadata, retry
state, the invocation log lines) is the same whichever worker runs: it is built here once. The worker's side is
one of two:

- Python 3.13 and later: `LibraryWorker` (devhost/library_worker.py) runs the functions inside
  azure-functions-runtime, the library the host's proxy worker loads in Azure, through its own handlers;
- Python 3.11 and 3.12: `InProcessWorker` (devhost/inprocess_worker.py) imports the app and calls it with the
  azure-functions binding converters, as the bundled worker does. The worker tests hold both to the same answers.

`DEVHOST_WORKER=library|in-process` chooses explicitly (library needs Python 3.13).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from devhost.local_settings import timespan_seconds
from devhost.telemetry import traceparent

log = logging.getLogger("devhost")


@dataclass(frozen=True)
class RetryPolicy:
    """`@app.retry`, as the host reads it from the function's metadata (timer triggers only)."""

    strategy: str  # "fixed_delay" | "exponential_backoff"
    max_retry_count: int  # -1: forever
    delay: float = 0.0
    minimum: float = 0.0
    maximum: float = 0.0

    def delay_before(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (0 for the first retry)."""
        if self.strategy == "exponential_backoff":
            return float(min(self.maximum, self.minimum * 2.0 ** retry))
        return self.delay

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> RetryPolicy | None:
        """From `Function.get_settings_dict("retry_policy")` (what the workers index it from)."""
        if not settings:
            return None
        return cls(strategy=str(settings.get("strategy", "fixed_delay")),
                   max_retry_count=int(settings.get("max_retry_count", 0)),
                   delay=timespan_seconds(settings.get("delay_interval"), 0.0),
                   minimum=timespan_seconds(settings.get("minimum_interval"), 0.0),
                   maximum=timespan_seconds(settings.get("maximum_interval"), 2_147_483_647.0))


@dataclass(frozen=True)
class IndexedFunction:
    """A function as the host knows it from the worker's metadata answer."""

    name: str
    function_id: str
    trigger: dict[str, Any]
    """The trigger binding as the host receives it (raw binding JSON)."""
    bindings: list[dict[str, Any]]
    retry: RetryPolicy | None = None

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @classmethod
    def from_raw_bindings(cls, name: str, function_id: str, raw_bindings: list[str],
                          retry: RetryPolicy | None) -> IndexedFunction:
        """From the raw bindings the worker indexed (JSON strings, parsed as the host parses function.json)."""
        bindings = [json.loads(raw) for raw in raw_bindings]
        triggers = [b for b in bindings if str(b["type"]).endswith("Trigger")]
        if len(triggers) != 1:
            raise ValueError(f"function {name} must have exactly one trigger")
        return cls(name=name, function_id=function_id, trigger=triggers[0], bindings=bindings, retry=retry)


@dataclass(frozen=True)
class HttpCall:
    """An HTTP request after the host's front end converted it (GrpcMessageConversionExtensions.ToRpcHttp in
    azure-functions-host, for a worker without the nullable-dictionary capability, which the Python worker does not
    declare): header names lower-cased and a repeated header's values joined with "," (StringValues.ToString);
    repeated query parameters joined with ","; query parameters whose value is empty dropped; route values that
    matched; the body only when Content-Length > 0."""

    method: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    route_params: dict[str, str]
    body: bytes | None

    @classmethod
    def from_http(cls, method: str, url: str, headers: list[tuple[str, str]], query: list[tuple[str, str]],
                  route_params: dict[str, str], body: bytes) -> HttpCall:
        joined_headers: dict[str, list[str]] = {}
        for name, value in headers:
            joined_headers.setdefault(name.lower(), []).append(value)
        joined_query: dict[str, list[str]] = {}
        for name, value in query:
            joined_query.setdefault(name, []).append(value)
        return cls(method=method.upper(), url=url,
                   headers={name: ",".join(values) for name, values in joined_headers.items()},
                   query={name: joined for name, values in joined_query.items() if (joined := ",".join(values))},
                   route_params=route_params, body=body or None)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class TimerCall:
    """The timer trigger's value as the host serialises it (TimerInfo as JSON)."""

    past_due: bool
    last: datetime | None = None
    next: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        def text(moment: datetime | None) -> str:
            return moment.isoformat() if moment else "0001-01-01T00:00:00+00:00"

        return {"Schedule": {"AdjustForDST": True},
                "ScheduleStatus": {"Last": text(self.last), "Next": text(self.next), "LastUpdated": text(self.last)},
                "IsPastDue": self.past_due}


@dataclass(frozen=True)
class QueueCall:
    """A queue message as the queue extension hands it over: the decoded body and its trigger metadata."""

    id: str
    body: bytes
    dequeue_count: int
    insertion_time: datetime | None = None
    expiration_time: datetime | None = None
    next_visible_time: datetime | None = None
    pop_receipt: str | None = None

    def trigger_metadata(self) -> dict[str, tuple[str, str]]:
        """The queue extension's binding data as the host sends it: (TypedData kind, text) per name. Strings go as
        `string`; the dequeue count and the times are serialised as JSON (Newtonsoft: a number, quoted ISO times)."""
        metadata = {"Id": ("string", self.id), "DequeueCount": ("json", json.dumps(self.dequeue_count))}
        for name, moment in (("InsertionTime", self.insertion_time), ("ExpirationTime", self.expiration_time),
                             ("NextVisibleTime", self.next_visible_time)):
            if moment is not None:
                metadata[name] = ("json", json.dumps(moment.isoformat()))
        if self.pop_receipt is not None:
            metadata["PopReceipt"] = ("string", self.pop_receipt)
        return metadata


TriggerCall = HttpCall | TimerCall | QueueCall


@dataclass(frozen=True)
class Attempt:
    """Which attempt this is, for `context.retry_context`."""

    retry_count: int = 0
    max_retry_count: int = 0


@dataclass
class Invocation:
    function: IndexedFunction
    call: TriggerCall
    attempt: Attempt = field(default_factory=Attempt)
    invocation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    trace_parent: str = field(default_factory=traceparent)


class InvocationFailed(Exception):
    """The function raised (or its result could not be converted): the worker's failure message."""


class Worker(Protocol):
    description: str
    functions: list[IndexedFunction]

    def run(self, invocation: Invocation) -> HttpAnswer | None:
        """Runs one invocation; an HTTP function's answer, None otherwise. Raises InvocationFailed."""
        ...


def start_worker(app_dir: Path, script: str = "function_app.py") -> Worker:
    choice = os.environ.get("DEVHOST_WORKER", "").strip().lower() or (
        "library" if sys.version_info >= (3, 13) else "in-process")
    if choice == "library":
        from devhost.library_worker import LibraryWorker

        return LibraryWorker(app_dir, script)
    if choice == "in-process":
        from devhost.inprocess_worker import InProcessWorker

        return InProcessWorker(app_dir, script)
    raise ValueError(f"DEVHOST_WORKER must be 'library' or 'in-process', not {choice!r}")


def invoke(worker: Worker, function: IndexedFunction, call: TriggerCall, reason: str,
           attempt: Attempt | None = None) -> HttpAnswer | None:
    """One invocation with the host's log lines around it."""
    invocation = Invocation(function, call, attempt or Attempt())
    log.info("Executing 'Functions.%s' (Reason='%s', Id=%s)", function.name, reason, invocation.invocation_id)
    started = time.perf_counter()
    try:
        answer = worker.run(invocation)
    except InvocationFailed as failure:
        log.error("Executed 'Functions.%s' (Failed, Id=%s, Duration=%dms): %s", function.name,
                  invocation.invocation_id, (time.perf_counter() - started) * 1000, failure)
        raise
    log.info("Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%dms)", function.name, invocation.invocation_id,
             (time.perf_counter() - started) * 1000)
    return answer
