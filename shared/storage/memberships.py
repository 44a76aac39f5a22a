"""Group memberships, kept twice so both directions are range reads, never scans:

    gm:<group id>:<user id>   forward row (Display: the member's display as sent)
    u:<user id>:g:<group id>  reverse row (Display: the group's displayName), adjacent to the user row

Both rows of a membership are written and deleted in the same entity group transaction. A change larger than
one transaction is recorded first as pending work (shared/storage/pending.py) and then applied in batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from shared.storage.keys import upper_bound
from shared.storage.tables import RESOURCES, Tables

MEMBER = "gm:"
OR_QUERY_KEYS = 14
"""Table queries allow at most 15 comparisons; one is spent on the PartitionKey."""
BATCH_MEMBERSHIPS = 49
"""Memberships per transaction: two rows each, plus one row (the group's or the work record's) = 99 <= 100."""


def forward_key(group_id: str, user_id: str) -> str:
    return f"{MEMBER}{group_id}:{user_id}"


def forward_prefix(group_id: str) -> str:
    return f"{MEMBER}{group_id}:"


def reverse_key(user_id: str, group_id: str) -> str:
    return f"u:{user_id}:g:{group_id}"


def reverse_prefix(user_id: str) -> str:
    return f"u:{user_id}:g:"


def plausible_id(value: str) -> bool:
    """Ids this server issues never hold key-forbidden characters; anything else cannot exist."""
    return 0 < len(value) <= 200 and not any(c in value for c in "/\\#?'%:") and value.isprintable()


def add_operations(account_id: str, group_id: str, group_display: str, user_id: str,
                   member_display: str | None) -> list[tuple[Any, ...]]:
    forward = {"PartitionKey": account_id, "RowKey": forward_key(group_id, user_id), "Kind": "member"}
    if member_display:
        forward["Display"] = member_display
    reverse = {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id), "Kind": "membership",
               "Display": group_display}
    return [("upsert", forward, {"mode": "replace"}), ("upsert", reverse, {"mode": "replace"})]


def remove_operations(account_id: str, group_id: str, user_id: str) -> list[tuple[Any, ...]]:
    return [("delete", {"PartitionKey": account_id, "RowKey": forward_key(group_id, user_id)}),
            ("delete", {"PartitionKey": account_id, "RowKey": reverse_key(user_id, group_id)})]


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Memberships:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def table(self) -> Any:
        return self._tables.get(RESOURCES)

    def existing_keys(self, account_id: str, keys: Iterable[str]) -> set[str]:
        """Which of `keys` exist, 14 per query."""
        found: set[str] = set()
        for chunk in chunked(sorted(set(keys)), OR_QUERY_KEYS):
            clauses = " or ".join(f"RowKey eq @k{i}" for i in range(len(chunk)))
            parameters = {"pk": account_id, **{f"k{i}": key for i, key in enumerate(chunk)}}
            rows = self.table.query_entities(f"PartitionKey eq @pk and ( {clauses} )", parameters=parameters,
                                             select=["RowKey"])
            found.update(row["RowKey"] for row in rows)
        return found

    def existing_users(self, account_id: str, user_ids: Iterable[str]) -> set[str]:
        wanted = {f"u:{u}": u for u in user_ids if plausible_id(u)}
        return {wanted[key] for key in self.existing_keys(account_id, wanted)}

    def existing_members(self, account_id: str, group_id: str, user_ids: Iterable[str]) -> set[str]:
        wanted = {forward_key(group_id, u): u for u in user_ids if plausible_id(u)}
        return {wanted[key] for key in self.existing_keys(account_id, wanted)}

    def members(self, account_id: str, group_id: str) -> Iterator[tuple[str, str | None]]:
        """(user id, display) of every member, streamed in pages of 1000."""
        prefix = forward_prefix(group_id)
        rows = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": account_id, "lo": prefix, "hi": upper_bound(prefix)}, results_per_page=1000)
        for row in rows:
            yield row["RowKey"][len(prefix):], row.get("Display")

    def groups_of(self, account_id: str, user_id: str) -> Iterator[str]:
        prefix = reverse_prefix(user_id)
        rows = self.table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            parameters={"pk": account_id, "lo": prefix, "hi": upper_bound(prefix)}, select=["RowKey"],
            results_per_page=1000)
        for row in rows:
            yield row["RowKey"][len(prefix):]
