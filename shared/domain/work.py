"""The one failure policy for recorded work (a change larger than one transaction).

A write's first transaction is its commitment: it either applies the whole change or records it. What happens to
recorded work after that is decided here, for every caller:

- `settle` — the request that recorded it: carry it out now; if storage fails on the way, put it on the retry queue
  and still acknowledge the request (its effect is durable: recorded, and queued). If even the queue cannot be
  reached the record stays, and the reconcile timer re-enqueues it. The result says whether work was queued.
- `complete` — everyone else (a later write to the same resource, the retry queue, reconcile, an operator):
  carry it out or raise. A later write that cannot finish the earlier work answers 503 and changes nothing, so
  Entra retries it, and changes to one resource apply in the order they were acknowledged.

The first transaction itself failing is not handled here: nothing was applied, and the request answers 503.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

from shared import telemetry
from shared.domain.activity import ActivityNote
from shared.domain.jobs import Job
from shared.domain.stored import PendingWork
from shared.errors import ServiceUnavailable

log = logging.getLogger("scim.work")


class WorkRunner(Protocol):
    def run(self, account_id: str, work_id: str) -> list[str] | None:
        """Carries the work out (fenced, idempotent); the member ids it ignored, or None if it was already done.
        Raises ServiceUnavailable when storage fails on the way (the record stays)."""


class JobQueue(Protocol):
    def enqueue(self, job: Job, delay_seconds: float = 0) -> None:
        """Puts the job on the retry queue (at-least-once delivery)."""


@dataclass(frozen=True)
class Settled:
    ignored: list[str] = field(default_factory=list)
    """Member ids the work ignored (not users of the account)."""
    queued: bool = False
    """Storage failed part-way: the rest of the work is on the retry queue (or, failing that, left to reconcile)."""

    @property
    def note(self) -> ActivityNote:
        return ActivityNote(queued=self.queued, ignored=tuple(self.ignored))


NOTHING_RECORDED = Settled()


def settle(runner: WorkRunner, queue: JobQueue | None, account_id: str, work: PendingWork | None,
           notify_to: str = "") -> Settled:
    """Carries out the work a write just recorded, or queues it (see the module docstring). Without a queue
    (command-line tools, tests) a failure on the way is the caller's ServiceUnavailable; the record stays."""
    if work is None:
        return NOTHING_RECORDED
    if queue is None:
        return Settled(complete(runner, account_id, work.id) or [])
    try:
        return Settled(runner.run(account_id, work.id) or [])
    except ServiceUnavailable as failure:
        log.warning("work %s of account %s interrupted (%s); queueing it for retry", work.id, account_id, failure.detail)
        try:
            queue.enqueue(work.retry_job(account_id, failure.detail, notify_to))
        except Exception:
            log.exception("could not queue work %s of account %s; the reconcile timer will", work.id, account_id)
        telemetry.queued_counter.add(1, {telemetry.KIND: work.kind})
        return Settled(queued=True)


def complete(runner: WorkRunner, account_id: str, work_id: str) -> list[str] | None:
    """Carries out earlier recorded work before anything else touches its resource; raises ServiceUnavailable."""
    return runner.run(account_id, work_id)
