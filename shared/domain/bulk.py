"""Bulk requests (RFC 7644 §3.7): the request's shape, its limits, and the order its operations run in (pure).

Operations run in request order, except that an operation naming `bulkId:<id>` of a POST later in the request runs
that POST first (a forward reference). References that go round in a circle are refused (409) for every operation in
the circle, as §3.7.1 allows; an operation whose referenced POST failed fails too (409), without running. Each
operation runs exactly as the single request it stands for (the HTTP edge dispatches it to the same handler), so it
keeps every guarantee and limit of that request; the bulk request adds none of its own but MAX_OPERATIONS and the
body limit, both checked before any operation runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidSyntax, InvalidValue, ScimError

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
MAX_OPERATIONS = 100
"""Operations one bulk request may hold (advertised as bulk.maxOperations): each costs what its single request
costs, so a bulk request stays well inside a client's timeout."""
METHODS = ("POST", "PUT", "PATCH", "DELETE")
RESOURCE_TYPES = ("Users", "Groups")
REFERENCE = re.compile(r"^bulkId:(.+)$")


class TooManyOperations(ScimError):
    """RFC 7644 §3.7.4: more operations than maxOperations is a 413."""

    status = 413
    scim_type = "tooMany"


@dataclass(frozen=True)
class Operation:
    index: int
    method: str
    resource_type: str
    resource_id: str | None
    """The id in the path, possibly `bulkId:<id>`; None for a POST."""
    bulk_id: str | None
    version: str | None
    data: Any
    problem: str | None = None
    """Why the operation is malformed (it fails alone, 400): the others still run."""


@dataclass(frozen=True)
class BulkRequest:
    operations: list[Operation]
    fail_on_errors: int | None


def parse_bulk(body: Any, max_operations: int = MAX_OPERATIONS) -> BulkRequest:
    if not isinstance(body, dict):
        raise InvalidSyntax("A bulk request is a JSON object with schemas and Operations.")
    fields = {k.lower(): v for k, v in body.items()}
    if BULK_REQUEST not in (fields.get("schemas") or []):
        raise InvalidSyntax(f"A bulk request's schemas must name {BULK_REQUEST}.")
    operations = fields.get("operations")
    if not isinstance(operations, list) or not operations:
        raise InvalidSyntax("A bulk request holds a non-empty Operations array.")
    if len(operations) > max_operations:
        raise TooManyOperations(f"The bulk request holds {len(operations)} operations, more than maxOperations "
                                f"({max_operations}).")
    fail_on_errors = fields.get("failonerrors")
    if fail_on_errors is not None and (not isinstance(fail_on_errors, int) or isinstance(fail_on_errors, bool)
                                       or fail_on_errors < 1):
        raise InvalidValue("failOnErrors must be a positive integer.")
    parsed = [_operation(n, op) for n, op in enumerate(operations)]
    seen: set[str] = set()
    for op in parsed:
        if op.bulk_id is not None and op.method == "POST":
            if op.bulk_id in seen:
                raise InvalidValue(f"bulkId {op.bulk_id!r} is used by two POST operations.")
            seen.add(op.bulk_id)
    return BulkRequest(parsed, fail_on_errors)


def _operation(index: int, raw: Any) -> Operation:
    if not isinstance(raw, dict):
        return Operation(index, "", "", None, None, None, None, "an operation is a JSON object")
    fields = {k.lower(): v for k, v in raw.items()}
    method = str(fields.get("method") or "").upper()
    path = fields.get("path")
    bulk_id = fields.get("bulkid")
    version = fields.get("version")
    data = fields.get("data")
    problem = None
    resource_type, resource_id = _path(path)
    if method not in METHODS:
        problem = f"method must be one of {', '.join(METHODS)}"
    elif resource_type is None:
        problem = "path must be /Users, /Groups, /Users/{id} or /Groups/{id} (relative to the tenant URL)"
    elif method == "POST" and (resource_id is not None or not isinstance(bulk_id, str) or not bulk_id):
        problem = "a POST names /Users or /Groups and carries a bulkId"
    elif method != "POST" and resource_id is None:
        problem = f"a {method} names the resource: {path}/{{id}}"
    elif method in ("POST", "PUT", "PATCH") and not isinstance(data, dict):
        problem = f"a {method} carries its data, a JSON object"
    elif version is not None and not isinstance(version, str):
        problem = "version is an ETag string"
    return Operation(index, method, resource_type or "", resource_id,
                     bulk_id if isinstance(bulk_id, str) else None, version, data, problem)


def _path(path: Any) -> tuple[str | None, str | None]:
    if not isinstance(path, str):
        return None, None
    parts = path.strip().strip("/").split("/")
    if parts[0] not in RESOURCE_TYPES or len(parts) > 2 or (len(parts) == 2 and not parts[1]):
        return None, None
    return parts[0], parts[1] if len(parts) == 2 else None


def references(op: Operation) -> set[str]:
    """The bulkIds an operation names: in its path and anywhere in its data."""
    found: set[str] = set()
    if op.resource_id and (match := REFERENCE.match(op.resource_id)):
        found.add(match.group(1))

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if match := REFERENCE.match(value):
                found.add(match.group(1))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(op.data)
    return found


def resolved(value: Any, ids: dict[str, str]) -> Any:
    """`value` with each `bulkId:<id>` replaced by the id its POST created."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        return ids.get(match.group(1), value) if match else value
    if isinstance(value, dict):
        return {k: resolved(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v, ids) for v in value]
    return value


def run_order(operations: list[Operation]) -> tuple[list[Operation], set[int]]:
    """The order to run the operations in (request order, a referenced POST pulled forward) and the indexes of
    those in a circle of references."""
    posts = {op.bulk_id: op for op in operations if op.method == "POST" and op.bulk_id and op.problem is None}
    state: dict[int, str] = {}
    order: list[Operation] = []
    circular: set[int] = set()

    def visit(op: Operation, path: list[Operation]) -> None:
        if state.get(op.index) == "done":
            return
        if state.get(op.index) == "visiting":
            start = next(n for n, seen in enumerate(path) if seen.index == op.index)
            circular.update(seen.index for seen in path[start:])
            return
        state[op.index] = "visiting"
        for name in sorted(references(op)):
            if name in posts and posts[name].index == op.index:
                circular.add(op.index)  # names itself
            elif name in posts:
                visit(posts[name], [*path, op])
        state[op.index] = "done"
        order.append(op)

    for op in operations:
        visit(op, [])
    return order, circular
