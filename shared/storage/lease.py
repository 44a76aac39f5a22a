"""A lease and checkpoint for the reconcile timer, so two instances running it at once do not both work (the
host's timer singleton is best effort across deployments sharing storage) and a long pass continues where the
last one stopped. One row in the accounts table, changed only with ETag-conditional writes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from shared.domain.repairs import Lease
from shared.storage.tables import ACCOUNTS, Tables
from shared.storage.transactions import storage_errors

PARTITION = "~reconcile"
ROW = "lease"


class LeaseStore:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> Any:
        return self._tables.get(ACCOUNTS)

    @storage_errors
    def acquire(self, now: datetime, duration: timedelta) -> Lease | None:
        """The lease, or None while another holder's lease runs."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        holder = uuid.uuid4().hex
        entity = {"PartitionKey": PARTITION, "RowKey": ROW, "Holder": holder, "Until": now + duration}
        try:
            current = self._table.get_entity(PARTITION, ROW)
        except ResourceNotFoundError:
            try:
                result = self._table.create_entity({**entity, "Checkpoint": ""})
            except ResourceExistsError:
                return None
            return Lease(holder, "", result["etag"])
        if current.get("Until") and current["Until"] > now:
            return None
        try:
            result = self._table.update_entity({**entity, "Checkpoint": current.get("Checkpoint", "")},
                                               mode=UpdateMode.REPLACE, etag=current.metadata["etag"],
                                               match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            return None
        return Lease(holder, current.get("Checkpoint", ""), result["etag"])

    @storage_errors
    def release(self, lease: Lease, checkpoint: str, now: datetime) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError
        from azure.data.tables import UpdateMode

        try:
            self._table.update_entity({"PartitionKey": PARTITION, "RowKey": ROW, "Holder": "", "Until": now,
                                       "Checkpoint": checkpoint, "LastRun": now}, mode=UpdateMode.REPLACE,
                                      etag=lease.etag, match_condition=MatchConditions.IfNotModified)
        except ResourceModifiedError:
            pass  # our lease expired and another instance took over: its checkpoint wins

    @storage_errors
    def last_run(self) -> datetime | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            last: datetime | None = self._table.get_entity(PARTITION, ROW).get("LastRun")
        except ResourceNotFoundError:
            return None
        return last
