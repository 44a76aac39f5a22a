"""The activity log loses no record to a storage fault (#39 part 2), with the table service cut for real through a
TCP proxy: pages the table refuses after bounded retries go to the retry queue (another service) and are written
from there; records neither takes are counted and kept in the log as one audit record once storage is back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from scim_handlers.services import Services
from shared.config import Settings
from shared.domain.accounts import Account
from shared.domain.activity import ActivityRecord
from shared.domain.retries import handle_retry
from shared.storage.queues import RetryQueue
from shared.storage.tables import ACTIVITY
from tests.support.azurite import Azurite
from tests.support.proxy import CuttableProxy
from tests.support.services import retry_queue_client


@pytest.fixture
def proxy(table_proxy: CuttableProxy) -> CuttableProxy:
    return table_proxy


@pytest.fixture
def svc(azurite: Azurite, proxy: CuttableProxy, table_prefix: str) -> Services:
    settings = Settings.from_env({"AzureWebJobsStorage": proxy.connection_string(azurite), "TABLE_PREFIX": table_prefix})
    services = Services.build(settings)
    services.retry_queue = RetryQueue(settings, "act-" + uuid.uuid4().hex[:8])  # no host consumes it
    services.activity.spill = services.retry_queue.enqueue
    return services


def entry(n: int) -> ActivityRecord:
    return ActivityRecord(time=datetime.now(UTC), operation="Users.Create", method="POST", resource_type="User",
                          resource_id=f"user-{n}", external_id="", status=201, scim_type="", detail="",
                          duration_ms=3.0, invocation_id=f"inv-{n}-{uuid.uuid4().hex[:6]}", integration="current",
                          queued=False)


def test_records_the_table_refuses_go_to_the_retry_queue_and_are_all_written_from_there(
        svc: Services, proxy: CuttableProxy) -> None:
    account = Account(id="act-" + uuid.uuid4().hex[:6], name="Act", notification_email=None, created=datetime.now(UTC))
    svc.accounts.create(account)
    made = [entry(n) for n in range(30)]
    svc.tables.get(ACTIVITY)  # the table exists: its writes are refused, retried, then spilled
    proxy.cut()
    for record in made:
        svc.activity.record(account.id, record)
    svc.activity.flush(wait_seconds=60)
    proxy.restore()
    messages = list(retry_queue_client(svc).receive_messages(max_messages=32))
    assert messages, "nothing was spilled to the queue"
    for message in messages:
        assert handle_retry(svc.retry_context(), message.content.encode(), datetime.now(UTC)) == "activity records written"
    found, _ = svc.activity.query(account.id, None, None, None, None, 100, None)
    assert {r.invocation_id for r in made} <= {r.invocation_id for r in found}


def test_records_nothing_would_take_are_counted_and_shown_once_storage_is_back(
        svc: Services, proxy: CuttableProxy) -> None:
    account = Account(id="lost-" + uuid.uuid4().hex[:6], name="Lost", notification_email=None, created=datetime.now(UTC))
    svc.accounts.create(account)
    svc.activity.spill = None  # the queue is out too
    svc.tables.get(ACTIVITY)
    proxy.cut()
    for n in range(5):
        svc.activity.record(account.id, entry(n))
    svc.activity.flush(wait_seconds=60)
    proxy.restore()
    svc.activity.flush(wait_seconds=60)  # the next write records the loss
    found, _ = svc.activity.query(account.id, None, None, None, None, 100, None, kind="audit")
    [gap] = [r for r in found if r.operation == "Activity.RecordsLost"]
    assert gap.count == 5 and "5 activity record(s) could not be written" in gap.detail


def test_the_log_is_newest_first_across_instances_pages_and_pages_by_count_and_cursor(
        svc: Services, azurite: Azurite, table_prefix: str) -> None:
    """Two instances' writers (two ActivityLogs on one table) each write a page spanning the same seconds: the
    query merges them, newest first, and count/cursor pages walk every record once in that order (#39). The query
    was page by page: each instance's page came back whole, out of order."""
    from datetime import timedelta

    from shared.storage.activity_table import ActivityLog

    account = Account(id="two-" + uuid.uuid4().hex[:6], name="Two", notification_email=None, created=datetime.now(UTC))
    svc.accounts.create(account)
    other = ActivityLog(Services.build(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string,
                                                          "TABLE_PREFIX": table_prefix})).tables)
    start = datetime.now(UTC) - timedelta(minutes=1)
    made = []
    for n in range(24):
        record = entry(n)
        record = ActivityRecord(**{**record.__dict__, "time": start + timedelta(milliseconds=100 * n)})
        (svc.activity if n % 2 else other).record(account.id, record)
        made.append(record)
    svc.activity.flush(wait_seconds=30)
    other.flush(wait_seconds=30)
    newest_first = [r.invocation_id for r in sorted(made, key=lambda r: r.time, reverse=True)]
    everything, cursor = svc.activity.query(account.id, None, None, None, None, 100, None)
    assert [r.invocation_id for r in everything] == newest_first and cursor is None
    walked: list[str] = []
    cursor = None
    while True:
        page, cursor = svc.activity.query(account.id, None, None, None, None, 5, cursor)
        walked += [r.invocation_id for r in page]
        if cursor is None:
            break
    assert walked == newest_first
    since = start + timedelta(milliseconds=1000)  # records 10..23
    recent, _ = svc.activity.query(account.id, since, None, None, None, 100, None)
    assert [r.invocation_id for r in recent] == newest_first[:14]


def test_spilled_records_given_up_by_the_queue_are_counted_and_shown(svc: Services) -> None:
    """The poison handler's end of the fallback: a write_activity job that failed every delivery is a loss of as many
    records as it held, shown as one RecordsLost audit record."""
    import json

    from shared.domain.jobs import WriteActivity, serialize
    from shared.domain.retries import handle_poisoned
    from shared.storage.activity_table import _document

    account = Account(id="gone-" + uuid.uuid4().hex[:6], name="Gone", notification_email=None, created=datetime.now(UTC))
    svc.accounts.create(account)
    records = json.dumps([_document(entry(n)) for n in range(3)])
    job = serialize(WriteActivity(account.id, records))
    assert handle_poisoned(svc.retry_context(), job.encode(), datetime.now(UTC)) == "activity records given up"
    svc.activity.flush(wait_seconds=30)
    found, _ = svc.activity.query(account.id, None, None, None, None, 100, None, kind="audit")
    [gap] = [r for r in found if r.operation == "Activity.RecordsLost"]
    assert gap.count == 3
