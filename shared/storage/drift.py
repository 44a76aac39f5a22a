"""The reconcile pass's reads and repairs in one account's partition (the DriftStore port).

The scan is not a snapshot (other instances keep writing), so every repair is re-read right before it is made and
made conditionally on what was re-read: a membership row is deleted only at the ETag just seen, a reverse row is
restored in one transaction with a check of its member row's ETag, an index row is created only if absent and
deleted only at the ETag seen. A write made meanwhile by another instance therefore makes the repair fail, never
undoes it. Row keys (index rows included) are known here only; the domain sees ids and attributes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from shared.domain.repairs import IndexRepair, MembershipRows, NameClash, ResourceRows, Sweep
from shared.domain.search import group_terms, user_terms
from shared.storage.counts import COUNT, NATIVE_GROUPS, SCIM_GROUPS, USERS, Tally, change
from shared.storage.entities import unpack
from shared.storage.groups_table import DELETED, DISPLAY_NAME_INDEX, display_name_key
from shared.storage.groups_table import EXTERNAL_ID_INDEX as GROUP_EXTERNAL_INDEX
from shared.storage.groups_table import SEARCH_INDEX as GROUP_SEARCH_INDEX
from shared.storage.groups_table import external_id_prefix as group_external_prefix
from shared.storage.keys import GROUP, USER, group_key, search_key, upper_bound, user_key
from shared.storage.memberships import MEMBER, forward_key, reverse_key
from shared.storage.tables import RESOURCES, Tables
from shared.storage.transactions import TransactionFailed, storage_errors, submit
from shared.storage.users_table import EXTERNAL_ID_INDEX as USER_EXTERNAL_INDEX
from shared.storage.users_table import SEARCH_INDEX as USER_SEARCH_INDEX
from shared.storage.users_table import USER_NAME_INDEX, external_id_prefix, user_name_key

_IF_UNCHANGED = "IfNotModified"
SWEEP = "~sweep"
"""The account's sweep state (after every other row's key)."""
USER_INDEXES = (USER_NAME_INDEX, USER_EXTERNAL_INDEX, USER_SEARCH_INDEX)
GROUP_INDEXES = (DISPLAY_NAME_INDEX, GROUP_EXTERNAL_INDEX, GROUP_SEARCH_INDEX)


class TableDriftStore:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> Any:
        return self._tables.get(RESOURCES)

    @storage_errors
    def scan(self, account_id: str, bucket: int = 0, buckets: int = 1) -> ResourceRows:
        rows = ResourceRows(group_indexes=bucket == 0)
        entities = 0

        def mine(user_id: str) -> bool:
            return buckets == 1 or slice_of(user_id, buckets) == bucket

        for row in self._rows(account_id):
            entities += 1
            key: str = row["RowKey"]
            if key.startswith(USER):
                if ":g:" in key[len(USER):]:
                    user_id, group_id = key[len(USER):].split(":g:", 1)
                    if mine(user_id):
                        rows.reverse.add((user_id, group_id))
                elif mine(key[len(USER):]):
                    rows.users[key[len(USER):]] = unpack(row)
            elif key.startswith(MEMBER):
                group_id, user_id = key[len(MEMBER):].split(":", 1)
                if mine(user_id):
                    rows.forward.add((group_id, user_id))
            elif key.startswith(GROUP):
                if row.get("Kind") != DELETED:  # a deleted group whose purge is pending (recorded work finishes it)
                    rows.groups[key[len(GROUP):]] = (unpack(row), row.get("ManagedBy", "scim"))
            elif key.startswith(USER_INDEXES):
                if mine(row["UserId"]):
                    rows.index_rows[key] = row["UserId"]
            elif key.startswith(GROUP_INDEXES):
                if rows.group_indexes:
                    rows.index_rows[key] = row["GroupId"]
        return replace(rows, entities=entities)

    @storage_errors
    def sweep(self, account_id: str) -> Sweep | None:
        row = self._get(account_id, SWEEP)
        return _sweep(row) if row is not None else None

    @storage_errors
    def begin_sweep(self, account_id: str, buckets: int, now: datetime) -> Sweep:
        """The sweep row is written, then read back: its Timestamp, set by storage, marks the sweep's start."""
        self._table.upsert_entity({"PartitionKey": account_id, "RowKey": SWEEP, "Bucket": 0, "Buckets": buckets,
                                   "Started": now, "Marker": ""})
        row = self._get(account_id, SWEEP)
        assert row is not None
        marker = _server_time(row)
        self._table.update_entity({"PartitionKey": account_id, "RowKey": SWEEP, "Marker": marker}, mode=_merge())
        return Sweep(0, buckets, now, marker)

    @storage_errors
    def advance_sweep(self, account_id: str, sweep: Sweep) -> Sweep:
        self._table.update_entity({"PartitionKey": account_id, "RowKey": SWEEP, "Bucket": sweep.bucket + 1},
                                  mode=_merge())
        return replace(sweep, bucket=sweep.bucket + 1)

    @storage_errors
    def written_since(self, account_id: str, sweep: Sweep) -> bool:
        """One query on storage's own Timestamp (server side: it returns a row only if one changed), skipping the
        sweep row itself and the count rows the reconcile pass folds. A sweep whose start was never marked (its
        marking write failed) counts as written since."""
        if not sweep.marker:
            return True
        rows = self._table.query_entities(
            "PartitionKey eq @pk and Timestamp gt @since and RowKey ne @sweep and ( RowKey lt @cnt or RowKey ge @after )",
            parameters={"pk": account_id, "since": datetime.fromisoformat(sweep.marker), "sweep": SWEEP,
                        "cnt": COUNT, "after": upper_bound(COUNT)},
            select=["RowKey"], results_per_page=1)
        return next(iter(rows), None) is not None

    @storage_errors
    def users_to_sweep(self, account_id: str) -> int:
        from shared.storage.users_table import TableUserStore

        return TableUserStore(self._tables).count(account_id)

    def _rows(self, account_id: str) -> Iterator[Any]:
        return iter(self._table.query_entities("PartitionKey eq @pk", parameters={"pk": account_id},
                                               results_per_page=1000))

    @storage_errors
    def fold_counts(self, account_id: str) -> int:
        tally = Tally(lambda: self._table)
        return sum(tally.fold(account_id, kind) for kind in (USERS, SCIM_GROUPS, NATIVE_GROUPS))

    @storage_errors
    def fold_member_counts(self, account_id: str) -> int:
        tally = Tally(lambda: self._table)
        return sum(tally.fold(account_id, kind) for kind in tally.member_kinds_to_fold(account_id))

    @storage_errors
    def resource_exists(self, account_id: str, resource_type: str, resource_id: str) -> bool:
        row = self._get(account_id, user_key(resource_id) if resource_type == "User" else group_key(resource_id))
        return row is not None and row.get("Kind") != DELETED

    @storage_errors
    def membership(self, account_id: str, group_id: str, user_id: str) -> MembershipRows:
        forward = self._get(account_id, forward_key(group_id, user_id), select=["RowKey", "Tally"])
        reverse = self._get(account_id, reverse_key(user_id, group_id), select=["RowKey"])
        return MembershipRows(forward.metadata["etag"] if forward is not None else None,
                              reverse.metadata["etag"] if reverse is not None else None,
                              forward.get("Tally") or None if forward is not None else None)

    @storage_errors
    def remove_membership(self, account_id: str, group_id: str, user_id: str, seen: MembershipRows) -> bool:
        operations = [_delete_at(account_id, key, etag) for key, etag in
                      ((forward_key(group_id, user_id), seen.forward), (reverse_key(user_id, group_id), seen.reverse))
                      if etag is not None]
        if seen.forward is not None and seen.tally:  # the member leaves the group's count with its forward row
            operations.append(change(account_id, seen.tally, -1))
        return self._submit(operations)

    @storage_errors
    def restore_reverse(self, account_id: str, group_id: str, user_id: str, seen: MembershipRows, display: str,
                        managed_by: str) -> bool:
        if seen.forward is None or seen.reverse is not None:
            return False
        member_unchanged = ("update", {"PartitionKey": account_id, "RowKey": forward_key(group_id, user_id)},
                            {"mode": "merge", "etag": seen.forward, "match_condition": _match()})
        reverse = {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id), "Kind": "membership",
                   "Display": display, "Managed": managed_by}
        if seen.tally:
            reverse["Tally"] = seen.tally
        return self._submit([member_unchanged, ("create", reverse)])

    @storage_errors
    def repair_indexes(self, account_id: str, rows: ResourceRows) -> IndexRepair:
        repair = IndexRepair()
        claims = _claims(rows)
        for row_key, target in sorted(rows.index_rows.items()):
            if target in claims.get(row_key, ()):
                continue
            current = self._get(account_id, row_key)
            if current is None:
                continue
            owner = current.get("UserId") or current.get("GroupId")
            prefix = USER if "UserId" in current else GROUP
            if self._still_stale(account_id, row_key, owner, prefix) and self._submit(
                    [_delete_at(account_id, row_key, current.metadata["etag"])]):
                repair.repaired["index row pointing at a deleted or renamed resource"] += 1

        for row_key, owners in sorted(claims.items()):
            resource_type, column = ("User", "UserId") if row_key.startswith(USER_INDEXES) else ("Group", "GroupId")
            if len(owners) > 1:
                repair.clashes.append(NameClash(resource_type, row_key, sorted(owners)))
                continue
            [owner] = owners
            if row_key in rows.index_rows or not self.resource_exists(account_id, resource_type, owner):
                continue  # present, or the resource was deleted meanwhile
            if self._submit([("create", {"PartitionKey": account_id, "RowKey": row_key, column: owner})]):
                repair.repaired["resource without its index row"] += 1
                continue
            holder = self._get(account_id, row_key)
            if holder is not None and holder.get(column) != owner:
                repair.clashes.append(NameClash(resource_type, row_key, sorted({owner, holder.get(column)})))
        return repair

    def _still_stale(self, account_id: str, row_key: str, owner: str, prefix: str) -> bool:
        """Re-reads the resource: its index row is stale only if it is gone or now names something else."""
        resource = self._get(account_id, prefix + owner)
        if resource is None or resource.get("Kind") == DELETED:
            return True
        attributes = unpack(resource)
        if prefix == USER:
            wanted = _user_claims(owner, attributes)
        else:
            wanted = _group_claims(owner, attributes, resource.get("ManagedBy", "scim"))
        return row_key not in wanted

    def _get(self, account_id: str, row_key: str, select: list[str] | None = None) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._table.get_entity(account_id, row_key, select=select)
        except ResourceNotFoundError:
            return None

    def _submit(self, operations: list[tuple[Any, ...]]) -> bool:
        """True if applied; False if a row changed or appeared meanwhile (the repair is then not needed or wrong)."""
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        try:
            submit(self._table, operations)
        except (TransactionFailed, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return False
        return True


def slice_of(user_id: str, buckets: int) -> int:
    """The sweep slice of a user and of every row that names it (its memberships, its index rows): a hash, so the
    slices are even whatever the ids."""
    return int(hashlib.sha256(user_id.encode()).hexdigest()[:8], 16) % buckets


def _sweep(row: Any) -> Sweep:
    return Sweep(int(row.get("Bucket", 0)), int(row.get("Buckets", 1)), row["Started"], row.get("Marker") or "")


def _server_time(row: Any) -> str:
    """The row's Timestamp, which storage sets on every write (the SDK gives it in the entity's metadata)."""
    stamp = row.metadata.get("timestamp")
    return stamp.isoformat() if isinstance(stamp, datetime) else str(stamp)


def _merge() -> Any:
    from azure.data.tables import UpdateMode

    return UpdateMode.MERGE


def _match() -> Any:
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified


def _delete_at(account_id: str, row_key: str, etag: str) -> tuple[Any, ...]:
    return ("delete", {"PartitionKey": account_id, "RowKey": row_key}, {"etag": etag, "match_condition": _match()})


def _user_claims(user_id: str, attributes: dict[str, Any]) -> set[str]:
    claims = {user_name_key(attributes["userName"])} if isinstance(attributes.get("userName"), str) else set()
    if isinstance(attributes.get("externalId"), str):
        claims.add(external_id_prefix(attributes["externalId"]) + user_id)
    return claims | {search_key(USER_SEARCH_INDEX, term, user_id) for term in user_terms(attributes)}


def _group_claims(group_id: str, attributes: dict[str, Any], managed_by: str) -> set[str]:
    claims = set()
    if managed_by == "scim" and isinstance(attributes.get("displayName"), str):
        claims.add(display_name_key(attributes["displayName"]))
    if isinstance(attributes.get("externalId"), str):
        claims.add(group_external_prefix(attributes["externalId"]) + group_id)
    return claims | {search_key(GROUP_SEARCH_INDEX, term, group_id) for term in group_terms(attributes)}


def _claims(rows: ResourceRows) -> dict[str, set[str]]:
    """Index row key -> the resources whose attributes claim it."""
    claims: dict[str, set[str]] = {}
    for user_id, attributes in rows.users.items():
        for key in _user_claims(user_id, attributes):
            claims.setdefault(key, set()).add(user_id)
    if rows.group_indexes:
        for group_id, (attributes, managed_by) in rows.groups.items():
            for key in _group_claims(group_id, attributes, managed_by):
                claims.setdefault(key, set()).add(group_id)
    return claims
