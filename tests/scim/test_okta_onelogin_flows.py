"""Okta's and OneLogin's published request shapes, replayed request by request over the local host with the default
settings, each step asserting what that client reads from the response.

Okta: the "Okta SCIM 2.0 SPEC Test" (Runscope suite from Okta's "Test your SCIM API" guide: list, get, unknown user
and id, create with realistic values, duplicate 409, userName case, Groups endpoint, 401, 404), its CRUD sequence
(PUT replace with the `password` placeholder and `groups: []`, deactivate by PATCH and by PUT) and Group Push
(create, rename with the group's own id in the value, member add and remove, import with startIndex/count).
OneLogin: its SCIM 2.0 template bodies (create without `active`, custom extension attributes, full PUT updates,
`"active": "false"` strings, group membership), with `Accept: application/json` as OneLogin's docs ask.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.scim import CREDENTIALS, SCIM, credential, new_account, new_token

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OKTA_HEADERS = {"Accept": "application/scim+json", "Accept-Charset": "utf-8", "User-Agent": "OKTA SCIM Integration",
                "Content-Type": "application/scim+json; charset=utf-8"}
ONELOGIN_HEADERS = {"Accept": "application/json", "Content-Type": "application/json"}


@dataclass
class Client:
    """One identity provider's connection: its Tenant URL, its token and the headers it always sends."""

    base: str
    token: str
    headers: dict[str, str]
    session: requests.Session

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             **kwargs: Any) -> requests.Response:
        sent = {**self.headers, "Authorization": f"Bearer {self.token}", **(headers or {})}
        return self.session.request(method, self.base + path, json=body, headers=sent, timeout=30, **kwargs)


@dataclass
class Setup:
    host: DevHost
    accounts: AccountStore
    account_id: str
    admin_token: str
    credential: str = CREDENTIALS[0]


@pytest.fixture(params=CREDENTIALS)
def setup(request: pytest.FixtureRequest, scim_host: DevHost, accounts: AccountStore) -> Setup:
    """Each flow runs with Secret Tokens and with OAuth access tokens of the same identity providers."""
    account = new_account(accounts)
    return Setup(scim_host, accounts, account.id, new_token(accounts, account.id, scope="admin"), request.param)


def client(setup: Setup, idp: str, headers: dict[str, str], session: requests.Session) -> Client:
    return Client(f"{setup.host.base_url}/api/scim/account/{setup.account_id}",
                  credential(setup.credential, setup.accounts, setup.host.base_url, setup.account_id, idp), headers,
                  session)


@pytest.fixture
def okta(setup: Setup) -> Iterator[Client]:
    with requests.Session() as session:
        yield client(setup, "okta", OKTA_HEADERS, session)


@pytest.fixture
def onelogin(setup: Setup) -> Iterator[Client]:
    with requests.Session() as session:
        yield client(setup, "onelogin", ONELOGIN_HEADERS, session)


def okta_user(name: str, given: str = "Rand", family: str = "Om", **extra: Any) -> dict[str, Any]:
    return {"schemas": [CORE_USER], "userName": name, "name": {"givenName": given, "familyName": family},
            "emails": [{"primary": True, "value": name, "type": "work"}], "displayName": f"{given} {family}",
            "active": True, **extra}


def test_okta_scim_2_spec_test(okta: Client) -> None:
    assert okta.call("POST", "/Users", okta_user("seed.user@okta.local")).status_code == 201
    listing = okta.call("GET", "/Users?count=1&startIndex=1")
    body = listing.json()
    assert listing.status_code == 200 and body["Resources"] and LIST in body["schemas"]
    assert all(isinstance(body[k], int) for k in ("itemsPerPage", "startIndex", "totalResults"))
    first = body["Resources"][0]
    assert first["id"] and first["name"]["familyName"] and first["name"]["givenName"] and first["userName"]
    assert first["active"] is True and first["emails"][0]["value"]

    fetched = okta.call("GET", f"/Users/{first['id']}")
    assert fetched.status_code == 200 and fetched.json()["id"] == first["id"] and fetched.json()["active"] is True

    for unknown in ("invalid-user@okta.local", f"{uuid.uuid4().hex}@okta.local"):
        missing = okta.call("GET", "/Users", params={"filter": f'userName eq "{unknown}"'})
        assert missing.status_code == 200 and LIST in missing.json()["schemas"] and missing.json()["totalResults"] == 0
    for bad_id in (str(uuid.uuid4()), "00919288221112222"):
        not_found = okta.call("GET", f"/Users/{bad_id}")
        assert not_found.status_code == 404 and not_found.json()["detail"] and ERROR in not_found.json()["schemas"]
        assert not_found.json()["status"] == "404"

    name = f"{uuid.uuid4().hex[:8]}@okta.local"
    created = okta.call("POST", "/Users", okta_user(name, "Given", "Family"),
                        headers={"Content-Type": "application/json", "Accept": "application/scim+json; charset=utf-8"})
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["active"] is True and user["id"] and CORE_USER in user["schemas"] and user["userName"] == name
    assert (user["name"]["familyName"], user["name"]["givenName"]) == ("Family", "Given")
    again = okta.call("GET", f"/Users/{user['id']}").json()
    assert (again["userName"], again["name"]["familyName"], again["name"]["givenName"]) == (name, "Family", "Given")
    assert okta.call("POST", "/Users", okta_user(name, "Given", "Family")).status_code == 409
    caps = okta.call("GET", "/Users", params={"filter": f'userName eq "{name.upper()}"'})
    assert caps.status_code == 200 and caps.json()["totalResults"] == 1  # userName is caseExact false

    groups = okta.call("GET", "/Groups")
    assert groups.status_code == 200 and isinstance(groups.json()["Resources"], list)
    unauthorized = okta.call("GET", "/Users", headers={"Authorization": "non-token"})
    assert unauthorized.status_code == 401 and unauthorized.json()["detail"] and unauthorized.json()["status"] == "401"
    assert ERROR in unauthorized.json()["schemas"]


