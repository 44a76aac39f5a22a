"""Telemetry: one structured log record and one span per invocation, and the service's metrics, through the
OpenTelemetry API only. In Azure the Functions worker configures the SDK and the Azure Monitor exporter (host.json
`telemetryMode: OpenTelemetry`, app settings `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true` and
`APPLICATIONINSIGHTS_CONNECTION_STRING`); without that the API is a no-op and nothing reaches the network.

Field names are defined here once; docs/operations.md's KQL uses exactly these (a test checks it). No token and, unless
`TELEMETRY_VERBOSE=true`, no personal data (userNames, emails, error details that quote them) is ever recorded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

ACCOUNT = "scim.account_id"
OPERATION = "scim.operation"
RESOURCE_TYPE = "scim.resource_type"
RESOURCE_ID = "scim.resource_id"
STATUS = "scim.status"
SCIM_TYPE = "scim.scim_type"
OUTCOME = "scim.outcome"
DURATION_MS = "scim.duration_ms"
ROUND_TRIPS = "scim.storage_round_trips"
ENTITIES_READ = "scim.storage_entities_read"
ENTITIES_WRITTEN = "scim.storage_entities_written"
BYTES_SENT = "scim.storage_bytes_sent"
ATTEMPT = "scim.attempt"
QUEUED = "scim.queued"
INVOCATION = "scim.invocation_id"
IDP = "scim.idp"
CREDENTIAL = "scim.credential"
"""How an OAuth access token's client authenticated (client secret, federated); absent for a Secret Token."""
DETAIL = "scim.detail"
KIND = "scim.kind"
COUNT = "scim.count"

FIELDS = {ACCOUNT, OPERATION, RESOURCE_TYPE, RESOURCE_ID, STATUS, SCIM_TYPE, OUTCOME, DURATION_MS, ROUND_TRIPS, ATTEMPT,
          QUEUED, INVOCATION, DETAIL, KIND, COUNT, ENTITIES_READ, ENTITIES_WRITTEN, BYTES_SENT}

METRIC_REQUESTS = "scim.requests"
METRIC_DURATION = "scim.request.duration"
METRIC_QUEUED = "scim.operations.queued"
METRIC_POISONED = "scim.operations.poisoned"
METRIC_EMAILS = "scim.emails"
METRIC_REPAIRS = "scim.reconcile.repairs"
METRIC_REENQUEUED = "scim.reconcile.reenqueued"
METRIC_POISON_DEPTH = "scim.queue.poison_depth"
METRIC_ACTIVITY_SPILLED = "scim.activity.spilled"
METRIC_ACTIVITY_LOST = "scim.activity.lost"
METRICS = {METRIC_REQUESTS, METRIC_DURATION, METRIC_QUEUED, METRIC_POISONED, METRIC_EMAILS, METRIC_REPAIRS,
           METRIC_REENQUEUED, METRIC_POISON_DEPTH, METRIC_ACTIVITY_SPILLED, METRIC_ACTIVITY_LOST}

tracer = trace.get_tracer("scim")
_meter = metrics.get_meter("scim")
requests_counter = _meter.create_counter(METRIC_REQUESTS, description="SCIM requests by operation and outcome")
duration_histogram = _meter.create_histogram(METRIC_DURATION, unit="ms", description="SCIM request duration")
queued_counter = _meter.create_counter(METRIC_QUEUED, description="Operations left to the retry queue")
poisoned_counter = _meter.create_counter(METRIC_POISONED, description="Operations given up after every retry")
emails_counter = _meter.create_counter(METRIC_EMAILS, description="Failure digests sent or failed")
repairs_counter = _meter.create_counter(METRIC_REPAIRS, description="Drift repaired by the reconcile timer")
reenqueued_counter = _meter.create_counter(METRIC_REENQUEUED, description="Stale work re-enqueued by reconcile")
activity_spilled_counter = _meter.create_counter(
    METRIC_ACTIVITY_SPILLED, description="Activity records the table refused, sent to the retry queue instead")
activity_lost_counter = _meter.create_counter(
    METRIC_ACTIVITY_LOST, description="Activity records neither the table nor the retry queue took")
poison_depth_gauge = _meter.create_gauge(METRIC_POISON_DEPTH, description="Messages in scim-retry-poison")

