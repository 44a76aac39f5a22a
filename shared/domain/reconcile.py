"""The reconcile pass: repairs what interrupted operations or outside damage left behind.

Per account: re-enqueues recorded work that has made no progress for RECONCILE_STALE_MINUTES; checks that
membership rows, their reverse rows and the uniqueness/index rows agree with the users and groups they describe and
repairs drift (a member whose user is gone, a reverse row without its forward row, an index row pointing at a
deleted resource, a resource without its index row); reports damage it cannot repair (email digest); purges
reported failures past RETENTION_DAYS; makes sure unreported failures have a digest on its way.

Bounded: at most `max_accounts` accounts per run, continuing from a durable checkpoint; a lease keeps two
instances from running it at once; every repair is re-read just before it is made and conditional on what was
re-read (ETags), so nothing is applied twice and no repair undoes a write made meanwhile.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import telemetry
from shared.domain.failures import Failure
from shared.domain.ports import AccountDirectory, ActivityStore, DriftStore, ReconcileLease
from shared.domain.repairs import NameClash, ResourceRows
from shared.domain.retries import RetryContext, record_failure, schedule_digest
from shared.domain.stored import PURGE_GROUP, PURGE_USER, PendingWork

log = logging.getLogger("scim.reconcile")

LEASE_DURATION = timedelta(minutes=10)


@dataclass
class ReconcileContext:
    accounts: AccountDirectory
    drift: DriftStore
    lease: ReconcileLease
    retry: RetryContext
    activity: ActivityStore
    stale_after: timedelta
    retention: timedelta
    max_accounts: int = 200
    sweep_every: timedelta = timedelta(0)
    """An account's rows are swept at most this often, and only when something was written since the last sweep."""
    time_budget: timedelta = timedelta(minutes=5)
    """A run stops taking accounts after this long (well inside its lease and the Functions timeout); the next run
    continues from the checkpoint."""


@dataclass
class Summary:
    accounts_checked: int = 0
    entities_checked: int = 0
    repaired: Counter[str] = field(default_factory=Counter)
    reenqueued: int = 0
    unrepairable: int = 0
    purged: int = 0
    digests_scheduled: int = 0
    counts_folded: int = 0
    slices_swept: int = 0
    sweeps_not_needed: int = 0
    """Accounts whose sweep was due but nothing had been written since the last one: nothing of them was read."""
    skipped: bool = False
    """Another instance holds the lease."""

    def as_dict(self) -> dict[str, Any]:
        return {"accountsChecked": self.accounts_checked, "entitiesChecked": self.entities_checked,
                "repaired": dict(self.repaired), "repairedTotal": sum(self.repaired.values()),
                "reenqueued": self.reenqueued, "unrepairable": self.unrepairable, "purged": self.purged,
                "digestsScheduled": self.digests_scheduled, "countsFolded": self.counts_folded,
                "slicesSwept": self.slices_swept, "sweepsNotNeeded": self.sweeps_not_needed, "skipped": self.skipped}


def run_reconcile(ctx: ReconcileContext, now: datetime, only_account: str | None = None) -> Summary:
    summary = Summary()
    lease = ctx.lease.acquire(now, LEASE_DURATION)
    if lease is None:
        summary.skipped = True
        log.info("reconcile skipped: another instance holds the lease")
        return summary
    checkpoint = lease.checkpoint
    try:
        accounts = sorted(a.id for a in ctx.accounts.all())
        if only_account is not None:
            batch = [a for a in accounts if a == only_account]
        else:
            after = [a for a in accounts if a > checkpoint]
            batch = (after + [a for a in accounts if a <= checkpoint])[:ctx.max_accounts]
        started = time.monotonic()
        for account_id in batch:
            if time.monotonic() - started > ctx.time_budget.total_seconds():
                break  # the next run continues from the checkpoint
            reconcile_account(ctx, account_id, now, summary, whole=only_account is not None)
            summary.accounts_checked += 1
            if only_account is None:
                checkpoint = account_id
    finally:
        ctx.lease.release(lease, checkpoint, now)
    log.info("reconcile summary %s", summary.as_dict())
    return summary


SLICE_USERS = 20_000
"""Users one slice of a sweep holds (with their memberships and index rows, and every group): what bounds a run's
memory, whatever the account's size."""


