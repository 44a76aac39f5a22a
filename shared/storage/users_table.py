"""Users in Table Storage (table `<prefix>resources`, PartitionKey = account id).

RowKeys of one user:
    u:<id>                    the user: attributes as JSON (Data0..), Created, LastModified, Version
    u:<id>:g:<group id>       one row per group the user belongs to (the reverse of gm:<group id>:<id>; Tally:
                              the group's member count kind)
    un:<userName, lower>      uniqueness index: UserId
    ux:<externalId>:<id>      externalId index (externalId is not unique)
The user row and its group rows are adjacent, so reading a user with its groups is one range query. Index rows
share the partition, so a create or an update writes the user and its index rows in one atomic transaction: the
`un:` row is created (never upserted), which makes userName uniqueness atomic across instances.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from shared.domain.search import fold, user_terms
from shared.domain.stored import PURGE_USER, Adoption, ChangedBy, GroupRef, PendingWork, StoredUser, VersionConflict
from shared.domain.times import not_before
from shared.errors import NotFound, Uniqueness
from shared.storage.counts import USERS, Tally, delta
from shared.storage.entities import pack, unpack
from shared.storage.keys import (
    ISSUED_USER_ID,
    USER,
    index_page,
    index_skip,
    key_part,
    resolve_index,
    rows_with_prefix,
    search_ids,
    search_key,
    upper_bound,
    user_key,
    written,
)
from shared.storage.memberships import Memberships, Unit, operation_count, remove_unit, submit_units
from shared.storage.pending import PendingWorkStore
from shared.storage.roundtrips import in_parallel
from shared.storage.tables import RESOURCES, Tables
from shared.storage.transactions import (
    MAX_TRANSACTION_OPERATIONS,
    TransactionFailed,
    storage_errors,
    submit,
    submit_tolerating_missing,
)

USER_NAME_INDEX = "un:"
EXTERNAL_ID_INDEX = "ux:"
SEARCH_INDEX = "us:"
USERS_PER_QUERY = 7
"""Users one get_many query reads: two comparisons each, beside the partition's, within Table Storage's 15."""
GROUP_OF_USER = ":g:"


def user_name_key(user_name: str) -> str:
    return USER_NAME_INDEX + key_part(user_name.lower())


def external_id_prefix(external_id: str) -> str:
    return f"{EXTERNAL_ID_INDEX}{key_part(external_id)}:"


def _user_entity(account_id: str, user_id: str, attributes: dict[str, Any], created: datetime, modified: datetime,
                 version: int, source: str = "scim", integrations: frozenset[str] = frozenset(),
                 adopted: Adoption | None = None, changed_by: ChangedBy | None = None) -> dict[str, Any]:
    entity = {"PartitionKey": account_id, "RowKey": user_key(user_id), "Kind": "user", "Created": created,
              "LastModified": modified, "Version": version, "Source": source,
              "Integrations": ",".join(sorted(integrations)), **pack(attributes)}
    if adopted is not None:
        entity.update(AdoptedBy=adopted.idp, AdoptedIntegration=adopted.integration, AdoptedAt=adopted.at)
    if changed_by is not None:
        entity.update(ChangedByKey=changed_by.key_id, ChangedByIdp=changed_by.idp)
    return entity


def _index_rows(account_id: str, user_id: str, attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """The userName row first (its create makes the name unique), the externalId row, then one search row per term."""
    rows = [{"PartitionKey": account_id, "RowKey": user_name_key(attributes["userName"]), "UserId": user_id}]
    if isinstance(attributes.get("externalId"), str):
        rows.append({"PartitionKey": account_id, "RowKey": external_id_prefix(attributes["externalId"]) + user_id,
                     "UserId": user_id})
    rows += [{"PartitionKey": account_id, "RowKey": search_key(SEARCH_INDEX, term, user_id), "UserId": user_id}
             for term in sorted(user_terms(attributes))]
    return rows


class TableUserStore:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self.pending = PendingWorkStore(Memberships(tables))
        self._tally = Tally(lambda: self._table)

    @property
    def _table(self) -> Any:
        return self._tables.get(RESOURCES)

    @storage_errors
    def create(self, account_id: str, user_id: str, attributes: dict[str, Any], now: datetime, source: str = "scim",
               integrations: frozenset[str] = frozenset(), changed_by: ChangedBy | None = None) -> StoredUser:
        entity = _user_entity(account_id, user_id, attributes, now, now, 1, source, integrations, None, changed_by)
        operations: list[tuple[Any, ...]] = [("create", entity)]
        operations += [written(row, SEARCH_INDEX) for row in _index_rows(account_id, user_id, attributes)]
        operations.append(delta(account_id, USERS, user_id, now, +1))
        try:
            results = submit(self._table, operations)
        except TransactionFailed as failed:
            if failed.error_code == "EntityAlreadyExists" and failed.index == 1:
                raise Uniqueness(f"A user with userName {attributes['userName']!r} already exists in this account.") from None
            raise
        return StoredUser(user_id, attributes, now, now, 1, results[0]["etag"], [], source, integrations,
                          changed_by=changed_by)

    @storage_errors
    def get(self, account_id: str, user_id: str) -> StoredUser:
        return self._read(account_id, user_id)

    def _read(self, account_id: str, user_id: str) -> StoredUser:
        """The user whose id is exactly `user_id`, with its groups: one range read over its own row and its
        `:g:` rows. Ids are the UUIDs this server issues, so no other user's key can start with a valid one; the
        rows are still matched exactly, never by prefix."""
        if not ISSUED_USER_ID.fullmatch(user_id):
            raise NotFound(f"No user with id {user_id!r}.")
        own = user_key(user_id)
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": account_id, "lo": own, "hi": upper_bound(own + ":")})
        users = list(_assemble(r for r in rows if r["RowKey"] == own or r["RowKey"].startswith(own + GROUP_OF_USER)))
        if not users:
            raise NotFound(f"No user with id {user_id!r}.")
        return users[0]

    @storage_errors
    def find_by_user_name(self, account_id: str, user_name: str) -> StoredUser | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            index = self._table.get_entity(account_id, user_name_key(user_name))
        except ResourceNotFoundError:
            return None
        try:
            user = self._read(account_id, index["UserId"])
        except NotFound:
            return None  # an index row left by an interrupted delete: reconcile removes it
        return user if user.user_name.lower() == user_name.lower() else None

    @storage_errors
    def find_by_external_id(self, account_id: str, external_id: str) -> list[StoredUser]:
        return resolve_index(self._table, account_id, external_id_prefix(external_id), "UserId", self._read,
                             lambda user: user.attributes.get("externalId") == external_id)

    @storage_errors
    def scan(self, account_id: str) -> Iterator[StoredUser]:
        rows = rows_with_prefix(self._table, account_id, USER, results_per_page=1000)
        yield from _assemble(rows)

    @storage_errors
    def search(self, account_id: str, query: str, limit: int) -> list[str]:
        return search_ids(self._table, account_id, SEARCH_INDEX, fold(query), "UserId", limit)

    @storage_errors
    def page(self, account_id: str, start: str | None, limit: int) -> tuple[list[StoredUser], str | None]:
        """Up to `limit` users in id order from the id `start` (inclusive; None: the first), with their groups, and
        the id of the user after them (None at the end): one range read from the position, whatever it is."""
        rows = rows_with_prefix(self._table, account_id, USER, user_key(start) if start else None,
                                results_per_page=min(1000, 2 * limit + 2))
        users: list[StoredUser] = []
        for user in _assemble(rows):
            if len(users) == limit:
                return users, user.id
            users.append(user)
        return users, None

    @storage_errors
    def page_by_name(self, account_id: str, start: str | None, limit: int) -> tuple[list[StoredUser], str | None]:
        return index_page(self._table, account_id, USER_NAME_INDEX, "UserId", start, limit,
                          lambda ids: self.get_many(account_id, ids))

    @storage_errors
    def skip_by_name(self, account_id: str, start: str | None, offset: int) -> str | None:
        return index_skip(self._table, account_id, USER_NAME_INDEX, start, offset)

    @storage_errors
    def skip(self, account_id: str, start: str | None, offset: int) -> str | None:
        """The id `offset` users after `start` (None: past the end), read as keys only (1,000 per round trip)."""
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and Kind eq 'user'", select=["RowKey"],
            results_per_page=1000,
            parameters={"pk": account_id, "lo": user_key(start) if start else USER, "hi": upper_bound(USER)})
        for position, row in enumerate(rows):
            if position == offset:
                return str(row["RowKey"][len(USER):])
        return None

    @storage_errors
    def count(self, account_id: str) -> int:
        return self._tally.total(account_id, USERS, lambda: self._instances(account_id))

    def _instances(self, account_id: str) -> Iterator[tuple[str, datetime]]:
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and Kind eq 'user'", select=["RowKey", "Created"],
            results_per_page=1000, parameters={"pk": account_id, "lo": USER, "hi": upper_bound(USER)})
        for row in rows:
            yield row["RowKey"][len(USER):], row["Created"]

    @storage_errors
    def get_many(self, account_id: str, user_ids: list[str]) -> list[StoredUser]:
        """Each query reads up to USERS_PER_QUERY users with their groups (a key range each, OR-ed: Table
        Storage allows 15 comparisons in a filter), the queries in parallel: a page of 50 is 8 requests in one wave."""
        wanted = [user_id for user_id in dict.fromkeys(user_ids) if ISSUED_USER_ID.fullmatch(user_id)]

        def read(chunk: list[str]) -> list[StoredUser]:
            ranges = " or ".join(f"( RowKey ge @lo{n} and RowKey lt @hi{n} )" for n in range(len(chunk)))
            parameters = {"pk": account_id}
            for n, user_id in enumerate(chunk):
                parameters[f"lo{n}"] = user_key(user_id)
                parameters[f"hi{n}"] = upper_bound(user_key(user_id) + ":")
            rows = self._table.query_entities(f"PartitionKey eq @pk and ( {ranges} )", parameters=parameters,
                                              results_per_page=1000)
            return list(_assemble(rows))

        chunks = [wanted[start:start + USERS_PER_QUERY] for start in range(0, len(wanted), USERS_PER_QUERY)]
        found = {user.id: user for users in in_parallel(read, chunks) for user in users}
        return [found[user_id] for user_id in wanted if user_id in found]

    @storage_errors
    def update(self, account_id: str, current: StoredUser, attributes: dict[str, Any], now: datetime,
               integrations: frozenset[str] | None = None, adopted: Adoption | None = None,
               changed_by: ChangedBy | None = None) -> StoredUser:
        from azure.core import MatchConditions

        now = not_before(now, current.last_modified, current.created)
        integrations = current.integrations if integrations is None else integrations
        adopted = current.adopted or adopted
        changed_by = changed_by or current.changed_by
        entity = _user_entity(account_id, current.id, attributes, current.created, now, current.version + 1,
                              current.source, integrations, adopted, changed_by)
        operations: list[tuple[Any, ...]] = [
            ("update", entity, {"mode": "replace", "etag": current.etag, "match_condition": MatchConditions.IfNotModified})]
        old_rows = {r["RowKey"]: r for r in _index_rows(account_id, current.id, current.attributes)}
        new_rows = {r["RowKey"]: r for r in _index_rows(account_id, current.id, attributes)}
        operations += [("delete", old_rows[key]) for key in old_rows.keys() - new_rows.keys()]
        created = [key for key in new_rows.keys() - old_rows.keys()]
        operations += [written(new_rows[key], SEARCH_INDEX) for key in created]
        try:
            results = submit_tolerating_missing(self._table, operations)
        except TransactionFailed as failed:
            if failed.index == 0 and failed.error_code in ("UpdateConditionNotSatisfied", "ResourceNotFound"):
                raise VersionConflict(current.id) from None
            if failed.error_code == "EntityAlreadyExists":
                raise Uniqueness(f"A user with userName {attributes['userName']!r} already exists in this account.") from None
            raise
        return StoredUser(current.id, attributes, current.created, now, current.version + 1, results[0]["etag"],
                          current.groups, current.source, integrations, adopted, changed_by)

    @storage_errors
    def delete(self, account_id: str, current: StoredUser, now: datetime) -> PendingWork | None:
        """One transaction when the user's memberships fit in it; otherwise the user goes in the first transaction
        together with the record of the membership purge, which the caller has carried out (the returned work).
        Conditioned on `current.etag` (else VersionConflict): adding the user to a group touches the user's row,
        so a membership added meanwhile is never left behind."""
        from azure.core import MatchConditions

        operations: list[tuple[Any, ...]] = [
            ("delete", {"PartitionKey": account_id, "RowKey": user_key(current.id)},
             {"etag": current.etag, "match_condition": MatchConditions.IfNotModified})]
        operations += [("delete", row) for row in _index_rows(account_id, current.id, current.attributes)]
        counted = delta(account_id, USERS, current.id, current.created, -1)
        memberships = [remove_unit(account_id, group.id, current.id, group.tally) for group in current.groups]
        work = None
        if len(operations) + 1 + operation_count(memberships) > MAX_TRANSACTION_OPERATIONS:
            work, record = self.pending.record(account_id, PURGE_USER, now, user_id=current.id,
                                               external_id=current.attributes.get("externalId"))
            operations, memberships = operations + record, []
        try:
            submit_units(self._table, [operations[0], counted],
                         [Unit(current.id, False, tuple(operations[1:])), *memberships])
        except TransactionFailed as failed:
            if failed.index == 0:
                raise VersionConflict(current.id) from None
            raise
        return work


def _assemble(rows: Any) -> Iterator[StoredUser]:
    """User rows followed by their `u:<id>:g:<group>` rows (RowKey order) -> StoredUser with groups."""
    pending: dict[str, Any] | None = None
    groups: list[GroupRef] = []
    for row in rows:
        key: str = row["RowKey"]
        if GROUP_OF_USER in key:
            if pending is not None and key.startswith(pending["RowKey"] + GROUP_OF_USER):
                groups.append(GroupRef(key.split(GROUP_OF_USER, 1)[1], row.get("Display", ""),
                                       row.get("Managed") or "scim", row.get("Tally") or None))
            continue
        if pending is not None:
            yield _stored(pending, groups)
        pending, groups = row, []
    if pending is not None:
        yield _stored(pending, groups)


def _stored(entity: Any, groups: list[GroupRef]) -> StoredUser:
    return StoredUser(
        id=entity["RowKey"][len(USER):], attributes=unpack(entity), created=entity["Created"],
        last_modified=entity["LastModified"], version=int(entity["Version"]), etag=entity.metadata["etag"],
        groups=sorted(groups, key=lambda g: g.id), source=entity.get("Source") or "scim",
        integrations=frozenset(i for i in (entity.get("Integrations") or "").split(",") if i),
        adopted=Adoption(entity["AdoptedBy"], entity.get("AdoptedIntegration", ""), entity["AdoptedAt"])
        if entity.get("AdoptedBy") else None,
        changed_by=ChangedBy(entity["ChangedByKey"], entity.get("ChangedByIdp", "")) if entity.get("ChangedByKey") else None)
