"""The Table-backed stores behind `Services` (typed there by their ports), for tests that reach past a port: the
retry queue's own client, the group store's recorded work."""

from __future__ import annotations

from typing import Any

from scim_handlers.services import Services
from shared.storage.groups_table import TableGroupStore
from shared.storage.queues import RetryQueue


def retry_queue_client(svc: Services) -> Any:
    """The retry queue's QueueClient (azure-storage-queue)."""
    assert isinstance(svc.retry_queue, RetryQueue)
    return svc.retry_queue.client


def table_groups(svc: Services) -> TableGroupStore:
    assert isinstance(svc.groups, TableGroupStore)
    return svc.groups
