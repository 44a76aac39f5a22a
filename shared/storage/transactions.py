"""Storage errors turned into domain errors where they occur, and entity group transactions.

A storage outage (connection refused, timeouts, 5xx after the SDK's own retries) becomes `ServiceUnavailable`
(503 + Retry-After): Entra retries, and since every write is one transaction nothing was half-applied.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from shared.errors import InvalidValue, ServiceUnavailable
from shared.storage import changesets

log = logging.getLogger("scim.storage")

P = ParamSpec("P")
R = TypeVar("R")

MAX_TRANSACTION_OPERATIONS = 100


class TransactionFailed(Exception):
    """One operation of a transaction was refused (nothing of it was applied)."""

    def __init__(self, error_code: str, index: int | None) -> None:
        super().__init__(f"{error_code} at operation {index}")
        self.error_code = error_code
        self.index = index


def storage_errors(function: Callable[P, R]) -> Callable[P, R]:
    """Maps an unavailable storage service to ServiceUnavailable for the decorated store method; for a method that
    streams (a generator), while its results are being read too, since its pages are fetched then."""
    if inspect.isgeneratorfunction(function):
        @functools.wraps(function)
        def stream(*args: P.args, **kwargs: P.kwargs) -> Any:
            with _mapped(function.__qualname__):
                yield from function(*args, **kwargs)

        return stream

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _mapped(function.__qualname__):
            return function(*args, **kwargs)

    return wrapper


@contextmanager
def _mapped(where: str) -> Iterator[None]:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    try:
        yield
    except ServiceResponseError as exc:
        log.warning("storage did not answer in %s: %s", where, exc)
        if _writes(where):  # sent, answer lost: it may have been applied, and every write here may be sent again
            raise ServiceUnavailable("Storage did not answer: the change may or may not have been applied. Retrying "
                                     "it is safe (a create that was applied answers 409 uniqueness).") from None
        raise ServiceUnavailable("Storage is temporarily unavailable; nothing was changed. Retry later.") from None
    except ServiceRequestError as exc:
        log.warning("storage unreachable in %s: %s", where, exc)
        raise ServiceUnavailable("Storage is temporarily unavailable; nothing was changed. Retry later.") from None
    except HttpResponseError as exc:
        if exc.status_code is not None and (exc.status_code >= 500 or exc.status_code == 429):
            log.warning("storage error %s in %s: %s", exc.status_code, where, exc.message)
            raise ServiceUnavailable("Storage is temporarily unavailable; nothing was changed. Retry later.") from None
        if exc.status_code == 413 or _refused_input(str(getattr(exc, "error_code", "") or "")):
            raise _too_large(where, str(getattr(exc, "error_code", "") or "413 Request Entity Too Large")) from None
        raise
    except TransactionFailed as failed:
        if _refused_input(failed.error_code):
            raise _too_large(where, failed.error_code) from None
        raise


_READS = ("get", "find", "scan", "page", "skip", "count", "search", "members", "placements", "scopes", "assignments",
          "pending", "resource_exists", "membership", "query", "known", "sweep", "written_since", "users_to_sweep")


def _writes(where: str) -> bool:
    """Whether the store method (its qualified name) writes: reads change nothing, whatever their answer."""
    return not where.rsplit(".", 1)[-1].startswith(_READS)


REFUSED_INPUT = ("PropertyValueTooLarge", "EntityTooLarge", "RequestBodyTooLarge", "KeyValueTooLarge",
                 "PropertyNameTooLong", "TooManyProperties", "InvalidInput", "OutOfRangeInput")
"""Storage refusing what it was given: nothing of the write was applied (a transaction is atomic)."""


def _refused_input(error_code: str) -> bool:
    return error_code in REFUSED_INPUT


def _too_large(where: str, error_code: str) -> InvalidValue:
    log.warning("storage refused the input in %s: %s", where, error_code)
    return InvalidValue(f"Storage refused a value of this request ({error_code}); nothing was changed. Shorten the "
                        "values (see the limits in the README).")


def submit(table: Any, operations: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Submits one entity group transaction (same partition, at most 100 operations) and returns each operation's
    response metadata (its new `etag`); TransactionFailed names the refused operation."""
    if len(operations) > MAX_TRANSACTION_OPERATIONS:
        raise ValueError(f"a transaction holds at most {MAX_TRANSACTION_OPERATIONS} operations, got {len(operations)}")
    if not operations:
        return []
    if len(operations) == 1:
        return [_single(table, operations[0])]
    return _changeset(table, operations)


