"""Fires timer functions on their NCRONTAB schedule (six fields, seconds first; five accepted), in UTC.

As on the host: `run_on_startup` fires once at start; invocations of one timer never overlap; an occurrence
that is reached late (after the next one was already due, e.g. because the previous run overran) is delivered
with `past_due=True`; `@app.retry` (fixed_delay / exponential_backoff) re-runs a failed invocation. Not
emulated: the cross-instance singleton lease and the `useMonitor` status blob (a stopped devhost does not
catch up missed occurrences).
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions.timer as timer_types
from croniter import croniter

from devhost.app_loader import IndexedFunction
from devhost.invoker import RetryContext, invoke
from devhost.local_settings import resolve, timespan_seconds

log = logging.getLogger("devhost")

_GRACE = timedelta(seconds=1)


def schedule_iterator(expression: str, start: datetime) -> croniter:
    """A croniter over an NCRONTAB expression: six fields put seconds first."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"NCRONTAB expression needs 5 or 6 fields: {expression!r}")
    return croniter(expression, start, second_at_beginning=len(fields) == 6)


def manual_timer_request() -> timer_types.TimerRequest:
    return timer_types.TimerRequest(past_due=False)


class TimerRunner:
    def __init__(self, function: IndexedFunction, app_dir: str, stop: threading.Event) -> None:
        self.function = function
        self.app_dir = app_dir
        self.stop = stop
        self.expression = resolve(str(function.trigger["schedule"]))
        schedule_iterator(self.expression, datetime.now(UTC))  # fail fast on a bad schedule

    def run(self) -> None:
        if self.function.trigger.get("runOnStartup"):
            self._fire(past_due=False, reason="Timer fired at startup")
        schedule = schedule_iterator(self.expression, datetime.now(UTC))
        due = schedule.get_next(datetime)
        while not self.stop.is_set():
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait > 0 and self.stop.wait(min(wait, 1.0)):
                return
            if wait > 0:
                continue
            following = schedule.get_next(datetime)
            past_due = datetime.now(UTC) >= following
            self._fire(past_due=past_due, reason=f"Timer fired at {due.isoformat()}")
            due = following
            while due <= datetime.now(UTC) - _GRACE:  # skip occurrences missed while running, as the host does
                due = schedule.get_next(datetime)

    def _fire(self, past_due: bool, reason: str) -> None:
        request = timer_types.TimerRequest(past_due=past_due)
        policy = self.function.settings.get("retry") or {}
        max_retries, delays = _retry_plan(policy)
        attempt = 0
        while True:
            try:
                invoke(self.function, request, reason, self.app_dir, RetryContext(attempt, max_retries))
                return
            except Exception:
                if attempt >= max_retries and max_retries != -1:
                    return
                delay = delays(attempt)
                attempt += 1
                if self.stop.wait(delay):
                    return




def _retry_plan(policy: dict[str, Any]) -> tuple[int, Any]:
    if not policy:
        return 0, lambda attempt: 0.0
    max_retries = int(policy.get("max_retry_count", 0))
    if policy.get("strategy") == "exponential_backoff":
        low = timespan_seconds(policy.get("minimum_interval"), 1.0)
        high = timespan_seconds(policy.get("maximum_interval"), 60.0)
        return max_retries, lambda attempt: min(high, low * (2 ** attempt))
    fixed = timespan_seconds(policy.get("delay_interval"), 1.0)
    return max_retries, lambda attempt: fixed


def start_timers(functions: list[IndexedFunction], app_dir: str, stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for function in functions:
        if function.trigger_type != "timerTrigger":
            continue
        runner = TimerRunner(function, app_dir, stop)
        thread = threading.Thread(target=runner.run, name=f"timer-{function.name}", daemon=True)
        thread.start()
        threads.append(thread)
        log.info("timer %s scheduled: %s (UTC)", function.name, runner.expression)
    return threads
