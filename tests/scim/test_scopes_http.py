"""Org and Project scopes over HTTP, through the local host on Azurite: harnessScopes in every SCIM form, placements
active or pending, scope membership through groups and directly, role assignments with the rule for where a group
may hold a role, each user's effective access with its reasons, the cascades, and what the application's admins
may and may not do (../shared/reference/harness-scopes.md §2)."""

from __future__ import annotations

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.support.devhost import DevHost
from tests.support.scim import AdminClient, ScimClient, assert_scim_error

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HARNESS = "urn:ietf:params:scim:schemas:extension:harness:2.0:Group"


def ok(response: requests.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text[:500])
    return response.json() if response.content else None


def user(scim: ScimClient, name: str | None = None) -> str:
    return str(ok(scim.post("/Users", {"userName": name or f"u-{uuid.uuid4().hex[:8]}@contoso.test"}), 201)["id"])


def org(admin: AdminClient, identifier: str, *projects: str) -> None:
    ok(admin.request("POST", "/orgs", json={"identifier": identifier, "name": identifier.title()}), 201)
    for project in projects:
        ok(admin.request("POST", f"/orgs/{identifier}/projects", json={"identifier": project}), 201)


def scopes_of(scim: ScimClient, group_id: str) -> str | None:
    body = ok(scim.get(f"/Groups/{group_id}", params={"excludedAttributes": "members"}))
    scopes = body.get(HARNESS, {}).get("harnessScopes")
    return str(scopes) if scopes is not None else None


def placements(admin: AdminClient, group_id: str) -> list[tuple[str, str, str]]:
    return [(p["scope"], p["state"], p["owner"]) for p in ok(admin.request("GET", f"/groups/{group_id}"))["placements"]]


def access(admin: AdminClient, user_id: str, scope: str | None = None) -> dict[str, Any]:
    return dict(ok(admin.request("GET", f"/users/{user_id}/access", params={"scope": scope} if scope else None)))


def assign(admin: AdminClient, scope: str, role: str, resource_group: str, kind: str, principal: str,
           status: int = 201) -> Any:
    response = admin.request("POST", "/role-assignments", json={
        "scope": scope, "role": role, "resourceGroup": resource_group, "principal": {"type": kind, "id": principal}})
    if status != 201:
        assert response.status_code == status, response.text
        return response.json()["error"]
    return ok(response, 201)


def grants(answer: dict[str, Any]) -> set[tuple[str, str, str, str | None]]:
    return {(a["scope"], a["role"], a["via"].get("id", "direct"), a["inheritedFrom"]) for a in answer["assignments"]}


def test_harness_scopes_in_every_scim_form_are_normalised_and_returned_under_the_extension(
        scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    org(admin, "eng", "web", "api")
    # POST, top-level (what Harness reads): trimmed, empties and duplicates dropped, sorted
    created = ok(scim.post("/Groups", {"displayName": "Web Team", "harnessScopes": f" {a}:eng:web ,,{a}:eng, {a}:eng:web"}),
                 201)
    assert created[HARNESS] == {"harnessScopes": f"{a}:eng,{a}:eng:web"} and HARNESS in created["schemas"]
    assert "harnessScopes" not in created
    group_id = created["id"]
    # PATCH with the plain path, the URN path, and as a no-path value (top-level key and extension object)
    for operation in ({"op": "replace", "path": "harnessScopes", "value": f"{a}:eng:api"},
                      {"op": "add", "path": f"{HARNESS}:harnessScopes", "value": f"{a}:eng"},
                      {"op": "replace", "value": {"harnessScopes": f"{a}:eng:web,{a}"}},
                      {"op": "replace", "value": {HARNESS: {"harnessScopes": f"{a}:eng:api,{a}:eng:web"}}}):
        ok(scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [operation]}), 204)
    assert scopes_of(scim, group_id) == f"{a}:eng:api,{a}:eng:web"
    # PUT under the extension; then a PUT without it: the account only again
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", HARNESS], "displayName": "Web Team",
            HARNESS: {"harnessScopes": f"{a}:eng"}}
    assert ok(scim.put(f"/Groups/{group_id}", body))[HARNESS] == {"harnessScopes": f"{a}:eng"}
    assert HARNESS not in ok(scim.put(f"/Groups/{group_id}", {"displayName": "Web Team"}))
    assert placements(admin, group_id) == [(a, "active", "idp")]
    # remove
    ok(scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "harnessScopes", "value": f"{a}:eng"}]}), 204)
    ok(scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "harnessScopes"}]}),
       204)
    assert scopes_of(scim, group_id) is None


