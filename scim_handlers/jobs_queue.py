"""Blueprint: the queue triggers. `retry_operations` finishes recorded work and sends digests; a transient failure
is re-raised so the host retries the message (host.json: visibilityTimeout between attempts, maxDequeueCount
attempts, then `scim-retry-poison`). `notify_failed_operations` on the poison queue records the given-up work and
schedules the email to the account's notification address."""

from __future__ import annotations

import logging
import time

import azure.functions as func

from scim_handlers.services import services
from shared import telemetry
from shared.domain import retries, times
from shared.domain.jobs import POISON_QUEUE, RETRY_QUEUE
from shared.invocation import invocation
from shared.storage.roundtrips import counting

bp = func.Blueprint()
log = logging.getLogger("scim.jobs")


@bp.queue_trigger(arg_name="msg", queue_name=RETRY_QUEUE, connection="AzureWebJobsStorage")
def retry_operations(msg: func.QueueMessage, context: func.Context) -> None:
    with telemetry.invocation_trace(context):
        _retry_operations(msg, context)


def _retry_operations(msg: func.QueueMessage, context: func.Context) -> None:
    started = time.perf_counter()
    with telemetry.tracer.start_as_current_span("retry_operations"), counting() as trips, \
            invocation("retry_operations", context.invocation_id):
        try:
            outcome = retries.handle_retry(services().retry_context(), msg.get_body(), times.now())
        except Exception as exc:
            _record("retry_operations", msg, context, f"transient failure, retried by the host: {type(exc).__name__}",
                    started, trips.count)
            raise
    _record("retry_operations", msg, context, outcome, started, trips.count)


@bp.queue_trigger(arg_name="msg", queue_name=POISON_QUEUE, connection="AzureWebJobsStorage")
def notify_failed_operations(msg: func.QueueMessage, context: func.Context) -> None:
    with telemetry.invocation_trace(context):
        _notify_failed_operations(msg, context)


def _notify_failed_operations(msg: func.QueueMessage, context: func.Context) -> None:
    started = time.perf_counter()
    with telemetry.tracer.start_as_current_span("notify_failed_operations"), \
            counting() as trips, invocation("notify_failed_operations", context.invocation_id):
        outcome = retries.handle_poisoned(services().retry_context(), msg.get_body(), times.now())
    _record("notify_failed_operations", msg, context, outcome, started, trips.count)


def _record(operation: str, msg: func.QueueMessage, context: func.Context, outcome: str, started: float,
            round_trips: int) -> None:
    telemetry.invocation_record(operation, {
        telemetry.OPERATION: operation, telemetry.OUTCOME: outcome, telemetry.ATTEMPT: msg.dequeue_count,
        telemetry.DURATION_MS: round((time.perf_counter() - started) * 1000, 1), telemetry.ROUND_TRIPS: round_trips,
        telemetry.INVOCATION: context.invocation_id})
