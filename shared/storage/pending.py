"""Pending work: the durable record of a change too large for one entity group transaction.

The record is written in the change's first atomic step (the same transaction that changes the group or user
row), then the work is carried out in batches and the record deleted with the last one. If anything interrupts
it, the record stays: `run` completes it later, idempotently (upserts, deletes of what still exists, and purges
that re-read what is left), however often it is called.

    op:<work id>          header: Kind "work", WorkKind, GroupId / UserId, Display, Created
    op:<work id>:c:<n>    for membership changes: the members to add and remove, 500 per row
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared import invocation, telemetry
from shared.domain.jobs import RetryWork
from shared.errors import ServiceUnavailable
from shared.storage.entities import pack, unpack
from shared.storage.keys import rows_with_prefix, upper_bound
from shared.storage.memberships import (
    Memberships,
    add_unit,
    batches,
    remove_unit,
    reverse_key,
    submit_units,
)
from shared.storage.queues import RetryQueue
from shared.storage.transactions import MAX_TRANSACTION_OPERATIONS, storage_errors, submit_tolerating_missing

log = logging.getLogger("scim.storage")

WORK = "op:"
CHUNK = ":c:"
MEMBERSHIPS_PER_CHUNK_ROW = 500

MEMBERS = "members"
PURGE_GROUP = "purge_group"
PURGE_USER = "purge_user"
REFRESH_DISPLAY = "refresh_display"


RESOURCE_TYPES = {MEMBERS: "Group", PURGE_GROUP: "Group", REFRESH_DISPLAY: "Group", PURGE_USER: "User"}


@dataclass(frozen=True)
class PendingWork:
    id: str
    kind: str
    created: datetime
    group_id: str | None = None
    user_id: str | None = None
    display: str | None = None
    operation: str = ""
    external_id: str = ""
    invocation_id: str = ""

    @property
    def resource_type(self) -> str:
        return RESOURCE_TYPES.get(self.kind, "")

    @property
    def resource_id(self) -> str:
        return self.group_id or self.user_id or ""

    def retry_job(self, account_id: str, last_error: str) -> RetryWork:
        return RetryWork(account_id=account_id, work_id=self.id, operation=self.operation,
                         resource_type=self.resource_type, resource_id=self.resource_id, external_id=self.external_id,
                         invocation_id=self.invocation_id, last_error=last_error,
                         notify_to=invocation.current().notify_to, queued_at=self.created.isoformat())


def _header_key(work_id: str) -> str:
    return WORK + work_id


class PendingWorkStore:
    def __init__(self, memberships: Memberships, retry_queue: RetryQueue | None = None) -> None:
        self._memberships = memberships
        self._retry_queue = retry_queue

    @property
    def _table(self) -> Any:
        return self._memberships.table

    def record(self, account_id: str, kind: str, now: datetime, *, group_id: str | None = None,
               user_id: str | None = None, display: str | None = None, external_id: str | None = None,
               adds: list[tuple[str, str | None]] | None = None,
               removes: list[str] | None = None) -> tuple[PendingWork, list[tuple[Any, ...]]]:
        """The new work and the `create` operations that record it, for the caller's first transaction. The
        record names the request (operation, invocation id) so a failure report can point an admin to it."""
        work_id = f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        caller = invocation.current()
        header: dict[str, Any] = {"PartitionKey": account_id, "RowKey": _header_key(work_id), "Kind": "work",
                                  "WorkKind": kind, "Created": now, "Operation": caller.operation,
                                  "InvocationId": caller.invocation_id}
        for name, value in (("GroupId", group_id), ("UserId", user_id), ("Display", display), ("ExternalId", external_id)):
            if value is not None:
                header[name] = value
        operations: list[tuple[Any, ...]] = [("create", header)]
        changes = [("add", a) for a in adds or []] + [("remove", r) for r in removes or []]
        for index, start in enumerate(range(0, len(changes), MEMBERSHIPS_PER_CHUNK_ROW)):
            chunk = changes[start:start + MEMBERSHIPS_PER_CHUNK_ROW]
            document = {"add": [list(v) for k, v in chunk if k == "add"], "remove": [v for k, v in chunk if k == "remove"]}
            operations.append(("create", {"PartitionKey": account_id, "RowKey": f"{_header_key(work_id)}{CHUNK}{index:05d}",
                                          "Kind": "workchunk", **pack(document)}))
        work = PendingWork(work_id, kind, now, group_id, user_id, display, caller.operation, external_id or "",
                           caller.invocation_id)
        return work, operations

    def finish(self, account_id: str, work: PendingWork) -> list[str]:
        """Runs recorded work inline; if storage fails part-way, the work goes onto the retry queue and the request
        still succeeds (its effect is durable: recorded, and queued). If even the queue cannot be reached, the record
        stays and the reconcile timer re-enqueues it. Returns the member ids the work ignored."""
        try:
            return self.run(account_id, work.id) or []
        except ServiceUnavailable as failure:
            if self._retry_queue is None:
                raise
            log.warning("work %s of account %s interrupted (%s); queueing it for retry", work.id, account_id, failure.detail)
            try:
                self._retry_queue.enqueue(work.retry_job(account_id, failure.detail))
                invocation.mark_queued()
                telemetry.queued_counter.add(1, {telemetry.KIND: work.kind})
            except Exception:
                log.exception("could not queue work %s of account %s; the reconcile timer will", work.id, account_id)
            return []

    @storage_errors
    def get(self, account_id: str, work_id: str) -> PendingWork | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _work(self._table.get_entity(account_id, _header_key(work_id)))
        except ResourceNotFoundError:
            return None

    @storage_errors
    def pending(self, account_id: str) -> list[PendingWork]:
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and Kind eq @kind",
            parameters={"pk": account_id, "lo": WORK, "hi": upper_bound(WORK), "kind": "work"})
        return [_work(row) for row in rows]

    @storage_errors
    def run(self, account_id: str, work_id: str) -> list[str] | None:
        """Completes the work if it is still pending and returns the member ids it ignored (not users of the
        account); None when there was nothing left to do."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            work = _work(self._table.get_entity(account_id, _header_key(work_id)))
        except ResourceNotFoundError:
            return None
        ignored: list[str] = []
        if work.kind == MEMBERS:
            ignored = self._apply_member_chunks(account_id, work)
        elif work.kind == PURGE_GROUP:
            self._purge(account_id, work, lambda: self._group_member_pairs(account_id, str(work.group_id)))
        elif work.kind == PURGE_USER:
            self._purge(account_id, work, lambda: self._user_group_pairs(account_id, str(work.user_id)))
        elif work.kind == REFRESH_DISPLAY:
            self._refresh_display(account_id, work)
        self._table.delete_entity(account_id, _header_key(work.id))
        return ignored

    def _apply_member_chunks(self, account_id: str, work: PendingWork) -> list[str]:
        prefix = _header_key(work.id) + CHUNK
        chunk_rows = list(rows_with_prefix(self._table, account_id, prefix))
        group_id, display = str(work.group_id), str(work.display or "")
        ignored: list[str] = []
        for row in chunk_rows:
            document = unpack(row)
            units = [add_unit(account_id, group_id, display, user_id, shown) for user_id, shown in document["add"]]
            units += [remove_unit(account_id, group_id, user_id) for user_id in document["remove"]]
            planned = list(batches(units, MAX_TRANSACTION_OPERATIONS - 1)) or [[]]
            for number, batch in enumerate(planned):
                # the chunk row goes with its last batch: a chunk is either pending in full or done
                head = [("delete", {"PartitionKey": account_id, "RowKey": row["RowKey"]})] if number == len(planned) - 1 else []
                ignored += submit_units(self._table, head, batch)
        return ignored

    def _group_member_pairs(self, account_id: str, group_id: str) -> Iterator[tuple[str, str]]:
        for user_id, _ in self._memberships.members(account_id, group_id):
            yield group_id, user_id

    def _user_group_pairs(self, account_id: str, user_id: str) -> Iterator[tuple[str, str]]:
        for group_id in self._memberships.groups_of(account_id, user_id):
            yield group_id, user_id

    def _purge(self, account_id: str, work: PendingWork, remaining: Any) -> None:
        """Deletes both rows of every membership `remaining()` yields, a transaction at a time, re-reading until
        none is left (so a retry after an interruption simply continues)."""
        per_batch = MAX_TRANSACTION_OPERATIONS // 2
        while True:
            pairs = [pair for _, pair in zip(range(per_batch), remaining(), strict=False)]
            if not pairs:
                return
            submit_units(self._table, [], [remove_unit(account_id, group_id, user_id) for group_id, user_id in pairs])

    def _refresh_display(self, account_id: str, work: PendingWork) -> None:
        group_id = str(work.group_id)
        members = [user_id for user_id, _ in self._memberships.members(account_id, group_id)]
        for start in range(0, len(members), MAX_TRANSACTION_OPERATIONS):
            chunk = members[start:start + MAX_TRANSACTION_OPERATIONS]
            # update (not upsert): a member removed meanwhile must not get its reverse row back
            submit_tolerating_missing(self._table, [
                ("update", {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id),
                            "Display": work.display or ""}, {"mode": "merge"}) for user_id in chunk], guarded=0)


def _work(row: Any) -> PendingWork:
    return PendingWork(id=row["RowKey"][len(WORK):], kind=row["WorkKind"], created=row["Created"],
                       group_id=row.get("GroupId"), user_id=row.get("UserId"), display=row.get("Display"),
                       operation=row.get("Operation", ""), external_id=row.get("ExternalId", ""),
                       invocation_id=row.get("InvocationId", ""))
