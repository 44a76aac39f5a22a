"""Given-up work and the digest emails about it (table `<prefix>resources`, PartitionKey = account id).

    nf:<job id>        a failure not yet reported (one per poisoned job: recording it twice is a no-op)
    nr:<job id>        a reported failure, kept for RETENTION_DAYS
    notify:state       LastSentAt, and the digest scheduled next (ScheduledDigest, ScheduledFor)
    digest:<digest id> a digest that was sent (so a redelivered send job does not send it again)
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from shared.domain.failures import Failure, NotifyState, SentDigest
from shared.storage.keys import key_part, rows_with_prefix
from shared.storage.tables import RESOURCES, Tables
from shared.storage.transactions import storage_errors, submit_tolerating_missing

UNREPORTED = "nf:"
REPORTED = "nr:"
STATE = "notify:state"
DIGEST = "digest:"


class FailureStore:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> Any:
        return self._tables.get(RESOURCES)

    @storage_errors
    def record(self, account_id: str, failure: Failure) -> bool:
        """False when this job's failure was already recorded (poison delivery is at-least-once)."""
        from azure.core.exceptions import ResourceExistsError

        if self._exists(account_id, REPORTED + key_part(failure.job_id)):
            return False
        try:
            self._table.create_entity({"PartitionKey": account_id, "RowKey": UNREPORTED + key_part(failure.job_id),
                                       "Kind": "failure", **asdict(failure)})
        except ResourceExistsError:
            return False
        return True

    def _exists(self, account_id: str, row_key: str) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._table.get_entity(account_id, row_key, select=["RowKey"])
        except ResourceNotFoundError:
            return False
        return True

    @storage_errors
    def unreported(self, account_id: str) -> list[Failure]:
        return sorted(self._rows(account_id, UNREPORTED), key=lambda f: f.last_attempt)

    @storage_errors
    def reported(self, account_id: str) -> list[Failure]:
        return sorted(self._rows(account_id, REPORTED), key=lambda f: f.last_attempt)

    def _rows(self, account_id: str, prefix: str) -> list[Failure]:
        rows = rows_with_prefix(self._table, account_id, prefix)
        fields = Failure.__dataclass_fields__
        return [Failure(**{k: row[k] for k in fields}) for row in rows]

    @storage_errors
    def mark_reported(self, account_id: str, failures: list[Failure]) -> None:
        for start in range(0, len(failures), 50):
            operations: list[tuple[Any, ...]] = []
            for failure in failures[start:start + 50]:
                key = key_part(failure.job_id)
                operations.append(("upsert", {"PartitionKey": account_id, "RowKey": REPORTED + key, "Kind": "failure",
                                              **asdict(failure)}))
                operations.append(("delete", {"PartitionKey": account_id, "RowKey": UNREPORTED + key}))
            submit_tolerating_missing(self._table, operations, guarded=0)

    @storage_errors
    def purge_reported(self, account_id: str, before: datetime) -> int:
        old = [f for f in self._rows(account_id, REPORTED) if f.last_attempt < before]
        for start in range(0, len(old), 100):
            submit_tolerating_missing(self._table, [
                ("delete", {"PartitionKey": account_id, "RowKey": REPORTED + key_part(f.job_id)})
                for f in old[start:start + 100]], guarded=0)
        return len(old)

    @storage_errors
    def state(self, account_id: str) -> NotifyState:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            row = self._table.get_entity(account_id, STATE)
        except ResourceNotFoundError:
            return NotifyState(None, None, None, None)
        return NotifyState(row.get("LastSentAt"), row.get("ScheduledDigest") or None, row.get("ScheduledFor"),
                           row.metadata["etag"])

    @storage_errors
    def save_state(self, account_id: str, previous: NotifyState, last_sent: datetime | None,
                   scheduled_digest: str | None, scheduled_for: datetime | None) -> bool:
        """Conditional on `previous` (False if another instance changed the state first)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError
        from azure.data.tables import UpdateMode

        entity: dict[str, Any] = {"PartitionKey": account_id, "RowKey": STATE, "Kind": "notify",
                                  "ScheduledDigest": scheduled_digest or ""}
        if last_sent is not None:
            entity["LastSentAt"] = last_sent
        if scheduled_for is not None:
            entity["ScheduledFor"] = scheduled_for
        try:
            if previous.etag is None:
                self._table.create_entity(entity)
            else:
                self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=previous.etag,
                                          match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True

    @storage_errors
    def digest_sent(self, account_id: str, digest_id: str) -> bool:
        return self._exists(account_id, DIGEST + key_part(digest_id))

    @storage_errors
    def digests(self, account_id: str) -> list[SentDigest]:
        rows = rows_with_prefix(self._table, account_id, DIGEST)
        sent = [SentDigest(row["RowKey"][len(DIGEST):], row["SentAt"], int(row.get("Failures", 0))) for row in rows]
        return sorted(sent, key=lambda d: d.sent_at, reverse=True)

    @storage_errors
    def mark_digest_sent(self, account_id: str, digest_id: str, now: datetime, count: int) -> None:
        self._table.upsert_entity({"PartitionKey": account_id, "RowKey": DIGEST + key_part(digest_id), "Kind": "digest",
                                   "SentAt": now, "Failures": count})
