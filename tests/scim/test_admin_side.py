"""The application's side, over the local host on real storage: adopted native users, a truthful activity log
(exact time ranges, externalIds of refused requests, ignored member ids) and an audit of every admin action (the
management API, the command line, refused tokens)."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import uuid
from datetime import datetime
from typing import Any

import requests

from tests.support.azurite import ROOT, Azurite
from tests.support.devhost import DevHost
from tests.support.scim import AdminClient, ScimClient

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def native_user(admin: AdminClient, email: str) -> str:
    response = admin.request("POST", "/users", json={"email": email, "fullName": "Native Person"})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_native_user_adopted_by_scim_is_deleted_only_in_the_identity_provider(scim: ScimClient, admin: AdminClient) -> None:
    matched = native_user(admin, "matched@contoso.test")
    found = scim.get("/Users", params={"filter": 'userName eq "matched@contoso.test"'}).json()["Resources"]
    assert [u["id"] for u in found] == [matched]  # Entra's matching query finds the native user
    assert scim.patch(f"/Users/{matched}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Matched Person"}]}).status_code == 200
    view = admin.request("GET", f"/users/{matched}").json()
    assert view["source"] == "native" and view["adopted"]["by"] == "entra"
    assert view["adopted"]["integration"] == "current" and datetime.fromisoformat(view["adopted"]["at"].replace("Z", "+00:00"))
    refused = admin.request("DELETE", f"/users/{matched}")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "managedByEntra", refused.text
    assert scim.get(f"/Users/{matched}").status_code == 200  # Entra's next read still finds it

    grouped = native_user(admin, "grouped@contoso.test")
    group = scim.post("/Groups", {"displayName": "Entra group", "members": [{"value": grouped}]})
    assert group.status_code == 201
    assert admin.request("GET", f"/users/{grouped}").json()["adopted"] == {"by": "scim group membership"}
    assert admin.request("DELETE", f"/users/{grouped}").status_code == 409

    untouched = native_user(admin, "untouched@contoso.test")
    assert admin.request("GET", f"/users/{untouched}").json()["adopted"] is None
    assert admin.request("DELETE", f"/users/{untouched}").status_code == 204


def test_every_time_range_returns_exactly_the_records_in_it(scim: ScimClient, admin: AdminClient) -> None:
    for n in range(12):  # quick requests: several land in one page of the log, so pages straddle the bounds
        scim.get("/Users", params={"filter": f'userName eq "range-{n}@contoso.test"'})
    records = admin.wait_for(lambda found: sum(r["operation"] == "Users.List" for r in found) >= 12)
    scim_records = [r for r in records if r["operation"] == "Users.List"]
    times = sorted({r["time"] for r in scim_records})
    for until in times:
        got = [r["invocationId"] for r in admin.activity(until=until, operation="Users.List")]
        expected = [r["invocationId"] for r in scim_records if r["time"] <= until]
        assert sorted(got) == sorted(expected), until
    since, until = times[2], times[-3]
    collected: list[str] = []
    cursor = None
    while True:  # a time window paged two by two: every record once
        params: dict[str, Any] = {"since": since, "until": until, "operation": "Users.List", "count": 2}
        if cursor:
            params["cursor"] = cursor
        page = admin.request("GET", "/activity", params=params).json()
        collected += [r["invocationId"] for r in page["activity"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert sorted(collected) == sorted(r["invocationId"] for r in scim_records if since <= r["time"] <= until)


def test_a_refused_create_records_the_externalid_it_was_sent(scim: ScimClient, admin: AdminClient) -> None:
    body = {"userName": "dup@contoso.test", "externalId": "entra-object-1"}
    assert scim.post("/Users", body).status_code == 201
    assert scim.post("/Users", {**body, "externalId": "entra-object-2"}).status_code == 409
    records = admin.wait_for(lambda found: any(r["status"] == 409 for r in found), operation="Users.Create")
    conflict = next(r for r in records if r["status"] == 409)
    assert conflict["externalId"] == "entra-object-2"


def test_ignored_member_ids_are_recorded(scim: ScimClient, admin: AdminClient) -> None:
    ann = scim.post("/Users", {"userName": "ann@contoso.test"}).json()["id"]
    group = scim.post("/Groups", {"displayName": "Team"}).json()["id"]
    ghost = str(uuid.uuid4())
    response = scim.patch(f"/Groups/{group}", {"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": ann}, {"value": ghost}, {"value": "ghost-member-id"}]}]})
    assert response.status_code == 204
    records = admin.wait_for(lambda found: bool(found), operation="Groups.Patch")
    assert records[0]["ignored"] == 2 and sorted(records[0]["ignoredIds"]) == sorted([ghost, "ghost-member-id"])


def test_management_requests_are_audited_with_the_token_key_id(scim: ScimClient, admin: AdminClient) -> None:
    created = native_user(admin, "audited@contoso.test")
    provisioned = scim.post("/Users", {"userName": "provisioned@contoso.test"}).json()["id"]
    assert admin.request("DELETE", f"/users/{provisioned}").status_code == 409
    secret_guess = f"scim.{admin.key_id}.not-the-secret"
    assert admin.request("GET", "/users", headers={"Authorization": f"Bearer {secret_guess}"}).status_code == 401
    records = admin.wait_for(lambda found: len(found) >= 3 and any(r["status"] == 401 for r in found),
                             operation="Manage.Users")
    by_status = {r["status"]: r for r in records}
    assert by_status[201]["operation"] == "Manage.Users.Create" and by_status[201]["resourceId"] == created
    assert by_status[409]["resourceId"] == provisioned
    assert by_status[409]["detail"] and by_status[401]["operation"] == "Manage.Users.List"
    assert {r["actor"] for r in records} == {admin.key_id}  # who: the key id, never the secret
    assert all("not-the-secret" not in str(r) and admin.token not in str(r) for r in records)


def test_scim_requests_refused_with_401_are_recorded_with_the_presented_key_id(scim: ScimClient, admin: AdminClient,
                                                                             scim_host: DevHost) -> None:
    key_id = scim.token.split(".")[1]
    for authorization in (f"Bearer scim.{key_id}.wrong-secret", "Bearer scim.0123456789abcdef.unknown", "Basic x"):
        response = requests.get(f"{scim.tenant_url}/Users", headers={"Authorization": authorization}, timeout=30)
        assert response.status_code == 401
    requests.get(f"{scim_host.base_url}/api/scim/account/no-such-account/Users",
                 headers={"Authorization": f"Bearer scim.{key_id}.x"}, timeout=30)
    records = admin.wait_for(lambda found: sum(r["status"] == 401 for r in found) >= 3, outcome="failure",
                             operation="Users.List")
    assert sorted(r["actor"] for r in records if r["status"] == 401) == sorted(["", "0123456789abcdef", key_id])


def test_command_line_changes_are_audited(scim: ScimClient, admin: AdminClient, azurite: Azurite, scim_prefix: str) -> None:
    env = {**os.environ, "AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": scim_prefix}
    for args in (("tokens", "create", scim.account_id, "--idp", "okta"),
                 ("accounts", "update", scim.account_id, "--enable-feature", "UPDATE_EMAILS_VIA_SCIM"),
                 ("retries", "redrive", scim.account_id)):
        ran = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=60)
        assert ran.returncode == 0, ran.stderr
    records = admin.wait_for(lambda found: len(found) >= 3, operation="CLI.")
    assert {r["operation"] for r in records} == {"CLI.Tokens.Create", "CLI.Accounts.Update", "CLI.Retries.Redrive"}
    assert {r["actor"] for r in records} == {f"cli:{getpass.getuser()}"}
    token_record = next(r for r in records if r["operation"] == "CLI.Tokens.Create")
    assert "idp okta" in token_record["detail"] and token_record["resourceId"]


def test_management_lists_page_and_filter_and_native_users_can_be_disabled(scim: ScimClient, admin: AdminClient) -> None:
    natives = [native_user(admin, f"native{n}@contoso.test") for n in range(5)]
    provisioned = scim.post("/Users", {"userName": "scim-user@contoso.test", "displayName": "From Entra"}).json()["id"]
    page = admin.request("GET", "/users", params={"count": 2, "startIndex": 2, "source": "native"}).json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and len(page["users"]) == 2
    assert all(u["source"] == "native" for u in page["users"])
    found = admin.request("GET", "/users", params={"filter": "FROM ENTRA"}).json()
    assert [u["id"] for u in found["users"]] == [provisioned]
    assert admin.request("GET", "/users", params={"filter": "native3@"}).json()["totalResults"] == 1
    assert admin.request("GET", "/users", params={"source": "scim"}).json()["totalResults"] == 1
    assert admin.request("GET", "/users", params={"source": "bogus"}).status_code == 400

    scim.post("/Groups", {"displayName": "Entra Ops"})
    admin.request("POST", "/groups", json={"name": "Native Ops"})
    groups = admin.request("GET", "/groups", params={"filter": "ops", "source": "native"}).json()
    assert [g["name"] for g in groups["groups"]] == ["Native Ops"] and groups["totalResults"] == 1

    disabled = admin.request("PATCH", f"/users/{natives[0]}", json={"active": False})
    assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
    assert admin.request("PATCH", f"/users/{natives[0]}", json={"active": True}).json()["status"] == "active"
    refused = admin.request("PATCH", f"/users/{provisioned}", json={"active": False})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "managedByEntra"
    assert scim.get(f"/Users/{provisioned}").json()["active"] is True
