"""Digest emails (batched per window, never sent twice) and the reconcile pass (each kind of drift, written
straight into Azurite, is repaired, and a second pass finds nothing), run in-process against Azurite and a real
SMTP server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from scim_handlers.services import Services
from shared.config import Settings
from shared.domain import groups, users
from shared.domain.accounts import Account
from shared.domain.jobs import RetryWork, serialize
from shared.domain.reconcile import run_reconcile
from shared.domain.retries import handle_poisoned, handle_retry
from shared.storage.queues import RetryQueue
from shared.storage.tables import RESOURCES
from tests.support.azurite import Azurite
from tests.support.services import retry_queue_client, table_groups
from tests.support.smtp import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def svc(azurite: Azurite, table_prefix: str, smtp: SmtpServer) -> Services:
    settings = Settings.from_env({
        "AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix,
        "NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(smtp.port), "NOTIFY_SMTP_SECURITY": "none",
        "NOTIFY_WINDOW_MINUTES": "15"})
    services = Services.build(settings)
    # a queue of this test's own, so no running host consumes its messages
    services.retry_queue = RetryQueue(settings, "retry-" + uuid.uuid4().hex[:8])
    return services


@pytest.fixture
def account(svc: Services) -> Account:
    account = Account(id="dig-" + uuid.uuid4().hex[:8], name="Digest", notification_email="ops@contoso.test",
                      created=datetime.now(UTC))
    svc.accounts.create(account)
    return account


def queued(svc: Services) -> list[Any]:
    client: QueueClient = retry_queue_client(svc)
    return list(client.receive_messages(max_messages=32, visibility_timeout=30))


def test_failures_in_one_window_become_one_digest_that_is_never_sent_twice(
        svc: Services, account: Account, smtp: SmtpServer) -> None:
    ctx = svc.retry_context()
    now = datetime.now(UTC)
    for n in range(3):
        job = RetryWork(account_id=account.id, work_id=f"work-{n}", operation="Groups.Patch", resource_type="Group",
                        resource_id=f"group_{n}", external_id=f"ext-{n}", last_error="storage unavailable")
        assert handle_poisoned(ctx, serialize(job).encode(), now) == "recorded"
        assert handle_poisoned(ctx, serialize(job).encode(), now) == "recorded"  # a redelivered poison message
    [digest_job] = queued(svc)  # one digest scheduled for the three failures
    assert handle_retry(ctx, digest_job.content.encode(), now).startswith("sent 3")
    assert handle_retry(ctx, digest_job.content.encode(), now) == "already sent"
    [message] = smtp.wait_for(1, 5)
    body = bytes(message.get_payload(decode=True)).decode()
    assert message["To"] == "ops@contoso.test" and "3 operations" in message["Subject"]
    assert all(f"group_{n}" in body and f"ext-{n}" in body for n in range(3)) and "storage unavailable" in body
    assert svc.failures.unreported(account.id) == [] and len(svc.failures.reported(account.id)) == 3

    later = now + timedelta(minutes=1)
    handle_poisoned(ctx, serialize(RetryWork(account_id=account.id, work_id="work-late")).encode(), later)
    assert queued(svc) == []  # the next digest waits for the window: not visible yet
    state = svc.failures.state(account.id)
    assert state.scheduled_for is not None and state.last_sent is not None
    assert state.scheduled_for == state.last_sent + timedelta(minutes=15)
    assert len(svc.failures.unreported(account.id)) == 1  # not lost: it goes into that digest
    assert len(smtp.messages) == 1


def test_without_a_transport_failures_stay_recorded_and_nothing_crashes(svc: Services, account: Account) -> None:
    ctx = replace(svc.retry_context(), mailer=None)
    now = datetime.now(UTC)
    handle_poisoned(ctx, serialize(RetryWork(account_id=account.id, work_id="w")).encode(), now)
    [digest_job] = queued(svc)
    assert handle_retry(ctx, digest_job.content.encode(), now) == "not sent: no transport or address"
    assert len(svc.failures.unreported(account.id)) == 1


def damage(svc: Services, account: Account) -> dict[str, Any]:
    """A healthy account, then one of each kind of drift written straight into storage."""
    alice = users.create_user(svc.users, account, {"userName": "alice@contoso.test", "externalId": "a-ext"})
    bob = users.create_user(svc.users, account, {"userName": "bob@contoso.test"})
    carol = users.create_user(svc.users, account, {"userName": "carol@contoso.test"})
    team = groups.create_group(svc.groups, account, {"displayName": "Team"}).group
    groups.patch_group(svc.groups, account, team.id, {"Operations": [
        {"op": "add", "path": "members", "value": [{"value": alice.id}, {"value": bob.id}]}]})
    table = svc.tables.get(RESOURCES)
    pk = account.id
    ghost = str(uuid.uuid4())
    table.upsert_entity({"PartitionKey": pk, "RowKey": f"gm:{team.id}:{ghost}"})  # member whose user is gone
    table.upsert_entity({"PartitionKey": pk, "RowKey": f"u:{ghost}:g:{team.id}", "Display": "Team"})
    table.upsert_entity({"PartitionKey": pk, "RowKey": f"u:{carol.id}:g:{team.id}", "Display": "Team"})  # no forward
    table.delete_entity(pk, f"u:{bob.id}:g:{team.id}")  # forward without its reverse row
    table.upsert_entity({"PartitionKey": pk, "RowKey": "un:departed@contoso.test", "UserId": ghost})  # index -> nobody
    table.delete_entity(pk, "un:alice@contoso.test")  # a user without its index row
    table.delete_entity(pk, "gn:team")  # a group without its index row
    return {"alice": alice, "bob": bob, "carol": carol, "team": team, "ghost": ghost}


def test_reconcile_repairs_each_kind_of_drift_and_a_second_run_finds_nothing(svc: Services, account: Account) -> None:
    made = damage(svc, account)
    now = datetime.now(UTC)
    first = run_reconcile(svc.reconcile_context(), now, only_account=account.id).as_dict()
    assert first["repaired"] == {
        "member whose user or group is gone": 1,
        "member without its reverse row": 1,
        "reverse row without its forward row": 1,
        "index row pointing at a deleted or renamed resource": 1,
        "resource without its index row": 2,
    }
    second = run_reconcile(svc.reconcile_context(), now, only_account=account.id).as_dict()
    assert second["repairedTotal"] == 0 and second["unrepairable"] == 0

    team, alice, bob, carol = made["team"], made["alice"], made["bob"], made["carol"]
    assert {u for u, _ in svc.groups.members(account.id, team.id)} == {alice.id, bob.id}
    assert [g.id for g in svc.users.get(account.id, bob.id).groups] == [team.id]
    assert svc.users.get(account.id, carol.id).groups == []
    assert svc.users.find_by_user_name(account.id, "ALICE@contoso.test") is not None
    assert svc.groups.find_by_display_name(account.id, "team") is not None


def test_reconcile_re_enqueues_stale_work_and_reports_what_it_cannot_repair(
        svc: Services, account: Account, smtp: SmtpServer) -> None:
    user = users.create_user(svc.users, account, {"userName": "dup@contoso.test"})
    other = users.create_user(svc.users, account, {"userName": "other@contoso.test"})
    table = svc.tables.get(RESOURCES)
    # outside damage: a second user carrying the same userName, which no index row can hold for both
    twin = table.get_entity(account.id, f"u:{other.id}")
    twin["Data0"] = twin["Data0"].replace("other@contoso.test", "dup@contoso.test")
    table.update_entity(twin)
    work, record = table_groups(svc).pending.record(account.id, "purge_group", datetime.now(UTC) - timedelta(hours=1),
                                             group_id="gone_group")
    table.submit_transaction(record)

    summary = run_reconcile(svc.reconcile_context(), datetime.now(UTC), only_account=account.id).as_dict()
    assert summary["reenqueued"] == 1 and summary["unrepairable"] == 1
    messages = [m.content for m in queued(svc)]
    assert any(work.id in m for m in messages)  # the stale work is queued again
    failure = svc.failures.unreported(account.id)[0]
    assert failure.source == "reconcile" and user.id in failure.last_error + failure.resource_id
    assert any('"send_digest"' in m for m in messages)  # and an email is on its way


def test_two_reconcile_passes_at_once_do_not_both_run(svc: Services, account: Account) -> None:
    ctx = svc.reconcile_context()
    now = datetime.now(UTC)
    held = ctx.lease.acquire(now, timedelta(minutes=10))
    assert held is not None
    assert run_reconcile(ctx, now).skipped is True
    ctx.lease.release(held, "", now)
    assert run_reconcile(ctx, now).skipped is False


def test_a_repair_decided_on_stale_reads_does_not_undo_a_write_made_meanwhile(svc: Services, account: Account) -> None:
    """Reconcile on one instance sees carol's reverse row without its member row and decides to delete it; before
    it does, carol is added to the group on another instance. The delete is conditional on what was seen, so it is
    refused and carol stays a member (both rows)."""
    made = damage(svc, account)
    team, carol = made["team"], made["carol"]
    drift = svc.reconcile_context().drift
    seen = drift.membership(account.id, team.id, carol.id)
    assert seen.forward is None and seen.reverse is not None  # what a repair would act on

    groups.patch_group(svc.groups, account, team.id, {"Operations": [
        {"op": "add", "path": "members", "value": [{"value": carol.id}]}]})
    assert drift.remove_membership(account.id, team.id, carol.id, seen) is False
    assert carol.id in {u for u, _ in svc.groups.members(account.id, team.id)}
    assert [g.id for g in svc.users.get(account.id, carol.id).groups] == [team.id]

    # and the reverse repair: bob's member row is seen without its reverse row, then bob is removed meanwhile
    bob = made["bob"]
    seen = drift.membership(account.id, team.id, bob.id)
    assert seen.forward is not None and seen.reverse is None
    groups.patch_group(svc.groups, account, team.id, {"Operations": [
        {"op": "remove", "path": f'members[value eq "{bob.id}"]'}]})
    assert drift.restore_reverse(account.id, team.id, bob.id, seen, "Team", "scim") is False
    assert svc.users.get(account.id, bob.id).groups == []


def test_a_sweep_in_slices_repairs_everything_holding_one_slice_at_a_time(
        svc: Services, account: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large account is swept a slice a run (its users by a hash, with their memberships and index rows, and every
    group): here 1 user a slice, so 3 runs; together they repair what one whole pass repairs."""
    from collections import Counter

    from shared.domain import reconcile

    monkeypatch.setattr(reconcile, "SLICE_USERS", 1)
    damage(svc, account)
    ctx = replace(svc.reconcile_context(), sweep_every=timedelta(0))
    runs = [run_reconcile(ctx, datetime.now(UTC)) for _ in range(3)]
    assert [run.slices_swept for run in runs] == [1, 1, 1]
    repaired: Counter[str] = Counter()
    for run in runs:
        repaired.update(run.repaired)
    assert dict(repaired) == {
        "member whose user or group is gone": 1,
        "member without its reverse row": 1,
        "reverse row without its forward row": 1,
        "index row pointing at a deleted or renamed resource": 1,
        "resource without its index row": 2,
    }
    assert run_reconcile(ctx, datetime.now(UTC), only_account=account.id).repaired == Counter()  # all of it


