"""What the reconcile timer reads and repairs in one account's partition.

The scan is not a snapshot (other instances keep writing), so every repair is re-checked with point reads right
before it is made, and made with operations that are correct whatever happened meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.storage.entities import unpack
from shared.storage.groups_table import DELETED, DISPLAY_NAME_INDEX, display_name_key
from shared.storage.groups_table import EXTERNAL_ID_INDEX as GROUP_EXTERNAL_INDEX
from shared.storage.groups_table import external_id_prefix as group_external_prefix
from shared.storage.keys import GROUP, USER
from shared.storage.memberships import MEMBER, forward_key, reverse_key
from shared.storage.tables import RESOURCES, Tables
from shared.storage.users_table import EXTERNAL_ID_INDEX as USER_EXTERNAL_INDEX
from shared.storage.users_table import USER_NAME_INDEX, external_id_prefix, user_name_key


@dataclass
class PartitionSnapshot:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    forward: set[tuple[str, str]] = field(default_factory=set)
    """(group id, user id)"""
    reverse: set[tuple[str, str]] = field(default_factory=set)
    """(user id, group id)"""
    index_rows: dict[str, str] = field(default_factory=dict)
    """RowKey of every un:/ux:/gn:/gx: row -> the id it points at"""
    entities: int = 0


class DriftStore:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def table(self) -> Any:
        return self._tables.get(RESOURCES)

    def snapshot(self, account_id: str) -> PartitionSnapshot:
        snapshot = PartitionSnapshot()
        for row in self._rows(account_id):
            snapshot.entities += 1
            key: str = row["RowKey"]
            if key.startswith(USER):
                if ":g:" in key[len(USER):]:
                    user_id, group_id = key[len(USER):].split(":g:", 1)
                    snapshot.reverse.add((user_id, group_id))
                else:
                    snapshot.users[key[len(USER):]] = unpack(row)
            elif key.startswith(MEMBER):
                group_id, user_id = key[len(MEMBER):].split(":", 1)
                snapshot.forward.add((group_id, user_id))
            elif key.startswith(GROUP):
                if row.get("Kind") != DELETED:  # a deleted group whose purge is pending (recorded work finishes it)
                    snapshot.groups[key[len(GROUP):]] = (unpack(row), row.get("ManagedBy", "scim"))
            elif key.startswith((USER_NAME_INDEX, USER_EXTERNAL_INDEX)):
                snapshot.index_rows[key] = row["UserId"]
            elif key.startswith((DISPLAY_NAME_INDEX, GROUP_EXTERNAL_INDEX)):
                snapshot.index_rows[key] = row["GroupId"]
        return snapshot

    def _rows(self, account_id: str) -> Iterator[Any]:
        return iter(self.table.query_entities("PartitionKey eq @pk", parameters={"pk": account_id},
                                              results_per_page=1000))

    def exists(self, account_id: str, row_key: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self.table.get_entity(account_id, row_key, select=["RowKey"])
        except ResourceNotFoundError:
            return False
        return True

    def get(self, account_id: str, row_key: str) -> Any | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.table.get_entity(account_id, row_key)
        except ResourceNotFoundError:
            return None

    def delete(self, account_id: str, row_key: str) -> None:
        self.table.delete_entity(account_id, row_key)

    def create(self, account_id: str, row_key: str, properties: dict[str, Any]) -> bool:
        from azure.core.exceptions import ResourceExistsError

        try:
            self.table.create_entity({"PartitionKey": account_id, "RowKey": row_key, **properties})
        except ResourceExistsError:
            return False
        return True


__all__ = ["DriftStore", "PartitionSnapshot", "display_name_key", "external_id_prefix", "forward_key",
           "group_external_prefix", "reverse_key", "user_name_key"]
