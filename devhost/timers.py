"""Fires timer functions on their NCRONTAB schedule (six fields, seconds first; five accepted), in UTC.

As on the host: `run_on_startup` fires once at start; invocations of one timer never overlap and occurrences
missed while one runs are skipped; with `use_monitor` (default: on for schedules of a minute or longer) the
schedule status is persisted (on the host in a blob; here in `$DEVHOST_STATE_DIR/timer-status.json`, default
`<app dir>/.devhost/`), so an occurrence missed while the host was down fires at start with `past_due=True`;
`@app.retry` (fixed_delay /
exponential_backoff) re-runs a failed invocation. Not emulated: the cross-instance singleton lease.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from croniter import croniter

from devhost.local_settings import resolve
from devhost.worker import Attempt, IndexedFunction, InvocationFailed, TimerCall, Worker, invoke

log = logging.getLogger("devhost")


def schedule_iterator(expression: str, start: datetime) -> croniter:
    """A croniter over an NCRONTAB expression: six fields put seconds first."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(f"NCRONTAB expression needs 5 or 6 fields: {expression!r}")
    return croniter(expression, start, second_at_beginning=len(fields) == 6)


class ScheduleMonitor:
    """Persists each timer's next due occurrence, like the host's schedule status blob."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def next_due(self, name: str) -> datetime | None:
        with self._lock:
            status = self._read().get(name)
        return datetime.fromisoformat(status["next"]) if status else None

    def last(self, name: str) -> datetime | None:
        with self._lock:
            status = self._read().get(name)
        return datetime.fromisoformat(status["last"]) if status else None

    def record(self, name: str, last: datetime, following: datetime) -> None:
        with self._lock:
            statuses = self._read()
            statuses[name] = {"last": last.isoformat(), "next": following.isoformat()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(statuses, indent=2))

    def _read(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.path.read_text()))
        except (OSError, ValueError):
            return {}


class TimerRunner:
    def __init__(self, worker: Worker, function: IndexedFunction, stop: threading.Event,
                 monitor: ScheduleMonitor) -> None:
        self.worker = worker
        self.function = function
        self.stop = stop
        self.monitor = monitor
        self.expression = resolve(str(function.trigger["schedule"]))
        probe = schedule_iterator(self.expression, datetime.now(UTC))  # fails fast on a bad schedule
        first, second = probe.get_next(datetime), probe.get_next(datetime)
        default_monitor = (second - first) >= timedelta(minutes=1)
        self.use_monitor = bool(function.trigger.get("useMonitor", default_monitor))

    def run(self) -> None:
        missed = self.monitor.next_due(self.function.name) if self.use_monitor else None
        if missed is not None and missed < datetime.now(UTC):
            self._fire(past_due=True, reason=f"Timer fired as past due (missed {missed.isoformat()})", due=missed)
        elif self.function.trigger.get("runOnStartup"):
            self._fire(past_due=False, reason="Timer fired at startup", due=datetime.now(UTC))
        while not self.stop.is_set():
            due = schedule_iterator(self.expression, datetime.now(UTC)).get_next(datetime)
            while (wait := (due - datetime.now(UTC)).total_seconds()) > 0:
                if self.stop.wait(min(wait, 1.0)):
                    return
            self._fire(past_due=False, reason=f"Timer fired at {due.isoformat()}", due=due)

    def _fire(self, past_due: bool, reason: str, due: datetime) -> None:
        last = self.monitor.last(self.function.name) if self.use_monitor else None
        try:
            self._invoke_with_retries(TimerCall(past_due=past_due, last=last, next=due), reason)
        finally:
            if self.use_monitor:
                following = schedule_iterator(self.expression, datetime.now(UTC)).get_next(datetime)
                self.monitor.record(self.function.name, due, following)

    def _invoke_with_retries(self, call: TimerCall, reason: str) -> None:
        """`@app.retry` as the host applies it: the same value again after the policy's delay, the attempt in
        `context.retry_context`, until it succeeds or `max_retry_count` retries failed (-1: never gives up)."""
        policy = self.function.retry
        retry = 0
        while True:
            attempt = Attempt(retry, policy.max_retry_count if policy else 0)
            try:
                invoke(self.worker, self.function, call, reason, attempt)
                return
            except InvocationFailed:
                if policy is None or (retry >= policy.max_retry_count and policy.max_retry_count != -1):
                    return
                if self.stop.wait(policy.delay_before(retry)):
                    return
                retry += 1


def start_timers(worker: Worker, app_dir: Path, stop: threading.Event) -> list[threading.Thread]:
    threads = []
    state_dir = Path(os.environ.get("DEVHOST_STATE_DIR") or app_dir / ".devhost")
    monitor = ScheduleMonitor(state_dir / "timer-status.json")
    for function in worker.functions:
        if function.trigger_type != "timerTrigger":
            continue
        runner = TimerRunner(worker, function, stop, monitor)
        thread = threading.Thread(target=runner.run, name=f"timer-{function.name}", daemon=True)
        thread.start()
        threads.append(thread)
        log.info("timer %s scheduled: %s (UTC)", function.name, runner.expression)
    return threads
