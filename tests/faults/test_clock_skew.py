"""No answer depends on two hosts' clocks agreeing (#39): two hosts on one storage, the second under libfaketime
(Debian's `faketime`, which `make test-faults` installs when missing) ten minutes behind, ten minutes ahead, then one
second behind, and writes alternating between them as fast as they are answered. Every scope, placement, role
assignment and direct membership acknowledged is in effect on both hosts, and `GET role-assignments` (which deletes
rows no longer in effect) deletes none of them; reactivation and a group deleted and re-created end as written;
lastModified never goes back; the activity log lists the writes in the order they were answered, `since`/`until`
select them by that order, and the overview's total is the sum of its own series."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from shared.domain.accounts import Account
from tests.support.azurite import ROOT, Azurite
from tests.support.devhost import DevHost
from tests.support.scim import account_store, new_token

pytestmark = pytest.mark.faults

LIBFAKETIME = next(iter(sorted(Path("/usr/lib").glob("*/faketime/libfaketimeMT.so.1"))),
                   Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"))


@pytest.fixture(params=["-10m", "+10m", "-1"], ids=["behind", "ahead", "one-second"])
def hosts(request: pytest.FixtureRequest, storage: Azurite,
          tmp_path: Path) -> Iterator[tuple[DevHost, DevHost, str, str]]:
    if not LIBFAKETIME.exists():
        pytest.fail(f"{LIBFAKETIME} is missing: `make test-faults` installs Debian's faketime")
    prefix = "k" + uuid.uuid4().hex[:10]
    common = {"AzureWebJobsStorage": storage.connection_string, "TABLE_PREFIX": prefix, "AUTH_CACHE_SECONDS": "1",
              "RECONCILE_SCHEDULE": "0 0 0 1 1 *"}
    right = DevHost(ROOT, {**common, "DEVHOST_STATE_DIR": str(tmp_path / "a")}, tmp_path / "right.log")
    skewed = DevHost(ROOT, {**common, "DEVHOST_STATE_DIR": str(tmp_path / "b"), "LD_PRELOAD": str(LIBFAKETIME),
                            "FAKETIME": request.param, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}, tmp_path / "skewed.log")
    try:
        yield right, skewed, prefix, storage.connection_string
    finally:
        right.stop()
        skewed.stop()


def new_account(connection: str, prefix: str, kind: str) -> tuple[str, str, str]:
    """A new account on the hosts' storage: its id, an admin token and a SCIM token."""
    store = account_store(connection, prefix)
    account = Account(id=f"{kind}-{uuid.uuid4().hex[:6]}", name=kind.title(), notification_email=None,
                      created=datetime.now(UTC))
    store.create(account)
    return account.id, new_token(store, account.id, scope="admin"), new_token(store, account.id)


