"""Recorded work and later writes to the same resource: whatever the interleaving, the stored state equals the
requests applied in the order they were acknowledged. In-process against Azurite, with table storage cut for real
(a TCP proxy) in the middle of a large change, so its remainder is on the real retry queue."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scim_handlers.services import Services
from shared.config import Settings
from shared.domain import groups, users
from shared.domain.accounts import Account
from shared.domain.reconcile import run_reconcile
from shared.domain.retries import handle_retry
from shared.errors import ServiceUnavailable
from shared.storage.pending import header_key
from shared.storage.queues import RetryQueue
from shared.storage.tables import RESOURCES
from tests.support.azurite import Azurite
from tests.support.proxy import CuttableProxy
from tests.support.services import retry_queue_client

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LARGE = 100  # 100 memberships x 3 rows: recorded, then carried out in fenced batches of 32


@pytest.fixture
def proxy(azurite: Azurite) -> Iterator[CuttableProxy]:
    instance = CuttableProxy(azurite.table_port)
    yield instance
    instance.close()


@pytest.fixture
def svc(azurite: Azurite, proxy: CuttableProxy, table_prefix: str) -> Services:
    settings = Settings.from_env({
        "AzureWebJobsStorage": proxy.connection_string(azurite),
        "TABLE_PREFIX": table_prefix})
    services = Services.build(settings)
    services.retry_queue = RetryQueue(settings, "retry-" + uuid.uuid4().hex[:8])  # no host consumes it
    return services


@pytest.fixture
def account(svc: Services) -> Account:
    account = Account(id="ord-" + uuid.uuid4().hex[:8], name="Order", notification_email=None, created=datetime.now(UTC))
    svc.accounts.create(account)
    return account


def members_patch(op: str, ids: list[str]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": op, "path": "members", "value": [{"value": u} for u in ids]}]}


def seed(svc: Services, account: Account, count: int) -> tuple[list[str], str]:
    ids = [users.create_user(svc.users, account, {"userName": f"u{n}@contoso.test"}).id for n in range(count)]
    return ids, groups.create_group(svc.groups, account, {"displayName": "Team"}).group.id


def interrupted_add(svc: Services, account: Account, proxy: CuttableProxy, group_id: str, ids: list[str]) -> bytes:
    """An Add acknowledged with its remainder queued: the record and one batch get through, then the table is cut.
    Returns the queued retry message."""
    proxy.cut_after_transactions(2)
    try:
        result = groups.patch_group(svc.groups, account, group_id, members_patch("Add", ids), queue=svc.retry_queue)
    finally:
        proxy.restore()
    assert result.outcome.queued
    [message] = retry_queue_client(svc).receive_messages(max_messages=32, visibility_timeout=60)
    return str(message.content).encode()


def rows(svc: Services, account: Account, prefix: str) -> list[str]:
    table = svc.tables.get(RESOURCES)
    found = table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                 parameters={"pk": account.id, "lo": prefix, "hi": prefix[:-1] + chr(ord(prefix[-1]) + 1)})
    return [row["RowKey"] for row in found]


def members(svc: Services, account: Account, group_id: str) -> set[str]:
    return {user_id for user_id, _ in svc.groups.members(account.id, group_id)}


def test_a_later_remove_finishes_the_queued_add_first_and_a_late_retry_changes_nothing(
        svc: Services, account: Account, proxy: CuttableProxy) -> None:
    ids, group_id = seed(svc, account, LARGE)
    message = interrupted_add(svc, account, proxy, group_id, ids)
    assert members(svc, account, group_id) != set(ids)  # the remainder is still queued

    groups.patch_group(svc.groups, account, group_id, members_patch("Remove", ids[:10]), queue=svc.retry_queue)
    assert members(svc, account, group_id) == set(ids[10:])
    assert handle_retry(svc.retry_context(), message, datetime.now(UTC)) == "nothing left to do"
    assert handle_retry(svc.retry_context(), message, datetime.now(UTC)) == "nothing left to do"  # redelivered
    assert members(svc, account, group_id) == set(ids[10:])
    assert rows(svc, account, "op:") == []


def test_deleting_a_group_with_pending_adds_leaves_no_member_rows(
        svc: Services, account: Account, proxy: CuttableProxy) -> None:
    ids, group_id = seed(svc, account, LARGE)
    message = interrupted_add(svc, account, proxy, group_id, ids)
    groups.delete_group(svc.groups, account, group_id, queue=svc.retry_queue)
    handle_retry(svc.retry_context(), message, datetime.now(UTC))
    assert rows(svc, account, f"gm:{group_id}:") == []
    assert all(users.get_user(svc.users, account, u).groups == [] for u in ids)
    assert rows(svc, account, "op:") == [] and rows(svc, account, f"g:{group_id}") == []  # no tombstone left


def test_deleting_a_user_named_by_pending_adds_leaves_no_membership_of_theirs(
        svc: Services, account: Account, proxy: CuttableProxy) -> None:
    ids, group_id = seed(svc, account, LARGE)
    message = interrupted_add(svc, account, proxy, group_id, ids)
    doomed = ids[-1]  # in the last batch: not yet applied when the table was cut
    users.delete_user(svc.users, account, doomed, queue=svc.retry_queue)
    handle_retry(svc.retry_context(), message, datetime.now(UTC))
    assert members(svc, account, group_id) == set(ids[:-1])
    assert rows(svc, account, f"gm:{group_id}:{doomed}") == [] and rows(svc, account, f"u:{doomed}") == []


def test_a_put_after_a_queued_patch_is_the_final_state(svc: Services, account: Account, proxy: CuttableProxy) -> None:
    ids, group_id = seed(svc, account, LARGE)
    message = interrupted_add(svc, account, proxy, group_id, ids)
    groups.replace_group(svc.groups, account, group_id, {"displayName": "Team", "members": [{"value": ids[0]}]},
                         queue=svc.retry_queue)
    handle_retry(svc.retry_context(), message, datetime.now(UTC))
    assert members(svc, account, group_id) == {ids[0]}
    assert [g.id for g in users.get_user(svc.users, account, ids[5]).groups] == []


def test_the_same_retry_delivered_twice_at_once_applies_the_work_once(
        svc: Services, account: Account, proxy: CuttableProxy) -> None:
    ids, group_id = seed(svc, account, LARGE)
    message = interrupted_add(svc, account, proxy, group_id, ids)
    outcomes: list[str] = []
    workers = [threading.Thread(target=lambda: outcomes.append(handle_retry(svc.retry_context(), message, datetime.now(UTC))))
               for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert sorted(outcomes) in (["completed", "completed"], ["completed", "nothing left to do"])
    assert members(svc, account, group_id) == set(ids) and rows(svc, account, "op:") == []
    assert svc.groups.get(account.id, group_id).pending is None


def test_reconcile_and_the_retry_queue_working_one_group_at_once_end_in_the_acknowledged_state(
        svc: Services, account: Account, proxy: CuttableProxy) -> None:
    ids, group_id = seed(svc, account, LARGE)
    message = interrupted_add(svc, account, proxy, group_id, ids)
    ctx = svc.reconcile_context()
    ctx.stale_after = timedelta(0)  # reconcile re-enqueues the work at once
    retry = threading.Thread(target=lambda: handle_retry(svc.retry_context(), message, datetime.now(UTC)))
    retry.start()
    summary = run_reconcile(ctx, datetime.now(UTC), only_account=account.id)
    retry.join(60)
    for job in retry_queue_client(svc).receive_messages(max_messages=32, visibility_timeout=60):
        handle_retry(svc.retry_context(), str(job.content).encode(), datetime.now(UTC))  # what reconcile re-enqueued
    groups.patch_group(svc.groups, account, group_id, members_patch("Remove", ids[:3]), queue=svc.retry_queue)
    assert members(svc, account, group_id) == set(ids[3:])
    assert all([g.id for g in users.get_user(svc.users, account, u).groups] == [group_id] for u in ids[3::9])
    assert users.get_user(svc.users, account, ids[0]).groups == []
    assert sum(summary.repaired.values()) == 0  # nothing looked like drift while the work was under way
    assert rows(svc, account, "op:") == []


def test_an_executor_that_fell_behind_cannot_apply_a_stale_batch(
        svc: Services, account: Account, proxy: CuttableProxy) -> None:
    """A retry that read the work, then stalled while another executor finished it and a later Remove was
    acknowledged: its next step is refused by the fence on the work's header row, so the Remove stands."""
    from shared.storage.memberships import add_unit
    from shared.storage.pending import _Fence, _Superseded

    ids, group_id = seed(svc, account, LARGE)
    interrupted_add(svc, account, proxy, group_id, ids)
    [work] = svc.groups.pending.pending(account.id)
    table = svc.tables.get(RESOURCES)
    stalled = _Fence(account.id, work.id, str(table.get_entity(account.id, header_key(work.id)).metadata["etag"]))
    groups.patch_group(svc.groups, account, group_id, members_patch("Remove", ids[-5:]), queue=svc.retry_queue)
    with pytest.raises(_Superseded):
        stalled.submit(table, [], [add_unit(account.id, group_id, "Team", u, None) for u in ids[-5:]])
    assert members(svc, account, group_id) == set(ids[:-5])