def _changeset(table: Any, operations: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """The transaction as one `$batch` request: sub-requests built by the SDK, body and answer by `changesets`
    (see there why), sent through the table client's pipeline. Errors as the SDK raises them: a refused operation
    is TransactionFailed; a refused batch, or an operation answered 5xx, 413 or 429, is an HttpResponseError
    with the status and the service's error code (storage_errors maps them)."""
    from azure.core.rest import HttpRequest
    from azure.data.tables._table_batch import TableBatchOperations

    endpoint = f"{table.scheme}://{table._primary_hostname}"
    batch = TableBatchOperations(config=table._client._config, endpoint=endpoint, table_name=table.table_name,
                                 is_cosmos_endpoint=table._cosmos_endpoint)
    for operation in operations:
        batch.add_operation(operation)
    batch_boundary, changeset_boundary = changesets.new_boundaries()
    request = HttpRequest("POST", f"{endpoint}/$batch", headers={
        "x-ms-version": table.api_version, "DataServiceVersion": "3.0", "MaxDataServiceVersion": "3.0;NetFx",
        "Content-Type": f"multipart/mixed; boundary={batch_boundary}", "Accept": "application/json",
    }, content=changesets.encode(batch.requests, batch_boundary, changeset_boundary, changesets.http_date()))
    response = table._client.send_request(request, stream=True)  # streamed: the pipeline would try to parse it
    body = response.read()
    if response.status_code != 202:
        raise _http_error(response.status_code, *changesets.storage_error(body)[:2])
    answers = changesets.decode(response.headers.get("content-type", ""), body)
    refused = next((answer for answer in answers if not 200 <= answer.status < 300), None)
    if refused is not None:
        code, message, index = changesets.storage_error(refused.body)
        if refused.status >= 500 or refused.status in (413, 429):
            raise _http_error(refused.status, code, message)
        raise TransactionFailed(code or str(refused.status), index)
    if len(answers) != len(operations):
        raise _http_error(502, "", f"{len(answers)} answers to {len(operations)} operations")
    return [{"etag": answer.headers.get("etag"), "date": answer.headers.get("date"),
             "version": answer.headers.get("dataserviceversion")} for answer in answers]


def _http_error(status: int, code: str, message: str) -> Exception:
    """The azure-core error the SDK raises for `status` (so callers and storage_errors treat both alike)."""
    from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

    kind = {404: ResourceNotFoundError, 409: ResourceExistsError, 412: ResourceModifiedError}.get(status,
                                                                                                  HttpResponseError)
    error = kind(message=message or f"storage answered {status} to a transaction")
    error.status_code = status
    error.error_code = code or None  # type: ignore[attr-defined]  # set by the SDK's own errors too
    return error


def submit_tolerating_missing(table: Any, operations: list[tuple[Any, ...]], guarded: int = 1) -> list[dict[str, Any]]:
    """Like `submit`, but a delete or update of a row that is already gone is dropped and the rest retried (the row
    being absent is the desired end state), except for the first `guarded` operations (rows the caller conditions
    on, whose absence is an answer of its own)."""
    remaining = list(operations)
    while True:
        try:
            return submit(table, remaining)
        except TransactionFailed as failed:
            index = failed.index
            if (failed.error_code != "ResourceNotFound" or index is None or index < guarded
                    or remaining[index][0] not in ("delete", "update")):
                raise
            remaining.pop(index)


def _single(table: Any, operation: tuple[Any, ...]) -> dict[str, Any]:
    """A one-operation "transaction" through the single-entity API: the same atomicity and outcomes, at a third
    of the cost on Azurite (whose batch parsing dominates) and less work on the service."""
    from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
    from azure.data.tables import UpdateMode

    kind, entity = operation[0], operation[1]
    options = dict(operation[2]) if len(operation) > 2 else {}
    if "mode" in options:
        options["mode"] = UpdateMode.MERGE if str(options["mode"]).lower() == "merge" else UpdateMode.REPLACE
    try:
        if kind == "create":
            return dict(table.create_entity(entity))
        if kind == "upsert":
            return dict(table.upsert_entity(entity, **options))
        if kind == "update":
            return dict(table.update_entity(entity, **options))
        if kind == "delete":
            if not options and not _exists(table, entity):
                raise TransactionFailed("ResourceNotFound", 0)  # as in a transaction (the SDK's delete ignores it)
            table.delete_entity(entity["PartitionKey"], entity["RowKey"], **options)
            return {}
    except ResourceExistsError:
        raise TransactionFailed("EntityAlreadyExists", 0) from None
    except ResourceModifiedError:
        raise TransactionFailed("UpdateConditionNotSatisfied", 0) from None
    except ResourceNotFoundError:
        raise TransactionFailed("ResourceNotFound", 0) from None
    raise ValueError(f"unknown table operation {kind!r}")


def _exists(table: Any, entity: dict[str, Any]) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        table.get_entity(entity["PartitionKey"], entity["RowKey"], select=["RowKey"])
    except ResourceNotFoundError:
        return False
    return True
