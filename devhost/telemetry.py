"""What the Python worker does for telemetry, done the same way here so it can be seen before production.

With `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY=true` and `APPLICATIONINSIGHTS_CONNECTION_STRING` set, the worker
configures azure-monitor-opentelemetry (traces, metrics, logs; sampling from `OTEL_TRACES_SAMPLER`/`_ARG`) before
the app runs, and every invocation runs inside the trace context the host passes it. Without a connection string
nothing is configured and nothing reaches the network.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("devhost")


def configure_like_the_worker() -> bool:
    """Configures the Azure Monitor distro as the worker does; True if telemetry is exported."""
    if os.environ.get("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "").strip().lower() != "true":
        return False
    connection_string = os.environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if not connection_string:
        log.warning("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY is true but APPLICATIONINSIGHTS_CONNECTION_STRING is "
                    "empty: telemetry is off (set both, or set the first to false)")
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    # local development: no live metrics stream, no retry files on disk
    configure_azure_monitor(connection_string=connection_string, enable_live_metrics=False,
                            disable_offline_storage=True)
    log.info("telemetry: exporting to Application Insights (sampler %s %s)",
             os.environ.get("OTEL_TRACES_SAMPLER", "default"), os.environ.get("OTEL_TRACES_SAMPLER_ARG", ""))
    return True


def traceparent() -> str:
    """A new W3C traceparent, as the host creates for each invocation (sampled)."""
    return f"00-{random.getrandbits(128):032x}-{random.getrandbits(64):016x}-01"


@contextmanager
def invocation_context(parent: str) -> Iterator[None]:
    """Runs the invocation as a child of the host's trace context, so its spans and log records share one
    operation id."""
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract({"traceparent": parent}))
    try:
        yield
    finally:
        context.detach(token)
