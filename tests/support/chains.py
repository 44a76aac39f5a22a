"""Entra's way of sending a chain of writes, against hosts whose storage a test cuts: each request is sent only
after the previous one was acknowledged, a 5xx or a broken connection retried; then wait until no recorded work is
left. Shared by the `faults` tier's scenarios."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.support.azurite import ROOT, Azurite
from tests.support.devhost import DevHost
from tests.support.proxy import CuttableProxy
from tests.support.scim import ScimClient, account_store

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def fault_host(storage: Azurite, proxy: CuttableProxy, prefix: str, state: Path) -> DevHost:
    env = {
        "AzureWebJobsStorage": proxy.connection_string(storage),
        "TABLE_PREFIX": prefix, "AUTH_CACHE_SECONDS": "600", "DEVHOST_STATE_DIR": str(state),
        "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:01",
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.5",
        "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "20",
        "RECONCILE_SCHEDULE": "*/4 * * * * *",  # reconcile keeps running beside the chains and the retries
        "RECONCILE_SWEEP_HOURS": "0",  # and sweeps whenever something was written since its last sweep
    }
    return DevHost(ROOT, env, state / "devhost.log")


@contextmanager
def fault_hosts(storage: Azurite, proxy: CuttableProxy, prefix: str, folders: Callable[[str], Path],
                name: str) -> Iterator[list[DevHost]]:
    """Two hosts on one prefix, both behind the cuttable proxy, stopped afterwards."""
    started = [fault_host(storage, proxy, prefix, folders(f"{name}-host-{n}")) for n in range(2)]
    try:
        yield started
    finally:
        for host in started:
            host.stop()


def client_of(host: DevHost, account_id: str, token: str) -> ScimClient:
    return ScimClient(host.base_url, account_id, token, requests.Session())


def until_acknowledged(client: ScimClient, method: str, path: str, body: Any = None) -> requests.Response:
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


def members_patch(op: str, ids: list[str]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": op, "path": "members", "value": [{"value": u} for u in ids]}]}


def wait_until_settled(client: ScimClient, storage: Azurite, prefix: str, timeout: float = 120) -> None:
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
