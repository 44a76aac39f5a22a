"""Blueprint: the queue triggers. `retry_operations` finishes recorded work and sends digests; a transient failure
is re-raised so the host retries the message (host.json: visibilityTimeout between attempts, maxDequeueCount
attempts, then `scim-retry-poison`). `notify_failed_operations` on the poison queue records the given-up work and
schedules the email to the account's notification address."""

from __future__ import annotations

import logging

import azure.functions as func

from scim_handlers.observed import Observation, observed
from scim_handlers.services import services
from shared import telemetry
from shared.domain import retries, times
from shared.domain.jobs import POISON_QUEUE, RETRY_QUEUE

bp = func.Blueprint()
log = logging.getLogger("scim.jobs")


@bp.queue_trigger(arg_name="msg", queue_name=RETRY_QUEUE, connection="AzureWebJobsStorage")
def retry_operations(msg: func.QueueMessage, context: func.Context) -> None:
    with observed(context, "retry_operations") as seen:
        try:
            outcome = retries.handle_retry(services().retry_context(), msg.get_body(), times.now())
        except Exception as exc:
            _record("retry_operations", msg, seen, f"transient failure, retried by the host: {type(exc).__name__}")
            raise
        _record("retry_operations", msg, seen, outcome)


@bp.queue_trigger(arg_name="msg", queue_name=POISON_QUEUE, connection="AzureWebJobsStorage")
def notify_failed_operations(msg: func.QueueMessage, context: func.Context) -> None:
    with observed(context, "notify_failed_operations") as seen:
        outcome = retries.handle_poisoned(services().retry_context(), msg.get_body(), times.now())
        _record("notify_failed_operations", msg, seen, outcome)


def _record(operation: str, msg: func.QueueMessage, seen: Observation, outcome: str) -> None:
    telemetry.invocation_record(operation, {
        telemetry.OPERATION: operation, telemetry.OUTCOME: outcome, telemetry.ATTEMPT: msg.dequeue_count,
        telemetry.DURATION_MS: round(seen.duration_ms, 1), telemetry.ROUND_TRIPS: seen.trips.count,
        telemetry.INVOCATION: seen.invocation_id})
