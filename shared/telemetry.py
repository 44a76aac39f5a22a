"""Telemetry: one structured log record and one span per invocation, and the service's metrics, through the
OpenTelemetry API only. In Azure the Functions worker configures the SDK and the Azure Monitor exporter (host.json
`telemetryMode: OpenTelemetry`, app settings `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true` and
`APPLICATIONINSIGHTS_CONNECTION_STRING`); without that the API is a no-op and nothing reaches the network.

Field names are defined here once; docs/operations.md's KQL uses exactly these (a test checks it). No token and, unless
`TELEMETRY_VERBOSE=true`, no personal data (userNames, emails, error details that quote them) is ever recorded.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import metrics, trace

ACCOUNT = "scim.account_id"
OPERATION = "scim.operation"
RESOURCE_TYPE = "scim.resource_type"
RESOURCE_ID = "scim.resource_id"
STATUS = "scim.status"
SCIM_TYPE = "scim.scim_type"
OUTCOME = "scim.outcome"
DURATION_MS = "scim.duration_ms"
ROUND_TRIPS = "scim.storage_round_trips"
ATTEMPT = "scim.attempt"
QUEUED = "scim.queued"
INVOCATION = "scim.invocation_id"
IDP = "scim.idp"
DETAIL = "scim.detail"
KIND = "scim.kind"
COUNT = "scim.count"

FIELDS = {ACCOUNT, OPERATION, RESOURCE_TYPE, RESOURCE_ID, STATUS, SCIM_TYPE, OUTCOME, DURATION_MS, ROUND_TRIPS, ATTEMPT,
          QUEUED, INVOCATION, DETAIL, KIND, COUNT}

METRIC_REQUESTS = "scim.requests"
METRIC_DURATION = "scim.request.duration"
METRIC_QUEUED = "scim.operations.queued"
METRIC_POISONED = "scim.operations.poisoned"
METRIC_EMAILS = "scim.emails"
METRIC_REPAIRS = "scim.reconcile.repairs"
METRIC_REENQUEUED = "scim.reconcile.reenqueued"
METRIC_POISON_DEPTH = "scim.queue.poison_depth"
METRICS = {METRIC_REQUESTS, METRIC_DURATION, METRIC_QUEUED, METRIC_POISONED, METRIC_EMAILS, METRIC_REPAIRS,
           METRIC_REENQUEUED, METRIC_POISON_DEPTH}

tracer = trace.get_tracer("scim")
_meter = metrics.get_meter("scim")
requests_counter = _meter.create_counter(METRIC_REQUESTS, description="SCIM requests by operation and outcome")
duration_histogram = _meter.create_histogram(METRIC_DURATION, unit="ms", description="SCIM request duration")
queued_counter = _meter.create_counter(METRIC_QUEUED, description="Operations left to the retry queue")
poisoned_counter = _meter.create_counter(METRIC_POISONED, description="Operations given up after every retry")
emails_counter = _meter.create_counter(METRIC_EMAILS, description="Failure digests sent or failed")
repairs_counter = _meter.create_counter(METRIC_REPAIRS, description="Drift repaired by the reconcile timer")
reenqueued_counter = _meter.create_counter(METRIC_REENQUEUED, description="Stale work re-enqueued by reconcile")
poison_depth_gauge = _meter.create_gauge(METRIC_POISON_DEPTH, description="Messages in scim-retry-poison")

log = logging.getLogger("scim.telemetry")


def verbose() -> bool:
    return os.environ.get("TELEMETRY_VERBOSE", "").strip().lower() in ("1", "true", "yes")


def invocation_record(message: str, fields: dict[str, Any]) -> None:
    """The structured record of one invocation: `fields` become customDimensions in Application Insights."""
    safe = {k: v for k, v in fields.items() if v is not None and (k != DETAIL or verbose())}
    log.info("%s %s", message, " ".join(f"{k}={v}" for k, v in safe.items()), extra=safe)
