"""Exact counts of an account's users and groups without reading them: a tally and its deltas.

    cnt:<kind>                              the tally: Count, the number folded in so far
    cnt:<kind>:<id>:<created>:<+|->         one delta: the resource `id` created at `created` came (+) or went (-)

A delta row is written in the same entity group transaction as the create or delete it counts (`delta`), so a
count can never disagree with the rows it counts, whatever storage cut or instance crash comes between two writes,
and writers never contend: each delta has a key of its own (one resource instance is created once and deleted once),
so counting adds one operation to a transaction and no round trip. The total is the tally plus the deltas, read with
one range query (`Tally.total`); whoever reads folds up to `FOLD_SLICES` transactions of deltas into the tally, each
conditioned on the tally's ETag and deleting the deltas it adds (atomic: a delta is folded exactly once), and the
reconcile pass folds the rest, so the deltas read per count stay few.

An account written before counting began has no tally: the first read establishes it from one projected scan. The
legacy instances are those the scan saw, or a `-` delta names, that no `+` delta names (the deltas are read after the
scan, and none are folded before the tally exists, so none is missed); the tally is created with their number, and
a second establisher racing it loses the insert and reads the winner's.

A group's members are counted the same way under the kind `m.<group id>.<created>` (`member_kind`: the group's
instance, so a group deleted and created again starts from zero): the tally is created with the group, and each
transaction that adds or removes members carries one delta row with the number it really applied
(shared/storage/memberships.py). Group ids never hold `.` or `:`, so no member kind is a prefix of another.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from shared.storage.keys import rows_with_prefix, upper_bound
from shared.storage.transactions import (
    MAX_TRANSACTION_OPERATIONS,
    TransactionFailed,
    submit,
    submit_tolerating_missing,
)

log = logging.getLogger("scim.storage")

COUNT = "cnt:"
USERS = "users"
SCIM_GROUPS = "scimgroups"
NATIVE_GROUPS = "nativegroups"
"""The kinds counted. No kind's name is a prefix of another's, so `cnt:<kind>` ranges do not overlap."""
FOLD_SLICES = 10
"""Transactions a reader spends folding deltas at most (990 deltas); the reconcile pass folds without a bound."""
FOLD_WHEN_MORE_THAN = 100


def tally_key(kind: str) -> str:
    return f"{COUNT}{kind}"


MEMBERS_KIND = "m."


def member_kind(group_id: str, created: datetime) -> str:
    return f"{MEMBERS_KIND}{group_id}.{_instant(created)}"


def change(account_id: str, kind: str, amount: int) -> tuple[Any, ...]:
    """A delta of `amount` under a key of its own, for the transaction that makes the change it counts."""
    return ("create", {"PartitionKey": account_id, "RowKey": f"{tally_key(kind)}:{uuid.uuid4().hex}", "Kind": "delta",
                       "Delta": amount})


def new_tally(account_id: str, kind: str) -> tuple[Any, ...]:
    """The operation that starts a count at zero, in the transaction that creates what it counts."""
    return ("create", {"PartitionKey": account_id, "RowKey": tally_key(kind), "Kind": "tally", "Count": 0})


def _instant(created: datetime) -> str:
    return created.strftime("%Y%m%dT%H%M%S%f")


def delta(account_id: str, kind: str, resource_id: str, created: datetime, sign: int) -> tuple[Any, ...]:
    """The operation that counts a create (`sign` 1) or delete (-1), for the transaction that makes it."""
    key = f"{tally_key(kind)}:{resource_id}:{_instant(created)}:{'+' if sign > 0 else '-'}"
    return ("upsert", {"PartitionKey": account_id, "RowKey": key, "Kind": "delta", "Delta": sign}, {"mode": "replace"})


Instances = Callable[[], Iterable[tuple[str, datetime]]]
"""The (id, created) of every counted resource of the account now: the projected scan that establishes a tally."""


class Tally:
    def __init__(self, table: Callable[[], Any]) -> None:
        self._table = table

    def total(self, account_id: str, kind: str, instances: Instances) -> int:
        tally, deltas = self._read(account_id, kind)
        if tally is None:
            return self._establish(account_id, kind, instances)
        total = int(tally["Count"]) + sum(int(d["Delta"]) for d in deltas)
        if len(deltas) > FOLD_WHEN_MORE_THAN:
            self._fold(tally, deltas, FOLD_SLICES)
        return total

    def counted(self, account_id: str, kind: str) -> int | None:
        """The count of a kind whose tally was created with what it counts; None if there is no tally."""
        tally, deltas = self._read(account_id, kind)
        if tally is None:
            return None
        if len(deltas) > FOLD_WHEN_MORE_THAN:
            self._fold(tally, deltas, FOLD_SLICES)
        return int(tally["Count"]) + sum(int(d["Delta"]) for d in deltas)

    def counted_many(self, account_id: str, kinds: list[str]) -> dict[str, int]:
        """The counts of several kinds with one range read from the lowest tally to the highest (rows of kinds in
        between are read and dropped: for a page of groups in id order, their neighbours); kinds without a tally
        are left out."""
        if not kinds:
            return {}
        wanted = set(kinds)
        rows = self._table().query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": account_id, "lo": tally_key(min(kinds)), "hi": upper_bound(tally_key(max(kinds)) + ":")},
            select=["RowKey", "Count", "Delta"], results_per_page=1000)
        tallies: dict[str, int] = {}
        deltas: dict[str, int] = {}
        for row in rows:
            kind, _, rest = str(row["RowKey"])[len(COUNT):].partition(":")
            if kind not in wanted:
                continue
            if rest:
                deltas[kind] = deltas.get(kind, 0) + int(row.get("Delta") or 0)
            else:
                tallies[kind] = int(row.get("Count") or 0)
        return {kind: count + deltas.get(kind, 0) for kind, count in tallies.items()}

    def member_kinds_to_fold(self, account_id: str) -> list[str]:
        """The groups' member kinds with more than FOLD_WHEN_MORE_THAN deltas: one key-only read of the member
        count rows (a tally per group and the deltas not yet folded)."""
        deltas: dict[str, int] = {}
        for row in rows_with_prefix(self._table(), account_id, tally_key(MEMBERS_KIND), select=["RowKey"],
                                    results_per_page=1000):
            kind, _, rest = str(row["RowKey"])[len(COUNT):].partition(":")
            if rest:
                deltas[kind] = deltas.get(kind, 0) + 1
        return [kind for kind, number in deltas.items() if number > FOLD_WHEN_MORE_THAN]

    def forget(self, account_id: str, kind: str) -> None:
        """Deletes the kind's tally and deltas (what it counted is gone)."""
        keys = [row["RowKey"] for row in rows_with_prefix(self._table(), account_id, tally_key(kind),
                                                          select=["RowKey"], results_per_page=1000)]
        for start in range(0, len(keys), MAX_TRANSACTION_OPERATIONS):
            submit_tolerating_missing(self._table(), [("delete", {"PartitionKey": account_id, "RowKey": key})
                                                      for key in keys[start:start + MAX_TRANSACTION_OPERATIONS]],
                                      guarded=0)

    def fold(self, account_id: str, kind: str) -> int:
        """Folds every delta into the tally (the reconcile pass); returns how many were folded."""
        tally, deltas = self._read(account_id, kind)
        return self._fold(tally, deltas, len(deltas) // (MAX_TRANSACTION_OPERATIONS - 1) + 1) if tally else 0

    def _read(self, account_id: str, kind: str) -> tuple[Any | None, list[Any]]:
        tally = None
        deltas = []
        for row in rows_with_prefix(self._table(), account_id, tally_key(kind), results_per_page=1000,
                                    select=["PartitionKey", "RowKey", "Count", "Delta"]):
            if row["RowKey"] == tally_key(kind):
                tally = row
            elif row["RowKey"].startswith(tally_key(kind) + ":"):
                deltas.append(row)
        return tally, deltas

    def _fold(self, tally: Any, deltas: list[Any], slices: int) -> int:
        from azure.core import MatchConditions

        folded = 0
        etag, count = tally.metadata["etag"], int(tally["Count"])
        batch = MAX_TRANSACTION_OPERATIONS - 1
        for start in range(0, min(len(deltas), slices * batch), batch):
            part = deltas[start:start + batch]
            count += sum(int(d["Delta"]) for d in part)
            operations: list[tuple[Any, ...]] = [
                ("update", {"PartitionKey": tally["PartitionKey"], "RowKey": tally["RowKey"], "Count": count},
                 {"mode": "merge", "etag": etag, "match_condition": MatchConditions.IfNotModified})]
            operations += [("delete", {"PartitionKey": d["PartitionKey"], "RowKey": d["RowKey"]},
                            {"etag": d.metadata["etag"], "match_condition": MatchConditions.IfNotModified})
                           for d in part]
            try:
                etag = submit(self._table(), operations)[0]["etag"]
            except TransactionFailed:
                return folded  # another reader folded meanwhile: nothing of this slice was applied
            folded += len(part)
        return folded

    def _establish(self, account_id: str, kind: str, instances: Instances) -> int:
        from azure.core.exceptions import ResourceExistsError

        seen = set(instances())
        _, deltas = self._read(account_id, kind)
        came = {_instance(d["RowKey"]) for d in deltas if int(d["Delta"]) > 0}
        went = {_instance(d["RowKey"]) for d in deltas if int(d["Delta"]) < 0}
        legacy = {(i, _instant(c)) for i, c in seen} | went
        legacy -= came
        try:
            self._table().create_entity({"PartitionKey": account_id, "RowKey": tally_key(kind), "Kind": "tally",
                                         "Count": len(legacy)})
        except ResourceExistsError:
            return self.total(account_id, kind, instances)
        log.info("count of %s established for account %s: %d before counting began", kind, account_id, len(legacy))
        return len(legacy) + len(came) - len(went)


def _instance(delta_key: str) -> tuple[str, str]:
    _, _, resource_id, created, _ = delta_key.rsplit(":", 4)
    return resource_id, created
