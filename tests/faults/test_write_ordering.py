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

import pytest
import requests

from shared.domain.accounts import Account
from tests.support.azurite import Azurite
from tests.support.chains import client_of, fault_hosts, members_patch, until_acknowledged, wait_until_settled
from tests.support.devhost import DevHost
from tests.support.proxy import CuttableProxy
from tests.support.scim import account_store, new_token

pytestmark = pytest.mark.faults

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


@pytest.fixture(scope="module")
def hosts(storage: Azurite, proxy: CuttableProxy, prefix: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[DevHost]]:
    with fault_hosts(storage, proxy, prefix, tmp_path_factory.mktemp, "ordering") as started:
        yield started


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrent_add_remove_chains_through_two_table_outages_end_exactly_as_acknowledged(
        seed: int, hosts: list[DevHost], proxy: CuttableProxy, storage: Azurite, prefix: str) -> None:
    rng = random.Random(seed)
    store = account_store(storage.connection_string, prefix)
    account = Account(id=f"ord-{seed}-{uuid.uuid4().hex[:6]}", name="Ordering", notification_email=None,
                      created=datetime.now(UTC))
    store.create(account)
    token = new_token(store, account.id)
    setup = client_of(hosts[0], account.id, token)
    user_ids = [until_acknowledged(setup, "POST", "/Users", {"userName": f"u{n}-{seed}@contoso.test"}).json()["id"]
                for n in range(USERS)]
    group_ids = [until_acknowledged(setup, "POST", "/Groups", {"displayName": f"Team {n} {seed}"}).json()["id"]
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
        client = client_of(host, account.id, token)
        for op, ids in chains[group_id]:
            until_acknowledged(client, "PATCH", f"/Groups/{group_id}", members_patch(op, ids))

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

    wait_until_settled(setup, storage, prefix)
    for host in hosts:  # and reconcile has run again after everything settled
        assert requests.post(f"{host.base_url}/admin/functions/reconcile", json={"input": ""}, timeout=10).status_code == 202
    time.sleep(2)

    for group_id in group_ids:
        members = {m["value"] for m in until_acknowledged(setup, "GET", f"/Groups/{group_id}").json().get("members", [])}
        assert members == expected[group_id], (
            f"group {group_id}: {len(members - expected[group_id])} removed member(s) still in it, "
            f"{len(expected[group_id] - members)} added member(s) missing")
    for user_id in user_ids:
        groups = {g["value"] for g in until_acknowledged(setup, "GET", f"/Users/{user_id}").json().get("groups", [])}
        assert groups == {g for g in group_ids if user_id in expected[g]}, f"user {user_id} lists the wrong groups"
