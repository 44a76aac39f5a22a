"""Blueprint: POST {tenant}/Bulk (RFC 7644 §3.7).

Each operation runs through the same write handler as its single request (users.WRITES, groups.WRITES), with the
caller's account and token: the same validation and limits, the ordering rule, recorded work, and an activity record
of its own (`Bulk.<Users|Groups>.<Create|Replace|Patch|Delete>`, its detail naming the bulk request). The bulk request
itself is recorded as `Bulk`. A storage fault stops the request there: the answer says which operations were done
(their statuses), which one failed (503) and which were not attempted (503, said so); what was done is durable.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import azure.functions as func
from requests.structures import CaseInsensitiveDict

from scim_handlers import groups as group_routes
from scim_handlers import users as user_routes
from scim_handlers.http_io import ApiRequest, ApiResponse, CaseInsensitiveQuery, run_scim
from shared.domain import bulk, times
from shared.domain.activity import ActivityNote, request_record
from shared.errors import ScimError, ServiceUnavailable

bp = func.Blueprint()

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
NAMES = {"POST": "Create", "PUT": "Replace", "PATCH": "Patch", "DELETE": "Delete"}


@bp.route(route="scim/account/{accountId}/Bulk", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def scim_bulk(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Bulk", _bulk)


def _bulk(req: ApiRequest) -> ApiResponse:
    request = bulk.parse_bulk(req.json())
    order, circular = bulk.run_order(request.operations)
    created: dict[str, str] = {}
    failed: set[str] = set()
    results: dict[int, dict[str, Any]] = {}
    errors = 0
    stopped: str | None = None
    for op in order:
        if stopped is not None:
            results[op.index] = _error(op, 503, None, stopped)
            continue
        if request.fail_on_errors is not None and errors >= request.fail_on_errors:
            break  # §3.7.3: stop after failOnErrors errors; the operations not run are left out of the answer
        result = _run(req, op, created, failed, op.index in circular)
        results[op.index] = result
        status = int(result["status"])
        if status >= 400:
            errors += 1
            if op.method == "POST" and op.bulk_id:
                failed.add(op.bulk_id)
        if status == 503:
            stopped = (f"Not attempted: storage became unavailable at operation {op.index + 1}; the operations "
                       "before it that succeeded are done. Send the rest again.")
    answered = [results[n] for n in sorted(results)]
    return ApiResponse(200, {"schemas": [bulk.BULK_RESPONSE], "Operations": answered},
                        note=ActivityNote(f"{len(answered)} of {len(request.operations)} operations answered, "
                                          f"{errors} failed"))


def _run(req: ApiRequest, op: bulk.Operation, created: dict[str, str], failed: set[str],
         circular: bool) -> dict[str, Any]:
    if op.problem is not None:
        return _error(op, 400, "invalidSyntax", f"Operation {op.index + 1}: {op.problem}.")
    if circular:
        return _error(op, 409, None, f"Operation {op.index + 1} is in a circle of bulkId references (RFC 7644 §3.7.1).")
    names = bulk.references(op)
    if names & failed:
        return _error(op, 409, None, f"Operation {op.index + 1} names bulkId {sorted(names & failed)[0]!r}, whose "
                                     "POST failed.")
    unknown = sorted(names - set(created))
    if unknown:
        return _error(op, 400, "invalidValue", f"Operation {op.index + 1} names bulkId {unknown[0]!r}, which no POST "
                                               "of this request created.")
    resource_id = bulk.resolved(op.resource_id, created) if op.resource_id else None
    data = bulk.resolved(op.data, created)
    sub = replace(req, method=op.method, route={**req.route, "id": resource_id or ""},
                  query=CaseInsensitiveQuery({}),
                  headers=CaseInsensitiveDict({"Content-Type": "application/scim+json",
                                               **({"If-Match": op.version} if op.version else {})}),
                  body=json.dumps(data).encode() if data is not None else b"")
    handlers = user_routes.WRITES if op.resource_type == "Users" else group_routes.WRITES
    started = time.perf_counter()
    try:
        response = handlers[op.method](sub)
    except ServiceUnavailable as exc:
        _record(req, op, resource_id or "", 503, exc.scim_type, exc.detail, started)
        return _error(op, 503, None, exc.detail)
    except ScimError as exc:
        _record(req, op, resource_id or "", exc.status, exc.scim_type, exc.detail, started)
        return _error(op, exc.status, exc.scim_type, exc.detail)
    body = response.body if isinstance(response.body, dict) else {}
    if op.method == "POST" and op.bulk_id and body.get("id"):
        created[op.bulk_id] = str(body["id"])
    location_id = str(body.get("id") or resource_id or "")
    _record(req, op, location_id, response.status, None, response.note.detail, started, response)
    answer: dict[str, Any] = {"method": op.method, "status": str(response.status)}
    if op.bulk_id:
        answer["bulkId"] = op.bulk_id
    if op.method != "DELETE" and location_id:
        answer["location"] = f"{req.tenant_url}/{op.resource_type}/{location_id}"
    if "ETag" in response.headers:
        answer["version"] = response.headers["ETag"]
    return answer


def _error(op: bulk.Operation, status: int, scim_type: str | None, detail: str) -> dict[str, Any]:
    response: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        response["scimType"] = scim_type
    answer: dict[str, Any] = {"method": op.method or "", "status": str(status), "response": response}
    if op.bulk_id:
        answer["bulkId"] = op.bulk_id
    return answer


def _record(req: ApiRequest, op: bulk.Operation, resource_id: str, status: int, scim_type: str | None, detail: str,
            started: float, response: ApiResponse | None = None) -> None:
    """The operation's own activity record, as its single request would have one (members added and removed, for
    each person's story; queued work), marked as part of the bulk request."""
    kind = "User" if op.resource_type == "Users" else "Group"
    done = response or ApiResponse(status)
    req.services.activity.record(req.account.id, request_record(
        done.note, time=times.now(), operation=f"Bulk.{op.resource_type}.{NAMES[op.method]}", method=op.method,
        resource_type=kind, resource_id=resource_id, external_id="", status=status, scim_type=scim_type or "",
        detail=f"operation {op.index + 1} of bulk request {req.invocation_id}" + (f": {detail}" if detail else ""),
        duration_ms=(time.perf_counter() - started) * 1000, invocation_id=f"{req.invocation_id}:{op.index + 1}",
        integration=req.caller.integration, idp=req.caller.idp, actor=req.caller.key_id))
