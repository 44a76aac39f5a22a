"""Storage round trips per user operation, counted by the hook on the Table client (deterministic, unlike times).
These are the figures in docs/architecture.md."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.config import Settings
from shared.domain import users
from shared.domain.accounts import Account
from shared.domain.filters import parse_filter
from shared.domain.listing import ListQuery
from shared.domain.schema import USER
from shared.storage.clients import table_service
from shared.storage.positions_table import TablePagePositions
from shared.storage.roundtrips import counting
from shared.storage.tables import PAGE_POSITIONS, RESOURCES, Tables
from shared.storage.users_table import TableUserStore
from tests.support.azurite import Azurite

ACCOUNT = Account(id="rt-account", name="Round trips", notification_email=None)
TENANT = "https://app.example/api/scim/account/rt-account"


@pytest.fixture
def tables(azurite: Azurite, table_prefix: str) -> Tables:
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    tables = Tables(table_service(settings), table_prefix)
    tables.get(RESOURCES)  # created once per process, outside the counted operations
    tables.get(PAGE_POSITIONS)
    return tables


@pytest.fixture
def store(tables: Tables) -> Iterator[TableUserStore]:
    yield TableUserStore(tables)


@pytest.fixture
def positions(tables: Tables) -> TablePagePositions:
    return TablePagePositions(tables)


def query(text: str | None) -> ListQuery:
    return ListQuery(parse_filter(text, USER) if text else None, 1, 100, [], [])


def test_round_trips_per_user_operation(store: TableUserStore, positions: TablePagePositions) -> None:
    with counting() as trips:
        user = users.create_user(store, ACCOUNT, {"userName": "rt@example.com", "externalId": "ext-rt"})
    assert trips.count == 1  # user row + index rows + its count in one transaction
    # the user, its userName and externalId rows, its count's delta, the search rows of its two terms
    assert (trips.entities_written, trips.entities_read) == (6, 0) and trips.bytes_sent > 0

    with counting() as trips:
        users.get_user(store, ACCOUNT, user.id)
    assert trips.count == 1  # the user row and its group rows are one range read
    assert (trips.entities_read, trips.entities_written, trips.bytes_sent) == (1, 0, 0)

    with counting() as trips:
        page = users.list_users(store, ACCOUNT, query('userName eq "RT@example.com"'), TENANT, positions)
    assert page.total == 1 and trips.count == 2  # index point read + user range read

    with counting() as trips:
        users.list_users(store, ACCOUNT, query('userName eq "nobody@example.com"'), TENANT, positions)
    assert trips.count == 1  # Test Connection's miss: one point read
    assert trips.entities_read == 0

    with counting() as trips:
        users.list_users(store, ACCOUNT, query(f'id eq "{user.id}"'), TENANT, positions)
    assert trips.count == 1

    with counting() as trips:
        users.list_users(store, ACCOUNT, query('externalId eq "ext-rt"'), TENANT, positions)
    assert trips.count == 2  # index range read + one read per match

    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "displayName", "value": "New"}]}
    with counting() as trips:
        users.patch_user(store, ACCOUNT, user.id, body)
    assert trips.count == 2  # read + one conditional transaction
    assert (trips.entities_read, trips.entities_written) == (1, 2)  # the user, the search row of its new name

    with counting() as trips:
        users.patch_user(store, ACCOUNT, user.id, body)
    assert trips.count == 1  # a PATCH that changes nothing writes nothing

    with counting() as trips:
        users.delete_user(store, ACCOUNT, user.id)
    assert trips.count == 2


def test_an_index_walk_costs_a_page_per_page_and_a_jump_counts_keys(store: TableUserStore,
                                                                    positions: TablePagePositions) -> None:
    made = sorted(users.create_user(store, ACCOUNT, {"userName": f"list{i}@example.com"}).id for i in range(7))
    users.list_users(store, ACCOUNT, ListQuery(None, 1, 2, [], []), TENANT, positions)  # establishes the count
    walked = []
    for start_index in (1, 3, 5, 7):
        with counting() as trips:
            page = users.list_users(store, ACCOUNT, ListQuery(None, start_index, 2, [], []), TENANT, positions)
        walked += [u.id for u in page.items]
        assert page.total == 7
        # the count, the page, where the next page starts (remembered in this process too, so not read back)
        assert trips.count == (3 if start_index < 7 else 2), (start_index, trips.count)
    assert walked == made

    with counting() as trips:
        page = users.list_users(store, ACCOUNT, ListQuery(None, 4, 2, [], []), TENANT, positions)
    assert [u.id for u in page.items] == made[3:5]
    assert trips.count == 5  # the count, the positions, 1 key read from the nearest (3), the page, remember 6


def test_storage_calls_read_no_proxy_or_netrc_from_the_environment(
        azurite: Azurite, table_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per-call environment reads (netrc, proxies, CA bundle) cost CPU on every storage call: the clients' transport
    is urllib3's pool, which reads none. A proxy in the environment is therefore not used: calls still reach Azurite."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    first, second = Tables(table_service(settings), table_prefix), Tables(table_service(settings), table_prefix + "b")
    store = TableUserStore(first)
    created = users.create_user(store, ACCOUNT, {"userName": "no-proxy@example.com"})
    assert users.get_user(store, ACCOUNT, created.id).id == created.id
    assert second.get(RESOURCES) is not None
