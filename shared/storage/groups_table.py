"""Groups in Table Storage (table `<prefix>resources`, PartitionKey = account id).

    g:<group id>              the group: attributes as JSON (displayName, externalId), ManagedBy, Created, LastModified,
                              Tally (its member count kind: cnt:<kind> rows, shared/storage/counts.py)
    gn:<displayName, lower>   uniqueness index of SCIM-managed groups: GroupId
    gx:<externalId>:<id>      externalId index
    gm:<group id>:<user id>   members (shared/storage/memberships.py), and u:<user id>:g:<group id> in reverse

The group id is the Harness identifier of the display name (shared/domain/identifiers.py); creating the `g:` row
(never upserting it) claims the id atomically, and the `gn:` row in the same transaction makes displayName
uniqueness atomic across instances.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shared.domain.identifiers import candidate_identifiers
from shared.domain.scopes import Placement, decode_placements, encode_placements
from shared.domain.search import fold, group_terms
from shared.domain.stored import MANAGED_BY_SCIM as SCIM
from shared.domain.stored import (
    MEMBERS,
    PURGE_GROUP,
    GroupWrite,
    MembershipChange,
    PendingWork,
    StoredGroup,
    StoredGroupPlacement,
    VersionConflict,
)
from shared.domain.times import not_before
from shared.errors import NotFound, Uniqueness
from shared.storage.counts import NATIVE_GROUPS, SCIM_GROUPS, Tally, delta, member_kind, new_tally
from shared.storage.entities import pack, unpack
from shared.storage.keys import (
    GROUP,
    ISSUED_USER_ID,
    group_key,
    index_page,
    index_skip,
    key_part,
    resolve_index,
    rows_with_prefix,
    search_ids,
    search_key,
    written,
)
from shared.storage.memberships import (
    Memberships,
    add_unit,
    operation_count,
    plausible_id,
    remove_unit,
    submit_units,
)
from shared.storage.pending import PendingWorkStore
from shared.storage.roundtrips import in_parallel
from shared.storage.tables import Tables
from shared.storage.transactions import (
    MAX_TRANSACTION_OPERATIONS,
    TransactionFailed,
    storage_errors,
    submit_tolerating_missing,
)

DELETED = "deleted"
"""Kind of a deleted group's row while the purge of its memberships is pending: not a group, not a free id."""
DISPLAY_NAME_INDEX = "gn:"
EXTERNAL_ID_INDEX = "gx:"
SEARCH_INDEX = "gs:"
GROUPS_PER_QUERY = 14
"""Groups one get_many query reads: one comparison each, beside the partition's, within Table Storage's 15."""


def display_name_key(display_name: str) -> str:
    return DISPLAY_NAME_INDEX + key_part(display_name.lower())


def external_id_prefix(external_id: str) -> str:
    return f"{EXTERNAL_ID_INDEX}{key_part(external_id)}:"


