"""Exact counts on Azurite: kept in the writes' own transactions, established for an account written before
counting began, folded by readers and by the reconcile pass, and exact after a real storage cut between writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.config import Settings
from shared.domain import groups, users
from shared.domain.accounts import Account
from shared.domain.stored import MANAGED_BY_NATIVE, MembershipChange
from shared.errors import ServiceUnavailable
from shared.storage.clients import table_service
from shared.storage.counts import USERS, tally_key
from shared.storage.drift import TableDriftStore
from shared.storage.groups_table import TableGroupStore
from shared.storage.keys import rows_with_prefix
from shared.storage.roundtrips import counting
from shared.storage.tables import RESOURCES, Tables
from shared.storage.users_table import TableUserStore, _index_rows, _user_entity
from tests.support.azurite import Azurite
from tests.support.proxy import CuttableProxy


@pytest.fixture
def proxy(table_proxy: CuttableProxy) -> CuttableProxy:
    return table_proxy


@pytest.fixture
def tables(azurite: Azurite, proxy: CuttableProxy, table_prefix: str) -> Tables:
    settings = Settings.from_env({"AzureWebJobsStorage": proxy.connection_string(azurite, queues=False),
                                  "TABLE_PREFIX": table_prefix})
    tables = Tables(table_service(settings), table_prefix)
    tables.get(RESOURCES)
    return tables


def account() -> Account:
    return Account(id="cnt-" + uuid.uuid4().hex[:8], name="Counts", notification_email=None)


def legacy_user(tables: Tables, account_id: str, name: str) -> str:
    """A user as the code before counting wrote it: its rows, no delta."""
    user_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    table = tables.get(RESOURCES)
    table.submit_transaction([("create", _user_entity(account_id, user_id, {"userName": name}, now, now, 1))]
                             + [("create", row) for row in _index_rows(account_id, user_id, {"userName": name})])
    return user_id


def deltas(tables: Tables, account_id: str) -> int:
    return sum(1 for row in rows_with_prefix(tables.get(RESOURCES), account_id, tally_key(USERS) + ":"))


def test_an_account_written_before_counting_began_gets_an_exact_count(tables: Tables) -> None:
    store, acct = TableUserStore(tables), account()
    legacy = [legacy_user(tables, acct.id, f"old{n}@example.com") for n in range(5)]
    store.delete(acct.id, store.get(acct.id, legacy[0]), datetime.now(UTC))  # a legacy user goes: a "-" delta
    made = [users.create_user(store, acct, {"userName": f"new{n}@example.com"}).id for n in range(3)]
    users.delete_user(store, acct, made[0])  # came and went after counting began
    assert store.count(acct.id) == 4 + 2  # established: legacy 5 - 1 deleted, new 3 - 1 deleted
    users.delete_user(store, acct, legacy[1])
    users.create_user(store, acct, {"userName": "later@example.com"})
    assert store.count(acct.id) == 6 == sum(1 for _ in store.scan(acct.id))


def test_readers_and_the_reconcile_fold_deltas_so_a_count_stays_one_short_read(tables: Tables) -> None:
    store, acct = TableUserStore(tables), account()
    for n in range(130):
        users.create_user(store, acct, {"userName": f"fold{n}@example.com"})
    assert store.count(acct.id) == 130  # establishes: every user came with a delta, none before counting
    assert deltas(tables, acct.id) == 130
    assert store.count(acct.id) == 130  # more than 100 deltas: this reader folds them
    assert deltas(tables, acct.id) == 0
    for n in range(20):
        users.create_user(store, acct, {"userName": f"more{n}@example.com"})
    assert TableDriftStore(tables).fold_counts(acct.id) == 20
    with counting() as trips:
        assert store.count(acct.id) == 150
    assert (trips.count, trips.entities_read) == (1, 1)


def test_a_groups_member_deltas_are_folded_by_the_reconcile_after_a_sweep(tables: Tables) -> None:
    user_store, group_store, acct = TableUserStore(tables), TableGroupStore(tables), account()
    ids = [users.create_user(user_store, acct, {"userName": f"m{n}@example.com"}).id for n in range(110)]
    group = groups.create_group(group_store, acct, {"displayName": "Folded"}).group
    for user_id in ids:  # one PATCH each: a delta row each
        current = group_store.get(acct.id, group.id)
        group_store.update(acct.id, current, current.attributes, MembershipChange({user_id: None}, set()),
                           datetime.now(UTC))
    assert group.tally is not None
    member_deltas = sum(1 for r in rows_with_prefix(tables.get(RESOURCES), acct.id, tally_key(group.tally) + ":"))
    assert member_deltas == 110
    assert TableDriftStore(tables).fold_member_counts(acct.id) == 110
    with counting() as trips:
        assert group_store.member_counts(acct.id, [group_store.get(acct.id, group.id)]) == {group.id: 110}
    assert trips.count == 2 and trips.entities_read == 2  # the group, then its tally alone


def test_native_and_scim_groups_are_counted_apart(tables: Tables) -> None:
    store, acct = TableGroupStore(tables), account()
    for n in range(3):
        groups.create_group(store, acct, {"displayName": f"Scim {n}"})
    store.create(acct.id, {"displayName": "Native"}, datetime.now(UTC), managed_by=MANAGED_BY_NATIVE)
    doomed = groups.create_group(store, acct, {"displayName": "Doomed"}).group
    groups.delete_group(store, acct, doomed.id)
    assert (store.count(acct.id), store.count(acct.id, MANAGED_BY_NATIVE)) == (3, 1)


def test_a_storage_cut_between_writes_leaves_the_count_exact(tables: Tables, proxy: CuttableProxy) -> None:
    """Creates and deletes run until the table service is cut for real mid-stream: whatever was applied is
    counted, whatever was not is not, since each count moves in its write's own transaction."""
    store, acct = TableUserStore(tables), account()
    ids = [users.create_user(store, acct, {"userName": f"cut{n}@example.com"}).id for n in range(6)]
    assert store.count(acct.id) == 6
    refused = 0
    proxy.cut_after_transactions(5)
    for n in range(6):
        try:
            users.create_user(store, acct, {"userName": f"during{n}@example.com"})
            users.delete_user(store, acct, ids[n])
        except ServiceUnavailable:
            refused += 1
    assert refused > 0  # the cut happened between writes
    proxy.restore()
    assert store.count(acct.id) == sum(1 for _ in store.scan(acct.id))


def test_a_transaction_whose_answer_is_lost_says_its_outcome_is_unknown_and_a_retry_is_safe(
        tables: Tables, proxy: CuttableProxy) -> None:
    """The create reaches storage and is applied; its answer is cut off on the way back (a real dropped connection):
    the error says it may have been applied, and the retry finds it was (409), with the count still exact."""
    from shared.errors import Uniqueness

    store, acct = TableUserStore(tables), account()
    assert store.count(acct.id) == 0
    proxy.lose_next_answer()
    with pytest.raises(ServiceUnavailable) as unknown:
        users.create_user(store, acct, {"userName": "maybe@example.com"})
    assert "may or may not have been applied" in unknown.value.detail and "nothing was changed" not in unknown.value.detail
    proxy.restore()
    with pytest.raises(Uniqueness):
        users.create_user(store, acct, {"userName": "maybe@example.com"})  # it was applied: the retry says so
    assert store.count(acct.id) == 1 == sum(1 for _ in store.scan(acct.id))