def call(host: DevHost, account: str, token: str, method: str, path: str, body: Any = None, *,
         area: str = "manage", status: int | None = None) -> Any:
    response = requests.request(method, f"{host.base_url}/api/{area}/account/{account}{path}", json=body, timeout=30,
                                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    expected = status or (201 if method == "POST" else 200)
    assert response.status_code == expected, (host.base_url, method, path, response.status_code, response.text[:300])
    return response.json() if response.content else None


def test_access_is_the_same_on_both_hosts_whatever_their_clocks(hosts: tuple[DevHost, DevHost, str, str]) -> None:
    right, skewed, prefix, connection = hosts
    a, admin, scim = new_account(connection, prefix, "skew")

    # an org through one host, its project through the other, a moment later
    call(right, a, admin, "POST", "/orgs", {"identifier": "o1", "name": "O1"})
    call(skewed, a, admin, "POST", "/orgs/o1/projects", {"identifier": "p1"})
    call(skewed, a, admin, "POST", "/orgs", {"identifier": "o2", "name": "O2"})
    call(right, a, admin, "POST", "/orgs/o2/projects", {"identifier": "p2"})
    pat = call(right, a, scim, "POST", "/Users", {"userName": "pat@contoso.test"}, area="scim")["id"]
    kim = call(skewed, a, scim, "POST", "/Users", {"userName": "kim@contoso.test"}, area="scim")["id"]
    # a group placed at both projects by the IdP, through the skewed host; roles assigned through the other
    group = call(skewed, a, scim, "POST", "/Groups", {"displayName": "Builders", "harnessScopes": f"{a}:o1:p1,{a}:o2:p2",
                                                      "members": [{"value": pat}]}, area="scim")["id"]
    made = [call(host, a, admin, "POST", "/role-assignments", {
        "scope": scope, "role": "_project_admin", "resourceGroup": "_all_project_level_resources",
        "principal": {"type": "group", "id": group}})["id"] for host, scope in ((right, f"{a}:o1:p1"), (skewed, f"{a}:o2:p2"))]
    made.append(call(right, a, admin, "POST", "/role-assignments", {
        "scope": f"{a}:o1", "role": "_organization_viewer", "resourceGroup": "_all_organization_level_resources",
        "principal": {"type": "user", "id": kim}})["id"])
    call(skewed, a, admin, "PUT", f"/scopes/{a}:o2/members/{kim}", status=204)
    call(right, a, admin, "PUT", f"/scopes/{a}:o1:p1/members/{kim}", status=204)

    for host in (right, skewed, right):  # GET role-assignments deletes what is no longer in effect: nothing here
        listed = {x["id"] for x in call(host, a, admin, "GET", "/role-assignments")["roleAssignments"]}
        assert set(made) <= listed, (host.base_url, made, listed)
    for host in (right, skewed):
        projects = {p["scope"] for p in call(host, a, admin, "GET", "/orgs/o1/projects")["projects"]}
        assert projects == {f"{a}:o1:p1"}, host.base_url
        placed = call(host, a, admin, "GET", f"/groups/{group}")["placements"]
        assert {(p["scope"], p["state"]) for p in placed} == {(f"{a}:o1:p1", "active"), (f"{a}:o2:p2", "active")}
        pats = call(host, a, admin, "GET", f"/users/{pat}/access")
        assert {(x["scope"], x["role"]) for x in pats["assignments"]} == {(f"{a}:o1:p1", "_project_admin"),
                                                                          (f"{a}:o2:p2", "_project_admin")}
        kims = call(host, a, admin, "GET", f"/users/{kim}/access")
        assert {x["scope"] for x in kims["scopes"]} >= {f"{a}:o1", f"{a}:o2", f"{a}:o1:p1"}, kims
        assert {(x["scope"], x["role"]) for x in kims["assignments"]} == {(f"{a}:o1", "_organization_viewer")}


def test_last_modified_never_goes_back_nor_before_created(hosts: tuple[DevHost, DevHost, str, str]) -> None:
    right, skewed, prefix, connection = hosts
    a, _, scim = new_account(connection, prefix, "mod")
    user = call(right, a, scim, "POST", "/Users", {"userName": "lee@contoso.test"}, area="scim")
    group = call(right, a, scim, "POST", "/Groups", {"displayName": "Lee's"}, area="scim")
    moments = [(user["meta"]["created"], user["meta"]["lastModified"])]
    group_moments = [(group["meta"]["created"], group["meta"]["lastModified"])]
    for n, host in enumerate((skewed, right, skewed)):
        patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                 "Operations": [{"op": "Replace", "path": "displayName", "value": f"Lee {n}"}]}
        changed = call(host, a, scim, "PATCH", f"/Users/{user['id']}", patch, area="scim")
        moments.append((changed["meta"]["created"], changed["meta"]["lastModified"]))
        call(host, a, scim, "PATCH", f"/Groups/{group['id']}", patch, area="scim", status=204)
        read = call(right, a, scim, "GET", f"/Groups/{group['id']}?excludedAttributes=members", area="scim")
        group_moments.append((read["meta"]["created"], read["meta"]["lastModified"]))
    for series in (moments, group_moments):
        stamps = [datetime.fromisoformat(m.replace("Z", "+00:00")) for _, m in series]
        created = datetime.fromisoformat(series[0][0].replace("Z", "+00:00"))
        assert stamps == sorted(stamps) and min(stamps) >= created, series