log = logging.getLogger("scim.telemetry")


def verbose() -> bool:
    return os.environ.get("TELEMETRY_VERBOSE", "").strip().lower() in ("1", "true", "yes")


@contextmanager
def invocation_trace(context: Any) -> Iterator[None]:
    """Runs an invocation inside the trace the host started for it (`context.trace_context.trace_parent`), so its
    spans and log records share the host's operation id. The worker bundled for Python 3.11/3.12 attaches that trace
    in the thread that runs a sync function; azure-functions-runtime (3.13) attaches it only on its event loop, and
    sync functions run on its thread pool without it. Attaching it here makes every worker behave the same."""
    parent = getattr(getattr(context, "trace_context", None), "trace_parent", "") or ""
    if not parent:
        yield
        return
    token = otel_context.attach(_PROPAGATOR.extract({"traceparent": parent}))
    try:
        yield
    finally:
        otel_context.detach(token)


_PROPAGATOR = TraceContextTextMapPropagator()


def invocation_record(message: str, fields: dict[str, Any]) -> None:
    """The structured record of one invocation: `fields` become customDimensions in Application Insights."""
    safe = {k: v for k, v in fields.items() if v is not None and (k != DETAIL or verbose())}
    log.info("%s %s", message, " ".join(f"{k}={v}" for k, v in safe.items()), extra=safe)


_INDEX_ROW_KEY = re.compile(
    r"(RowKey(?:=|(?:%20|\+| )(?:eq|ge|gt|le|lt)(?:%20|\+| ))(?:'|%27))((?:un|ux|us|gn|gx|gs)(?::|%3A)(?:(?!'|%27).)*)",
    re.IGNORECASE)
"""A row key built from a userName, email, name, display name, externalId or a search (shared/storage/keys.py) inside
a URL: a point read's `RowKey='...'`, or a range query's `RowKey ge '...'` in its `$filter`."""
URL_ATTRIBUTES = ("url.full", "http.url", "http.target", "url.path", "url.query")


def scrub_url(url: str) -> str:
    """The URL with every index row key replaced by a short SHA-256 of it: the call stays recognisable, the person
    does not."""
    return _INDEX_ROW_KEY.sub(lambda m: f"{m.group(1)}~{hashlib.sha256(m.group(2).encode()).hexdigest()[:12]}", url)


def scrub_span_attributes(attributes: Any) -> dict[str, Any] | None:
    """The span's attributes with personal data hashed out of its URLs, or None when there is nothing to change
    (or TELEMETRY_VERBOSE allows it)."""
    if verbose() or not attributes:
        return None
    scrubbed = {name: scrub_url(value) for name in URL_ATTRIBUTES if isinstance(value := attributes.get(name), str)}
    changed = {name: value for name, value in scrubbed.items() if value != attributes[name]}
    return {**attributes, **changed} if changed else None


_scrubber_lock = threading.Lock()
_scrubber_installed = False


def install_personal_data_scrubber() -> None:
    """Puts the scrubber first among the tracer provider's processors (the worker configured them before the app
    ran); a no-op without an SDK provider, i.e. when telemetry is off."""
    global _scrubber_installed
    provider = trace.get_tracer_provider()
    processors = getattr(provider, "_active_span_processor", None)
    with _scrubber_lock:
        if _scrubber_installed or processors is None:
            return
        scrubber = _scrubber()
        if isinstance(getattr(processors, "_span_processors", None), tuple):
            with processors._lock:  # first, so it runs before the exporter's processor queues the span
                processors._span_processors = (scrubber, *processors._span_processors)
        else:
            provider.add_span_processor(scrubber)  # type: ignore[attr-defined]
        _scrubber_installed = True


def _scrubber() -> Any:
    """Storage dependency spans (made by the Azure SDK) carry their request URL, and a point read of an index row
    puts a userName or email in it: this processor hashes those keys before any exporter sees the span, the way
    Azure Monitor's documentation modifies telemetry (a processor that rewrites a span's attributes on end). The
    SDK is imported here, not at import time: the app's cold start does not pay for it."""
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

    class PersonalDataScrubber(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            scrubbed = scrub_span_attributes(span.attributes)
            if scrubbed is not None:
                span._attributes = scrubbed

    return PersonalDataScrubber()
