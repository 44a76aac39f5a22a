"""The console's overview and the activity log's two kinds over HTTP: the figures equal what was sent, reading the log
is not itself recorded, and a flood of refused authentications cannot push provisioning records out of the log."""

from __future__ import annotations

import re
import time
from typing import Any

import requests

from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.scim import AdminClient, ScimClient, new_token


def overview(admin: AdminClient, total: int, window: str = "24h") -> dict[str, Any]:
    """The overview once the background writer has counted `total` provisioning requests."""
    deadline = time.monotonic() + 15
    while True:
        response = admin.request("GET", "/overview", params={"window": window})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["requests"]["total"] >= total:
            return body
        assert time.monotonic() < deadline, body["requests"]
        time.sleep(0.3)


def test_the_overview_shows_what_each_identity_provider_sent(scim: ScimClient, admin: AdminClient,
                                                             accounts: AccountStore, scim_host: DevHost) -> None:
    for n in range(6):
        assert scim.post("/Users", {"userName": f"o{n}@contoso.test"}).status_code == 201
    assert scim.post("/Users", {"userName": "o0@contoso.test"}).status_code == 409
    for _ in range(3):
        assert scim.get("/Users/00000000-0000-4000-8000-000000000000").status_code == 404
    okta = new_token(accounts, scim.account_id, idp="okta")
    okta_client = ScimClient(scim.base_url, scim.account_id, okta, requests.Session())
    assert okta_client.post("/Users", {"userName": "from.okta@contoso.test"}).status_code == 201
    admin.request("GET", "/users")  # the admin's own requests are not provisioning

    body = overview(admin, 11)
    assert body["requests"] == {"total": 11, "succeeded": 7, "failed": 4, "failureShare": round(4 / 11, 4)}
    assert {o["operation"]: (o["succeeded"], o["failed"]) for o in body["operations"]} == {
        "Users.Create": (7, 1), "Users.Get": (0, 3)}
    assert sum(b["succeeded"] for b in body["series"]) == 7 and sum(b["failed"] for b in body["series"]) == 4
    assert len(body["series"]) == 25 and body["bucket"] == "hour"
    assert {(i["idp"], i["keyId"], i["quiet"]) for i in body["identityProviders"]} == {
        ("entra", scim.token.split(".")[1], False), ("okta", okta.split(".")[1], False)}
    assert {t["keyId"] for t in body["tokens"]} >= {scim.token.split(".")[1], okta.split(".")[1], admin.key_id}
    assert body["work"]["pending"] == 0 and body["work"]["digestsSent"] == 0
    assert overview(admin, 11, "30d")["bucket"] == "day"
    [trips] = [int(m.group(1)) for line in scim_host.log().splitlines()
               if "Manage.Overview " in line and (m := re.search(r"round_trips=(\d+)", line))][-1:]
    assert trips == 8  # counts, tokens, pending work, failures (2), digests, scopes, placements
    bad = admin.request("GET", "/overview", params={"window": "1y"})
    assert bad.status_code == 400 and "window" in bad.json()["error"]["message"]


def test_the_activity_log_shows_provisioning_by_default_and_reading_it_is_not_recorded(
        scim: ScimClient, admin: AdminClient) -> None:
    assert scim.post("/Users", {"userName": "kinds@contoso.test"}).status_code == 201
    for _ in range(3):
        assert admin.request("GET", "/activity").status_code == 200
    assert admin.request("GET", "/users").status_code == 200
    assert admin.request("GET", "/settings").status_code == 200  # who read the settings: still audited
    assert admin.request("PATCH", "/settings", json={"updateEmailsViaScim": True}).status_code == 200
    audit = admin.wait_for(lambda found: any(r["operation"] == "Manage.Settings.Change" for r in found), kind="audit")
    assert {r["operation"] for r in audit} == {"Manage.Settings.Get", "Manage.Settings.Change"}
    provisioning = admin.request("GET", "/activity").json()["activity"]  # no kind: provisioning
    assert [r["operation"] for r in provisioning] == ["Users.Create"]
    assert {r["operation"] for r in admin.activity(kind="all")} == {"Users.Create", "Manage.Settings.Get",
                                                                   "Manage.Settings.Change"}
    bad = admin.request("GET", "/activity", params={"kind": "everything"})
    assert bad.status_code == 400 and "kind" in bad.json()["error"]["message"]
    tokens = admin.request("GET", "/tokens").json()["tokens"]  # reads still count as the token being used
    assert next(t for t in tokens if t["keyId"] == admin.key_id)["lastUsed"] is not None


