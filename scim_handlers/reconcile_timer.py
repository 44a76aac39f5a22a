"""Blueprint: the reconcile timer (schedule from the RECONCILE_SCHEDULE app setting, default every 30 minutes)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from scim_handlers.services import services
from shared.domain.reconcile import run_reconcile
from shared.invocation import invocation

bp = func.Blueprint()
log = logging.getLogger("scim.reconcile")


@bp.timer_trigger(schedule="%RECONCILE_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
def reconcile(timer: func.TimerRequest, context: func.Context) -> None:
    with invocation("reconcile", context.invocation_id):
        summary = run_reconcile(services().reconcile_context(), datetime.now(UTC))
    log.info("reconcile pastDue=%s invocation=%s summary=%s", timer.past_due, context.invocation_id, summary.as_dict())
