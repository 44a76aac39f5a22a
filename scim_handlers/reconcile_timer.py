"""Blueprint: the reconcile timer (schedule from the RECONCILE_SCHEDULE app setting, default every 30 minutes).

The schedule is read when the worker indexes the app (app settings are its environment then), not left to the host
as `%RECONCILE_SCHEDULE%`: the host cannot bind a timer to a setting that is missing, so an app deployed without it
would have no reconcile at all."""

from __future__ import annotations

import logging
import os
import time

import azure.functions as func

from scim_handlers.services import services
from shared import telemetry
from shared.domain import times
from shared.domain.jobs import POISON_QUEUE
from shared.domain.reconcile import run_reconcile
from shared.invocation import invocation
from shared.storage.roundtrips import counting

bp = func.Blueprint()
log = logging.getLogger("scim.reconcile")

DEFAULT_SCHEDULE = "0 */30 * * * *"
SCHEDULE = os.environ.get("RECONCILE_SCHEDULE", "").strip() or DEFAULT_SCHEDULE


@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False, use_monitor=True)
def reconcile(timer: func.TimerRequest, context: func.Context) -> None:
    with telemetry.invocation_trace(context):
        _reconcile(timer, context)


def _reconcile(timer: func.TimerRequest, context: func.Context) -> None:
    started = time.perf_counter()
    svc = services()
    with telemetry.tracer.start_as_current_span("reconcile"), counting() as trips, \
            invocation("reconcile", context.invocation_id):
        summary = run_reconcile(svc.reconcile_context(), times.now())
        depth = svc.queue_depth(POISON_QUEUE)
    if depth is not None:
        telemetry.poison_depth_gauge.set(depth)
    telemetry.invocation_record("reconcile", {
        telemetry.OPERATION: "reconcile", telemetry.OUTCOME: "skipped" if summary.skipped else "completed",
        telemetry.COUNT: summary.accounts_checked, telemetry.DURATION_MS: round((time.perf_counter() - started) * 1000, 1),
        telemetry.ROUND_TRIPS: trips.count, telemetry.ENTITIES_READ: trips.entities_read,
        telemetry.INVOCATION: context.invocation_id,
        **{f"scim.reconcile.{k}": v for k, v in summary.as_dict().items() if not isinstance(v, dict)}})
    log.info("reconcile pastDue=%s summary=%s", timer.past_due, summary.as_dict())