def _slices(ctx: ReconcileContext, account_id: str, now: datetime, summary: Summary,
            whole: bool) -> Iterator[ResourceRows]:
    """The slices to sweep now. Normally one: the next slice of the sweep under way, or the first of a new sweep
    when the last one finished more than `sweep_every` ago and something was written since it began (else nothing
    is read). `whole` (an operator's reconcile of one account) sweeps every slice at once."""
    drift = ctx.drift
    sweep = drift.sweep(account_id)
    if sweep is None or sweep.finished or whole:
        if sweep is not None and not whole:
            if now - sweep.started < ctx.sweep_every:
                return
            if not drift.written_since(account_id, sweep):
                summary.sweeps_not_needed += 1
                return
        users = drift.users_to_sweep(account_id)
        sweep = drift.begin_sweep(account_id, max(1, -(-users // SLICE_USERS)), now)
    while not sweep.finished:
        yield drift.scan(account_id, sweep.bucket, sweep.buckets)
        summary.slices_swept += 1
        sweep = drift.advance_sweep(account_id, sweep)
        if not whole:
            return


def reconcile_account(ctx: ReconcileContext, account_id: str, now: datetime, summary: Summary,
                      whole: bool = False) -> None:
    pending = ctx.retry.pending.pending(account_id)
    for work in pending:
        if work.created < now - ctx.stale_after:
            ctx.retry.queue.enqueue(work.retry_job(account_id, "no progress: re-enqueued by the reconcile timer"))
            summary.reenqueued += 1
            telemetry.reenqueued_counter.add(1, {telemetry.KIND: work.kind})
    summary.counts_folded += ctx.drift.fold_counts(account_id)
    swept = summary.slices_swept
    for rows in _slices(ctx, account_id, now, summary, whole=whole):
        summary.entities_checked += rows.entities
        _repair_memberships(ctx, account_id, rows, pending, summary)
        index = ctx.drift.repair_indexes(account_id, rows)
        for kind, count in index.repaired.items():
            _count_repair(account_id, kind, summary, count)
        for clash in index.clashes:
            _report_clash(ctx, account_id, clash, now, summary)
    if summary.slices_swept > swept:  # the account was written since its last sweep: its groups' counts too
        summary.counts_folded += ctx.drift.fold_member_counts(account_id)
    summary.purged += ctx.retry.failures.purge_reported(account_id, now - ctx.retention)
    summary.purged += ctx.activity.purge(account_id, now - ctx.retention)
    state = ctx.retry.failures.state(account_id)
    if ctx.retry.failures.unreported(account_id) and not state.scheduled_digest:
        schedule_digest(ctx.retry, account_id, now)
        summary.digests_scheduled += 1


def _count_repair(account_id: str, kind: str, summary: Summary, count: int = 1) -> None:
    summary.repaired[kind] += count
    telemetry.repairs_counter.add(count, {telemetry.KIND: kind})
    log.warning("reconcile account %s: repaired %s (%d)", account_id, kind, count)


def _repair_memberships(ctx: ReconcileContext, account_id: str, rows: ResourceRows, pending: list[PendingWork],
                        summary: Summary) -> None:
    """A membership's two rows must both exist, and only while its user and group do. Resources with a pending
    purge are left to that work."""
    drift = ctx.drift
    purging_groups = {w.group_id for w in pending if w.kind == PURGE_GROUP}
    purging_users = {w.user_id for w in pending if w.kind == PURGE_USER}

    def exists(resource_type: str, resource_id: str, scanned: dict[str, Any]) -> bool:
        return resource_id in scanned or drift.resource_exists(account_id, resource_type, resource_id)

    for group_id, user_id in sorted(rows.forward):
        if group_id in purging_groups or user_id in purging_users:
            continue
        if not exists("User", user_id, rows.users) or not exists("Group", group_id, rows.groups):
            seen = drift.membership(account_id, group_id, user_id)
            if drift.remove_membership(account_id, group_id, user_id, seen):
                _count_repair(account_id, "member whose user or group is gone", summary)
        elif (user_id, group_id) not in rows.reverse:
            seen = drift.membership(account_id, group_id, user_id)
            group_attributes, managed_by = rows.groups.get(group_id, ({}, "scim"))
            if drift.restore_reverse(account_id, group_id, user_id, seen,
                                     str(group_attributes.get("displayName", "")), managed_by):
                _count_repair(account_id, "member without its reverse row", summary)

    for user_id, group_id in sorted(rows.reverse):
        if group_id in purging_groups or user_id in purging_users or (group_id, user_id) in rows.forward:
            continue
        seen = drift.membership(account_id, group_id, user_id)
        if seen.forward is None and seen.reverse is not None \
                and drift.remove_membership(account_id, group_id, user_id, seen):
            _count_repair(account_id, "reverse row without its forward row", summary)


def _report_clash(ctx: ReconcileContext, account_id: str, clash: NameClash, now: datetime, summary: Summary) -> None:
    """Two resources claim one unique name (outside damage): nothing can choose between them, so admins are told."""
    summary.unrepairable += 1
    owners = ", ".join(clash.owners)
    record_failure(ctx.retry, account_id, Failure(
        job_id=f"reconcile-{clash.claim}", operation="reconcile", resource_type=clash.resource_type,
        resource_id=owners, external_id="",
        last_error=f"{len(clash.owners)} resources claim the same unique name ({clash.claim}): {owners}; "
                   "delete or rename all but one of them in Entra",
        attempts=1, first_attempt=now, last_attempt=now, invocation_id="", work_id="", source="reconcile"), now)
