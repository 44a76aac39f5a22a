"""Group push as Entra drives it, over HTTP against the local host and Azurite."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.support.devhost import DevHost
from tests.support.scim import SCIM, ScimClient, assert_scim_error

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ADSCIM = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def user(scim: ScimClient, name: str) -> str:
    response = scim.post("/Users", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
                                    "displayName": name.split("@")[0]})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def group(scim: ScimClient, name: str, members: list[str] | None = None, external_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [GROUP, ADSCIM], "displayName": name, "meta": {"resourceType": "Group"}}
    if external_id:
        body["externalId"] = external_id
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    response = scim.post("/Groups", body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def member_ids(scim: ScimClient, group_id: str) -> set[str]:
    return {m["value"] for m in scim.get(f"/Groups/{group_id}").json().get("members", [])}


# --- identity and create ---------------------------------------------------------------------------------------

def test_entra_create_gets_the_harness_identifier_and_empty_members(scim: ScimClient) -> None:
    response = scim.post("/Groups", {"schemas": [GROUP, ADSCIM], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
                                     "displayName": "Dev-Team.Ops Group", "meta": {"resourceType": "Group"}})
    assert response.status_code == 201
    created = response.json()
    assert created["id"] == "Dev_Team_Ops_Group"
    assert created["members"] == [] and created["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    assert response.headers["Location"] == f"{scim.tenant_url}/Groups/Dev_Team_Ops_Group" == created["meta"]["location"]
    assert response.headers["ETag"] == created["meta"]["version"]
    assert group(scim, "example-group")["id"] == "example_group"


def test_names_that_normalise_alike_are_both_kept_with_a_deterministic_suffix(scim: ScimClient) -> None:
    first, second = group(scim, "a-b"), group(scim, "a.b")
    assert first["id"] == "a_b" and second["id"].startswith("a_b_") and len(second["id"]) == len("a_b_") + 6
    assert scim.get(f"/Groups/{second['id']}").json()["displayName"] == "a.b"


def test_displayName_is_unique_case_insensitively_and_atomically(scim: ScimClient, scim_host_b: DevHost) -> None:
    group(scim, "Finance")
    assert_scim_error(scim.post("/Groups", {"schemas": [GROUP], "displayName": "FINANCE"}), 409, "uniqueness")
    hosts = [scim.base_url, scim_host_b.base_url] * 4
    barrier = threading.Barrier(len(hosts))

    def post(base: str) -> int:
        barrier.wait()
        return requests.post(f"{base}/api/scim/account/{scim.account_id}/Groups",
                             data=json.dumps({"schemas": [GROUP], "displayName": "Race Group"}),
                             headers={"Authorization": f"Bearer {scim.token}", "Content-Type": SCIM}, timeout=60).status_code

    with ThreadPoolExecutor(len(hosts)) as pool:
        assert sorted(pool.map(post, hosts)) == [201] + [409] * (len(hosts) - 1)


def test_create_with_members_ignores_unknown_ids_and_stores_repeats_once(scim: ScimClient) -> None:
    alice = user(scim, "alice@contoso.com")
    created = group(scim, "With Members", members=[alice, alice, "no-such-user", "string id 1"])
    assert [m["value"] for m in created["members"]] == [alice]
    assert created["members"][0]["$ref"] == f"{scim.tenant_url}/Users/{alice}"


def test_missing_displayName_is_400(scim: ScimClient) -> None:
    assert_scim_error(scim.post("/Groups", {"schemas": [GROUP]}), 400, "invalidValue")


# --- read -------------------------------------------------------------------------------------------------

def test_entra_group_queries(scim: ScimClient) -> None:
    created = group(scim, "Sales EMEA", external_id="obj-1")
    for query in ['excludedAttributes=members&filter=displayName eq "sales emea"',
                  'filter=externalId eq "obj-1"&excludedAttributes=members', f'filter=id eq "{created["id"]}"',
                  'filter=displayName co "EMEA"']:
        found = scim.get(f"/Groups?{query}").json()
        assert [g["id"] for g in found["Resources"]] == [created["id"]], query
    random_name = scim.get('/Groups?excludedAttributes=members&filter=displayName eq "e6c3b0b4-random"').json()
    assert random_name["totalResults"] == 0 and random_name["Resources"] == []
    excluded = scim.get(f"/Groups/{created['id']}?excludedAttributes=members").json()
    assert "members" not in excluded and excluded["displayName"] == "Sales EMEA"
    assert_scim_error(scim.get("/Groups/no_such_group"), 404)


def test_group_list_paginates(scim: ScimClient) -> None:
    for i in range(7):
        group(scim, f"page group {i}")
    pages = [scim.get(f"/Groups?startIndex={s}&count=3&excludedAttributes=members").json() for s in (1, 4, 7)]
    assert [p["totalResults"] for p in pages] == [7, 7, 7]
    assert sum(len(p["Resources"]) for p in pages) == 7
    assert len({g["id"] for p in pages for g in p["Resources"]}) == 7


# --- PATCH ------------------------------------------------------------------------------------------------

def test_patch_members_in_both_dialects(scim: ScimClient) -> None:
    ids = [user(scim, f"m{i}@contoso.com") for i in range(6)]
    created = group(scim, "Patched")
    gid = created["id"]
    add = scim.patch(f"/Groups/{gid}", patch_body(
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": ids[0]}, {"$ref": None, "value": ids[1]}]},
        {"op": "Add", "path": "members", "value": [{"value": i} for i in ids[2:]]}))
    assert add.status_code == 204 and add.text == ""
    assert member_ids(scim, gid) == set(ids)
    # Entra's default remove: only the listed members, never all
    assert scim.patch(f"/Groups/{gid}", patch_body(
        {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": ids[0]}]})).status_code == 204
    assert member_ids(scim, gid) == set(ids[1:])
    # the aadOptscim062020 dialect
    scim.patch(f"/Groups/{gid}", patch_body({"op": "remove", "path": f'members[value eq "{ids[1]}"]'}))
    assert member_ids(scim, gid) == set(ids[2:])
    # retries: adding an existing member or removing an absent one is a no-op
    again = scim.patch(f"/Groups/{gid}", patch_body({"op": "Add", "path": "members", "value": [{"value": ids[2]}]},
                                                    {"op": "Remove", "path": "members", "value": [{"value": ids[0]}]}))
    assert again.status_code == 204 and member_ids(scim, gid) == set(ids[2:])
    scim.patch(f"/Groups/{gid}", patch_body({"op": "replace", "path": "members", "value": [{"value": ids[0]}]}))
    assert member_ids(scim, gid) == {ids[0]}
    scim.patch(f"/Groups/{gid}", patch_body({"op": "remove", "path": "members"}))
    assert member_ids(scim, gid) == set()


def test_patch_rename_and_external_id_with_path_and_without(scim: ScimClient) -> None:
    member = user(scim, "renamed.member@contoso.com")
    created = group(scim, "Old Name", members=[member])
    gid = created["id"]
    assert scim.patch(f"/Groups/{gid}", patch_body(
        {"op": "Replace", "path": "displayName", "value": "New Name"})).status_code == 204
    scim.patch(f"/Groups/{gid}", patch_body({"op": "replace", "value": {"externalId": "ext-2"}}))
    scim.patch(f"/Groups/{gid}", patch_body({"op": "replace", "value": {"displayName": "Newest Name"}}))
    renamed = scim.get(f"/Groups/{gid}").json()
    assert (renamed["id"], renamed["displayName"], renamed["externalId"]) == ("Old_Name", "Newest Name", "ext-2")
    assert scim.get('/Groups?filter=displayName eq "old name"').json()["totalResults"] == 0
    assert scim.get('/Groups?filter=displayName eq "NEWEST NAME"').json()["totalResults"] == 1
    assert scim.get(f"/Users/{member}").json()["groups"][0]["display"] == "Newest Name"
    group(scim, "Old Name")  # the old name is free again (it gets the suffixed identifier)


def test_rename_to_a_taken_name_is_409_and_nothing_changes(scim: ScimClient) -> None:
    group(scim, "Taken")
    created = group(scim, "Mine")
    assert_scim_error(scim.patch(f"/Groups/{created['id']}", patch_body(
        {"op": "Replace", "path": "displayName", "value": "taken"})), 409, "uniqueness")
    assert scim.get(f"/Groups/{created['id']}").json()["displayName"] == "Mine"


def test_invalid_patch_changes_nothing(scim: ScimClient) -> None:
    member = user(scim, "atomic@contoso.com")
    created = group(scim, "Atomic")
    response = scim.patch(f"/Groups/{created['id']}", patch_body(
        {"op": "Add", "path": "members", "value": [{"value": member}]},
        {"op": "Add", "path": "members", "value": [{"display": "no value"}]}))
    assert_scim_error(response, 400, "invalidValue")
    assert member_ids(scim, created["id"]) == set()


def test_patch_unknown_group_is_404(scim: ScimClient) -> None:
    assert_scim_error(scim.patch("/Groups/nope", patch_body({"op": "Add", "path": "members", "value": []})), 404)


def test_concurrent_member_patches_from_two_hosts_end_with_the_exact_set(scim: ScimClient, scim_host_b: DevHost) -> None:
    ids = [user(scim, f"c{i}@contoso.com") for i in range(16)]
    created = group(scim, "Concurrent", members=ids[8:])
    operations = [{"op": "Add", "path": "members", "value": [{"value": i}]} for i in ids[:8]]
    operations += [{"op": "Remove", "path": "members", "value": [{"value": i}]} for i in ids[8:12]]
    barrier = threading.Barrier(len(operations))

    def send(index: int) -> int:
        base = scim.base_url if index % 2 else scim_host_b.base_url
        barrier.wait()
        return requests.patch(f"{base}/api/scim/account/{scim.account_id}/Groups/{created['id']}",
                              data=json.dumps(patch_body(operations[index])),
                              headers={"Authorization": f"Bearer {scim.token}", "Content-Type": SCIM}, timeout=60).status_code

    with ThreadPoolExecutor(len(operations)) as pool:
        assert list(pool.map(send, range(len(operations)))) == [204] * len(operations)
    assert member_ids(scim, created["id"]) == set(ids[:8]) | set(ids[12:])


# --- PUT, delete, the user side ------------------------------------------------------------------------------

def test_put_replaces_name_external_id_and_members(scim: ScimClient) -> None:
    a, b, c = (user(scim, f"put{i}@contoso.com") for i in range(3))
    created = group(scim, "Put Group", members=[a, b])
    response = scim.put(f"/Groups/{created['id']}", {"schemas": [GROUP], "displayName": "putName", "externalId": "x",
                                                      "members": [{"value": b}, {"value": c}]})
    assert response.status_code == 200
    replaced = response.json()
    assert replaced["displayName"] == "putName" and replaced["id"] == created["id"]
    assert {m["value"] for m in replaced["members"]} == {b, c}
    assert [g["value"] for g in scim.get(f"/Users/{a}").json().get("groups", [])] == []


def test_user_shows_its_groups_and_keeps_them_while_deactivated(scim: ScimClient) -> None:
    member = user(scim, "member@contoso.com")
    first, second = group(scim, "First", members=[member]), group(scim, "Second", members=[member])
    scim.patch(f"/Users/{member}", {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]})
    shown = scim.get(f"/Users/{member}").json()
    assert shown["active"] is False
    assert {(g["value"], g["display"], g["$ref"]) for g in shown["groups"]} == {
        (first["id"], "First", f"{scim.tenant_url}/Groups/{first['id']}"),
        (second["id"], "Second", f"{scim.tenant_url}/Groups/{second['id']}")}
    assert member in member_ids(scim, first["id"])


def test_delete_group_removes_memberships_but_not_users(scim: ScimClient) -> None:
    member = user(scim, "stays@contoso.com")
    created = group(scim, "Doomed", members=[member])
    assert scim.delete(f"/Groups/{created['id']}").status_code == 204
    assert_scim_error(scim.get(f"/Groups/{created['id']}"), 404)
    assert_scim_error(scim.delete(f"/Groups/{created['id']}"), 404)
    assert "groups" not in scim.get(f"/Users/{member}").json()


def test_delete_user_removes_it_from_all_its_groups(scim: ScimClient) -> None:
    member, other = user(scim, "leaving@contoso.com"), user(scim, "staying@contoso.com")
    groups = [group(scim, f"Team {i}", members=[member, other]) for i in range(3)]
    assert scim.delete(f"/Users/{member}").status_code == 204
    for created in groups:
        assert member_ids(scim, created["id"]) == {other}


def test_group_if_match(scim: ScimClient) -> None:
    created = group(scim, "Versioned")
    body = patch_body({"op": "Replace", "path": "displayName", "value": "Versioned 2"})
    assert_scim_error(scim.patch(f"/Groups/{created['id']}", body, headers={"If-Match": 'W/"stale"'}), 412)
    assert scim.patch(f"/Groups/{created['id']}", body, headers={"If-Match": created["meta"]["version"]}).status_code == 204
    assert_scim_error(scim.delete(f"/Groups/{created['id']}", headers={"If-Match": created["meta"]["version"]}), 412)


@pytest.mark.parametrize("path", ["/.search", "/Groups/.search"])
def test_search_by_post_finds_groups(scim: ScimClient, path: str) -> None:
    created = group(scim, "Searchable")
    found = scim.post(path, {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                             "filter": 'displayName eq "searchable"'}).json()
    assert [g["id"] for g in found["Resources"]] == [created["id"]]


def test_if_none_match_with_the_current_version_answers_304(scim: ScimClient) -> None:
    """Conditional reads (RFC 9110 §13.1.2, #38): the current ETag gives 304 and no body; an old one, the resource."""
    user = scim.post("/Users", {"userName": "etag@contoso.test"}).json()
    group = scim.post("/Groups", {"displayName": "ETag team", "members": [{"value": user["id"]}]})
    assert group.status_code == 201
    for path, tag in ((f"/Users/{user['id']}", user["meta"]["version"]),
                      (f"/Groups/{group.json()['id']}", group.headers["ETag"])):
        unchanged = scim.get(path, headers={"If-None-Match": tag})
        assert unchanged.status_code == 304 and not unchanged.content and unchanged.headers["ETag"] == tag
        assert scim.get(path, headers={"If-None-Match": f'"stale", {tag}'}).status_code == 304
        assert scim.get(path, headers={"If-None-Match": "*"}).status_code == 304
        assert scim.get(path, headers={"If-None-Match": 'W/"0"'}).status_code == 200
    scim.patch(f"/Users/{user['id']}", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                                         "Operations": [{"op": "replace", "path": "displayName", "value": "New"}]})
    changed = scim.get(f"/Users/{user['id']}", headers={"If-None-Match": user["meta"]["version"]})
    assert changed.status_code == 200 and changed.json()["displayName"] == "New"
    assert scim.get(f"/Users/{'0' * 8}-0000-4000-8000-{'0' * 12}", headers={"If-None-Match": "*"}).status_code == 404