def test_a_group_is_one_resource_whatever_its_placements(scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    org(admin, "o1", "p1", "p2")
    members = [user(scim) for _ in range(3)]
    group = ok(scim.post("/Groups", {"displayName": "Spread", "harnessScopes": f"{a}:o1:p1,{a}:o1:p2,{a}",
                                     "members": [{"value": m} for m in members]}), 201)
    found = ok(scim.get("/Groups", params={"filter": 'displayName eq "Spread"'}))
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] == group["id"]
    assert sorted(m["value"] for m in found["Resources"][0]["members"]) == sorted(members)  # none dropped
    assert ok(scim.get("/Groups", params={"filter": f'{HARNESS}:harnessScopes co "o1:p2"'}))["totalResults"] == 1


@pytest.mark.parametrize("bad, named", [
    ("other-account:o1", "other-account:o1"), ("{a}:o1:p1:x", "{a}:o1:p1:x"), ("{a}:1org", "1org"),
    ("{a}:o-1", "o-1"), ("{a}:o1,{a}:", "{a}:"), ("{a}::p", "{a}::p")])
def test_a_bad_entry_is_a_400_naming_it_and_nothing_is_written(scim: ScimClient, admin: AdminClient, bad: str,
                                                                named: str) -> None:
    a = scim.account_id
    bad, named = bad.format(a=a), named.format(a=a)
    group_id = ok(scim.post("/Groups", {"displayName": f"G {uuid.uuid4().hex[:6]}", "harnessScopes": a}), 201)["id"]
    before = ok(scim.get(f"/Groups/{group_id}"))
    name = f"New {uuid.uuid4().hex[:6]}"
    for response in (
            scim.post("/Groups", {"displayName": name, "harnessScopes": bad}),
            scim.put(f"/Groups/{group_id}", {"displayName": name, HARNESS: {"harnessScopes": bad}}),
            scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
                {"op": "replace", "path": "displayName", "value": name},
                {"op": "replace", "path": "harnessScopes", "value": bad}]})):
        error = assert_scim_error(response, 400, "invalidValue")
        assert named in error["detail"], error
    assert_scim_error(scim.post("/Groups", {"displayName": name, "harnessScopes": 7}), 400, "invalidValue")
    assert ok(scim.get(f"/Groups/{group_id}")) == before
    assert ok(scim.get("/Groups", params={"filter": f'displayName eq "{name}"'}))["totalResults"] == 0


