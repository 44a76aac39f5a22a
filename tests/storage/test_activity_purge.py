"""The activity log's pages on Azurite: the retention purge (pages whose newest record is older than the bound go, in
transactions of up to 100 deletes; newer pages and other accounts' pages stay), what `flush` (at exit) writes, and
pages sized to what an entity can hold when records are large."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.config import Settings
from shared.domain.activity import ActivityRecord
from shared.storage.activity_table import PAGE_RECORDS, ActivityLog, _page_entity, _pages
from shared.storage.clients import table_service
from shared.storage.tables import ACTIVITY, Tables
from tests.support.azurite import Azurite

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def record(moment: datetime, number: int) -> ActivityRecord:
    return ActivityRecord(time=moment, operation="Users.Create", method="POST", resource_type="User",
                          resource_id=f"u{number}", external_id="", status=201, scim_type="", detail="",
                          duration_ms=1.0, invocation_id=f"i{number}", integration="Entra", queued=False)


def test_purge_removes_the_old_pages_in_transactions_and_keeps_the_rest(azurite: Azurite, table_prefix: str) -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    tables = Tables(table_service(settings), table_prefix)
    table = tables.get(ACTIVITY)
    old_pages = 101  # more than one transaction's worth of deletes
    for page in range(old_pages):  # pages written straight to storage (setup, as the writer thread writes them)
        records = [record(NOW - timedelta(days=40, minutes=page, seconds=number), page * 2 + number) for number in range(2)]
        table.upsert_entity(_page_entity("a", next(_pages(records))))
    for account in ("a", "b"):
        table.upsert_entity(_page_entity(account, next(_pages([record(NOW - timedelta(days=1), 10_000)]))))
    table.upsert_entity(_page_entity("b", next(_pages([record(NOW - timedelta(days=40), 10_001)]))))
    log = ActivityLog(tables)

    purged = log.purge("a", NOW - timedelta(days=30))

    assert purged == old_pages * 2
    kept, _ = log.query("a", None, None, None, None, count=PAGE_RECORDS, cursor=None)
    assert [entry.resource_id for entry in kept] == ["u10000"]
    other, _ = log.query("b", None, None, None, None, count=PAGE_RECORDS, cursor=None)
    assert sorted(entry.resource_id for entry in other) == ["u10000", "u10001"]


def test_flush_writes_the_batch_the_writer_had_already_taken(azurite: Azurite, table_prefix: str) -> None:
    """At exit the writer thread may be holding a batch while it fills: `flush` waits for it to be written, or the
    last records before a graceful shutdown would be lost."""
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    log = ActivityLog(Tables(table_service(settings), table_prefix), flush_seconds=2)
    log.record("late", record(NOW, 1))
    time.sleep(0.3)  # the writer has taken it and waits for more
    log.flush()

    found, _ = log.query("late", None, None, None, None, count=10, cursor=None)
    assert [entry.resource_id for entry in found] == ["u1"]


def test_a_flush_of_large_records_is_split_into_pages_storage_accepts(azurite: Azurite, table_prefix: str) -> None:
    """Group writes record up to 100 user ids each: 400 such records (~1.9 MB of JSON) are more than one entity can
    hold (450K characters), so a page is cut by size as well as by count, and every record is kept."""
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    log = ActivityLog(Tables(table_service(settings), table_prefix))
    added = tuple(f"{n:08d}-0000-4000-8000-{n:012d}" for n in range(100))
    for number in range(PAGE_RECORDS):
        log.record("big", replace(record(NOW + timedelta(seconds=number), number), added=added))
    log.flush()

    found, _ = log.query("big", None, None, None, None, count=PAGE_RECORDS + 1, cursor=None)
    assert len(found) == PAGE_RECORDS and all(entry.added == added for entry in found)
