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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from shared.storage.keys import rows_with_prefix
from shared.storage.transactions import MAX_TRANSACTION_OPERATIONS, TransactionFailed, submit

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
