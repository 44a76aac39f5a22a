"""The local host's worker: on Python 3.13 every invocation goes through azure-functions-runtime (the library the
host's proxy worker loads in Azure), and the in-process worker of 3.11/3.12 answers exactly as it does.

Each request goes over a real socket to `python -m devhost`; on 3.13 the same requests go to a second host running
the in-process worker, and the two answers must be equal byte for byte (status, headers, body). The probe function
reports which module called it, so a binding conversion of ours standing in for the library's fails here."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.devhost.test_devhost import APP_DIR, raw_queue
from tests.support.azurite import Azurite
from tests.support.devhost import DevHost

ON_313 = sys.version_info >= (3, 13)
needs_313 = pytest.mark.skipif(not ON_313, reason="azure-functions-runtime needs Python 3.13")
RUNTIME_CALLER = "azure_functions_runtime.utils.executor"
IN_PROCESS_CALLER = "devhost.inprocess_worker"


def queue_of(worker: str) -> str:
    return f"workers-{worker}-{RUN}"


RUN = uuid.uuid4().hex[:6]


def start(azurite: Azurite, tmp_path: Path, worker: str) -> DevHost:
    env = {"TestStorage": azurite.connection_string, "TEST_QUEUE": queue_of(worker),
           "DEVHOST_STATE_DIR": str(tmp_path / worker), "DEVHOST_WORKER": worker}
    return DevHost(APP_DIR, env, tmp_path / f"{worker}.log")


@pytest.fixture(scope="module")
def hosts(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DevHost]]:
    tmp_path = tmp_path_factory.mktemp("workers")
    started = {worker: start(azurite, tmp_path, worker) for worker in (["library"] if ON_313 else []) + ["in-process"]}
    yield started
    for host in started.values():
        host.stop()


@pytest.fixture(scope="module")
def default_host(hosts: dict[str, DevHost]) -> DevHost:
    return hosts["library" if ON_313 else "in-process"]


def answer(response: requests.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    """What a client gets, less the two headers that name the moment and the server."""
    headers = sorted((name.lower(), value) for name, value in response.raw.headers.items()
                     if name.lower() not in ("date", "server"))
    return response.status_code, headers, response.content


def both(hosts: dict[str, DevHost], method: str, path: str, **kwargs: Any) -> list[tuple[int, list[tuple[str, str]], bytes]]:
    """The same request to every host; the answers, all equal (one per worker)."""
    answers = [answer(requests.request(method, host.base_url + path, timeout=30, **kwargs)) for host in hosts.values()]
    assert all(a == answers[0] for a in answers), f"the workers answered differently: {answers}"
    return answers


def view_of(text: str, host: DevHost) -> dict[str, Any]:
    """The probe's answer with the host's own address named HOST: each host listens on its own port."""
    return dict(json.loads(text.replace(f"127.0.0.1:{host.port}", "HOST")))


def probe(hosts: dict[str, DevHost], method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """The probe's view of a request, equal across workers except for who called it."""
    seen = []
    for host in hosts.values():
        response = requests.request(method, host.base_url + path, timeout=30, **kwargs)
        assert response.status_code == 200, response.text
        seen.append(view_of(response.text, host))
    callers = [view.pop("caller") for view in seen]
    assert all(view == seen[0] for view in seen), f"the workers saw different requests: {seen}"
    return {**seen[0], "callers": callers}


@needs_313
def test_on_313_every_invocation_goes_through_azure_functions_runtime(hosts: dict[str, DevHost]) -> None:
    view = probe(hosts, "GET", "/api/probe/x")
    assert view["callers"] == [RUNTIME_CALLER, IN_PROCESS_CALLER]
    assert "azure-functions-runtime 1.3.0" in hosts["library"].log()


def test_timer_and_queue_invocations_go_through_the_worker_of_this_python(
        default_host: DevHost, azurite: Azurite) -> None:
    expected = RUNTIME_CALLER if ON_313 else IN_PROCESS_CALLER
    fired = wait_for(default_host, "every_second")
    assert fired["caller"] == expected and fired["past_due"] is False
    queue = raw_queue(azurite, queue_of("library" if ON_313 else "in-process"))
    queue.send_message(base64.b64encode(b"through the worker").decode())
    message = wait_for(default_host, "on_message", body="through the worker")
    assert message["caller"] == expected
    assert message["dequeue_count"] == 1 and message["pop_receipt"] is True
    assert abs(time.time() - _timestamp(message["insertion_time"])) < 60  # the library parsed the host's JSON time