def test_a_placement_at_a_scope_not_yet_created_is_pending_until_the_admin_creates_it(
        scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    member = user(scim)
    group_id = ok(scim.post("/Groups", {"displayName": "Early", "harnessScopes": f"{a}:later:proj",
                                        "members": [{"value": member}]}), 201)["id"]
    assert placements(admin, group_id) == [(f"{a}:later:proj", "pending", "idp")]
    pending = ok(admin.request("GET", "/failures"))["pendingPlacements"]
    assert [(p["group"], p["scope"]) for p in pending] == [(group_id, f"{a}:later:proj")]
    assert [s["scope"] for s in access(admin, member)["scopes"]] == [a]  # nothing granted while pending
    org(admin, "later", "proj")
    assert placements(admin, group_id) == [(f"{a}:later:proj", "active", "idp")]
    assert ok(admin.request("GET", "/failures"))["pendingPlacements"] == []
    assert [s["scope"] for s in access(admin, member)["scopes"]] == [a, f"{a}:later", f"{a}:later:proj"]


def test_members_of_a_placed_group_are_members_of_its_scopes_and_direct_members_are_too(
        scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    org(admin, "o1", "p1", "p2")
    in_group, direct, outsider = user(scim), user(scim), user(scim)
    group_id = ok(scim.post("/Groups", {"displayName": "P1 Team", "harnessScopes": f"{a}:o1:p1",
                                        "members": [{"value": in_group}]}), 201)["id"]
    ok(admin.request("PUT", f"/scopes/{a}:o1:p2/members/{direct}"), 204)
    p1 = ok(admin.request("GET", f"/scopes/{a}:o1:p1/members"))["members"]
    assert p1 == [{"userId": in_group, "via": [{"type": "group", "id": group_id}]}]
    o1 = {m["userId"]: m["via"] for m in ok(admin.request("GET", f"/scopes/{a}:o1/members"))["members"]}
    assert o1 == {in_group: [{"type": "group", "id": group_id}], direct: [{"type": "direct"}]}  # a project implies its org
    assert outsider not in o1
    ok(admin.request("DELETE", f"/scopes/{a}:o1:p2/members/{direct}"), 204)
    assert ok(admin.request("DELETE", f"/scopes/{a}:o1:p2/members/{direct}"), 404)
    # leaving the group takes the scope away; nothing else has to happen
    ok(scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
        {"op": "remove", "path": f'members[value eq "{in_group}"]'}]}), 204)
    assert ok(admin.request("GET", f"/scopes/{a}:o1:p1/members"))["members"] == []


