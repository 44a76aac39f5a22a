"""Group memberships, kept twice so both directions are range reads, never scans:

    gm:<group id>:<user id>   forward row (Display: the member's display as sent)
    u:<user id>:g:<group id>  reverse row (Display: the group's displayName), adjacent to the user row

Both rows of a membership are written and deleted in the same entity group transaction. Adding a member also
merges nothing into the user's row (`u:<user id>`): that operation fails when the user does not exist, so "members
must be users of this account" is checked inside the transaction itself, atomically with the write, with no
reads (a user deleted meanwhile cannot leave a membership behind). Such a member is dropped and reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared.storage.keys import ISSUED_USER_ID, USER, rows_with_prefix, upper_bound, user_key
from shared.storage.roundtrips import in_parallel
from shared.storage.tables import RESOURCES, Tables
from shared.storage.transactions import MAX_TRANSACTION_OPERATIONS, TransactionFailed, submit

MEMBER = "gm:"
MAX_POINT_READS = 64
"""Up to this many users are checked by point reads (16 at a time); more by one key range read."""


def forward_key(group_id: str, user_id: str) -> str:
    return f"{MEMBER}{group_id}:{user_id}"


def forward_prefix(group_id: str) -> str:
    return f"{MEMBER}{group_id}:"


def reverse_key(user_id: str, group_id: str) -> str:
    return f"{user_key(user_id)}:g:{group_id}"


def reverse_prefix(user_id: str) -> str:
    return f"{user_key(user_id)}:g:"


def plausible_id(value: str) -> bool:
    """Ids this server issues never hold key-forbidden characters; anything else cannot exist."""
    return 0 < len(value) <= 200 and not any(c in value for c in "/\\#?'%:") and value.isprintable()


@dataclass(frozen=True)
class Unit:
    """The rows of one membership change, which must stay in one transaction."""

    user_id: str
    adding: bool
    operations: tuple[tuple[Any, ...], ...]


def add_unit(account_id: str, group_id: str, group_display: str, user_id: str, member_display: str | None,
             managed_by: str = "scim") -> Unit:
    forward: dict[str, Any] = {"PartitionKey": account_id, "RowKey": forward_key(group_id, user_id), "Kind": "member"}
    if member_display:
        forward["Display"] = member_display
    reverse = {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id), "Kind": "membership",
               "Display": group_display, "Managed": managed_by}
    user_exists = ("update", {"PartitionKey": account_id, "RowKey": user_key(user_id)}, {"mode": "merge"})
    return Unit(user_id, True, (("upsert", forward, {"mode": "replace"}), ("upsert", reverse, {"mode": "replace"}),
                                user_exists))


def remove_unit(account_id: str, group_id: str, user_id: str) -> Unit:
    return Unit(user_id, False, (("delete", {"PartitionKey": account_id, "RowKey": forward_key(group_id, user_id)}),
                                 ("delete", {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id)})))


def operation_count(units: list[Unit]) -> int:
    return sum(len(unit.operations) for unit in units)


def take(units: list[Unit], capacity: int = MAX_TRANSACTION_OPERATIONS) -> tuple[list[Unit], list[Unit]]:
    """The next transaction's units (at most `capacity` operations, never splitting a unit) and the rest."""
    size = 0
    for count, unit in enumerate(units):
        if size + len(unit.operations) > capacity:
            return units[:count], units[count:]
        size += len(unit.operations)
    return units, []


def submit_units(table: Any, head: list[tuple[Any, ...]], units: list[Unit]) -> tuple[list[str], list[dict[str, Any]]]:
    """One transaction of `head` (rows the caller conditions on) and `units`. An add whose user does not exist is
    dropped and its id returned; a delete of a row already gone is dropped (absent is the desired end state);
    every other failure is raised. Returns the ignored member ids and the head operations' results (new ETags)."""
    pending = [list(unit.operations) for unit in units]
    ignored: list[str] = []
    checked = False
    while True:
        operations = head + [op for unit_ops in pending for op in unit_ops]
        try:
            results = submit(table, operations)
            return ignored, results[:len(head)]
        except TransactionFailed as failed:
            if failed.error_code != "ResourceNotFound" or failed.index is None or failed.index < len(head):
                raise
            if not checked:  # one existence check of every row the units need, instead of one retry per missing row
                checked = True
                missing = _missing(table, [op[1] for unit_ops in pending for op in unit_ops if op[0] in ("update", "delete")])
                for number, unit_ops in enumerate(pending):
                    if units[number].adding and any(op[0] == "update" and op[1]["RowKey"] in missing for op in unit_ops):
                        ignored.append(units[number].user_id)
                        pending[number] = []
                    else:
                        pending[number] = [op for op in unit_ops if not (op[0] == "delete" and op[1]["RowKey"] in missing)]
                continue
            number, position = _locate(pending, failed.index - len(head))
            if units[number].adding:
                ignored.append(units[number].user_id)
                pending[number] = []
            else:
                del pending[number][position]


