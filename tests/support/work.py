"""Recorded work whose executor stopped (as after a storage outage), and the failure report that followed: what an
admin finds under Failures, set up straight in storage."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from scim_handlers.services import Services
from shared.config import Settings
from shared.domain.failures import Failure
from shared.domain.stored import MEMBERS
from shared.storage.pending import PendingWorkStore
from shared.storage.tables import RESOURCES
from tests.support.services import table_groups


def stuck_member_add(connection_string: str, table_prefix: str, account_id: str, group_id: str, user_id: str) -> str:
    """Records adding `user_id` to `group_id` as the group's first transaction would (work rows + the group's
    `Pending`), never carries it out, and records its failure; returns the work id."""
    services = Services.build(Settings.from_env({"AzureWebJobsStorage": connection_string,
                                                 "TABLE_PREFIX": table_prefix}))
    now = datetime.now(UTC)
    work, record = PendingWorkStore(table_groups(services).memberships).record(
        account_id, MEMBERS, now, group_id=group_id, display="Stuck", adds=[(user_id, None)])
    services.tables.get(RESOURCES).submit_transaction([*record, ("update", {
        "PartitionKey": account_id, "RowKey": f"g:{group_id}", "Pending": work.id}, {"mode": "merge"})])
    services.failures.record(account_id, Failure(f"job-{uuid.uuid4().hex[:6]}", "Groups.Patch", "Group", group_id, "",
                                                 "storage was down", 5, now, now, "", work.id, "retry"))
    return work.id