def test_role_assignments_follow_where_the_group_is_placed(scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    org(admin, "o1", "p1")
    account_group = ok(scim.post("/Groups", {"displayName": "Everyone"}), 201)["id"]
    project_group = ok(scim.post("/Groups", {"displayName": "Proj", "harnessScopes": f"{a}:o1:p1"}), 201)["id"]
    assign(admin, f"{a}:o1:p1", "_project_admin", "_all_project_level_resources", "group", account_group)
    assign(admin, f"{a}:o1:p1", "_project_viewer", "_all_project_level_resources", "group", project_group)
    error = assign(admin, f"{a}:o1", "_organization_viewer", "_all_organization_level_resources", "group",
                   project_group, status=400)
    assert error["code"] == "invalidValue" and f"{a}:o1:p1" in error["message"]
    assert assign(admin, a, "_project_admin", "_all_project_level_resources", "group", account_group, 400)["code"] \
        == "invalidValue"  # a project role at the account
    assert assign(admin, f"{a}:o1", "_organization_admin", "_nope", "group", account_group, 400)["code"] == "invalidValue"
    assert assign(admin, f"{a}:o9", "_organization_admin", "_all_organization_level_resources", "group",
                  account_group, 404)["status"] == 404
    assert assign(admin, f"{a}:o1:p1", "_project_viewer", "_all_project_level_resources", "group", project_group,
                  409)["code"] == "uniqueness"
    roles = {r["identifier"] for r in ok(admin.request("GET", "/roles"))["roles"]}
    assert roles == {"_account_admin", "_account_viewer", "_organization_admin", "_organization_viewer",
                     "_project_admin", "_project_viewer"}
    assert len(ok(admin.request("GET", "/resource-groups"))["resourceGroups"]) == 3
    listed = ok(admin.request("GET", "/role-assignments", params={"principalType": "group",
                                                                   "principalId": project_group}))["roleAssignments"]
    assert [(x["scope"], x["role"]) for x in listed] == [(f"{a}:o1:p1", "_project_viewer")]


def test_effective_access_says_what_a_person_may_do_in_a_project_and_why(scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    org(admin, "o1", "p1")
    pat = user(scim)
    viewers = ok(scim.post("/Groups", {"displayName": "Viewers", "members": [{"value": pat}]}), 201)["id"]
    builders = ok(scim.post("/Groups", {"displayName": "Builders", "harnessScopes": f"{a}:o1:p1",
                                        "members": [{"value": pat}]}), 201)["id"]
    assign(admin, a, "_account_viewer", "_all_account_level_resources", "group", viewers)
    assign(admin, f"{a}:o1", "_organization_viewer", "_all_organization_level_resources", "user", pat)
    assign(admin, f"{a}:o1:p1", "_project_admin", "_all_project_level_resources", "group", builders)
    everything = access(admin, pat)
    assert grants(everything) == {(a, "_account_viewer", viewers, None), (f"{a}:o1", "_organization_viewer", "direct", None),
                                  (f"{a}:o1:p1", "_project_admin", builders, None)}
    in_project = access(admin, pat, f"{a}:o1:p1")
    assert grants(in_project) == {(f"{a}:o1:p1", "_account_viewer", viewers, a),
                                  (f"{a}:o1:p1", "_organization_viewer", "direct", f"{a}:o1"),
                                  (f"{a}:o1:p1", "_project_admin", builders, None)}
    assert in_project["scopes"] == [{"scope": f"{a}:o1:p1", "via": [
        {"type": "group", "id": builders, "name": "Builders"}]}]
    assert ok(admin.request("GET", f"/users/{pat}/access", params={"scope": f"{a}:nope"}), 404)
    assert ok(admin.request("GET", f"/users/{pat}/access", params={"scope": "elsewhere:o1"}), 400)


def test_later_changes_of_harness_scopes_apply_and_a_removed_placement_takes_its_assignments(
        scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    org(admin, "o1", "p1", "p2")
    pat = user(scim)
    group_id = ok(scim.post("/Groups", {"displayName": "Moving", "harnessScopes": f"{a}:o1:p1,{a}:o1:p2",
                                        "members": [{"value": pat}]}), 201)["id"]
    assign(admin, f"{a}:o1:p1", "_project_admin", "_all_project_level_resources", "group", group_id)
    assign(admin, f"{a}:o1:p2", "_project_viewer", "_all_project_level_resources", "group", group_id)
    ok(scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "harnessScopes", "value": f"{a}:o1:p2"}]}), 204)
    assert grants(access(admin, pat)) == {(f"{a}:o1:p2", "_project_viewer", group_id, None)}
    assert [x["scope"] for x in ok(admin.request("GET", "/role-assignments"))["roleAssignments"]] == [f"{a}:o1:p2"]
    # placed at p1 again: the old assignment does not come back
    ok(scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "harnessScopes", "value": f"{a}:o1:p1,{a}:o1:p2"}]}), 204)
    assert grants(access(admin, pat)) == {(f"{a}:o1:p2", "_project_viewer", group_id, None)}
    # a rename keeps id and assignments
    ok(scim.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Moved"}]}), 204)
    assert grants(access(admin, pat)) == {(f"{a}:o1:p2", "_project_viewer", group_id, None)}


def test_deleting_a_project_a_group_or_a_user_removes_what_hung_on_it(scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    org(admin, "o1", "p1", "p2")
    pat, sam = user(scim), user(scim)
    here = ok(scim.post("/Groups", {"displayName": "Here", "harnessScopes": f"{a}:o1:p1",
                                    "members": [{"value": pat}]}), 201)["id"]
    elsewhere = ok(scim.post("/Groups", {"displayName": "Elsewhere", "harnessScopes": f"{a}:o1:p2",
                                         "members": [{"value": pat}]}), 201)["id"]
    assign(admin, f"{a}:o1:p1", "_project_admin", "_all_project_level_resources", "group", here)
    assign(admin, f"{a}:o1:p2", "_project_admin", "_all_project_level_resources", "group", elsewhere)
    assign(admin, f"{a}:o1:p1", "_project_viewer", "_all_project_level_resources", "user", sam)
    ok(admin.request("PUT", f"/scopes/{a}:o1:p1/members/{sam}"), 204)
    ok(admin.request("DELETE", "/orgs/o1/projects/p1"), 204)
    assert placements(admin, here) == [(f"{a}:o1:p1", "pending", "idp")]  # the IdP still names it
    assert grants(access(admin, pat)) == {(f"{a}:o1:p2", "_project_admin", elsewhere, None)}
    assert access(admin, sam)["assignments"] == []
    assert [s["scope"] for s in access(admin, sam)["scopes"]] == [a]
    org_projects = [p["identifier"] for p in ok(admin.request("GET", "/orgs/o1/projects"))["projects"]]
    assert org_projects == ["p2"]
    # the project created again: the placement is active again, without the assignments of before
    ok(admin.request("POST", "/orgs/o1/projects", json={"identifier": "p1"}), 201)
    assert placements(admin, here) == [(f"{a}:o1:p1", "active", "idp")]
    assert grants(access(admin, pat)) == {(f"{a}:o1:p2", "_project_admin", elsewhere, None)}
    # a group deleted in the IdP takes its assignments; one created again with the same name does not get them
    ok(scim.delete(f"/Groups/{elsewhere}"), 204)
    again = ok(scim.post("/Groups", {"displayName": "Elsewhere", "harnessScopes": f"{a}:o1:p2",
                                     "members": [{"value": pat}]}), 201)["id"]
    assert again == elsewhere and access(admin, pat)["assignments"] == []
    # a user deleted in the IdP: their own assignments and memberships go
    assign(admin, f"{a}:o1", "_organization_viewer", "_all_organization_level_resources", "user", sam)
    ok(admin.request("PUT", f"/scopes/{a}:o1:p2/members/{sam}"), 204)
    ok(scim.delete(f"/Users/{sam}"), 204)
    assert ok(admin.request("GET", "/role-assignments", params={"principalId": sam}))["roleAssignments"] == []
    assert ok(admin.request("GET", f"/scopes/{a}:o1:p2/members"))["members"] == [
        {"userId": pat, "via": [{"type": "group", "id": again}]}]
    # deleting the org takes its projects
    ok(admin.request("DELETE", "/orgs/o1"), 204)
    assert ok(admin.request("GET", "/orgs"))["orgs"] == []
    assert ok(admin.request("GET", "/orgs/o1/projects"), 404)


def test_a_deactivated_user_has_no_access_and_gets_none_back_when_reactivated(
        scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    org(admin, "o1")
    pat = user(scim)
    assign(admin, f"{a}:o1", "_organization_admin", "_all_organization_level_resources", "user", pat)
    ok(admin.request("PUT", f"/scopes/{a}:o1/members/{pat}"), 204)
    ok(scim.patch(f"/Users/{pat}", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active",
                                                                           "value": False}]}))
    assert access(admin, pat) == {"userId": pat, "active": False, "scopes": [], "assignments": []}
    ok(scim.patch(f"/Users/{pat}", {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active",
                                                                           "value": True}]}))
    assert access(admin, pat)["assignments"] == [] and [s["scope"] for s in access(admin, pat)["scopes"]] == [a]


