"""Group memberships, kept twice so both directions are range reads, never scans:

    gm:<group id>:<user id>   forward row (Display: the member's display as sent)
    u:<user id>:g:<group id>  reverse row (Display: the group's displayName), adjacent to the user row

Both rows of a membership are written and deleted in the same entity group transaction. Adding a member also
merges nothing into the user's row (`u:<user id>`): that operation fails when the user does not exist, so "members
must be users of this account" is checked inside the transaction itself, atomically with the write, with no
reads (a user deleted meanwhile cannot leave a membership behind). Such a member is dropped and reported.

A group's member count is kept exactly (shared/storage/counts.py, kind `m.<group id>.<created>`): the forward row is
*created*, so adding someone already a member fails and the unit is dropped (it changes nothing), and a removal
whose forward row is gone is dropped too; every transaction then carries one delta row per counted group with the
units it really applies. Both rows carry the group's count kind (`Tally`), so a removal that starts from the user
(a user deleted, a purge, the reconcile) counts as well. Groups created before counting began have no kind: their
count is a key-only read of the forward rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared.storage.counts import change
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
    tally: str | None = None
    """The group's count kind: the unit counts (+1 added, -1 removed) when it applies. Its first operation is the
    forward row's."""


def add_unit(account_id: str, group_id: str, group_display: str, user_id: str, member_display: str | None,
             managed_by: str = "scim", tally: str | None = None) -> Unit:
    forward: dict[str, Any] = {"PartitionKey": account_id, "RowKey": forward_key(group_id, user_id), "Kind": "member"}
    if member_display:
        forward["Display"] = member_display
    reverse = {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id), "Kind": "membership",
               "Display": group_display, "Managed": managed_by}
    if tally:
        forward["Tally"] = reverse["Tally"] = tally
    user_exists = ("update", {"PartitionKey": account_id, "RowKey": user_key(user_id)}, {"mode": "merge"})
    return Unit(user_id, True, (("create", forward), ("upsert", reverse, {"mode": "replace"}), user_exists), tally)


def remove_unit(account_id: str, group_id: str, user_id: str, tally: str | None = None) -> Unit:
    return Unit(user_id, False, (("delete", {"PartitionKey": account_id, "RowKey": forward_key(group_id, user_id)}),
                                 ("delete", {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id)})),
                tally)


def operation_count(units: list[Unit]) -> int:
    """The units' operations and the delta row of each counted group among them."""
    return sum(len(unit.operations) for unit in units) + len({unit.tally for unit in units if unit.tally})


def take(units: list[Unit], capacity: int = MAX_TRANSACTION_OPERATIONS) -> tuple[list[Unit], list[Unit]]:
    """The next transaction's units (at most `capacity` operations with their delta rows, never splitting a unit)
    and the rest."""
    size = 0
    kinds: set[str] = set()
    for count, unit in enumerate(units):
        extra = 1 if unit.tally and unit.tally not in kinds else 0
        if size + len(unit.operations) + extra > capacity:
            return units[:count], units[count:]
        size += len(unit.operations) + extra
        if unit.tally:
            kinds.add(unit.tally)
    return units, []


