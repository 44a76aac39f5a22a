"""POST /Bulk (RFC 7644 §3.7) over the local host: bulkId references forward and in a circle, failOnErrors, version,
the limits checked before any work, tenant isolation, and each operation recorded as its single request is."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.scim import AdminClient, ScimClient, assert_scim_error, new_account, new_token

BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def bulk(scim: ScimClient, *operations: dict[str, Any], **extra: Any) -> dict[str, Any]:
    response = scim.post("/Bulk", {"schemas": [BULK], "Operations": list(operations), **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]
    return body


def post_user(bulk_id: str, name: str, **attributes: Any) -> dict[str, Any]:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id,
            "data": {"schemas": [USER], "userName": name, **attributes}}


@pytest.fixture
def other(scim_host: DevHost, accounts: AccountStore) -> Iterator[ScimClient]:
    account = new_account(accounts)
    with requests.Session() as session:
        yield ScimClient(scim_host.base_url, account.id, new_token(accounts, account.id), session)


def test_forward_references_resolve_and_each_operation_answers_in_request_order(scim: ScimClient,
                                                                                admin: AdminClient) -> None:
    answer = bulk(scim,
                  {"method": "POST", "path": "/Groups", "bulkId": "team",
                   "data": {"schemas": [GROUP], "displayName": "Bulk team", "members": [{"value": "bulkId:ann"}]}},
                  post_user("ann", "ann@contoso.test"),
                  post_user("bob", "bob@contoso.test", **{
                      "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"manager": {"value": "bulkId:ann"}}}),
                  {"method": "PATCH", "path": "/Groups/bulkId:team", "data": {"schemas": [PATCH], "Operations": [
                      {"op": "add", "path": "members", "value": [{"value": "bulkId:bob"}]}]}})
    ops = answer["Operations"]
    assert [(o["method"], o["status"], o.get("bulkId")) for o in ops] == [
        ("POST", "201", "team"), ("POST", "201", "ann"), ("POST", "201", "bob"), ("PATCH", "204", None)]
    ann_id = ops[1]["location"].rsplit("/", 1)[1]
    bob = scim.get(ops[2]["location"].split(f"/account/{scim.account_id}")[1]).json()
    assert bob["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["manager"]["value"] == ann_id
    team = scim.get(ops[0]["location"].split(f"/account/{scim.account_id}")[1]).json()
    assert {m["value"] for m in team["members"]} == {ann_id, bob["id"]}
    assert ops[0]["version"] and ops[1]["version"]
    records = admin.wait_for(lambda found: len(found) >= 4, operation="Bulk.")
    assert {r["operation"] for r in records} == {"Bulk.Groups.Create", "Bulk.Users.Create", "Bulk.Groups.Patch"}
    assert all("of bulk request" in r["detail"] for r in records)
    story = admin.request("GET", f"/users/{bob['id']}/history").json()["history"]
    assert any(e["what"] == f"joined group {team['id']}" for e in story), story  # the bulk PATCH is in bob's story


def test_circular_references_are_refused_and_what_hangs_on_a_failed_post_does_not_run(scim: ScimClient) -> None:
    manager = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
    answer = bulk(scim,
                  post_user("a", "a@contoso.test", **{manager: {"value": "bulkId:b"}}),
                  post_user("b", "b@contoso.test", **{manager: {"value": "bulkId:a"}}),
                  post_user("dup1", "same@contoso.test"), post_user("dup2", "SAME@contoso.test"),
                  {"method": "POST", "path": "/Groups", "bulkId": "g",
                   "data": {"displayName": "Needs dup2", "members": [{"value": "bulkId:dup2"}]}},
                  {"method": "DELETE", "path": "/Users/bulkId:nobody"})
    statuses = [o["status"] for o in answer["Operations"]]
    assert statuses == ["409", "409", "201", "409", "409", "400"], answer
    assert answer["Operations"][3]["response"]["scimType"] == "uniqueness"
    assert "circle" in answer["Operations"][0]["response"]["detail"]
    assert scim.get("/Users", params={"filter": 'userName eq "a@contoso.test"'}).json()["totalResults"] == 0
    assert scim.get("/Groups", params={"filter": 'displayName eq "Needs dup2"'}).json()["totalResults"] == 0


def test_fail_on_errors_stops_and_version_is_if_match(scim: ScimClient) -> None:
    user = scim.post("/Users", {"schemas": [USER], "userName": "ver@contoso.test"}).json()
    stale = {"method": "PATCH", "path": f"/Users/{user['id']}", "version": 'W/"999"',
             "data": {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "displayName", "value": "x"}]}}
    fresh = {**stale, "version": user["meta"]["version"]}
    answer = bulk(scim, stale, fresh, post_user("late", "late@contoso.test"), failOnErrors=1)
    assert [o["status"] for o in answer["Operations"]] == ["412"]  # stopped after the first error
    assert scim.get("/Users", params={"filter": 'userName eq "late@contoso.test"'}).json()["totalResults"] == 0
    answer = bulk(scim, stale, fresh, post_user("late", "late@contoso.test"))
    assert [o["status"] for o in answer["Operations"]] == ["412", "200", "201"]


def test_limits_are_checked_before_any_work_and_bulk_is_advertised(scim: ScimClient) -> None:
    config = scim.get("/ServiceProviderConfig").json()["bulk"]
    assert config["supported"] is True and config["maxOperations"] == 100 and config["maxPayloadSize"] == 1048576
    too_many = [post_user(f"u{n}", f"many{n}@contoso.test") for n in range(101)]
    assert_scim_error(scim.post("/Bulk", {"schemas": [BULK], "Operations": too_many}), 413, "tooMany")
    assert scim.get("/Users", params={"filter": 'userName eq "many0@contoso.test"'}).json()["totalResults"] == 0
    huge = [post_user("big", "big@contoso.test", displayName="x" * 8000)] * 100
    assert scim.post("/Bulk", {"schemas": [BULK], "Operations": huge * 2}).status_code == 413
    assert_scim_error(scim.post("/Bulk", {"Operations": [post_user("x", "x@contoso.test")]}), 400, "invalidSyntax")
    assert_scim_error(scim.post("/Bulk", {"schemas": [BULK], "Operations": []}), 400, "invalidSyntax")
    bad = bulk(scim, {"method": "GET", "path": "/Users"}, {"method": "POST", "path": "/Users/abc", "bulkId": "q",
                                                          "data": {}},
               {"method": "POST", "path": "https://elsewhere/Users", "bulkId": "r", "data": {"userName": "r@x"}})
    assert [o["status"] for o in bad["Operations"]] == ["400", "400", "400"]  # each malformed operation alone
    # a single request's limits hold for the whole bulk body, before any operation runs
    long_name = [post_user("ok", "ok@contoso.test"), post_user("s", "x" * 9000)]
    assert_scim_error(scim.post("/Bulk", {"schemas": [BULK], "Operations": long_name}), 400, "invalidValue")
    assert scim.get("/Users", params={"filter": 'userName eq "ok@contoso.test"'}).json()["totalResults"] == 0


def test_a_bulk_request_never_reaches_another_account(scim: ScimClient, other: ScimClient) -> None:
    theirs = other.post("/Users", {"schemas": [USER], "userName": "theirs@contoso.test"}).json()["id"]
    answer = bulk(scim, {"method": "DELETE", "path": f"/Users/{theirs}"},
                  {"method": "POST", "path": "/Groups", "bulkId": "g",
                   "data": {"displayName": "Mine", "members": [{"value": theirs}]}})
    assert [o["status"] for o in answer["Operations"]] == ["404", "201"]
    group = scim.get(answer["Operations"][1]["location"].split(f"/account/{scim.account_id}")[1]).json()
    assert group.get("members", []) == []  # another account's user is no user here
    assert other.get(f"/Users/{theirs}").status_code == 200
