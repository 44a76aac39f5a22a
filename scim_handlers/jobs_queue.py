"""Blueprint: the queue triggers. `retry_operations` finishes recorded work and sends digests; a transient failure
is re-raised so the host retries the message (host.json: visibilityTimeout between attempts, maxDequeueCount
attempts, then `scim-retry-poison`). `notify_failed_operations` on the poison queue records the given-up work and
schedules the email to the account's notification address."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from scim_handlers.services import services
from shared.domain import retries
from shared.domain.jobs import POISON_QUEUE, RETRY_QUEUE
from shared.invocation import invocation

bp = func.Blueprint()
log = logging.getLogger("scim.jobs")


@bp.queue_trigger(arg_name="msg", queue_name=RETRY_QUEUE, connection="AzureWebJobsStorage")
def retry_operations(msg: func.QueueMessage, context: func.Context) -> None:
    with invocation("retry_operations", context.invocation_id):
        outcome = retries.handle_retry(services().retry_context(), msg.get_body(), datetime.now(UTC))
    log.info("retry_operations message=%s attempt=%s outcome=%s invocation=%s", msg.id, msg.dequeue_count, outcome,
             context.invocation_id)


@bp.queue_trigger(arg_name="msg", queue_name=POISON_QUEUE, connection="AzureWebJobsStorage")
def notify_failed_operations(msg: func.QueueMessage, context: func.Context) -> None:
    with invocation("notify_failed_operations", context.invocation_id):
        outcome = retries.handle_poisoned(services().retry_context(), msg.get_body(), datetime.now(UTC))
    log.info("notify_failed_operations message=%s outcome=%s invocation=%s", msg.id, outcome, context.invocation_id)