def test_an_account_with_nothing_written_since_its_last_sweep_is_not_read(svc: Services, account: Account) -> None:
    from shared.storage.roundtrips import counting

    user = users.create_user(svc.users, account, {"userName": "quiet@contoso.test"})
    eager = replace(svc.reconcile_context(), sweep_every=timedelta(0))
    assert run_reconcile(eager, datetime.now(UTC)).slices_swept == 1
    with counting() as trips:
        quiet = run_reconcile(eager, datetime.now(UTC))
    assert (quiet.slices_swept, quiet.sweeps_not_needed, quiet.entities_checked) == (0, 1, 0)
    assert trips.entities_read <= 8, trips.entities_read  # the sweep row, the count tallies: none of its resources
    users.patch_user(svc.users, account, user.id, {"Operations": [{"op": "replace", "path": "displayName", "value": "Q"}]})
    assert run_reconcile(eager, datetime.now(UTC)).slices_swept == 1  # written since: swept again
    daily = replace(svc.reconcile_context(), sweep_every=timedelta(hours=24))  # RECONCILE_SWEEP_HOURS=24
    users.patch_user(svc.users, account, user.id, {"Operations": [{"op": "replace", "path": "displayName", "value": "R"}]})
    assert run_reconcile(daily, datetime.now(UTC)).slices_swept == 0
