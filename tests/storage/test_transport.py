"""The storage clients' transport (`shared.storage.transport`: azure-core's HttpTransport over urllib3's pool): the SDK
reads Azurite's answers through it as through azure-core's own transports (entities, ETags, errors, transactions),
what it puts on the wire, and how failures seen on real sockets map to the errors azure-core's retry policy decides
on (refused, dropped, silent and truncated connections, and a keep-alive connection the server has closed)."""

from __future__ import annotations

import inspect
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import certifi
import pytest
from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.rest import HttpRequest

from shared.config import Settings
from shared.storage import transactions
from shared.storage.clients import table_service
from shared.storage.roundtrips import counting
from shared.storage.transport import PooledTransport, Pools, StorageResponse, shared_transport
from tests.support.azurite import ACCOUNT, KEY, ROOT, Azurite, free_port

ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json;odata=minimalmetadata\r\nContent-Length: 2\r\n"
          b"X-Ms-Request-Id: r1\r\n\r\n{}")


@pytest.fixture
def table(azurite: Azurite, table_prefix: str) -> Any:
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    return table_service(settings).create_table(table_prefix + "transport")


def test_the_azure_core_internals_used_are_pinned_and_take_what_the_transport_gives() -> None:
    """StorageResponse builds on azure-core's response implementation (private: what its own transports build on).
    A failing test here is an azure-core upgrade that changed it: re-check the transport against the new one."""
    from azure.core.rest._http_response_impl import _HttpResponseBaseImpl

    pinned = re.search(r"^azure-core==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned and pinned.group(1) == metadata.version("azure-core")
    constructor = inspect.getsource(_HttpResponseBaseImpl.__init__)
    for keyword in ("request", "internal_response", "status_code", "reason", "content_type", "headers",
                    "stream_download_generator"):
        assert f'kwargs.pop("{keyword}")' in constructor, keyword
    for field in ("_content", "_is_stream_consumed", "_is_closed"):
        assert f"self.{field}" in constructor, field


def test_the_sdk_reads_entities_errors_and_transactions_through_it(table: Any) -> None:
    assert isinstance(table._client._client._pipeline._transport._transport, PooledTransport)  # in the SDK's wrapper
    written = table.upsert_entity({"PartitionKey": "p", "RowKey": "a", "Name": "Zoë Ω", "Count": 3})
    read = table.get_entity("p", "a")
    assert (read["Name"], read["Count"]) == ("Zoë Ω", 3) and read.metadata["etag"] == written["etag"]
    assert [e["RowKey"] for e in table.query_entities("PartitionKey eq 'p'")] == ["a"]

    with pytest.raises(ResourceNotFoundError) as missing:
        table.get_entity("p", "nobody")
    assert getattr(missing.value, "error_code", None) == "ResourceNotFound"
    with pytest.raises(ResourceModifiedError):
        table.update_entity({"PartitionKey": "p", "RowKey": "a", "Name": "x"}, etag='W/"datetime\'2001-01-01\'"',
                            match_condition=MatchConditions.IfNotModified)
    answers = transactions.submit(table, [("upsert", {"PartitionKey": "p", "RowKey": "b"}),
                                          ("upsert", {"PartitionKey": "p", "RowKey": "c"})])
    assert all(answer["etag"] for answer in answers) and len(list(table.list_entities())) == 3


def test_a_response_reads_as_azure_core_responses_do(table: Any) -> None:
    """What policies and the SDK call on a response: case-insensitive headers, body, text, json, reason."""
    table.upsert_entity({"PartitionKey": "p", "RowKey": "a", "Name": "Zoë"})
    url = f"{table.scheme}://{table._primary_hostname}/{table.table_name}(PartitionKey='p',RowKey='a')"
    request = HttpRequest("GET", url, headers={"Accept": "application/json;odata=minimalmetadata",
                                               "x-ms-version": table.api_version, "DataServiceVersion": "3.0"})
    response = table._client.send_request(request)  # through the client's pipeline: signed, sent by the transport
    assert isinstance(response, StorageResponse) and (response.status_code, response.reason) == (200, "OK")
    assert response.headers["content-type"] == response.headers["Content-Type"] == response.content_type
    assert response.headers["ETag"] and response.request.url == request.url and response.is_closed
    assert response.body() == response.read() == response.content == b"".join(response.iter_bytes())
    assert response.json()["Name"] == "Zoë" and '"Name":"Zo' in response.text()


def test_storage_in_azure_is_reached_over_verified_tls() -> None:
    pool, target = Pools().for_url("https://account.table.core.windows.net/users(PartitionKey='a',RowKey='b')?x=1")
    assert pool.scheme == "https" and (pool.host, pool.port) == ("account.table.core.windows.net", 443)
    assert (getattr(pool, "ca_certs", None), getattr(pool, "cert_reqs", None)) == (certifi.where(), "CERT_REQUIRED")
    assert target == "/users(PartitionKey='a',RowKey='b')?x=1"


@contextmanager
def raw_server(serve: Callable[[socket.socket, int], None]) -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server that hands each accepted connection (and its number) to `serve`; the requests' bytes are
    collected as they arrive."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []
    port = listener.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        number = 0
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed: the test is over
                return
            number += 1
            threading.Thread(target=serve, args=(connection, number), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield port, received
    finally:
        stop.set()
        listener.close()


def read_request(connection: socket.socket, received: list[bytes] | None = None) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    declared = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    length = int(declared.group(1)) if declared else 0
    while len(body) < length:
        body += connection.recv(65536)
    if received is not None:
        received.append(head + b"\r\n\r\n" + body)
    return head


def send(port: int, method: str = "GET", content: bytes | str | None = None, headers: dict[str, str] | None = None,
         read_timeout: float = 20) -> Any:
    return PooledTransport(shared_transport(5, 20)._pools, 5, read_timeout).send(
        HttpRequest(method, f"http://127.0.0.1:{port}/devstoreaccount1/t()", content=content, headers=headers))


def test_what_goes_on_the_wire_is_what_was_asked_with_the_length_of_what_is_sent() -> None:
    def answer(connection: socket.socket, _: int) -> None:
        with connection:
            while True:
                read_request(connection, received)
                connection.sendall(ANSWER)

    with raw_server(answer) as (port, received):
        send(port, "PUT", "Zoë Ω", {"content-length": "5"})  # text: sent as UTF-8, its length in bytes, once
        send(port, "DELETE")  # bodiless write: an explicit zero length, as storage requires
        send(port, "GET")
    put, delete, get = received
    assert put.endswith("Zoë Ω".encode()) and f"\r\nContent-Length: {len('Zoë Ω'.encode())}\r\n".encode() in put
    assert put.lower().count(b"content-length") == 1
    assert b"\r\nContent-Length: 0\r\n" in delete
    assert b"content-length" not in get.lower()
    assert b"python-requests" not in b"".join(received)


def test_a_refused_connection_is_a_request_error_which_azure_core_retries(azurite: Azurite) -> None:
    with pytest.raises(ServiceRequestError):
        send(free_port())
    dead = (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"TableEndpoint=http://127.0.0.1:{free_port()}/{ACCOUNT};")
    table = table_service(Settings.from_env({"AzureWebJobsStorage": dead})).get_table_client("t")
    with counting() as trips, pytest.raises(ServiceRequestError):
        table.get_entity("p", "a")
    assert trips.count == 4  # the first attempt and the clients' three retries


def test_a_connection_dropped_without_an_answer_is_a_response_error() -> None:
    def drop(connection: socket.socket, _: int) -> None:
        read_request(connection)
        connection.close()

    with raw_server(drop) as (port, _), pytest.raises(ServiceResponseError):
        send(port, "POST", b"{}")


def test_a_silent_server_is_a_response_timeout() -> None:
    def hold(connection: socket.socket, _: int) -> None:
        read_request(connection)
        time.sleep(2)
        connection.close()

    started = time.monotonic()
    with raw_server(hold) as (port, _), pytest.raises(ServiceResponseTimeoutError):
        send(port, read_timeout=0.3)
    assert time.monotonic() - started < 1.5


def test_a_truncated_answer_is_an_error_not_a_short_body() -> None:
    def truncate(connection: socket.socket, _: int) -> None:
        read_request(connection)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
        connection.close()

    with raw_server(truncate) as (port, _), pytest.raises(ServiceResponseError):
        send(port)


def test_a_keep_alive_connection_the_server_closed_is_not_reused() -> None:
    """Storage closes idle keep-alive connections; a write on such a connection must not fail (azure-core does not
    retry a POST that got no answer): the pool checks a connection before reusing it and opens a new one."""
    def answer_once(connection: socket.socket, number: int) -> None:
        read_request(connection, received)
        connection.sendall(ANSWER)  # keep-alive, then closed by the server as idle
        time.sleep(0.05)
        connection.close()

    with raw_server(answer_once) as (port, received):
        assert send(port, "POST", b"{}").status_code == 200
        time.sleep(0.2)
        assert send(port, "POST", b"{}").status_code == 200
    assert len(received) == 2