def _index_rows(account_id: str, group_id: str, attributes: dict[str, Any], managed_by: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if managed_by == SCIM:
        rows.append({"PartitionKey": account_id, "RowKey": display_name_key(attributes["displayName"]), "GroupId": group_id})
    if isinstance(attributes.get("externalId"), str):
        rows.append({"PartitionKey": account_id, "RowKey": external_id_prefix(attributes["externalId"]) + group_id,
                     "GroupId": group_id})
    rows += [{"PartitionKey": account_id, "RowKey": search_key(SEARCH_INDEX, term, group_id), "GroupId": group_id}
             for term in sorted(group_terms(attributes))]
    return rows


def _group_entity(account_id: str, group_id: str, attributes: dict[str, Any], managed_by: str, created: datetime,
                  modified: datetime, placements: tuple[Placement, ...] = (), tally: str | None = None) -> dict[str, Any]:
    entity = {"PartitionKey": account_id, "RowKey": group_key(group_id), "Kind": "group", "ManagedBy": managed_by,
              "Created": created, "LastModified": modified,
              "Placements": encode_placements(placements) if placements else "", **pack(attributes)}
    if tally:
        entity["Tally"] = tally
    return entity


class TableGroupStore:
    def __init__(self, tables: Tables) -> None:
        self.memberships = Memberships(tables)
        self.pending = PendingWorkStore(self.memberships)
        self._tally = Tally(lambda: self._table)

    @property
    def _table(self) -> Any:
        return self.memberships.table

    @storage_errors
    def create(self, account_id: str, attributes: dict[str, Any], now: datetime, managed_by: str = SCIM,
               members: dict[str, str | None] | None = None,
               placements: tuple[Placement, ...] = ()) -> tuple[StoredGroup, GroupWrite]:
        """Claims the first free identifier for the display name (Uniqueness if a SCIM group has the name) in one
        transaction with its index rows and its members, or, when they do not fit, the record of them (the group
        is then `Pending` until the work is carried out): a create never leaves a group without the members it
        was acknowledged with."""
        display = attributes["displayName"]
        adds = {u: d for u, d in (members or {}).items() if ISSUED_USER_ID.fullmatch(u)}  # no other id is a user's
        ignored = sorted(set(members or {}) - set(adds))
        for group_id in candidate_identifiers(display):
            tally = member_kind(group_id, now)
            entity = _group_entity(account_id, group_id, attributes, managed_by, now, now, placements, tally)
            head: list[tuple[Any, ...]] = [("create", entity)]
            head += [written(row, SEARCH_INDEX) for row in _index_rows(account_id, group_id, attributes, managed_by)]
            head += [delta(account_id, _counted_as(managed_by), group_id, now, +1), new_tally(account_id, tally)]
            units = [add_unit(account_id, group_id, display, user_id, shown, managed_by, tally)
                     for user_id, shown in adds.items()]
            work: PendingWork | None = None
            if len(head) + operation_count(units) > MAX_TRANSACTION_OPERATIONS:
                work, record = self.pending.record(account_id, MEMBERS, now, group_id=group_id, display=display,
                                                   external_id=attributes.get("externalId"), adds=list(adds.items()),
                                                   tally=tally)
                entity["Pending"] = work.id
                head, units = head + record, []
            try:
                missing, results = submit_units(self._table, head, units)
            except TransactionFailed as failed:
                if failed.error_code == "EntityAlreadyExists" and failed.index == 0:
                    continue  # identifier taken (a group whose name normalises the same, or a native group)
                if failed.error_code == "EntityAlreadyExists" and failed.index == 1 and managed_by == SCIM:
                    raise Uniqueness(f"A group with displayName {display!r} already exists.") from None
                raise
            group = StoredGroup(group_id, attributes, now, now, results[0]["etag"], managed_by, work.id if work else None,
                                placements, tally)
            return group, GroupWrite(sorted(ignored + missing), work)
        raise Uniqueness(f"No free identifier left for displayName {display!r}.")

    @storage_errors
    def get(self, account_id: str, group_id: str) -> StoredGroup:
        from azure.core.exceptions import ResourceNotFoundError

        if not plausible_id(group_id):
            raise NotFound(f"No group with id {group_id!r}.")
        try:
            entity = self._table.get_entity(account_id, group_key(group_id))
        except ResourceNotFoundError:
            raise NotFound(f"No group with id {group_id!r}.") from None
        if _is_tombstone(entity):
            raise NotFound(f"No group with id {group_id!r}.")
        return _stored(entity)

    @storage_errors
    def get_many(self, account_id: str, group_ids: list[str]) -> list[StoredGroup]:
        """Up to GROUPS_PER_QUERY groups a query (their keys OR-ed, within Table Storage's 15 comparisons), the
        queries in parallel: a page of 100 groups is 8 requests in one wave."""
        wanted = [group_id for group_id in dict.fromkeys(group_ids) if plausible_id(group_id)]

        def read(chunk: list[str]) -> list[StoredGroup]:
            keys = " or ".join(f"RowKey eq @k{n}" for n in range(len(chunk)))
            parameters = {"pk": account_id, **{f"k{n}": group_key(group_id) for n, group_id in enumerate(chunk)}}
            rows = self._table.query_entities(f"PartitionKey eq @pk and ( {keys} )", parameters=parameters)
            return [_stored(row) for row in rows if not _is_tombstone(row)]

        chunks = [wanted[start:start + GROUPS_PER_QUERY] for start in range(0, len(wanted), GROUPS_PER_QUERY)]
        found = {group.id: group for groups in in_parallel(read, chunks) for group in groups}
        return [found[group_id] for group_id in wanted if group_id in found]

    @storage_errors
    def page_by_name(self, account_id: str, start: str | None, limit: int) -> tuple[list[StoredGroup], str | None]:
        return index_page(self._table, account_id, DISPLAY_NAME_INDEX, "GroupId", start, limit,
                          lambda ids: self.get_many(account_id, ids))

    @storage_errors
    def skip_by_name(self, account_id: str, start: str | None, offset: int) -> str | None:
        return index_skip(self._table, account_id, DISPLAY_NAME_INDEX, start, offset)

    @storage_errors
    def members(self, account_id: str, group_id: str) -> Iterator[tuple[str, str | None]]:
        yield from self.memberships.members(account_id, group_id)

    @storage_errors
    def members_of_groups(self, account_id: str, group_ids: list[str]) -> dict[str, list[tuple[str, str | None]]]:
        return self.memberships.members_of_groups(account_id, group_ids)

    @storage_errors
    def member_page(self, account_id: str, group_id: str, start: str | None,
                    limit: int) -> tuple[list[str], str | None]:
        return self.memberships.member_page(account_id, group_id, start, limit)

    @storage_errors
    def member_skip(self, account_id: str, group_id: str, start: str | None, offset: int) -> str | None:
        return self.memberships.member_skip(account_id, group_id, start, offset)

    @storage_errors
    def members_among(self, account_id: str, group_id: str, user_ids: list[str]) -> set[str]:
        return self.memberships.members_among(account_id, group_id, user_ids)

    @storage_errors
    def member_counts(self, account_id: str, groups: list[StoredGroup]) -> dict[str, int]:
        """Counted groups: one range read of their tallies (a page of groups in id order: their tallies are
        neighbours); a lone group's tally folds its deltas when they are many. Groups from before counting began:
        their member keys (a round trip per 1,000)."""
        counted = {group.tally: group.id for group in groups if group.tally}
        if len(counted) == 1:
            [(kind, group_id)] = counted.items()
            one = self._tally.counted(account_id, kind)
            found = {group_id: one} if one is not None else {}
        else:
            found = {counted[kind]: n for kind, n in self._tally.counted_many(account_id, list(counted)).items()}
        rest = [group.id for group in groups if group.id not in found]
        found.update(zip(rest, in_parallel(lambda gid: self.memberships.counted_members(account_id, gid), rest),
                         strict=True))
        return found

    @storage_errors
    def find_by_display_name(self, account_id: str, display_name: str) -> StoredGroup | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            index = self._table.get_entity(account_id, display_name_key(display_name))
            entity = self._table.get_entity(account_id, group_key(index["GroupId"]))
        except ResourceNotFoundError:
            return None
        if _is_tombstone(entity):
            return None
        group = _stored(entity)
        return group if group.display_name.lower() == display_name.lower() else None

    @storage_errors
    def find_by_external_id(self, account_id: str, external_id: str) -> list[StoredGroup]:
        return resolve_index(self._table, account_id, external_id_prefix(external_id), "GroupId", self.get,
                             lambda group: group.attributes.get("externalId") == external_id)

    @storage_errors
    def scan(self, account_id: str) -> Iterator[StoredGroup]:
        rows = rows_with_prefix(self._table, account_id, GROUP, results_per_page=1000)
        for row in rows:
            if not _is_tombstone(row):
                yield _stored(row)

    @storage_errors
    def search(self, account_id: str, query: str, limit: int) -> list[str]:
        return search_ids(self._table, account_id, SEARCH_INDEX, fold(query), "GroupId", limit)

    @storage_errors
    def page(self, account_id: str, start: str | None, limit: int,
             managed_by: str = SCIM) -> tuple[list[StoredGroup], str | None]:
        """Up to `limit` groups managed by `managed_by` in id order from the id `start` (inclusive; None: the
        first), and the id of the group after them (None at the end): one range read from the position."""
        groups: list[StoredGroup] = []
        for row in self._range(account_id, start, min(1000, 2 * limit + 2)):
            if _is_tombstone(row) or row.get("ManagedBy", SCIM) != managed_by:
                continue
            if len(groups) == limit:
                return groups, row["RowKey"][len(GROUP):]
            groups.append(_stored(row))
        return groups, None

    @storage_errors
    def skip(self, account_id: str, start: str | None, offset: int, managed_by: str = SCIM) -> str | None:
        """The id `offset` groups after `start` (None: past the end), read as keys only (1,000 per round trip)."""
        position = 0
        for row in self._range(account_id, start, 1000, select=["RowKey", "Kind", "ManagedBy"]):
            if _is_tombstone(row) or row.get("ManagedBy", SCIM) != managed_by:
                continue
            if position == offset:
                return str(row["RowKey"][len(GROUP):])
            position += 1
        return None

    @storage_errors
    def count(self, account_id: str, managed_by: str = SCIM) -> int:
        def instances() -> Iterator[tuple[str, datetime]]:
            for row in self._range(account_id, None, 1000, select=["RowKey", "Kind", "ManagedBy", "Created"]):
                if not _is_tombstone(row) and row.get("ManagedBy", SCIM) == managed_by:
                    yield row["RowKey"][len(GROUP):], row["Created"]

        return self._tally.total(account_id, _counted_as(managed_by), instances)

    def _range(self, account_id: str, start: str | None, per_page: int, **options: Any) -> Any:
        return rows_with_prefix(self._table, account_id, GROUP, group_key(start) if start else None,
                                results_per_page=per_page, **options)

    @storage_errors
    def update(self, account_id: str, current: StoredGroup, attributes: dict[str, Any], change: MembershipChange,
               now: datetime, placements: tuple[Placement, ...] | None = None) -> GroupWrite:
        """Writes new attributes and a membership change, conditioned on `current.etag` (else VersionConflict):
        every write to a group is, so writes to one group are applied one after another. The first transaction
        holds the group row, the index moves, and either the whole membership change or the record of it (which
        also marks the group `Pending`); the caller then has the recorded work carried out (`work` in the result).
        Uniqueness when the new name is taken."""
        from azure.core import MatchConditions

        if current.pending:
            raise ValueError("a group with pending work is written only after that work is finished")
        now = not_before(now, current.last_modified, current.created)
        display = attributes["displayName"]
        renamed = display != current.attributes.get("displayName")
        adds = {u: d for u, d in change.adds.items() if ISSUED_USER_ID.fullmatch(u)}  # no other id is a user's
        removes = {u for u in change.removes if plausible_id(u) and u not in adds}
        ignored = sorted(set(change.adds) - set(adds))
        if change.replace_all:  # members kept are no change (an add of a member changes nothing, and costs a retry)
            present = {u for u, _ in self.memberships.members(account_id, current.id)}
            removes = present - set(adds)
            adds = {u: d for u, d in adds.items() if u not in present}
        placements = current.placements if placements is None else placements
        if attributes == current.attributes and not adds and not removes and placements == current.placements:
            return GroupWrite(ignored, None)
        old_rows = {r["RowKey"]: r for r in _index_rows(account_id, current.id, current.attributes, current.managed_by)}
        new_rows = {r["RowKey"]: r for r in _index_rows(account_id, current.id, attributes, current.managed_by)}
        index_moves: list[tuple[Any, ...]] = [("delete", old_rows[k]) for k in old_rows.keys() - new_rows.keys()]
        index_moves += [written(new_rows[k], SEARCH_INDEX) for k in new_rows.keys() - old_rows.keys()]
        units = [add_unit(account_id, current.id, display, user_id, shown, current.managed_by, current.tally)
                 for user_id, shown in adds.items()]
        units += [remove_unit(account_id, current.id, user_id, current.tally) for user_id in sorted(removes)]
        entity = _group_entity(account_id, current.id, attributes, current.managed_by, current.created, now, placements,
                               current.tally)
        fits = 1 + len(index_moves) + renamed + operation_count(units) <= MAX_TRANSACTION_OPERATIONS
        work: PendingWork | None = None
        record: list[tuple[Any, ...]] = []
        if renamed or not fits:
            work, record = self.pending.record(
                account_id, MEMBERS, now, group_id=current.id, display=display, external_id=attributes.get("externalId"),
                adds=[] if fits else list(adds.items()), removes=[] if fits else sorted(removes), refresh_display=renamed,
                tally=current.tally)
            entity["Pending"] = work.id
        condition = {"mode": "replace", "etag": current.etag, "match_condition": MatchConditions.IfNotModified}
        head: list[tuple[Any, ...]] = [("update", entity, condition), *index_moves, *record]
        try:
            ignored += submit_units(self._table, head, units if fits else [])[0]
        except TransactionFailed as failed:
            if failed.index == 0 and failed.error_code in ("UpdateConditionNotSatisfied", "ResourceNotFound"):
                raise VersionConflict("group") from None
            if failed.error_code == "EntityAlreadyExists":
                raise Uniqueness(f"A group with displayName {attributes['displayName']!r} already exists.") from None
            raise
        return GroupWrite(sorted(ignored), work)

    @storage_errors
    def placements(self, account_id: str) -> dict[str, StoredGroupPlacement]:
        rows = rows_with_prefix(self._table, account_id, GROUP, results_per_page=1000,
                                select=["RowKey", "Kind", "ManagedBy", "Created", "Placements"])
        return {row["RowKey"][len(GROUP):]: StoredGroupPlacement(row["Created"], row.get("ManagedBy", SCIM),
                                                                 decode_placements(row.get("Placements")))
                for row in rows if not _is_tombstone(row)}

    @storage_errors
    def delete(self, account_id: str, current: StoredGroup, now: datetime) -> PendingWork:
        """Replaces the group row by a tombstone (conditioned on `current.etag`, else VersionConflict) and deletes
        its index rows, recording the purge of its memberships in the same transaction. The caller has the purge
        carried out; its last step deletes the tombstone, so the identifier is not reused while members remain."""
        from azure.core import MatchConditions

        if current.pending:
            raise ValueError("a group with pending work is deleted only after that work is finished")
        work, record = self.pending.record(account_id, PURGE_GROUP, now, group_id=current.id,
                                           external_id=current.attributes.get("externalId"), tally=current.tally)
        tombstone = {"PartitionKey": account_id, "RowKey": group_key(current.id), "Kind": DELETED, "Pending": work.id,
                     "LastModified": now}
        operations: list[tuple[Any, ...]] = [
            ("update", tombstone, {"mode": "replace", "etag": current.etag, "match_condition": MatchConditions.IfNotModified})]
        operations += [("delete", row) for row in _index_rows(account_id, current.id, current.attributes, current.managed_by)]
        operations.append(delta(account_id, _counted_as(current.managed_by), current.id, current.created, -1))
        try:
            submit_tolerating_missing(self._table, operations + record)
        except TransactionFailed as failed:
            if failed.index == 0:
                raise VersionConflict(current.id) from None
            raise
        return work


def _stored(entity: Any) -> StoredGroup:
    return StoredGroup(id=entity["RowKey"][len(GROUP):], attributes=unpack(entity), created=entity["Created"],
                       last_modified=entity["LastModified"], etag=entity.metadata["etag"],
                       managed_by=entity.get("ManagedBy", SCIM), pending=entity.get("Pending") or None,
                       placements=decode_placements(entity.get("Placements")), tally=entity.get("Tally") or None)


def _counted_as(managed_by: str) -> str:
    return SCIM_GROUPS if managed_by == SCIM else NATIVE_GROUPS


def _is_tombstone(entity: Any) -> bool:
    return bool(entity.get("Kind") == DELETED)
