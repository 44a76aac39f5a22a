from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from scim_handlers import services as services_module
from scim_handlers.services import Services
from shared.config import Settings
from shared.storage.accounts_table import AccountStore
from tests.support.azurite import ROOT, Azurite
from tests.support.devhost import DevHost
from tests.support.proxy import CuttableProxy
from tests.support.scim import AdminClient, ScimClient, account_store, new_account, new_token


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One private Azurite (table + queue) for the whole session."""
    instance = Azurite(tmp_path_factory.mktemp("azurite"))
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def storage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """A private Azurite for one test module, for tests that cut its table service or run hosts of their own."""
    instance = Azurite(tmp_path_factory.mktemp(f"{request.module.__name__.rsplit('.', 1)[-1]}-azurite"))
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def proxy(storage: Azurite) -> Iterator[CuttableProxy]:
    """A TCP proxy in front of the module's private table service, to cut it for real."""
    instance = CuttableProxy(storage.table_port)
    yield instance
    instance.close()


@pytest.fixture
def table_proxy(azurite: Azurite) -> Iterator[CuttableProxy]:
    """A TCP proxy in front of the session's table service, for one test that cuts it for real."""
    instance = CuttableProxy(azurite.table_port)
    yield instance
    instance.close()


@pytest.fixture
def table_prefix() -> str:
    """Fresh table names for one test."""
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture(scope="session")
def scim_prefix() -> str:
    return "s" + uuid.uuid4().hex[:12]


def _scim_app(azurite: Azurite, prefix: str, state: Path) -> DevHost:
    env = {"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": prefix,
           "AUTH_CACHE_SECONDS": "1", "DEVHOST_STATE_DIR": str(state)}
    return DevHost(ROOT, env, state / "devhost.log")


@pytest.fixture(scope="session")
def scim_host(azurite: Azurite, scim_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    """The SCIM app itself, served by `python -m devhost` against the session's Azurite."""
    host = _scim_app(azurite, scim_prefix, tmp_path_factory.mktemp("scim-host"))
    yield host
    host.stop()


@pytest.fixture(scope="session")
def accounts(azurite: Azurite, scim_prefix: str) -> AccountStore:
    return account_store(azurite.connection_string, scim_prefix)


@pytest.fixture
def scim(scim_host: DevHost, accounts: AccountStore) -> Iterator[ScimClient]:
    """A fresh account with a SCIM token, and a client for its Tenant URL."""
    account = new_account(accounts)
    with requests.Session() as session:
        yield ScimClient(scim_host.base_url, account.id, new_token(accounts, account.id), session)


@pytest.fixture
def admin(scim: ScimClient, scim_host: DevHost, accounts: AccountStore) -> Iterator[AdminClient]:
    """The management API of the `scim` fixture's account, with an admin token."""
    with requests.Session() as session:
        yield AdminClient(f"{scim_host.base_url}/api/manage/account/{scim.account_id}",
                          new_token(accounts, scim.account_id, scope="admin"), session)


@pytest.fixture(scope="session")
def scim_host_b(azurite: Azurite, scim_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    """A second, independent host process on the same storage: two function instances of one app."""
    host = _scim_app(azurite, scim_prefix, tmp_path_factory.mktemp("scim-host-b"))
    yield host
    host.stop()


@pytest.fixture
def installed_services(azurite: Azurite, table_prefix: str) -> Iterator[Services]:
    """Services on fresh tables, installed for in-process calls of the trigger functions."""
    svc = Services.build(Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix}))
    services_module.override(svc)
    yield svc
    services_module.override(None)