def test_okta_crud_replace_with_password_and_groups_then_deactivate(okta: Client) -> None:
    created = okta.call("POST", "/Users", okta_user("test.user@okta.local", "Test", "User", locale="en-US",
                                                    externalId="00ujl29u0le5T6Aj10h7", groups=[], password="1mz050nq"))
    assert created.status_code == 201, created.text
    user = created.json()
    assert "password" not in user
    found = okta.call("GET", "/Users", params={"filter": 'userName eq "test.user@okta.local"', "startIndex": "1",
                                               "count": "1"}).json()
    assert [u["id"] for u in found["Resources"]] == [user["id"]]

    replaced = okta.call("PUT", f"/Users/{user['id']}", {
        "schemas": [CORE_USER], "id": user["id"], "userName": "test.user@okta.local",
        "name": {"givenName": "Another", "middleName": "Test", "familyName": "User"},
        "emails": [{"primary": True, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Another Test User", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7", "groups": [],
        "password": "1mz050nq", "active": True})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"]["givenName"] == "Another" and replaced.json()["active"] is True
    assert "password" not in replaced.json()

    deactivated = okta.call("PATCH", f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "value": {"active": False}}]})
    assert deactivated.status_code == 200 and deactivated.json()["active"] is False
    assert okta.call("GET", f"/Users/{user['id']}").json()["active"] is False  # deactivated, never deleted
    reactivated = okta.call("PUT", f"/Users/{user['id']}", {**okta_user("test.user@okta.local", "Another", "User"),
                                                            "id": user["id"], "active": True})
    assert reactivated.json()["active"] is True
    wrong_id = okta.call("PUT", f"/Users/{user['id']}", {**okta_user("test.user@okta.local"), "id": str(uuid.uuid4())})
    assert wrong_id.status_code == 400 and wrong_id.json()["scimType"] == "mutability"


