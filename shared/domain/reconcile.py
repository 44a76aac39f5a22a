"""The reconcile pass: repairs what interrupted operations or outside damage left behind.

Per account: re-enqueues recorded work that has made no progress for RECONCILE_STALE_MINUTES; checks that
membership rows, their reverse rows and the uniqueness/index rows agree with the users and groups they describe and
repairs drift (a member whose user is gone, a reverse row without its forward row, an index row pointing at a
deleted resource, a resource without its index row); reports damage it cannot repair (email digest); purges
reported failures past RETENTION_DAYS; makes sure unreported failures have a digest on its way.

Bounded: at most `max_accounts` accounts per run, continuing from a durable checkpoint; a lease keeps two
instances from running it at once; every repair is re-checked just before it is made, so nothing is applied twice.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import telemetry
from shared.domain.ports import PURGE_GROUP, PURGE_USER, PendingWork
from shared.domain.retries import RetryContext, record_failure, schedule_digest
from shared.storage.accounts_table import AccountStore
from shared.storage.activity_table import ActivityLog
from shared.storage.drift import (
    DriftStore,
    PartitionSnapshot,
    display_name_key,
    external_id_prefix,
    forward_key,
    group_external_prefix,
    reverse_key,
    user_name_key,
)
from shared.storage.failures_table import Failure
from shared.storage.lease import LeaseStore

log = logging.getLogger("scim.reconcile")

LEASE_DURATION = timedelta(minutes=10)


@dataclass
class ReconcileContext:
    accounts: AccountStore
    drift: DriftStore
    lease: LeaseStore
    retry: RetryContext
    activity: ActivityLog
    stale_after: timedelta
    retention: timedelta
    max_accounts: int = 200


@dataclass
class Summary:
    accounts_checked: int = 0
    entities_checked: int = 0
    repaired: Counter[str] = field(default_factory=Counter)
    reenqueued: int = 0
    unrepairable: int = 0
    purged: int = 0
    digests_scheduled: int = 0
    skipped: bool = False
    """Another instance holds the lease."""

    def as_dict(self) -> dict[str, Any]:
        return {"accountsChecked": self.accounts_checked, "entitiesChecked": self.entities_checked,
                "repaired": dict(self.repaired), "repairedTotal": sum(self.repaired.values()),
                "reenqueued": self.reenqueued, "unrepairable": self.unrepairable, "purged": self.purged,
                "digestsScheduled": self.digests_scheduled, "skipped": self.skipped}


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
        for account_id in batch:
            reconcile_account(ctx, account_id, now, summary)
            summary.accounts_checked += 1
            if only_account is None:
                checkpoint = account_id
    finally:
        ctx.lease.release(lease, checkpoint, now)
    log.info("reconcile summary %s", summary.as_dict())
    return summary


def reconcile_account(ctx: ReconcileContext, account_id: str, now: datetime, summary: Summary) -> None:
    pending = ctx.retry.pending.pending(account_id)
    for work in pending:
        if work.created < now - ctx.stale_after:
            ctx.retry.queue.enqueue(work.retry_job(account_id, "no progress: re-enqueued by the reconcile timer"))
            summary.reenqueued += 1
            telemetry.reenqueued_counter.add(1, {telemetry.KIND: work.kind})
    snapshot = ctx.drift.snapshot(account_id)
    summary.entities_checked += snapshot.entities
    _repair(ctx, account_id, snapshot, pending, now, summary)
    summary.purged += ctx.retry.failures.purge_reported(account_id, now - ctx.retention)
    summary.purged += ctx.activity.purge(account_id, now - ctx.retention)
    state = ctx.retry.failures.state(account_id)
    if ctx.retry.failures.unreported(account_id) and not state.scheduled_digest:
        schedule_digest(ctx.retry, account_id, now)
        summary.digests_scheduled += 1


def _repair(ctx: ReconcileContext, account_id: str, snapshot: PartitionSnapshot, pending: list[PendingWork],
            now: datetime, summary: Summary) -> None:
    drift = ctx.drift
    purging_groups = {w.group_id for w in pending if w.kind == PURGE_GROUP}
    purging_users = {w.user_id for w in pending if w.kind == PURGE_USER}

    def fix(kind: str) -> None:
        summary.repaired[kind] += 1
        telemetry.repairs_counter.add(1, {telemetry.KIND: kind})
        log.warning("reconcile account %s: repaired %s", account_id, kind)

    for group_id, user_id in sorted(snapshot.forward):
        if group_id in purging_groups or user_id in purging_users:
            continue  # recorded work removes these; let it
        user_gone = user_id not in snapshot.users and not drift.exists(account_id, f"u:{user_id}")
        group_gone = group_id not in snapshot.groups and not drift.exists(account_id, f"g:{group_id}")
        if user_gone or group_gone:
            drift.delete(account_id, forward_key(group_id, user_id))
            drift.delete(account_id, reverse_key(user_id, group_id))
            fix("member whose user or group is gone")
        elif (user_id, group_id) not in snapshot.reverse and not drift.exists(account_id, reverse_key(user_id, group_id)):
            group_attributes, managed_by = snapshot.groups.get(group_id, ({}, "scim"))
            if drift.exists(account_id, forward_key(group_id, user_id)) and drift.create(
                    account_id, reverse_key(user_id, group_id),
                    {"Kind": "membership", "Display": group_attributes.get("displayName", ""), "Managed": managed_by}):
                fix("member without its reverse row")

    for user_id, group_id in sorted(snapshot.reverse):
        if group_id in purging_groups or user_id in purging_users:
            continue
        if (group_id, user_id) not in snapshot.forward and not drift.exists(account_id, forward_key(group_id, user_id)):
            drift.delete(account_id, reverse_key(user_id, group_id))
            fix("reverse row without its forward row")

    claims: dict[str, set[str]] = {}
    for user_id, attributes in snapshot.users.items():
        if isinstance(attributes.get("userName"), str):
            claims.setdefault(user_name_key(attributes["userName"]), set()).add(user_id)
        if isinstance(attributes.get("externalId"), str):
            claims.setdefault(external_id_prefix(attributes["externalId"]) + user_id, set()).add(user_id)
    for group_id, (attributes, managed_by) in snapshot.groups.items():
        if managed_by == "scim" and isinstance(attributes.get("displayName"), str):
            claims.setdefault(display_name_key(attributes["displayName"]), set()).add(group_id)
        if isinstance(attributes.get("externalId"), str):
            claims.setdefault(group_external_prefix(attributes["externalId"]) + group_id, set()).add(group_id)

    for row_key, target in sorted(snapshot.index_rows.items()):
        if target in claims.get(row_key, ()):
            continue
        current = drift.get(account_id, row_key)
        if current is None:
            continue
        owner = current.get("UserId") or current.get("GroupId")
        prefix = "u:" if "UserId" in current else "g:"
        if _still_stale(ctx, account_id, row_key, owner, prefix):
            drift.delete(account_id, row_key)
            fix("index row pointing at a deleted or renamed resource")

    for row_key, owners in sorted(claims.items()):
        prefix = "u:" if row_key.startswith(("un:", "ux:")) else "g:"
        column = "UserId" if prefix == "u:" else "GroupId"
        if len(owners) > 1:
            _report_conflict(ctx, account_id, row_key, sorted(owners), prefix, now, summary)
            continue
        [owner] = owners
        if row_key in snapshot.index_rows or drift.get(account_id, prefix + owner) is None:
            continue  # present, or the resource was deleted meanwhile
        if drift.create(account_id, row_key, {column: owner}):
            fix("resource without its index row")
            continue
        holder = drift.get(account_id, row_key)
        if holder is not None and holder.get(column) != owner:
            _report_conflict(ctx, account_id, row_key, sorted({owner, holder.get(column)}), prefix, now, summary)


def _report_conflict(ctx: ReconcileContext, account_id: str, row_key: str, owners: list[str], prefix: str,
                     now: datetime, summary: Summary) -> None:
    """Two resources claim one unique name (outside damage): nothing can choose between them, so admins are told."""
    summary.unrepairable += 1
    record_failure(ctx.retry, account_id, Failure(
        job_id=f"reconcile-{row_key}", operation="reconcile", resource_type="User" if prefix == "u:" else "Group",
        resource_id=", ".join(owners), external_id="",
        last_error=f"{len(owners)} resources claim the same unique name ({row_key}): {', '.join(owners)}; "
                   "delete or rename all but one of them in Entra",
        attempts=1, first_attempt=now, last_attempt=now, invocation_id="", work_id="", source="reconcile"), now)


def _still_stale(ctx: ReconcileContext, account_id: str, row_key: str, owner: str, prefix: str) -> bool:
    """Re-reads the resource: its index row is stale only if it is gone or now names something else."""
    resource = ctx.drift.get(account_id, prefix + owner)
    if resource is None:
        return True
    from shared.storage.entities import unpack

    attributes = unpack(resource)
    if prefix == "u:":
        wanted = {user_name_key(attributes.get("userName", ""))}
        if isinstance(attributes.get("externalId"), str):
            wanted.add(external_id_prefix(attributes["externalId"]) + owner)
    else:
        wanted = {display_name_key(attributes.get("displayName", ""))} if resource.get("ManagedBy", "scim") == "scim" else set()
        if isinstance(attributes.get("externalId"), str):
            wanted.add(group_external_prefix(attributes["externalId"]) + owner)
    return row_key not in wanted
