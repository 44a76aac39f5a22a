"""The Users lifecycle as Entra drives it, over HTTP against the local host and Azurite."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from shared.domain.accounts import UPDATE_EMAILS_VIA_SCIM
from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.scim import SCIM, ScimClient, assert_scim_error, new_account, new_token

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def entra_user(user_name: str = "Test_User_00aa@contoso.com", **extra: Any) -> dict[str, Any]:
    """The body Entra posts (S1 example), with its nulls and string boolean."""
    return {"schemas": [CORE, ENTERPRISE], "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "userName": user_name,
            "active": "True", "emails": [{"primary": True, "type": "work", "value": "test.user@contoso.com"}],
            "meta": {"resourceType": "User"}, "roles": [], "addresses": None, "title": None,
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            ENTERPRISE: {"department": "Engineering", "employeeNumber": "701984"}, **extra}


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def create(scim: ScimClient, user_name: str = "Test_User_00aa@contoso.com", **extra: Any) -> dict[str, Any]:
    response = scim.post("/Users", entra_user(user_name, **extra))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- create -----------------------------------------------------------------------------------------------

def test_create_returns_201_with_location_etag_and_the_stored_resource(scim: ScimClient) -> None:
    response = scim.post("/Users", entra_user(password="hunter2", favouriteColour="blue"))
    assert response.status_code == 201
    assert response.headers["Content-Type"] == SCIM
    user = response.json()
    assert response.headers["Location"] == f"{scim.tenant_url}/Users/{user['id']}" == user["meta"]["location"]
    assert response.headers["ETag"] == user["meta"]["version"]
    assert user["schemas"] == [CORE, ENTERPRISE]
    assert user["active"] is True  # "True" stored and returned as a JSON boolean
    assert user["userName"] == "Test_User_00aa@contoso.com"  # stored as sent
    assert user[ENTERPRISE] == {"department": "Engineering", "employeeNumber": "701984"}
    assert user["meta"]["resourceType"] == "User" and user["meta"]["created"] == user["meta"]["lastModified"]
    for absent in ("password", "favouriteColour", "title", "addresses", "roles"):
        assert absent not in user
    assert "hunter2" not in scim.get(f"/Users/{user['id']}").text


def test_userName_is_unique_case_insensitively(scim: ScimClient) -> None:
    create(scim, "alice@contoso.com")
    body = assert_scim_error(scim.post("/Users", entra_user("ALICE@CONTOSO.COM")), 409, "uniqueness")
    assert "ALICE@CONTOSO.COM" in body["detail"]


@pytest.mark.parametrize(("body", "scim_type", "hint"), [
    ({"schemas": [CORE], "displayName": "No Name"}, "invalidValue", "userName is required"),
    ({"userName": "a@b", "active": "sometimes"}, "invalidValue", "active"),
    ({"userName": "a@b", "emails": "a@b"}, "invalidValue", "emails"),
    ([{"userName": "a@b"}], "invalidSyntax", "JSON object"),
])
def test_bad_create_bodies_get_400_saying_what_to_fix(scim: ScimClient, body: Any, scim_type: str, hint: str) -> None:
    error = assert_scim_error(scim.post("/Users", body), 400, scim_type)
    assert hint in error["detail"]


def test_body_that_is_not_json_gets_400_invalid_syntax(scim: ScimClient) -> None:
    response = scim.request("POST", "/Users", data=b'{"userName": ', headers={"Content-Type": SCIM})
    assert_scim_error(response, 400, "invalidSyntax")


def test_concurrent_creates_of_one_userName_from_two_hosts_give_exactly_one_201(
        scim: ScimClient, scim_host_b: DevHost) -> None:
    hosts = [scim.base_url, scim_host_b.base_url] * 5
    barrier = threading.Barrier(len(hosts))

    def post(base: str) -> int:
        barrier.wait()
        return requests.post(f"{base}/api/scim/account/{scim.account_id}/Users", data=json.dumps(entra_user("race@contoso.com")),
                             headers={"Authorization": f"Bearer {scim.token}", "Content-Type": SCIM}, timeout=60).status_code

    with ThreadPoolExecutor(len(hosts)) as pool:
        statuses = list(pool.map(post, hosts))
    assert sorted(statuses) == [201] + [409] * (len(hosts) - 1)
    assert scim.get('/Users?filter=userName eq "race@contoso.com"').json()["totalResults"] == 1


def test_userName_with_characters_forbidden_in_table_keys(scim: ScimClient) -> None:
    name = "we/ird\\na#me?o'k%20"
    user = create(scim, name)
    found = scim.get("/Users", params={"filter": f"userName eq {json.dumps(name.upper())}"}).json()
    assert [r["id"] for r in found["Resources"]] == [user["id"]]
    assert_scim_error(scim.post("/Users", entra_user(name)), 409, "uniqueness")


# --- read, list, filter -------------------------------------------------------------------------------------

def test_get_unknown_id_is_a_scim_404(scim: ScimClient) -> None:
    assert_scim_error(scim.get("/Users/00000000-0000-0000-0000-000000000000"), 404)
    assert_scim_error(scim.get("/Users/has'quote"), 404)


def test_test_connection_query_for_a_random_user_is_an_empty_200_list(scim: ScimClient) -> None:
    response = scim.get('/Users?filter=userName+eq+"6a4f8b7e-2f5c-4b4e-9a43-0e5e9f2d7c11"&aadOptscim062020')
    assert response.status_code == 200
    assert response.json() == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0,
                               "startIndex": 1, "itemsPerPage": 0, "Resources": []}


def test_entra_matching_queries_find_the_user(scim: ScimClient) -> None:
    user = create(scim, "dale.mohr@romaguera.uk")
    for query in ['filter=userName+eq+"dale.mohr%40romaguera.uk"', 'filter=userName eq "DALE.MOHR@ROMAGUERA.UK"',
                  f'filter=externalId eq "{user["externalId"]}"', f'filter=id eq "{user["id"]}"',
                  'filter=emails[type eq "work"].value eq "test.user@contoso.com"']:
        found = scim.get(f"/Users?{query}").json()
        assert [r["id"] for r in found["Resources"]] == [user["id"]], query
    assert scim.get('/Users?filter=externalId eq "0A21F0F2-8D2A-4F8E-BF98-7363C4AED4EF"').json()["totalResults"] == 0


def test_attributes_and_excluded_attributes(scim: ScimClient) -> None:
    user = create(scim)
    only = scim.get(f"/Users/{user['id']}?attributes=userName,name.givenName").json()
    assert set(only) == {"schemas", "id", "meta", "userName", "name"} and only["name"] == {"givenName": "givenName"}
    without = scim.get(f"/Users/{user['id']}?excludedAttributes=emails,{ENTERPRISE}").json()
    assert "emails" not in without and ENTERPRISE not in without and without["userName"] == user["userName"]
    listed = scim.get("/Users?ATTRIBUTES=userName").json()["Resources"][0]
    assert set(listed) == {"schemas", "id", "meta", "userName"}


def test_pagination_is_one_based_exact_and_stable(scim: ScimClient) -> None:
    ids = {create(scim, f"page{i}@contoso.com")["id"] for i in range(11)}
    seen: list[str] = []
    for start in (1, 6, 11):
        page = scim.get(f"/Users?startIndex={start}&count=5").json()
        assert page["totalResults"] == 11 and page["startIndex"] == start
        assert page["itemsPerPage"] == len(page["Resources"]) == min(5, 12 - start)
        seen += [r["id"] for r in page["Resources"]]
    assert len(seen) == 11 and set(seen) == ids
    assert scim.get("/Users?startindex=0&COUNT=2").json()["startIndex"] == 1  # < 1 acts as 1; names case-insensitive
    assert [r["id"] for r in scim.get("/Users?startIndex=1&count=11").json()["Resources"]] == seen
    assert scim.get("/Users?count=0").json()["Resources"] == []
    assert scim.get("/Users?count=5000").json()["itemsPerPage"] == 11
    assert_scim_error(scim.get("/Users?startIndex=abc"), 400, "invalidValue")


def test_general_filters_scan_and_paginate(scim: ScimClient) -> None:
    for i in range(4):
        create(scim, f"emp{i}@example.com" if i < 3 else "other@example.org",
               name={"familyName": "Employee", "givenName": f"E{i}"})
    found = scim.get('/Users?filter=name.FamilyName eq Employee and (userName co "example.com" or userName ew "x")'
                     "&count=2").json()
    assert found["totalResults"] == 3 and found["itemsPerPage"] == 2
    assert scim.get('/Users?filter=userName sw "EMP"').json()["totalResults"] == 3
    assert scim.get("/Users?filter=meta.created gt 2015-10-10T14:38:21.8617979-07:00").json()["totalResults"] == 4


@pytest.mark.parametrize("bad", ['userName eq', 'shoeSize eq "42"', 'userName zz "a"', '(userName eq "a"'])
def test_bad_filters_get_400_invalid_filter(scim: ScimClient, bad: str) -> None:
    assert_scim_error(scim.get("/Users", params={"filter": bad}), 400, "invalidFilter")


# --- PATCH ------------------------------------------------------------------------------------------------

def test_patch_default_dialect_returns_200_with_the_resource(scim: ScimClient) -> None:
    user = create(scim)
    response = scim.patch(f"/Users/{user['id']}", patch_body(
        {"op": "Replace", "path": "displayName", "value": "Bjfe"},
        {"op": "Add", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555 0100"},
        {"op": "Replace", "path": 'addresses[type eq "work"].postalCode', "value": "98052"},
        {"op": "Replace", "path": "name.familyName", "value": "Unua"},
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "mgr-1"}))
    assert response.status_code == 200
    patched = response.json()
    assert patched["displayName"] == "Bjfe" and patched["name"]["familyName"] == "Unua"
    assert patched["phoneNumbers"] == [{"type": "mobile", "value": "+1 555 0100"}]
    assert patched["addresses"] == [{"type": "work", "postalCode": "98052"}]
    assert patched[ENTERPRISE]["manager"]["value"] == "mgr-1"
    assert response.headers["ETag"] == patched["meta"]["version"] != user["meta"]["version"]


def test_patch_flagged_dialect_no_path_replace(scim: ScimClient) -> None:
    user = create(scim)
    response = scim.patch(f"/Users/{user['id']}", patch_body({"op": "replace", "value": {
        "displayName": "Bjfe", "name.givenName": "Kkom", f"{ENTERPRISE}:employeeNumber": "Aklq", "active": False}}))
    patched = response.json()
    assert (patched["displayName"], patched["name"]["givenName"], patched[ENTERPRISE]["employeeNumber"],
            patched["active"]) == ("Bjfe", "Kkom", "Aklq", False)


def test_patch_is_all_or_nothing(scim: ScimClient) -> None:
    user = create(scim)
    response = scim.patch(f"/Users/{user['id']}", patch_body(
        {"op": "Replace", "path": "displayName", "value": "Changed"},
        {"op": "Replace", "path": "active", "value": "perhaps"}))
    assert_scim_error(response, 400, "invalidValue")
    again = scim.get(f"/Users/{user['id']}").json()
    assert "displayName" not in again and again["meta"]["version"] == user["meta"]["version"]


@pytest.mark.parametrize(("operation", "scim_type"), [
    ({"op": "Remove"}, "noTarget"), ({"op": "replace", "path": "id", "value": "x"}, "mutability"),
    ({"op": "replace", "path": "emails[type eq", "value": "x"}, "invalidPath"),
    ({"op": "move", "path": "title", "value": "x"}, "invalidSyntax")])
def test_invalid_patch_operations_get_400_with_scim_type(scim: ScimClient, operation: dict[str, Any],
                                                          scim_type: str) -> None:
    user = create(scim)
    assert_scim_error(scim.patch(f"/Users/{user['id']}", patch_body(operation)), 400, scim_type)


def test_patch_that_changes_nothing_keeps_version_and_last_modified(scim: ScimClient) -> None:
    user = create(scim)
    time.sleep(0.01)
    response = scim.patch(f"/Users/{user['id']}", patch_body({"op": "Replace", "path": "active", "value": "True"},
                                                             {"op": "Add", "path": "userName", "value": user["userName"]}))
    assert response.status_code == 200
    assert response.json()["meta"] == user["meta"]


def test_patch_unknown_user_is_404(scim: ScimClient) -> None:
    assert_scim_error(scim.patch("/Users/nope", patch_body({"op": "Replace", "path": "active", "value": False})), 404)


# --- deactivate, PUT, If-Match, concurrency ----------------------------------------------------------------

def test_deactivated_user_stays_readable_and_filterable_then_reactivates(scim: ScimClient) -> None:
    user = create(scim, "leaver@contoso.com")
    scim.patch(f"/Users/{user['id']}", patch_body({"op": "Replace", "path": "active", "value": "False"}))
    assert scim.get(f"/Users/{user['id']}").json()["active"] is False
    found = scim.get('/Users?filter=userName eq "leaver@contoso.com"').json()["Resources"]
    assert [u["active"] for u in found] == [False]
    assert scim.get("/Users?filter=active eq false").json()["totalResults"] == 1
    scim.patch(f"/Users/{user['id']}", patch_body({"op": "replace", "path": "active", "value": True}))
    assert scim.get(f"/Users/{user['id']}").json()["active"] is True


def test_put_replaces_the_resource_but_not_its_id_or_created(scim: ScimClient) -> None:
    user = create(scim)
    body = {"schemas": [CORE], "id": "other-id", "userName": user["userName"], "displayName": "Replaced",
            "active": False, "meta": {"created": "2001-01-01T00:00:00Z"}}
    assert_scim_error(scim.put(f"/Users/{user['id']}", body), 400, "mutability")  # another id: settled, refused
    assert scim.get(f"/Users/{user['id']}").json().get("displayName") == user.get("displayName")
    response = scim.put(f"/Users/{user['id']}", {**body, "id": user["id"]})  # its own id restated: accepted
    assert response.status_code == 200
    replaced = response.json()
    assert replaced["id"] == user["id"] and replaced["meta"]["created"] == user["meta"]["created"]
    assert replaced["displayName"] == "Replaced" and replaced["active"] is False
    assert "name" not in replaced and ENTERPRISE not in replaced
    assert replaced["emails"] == user["emails"]  # UPDATE_EMAILS_VIA_SCIM is off: the email identity is kept


def test_if_match_is_honoured_on_put_patch_and_delete(scim: ScimClient) -> None:
    user = create(scim)
    stale = '"W/\\"999\\""'.strip('"').replace('\\"', '"')
    body = patch_body({"op": "Replace", "path": "displayName", "value": "X"})
    assert_scim_error(scim.patch(f"/Users/{user['id']}", body, headers={"If-Match": stale}), 412)
    assert_scim_error(scim.put(f"/Users/{user['id']}", entra_user(), headers={"If-Match": stale}), 412)
    assert_scim_error(scim.delete(f"/Users/{user['id']}", headers={"If-Match": stale}), 412)
    current = user["meta"]["version"]
    patched = scim.patch(f"/Users/{user['id']}", body, headers={"If-Match": current})
    assert patched.status_code == 200
    assert scim.delete(f"/Users/{user['id']}", headers={"If-Match": patched.headers["ETag"]}).status_code == 204


def test_concurrent_patches_from_two_hosts_lose_no_update(scim: ScimClient, scim_host_b: DevHost) -> None:
    user = create(scim)
    attributes = ["displayName", "nickName", "title", "userType", "preferredLanguage", "locale", "timezone",
                  "profileUrl"]
    barrier = threading.Barrier(len(attributes))

    def patch(index: int) -> int:
        base = scim.base_url if index % 2 else scim_host_b.base_url
        barrier.wait()
        body = patch_body({"op": "Replace", "path": attributes[index], "value": f"v{index}"})
        return requests.patch(f"{base}/api/scim/account/{scim.account_id}/Users/{user['id']}", data=json.dumps(body),
                              headers={"Authorization": f"Bearer {scim.token}", "Content-Type": SCIM}, timeout=60).status_code

    with ThreadPoolExecutor(len(attributes)) as pool:
        assert list(pool.map(patch, range(len(attributes)))) == [200] * len(attributes)
    final = scim.get(f"/Users/{user['id']}").json()
    assert {a: final.get(a) for a in attributes} == {a: f"v{i}" for i, a in enumerate(attributes)}
    assert final["meta"]["version"] == f'W/"{1 + len(attributes)}"'


# --- delete -----------------------------------------------------------------------------------------------

def test_delete_then_get_and_delete_are_404_and_the_userName_is_free_again(scim: ScimClient) -> None:
    user = create(scim, "gone@contoso.com")
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert_scim_error(scim.get(f"/Users/{user['id']}"), 404)
    assert_scim_error(scim.delete(f"/Users/{user['id']}"), 404)
    assert scim.get('/Users?filter=userName eq "gone@contoso.com"').json()["totalResults"] == 0
    assert scim.get(f'/Users?filter=externalId eq "{user["externalId"]}"').json()["totalResults"] == 0
    assert create(scim, "gone@contoso.com")["id"] != user["id"]


# --- UPDATE_EMAILS_VIA_SCIM -------------------------------------------------------------------------------

EMAIL_CHANGES = patch_body(
    {"op": "Replace", "path": "userName", "value": "renamed@contoso.com"},
    {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "renamed@contoso.com"},
    {"op": "Replace", "path": "displayName", "value": "Renamed"})


def test_email_changes_are_ignored_while_the_flag_is_off(scim: ScimClient) -> None:
    user = create(scim, "kept@contoso.com")
    response = scim.patch(f"/Users/{user['id']}", EMAIL_CHANGES)
    assert response.status_code == 200
    patched = response.json()
    assert patched["userName"] == "kept@contoso.com" and patched["emails"] == user["emails"]
    assert patched["displayName"] == "Renamed"  # the rest of the request applies
    put = scim.put(f"/Users/{user['id']}", {"userName": "other@contoso.com", "emails": [{"value": "o@x"}]}).json()
    assert put["userName"] == "kept@contoso.com" and put["emails"] == user["emails"]


def test_email_changes_apply_with_uniqueness_when_the_flag_is_on(
        scim_host: DevHost, accounts: AccountStore) -> None:
    account = new_account(accounts, features=frozenset({UPDATE_EMAILS_VIA_SCIM}))
    with requests.Session() as session:
        scim = ScimClient(scim_host.base_url, account.id, new_token(accounts, account.id), session)
        user = create(scim, "before@contoso.com")
        create(scim, "taken@contoso.com")
        patched = scim.patch(f"/Users/{user['id']}", EMAIL_CHANGES).json()
        assert patched["userName"] == "renamed@contoso.com"
        assert patched["emails"][0]["value"] == "renamed@contoso.com"
        assert scim.get('/Users?filter=userName eq "before@contoso.com"').json()["totalResults"] == 0
        assert scim.get('/Users?filter=userName eq "Renamed@Contoso.com"').json()["totalResults"] == 1
        clash = scim.patch(f"/Users/{user['id']}", patch_body({"op": "replace", "path": "userName",
                                                                "value": "TAKEN@contoso.com"}))
        assert_scim_error(clash, 409, "uniqueness")


def test_another_accounts_users_are_invisible(scim: ScimClient, scim_host: DevHost, accounts: AccountStore) -> None:
    user = create(scim, "mine@contoso.com")
    other = new_account(accounts)
    with requests.Session() as session:
        intruder = ScimClient(scim_host.base_url, other.id, new_token(accounts, other.id), session)
        assert_scim_error(intruder.get(f"/Users/{user['id']}"), 404)
        assert intruder.get('/Users?filter=userName eq "mine@contoso.com"').json()["totalResults"] == 0
        assert_scim_error(intruder.delete(f"/Users/{user['id']}"), 404)
    assert scim.get(f"/Users/{user['id']}").status_code == 200


def test_trailing_slash_is_accepted(scim: ScimClient) -> None:
    user = create(scim)
    assert scim.get(f"/Users/{user['id']}/").status_code == 200
    assert scim.get("/Users/?filter=DisplayName+eq+%22nobody%22").json()["totalResults"] == 0


def test_search_by_post(scim: ScimClient) -> None:
    user = create(scim, "searched@contoso.com")
    response = scim.post("/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                            "filter": 'userName eq "searched@contoso.com"', "attributes": ["userName"],
                                            "startIndex": 1, "count": 10})
    assert response.status_code == 200
    assert [(r["id"], set(r)) for r in response.json()["Resources"]] == [
        (user["id"], {"schemas", "id", "meta", "userName"})]
