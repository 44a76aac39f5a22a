"""Entity group transactions written and read by `shared.storage.changesets` instead of the SDK's multipart code:
the SDK internals it uses are where it uses them (a failing test here is an azure-data-tables upgrade that moved
them), the body it writes equals the SDK's own part for part, and Azurite's answers read the same as the SDK
reads them: success ETags, the refused operation and its index."""

from __future__ import annotations

import email
import email.policy
import inspect
import re
import uuid
from email.message import Message
from importlib import metadata
from typing import Any

import pytest

from shared.config import Settings
from shared.storage import changesets, transactions
from shared.storage.clients import table_service
from shared.storage.transactions import TransactionFailed
from tests.support.azurite import ROOT, Azurite

DATE = "Tue, 01 Dec 2026 12:00:00 GMT"


@pytest.fixture
def table(azurite: Azurite, table_prefix: str) -> Any:
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    return table_service(settings).create_table(table_prefix + "changesets")


def entity(row: str, **values: Any) -> dict[str, Any]:
    return {"PartitionKey": "p", "RowKey": row, **values}


def test_the_sdk_internals_used_are_pinned_and_where_they_are_used(table: Any) -> None:
    from azure.data.tables._table_batch import TableBatchOperations

    pinned = re.search(r"^azure-data-tables==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned and pinned.group(1) == metadata.version("azure-data-tables")
    parameters = inspect.signature(TableBatchOperations).parameters
    assert {"config", "endpoint", "table_name", "is_cosmos_endpoint"} <= set(parameters)
    assert callable(TableBatchOperations.add_operation)
    assert callable(table._client.send_request) and table._client._config is not None
    assert isinstance(table._primary_hostname, str) and isinstance(table._cosmos_endpoint, bool)
    assert table.scheme == "http" and table.api_version and table.table_name


def sdk_body(table: Any, operations: list[tuple[Any, ...]], batch: str, changeset: str) -> bytes:
    """The body the SDK's own `submit_transaction` sends (its `_batch_send`, without sending)."""
    from azure.core.pipeline import Pipeline
    from azure.core.rest import HttpRequest
    from azure.data.tables._policies import StorageHeadersPolicy

    sub_requests = sub_requests_of(table, operations)
    inner = HttpRequest("POST", "")
    inner.set_multipart_mixed(*sub_requests, policies=[StorageHeadersPolicy()], boundary=changeset)
    outer = HttpRequest("POST", "http://x/$batch")
    outer.set_multipart_mixed(inner, policies=[StorageHeadersPolicy()], enforce_https=False, boundary=batch)
    Pipeline._prepare_multipart_mixed_request(outer)  # what the pipeline does before sending: the policies
    outer._prepare_multipart_body()  # type: ignore[no-untyped-call]  # and what the transport does: the body
    return bytes(outer.content)


def sub_requests_of(table: Any, operations: list[tuple[Any, ...]]) -> list[Any]:
    from azure.data.tables._table_batch import TableBatchOperations

    batch = TableBatchOperations(config=table._client._config, endpoint=f"{table.scheme}://{table._primary_hostname}",
                                 table_name=table.table_name, is_cosmos_endpoint=table._cosmos_endpoint)
    for operation in operations:
        batch.add_operation(operation)
    return list(batch.requests)


def http_parts(body: bytes, batch: str) -> list[tuple[list[tuple[str, str]], str, dict[str, str], bytes]]:
    """Each sub-request as (its MIME headers, request line, header fields without the dates, body), read with the
    standard library's MIME parser — independent of both writers."""
    message = email.message_from_bytes(
        f"Content-Type: multipart/mixed; boundary={batch}\r\n\r\n".encode() + body, policy=email.policy.compat32)
    [changeset] = message.get_payload()  # type: ignore[str-unpack]  # multipart: a list of parts
    parts = []
    for part in changeset.get_payload():  # type: ignore[union-attr]
        assert isinstance(part, Message)
        raw = part.get_payload(decode=False)
        text = raw.as_bytes() if isinstance(raw, Message) else str(raw).encode("latin-1")
        head, _, content = text.replace(b"\r\n", b"\n").partition(b"\n\n")
        line, *fields = head.decode().split("\n")
        headers = dict(field.split(": ", 1) for field in fields)
        assert {"x-ms-date", "Date"} <= set(headers), "each sub-request carries its date, as the service requires"
        headers.pop("x-ms-date"), headers.pop("Date")
        parts.append((sorted(part.items()), line, headers, content.rstrip(b"\n")))
    return parts


def test_the_body_written_equals_the_sdks_part_for_part(table: Any) -> None:
    table.create_entity(entity("kept", n=1))
    etag = table.get_entity("p", "kept").metadata["etag"]
    operations: list[tuple[Any, ...]] = [
        ("create", entity("a/b ' é", text="quoted \"' and unicode é", number=7, big=(2**40, "Edm.Int64"), flag=True,
                          raw=b"\x00\xff")),
        ("upsert", entity("merged", n=2), {"mode": "merge"}),
        ("upsert", entity("replaced", n=3), {"mode": "replace"}),
        ("update", entity("kept", n=4), {"mode": "merge", "etag": etag, "match_condition": _if_not_modified()}),
        ("update", entity("kept", n=5), {"mode": "replace"}),
        ("delete", entity("gone"), {"etag": etag, "match_condition": _if_not_modified()}),
        ("delete", entity("gone2")),
    ]
    batch, changeset = "batch_" + str(uuid.uuid4()), "changeset_" + str(uuid.uuid4())

    ours = changesets.encode(sub_requests_of(table, operations), batch, changeset, DATE)
    theirs = sdk_body(table, operations, batch, changeset)

    assert len(http_parts(ours, batch)) == len(operations)
    assert http_parts(ours, batch) == http_parts(theirs, batch)


def _if_not_modified() -> Any:
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified


def test_a_transaction_applies_and_returns_each_operations_etag(table: Any) -> None:
    table.create_entity(entity("existing", n=1))
    operations: list[tuple[Any, ...]] = [("create", entity(f"r{number}", n=number)) for number in range(5)]
    operations += [("upsert", entity("existing", n=2), {"mode": "merge"}),
                   ("upsert", entity("other", n=3), {"mode": "replace"})]

    answers = transactions.submit(table, operations)

    assert len(answers) == len(operations)
    for operation, answer in zip(operations, answers, strict=True):
        stored = table.get_entity("p", operation[1]["RowKey"])
        assert answer["etag"] == stored.metadata["etag"]
    assert table.get_entity("p", "existing")["n"] == 2


@pytest.mark.parametrize(("operations", "code", "index"), [
    ([("create", entity("new1")), ("create", entity("existing")), ("create", entity("new2"))],
     "EntityAlreadyExists", 1),
    ([("create", entity("new1")), ("create", entity("new2")), ("update", entity("absent", n=1), {"mode": "merge"})],
     "ResourceNotFound", 2),
    ([("delete", entity("absent")), ("create", entity("new1"))], "ResourceNotFound", 0),
], ids=["exists", "update-missing", "delete-missing"])
def test_a_refused_operation_is_named_by_code_and_index_as_the_sdk_names_it_and_nothing_applies(
        table: Any, operations: list[tuple[Any, ...]], code: str, index: int) -> None:
    from azure.data.tables import TableTransactionError

    table.create_entity(entity("existing", n=1))

    with pytest.raises(TransactionFailed) as ours:
        transactions.submit(table, operations)
    with pytest.raises(TableTransactionError) as theirs:
        table.submit_transaction(operations)

    assert (ours.value.error_code, ours.value.index) == (code, index)
    assert (getattr(theirs.value, "error_code", None), theirs.value.index) == (code, index)
    assert sorted(row["RowKey"] for row in table.list_entities()) == ["existing"]


def test_a_stale_etag_is_refused_with_its_index(table: Any) -> None:
    table.create_entity(entity("kept", n=1))
    stale = table.get_entity("p", "kept").metadata["etag"]
    table.update_entity(entity("kept", n=2))

    with pytest.raises(TransactionFailed) as refused:
        transactions.submit(table, [("create", entity("new")), ("update", entity("kept", n=3),
                                     {"mode": "merge", "etag": stale, "match_condition": _if_not_modified()})])

    assert (refused.value.error_code, refused.value.index) == ("UpdateConditionNotSatisfied", 1)
    assert table.get_entity("p", "kept")["n"] == 2


def test_a_transaction_on_a_missing_table_is_refused_as_the_sdk_refuses_it(table: Any) -> None:
    from azure.data.tables import TableClient, TableTransactionError

    missing = TableClient(endpoint=table.url, table_name="t" + uuid.uuid4().hex, credential=table.credential)
    operations: list[tuple[Any, ...]] = [("create", entity("a")), ("create", entity("b"))]

    with pytest.raises(TransactionFailed) as ours:
        transactions.submit(missing, operations)
    with pytest.raises(TableTransactionError) as theirs:
        missing.submit_transaction(operations)

    assert (ours.value.error_code, ours.value.index) == ("TableNotFound", 0)
    assert (getattr(theirs.value, "error_code", None), theirs.value.index) == ("TableNotFound", 0)


def test_a_transaction_over_the_services_size_limit_is_refused_input_and_writes_nothing(table: Any) -> None:
    """Storage answers 413 to a `$batch` body over 4 MiB: refused input (a 400 to the client), not an outage."""
    from shared.errors import InvalidValue

    @transactions.storage_errors
    def write(operations: list[tuple[Any, ...]]) -> None:
        transactions.submit(table, operations)

    with pytest.raises(InvalidValue, match="RequestBodyTooLarge"):
        write([("create", entity(f"r{number}", a="x" * 30_000, b="y" * 30_000)) for number in range(100)])
    assert list(table.list_entities()) == []


ANSWER = (
    "--batchresponse_1\r\n"
    "Content-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n"
    "--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    "HTTP/1.1 204 No Content\r\nETag: W/\"datetime'1'\"\r\nDataServiceVersion: 3.0;\r\n\r\n\r\n"
    "--changesetresponse_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    "HTTP/1.1 201 Created\r\nETag: W/\"datetime'2'\"\r\nContent-Type: application/json\r\n\r\n{\"a\": 1}\r\n"
    "--changesetresponse_2--\r\n"
    "--batchresponse_1--\r\n"
)


@pytest.mark.parametrize("line_end", ["\r\n", "\n"], ids=["crlf", "lf"])
def test_decode_reads_each_answer_in_order(line_end: str) -> None:
    body = ANSWER.replace("\r\n", line_end).encode()

    answers = changesets.decode("multipart/mixed; boundary=batchresponse_1", body)

    assert [answer.status for answer in answers] == [204, 201]
    assert [answer.headers["etag"] for answer in answers] == ['W/"datetime\'1\'"', 'W/"datetime\'2\'"']
    assert answers[1].body.strip() == b'{"a": 1}'


def test_decode_reads_a_batch_refused_as_a_whole() -> None:
    body = (b"--batchresponse_1\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 400 Bad Request\r\n"
            b"Content-Type: application/json\r\n\r\n"
            b'{"odata.error":{"code":"InvalidInput","message":{"value":"0:Bad value."}}}\r\n--batchresponse_1--\r\n')

    [answer] = changesets.decode('multipart/mixed; boundary="batchresponse_1"', body)

    assert answer.status == 400
    assert changesets.storage_error(answer.body) == ("InvalidInput", "0:Bad value.", 0)


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", b"{}"),
    ("multipart/mixed; boundary=b", b"no parts at all"),
    ("multipart/mixed; boundary=b", b"--b\r\nContent-Type: application/http\r\n\r\nnot a status line\r\n--b--"),
], ids=["no-boundary", "no-parts", "no-status"])
def test_decode_refuses_what_is_not_a_batch_answer(content_type: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        changesets.decode(content_type, body)


@pytest.mark.parametrize(("body", "expected"), [
    (b'{"odata.error":{"code":"ResourceNotFound","message":{"value":"12:The specified resource does not exist."}}}',
     ("ResourceNotFound", "12:The specified resource does not exist.", 12)),
    (b'{"odata.error":{"code":"Busy","message":{"value":"Try later."}}}', ("Busy", "Try later.", None)),
    (b"<html>proxy error</html>", ("", "", None)),
    (b"", ("", "", None)),
], ids=["indexed", "no-index", "not-json", "empty"])
def test_storage_error_reads_code_message_and_index(body: bytes, expected: tuple[str, str, int | None]) -> None:
    assert changesets.storage_error(body) == expected