def test_recorded_work_whose_group_row_was_removed_outside_the_service_still_finishes(
        svc: Services, account: Account, proxy: CuttableProxy) -> None:
    """Outside damage (the group's row deleted by hand) must not leave the work retried until it is poisoned."""
    ids, group_id = seed(svc, account, LARGE)
    message = interrupted_add(svc, account, proxy, group_id, ids)
    svc.tables.get(RESOURCES).delete_entity(account.id, f"g:{group_id}")
    assert handle_retry(svc.retry_context(), message, datetime.now(UTC)) == "completed"
    assert rows(svc, account, "op:") == []


def test_a_create_with_members_is_one_write_small_or_large(svc: Services, account: Account, proxy: CuttableProxy) -> None:
    """POST /Groups with members: with few members, the group and its members are one transaction (a cut before
    it changes nothing, so Entra's retry of the POST is not refused as a duplicate); with many, the group is
    created holding the record of its members, and a cut after that leaves them queued, carried out in order."""
    ids = [users.create_user(svc.users, account, {"userName": f"c{n}@contoso.test"}).id for n in range(LARGE)]
    body = {"displayName": "Small", "members": [{"value": u} for u in ids[:5]] + [{"value": str(uuid.uuid4())}]}
    proxy.cut_after_transactions(0)
    try:
        with pytest.raises(ServiceUnavailable):
            groups.create_group(svc.groups, account, body, queue=svc.retry_queue)
    finally:
        proxy.restore()
    assert rows(svc, account, "g:") == [] and rows(svc, account, "gm:") == []  # nothing of it was written
    proxy.cut_after_transactions(2)  # one transaction and its resubmission without the unknown id get through
    try:  # (when the group and its members were two writes, the members' write was cut: a 503 after a create)
        small = groups.create_group(svc.groups, account, body, queue=svc.retry_queue)
    finally:
        proxy.restore()
    assert members(svc, account, small.group.id) == set(ids[:5]) and len(small.outcome.ignored) == 1

    proxy.cut_after_transactions(2)  # the create with its record, one batch of members, then the cut
    try:
        large = groups.create_group(svc.groups, account, {"displayName": "Large", "members": [{"value": u} for u in ids]},
                                    queue=svc.retry_queue)
    finally:
        proxy.restore()
    assert large.outcome.queued and members(svc, account, large.group.id) != set(ids)
    groups.patch_group(svc.groups, account, large.group.id, members_patch("Remove", ids[:3]), queue=svc.retry_queue)
    assert members(svc, account, large.group.id) == set(ids[3:])  # the queued adds first, then the remove
    assert rows(svc, account, "op:") == []