def _deltas(account_id: str, units: list[Unit], pending: list[list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """One delta row per counted group: its units that apply as they stand (an add whole, a removal with its
    forward row's delete still in). Random keys: a delta is written once, with the units it counts."""
    by_kind: dict[str, int] = {}
    for unit, unit_ops in zip(units, pending, strict=True):
        if not unit.tally or not unit_ops:
            continue
        forward = unit.operations[0][1]["RowKey"]
        if unit.adding or any(op[0] == "delete" and op[1]["RowKey"] == forward for op in unit_ops):
            by_kind[unit.tally] = by_kind.get(unit.tally, 0) + (1 if unit.adding else -1)
    return [change(account_id, kind, amount) for kind, amount in by_kind.items() if amount]


def submit_units(table: Any, head: list[tuple[Any, ...]], units: list[Unit]) -> tuple[list[str], list[dict[str, Any]]]:
    """One transaction of `head` (rows the caller conditions on), `units` and their delta rows. An add whose user
    does not exist is dropped and its id returned; an add of someone already a member is dropped (nothing to do);
    a delete of a row already gone is dropped (absent is the desired end state); every other failure is raised.
    Returns the ignored member ids and the head operations' results (new ETags)."""
    account_id = units[0].operations[0][1]["PartitionKey"] if units else ""
    pending = [list(unit.operations) for unit in units]
    ignored: list[str] = []
    checked: set[str] = set()
    while True:
        operations = head + [op for unit_ops in pending for op in unit_ops]
        unit_end = len(operations)
        operations += _deltas(account_id, units, pending)
        try:
            results = submit(table, operations)
            return ignored, results[:len(head)]
        except TransactionFailed as failed:
            if failed.error_code not in ("ResourceNotFound", "EntityAlreadyExists") or failed.index is None \
                    or failed.index < len(head) or failed.index >= unit_end:
                raise
            if failed.error_code not in checked:  # one existence check of the rows this kind of refusal is about,
                checked.add(failed.error_code)    # instead of one retry per row
                _drop_refused(table, units, pending, ignored, failed.error_code)
                continue
            number, position = _locate(pending, failed.index - len(head))
            if units[number].adding:
                if failed.error_code == "ResourceNotFound":
                    ignored.append(units[number].user_id)
                pending[number] = []
            else:
                del pending[number][position]


def _drop_refused(table: Any, units: list[Unit], pending: list[list[tuple[Any, ...]]], ignored: list[str],
                  error_code: str) -> None:
    """After a unit refused with `error_code`: ResourceNotFound checks every row the units update or delete (an add
    whose user is gone is dropped and its id ignored; a delete of a row gone is dropped), EntityAlreadyExists every
    forward row the adds create (an add of a member is dropped: nothing to do)."""
    if error_code == "ResourceNotFound":
        missing = _missing(table, [op[1] for unit_ops in pending for op in unit_ops if op[0] in ("update", "delete")])
        for number, unit_ops in enumerate(pending):
            if units[number].adding and any(op[0] == "update" and op[1]["RowKey"] in missing for op in unit_ops):
                ignored.append(units[number].user_id)
                pending[number] = []
            elif not units[number].adding:
                pending[number] = [op for op in unit_ops if not (op[0] == "delete" and op[1]["RowKey"] in missing)]
        return
    creates = [unit_ops[0][1] for number, unit_ops in enumerate(pending) if units[number].adding and unit_ops]
    absent = _missing(table, creates)
    for number, unit_ops in enumerate(pending):
        if units[number].adding and unit_ops and unit_ops[0][1]["RowKey"] not in absent:
            pending[number] = []  # already a member


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

    def groups_of(self, account_id: str, user_id: str) -> Iterator[tuple[str, str | None]]:
        """(group id, the group's count kind) of every group the user is in."""
        prefix = reverse_prefix(user_id)
        rows = rows_with_prefix(self.table, account_id, prefix, select=["RowKey", "Tally"], results_per_page=1000)
        for row in rows:
            yield row["RowKey"][len(prefix):], row.get("Tally") or None

    def member_page(self, account_id: str, group_id: str, start: str | None,
                    limit: int) -> tuple[list[str], str | None]:
        """Up to `limit` member ids in id order from the id `start` (inclusive; None: the first), and the id after
        them (None at the end): one range read of `limit` + 1 keys."""
        prefix = forward_prefix(group_id)
        rows = rows_with_prefix(self.table, account_id, prefix, prefix + start if start else None,
                                select=["RowKey"], results_per_page=min(1000, limit + 1))
        ids: list[str] = []
        for row in rows:
            if len(ids) == limit:
                return ids, row["RowKey"][len(prefix):]
            ids.append(row["RowKey"][len(prefix):])
        return ids, None

    def member_skip(self, account_id: str, group_id: str, start: str | None, offset: int) -> str | None:
        """The member id `offset` members after `start` (None: past the end), read as keys (1,000 a round trip)."""
        prefix = forward_prefix(group_id)
        rows = rows_with_prefix(self.table, account_id, prefix, prefix + start if start else None,
                                select=["RowKey"], results_per_page=1000)
        for position, row in enumerate(rows):
            if position == offset:
                return str(row["RowKey"][len(prefix):])
        return None

    def members_among(self, account_id: str, group_id: str, user_ids: list[str]) -> set[str]:
        """Which of `user_ids` are members: point reads of their forward rows (16 at a time) for a few, else one key
        range read of the group's forward rows between the lowest and highest id (bounded by the group)."""
        wanted = sorted({user_id for user_id in user_ids if plausible_id(user_id)})
        if not wanted:
            return set()
        if len(wanted) <= MAX_POINT_READS:
            absent = _missing(self.table, [{"PartitionKey": account_id, "RowKey": forward_key(group_id, u)} for u in wanted])
            return {u for u in wanted if forward_key(group_id, u) not in absent}
        prefix = forward_prefix(group_id)
        rows = self.table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey le @hi",
                                         parameters={"pk": account_id, "lo": prefix + wanted[0], "hi": prefix + wanted[-1]},
                                         select=["RowKey"], results_per_page=1000)
        return {row["RowKey"][len(prefix):] for row in rows} & set(wanted)

    def counted_members(self, account_id: str, group_id: str) -> int:
        """A group's members counted from its forward rows (keys only, a round trip per 1,000): for groups created
        before counts were kept."""
        return sum(1 for _ in rows_with_prefix(self.table, account_id, forward_prefix(group_id), select=["RowKey"],
                                               results_per_page=1000))
