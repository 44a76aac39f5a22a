"""Blueprint: the reconcile timer (schedule from the RECONCILE_SCHEDULE app setting, default every 30 minutes).

The schedule is read when the worker indexes the app (app settings are its environment then), not left to the host
as `%RECONCILE_SCHEDULE%`: the host cannot bind a timer to a setting that is missing, so an app deployed without it
would have no reconcile at all."""

from __future__ import annotations

import logging
import os

import azure.functions as func

from scim_handlers.observed import observed
from scim_handlers.services import services
from shared import telemetry
from shared.domain import times
from shared.domain.jobs import POISON_QUEUE
from shared.domain.reconcile import run_reconcile

bp = func.Blueprint()
log = logging.getLogger("scim.reconcile")

DEFAULT_SCHEDULE = "0 */30 * * * *"
SCHEDULE = os.environ.get("RECONCILE_SCHEDULE", "").strip() or DEFAULT_SCHEDULE


@bp.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False, use_monitor=True)
def reconcile(timer: func.TimerRequest, context: func.Context) -> None:
    svc = services()
    with observed(context, "reconcile") as seen:
        summary = run_reconcile(svc.reconcile_context(), times.now())
        depth = svc.queue_depth(POISON_QUEUE)
        if depth is not None:
            telemetry.poison_depth_gauge.set(depth)
        telemetry.invocation_record("reconcile", {
            telemetry.OPERATION: "reconcile", telemetry.OUTCOME: "skipped" if summary.skipped else "completed",
            telemetry.COUNT: summary.accounts_checked, telemetry.DURATION_MS: round(seen.duration_ms, 1),
            telemetry.ROUND_TRIPS: seen.trips.count, telemetry.ENTITIES_READ: seen.trips.entities_read,
            telemetry.INVOCATION: seen.invocation_id,
            **{f"scim.reconcile.{k}": v for k, v in summary.as_dict().items() if not isinstance(v, dict)}})
        log.info("reconcile pastDue=%s summary=%s", timer.past_due, summary.as_dict())
