"""The local host runs a small app of its own the way `func start` would: HTTP routes, timers, queues and
the admin endpoint, over real sockets and against Azurite."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.storage.queue import QueueClient

from tests.support.azurite import Azurite
from tests.support.devhost import DevHost

APP_DIR = Path(__file__).resolve().parents[1] / "devhost_app"


@pytest.fixture(scope="module")
def queue_name() -> str:
    return "devhost-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def host(azurite: Azurite, queue_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevHost]:
    state = tmp_path_factory.mktemp("devhost")
    env = {"TestStorage": azurite.connection_string, "TEST_QUEUE": queue_name, "OVERRIDDEN": "from-env",
           "DEVHOST_STATE_DIR": str(state)}
    instance = DevHost(APP_DIR, env, state / "devhost.log")
    yield instance
    instance.stop()


def events(host: DevHost, fn: str) -> list[dict[str, Any]]:
    return [e for e in host.get("/api/events").json() if e["fn"] == fn]


def wait_for_events(host: DevHost, fn: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = events(host, fn)
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"expected {count} {fn} events, got {events(host, fn)}")


def raw_queue(azurite: Azurite, name: str) -> QueueClient:
    client = QueueClient.from_connection_string(azurite.connection_string, name)
    try:
        client.create_queue()
    except Exception:
        pass
    return client


# --- HTTP -------------------------------------------------------------------------------------------------

def test_http_request_carries_route_params_query_headers_and_body(host: DevHost) -> None:
    guid = str(uuid.uuid4())
    response = requests.post(f"{host.base_url}/api/echo/alice/{guid}?q=1&flag", data=b'{"x": 1}',
                             headers={"X-Test": "hello"}, timeout=10)
    assert response.status_code == 201
    body = response.json()
    assert body["method"] == "POST"
    assert body["route"] == {"name": "alice", "id": guid}
    assert body["params"] == {"q": "1"}  # the host drops a query parameter without a value (ToRpcHttp)
    assert body["header"] == "hello"
    assert body["body"] == '{"x": 1}'
    assert body["url"] == f"{host.base_url}/api/echo/alice/{guid}?q=1&flag"
    assert body["function_name"] == "echo" and len(body["invocation_id"]) == 36


def test_http_response_status_headers_and_body_are_returned_faithfully(host: DevHost) -> None:
    response = host.get("/api/echo/bob")
    assert response.status_code == 200
    assert response.headers["X-Echo"] == "yes"
    assert response.headers["ETag"] == 'W/"1"'
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["route"] == {"name": "bob"}


def test_local_settings_values_do_not_override_the_environment(host: DevHost) -> None:
    body = host.get("/api/echo/x").json()
    assert body["greeting"] == "from-file"
    assert body["overridden"] == "from-env"


def test_a_url_over_the_hosts_limit_is_refused_before_any_function_runs(host: DevHost) -> None:
    url = f"{host.base_url}/api/echo/alice/{uuid.uuid4()}?q="
    path_length = len(url) - len(host.base_url)
    assert requests.get(url + "x" * (4096 - path_length), timeout=10).status_code != 414
    assert requests.get(url + "x" * (4097 - path_length), timeout=10).status_code == 414


def test_route_constraints_and_precedence(host: DevHost) -> None:
    assert host.get("/api/items/42").text == "number 42"
    assert host.get("/api/items/abc").text == "name abc"
    assert host.get("/api/echo/x/not-a-guid").status_code == 404
    assert host.get("/api/files/a/b/c.txt").text == "a/b/c.txt"


def test_route_prefix_and_methods_are_enforced(host: DevHost) -> None:
    assert host.get("/echo/x").status_code == 404
    assert requests.delete(f"{host.base_url}/api/echo/x", timeout=10).status_code == 404
    assert requests.post(f"{host.base_url}/api/items/1", timeout=10).status_code == 404


def test_async_functions_and_failures(host: DevHost) -> None:
    response = host.get("/api/asyncecho")
    assert (response.status_code, response.text) == (202, "async ok")
    failed = host.get("/api/boom")
    assert failed.status_code == 500
    assert "kaboom" not in failed.text


def test_requests_are_served_concurrently(host: DevHost) -> None:
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: host.get("/api/slow").status_code, range(4)))
    assert statuses == [200] * 4
    assert time.monotonic() - started < 1.5  # four 0.5 s requests, not one after another


def test_each_invocation_is_logged(host: DevHost) -> None:
    host.get("/api/echo/logged")
    log = host.wait_for_log("Executed 'Functions.echo' (Succeeded")
    assert "Executing 'Functions.echo'" in log


# --- timers -----------------------------------------------------------------------------------------------

def test_timer_runs_on_startup_and_on_schedule(host: DevHost) -> None:
    fired = wait_for_events(host, "every_second", 3)
    assert fired[0]["past_due"] is False
    assert all(b["at"] - a["at"] < 2.5 for a, b in zip(fired, fired[1:], strict=False))


def test_overrunning_timer_never_overlaps_and_skips_missed_occurrences(host: DevHost) -> None:
    fired = wait_for_events(host, "overrunning", 2, timeout=20)
    assert [e["past_due"] for e in fired[:2]] == [False, False]
    assert 2.0 <= fired[1]["at"] - fired[0]["at"] < 3.5  # waits for the run, then takes the next occurrence


def test_occurrence_missed_while_the_host_was_down_fires_past_due_at_start(azurite: Azurite, tmp_path: Path) -> None:
    env = {"TestStorage": azurite.connection_string, "TEST_QUEUE": "monitor-" + uuid.uuid4().hex[:6],
           "MONITORED_SCHEDULE": "*/2 * * * * *", "DEVHOST_STATE_DIR": str(tmp_path)}
    first = DevHost(APP_DIR, env, tmp_path / "first.log")
    try:
        assert wait_for_events(first, "monitored", 1)[0]["past_due"] is False
    finally:
        first.stop()
    time.sleep(2.5)  # an occurrence passes while no host runs
    second = DevHost(APP_DIR, env, tmp_path / "second.log")
    try:
        assert wait_for_events(second, "monitored", 1, timeout=1.5)[0]["past_due"] is True
    finally:
        second.stop()


def test_timer_retry_policy_reruns_a_failed_invocation(host: DevHost) -> None:
    fired = wait_for_events(host, "flaky", 3)
    assert [e["retry_count"] for e in fired[:3]] == [0, 1, 2]
    time.sleep(0.6)
    assert len(events(host, "flaky")) == 3  # max_retry_count 2: three attempts, then it gives up


def test_admin_endpoint_runs_a_timer_function_once(host: DevHost) -> None:
    response = requests.post(f"{host.base_url}/admin/functions/yearly", json={"input": ""}, timeout=10)
    assert response.status_code == 202
    fired = wait_for_events(host, "yearly", 1)
    assert fired[0]["past_due"] is False and fired[0]["invocation_id"]
    assert requests.post(f"{host.base_url}/admin/functions/nope", json={}, timeout=10).status_code == 404


def test_admin_endpoint_runs_a_queue_function_with_the_input(host: DevHost) -> None:
    response = requests.post(f"{host.base_url}/admin/functions/on_message", json={"input": "manual-run"}, timeout=10)
    assert response.status_code == 202
    assert any(e["body"] == "manual-run" for e in wait_for_events(host, "on_message", 1))


# --- queues -----------------------------------------------------------------------------------------------

def test_queue_message_is_decoded_from_base64_and_deleted_on_success(host: DevHost, azurite: Azurite, queue_name: str) -> None:
    queue = raw_queue(azurite, queue_name)
    queue.send_message(base64.b64encode("héllo".encode()).decode())
    deadline = time.monotonic() + 15
    while not any(e["body"] == "héllo" for e in events(host, "on_message")):
        assert time.monotonic() < deadline, "message not delivered"
        time.sleep(0.2)
    hit = next(e for e in events(host, "on_message") if e["body"] == "héllo")
    assert hit["dequeue_count"] == 1
    time.sleep(0.5)
    assert queue.peek_messages(max_messages=32) == [] or all(
        base64.b64decode(m.content) != "héllo".encode() for m in queue.peek_messages(max_messages=32))


def test_failing_message_is_retried_then_moved_to_poison(host: DevHost, azurite: Azurite, queue_name: str) -> None:
    marker = "fail-" + uuid.uuid4().hex[:6]
    raw_queue(azurite, queue_name).send_message(base64.b64encode(marker.encode()).decode())
    deadline = time.monotonic() + 20
    while not any(e["body"] == marker for e in events(host, "on_poison")):
        assert time.monotonic() < deadline, f"not poisoned: {events(host, 'on_message')}"
        time.sleep(0.2)
    attempts = [e["dequeue_count"] for e in events(host, "on_message") if e["body"] == marker]
    assert attempts == [1, 2, 3]  # maxDequeueCount 3 in the test app's host.json
    poisoned = next(e for e in events(host, "on_poison") if e["body"] == marker)
    assert poisoned["dequeue_count"] == 1


def test_undecodable_message_goes_to_poison_without_invocation(host: DevHost, azurite: Azurite, queue_name: str) -> None:
    raw_queue(azurite, queue_name).send_message("not base64 at all!")
    deadline = time.monotonic() + 15
    poison = raw_queue(azurite, f"{queue_name}-poison-poison")
    while True:
        contents = [m.content for m in poison.peek_messages(max_messages=32)]
        if "not base64 at all!" in contents:
            break
        assert time.monotonic() < deadline, "undecodable message not moved to poison"
        time.sleep(0.2)
    assert not any(e["body"] == "not base64 at all!" for e in events(host, "on_message"))
    log = host.log()
    assert "not valid base64" in log


def test_message_whose_dequeue_count_is_already_exhausted_is_poisoned_without_invocation(
        host: DevHost, azurite: Azurite, tmp_path: Path) -> None:
    name = "exhausted-" + uuid.uuid4().hex[:6]
    queue = raw_queue(azurite, name)
    queue.send_message(base64.b64encode(b"stale").decode())
    for _ in range(3):  # three receives without an invocation result, as after host crashes
        [message] = list(queue.receive_messages(visibility_timeout=1, max_messages=1))
        queue.update_message(message, visibility_timeout=0)
    second = DevHost(APP_DIR, {"TestStorage": azurite.connection_string, "TEST_QUEUE": name,
                               "DEVHOST_STATE_DIR": str(tmp_path)}, tmp_path / "second.log")
    try:
        second.wait_for_log("dequeue count exceeded before invocation")
        assert not [e for e in second.get("/api/events").json() if e["fn"] == "on_message"]
    finally:
        second.stop()
