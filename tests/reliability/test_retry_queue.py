"""Real faults, no mocks: table storage cut off (a TCP proxy in front of Azurite's table service drops the
connection) between the batches of a large membership change, or through every retry; a real SMTP server receives
the email. The app runs in the local host with its queue triggers, on an Azurite of this module's own."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from azure.storage.queue import QueueClient

from shared.domain.accounts import Account
from shared.storage.accounts_table import AccountStore
from tests.support.azurite import ROOT, Azurite
from tests.support.devhost import DevHost
from tests.support.proxy import CuttableProxy
from tests.support.scim import ScimClient, account_store, assert_scim_error, new_token
from tests.support.smtp import SmtpServer

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MEMBERS = 40  # 40 memberships x 3 rows: more than one transaction, so the change is recorded and batched


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def prefix() -> str:
    return "r" + uuid.uuid4().hex[:10]


def app_env(storage: Azurite, proxy: CuttableProxy, smtp: SmtpServer, prefix: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": proxy.connection_string(storage),
        "TABLE_PREFIX": prefix, "AUTH_CACHE_SECONDS": "600",
        "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:01",
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.5",
        "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "3",
        "NOTIFY_SMTP_HOST": "127.0.0.1", "NOTIFY_SMTP_PORT": str(smtp.port), "NOTIFY_SMTP_SECURITY": "none",
        "NOTIFY_FROM": "scim@contoso.test", "RECONCILE_SCHEDULE": "0 0 0 1 1 *",
    }


@pytest.fixture(scope="module")
def host(storage: Azurite, proxy: CuttableProxy, smtp: SmtpServer, prefix: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    state = tmp_path_factory.mktemp("reliability-host")
    instance = DevHost(ROOT, {**app_env(storage, proxy, smtp, prefix), "DEVHOST_STATE_DIR": str(state)},
                       state / "devhost.log")
    yield instance
    instance.stop()


@pytest.fixture(scope="module")
def store(storage: Azurite, prefix: str) -> AccountStore:
    return account_store(storage.connection_string, prefix)


@pytest.fixture
def client(host: DevHost, store: AccountStore) -> Iterator[ScimClient]:
    account = Account(id="rel-" + uuid.uuid4().hex[:8], name="Contoso", notification_email="admins@contoso.test",
                      created=datetime.now(UTC))
    store.create(account)
    with requests.Session() as session:
        yield ScimClient(host.base_url, account.id, new_token(store, account.id), session)


def users_and_group(client: ScimClient, name: str) -> tuple[list[str], str]:
    ids = []
    for i in range(MEMBERS):
        response = client.post("/Users", {"userName": f"{name}{i}@contoso.test"})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    group = client.post("/Groups", {"displayName": name, "externalId": f"ext-{name}"})
    assert group.status_code == 201, group.text
    return ids, str(group.json()["id"])


def add_all(client: ScimClient, group_id: str, ids: list[str]) -> requests.Response:
    return client.patch(f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": u} for u in ids]}]})


def members(client: ScimClient, group_id: str) -> set[str]:
    return {m["value"] for m in client.get(f"/Groups/{group_id}").json().get("members", [])}


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout}s: {what}")


def pending_rows(storage: Azurite, prefix: str, account_id: str) -> list[Any]:
    table = account_store(storage.connection_string, prefix)._tables.get("resources")
    return list(table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                     parameters={"pk": account_id, "lo": "op:", "hi": "op;"}))


def manage(storage: Azurite, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AzureWebJobsStorage": storage.connection_string, "TABLE_PREFIX": prefix}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_outage_between_batches_is_completed_by_the_retry_queue(
        client: ScimClient, proxy: CuttableProxy, storage: Azurite, prefix: str) -> None:
    ids, group_id = users_and_group(client, "between")
    proxy.cut_after_transactions(2)  # the work record and the first batch get through, then the table is gone
    response = add_all(client, group_id, ids)
    proxy.restore()
    assert response.status_code == 204, response.text  # the rest is durable: recorded and queued
    wait_until(lambda: members(client, group_id) == set(ids), 30, "the queue trigger completes the change")
    assert pending_rows(storage, prefix, client.account_id) == []
    assert all(client.get(f"/Users/{u}").json()["groups"][0]["value"] == group_id for u in ids[::13])


def test_storage_down_through_every_attempt_sends_one_email_and_redrive_completes(
        client: ScimClient, proxy: CuttableProxy, storage: Azurite, prefix: str, smtp: SmtpServer, host: DevHost) -> None:
    before = len(smtp.messages)
    ids, group_id = users_and_group(client, "outage")
    proxy.cut_after_transactions(2)
    try:
        assert add_all(client, group_id, ids).status_code == 204
        [message] = smtp.wait_for(before + 1, 60)[before:]
    finally:
        proxy.restore()
    body = bytes(message.get_payload(decode=True)).decode()
    assert message["To"] == "admins@contoso.test" and client.account_id in message["Subject"]
    assert "Groups.Patch" in body and "Group" in body and group_id in body and "redrive" in body
    assert "scim-retry-poison" not in body
    host.wait_for_log("reported directly (storage down)")

    listed = manage(storage, prefix, "retries", "list", client.account_id)
    assert listed.returncode == 0 and "pending work: 1" in listed.stdout, listed.stdout + listed.stderr
    redriven = manage(storage, prefix, "retries", "redrive", client.account_id)
    assert redriven.returncode == 0 and "queued 1" in redriven.stdout, redriven.stderr
    wait_until(lambda: members(client, group_id) == set(ids), 30, "the re-driven work completes")
    assert pending_rows(storage, prefix, client.account_id) == []
    time.sleep(2)
    assert len(smtp.messages) == before + 1  # exactly one email


def test_first_step_that_cannot_be_written_gets_503_and_leaves_nothing(
        client: ScimClient, proxy: CuttableProxy, storage: Azurite, prefix: str) -> None:
    ids, group_id = users_and_group(client, "firststep")
    proxy.cut_after_transactions(0)  # reads work; the first transaction does not reach storage
    response = add_all(client, group_id, ids)
    proxy.restore()
    error = assert_scim_error(response, 503)
    # the connection broke after the request was sent: the service cannot know it was not applied, and says so
    assert int(response.headers["Retry-After"]) > 0 and "may or may not have been applied" in error["detail"]
    assert members(client, group_id) == set()  # (here it was not)
    assert pending_rows(storage, prefix, client.account_id) == []
    proxy.cut()
    try:
        assert_scim_error(client.post("/Users", {"userName": "during-outage@contoso.test"}), 503)
    finally:
        proxy.restore()
    assert client.get('/Users?filter=userName eq "during-outage@contoso.test"').json()["totalResults"] == 0


def test_a_message_that_can_never_succeed_is_dropped_not_retried(storage: Azurite, host: DevHost) -> None:
    queue = QueueClient.from_connection_string(storage.connection_string, "scim-retry")
    queue.send_message(base64.b64encode(b"{not json").decode())
    queue.send_message(base64.b64encode(b'{"kind": "retry_work", "account_id": "no-such-account", "work_id": "w"}').decode())
    host.wait_for_log("dropping malformed retry message")
    host.wait_for_log("account no-such-account no longer exists")
    poison = QueueClient.from_connection_string(storage.connection_string, "scim-retry-poison")
    time.sleep(1.5)
    assert [m for m in poison.peek_messages(max_messages=32) if b"no-such-account" in base64.b64decode(m.content)] == []


def test_admin_endpoint_runs_reconcile_on_demand(host: DevHost) -> None:
    response = requests.post(f"{host.base_url}/admin/functions/reconcile", json={"input": ""}, timeout=10)
    assert response.status_code == 202
    host.wait_for_log("Executed 'Functions.reconcile' (Succeeded")


def test_a_bulk_request_cut_part_way_answers_what_was_done_and_loses_nothing(
        client: ScimClient, proxy: CuttableProxy) -> None:
    """Table storage is cut for real after two operations' transactions: the answer says which were done (201),
    where it failed (503) and what was not attempted; the two acknowledged users are there afterwards."""
    operations = [{"method": "POST", "path": "/Users", "bulkId": f"u{n}",
                   "data": {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"cut{n}@bulk.test"}}
                  for n in range(5)]
    client.get("/Users", params={"count": 0})  # the token and the count are read before the cut
    proxy.cut_after_transactions(2)
    response = client.post("/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                                     "Operations": operations})
    proxy.restore()
    assert response.status_code == 200, response.text
    answered = response.json()["Operations"]
    assert [o["status"] for o in answered] == ["201", "201", "503", "503", "503"]
    assert "Not attempted" in answered[3]["response"]["detail"] and "operation 3" in answered[4]["response"]["detail"]
    for n in range(5):
        found = client.get("/Users", params={"filter": f'userName eq "cut{n}@bulk.test"'}).json()["totalResults"]
        assert found == (1 if n < 2 else 0), n