def test_okta_group_push(okta: Client) -> None:
    members = [okta.call("POST", "/Users", okta_user(f"push{n}@okta.local")).json()["id"] for n in range(3)]
    created = okta.call("POST", "/Groups", {"schemas": [CORE_GROUP], "displayName": "Test SCIMv2", "members": []})
    assert created.status_code == 201, created.text
    group_id = created.json()["id"]
    by_name = okta.call("GET", "/Groups", params={"filter": 'displayName eq "Test SCIMv2"', "startIndex": "1",
                                                  "count": "100"}).json()
    assert [g["id"] for g in by_name["Resources"]] == [group_id]

    # Okta sends this on every push, often with the same name: the group's own id in the value is not a change
    for name in ("Test SCIMv2", "Test SCIMv2 renamed"):
        renamed = okta.call("PATCH", f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
            {"op": "replace", "value": {"id": group_id, "displayName": name}}]})
        assert renamed.status_code in (200, 204), renamed.text
    assert okta.call("GET", f"/Groups/{group_id}").json()["displayName"] == "Test SCIMv2 renamed"
    other_id = okta.call("PATCH", f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "value": {"id": "someone-else", "displayName": "x"}}]})
    assert other_id.status_code == 400 and other_id.json()["scimType"] == "mutability"

    added = okta.call("PATCH", f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": m, "display": f"push{n}@okta.local"}
                                                   for n, m in enumerate(members)]}]})
    assert added.status_code in (200, 204)
    removed = okta.call("PATCH", f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{members[0]}"]'}]})
    assert removed.status_code in (200, 204)

    imported = okta.call("GET", "/Groups", params={"startIndex": "1", "count": "100"}).json()
    [group] = [g for g in imported["Resources"] if g["id"] == group_id]
    assert {m["value"] for m in group["members"]} == set(members[1:])
    assert okta.call("DELETE", f"/Groups/{group_id}").status_code == 204


def onelogin_user(user_name: str, **extra: Any) -> dict[str, Any]:
    """OneLogin's SCIM 2.0 template: no `active`, the enterprise extension, and a custom extension of its own."""
    return {"schemas": [CORE_USER, ENTERPRISE, "urn:scim:schemas:extension:onelogin:1.0"], "userName": user_name,
            "name": {"familyName": "Lovelace", "givenName": "Ada", "formatted": "Ada Lovelace"},
            "emails": [{"value": user_name, "type": "work", "primary": True}], "title": "Engineer",
            ENTERPRISE: {"department": "R&D", "organization": "Analytical"},
            "urn:scim:schemas:extension:onelogin:1.0": {"custom_attribute_1": "kept out"}, **extra}


def test_onelogin_template_create_update_and_membership(onelogin: Client, okta: Client) -> None:
    created = onelogin.call("POST", "/Users", onelogin_user("ada@onelogin.local"))
    assert created.status_code == 201, created.text
    assert created.headers["Content-Type"].startswith("application/json")  # as OneLogin asks
    user = created.json()
    assert user["active"] is True  # created without `active`: active
    assert onelogin.call("GET", "/Users", params={"filter": "active eq true"}).json()["totalResults"] == 1

    updated = onelogin.call("PUT", f"/Users/{user['id']}", onelogin_user("ada@onelogin.local", title="Lead"))
    assert updated.status_code == 200 and updated.json()["title"] == "Lead"
    assert updated.json()["active"] is True  # a PUT without `active` keeps it
    off = onelogin.call("PUT", f"/Users/{user['id']}", onelogin_user("ada@onelogin.local", active="false"))
    assert off.status_code == 200 and off.json()["active"] is False
    still_off = onelogin.call("PUT", f"/Users/{user['id']}", onelogin_user("ada@onelogin.local", title="Emeritus"))
    assert still_off.json()["active"] is False and still_off.json()["title"] == "Emeritus"
    assert onelogin.call("PUT", f"/Users/{user['id']}", onelogin_user("ada@onelogin.local", active="true")
                         ).json()["active"] is True

    group = onelogin.call("POST", "/Groups", {"schemas": [CORE_GROUP], "displayName": "Analysts"})
    assert group.status_code == 201
    joined = onelogin.call("PATCH", f"/Groups/{group.json()['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": user["id"]}]}]})
    assert joined.status_code in (200, 204)
    assert [g["value"] for g in onelogin.call("GET", f"/Users/{user['id']}").json()["groups"]] == [group.json()["id"]]
    error = onelogin.call("GET", f"/Users/{uuid.uuid4()}")
    assert error.status_code == 404 and error.headers["Content-Type"].startswith("application/json")
    assert ERROR in error.json()["schemas"]
    # Okta's connection on the same account is unaffected by OneLogin's choice of media type
    assert okta.call("GET", f"/Users/{user['id']}").headers["Content-Type"].startswith(SCIM)


@pytest.mark.parametrize(("accept", "expected"), [
    (None, SCIM), ("application/scim+json", SCIM), ("application/json", "application/json"), ("*/*", SCIM),
    ("application/json, application/scim+json", SCIM), ("application/json;q=1, application/scim+json;q=0.5",
                                                        "application/json"),
    ("text/html", SCIM), ("application/json; charset=utf-8", "application/json")])
def test_accept_negotiation(okta: Client, accept: str | None, expected: str) -> None:
    headers = {"Accept": accept} if accept else {"Accept": ""}
    for path in ("/Users", f"/Users/{uuid.uuid4()}"):
        assert okta.call("GET", path, headers=headers).headers["Content-Type"].startswith(expected)


def test_the_activity_log_says_which_identity_provider_made_each_change(setup: Setup, okta: Client,
                                                                        onelogin: Client) -> None:
    okta.call("POST", "/Users", okta_user("from-okta@okta.local"))
    onelogin.call("POST", "/Users", onelogin_user("from-onelogin@onelogin.local"))
    admin = {"Authorization": f"Bearer {setup.admin_token}"}
    url = f"{setup.host.base_url}/api/manage/account/{setup.account_id}/activity"
    deadline = time.monotonic() + 10
    while True:
        records = requests.get(url, headers=admin, timeout=30).json()["activity"]
        created = {r["resourceId"]: r["idp"] for r in records if r["operation"] == "Users.Create"}
        if len(created) == 2:
            break
        assert time.monotonic() < deadline, records
        time.sleep(0.3)
    assert sorted(created.values()) == ["okta", "onelogin"]
    only_okta = requests.get(url, headers=admin, params={"idp": "okta", "operation": "Users.Create"}, timeout=30)
    assert [r["idp"] for r in only_okta.json()["activity"]] == ["okta"]
