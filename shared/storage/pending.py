"""Pending work: the durable record of a change too large for one entity group transaction.

The record is written in the change's first atomic step (the same transaction that changes the group or user
row), then the work is carried out in batches and the record deleted with the last one. If anything interrupts
it, the record stays: `run` completes it later, idempotently (upserts, deletes of what still exists, and purges
that re-read what is left), however often it is called.

    op:<work id>          header: Kind "work", WorkKind, GroupId / UserId, Display, Created
    op:<work id>:c:<n>    for membership changes: the members to add and remove, 500 per row
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.storage.entities import pack, unpack
from shared.storage.keys import upper_bound
from shared.storage.memberships import (
    BATCH_MEMBERSHIPS,
    Memberships,
    add_operations,
    chunked,
    remove_operations,
    reverse_key,
)
from shared.storage.transactions import storage_errors, submit_tolerating_missing

WORK = "op:"
CHUNK = ":c:"
MEMBERSHIPS_PER_CHUNK_ROW = 500

MEMBERS = "members"
PURGE_GROUP = "purge_group"
PURGE_USER = "purge_user"
REFRESH_DISPLAY = "refresh_display"


@dataclass(frozen=True)
class PendingWork:
    id: str
    kind: str
    created: datetime
    group_id: str | None = None
    user_id: str | None = None
    display: str | None = None


def _header_key(work_id: str) -> str:
    return WORK + work_id


class PendingWorkStore:
    def __init__(self, memberships: Memberships) -> None:
        self._memberships = memberships

    @property
    def _table(self) -> Any:
        return self._memberships.table

    def record(self, account_id: str, kind: str, now: datetime, *, group_id: str | None = None,
               user_id: str | None = None, display: str | None = None,
               adds: list[tuple[str, str | None]] | None = None,
               removes: list[str] | None = None) -> tuple[str, list[tuple[Any, ...]]]:
        """A new work id and the `create` operations that record it, for the caller's first transaction."""
        work_id = f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        header: dict[str, Any] = {"PartitionKey": account_id, "RowKey": _header_key(work_id), "Kind": "work",
                                  "WorkKind": kind, "Created": now}
        for name, value in (("GroupId", group_id), ("UserId", user_id), ("Display", display)):
            if value is not None:
                header[name] = value
        operations: list[tuple[Any, ...]] = [("create", header)]
        changes = [("add", a) for a in adds or []] + [("remove", r) for r in removes or []]
        for index, chunk in enumerate(chunked(changes, MEMBERSHIPS_PER_CHUNK_ROW)):
            document = {"add": [list(v) for k, v in chunk if k == "add"], "remove": [v for k, v in chunk if k == "remove"]}
            operations.append(("create", {"PartitionKey": account_id, "RowKey": f"{_header_key(work_id)}{CHUNK}{index:05d}",
                                          "Kind": "workchunk", **pack(document)}))
        return work_id, operations

    @storage_errors
    def pending(self, account_id: str) -> list[PendingWork]:
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and Kind eq @kind",
            parameters={"pk": account_id, "lo": WORK, "hi": upper_bound(WORK), "kind": "work"})
        return [_work(row) for row in rows]

    @storage_errors
    def run(self, account_id: str, work_id: str) -> bool:
        """Completes the work if it is still pending; False when there was nothing left to do."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            work = _work(self._table.get_entity(account_id, _header_key(work_id)))
        except ResourceNotFoundError:
            return False
        if work.kind == MEMBERS:
            self._apply_member_chunks(account_id, work)
        elif work.kind == PURGE_GROUP:
            self._purge(account_id, work, lambda: self._group_member_pairs(account_id, str(work.group_id)))
        elif work.kind == PURGE_USER:
            self._purge(account_id, work, lambda: self._user_group_pairs(account_id, str(work.user_id)))
        elif work.kind == REFRESH_DISPLAY:
            self._refresh_display(account_id, work)
        self._table.delete_entity(account_id, _header_key(work.id))
        return True

    def _apply_member_chunks(self, account_id: str, work: PendingWork) -> None:
        prefix = _header_key(work.id) + CHUNK
        chunk_rows = list(self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": account_id, "lo": prefix, "hi": upper_bound(prefix)}))
        group_id, display = str(work.group_id), str(work.display or "")
        for row in chunk_rows:
            document = unpack(row)
            present = self._memberships.existing_members(account_id, group_id, document["remove"])
            operations: list[tuple[Any, ...]] = []
            for user_id, member_display in document["add"]:
                operations += add_operations(account_id, group_id, display, user_id, member_display)
            for user_id in document["remove"]:
                if user_id in present:
                    operations += remove_operations(account_id, group_id, user_id)
            batches = list(chunked(operations, 2 * BATCH_MEMBERSHIPS)) or [[]]
            batches[-1] = [*batches[-1], ("delete", {"PartitionKey": account_id, "RowKey": row["RowKey"]})]
            for batch in batches:
                submit_tolerating_missing(self._table, batch, guarded=0)

    def _group_member_pairs(self, account_id: str, group_id: str) -> Iterator[tuple[str, str]]:
        for user_id, _ in self._memberships.members(account_id, group_id):
            yield group_id, user_id

    def _user_group_pairs(self, account_id: str, user_id: str) -> Iterator[tuple[str, str]]:
        for group_id in self._memberships.groups_of(account_id, user_id):
            yield group_id, user_id

    def _purge(self, account_id: str, work: PendingWork, remaining: Any) -> None:
        """Deletes both rows of every membership `remaining()` yields, a transaction at a time, re-reading until
        none is left (so a retry after an interruption simply continues)."""
        while True:
            batch = [pair for _, pair in zip(range(BATCH_MEMBERSHIPS), remaining(), strict=False)]
            if not batch:
                return
            operations = [op for group_id, user_id in batch for op in remove_operations(account_id, group_id, user_id)]
            submit_tolerating_missing(self._table, operations, guarded=0)

    def _refresh_display(self, account_id: str, work: PendingWork) -> None:
        group_id = str(work.group_id)
        members = [user_id for user_id, _ in self._memberships.members(account_id, group_id)]
        for chunk in chunked(members, 99):
            # update (not upsert): a member removed meanwhile must not get its reverse row back
            submit_tolerating_missing(self._table, [
                ("update", {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id),
                            "Display": work.display or ""}, {"mode": "merge"}) for user_id in chunk], guarded=0)


def _work(row: Any) -> PendingWork:
    return PendingWork(id=row["RowKey"][len(WORK):], kind=row["WorkKind"], created=row["Created"],
                       group_id=row.get("GroupId"), user_id=row.get("UserId"), display=row.get("Display"))