def test_a_flood_of_refused_authentications_cannot_push_provisioning_out_of_the_log(
        scim: ScimClient, admin: AdminClient) -> None:
    assert scim.post("/Users", {"userName": "before.flood@contoso.test"}).status_code == 201
    key_id = scim.token.split(".")[1]
    with requests.Session() as session:
        for _ in range(300):
            response = session.get(f"{scim.tenant_url}/Users", headers={"Authorization": f"Bearer scim.{key_id}.x"},
                                   timeout=30)
            assert response.status_code == 401
    body = overview(admin, 301)  # every refusal is counted
    assert {o["operation"]: o["failed"] for o in body["operations"]}["Users.List"] == 300
    records = admin.wait_for(lambda found: any(r["status"] == 401 for r in found), count=1000)
    refused = [r for r in records if r["status"] == 401]
    if refused[0]["count"] == 1:  # the minute is not over: only the first refusal is in the log yet
        assert len(refused) == 1
    else:  # the flood straddled a minute: its first minute's aggregate is in too
        assert sum(r["count"] for r in refused) <= 300 and len(refused) <= 3
    assert any(r["operation"] == "Users.Create" for r in records[:5])  # the provisioning record is still on top


def test_a_persons_story_is_told_from_the_log(scim: ScimClient, admin: AdminClient) -> None:
    created = scim.post("/Users", {"userName": "story@contoso.test", "externalId": "story-ext"})
    user_id = created.json()["id"]
    assert scim.post("/Users", {"userName": "story@contoso.test", "externalId": "story-ext"}).status_code == 409
    assert admin.request("POST", "/orgs", json={"identifier": "eng"}).status_code == 201
    assert admin.request("POST", "/orgs/eng/projects", json={"identifier": "web"}).status_code == 201
    a = scim.account_id
    group = scim.post("/Groups", {"displayName": "Story Team", "harnessScopes": f"{a}:eng:web,{a}:eng"}).json()["id"]
    patch = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
    assert scim.patch(f"/Groups/{group}", {"schemas": [patch], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": user_id}]}]}).status_code == 204
    assert scim.patch(f"/Users/{user_id}", {"schemas": [patch], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Story"}]}).status_code == 200
    assert scim.patch(f"/Groups/{group}", {"schemas": [patch], "Operations": [
        {"op": "remove", "path": "members", "value": [{"value": user_id}]}]}).status_code == 204
    assert scim.patch(f"/Users/{user_id}", {"schemas": [patch], "Operations": [
        {"op": "replace", "path": "active", "value": False}]}).status_code == 200
    other = scim.post("/Users", {"userName": "not.in.story@contoso.test"}).json()["id"]  # someone else's record

    deadline = time.monotonic() + 10
    while True:
        story = admin.request("GET", f"/users/{user_id}/history").json()
        if len(story["history"]) >= 6 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert [event["what"] for event in story["history"]] == [
        "changed, now deactivated", f"left group {group}", "changed", f"joined group {group}", "refused (409 uniqueness)",
        "created"]
    joined, left = story["history"][3], story["history"][1]
    assert sorted(joined["access"]) == [f"gained membership of {a}:eng", f"gained membership of {a}:eng:web"]
    assert sorted(left["access"]) == [f"lost membership of {a}:eng through it", f"lost membership of {a}:eng:web through it"]
    refused = story["history"][4]
    assert refused["externalId"] == "story-ext" and refused["idp"] == "entra"
    assert story["nextCursor"] is None and other not in str(story)
    first = admin.request("GET", f"/users/{user_id}/history", params={"count": 2}).json()
    assert len(first["history"]) == 2 and first["nextCursor"]
    rest = admin.request("GET", f"/users/{user_id}/history", params={"count": 10, "cursor": first["nextCursor"]}).json()
    assert [e["what"] for e in first["history"] + rest["history"]] == [e["what"] for e in story["history"]]
    bad = admin.request("GET", f"/users/{user_id}/history", params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
