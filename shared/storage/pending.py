"""Pending work: the durable record of a change too large for one entity group transaction.

The record is written in the change's first atomic step (the same transaction that changes the group or user
row), then the work is carried out in batches and the record deleted with the last one. `run` carries it out, from
wherever it is called (the request itself, a later write to the same group, the retry queue, reconcile), and
this module only reports what happened: deciding whether to queue or to answer 503 is the domain's
(`shared/domain/work.py`).

**Fencing.** Every batch is one transaction whose first operation is a conditional merge of the work's header row
on the ETag its executor last saw; the last transaction deletes the header. So the batches of one piece of work
form a single chain, and an executor that fell behind (a redelivered retry, a slow instance) fails its next
transaction instead of applying a stale batch after the work was finished: it re-reads and continues, or finds the
header gone. A group whose change is recorded carries the work id in its row (`Pending`); every later write to the
group finishes that work first (`shared/domain/groups.py`), so changes apply in the order they were acknowledged.

    op:<work id>          header: Kind "work", WorkKind, GroupId / UserId, Display, RefreshDisplay, Created, Tally
                          (the group's member count kind: its changes count there; a purge deletes it)
    op:<work id>:c:<n>    for membership changes: the members to add and remove, 500 per row
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shared import invocation
from shared.domain.stored import MEMBERS, PURGE_GROUP, PURGE_USER, PendingWork
from shared.errors import ServiceUnavailable
from shared.storage.counts import Tally
from shared.storage.entities import pack, unpack
from shared.storage.keys import group_key, rows_with_prefix, upper_bound
from shared.storage.memberships import (
    Memberships,
    Unit,
    add_unit,
    remove_unit,
    reverse_key,
    submit_units,
    take,
)
from shared.storage.transactions import (
    MAX_TRANSACTION_OPERATIONS,
    TransactionFailed,
    storage_errors,
    submit,
    submit_tolerating_missing,
)

log = logging.getLogger("scim.storage")
_T = TypeVar("_T")

WORK = "op:"
CHUNK = ":c:"
MEMBERSHIPS_PER_CHUNK_ROW = 500
MAX_FENCE_RETRIES = 50
"""How often an executor re-reads after losing a step to another executor of the same work before giving up."""

def header_key(work_id: str) -> str:
    return WORK + work_id


class _Superseded(Exception):
    """Another executor advanced or finished the work since this one read its header."""


@dataclass
class _Fence:
    """The header row's ETag as this executor last saw it; each step moves it on."""

    account_id: str
    work_id: str
    etag: str

    def step(self) -> tuple[Any, ...]:
        from azure.core import MatchConditions

        return ("update", {"PartitionKey": self.account_id, "RowKey": header_key(self.work_id), "Kind": "work"},
                {"mode": "merge", "etag": self.etag, "match_condition": MatchConditions.IfNotModified})

    def last(self) -> tuple[Any, ...]:
        from azure.core import MatchConditions

        return ("delete", {"PartitionKey": self.account_id, "RowKey": header_key(self.work_id)},
                {"etag": self.etag, "match_condition": MatchConditions.IfNotModified})

    def submit(self, table: Any, head: list[tuple[Any, ...]], units: list[Unit], last: bool = False) -> list[str]:
        """One fenced transaction: the step on the header (its deletion if `last`), `head`, and `units`; returns
        the ignored member ids."""
        first = self.last() if last else self.step()
        ignored, results = _fenced(lambda: submit_units(table, [first, *head], units))
        if not last:
            self.etag = results[0]["etag"]
        return ignored

    def submit_updates(self, table: Any, updates: list[tuple[Any, ...]]) -> None:
        """One fenced transaction of updates whose rows may be gone (dropped: absent is fine for them)."""
        results = _fenced(lambda: submit_tolerating_missing(table, [self.step(), *updates]))
        self.etag = results[0]["etag"]


def _fenced(transaction: Callable[[], _T]) -> _T:
    """Runs a fenced transaction; its first operation (the fence) refused becomes _Superseded."""
    try:
        return transaction()
    except TransactionFailed as failed:
        if failed.index == 0:
            raise _Superseded() from None
        raise


