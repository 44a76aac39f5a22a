"""Named tables of the service, created on first use in each process (one round trip, once)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

ACCESS = "access"
"""Orgs and projects, role assignments, direct scope memberships: PartitionKey = account id (access_table.py)."""
ACCOUNTS = "accounts"
"""Accounts and their tokens: PartitionKey = account id; RowKey `account` or `token:<key id>`."""
ACTIVITY = "activity"
"""The provisioning activity log: PartitionKey = account id (shared/storage/activity_table.py)."""
ACTIVITY_STATS = "activitystats"
"""Hourly counts of the activity log per account and process (shared/storage/activity_stats.py)."""
PAGE_POSITIONS = "pagepositions"
"""Where index paging's pages start, per account and query, and the cursor signing key (positions_table.py)."""
RESOURCES = "resources"
"""SCIM users, groups, memberships, index rows and pending work: PartitionKey = account id."""


class Tables:
    def __init__(self, service: TableServiceClient, prefix: str) -> None:
        self._service = service
        self._prefix = prefix
        self._ready: dict[str, TableClient] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> TableClient:
        client = self._ready.get(name)
        if client is not None:
            return client
        with self._lock:
            client = self._ready.get(name)
            if client is None:
                from azure.core.exceptions import ResourceExistsError

                client = self._service.get_table_client(self._prefix + name)
                try:
                    client.create_table()
                except ResourceExistsError:
                    pass
                self._ready[name] = client
        return client
