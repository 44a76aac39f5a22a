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
from shared.storage.roundtrips import counting
from shared.storage.tables import RESOURCES, Tables
from shared.storage.users_table import TableUserStore
from tests.support.azurite import Azurite

ACCOUNT = Account(id="rt-account", name="Round trips", notification_email=None)
TENANT = "https://app.example/api/scim/account/rt-account"


@pytest.fixture
def store(azurite: Azurite, table_prefix: str) -> Iterator[TableUserStore]:
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    tables = Tables(table_service(settings), table_prefix)
    tables.get(RESOURCES)  # created once per process, outside the counted operations
    yield TableUserStore(tables)


def query(text: str | None) -> ListQuery:
    return ListQuery(parse_filter(text, USER) if text else None, 1, 100, [], [])


def test_round_trips_per_user_operation(store: TableUserStore) -> None:
    with counting() as trips:
        user = users.create_user(store, ACCOUNT, {"userName": "rt@example.com", "externalId": "ext-rt"})
    assert trips.count == 1  # user row + index rows in one transaction
    assert (trips.entities_written, trips.entities_read) == (3, 0) and trips.bytes_sent > 0  # row, userName, externalId

    with counting() as trips:
        users.get_user(store, ACCOUNT, user.id)
    assert trips.count == 1  # the user row and its group rows are one range read
    assert (trips.entities_read, trips.entities_written, trips.bytes_sent) == (1, 0, 0)

    with counting() as trips:
        page = users.list_users(store, ACCOUNT, query('userName eq "RT@example.com"'), TENANT)
    assert page.total == 1 and trips.count == 2  # index point read + user range read

    with counting() as trips:
        users.list_users(store, ACCOUNT, query('userName eq "nobody@example.com"'), TENANT)
    assert trips.count == 1  # Test Connection's miss: one point read
    assert trips.entities_read == 0

    with counting() as trips:
        users.list_users(store, ACCOUNT, query(f'id eq "{user.id}"'), TENANT)
    assert trips.count == 1

    with counting() as trips:
        users.list_users(store, ACCOUNT, query('externalId eq "ext-rt"'), TENANT)
    assert trips.count == 2  # index range read + one read per match

    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "Replace", "path": "displayName", "value": "New"}]}
    with counting() as trips:
        users.patch_user(store, ACCOUNT, user.id, body)
    assert trips.count == 2  # read + one conditional transaction
    assert (trips.entities_read, trips.entities_written) == (1, 1)

    with counting() as trips:
        users.patch_user(store, ACCOUNT, user.id, body)
    assert trips.count == 1  # a PATCH that changes nothing writes nothing

    with counting() as trips:
        users.delete_user(store, ACCOUNT, user.id)
    assert trips.count == 2


def test_listing_streams_pages_of_a_thousand(store: TableUserStore) -> None:
    for i in range(5):
        users.create_user(store, ACCOUNT, {"userName": f"list{i}@example.com"})
    with counting() as trips:
        page = users.list_users(store, ACCOUNT, ListQuery(None, 2, 2, [], []), TENANT)
    assert page.total == 5 and len(page.items) == 2 and trips.count == 1


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
