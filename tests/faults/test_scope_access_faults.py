"""Scope access through real faults (the `faults` tier): a group placed at two projects, with a role at each, gets an
Entra-style chain of member PATCHes and a harnessScopes change while Table storage is cut twice through a TCP proxy,
on two hosts that also run the retry queue and reconcile. Once settled, every user has exactly the access the IdP's
last acknowledged state gives: the members that stayed hold the role of the project the group is still placed at,
and nobody holds the role of the project it left, nor any role after leaving the group."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from shared.domain.accounts import Account
from tests.support.azurite import Azurite
from tests.support.chains import PATCH, client_of, fault_hosts, members_patch, until_acknowledged, wait_until_settled
from tests.support.devhost import DevHost
from tests.support.proxy import CuttableProxy
from tests.support.scim import account_store, new_token

pytestmark = pytest.mark.faults

USERS = 150
SEEDS = [5, 17]


@pytest.fixture(scope="module")
def prefix() -> str:
    return "s" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def hosts(storage: Azurite, proxy: CuttableProxy, prefix: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[DevHost]]:
    with fault_hosts(storage, proxy, prefix, tmp_path_factory.mktemp, "scope") as started:
        yield started


def _admin(host: DevHost, account_id: str, token: str, method: str, path: str, body: Any = None) -> requests.Response:
    url = f"{host.base_url}/api/manage/account/{account_id}{path}"
    deadline = time.monotonic() + 90
    while True:
        try:
            response = requests.request(method, url, json=body, timeout=30, headers={"Authorization": f"Bearer {token}"})
            if response.status_code < 500:
                assert response.status_code < 400, response.text
                return response
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"{method} {path} never answered"
        time.sleep(0.3)


@pytest.mark.parametrize("seed", SEEDS)
def test_access_settles_to_the_last_acknowledged_state_through_two_outages(
        seed: int, hosts: list[DevHost], proxy: CuttableProxy, storage: Azurite, prefix: str) -> None:
    rng = random.Random(seed)
    store = account_store(storage.connection_string, prefix)
    account = Account(id=f"scope-{seed}-{uuid.uuid4().hex[:6]}", name="Scopes", notification_email=None,
                      created=datetime.now(UTC))
    store.create(account)
    a = account.id
    token, admin_token = new_token(store, a), new_token(store, a, scope="admin")
    setup = client_of(hosts[0], a, token)
    _admin(hosts[0], a, admin_token, "POST", "/orgs", {"identifier": "o1"})
    for project in ("p1", "p2"):
        _admin(hosts[0], a, admin_token, "POST", "/orgs/o1/projects", {"identifier": project})
    users = [until_acknowledged(setup, "POST", "/Users", {"userName": f"u{n}-{seed}@contoso.test"}).json()["id"]
             for n in range(USERS)]
    group_id = until_acknowledged(setup, "POST", "/Groups", {"displayName": f"Two Projects {seed}",
                                                             "harnessScopes": f"{a}:o1:p1,{a}:o1:p2"}).json()["id"]
    for project, role in (("p1", "_project_admin"), ("p2", "_project_viewer")):
        _admin(hosts[0], a, admin_token, "POST", "/role-assignments", {
            "scope": f"{a}:o1:{project}", "role": role, "resourceGroup": "_all_project_level_resources",
            "principal": {"type": "group", "id": group_id}})

    added = rng.sample(users, 120)
    removed = rng.sample(added, 30)
    late = [u for u in users if u not in added][:20]
    chain: list[dict[str, object]] = [members_patch("Add", added[:75]), members_patch("Add", added[75:]),
                                      *[members_patch("Remove", removed[i:i + 10]) for i in range(0, 30, 10)],
                                      {"schemas": [PATCH], "Operations": [
                                          {"op": "replace", "path": "harnessScopes", "value": f"{a}:o1:p2"}]},
                                      members_patch("Add", late)]
    expected_members = (set(added) - set(removed)) | set(late)

    def run_chain() -> None:
        for n, body in enumerate(chain):
            until_acknowledged(client_of(hosts[n % 2], a, token), "PATCH", f"/Groups/{group_id}", body)

    def outages() -> None:
        time.sleep(rng.uniform(0.05, 0.2))
        proxy.cut_after_transactions(rng.randint(1, 3))  # mid-request: between the batches of an Add
        time.sleep(2.5)
        proxy.restore()
        time.sleep(rng.uniform(0.2, 0.8))
        proxy.cut()
        time.sleep(2.5)
        proxy.restore()

    threads = [threading.Thread(target=run_chain), threading.Thread(target=outages)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    proxy.restore()
    wait_until_settled(setup, storage, prefix)

    members = {m["value"] for m in until_acknowledged(setup, "GET", f"/Groups/{group_id}").json()["members"]}
    assert members == expected_members
    for user_id in users:
        answer = _admin(hosts[n := users.index(user_id) % 2], a, admin_token, "GET", f"/users/{user_id}/access").json()
        held = {(x["scope"], x["role"]) for x in answer["assignments"]}
        scopes = {s["scope"] for s in answer["scopes"]}
        if user_id in expected_members:
            assert held == {(f"{a}:o1:p2", "_project_viewer")}, (n, user_id, held)
            assert scopes == {a, f"{a}:o1", f"{a}:o1:p2"}, (user_id, scopes)
        else:
            assert held == set() and scopes == {a}, (user_id, held, scopes)
    listed = _admin(hosts[0], a, admin_token, "GET", "/role-assignments").json()["roleAssignments"]
    assert [(x["scope"], x["role"]) for x in listed] == [(f"{a}:o1:p2", "_project_viewer")]
