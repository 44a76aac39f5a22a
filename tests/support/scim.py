"""Accounts and an HTTP client for tests of the SCIM app served by the devhost."""

from __future__ import annotations

import json as json_module
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from shared.config import Settings
from shared.domain.accounts import Account
from shared.domain.tokens import mint
from shared.storage.accounts_table import AccountStore
from shared.storage.clients import table_service
from shared.storage.tables import Tables

SCIM = "application/scim+json"


def account_store(connection_string: str, table_prefix: str) -> AccountStore:
    settings = Settings.from_env({"AzureWebJobsStorage": connection_string, "TABLE_PREFIX": table_prefix})
    return AccountStore(Tables(table_service(settings), table_prefix))


def new_account(store: AccountStore, *, features: frozenset[str] = frozenset(), email: str | None = None) -> Account:
    account = Account(id=f"acct-{uuid.uuid4().hex[:10]}", name="Test account", notification_email=email,
                      features=features, created=datetime.now(UTC))
    store.create(account)
    return account


def new_token(store: AccountStore, account_id: str, scope: str = "scim", expires_in_days: int | None = None,
              idp: str = "entra") -> str:
    minted = mint(account_id, scope, datetime.now(UTC), expires_in_days, idp=idp)
    store.add_token(minted.record)
    return minted.token


CREDENTIALS = ("secret token", "oauth access token")
"""The two ways an identity provider authenticates: the flows' suites run with each (pytest params)."""


def oauth_access_token(store: AccountStore, base_url: str, account_id: str, idp: str = "entra") -> str:
    """An access token from the account's token endpoint, for a new client with a secret (client_secret_post)."""
    from shared.domain.oauth import new_secret_client

    new = new_secret_client(account_id, idp, 60, datetime.now(UTC))
    store.save_client(new.client)
    answer = requests.post(f"{base_url}/api/oauth/account/{account_id}/token", timeout=30, data={
        "grant_type": "client_credentials", "client_id": new.client.client_id, "client_secret": new.secret})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def credential(kind: str, store: AccountStore, base_url: str, account_id: str, idp: str = "entra") -> str:
    if kind == "oauth access token":
        return oauth_access_token(store, base_url, account_id, idp)
    return new_token(store, account_id, idp=idp)


@dataclass
class ScimClient:
    base_url: str
    account_id: str
    token: str
    session: requests.Session

    @property
    def tenant_url(self) -> str:
        return f"{self.base_url}/api/scim/account/{self.account_id}"

    def request(self, method: str, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        if json is not None:
            kwargs["data"] = json_module.dumps(json)
            headers.setdefault("Content-Type", SCIM)
        return self.session.request(method, self.tenant_url + path, headers=headers, timeout=60, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)


def assert_scim_error(response: requests.Response, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(SCIM)
    body: dict[str, Any] = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == str(status)
    assert body.get("scimType") == scim_type
    assert "Traceback" not in response.text
    return body


@dataclass
class AdminClient:
    """The management API of one account, with an admin token."""

    base: str
    token: str
    session: requests.Session

    @property
    def key_id(self) -> str:
        return self.token.split(".")[1]

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.session.request(method, self.base + path, headers=headers, timeout=30, **kwargs)

    def activity(self, **params: Any) -> list[dict[str, Any]]:
        response = self.request("GET", "/activity", params={"count": 1000, "kind": "all", **params})
        assert response.status_code == 200, response.text
        return list(response.json()["activity"])

    def wait_for(self, found: Callable[[list[dict[str, Any]]], bool], **params: Any) -> list[dict[str, Any]]:
        """The activity log once `found` holds (records are written in the background, every half second)."""
        deadline = time.monotonic() + 10
        while True:
            records = self.activity(**params)
            if found(records):
                return records
            assert time.monotonic() < deadline, records
            time.sleep(0.3)
