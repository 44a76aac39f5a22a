"""Hourly counts of the activity log, for the console's overview: what it shows costs a handful of round trips,
whatever the log's size.

Table `<prefix>activitystats`, PartitionKey = account id, RowKey = `<yyyymmddhh>:<instance>`: one row per account, UTC
hour and process. Each process owns its rows, so it writes its running totals with plain upserts (no read, no
conflict between instances) in the activity writer's background flush; a reader sums the rows of an hour. A row
holds, per operation, how many requests succeeded and failed, and when each token (key id) was last seen, with its
identity provider. Like the log itself, a crash can lose the last flush's counts.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from shared.domain import times
from shared.domain.activity import ActivityRecord, HourCounts, hour_of
from shared.storage.tables import ACTIVITY_STATS, Tables
from shared.storage.transactions import MAX_TRANSACTION_OPERATIONS, storage_errors, submit

log = logging.getLogger("scim.activity")


def _hour_key(hour: datetime) -> str:
    return f"{hour:%Y%m%d%H}"


class ActivityStats:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._instance = uuid.uuid4().hex[:12]
        self._hours: dict[tuple[str, datetime], HourCounts] = {}
        self._lock = threading.Lock()

    def add(self, account_id: str, records: Iterable[ActivityRecord]) -> None:
        """Counts the records (called by the activity writer with each flush's batch) and writes the hours they
        touched: one upsert per account and hour."""
        touched: set[tuple[str, datetime]] = set()
        with self._lock:
            for record in records:
                key = (account_id, hour_of(record.time))
                self._hours.setdefault(key, HourCounts(key[1])).add(record)
                touched.add(key)
            rows = [self._row(account, self._hours[(account, hour)]) for account, hour in touched]
            self._forget_before(times.now() - timedelta(hours=2))
        for row in rows:
            try:
                self._tables.get(ACTIVITY_STATS).upsert_entity(row)
            except Exception as exc:
                log.warning("could not write the activity counts of account %s: %s", row["PartitionKey"], exc)

    def _forget_before(self, moment: datetime) -> None:
        """Hours this process will not count again are kept in storage only."""
        for key in [key for key in self._hours if key[1] < hour_of(moment)]:
            del self._hours[key]

    def _row(self, account_id: str, counts: HourCounts) -> dict[str, Any]:
        return {"PartitionKey": account_id, "RowKey": f"{_hour_key(counts.hour)}:{self._instance}",
                "Hour": counts.hour, "Operations": json.dumps(counts.operations, separators=(",", ":")),
                "Actors": json.dumps({actor: [seen.isoformat(), idp, operation]
                                      for actor, (seen, idp, operation) in counts.actors.items()},
                                     separators=(",", ":"))}

    @storage_errors
    def hours(self, account_id: str, since: datetime) -> list[HourCounts]:
        """The account's counts from the hour of `since` on, oldest first, every process's rows summed: one range
        read (a round trip per 1,000 rows: about 41 days of one instance)."""
        rows = self._tables.get(ACTIVITY_STATS).query_entities(
            "PartitionKey eq @pk and RowKey ge @from", parameters={"pk": account_id, "from": _hour_key(hour_of(since))},
            results_per_page=1000)
        summed: dict[datetime, HourCounts] = {}
        for row in rows:
            hour = hour_of(row["Hour"])
            counts = HourCounts(hour, {k: list(v) for k, v in json.loads(row.get("Operations") or "{}").items()},
                                {actor: (datetime.fromisoformat(seen), idp, operation) for actor, (seen, idp, operation)
                                 in json.loads(row.get("Actors") or "{}").items()})
            summed.setdefault(hour, HourCounts(hour)).merge(counts)
        return [summed[hour] for hour in sorted(summed)]

    def purge(self, account_id: str, before: datetime) -> int:
        """Deletes the rows of hours before `before` (with the log's retention)."""
        table = self._tables.get(ACTIVITY_STATS)
        keys = [row["RowKey"] for row in table.query_entities(
            "PartitionKey eq @pk and RowKey lt @before", parameters={"pk": account_id, "before": _hour_key(hour_of(before))},
            select=["RowKey"], results_per_page=1000)]
        for start in range(0, len(keys), MAX_TRANSACTION_OPERATIONS):
            submit(table, [("delete", {"PartitionKey": account_id, "RowKey": key})
                           for key in keys[start:start + MAX_TRANSACTION_OPERATIONS]])
        return len(keys)