class PendingWorkStore:
    def __init__(self, memberships: Memberships) -> None:
        self._memberships = memberships

    @property
    def _table(self) -> Any:
        return self._memberships.table

    def record(self, account_id: str, kind: str, now: datetime, *, group_id: str | None = None,
               user_id: str | None = None, display: str | None = None, external_id: str | None = None,
               adds: list[tuple[str, str | None]] | None = None, removes: list[str] | None = None,
               refresh_display: bool = False, tally: str | None = None) -> tuple[PendingWork, list[tuple[Any, ...]]]:
        """The new work and the `create` operations that record it, for the caller's first transaction. The
        record names the request (operation, invocation id) so a failure report can point an admin to it."""
        work_id = f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}"
        caller = invocation.current()
        header: dict[str, Any] = {"PartitionKey": account_id, "RowKey": header_key(work_id), "Kind": "work",
                                  "WorkKind": kind, "Created": now, "Operation": caller.operation,
                                  "InvocationId": caller.invocation_id, "RefreshDisplay": refresh_display}
        for name, value in (("GroupId", group_id), ("UserId", user_id), ("Display", display), ("ExternalId", external_id),
                            ("Tally", tally)):
            if value is not None:
                header[name] = value
        operations: list[tuple[Any, ...]] = [("create", header)]
        changes = [("add", a) for a in adds or []] + [("remove", r) for r in removes or []]
        for index, start in enumerate(range(0, len(changes), MEMBERSHIPS_PER_CHUNK_ROW)):
            chunk = changes[start:start + MEMBERSHIPS_PER_CHUNK_ROW]
            document = {"add": [list(v) for k, v in chunk if k == "add"], "remove": [v for k, v in chunk if k == "remove"]}
            operations.append(("create", {"PartitionKey": account_id, "RowKey": f"{header_key(work_id)}{CHUNK}{index:05d}",
                                          "Kind": "workchunk", **pack(document)}))
        work = PendingWork(work_id, kind, now, group_id, user_id, display, caller.operation, external_id or "",
                           caller.invocation_id, refresh_display, tally)
        return work, operations

    @storage_errors
    def get(self, account_id: str, work_id: str) -> PendingWork | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _work(self._table.get_entity(account_id, header_key(work_id)))
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
        account); None when there was nothing left to do. Returns only once the work is finished, by this
        executor or another; raises ServiceUnavailable when storage fails on the way (the record stays)."""
        from azure.core.exceptions import ResourceNotFoundError

        ignored: list[str] = []
        for _ in range(MAX_FENCE_RETRIES):
            try:
                row = self._table.get_entity(account_id, header_key(work_id))
            except ResourceNotFoundError:
                return ignored or None
            fence = _Fence(account_id, work_id, row.metadata["etag"])
            try:
                ignored += self._carry_out(account_id, _work(row), fence)
                return ignored
            except _Superseded:
                continue  # another executor moved the work on: re-read where it stands
        raise ServiceUnavailable("Recorded work is being completed by other instances; retry.", retry_after_seconds=5)

    def _carry_out(self, account_id: str, work: PendingWork, fence: _Fence) -> list[str]:
        ignored: list[str] = []
        last: list[tuple[Any, ...]] = []
        if work.kind == MEMBERS:
            last = [_clear_pending(account_id, str(work.group_id))]
            ignored, finished = self._apply_member_chunks(account_id, work, fence, None if work.refresh_display else last)
            if finished:
                return ignored
            if work.refresh_display:
                self._refresh_display(account_id, work, fence)
        elif work.kind == PURGE_GROUP:  # the group is gone: its members are not counted, its count is deleted
            self._purge(account_id, fence, lambda: self._group_member_pairs(account_id, str(work.group_id)))
            if work.tally:
                Tally(lambda: self._table).forget(account_id, work.tally)
            last = [("delete", {"PartitionKey": account_id, "RowKey": group_key(str(work.group_id))})]  # its tombstone
        elif work.kind == PURGE_USER:
            self._purge(account_id, fence, lambda: self._user_group_pairs(account_id, str(work.user_id)))
        self._finish(fence, last)
        return ignored

    def _finish(self, fence: _Fence, last: list[tuple[Any, ...]]) -> None:
        """Deletes the header (fenced) together with `last`; `last` is dropped if its row is already gone."""
        try:
            _fenced(lambda: submit(self._table, [fence.last(), *last]))
        except TransactionFailed as failed:
            if failed.error_code != "ResourceNotFound":
                raise
            log.warning("work %s: the resource it finishes is gone; deleting the record alone", fence.work_id)
            self._finish(fence, [])

    def _apply_member_chunks(self, account_id: str, work: PendingWork, fence: _Fence,
                             last: list[tuple[Any, ...]] | None) -> tuple[list[str], bool]:
        """Applies the recorded member changes; with `last`, the final batch also finishes the work (deletes the
        header, with `last`). Returns the ignored member ids and whether the work was finished.

        The first batch refused for a member who is no user sets off one existence check of every member still to
        add (`Memberships.missing_users`); later batches leave those out, so a thousand unknown ids cost one refused
        transaction and one check, not one refusal per batch."""
        prefix = header_key(work.id) + CHUNK
        chunk_rows = list(rows_with_prefix(self._table, account_id, prefix))
        documents = [unpack(row) for row in chunk_rows]
        group_id, display = str(work.group_id), str(work.display or "")
        ignored: list[str] = []
        missing: set[str] | None = None
        finished = False
        for position, (row, document) in enumerate(zip(chunk_rows, documents, strict=True)):
            units = [add_unit(account_id, group_id, display, user_id, shown, tally=work.tally)
                     for user_id, shown in document["add"]]
            units += [remove_unit(account_id, group_id, user_id, work.tally) for user_id in document["remove"]]
            while True:
                if missing:
                    ignored += [unit.user_id for unit in units if unit.adding and unit.user_id in missing]
                    units = [unit for unit in units if not (unit.adding and unit.user_id in missing)]
                batch, units = take(units, MAX_TRANSACTION_OPERATIONS - 3)
                # the chunk row goes with its last batch: a chunk is either pending in full or done
                head = [] if units else [("delete", {"PartitionKey": account_id, "RowKey": row["RowKey"]})]
                finishing = last is not None and position == len(chunk_rows) - 1 and not units
                refused, finished = self._submit_batch(fence, head, batch, last if finishing else None)
                ignored += refused
                if refused and missing is None:
                    to_add = [unit.user_id for unit in units if unit.adding]
                    to_add += [user_id for later in documents[position + 1:] for user_id, _ in later["add"]]
                    missing = self._memberships.missing_users(account_id, to_add)
                if not units:
                    break
        return ignored, finished

    def _submit_batch(self, fence: _Fence, head: list[tuple[Any, ...]], batch: list[Unit],
                      last: list[tuple[Any, ...]] | None) -> tuple[list[str], bool]:
        """One fenced batch, which with `last` also finishes the work: its ignored member ids and whether it did
        finish (not if the group row is gone: the batch is then applied alone, and `_finish` ends the work)."""
        if last is None:
            return fence.submit(self._table, head, batch), False
        try:
            return fence.submit(self._table, head + last, batch, last=True), True
        except TransactionFailed as failed:
            if failed.error_code != "ResourceNotFound":
                raise
        return fence.submit(self._table, head, batch), False

    def _group_member_pairs(self, account_id: str, group_id: str) -> Iterator[tuple[str, str, str | None]]:
        for user_id, _ in self._memberships.members(account_id, group_id):
            yield group_id, user_id, None

    def _user_group_pairs(self, account_id: str, user_id: str) -> Iterator[tuple[str, str, str | None]]:
        for group_id, tally in self._memberships.groups_of(account_id, user_id):
            yield group_id, user_id, tally

    def _purge(self, account_id: str, fence: _Fence,
               remaining: Callable[[], Iterator[tuple[str, str, str | None]]]) -> None:
        """Deletes both rows of every membership `remaining()` yields (group, user, the group's count kind or None
        when it is not to be counted), a transaction at a time, re-reading until none is left (so a retry after an
        interruption simply continues)."""
        per_batch = (MAX_TRANSACTION_OPERATIONS - 1) // 2
        while True:
            units = [remove_unit(account_id, group_id, user_id, tally)
                     for _, (group_id, user_id, tally) in zip(range(per_batch), remaining(), strict=False)]
            if not units:
                return
            while units:
                batch, units = take(units, MAX_TRANSACTION_OPERATIONS - 1)
                fence.submit(self._table, [], batch)

    def _refresh_display(self, account_id: str, work: PendingWork, fence: _Fence) -> None:
        group_id = str(work.group_id)
        members = [user_id for user_id, _ in self._memberships.members(account_id, group_id)]
        per_batch = MAX_TRANSACTION_OPERATIONS - 1
        for start in range(0, len(members), per_batch):
            # update (not upsert): a member removed meanwhile must not get its reverse row back
            fence.submit_updates(self._table, [
                ("update", {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id),
                            "Display": work.display or ""}, {"mode": "merge"})
                for user_id in members[start:start + per_batch]])


def _clear_pending(account_id: str, group_id: str) -> tuple[Any, ...]:
    return ("update", {"PartitionKey": account_id, "RowKey": group_key(group_id), "Pending": ""}, {"mode": "merge"})


def _work(row: Any) -> PendingWork:
    legacy_refresh = row["WorkKind"] == "refresh_display"  # recorded before renames became part of a group's work
    return PendingWork(id=row["RowKey"][len(WORK):], kind=MEMBERS if legacy_refresh else row["WorkKind"],
                       created=row["Created"],
                       group_id=row.get("GroupId"), user_id=row.get("UserId"), display=row.get("Display"),
                       operation=row.get("Operation", ""), external_id=row.get("ExternalId", ""),
                       invocation_id=row.get("InvocationId", ""),
                       refresh_display=legacy_refresh or bool(row.get("RefreshDisplay")), tally=row.get("Tally") or None)