def _missing(table: Any, entities: list[dict[str, Any]]) -> set[str]:
    """RowKeys of `entities` that do not exist: point reads, 16 at a time (a transaction holds at most 100 rows)."""

    def absent(entity: dict[str, Any]) -> str | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            table.get_entity(entity["PartitionKey"], entity["RowKey"], select=["RowKey"])
        except ResourceNotFoundError:
            return str(entity["RowKey"])
        return None

    return {key for key in in_parallel(absent, entities) if key is not None}


def _locate(pending: list[list[tuple[Any, ...]]], position: int) -> tuple[int, int]:
    """(unit number, operation within it) of the transaction's `position`-th unit operation."""
    for number, unit_ops in enumerate(pending):
        if position < len(unit_ops):
            return number, position
        position -= len(unit_ops)
    raise IndexError(position)


class Memberships:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def table(self) -> Any:
        return self._tables.get(RESOURCES)

    def members(self, account_id: str, group_id: str) -> Iterator[tuple[str, str | None]]:
        """(user id, display) of every member, streamed in pages of 1000."""
        prefix = forward_prefix(group_id)
        rows = rows_with_prefix(self.table, account_id, prefix, results_per_page=1000)
        for row in rows:
            yield row["RowKey"][len(prefix):], row.get("Display")

    def members_of_groups(self, account_id: str, group_ids: list[str]) -> dict[str, list[tuple[str, str | None]]]:
        """The members of several groups with one range read: from the lowest to the highest of their member-row
        prefixes, in pages of 1000 rows. Rows of groups inside that range but not asked for are read and dropped,
        so a page of consecutive groups costs about one round trip per 1000 member rows."""
        found: dict[str, list[tuple[str, str | None]]] = {group_id: [] for group_id in group_ids}
        if not found:
            return found
        prefixes = sorted(forward_prefix(group_id) for group_id in found)
        rows = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": account_id, "lo": prefixes[0], "hi": upper_bound(prefixes[-1])},
            select=["RowKey", "Display"], results_per_page=1000)
        for row in rows:
            group_id, user_id = row["RowKey"][len(MEMBER):].rsplit(":", 1)
            if group_id in found:
                found[group_id].append((user_id, row.get("Display")))
        return found

    def missing_users(self, account_id: str, user_ids: list[str]) -> set[str]:
        """Which of `user_ids` are no users of the account. A few are point reads in parallel; many are one key
        range read of the user rows between the lowest and highest id (RowKeys only, 1000 per page): its cost
        follows the account's rows in that range, not the number of ids (1,000 unknown ids on an account of 5,000
        users: 5 pages instead of 1,000 reads)."""
        wanted = {user_id for user_id in user_ids if ISSUED_USER_ID.fullmatch(user_id)}
        missing = set(user_ids) - wanted
        if len(wanted) <= MAX_POINT_READS:
            found = _missing(self.table, [{"PartitionKey": account_id, "RowKey": user_key(u)} for u in wanted])
            return missing | {key[len(USER):] for key in found}
        keys = sorted(user_key(u) for u in wanted)
        rows = self.table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey le @hi",
                                         parameters={"pk": account_id, "lo": keys[0], "hi": keys[-1]},
                                         select=["RowKey"], results_per_page=1000)
        existing = {row["RowKey"][len(USER):] for row in rows if ":" not in row["RowKey"][len(USER):]}
        return missing | (wanted - existing)

    def groups_of(self, account_id: str, user_id: str) -> Iterator[str]:
        prefix = reverse_prefix(user_id)
        rows = rows_with_prefix(self.table, account_id, prefix, select=["RowKey"],
            results_per_page=1000)
        for row in rows:
            yield row["RowKey"][len(prefix):]