def test_repeated_headers_and_query_parameters_arrive_joined_as_the_host_joins_them(hosts: dict[str, DevHost]) -> None:
    seen = []
    for host in hosts.values():  # requests cannot send a header twice; http.client can
        connection = http.client.HTTPConnection("127.0.0.1", host.port, timeout=30)
        connection.putrequest("GET", "/api/probe/q?a=1&a=2&empty=&flag&b=x%20y")
        for name, value in (("X-Multi", "one"), ("X-Multi", "two"), ("X-Empty", "")):
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        assert response.status == 200
        seen.append(view_of(response.read().decode(), host))
        connection.close()
    callers = [view.pop("caller") for view in seen]
    assert all(view == seen[0] for view in seen), f"the workers saw different requests: {seen}, {callers}"
    view = seen[0]
    assert view["headers"]["x-multi"] == "one,two"
    assert view["headers"]["x-empty"] == ""
    assert view["params"] == {"a": "1,2", "b": "x y"}  # empty values dropped, repeats joined with ","


def test_binary_empty_and_large_bodies_arrive_whole(hosts: dict[str, DevHost]) -> None:
    binary = bytes(range(256)) * 8
    view = probe(hosts, "POST", "/api/probe/b", data=binary, headers={"Content-Type": "application/octet-stream"})
    assert (view["body_type"], view["body_length"]) == ("bytes", len(binary))
    assert view["body_sha256"] == hashlib.sha256(binary).hexdigest()
    empty = probe(hosts, "POST", "/api/probe/e", data=b"")
    assert (empty["body_type"], empty["body_length"]) == ("bytes", 0)
    large = b'{"v": "' + b"x" * 3_000_000 + b'"}'
    view = probe(hosts, "PUT", "/api/probe/l", data=large, headers={"Content-Type": "application/scim+json"})
    assert view["body_sha256"] == hashlib.sha256(large).hexdigest()
    [(status, _, body)] = both(hosts, "POST", "/api/reflect?type=application/octet-stream", data=binary)[:1]
    assert (status, body) == (200, binary)


def test_non_ascii_paths_are_decoded_into_route_values(hosts: dict[str, DevHost]) -> None:
    view = probe(hosts, "GET", "/api/probe/caf%C3%A9/%E2%9C%93?n=%C3%BC")
    assert view["route"] == {"rest": "café/✓"}
    assert view["params"] == {"n": "ü"}
    assert view["url"].endswith("/api/probe/caf%C3%A9/%E2%9C%93?n=%C3%BC")


def test_answers_are_written_as_the_worker_encodes_them(hosts: dict[str, DevHost]) -> None:
    [(status, headers, body)] = both(hosts, "POST", "/api/reflect?status=207&type=application/scim%2Bjson",
                                     data="{\"é\": 1}".encode())[:1]
    assert status == 207 and body == "{\"é\": 1}".encode()
    assert ("content-type", "application/scim+json") in headers
    assert ("x-body-base64", base64.b64encode("{\"é\": 1}".encode()).decode()) in headers
    [(status, headers, body)] = both(hosts, "GET", "/api/text")[:1]
    assert (status, body) == (200, b"plain text returned as str")


def test_a_function_that_raises_gets_the_hosts_empty_500(hosts: dict[str, DevHost]) -> None:
    [(status, headers, body)] = both(hosts, "GET", "/api/boom")[:1]
    assert (status, body) == (500, b"")
    for host in hosts.values():
        assert "kaboom" in host.wait_for_log("Executed 'Functions.boom' (Failed")  # the worker's failure message


def test_context_carries_the_invocation_the_host_started(hosts: dict[str, DevHost]) -> None:
    view = probe(hosts, "GET", "/api/probe/ctx")
    assert view["function_name"] == "probe" and view["retry"] == [0, 0]
    assert view["traceparent"] == 55  # 00-<32 hex>-<16 hex>-01


def wait_for(host: DevHost, fn: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in host.get("/api/events").json():
            if event["fn"] == fn and all(event.get(k) == v for k, v in match.items()):
                return dict(event)
        time.sleep(0.2)
    raise AssertionError(f"no {fn} event matching {match}")


def _timestamp(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