def test_lists_read_during_an_outage_answer_503_not_500(svc: Services, account: Account, proxy: CuttableProxy) -> None:
    """Streaming reads fetch their pages while being consumed: an outage then is a ServiceUnavailable (503 with
    Retry-After, which Entra retries) like any other storage call, not an SDK exception (a 500)."""
    from shared.domain.listing import ListQuery

    ids, group_id = seed(svc, account, 3)
    groups.patch_group(svc.groups, account, group_id, members_patch("Add", ids), queue=svc.retry_queue)
    proxy.cut()
    try:
        with pytest.raises(ServiceUnavailable):
            users.list_users(svc.users, account, ListQuery(None, 1, 100, [], []), "https://t", svc.positions)
        with pytest.raises(ServiceUnavailable):
            list(svc.groups.members(account.id, group_id))
        with pytest.raises(ServiceUnavailable):
            list(svc.groups.scan(account.id))
        with pytest.raises(ServiceUnavailable):  # the console's reads: a page of members, the log, the overview
            svc.users.get_many(account.id, ids)
        with pytest.raises(ServiceUnavailable):
            svc.activity.query(account.id, None, None, None, None, 50, None)
        with pytest.raises(ServiceUnavailable):
            svc.activity.stats.hours(account.id, datetime.now(UTC))
    finally:
        proxy.restore()