def test_the_last_account_admin_cannot_be_removed(scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    first, second = user(scim), user(scim)
    only = assign(admin, a, "_account_admin", "_all_account_level_resources", "user", first)
    error = ok(admin.request("DELETE", f"/role-assignments/{only['id']}"), 409)["error"]
    assert error["code"] == "lastAccountAdmin" and "_account_admin" in error["message"]
    assert_scim_error(scim.delete(f"/Users/{first}"), 409)
    assert_scim_error(scim.patch(f"/Users/{first}", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": False}]}), 409)
    assert ok(scim.get(f"/Users/{first}"))["active"] is True
    admins = ok(scim.post("/Groups", {"displayName": "Admins", "members": [{"value": second}]}), 201)["id"]
    assign(admin, a, "_account_admin", "_all_account_level_resources", "group", admins)
    ok(admin.request("DELETE", f"/role-assignments/{only['id']}"), 204)  # the group's member still holds it
    records = admin.wait_for(lambda rs: any(r["operation"] == "Manage.RoleAssignments.Delete" and r["status"] == 409
                                            for r in rs), operation="Manage.RoleAssignments")
    assert any(r["resourceType"] == "RoleAssignment" and r["resourceId"] == only["id"] for r in records)


def test_what_admins_may_and_may_not_do_with_placements(scim: ScimClient, admin: AdminClient) -> None:
    a = scim.account_id
    org(admin, "o1", "p1")
    placed_by_idp = ok(scim.post("/Groups", {"displayName": "From Entra", "harnessScopes": f"{a}:o1"}), 201)["id"]
    okta_push = ok(scim.post("/Groups", {"displayName": "From Okta"}), 201)["id"]  # Okta sends name and members only
    native = ok(admin.request("POST", "/groups", json={"name": "Native"}), 201)["identifier"]
    refused = ok(admin.request("PUT", f"/groups/{placed_by_idp}/placements", json={"scopes": [f"{a}:o1:p1"]}), 409)
    assert refused["error"]["code"] == "managedByEntra"
    assert placements(admin, placed_by_idp) == [(f"{a}:o1", "active", "idp")]
    for group_id in (okta_push, native):
        body = ok(admin.request("PUT", f"/groups/{group_id}/placements", json={"scopes": [f"{a}:o1:p1"]}))
        assert [(p["scope"], p["owner"]) for p in body["placements"]] == [(f"{a}:o1:p1", "admin")]
    # Okta's next PUT (name and members only) keeps the admin's placement
    ok(scim.put(f"/Groups/{okta_push}", {"displayName": "From Okta", "members": []}))
    assert placements(admin, okta_push) == [(f"{a}:o1:p1", "active", "admin")]
    # the IdP sending harnessScopes later takes the placements over
    ok(scim.patch(f"/Groups/{okta_push}", {"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "harnessScopes", "value": f"{a}:o1"}]}), 204)
    assert placements(admin, okta_push) == [(f"{a}:o1", "active", "idp")]
    assert ok(admin.request("PUT", f"/groups/{native}/placements", json={"scopes": ["x:o1"]}), 400)
    # SCIM users: admins may add direct org/project memberships
    pat = user(scim)
    ok(admin.request("PUT", f"/scopes/{a}:o1:p1/members/{pat}"), 204)
    assert ok(admin.request("PUT", f"/scopes/{a}:o1:p9/members/{pat}"), 404)
    assert ok(admin.request("PUT", f"/scopes/{a}:o1:p1/members/{uuid.uuid4()}"), 404)


def _round_trips(host: DevHost, operation: str) -> int:
    [count] = [int(m.group(1)) for line in host.log().splitlines()
               if f"{operation} " in line and (m := re.search(r"round_trips=(\d+)", line))][-1:]
    return count


def _cached_round_trips(host: DevHost, admin: AdminClient, query: Any) -> int:
    """The access query's round trips with the admin token already cached: the host's token cache lasts 1 s here, so
    on a loaded machine a try may read the token again (2 more); the least of three tries is the query's own cost."""
    tries = []
    for _ in range(3):
        ok(admin.request("GET", "/roles"))  # authenticates: the token is in the host's cache for the next request
        query()
        tries.append(_round_trips(host, "Manage.Users.Access"))
    return min(tries)


def test_an_access_query_costs_five_round_trips_for_a_user_in_fifty_groups(
        scim: ScimClient, admin: AdminClient, scim_host: DevHost) -> None:
    a = scim.account_id
    projects = [f"p{n}" for n in range(20)]
    org(admin, "big", *projects)
    pat = user(scim)
    spread = ok(scim.post("/Groups", {"displayName": "Spread", "members": [{"value": pat}],
                                      "harnessScopes": ",".join(f"{a}:big:{p}" for p in projects)}), 201)["id"]
    for p in projects:
        assign(admin, f"{a}:big:{p}", "_project_viewer", "_all_project_level_resources", "group", spread)
    for n in range(49):
        group_id = ok(scim.post("/Groups", {"displayName": f"Team {n}", "members": [{"value": pat}]}), 201)["id"]
        if n % 7 == 0:
            assign(admin, a, "_account_viewer", "_all_account_level_resources", "group", group_id)
    answer = access(admin, pat)
    assert len(answer["assignments"]) == 20 + 7 and len(answer["scopes"]) == 1 + 1 + 20
    assert _cached_round_trips(scim_host, admin, lambda: access(admin, pat)) == 5
    focused = access(admin, pat, f"{a}:big:p3")
    assert grants(focused) == {(f"{a}:big:p3", "_project_viewer", spread, None)} | {
        (f"{a}:big:p3", "_account_viewer", g, a) for g in {x["via"]["id"] for x in answer["assignments"]
                                                           if x["role"] == "_account_viewer"}}
    assert _cached_round_trips(scim_host, admin, lambda: access(admin, pat, f"{a}:big:p3")) == 5


def test_two_concurrent_removals_of_the_last_two_admins_leave_one(scim: ScimClient, admin: AdminClient) -> None:
    """The last-admin rule under concurrency (#37): two requests at once, each removing one of the last two holders
    of `_account_admin` (an assignment delete, a SCIM user delete, a deactivation), each finding the other still
    holding: exactly one passes, the other is refused 409, in every round."""
    a = scim.account_id
    survivor = user(scim)
    survivor_assignment = assign(admin, a, "_account_admin", "_all_account_level_resources", "user", survivor)["id"]
    deactivate = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    removals: list[Any] = [
        lambda uid, aid: admin.request("DELETE", f"/role-assignments/{aid}"),
        lambda uid, aid: scim.delete(f"/Users/{uid}"),
        lambda uid, aid: scim.patch(f"/Users/{uid}", deactivate),
    ]
    for round_ in range(6):
        pair = [user(scim), user(scim)]
        held = [assign(admin, a, "_account_admin", "_all_account_level_resources", "user", uid)["id"] for uid in pair]
        ok(admin.request("DELETE", f"/role-assignments/{survivor_assignment}"), 204)  # the pair still holds it
        first, second = removals[round_ % 3], removals[(round_ + 1) % 3]
        barrier = threading.Barrier(2)

        def remove(removal: Any, user_id: str, assignment_id: str, barrier: threading.Barrier = barrier) -> Any:
            barrier.wait()
            return removal(user_id, assignment_id)

        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(remove, (first, second), pair, held))
        statuses = sorted(r.status_code for r in answers)
        assert statuses in ([200, 409], [204, 409]), (round_, [(r.status_code, r.text[:200]) for r in answers])
        kept = next(n for n, r in enumerate(answers) if r.status_code == 409)
        survivor, survivor_assignment = pair[kept], held[kept]
        roles = {(x["scope"], x["role"]) for x in access(admin, survivor)["assignments"]}
        assert (a, "_account_admin") in roles, (round_, roles)


def test_the_idp_removing_the_last_admin_is_applied_and_shown_under_failures(scim: ScimClient, admin: AdminClient) -> None:
    """Entra decides who is in a group: removing the last holder of `_account_admin` from the group that gives it is
    never refused; the account's admins find a notice in the failures view (and in their digest email)."""
    a = scim.account_id
    ann = user(scim)
    group = ok(scim.post("/Groups", {"displayName": "Admins", "members": [{"value": ann}]}), 201)["id"]
    assign(admin, a, "_account_admin", "_all_account_level_resources", "group", group)
    removed = scim.patch(f"/Groups/{group}", {"schemas": [PATCH], "Operations": [
        {"op": "Remove", "path": f'members[value eq "{ann}"]'}]})
    assert removed.status_code == 204
    assert ok(scim.get(f"/Groups/{group}")).get("members", []) == []
    [notice] = [f for f in ok(admin.request("GET", "/failures"))["unreported"] if f["source"] == "access"]
    assert notice["resourceId"] == group and notice["operation"] == "Groups.Patch"
    assert "_account_admin" in notice["lastError"] and "roles assign" in notice["lastError"]
