"""Acknowledged order is applied order, with real faults (the `faults` tier: `make test-faults`).

The scenario that once left removed members in their groups for good: for each of 8 groups, concurrently, an
Entra-style chain of PATCHes (`Add` members in batches of 75, then `Remove` 30 of them in batches of 10), each sent
only after the previous one was acknowledged, a 5xx or broken connection retried as Entra does. Table storage is cut
twice for ~2.5 s through a TCP proxy while the chains run, so some Adds are acknowledged with their remainder on the
retry queue. Two host processes serve the requests, run the retry queue and run reconcile every few seconds.
Afterwards every group must hold exactly its expected members and every user list exactly its groups.

On the code before per-group fencing this failed: the queued remainder of an Add ran after later Removes.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from shared.domain.accounts import Account
from tests.support.azurite import ROOT, Azurite
from tests.support.devhost import DevHost
from tests.support.proxy import CuttableProxy
from tests.support.scim import ScimClient, account_store, new_token

pytestmark = pytest.mark.faults

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUPS = 8
USERS = 240
ADDS_PER_GROUP = 150
ADD_BATCH = 75
REMOVES_PER_GROUP = 30
REMOVE_BATCH = 10
SEEDS = [11, 23, 37, 41, 59]


@pytest.fixture(scope="module")
def prefix() -> str:
    return "o" + uuid.uuid4().hex[:10]


def _host(storage: Azurite, proxy: CuttableProxy, prefix: str, state: Path) -> DevHost:
    env = {
        "AzureWebJobsStorage": proxy.connection_string(storage),
        "TABLE_PREFIX": prefix, "AUTH_CACHE_SECONDS": "600", "DEVHOST_STATE_DIR": str(state),
        "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:01",
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.5",
        "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "20",
        "RECONCILE_SCHEDULE": "*/4 * * * * *",  # reconcile keeps running beside the chains and the retries
    }
    return DevHost(ROOT, env, state / "devhost.log")


@pytest.fixture(scope="module")
def hosts(storage: Azurite, proxy: CuttableProxy, prefix: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[DevHost]]:
    started = [_host(storage, proxy, prefix, tmp_path_factory.mktemp(f"ordering-host-{n}")) for n in range(2)]
    yield started
    for host in started:
        host.stop()


def _client(host: DevHost, account_id: str, token: str) -> ScimClient:
    return ScimClient(host.base_url, account_id, token, requests.Session())


def _until_acknowledged(client: ScimClient, method: str, path: str, body: Any = None) -> requests.Response:
    """Entra's behaviour: a 5xx or a broken connection is retried (here within a minute); a 4xx is final."""
    deadline = time.monotonic() + 90
    while True:
        try:
            response = client.request(method, path, json=body)
            if response.status_code < 500:
                assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text}"
                return response
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"{method} {path} never acknowledged"
        time.sleep(0.3)


def _members_patch(op: str, ids: list[str]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": op, "path": "members", "value": [{"value": u} for u in ids]}]}


def _wait_until_settled(client: ScimClient, storage: Azurite, prefix: str, timeout: float = 120) -> None:
    """No recorded work left in the account's partition, and the retry queue drained."""
    from azure.storage.queue import QueueClient

    table = account_store(storage.connection_string, prefix)._tables.get("resources")
    queue = QueueClient.from_connection_string(storage.connection_string, "scim-retry")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        work = list(table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                         parameters={"pk": client.account_id, "lo": "op:", "hi": "op;"}))
        if not work and queue.get_queue_properties().approximate_message_count == 0:
            return
        time.sleep(0.5)
    raise AssertionError("recorded work was not completed in time")


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrent_add_remove_chains_through_two_table_outages_end_exactly_as_acknowledged(
        seed: int, hosts: list[DevHost], proxy: CuttableProxy, storage: Azurite, prefix: str) -> None:
    rng = random.Random(seed)
    store = account_store(storage.connection_string, prefix)
    account = Account(id=f"ord-{seed}-{uuid.uuid4().hex[:6]}", name="Ordering", notification_email=None,
                      created=datetime.now(UTC))
    store.create(account)
    token = new_token(store, account.id)
    setup = _client(hosts[0], account.id, token)
    user_ids = [_until_acknowledged(setup, "POST", "/Users", {"userName": f"u{n}-{seed}@contoso.test"}).json()["id"]
                for n in range(USERS)]
    group_ids = [_until_acknowledged(setup, "POST", "/Groups", {"displayName": f"Team {n} {seed}"}).json()["id"]
                 for n in range(GROUPS)]

    expected: dict[str, set[str]] = {}
    chains: dict[str, list[tuple[str, list[str]]]] = {}
    for group_id in group_ids:
        added = rng.sample(user_ids, ADDS_PER_GROUP)
        removed = rng.sample(added[:ADD_BATCH * 2], REMOVES_PER_GROUP)
        chains[group_id] = ([("Add", added[i:i + ADD_BATCH]) for i in range(0, len(added), ADD_BATCH)]
                            + [("Remove", removed[i:i + REMOVE_BATCH]) for i in range(0, len(removed), REMOVE_BATCH)])
        expected[group_id] = set(added) - set(removed)

    def run_chain(group_id: str, host: DevHost) -> None:
        client = _client(host, account.id, token)
        for op, ids in chains[group_id]:
            _until_acknowledged(client, "PATCH", f"/Groups/{group_id}", _members_patch(op, ids))

    def outages() -> None:
        time.sleep(rng.uniform(0.05, 0.3))
        proxy.cut_after_transactions(rng.randint(1, 4))  # mid-request: between the batches of some Add
        time.sleep(2.5)
        proxy.restore()
        time.sleep(rng.uniform(0.2, 1.0))
        proxy.cut()
        time.sleep(2.5)
        proxy.restore()

    threads = [threading.Thread(target=run_chain, args=(g, hosts[n % 2])) for n, g in enumerate(group_ids)]
    threads.append(threading.Thread(target=outages))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    proxy.restore()

    _wait_until_settled(setup, storage, prefix)
    for host in hosts:  # and reconcile has run again after everything settled
        assert requests.post(f"{host.base_url}/admin/functions/reconcile", json={"input": ""}, timeout=10).status_code == 202
    time.sleep(2)

    for group_id in group_ids:
        members = {m["value"] for m in _until_acknowledged(setup, "GET", f"/Groups/{group_id}").json().get("members", [])}
        assert members == expected[group_id], (
            f"group {group_id}: {len(members - expected[group_id])} removed member(s) still in it, "
            f"{len(expected[group_id] - members)} added member(s) missing")
    for user_id in user_ids:
        groups = {g["value"] for g in _until_acknowledged(setup, "GET", f"/Users/{user_id}").json().get("groups", [])}
        assert groups == {g for g in group_ids if user_id in expected[g]}, f"user {user_id} lists the wrong groups"