def test_reactivation_and_a_recreated_group_end_as_written(hosts: tuple[DevHost, DevHost, str, str]) -> None:
    right, skewed, prefix, connection = hosts
    a, admin, scim = new_account(connection, prefix, "re")
    call(right, a, admin, "POST", "/orgs", {"identifier": "o1", "name": "O1"})
    sam = call(skewed, a, scim, "POST", "/Users", {"userName": "sam@contoso.test"}, area="scim")["id"]
    for host, active in ((right, False), (skewed, True), (right, False), (skewed, True)):
        patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                 "Operations": [{"op": "replace", "path": "active", "value": active}]}
        call(host, a, scim, "PATCH", f"/Users/{sam}", patch, area="scim")
    old = call(right, a, scim, "POST", "/Groups", {"displayName": "Ops", "harnessScopes": f"{a}:o1",
                                                  "members": [{"value": sam}]}, area="scim")["id"]
    call(skewed, a, scim, "DELETE", f"/Groups/{old}", area="scim", status=204)
    for host in (right, skewed):
        call(host, a, scim, "GET", f"/Groups/{old}", area="scim", status=404)
    new = call(right, a, scim, "POST", "/Groups", {"displayName": "Ops", "harnessScopes": f"{a}:o1",
                                                  "members": [{"value": sam}]}, area="scim")["id"]
    for host in (right, skewed):
        assert call(host, a, scim, "GET", f"/Users/{sam}", area="scim")["active"] is True, host.base_url
        members = call(host, a, scim, "GET", f"/Groups/{new}", area="scim")["members"]
        assert [m["value"] for m in members] == [sam], host.base_url
        found = call(host, a, scim, "GET", '/Groups?filter=displayName eq "Ops"', area="scim")["Resources"]
        assert [g["id"] for g in found] == [new], host.base_url
        placed = call(host, a, admin, "GET", f"/groups/{new}")["placements"]
        assert [(p["scope"], p["state"]) for p in placed] == [(f"{a}:o1", "active")], host.base_url
        scopes = {x["scope"] for x in call(host, a, admin, "GET", f"/users/{sam}/access")["scopes"]}
        assert f"{a}:o1" in scopes, (host.base_url, scopes)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_activity_log_and_overview_follow_the_order_of_the_writes(hosts: tuple[DevHost, DevHost, str, str]) -> None:
    right, skewed, prefix, connection = hosts
    a, admin, scim = new_account(connection, prefix, "log")
    written = [call((right, skewed)[n % 2], a, scim, "POST", "/Users", {"userName": f"u{n}@contoso.test"},
                    area="scim")["id"] for n in range(12)]

    def listed(host: DevHost, query: str = "", count: int = 5) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        cursor = ""
        while True:
            page = call(host, a, admin, "GET", f"/activity?count={count}{query}{cursor}")
            records += page["activity"]
            if not page["nextCursor"]:
                return records
            cursor = f"&cursor={page['nextCursor']}"

    deadline = time.monotonic() + 20  # records are written in the background, every half second
    while len(listed(right, count=100)) < len(written) and time.monotonic() < deadline:
        time.sleep(0.5)
    for host in (right, skewed):
        records = listed(host)
        order = [(written.index(r["resourceId"]), r["time"]) for r in records]
        assert [r["resourceId"] for r in records] == written[::-1], (host.base_url, order)
        times = [_moment(r["time"]) for r in records]
        assert times == sorted(times, reverse=True), host.base_url
        since = quote(records[7]["time"])  # the fifth write's record and every later one
        assert [r["resourceId"] for r in listed(host, f"&since={since}")] == written[4:][::-1], host.base_url
        assert [r["resourceId"] for r in listed(host, f"&until={since}")] == written[:5][::-1], host.base_url
        overview = call(host, a, admin, "GET", "/overview?window=24h")
        series = sum(bucket["succeeded"] for bucket in overview["series"])
        assert series == overview["requests"]["succeeded"] == len(written), (host.base_url, overview["requests"], series)
