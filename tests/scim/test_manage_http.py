"""The application's side over HTTP: the Harness limitations refused (and what is allowed, allowed), the SSO
precedence example from the source document, the provisioning activity log, and tokens kept to their scope."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from shared.domain.tokens import mint
from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.scim import AdminClient, ScimClient, new_account, new_token

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def refused(response: requests.Response) -> str:
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["status"] == 409 and error["code"] == "managedByEntra"
    assert "Microsoft Entra ID" in error["message"] and "Entra" in error["message"]
    return str(error["message"])


def scim_user(scim: ScimClient, email: str) -> str:
    response = scim.post("/Users", {"userName": email, "displayName": email.split("@")[0]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def scim_group(scim: ScimClient, name: str, members: list[str]) -> str:
    response = scim.post("/Groups", {"displayName": name, "members": [{"value": m} for m in members]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_scim_provisioned_groups_cannot_be_managed_natively(scim: ScimClient, admin: AdminClient) -> None:
    member = scim_user(scim, "in.group@contoso.test")
    direct = scim_user(scim, "direct@contoso.test")
    group_id = scim_group(scim, "Engineering", [member])
    group = admin.request("GET", f"/groups/{group_id}").json()
    assert group == {"identifier": group_id, "name": "Engineering", "managedBy": "scim", "memberCount": 1,
                     "externalId": None, "created": group["created"], "lastModified": group["lastModified"],
                     "placements": [{"scope": scim.account_id, "state": "active", "owner": "idp",
                                     "since": group["placements"][0]["since"]}],
                     "harnessScopes": None, "roleAssignments": []}
    assert "Engineering" in refused(admin.request("PUT", f"/groups/{group_id}/members/{direct}"))
    refused(admin.request("DELETE", f"/groups/{group_id}/members/{member}"))
    refused(admin.request("PATCH", f"/groups/{group_id}", json={"name": "Renamed"}))
    refused(admin.request("DELETE", f"/groups/{group_id}"))
    members = admin.request("GET", f"/groups/{group_id}/members").json()["members"]
    assert [m["id"] for m in members] == [member]  # nothing changed


def test_members_of_scim_groups_cannot_be_edited_natively(scim: ScimClient, admin: AdminClient) -> None:
    member = scim_user(scim, "locked@contoso.test")
    scim_group(scim, "Locked Group", [member])
    native = admin.request("POST", "/groups", json={"name": "Native Team"}).json()["identifier"]
    refused(admin.request("PATCH", f"/users/{member}", json={"fullName": "New Name"}))
    refused(admin.request("PATCH", f"/users/{member}", json={"email": "new@contoso.test"}))
    refused(admin.request("PUT", f"/groups/{native}/members/{member}"))
    refused(admin.request("DELETE", f"/users/{member}"))


def test_directly_assigned_users_start_without_groups_and_can_join_native_groups(scim: ScimClient, admin: AdminClient) -> None:
    direct = scim_user(scim, "assigned@contoso.test")
    user = admin.request("GET", f"/users/{direct}").json()
    assert (user["source"], user["status"], user["groups"]) == ("scim", "active", [])
    native = admin.request("POST", "/groups", json={"name": "Native Team"}).json()["identifier"]
    assert admin.request("PUT", f"/groups/{native}/members/{direct}").status_code == 204
    assert admin.request("GET", f"/users/{direct}").json()["groups"] == [
        {"identifier": native, "name": "Native Team", "managedBy": "native"}]
    assert "groups" not in scim.get(f"/Users/{direct}").json()  # Entra sees only its own groups
    assert admin.request("DELETE", f"/groups/{native}/members/{direct}").status_code == 204
    assert admin.request("GET", f"/users/{direct}").json()["groups"] == []
    assert admin.request("PATCH", f"/users/{direct}", json={"fullName": "Renamed Natively"}).status_code == 200
    refused(admin.request("DELETE", f"/users/{direct}"))  # SCIM-provisioned: removed in Entra


def test_native_users_and_groups_are_fully_manageable(scim: ScimClient, admin: AdminClient) -> None:
    created = admin.request("POST", "/users", json={"email": "native@contoso.test", "fullName": "Nat Ive"})
    assert created.status_code == 201
    user = created.json()
    assert (user["source"], user["email"], user["fullName"]) == ("native", "native@contoso.test", "Nat Ive")
    group = admin.request("POST", "/groups", json={"name": "Ops-Team"}).json()
    assert group["identifier"] == "Ops_Team" and group["managedBy"] == "native"
    assert admin.request("PUT", f"/groups/Ops_Team/members/{user['id']}").status_code == 204
    assert admin.request("PATCH", "/groups/Ops_Team", json={"name": "Operations"}).json()["name"] == "Operations"
    assert admin.request("PATCH", f"/users/{user['id']}", json={"email": "renamed@contoso.test"}).json()["email"] == \
        "renamed@contoso.test"
    assert admin.request("DELETE", "/groups/Ops_Team").status_code == 204
    assert admin.request("DELETE", f"/users/{user['id']}").status_code == 204
    assert admin.request("GET", f"/users/{user['id']}").status_code == 404


def test_a_scim_group_duplicating_a_native_name_is_kept_alongside_it(scim: ScimClient, admin: AdminClient) -> None:
    native = admin.request("POST", "/groups", json={"name": "Platform"}).json()["identifier"]
    provisioned = scim_group(scim, "Platform", [])
    assert native == "Platform" and provisioned != native and provisioned.startswith("Platform_")
    listed = {g["identifier"]: g["managedBy"] for g in admin.request("GET", "/groups").json()["groups"]}
    assert listed[native] == "native" and listed[provisioned] == "scim"
    assert admin.request("PATCH", f"/groups/{native}", json={"name": "Platform (old)"}).status_code == 200
    refused(admin.request("PATCH", f"/groups/{provisioned}", json={"name": "Platform 2"}))
    assert scim.get(f"/Groups/{native}").status_code == 404  # native groups are not Entra's


def test_deactivated_user_shows_disabled_and_sso_refuses_it(scim: ScimClient, admin: AdminClient) -> None:
    user = scim_user(scim, "leaver@contoso.test")
    scim.patch(f"/Users/{user}", {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
    assert admin.request("GET", f"/users/{user}").json()["status"] == "disabled"
    check = admin.request("POST", "/sso/check", json={"email": "leaver@contoso.test"}).json()
    assert check["loginSucceeds"] is False and "disabled" in check["reason"]


def test_the_sso_example_from_the_source_document(scim_host: DevHost, accounts: AccountStore) -> None:
    account = new_account(accounts)
    minted = mint(account.id, "scim", datetime.now(UTC), integration="legacy")
    accounts.add_token(minted.record)
    legacy = minted.token
    current = new_token(accounts, account.id)
    tenant = f"{scim_host.base_url}/api/scim/account/{account.id}"
    with requests.Session() as session:
        def provision(token: str, email: str) -> None:
            headers = {"Authorization": f"Bearer {token}"}
            found = session.get(f"{tenant}/Users", params={"filter": f'userName eq "{email}"'}, headers=headers).json()
            if found["totalResults"]:
                user_id = found["Resources"][0]["id"]
                body: dict[str, Any] = {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active",
                                                                            "value": "True"}]}
                assert session.patch(f"{tenant}/Users/{user_id}", json=body, headers=headers).status_code == 200
            else:
                assert session.post(f"{tenant}/Users", json={"userName": email}, headers=headers).status_code == 201

        # 1. FirstGen (legacy) integration has user1 and user2; 2-3. NextGen (current) provisions user1 and user_2
        provision(legacy, "user1@example.com")
        provision(legacy, "user2@example.com")
        provision(current, "user1@example.com")
        provision(current, "user_2@example.com")
        admin = AdminClient(f"{scim_host.base_url}/api/manage/account/{account.id}",
                      new_token(accounts, account.id, scope="admin"), session)
        # 4-5. both log in through SSO: the legacy integration authenticates
        user1 = admin.request("POST", "/sso/check", json={"email": "user1@example.com"}).json()
        assert (user1["integration"], user1["loginSucceeds"]) == ("legacy", True)
        user_2 = admin.request("POST", "/sso/check", json={"email": "user_2@example.com"}).json()
        assert (user_2["integration"], user_2["loginSucceeds"]) == ("legacy", False)
        assert "not a member of the legacy app integration" in user_2["reason"]
        assert "Add user_2@example.com to the legacy app integration" in user_2["fix"]
        # without a legacy integration, the current one authenticates
        for token in accounts.list_tokens(account.id):
            if token.integration == "legacy":
                accounts.revoke_token(account.id, token.key_id, datetime.now(UTC))
        time.sleep(1.2)
        assert admin.request("POST", "/sso/check", json={"email": "user_2@example.com"}).json()["loginSucceeds"] is True


def test_activity_log_lists_successes_and_failures_with_details(scim: ScimClient, admin: AdminClient) -> None:
    user = scim_user(scim, "logged@contoso.test")
    scim.post("/Users", {"userName": "logged@contoso.test"})  # 409
    scim.get("/Users", params={"filter": "bogus eq 1"})  # 400
    deadline = time.monotonic() + 10
    while True:
        failures = admin.request("GET", "/activity", params={"outcome": "failure"}).json()["activity"]
        everything = admin.request("GET", "/activity").json()["activity"]
        if len(failures) >= 2 and any(a["operation"] == "Users.Create" and a["status"] == 201 for a in everything):
            break
        assert time.monotonic() < deadline, everything
        time.sleep(0.3)
    conflict = next(a for a in failures if a["status"] == 409)
    assert (conflict["operation"], conflict["scimType"], conflict["resourceType"]) == ("Users.Create", "uniqueness", "User")
    assert "already exists" in conflict["detail"] and conflict["invocationId"] and conflict["durationMs"] >= 0
    created = next(a for a in everything if a["status"] == 201)
    assert created["resourceId"] == user and created["method"] == "POST" and created["queued"] is False
    by_resource = admin.request("GET", "/activity", params={"resourceId": user}).json()["activity"]
    assert [a["resourceId"] for a in by_resource] == [user]
    page = admin.request("GET", "/activity", params={"count": 1}).json()
    assert len(page["activity"]) == 1 and page["nextCursor"]
    following = admin.request("GET", "/activity", params={"count": 1, "cursor": page["nextCursor"]}).json()
    assert following["activity"][0]["invocationId"] != page["activity"][0]["invocationId"]
    future = admin.request("GET", "/activity", params={"since": "2999-01-01T00:00:00Z"}).json()
    assert future["activity"] == []


def test_tokens_are_kept_to_their_scope_and_account(scim: ScimClient, admin: AdminClient, scim_host: DevHost,
                                                    accounts: AccountStore) -> None:
    scim_token = {"Authorization": f"Bearer {scim.token}"}
    response = admin.session.get(f"{admin.base}/users", headers=scim_token, timeout=10)
    assert response.status_code == 401 and response.json()["error"]["status"] == 401
    assert scim.session.get(f"{scim.tenant_url}/Users", headers={"Authorization": f"Bearer {admin.token}"},
                            timeout=10).status_code == 401
    other = new_account(accounts)
    other_admin = new_token(accounts, other.id, scope="admin")
    assert admin.session.get(f"{admin.base}/users", headers={"Authorization": f"Bearer {other_admin}"},
                             timeout=10).status_code == 401
    mine = scim_user(scim, "mine@contoso.test")
    with requests.Session() as session:
        intruder = AdminClient(f"{scim_host.base_url}/api/manage/account/{other.id}", other_admin, session)
        assert intruder.request("GET", f"/users/{mine}").status_code == 404
        assert intruder.request("DELETE", f"/users/{mine}").status_code == 404


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    ("POST", "/users", b"{not json", 400), ("POST", "/users", b'{"email": 42}', 400),
    ("POST", "/users", b'{"email": "not-an-email"}', 400), ("POST", "/groups", b"[]", 400),
    ("PATCH", "/users/nope", b'{"fullName": "x"}', 404), ("GET", "/groups/nope", b"", 404),
    ("POST", "/sso/check", b"{}", 400), ("GET", "/activity?since=yesterday", b"", 400),
    ("GET", "/nothing/here", b"", 404), ("POST", "/users", b"{" + b" " * 1_100_000 + b"}", 413),
])
def test_bad_input_gets_a_clear_json_4xx(admin: AdminClient, method: str, path: str, body: bytes, status: int) -> None:
    response = admin.request(method, path, data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == status and error["message"] and error["code"]


def test_a_users_page_shows_what_the_identity_provider_sent_and_which_token_changed_it(
        scim: ScimClient, admin: AdminClient, accounts: AccountStore) -> None:
    sent = {"userName": "pat.doe@contoso.test", "externalId": "00aa-pat", "active": True,
            "name": {"givenName": "Pat", "familyName": "Doe", "formatted": "Pat Doe"},
            "emails": [{"value": "pat.other@contoso.test", "type": "home"},
                       {"value": "pat.work@contoso.test", "type": "work", "primary": True}]}
    created = scim.post("/Users", sent)
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    view = admin.request("GET", f"/users/{user_id}").json()
    assert (view["userName"], view["email"], view["primaryEmail"], view["fullName"], view["externalId"],
            view["status"], view["source"]) == ("pat.doe@contoso.test", "pat.doe@contoso.test", "pat.work@contoso.test",
                                                "Pat Doe", "00aa-pat", "active", "scim")
    scim_key = scim.token.split(".")[1]
    assert view["lastChangedBy"] == {"keyId": scim_key, "idp": "entra"}
    assert view["created"] == created.json()["meta"]["created"] and view["lastModified"] == view["created"]

    okta = new_token(accounts, scim.account_id, idp="okta")
    changed = requests.patch(f"{scim.tenant_url}/Users/{user_id}", timeout=30, headers={
        "Authorization": f"Bearer {okta}", "Content-Type": "application/scim+json"},
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]})
    assert changed.status_code == 200, changed.text
    view = admin.request("GET", f"/users/{user_id}").json()
    assert view["status"] == "disabled" and view["lastChangedBy"] == {"keyId": okta.split(".")[1], "idp": "okta"}
    assert view["lastModified"] == changed.json()["meta"]["lastModified"] > view["created"]
    unchanged = scim.patch(f"/Users/{user_id}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": False}]})  # changes nothing: the last change stays Okta's
    assert unchanged.status_code == 200
    assert admin.request("GET", f"/users/{user_id}").json()["lastChangedBy"]["idp"] == "okta"

    as_scim = admin.request("GET", f"/users/{user_id}/scim")  # what the IdP reads, with the admin token
    assert as_scim.status_code == 200 and as_scim.json() == scim.get(f"/Users/{user_id}").json()
    assert requests.get(f"{scim.tenant_url.replace('/scim/', '/manage/')}/users/{user_id}/scim", timeout=30,
                        headers={"Authorization": f"Bearer {scim.token}"}).status_code == 401  # never a SCIM token


def test_a_groups_members_are_paged_and_searched_on_the_server(scim: ScimClient, admin: AdminClient,
                                                               accounts: AccountStore) -> None:
    people = [scim_user(scim, f"member{n}@contoso.test") for n in range(7)]
    group_id = scim_group(scim, "Paged", people)
    assert admin.request("GET", f"/groups/{group_id}").json()["memberCount"] == 7
    first = admin.request("GET", f"/groups/{group_id}/members", params={"count": 3}).json()
    second = admin.request("GET", f"/groups/{group_id}/members", params={"count": 3, "startIndex": 4}).json()
    assert (first["totalResults"], first["startIndex"], first["itemsPerPage"]) == (7, 1, 3)
    assert [m["id"] for m in first["members"] + second["members"]] == sorted(people)[:6]
    assert first["members"][0] == {"id": sorted(people)[0], "status": "active",
                                    "email": next(f"member{n}@contoso.test" for n in range(7)
                                                  if people[n] == sorted(people)[0]),
                                    "fullName": next(f"member{n}" for n in range(7) if people[n] == sorted(people)[0])}
    found = admin.request("GET", f"/groups/{group_id}/members", params={"filter": "MEMBER5@"}).json()
    assert [m["id"] for m in found["members"]] == [people[5]] and found["totalResults"] == 1
    outsider = scim_user(scim, "member-not-in-group@contoso.test")
    assert admin.request("GET", f"/groups/{group_id}/members", params={"filter": "not-in"}).json()["members"] == []
    assert outsider not in {m["id"] for m in found["members"]}

    missing = admin.request("GET", "/groups/no-such-group/members")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "notFound"
    bad = admin.request("GET", f"/groups/{group_id}/members", params={"count": "ten"})
    assert bad.status_code == 400 and "count" in bad.json()["error"]["message"]
    other = new_account(accounts)  # another account's admin token never reads this group
    other_admin = new_token(accounts, other.id, scope="admin")
    assert requests.get(f"{admin.base.replace(scim.account_id, other.id)}/groups/{group_id}/members", timeout=30,
                        headers={"Authorization": f"Bearer {other_admin}"}).status_code == 404
