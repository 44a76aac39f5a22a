"""The HTTP edge of every SCIM and management route: size limit, bearer auth (per account and scope), request
parsing, response rendering, the activity log, and the one place where errors become responses.

A handler receives a parsed `ApiRequest` and returns an `ApiResponse` or raises a `ScimError`; it never
sees `func.HttpRequest` details or builds error bodies itself. SCIM routes answer RFC 7644 §3.12 errors as
application/scim+json; management routes answer `{"error": {"status", "code", "message"}}` as application/json.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

import azure.functions as func
from opentelemetry.trace import SpanKind, Status, StatusCode

from scim_handlers.observed import Observation, observed
from scim_handlers.services import Services, services
from shared import telemetry
from shared.domain import limits, retries, times
from shared.domain.accounts import Account
from shared.domain.activity import NO_NOTE, ActivityNote, request_record
from shared.domain.administration import OAUTH_ACTOR
from shared.domain.auth import presented_key_id
from shared.domain.directory import Caller, Directory
from shared.domain.failures import Failure
from shared.errors import (
    InternalError,
    InvalidSyntax,
    InvalidValue,
    PayloadTooLarge,
    ScimError,
    Unauthorized,
    UnsupportedMediaType,
)

log = logging.getLogger("scim")

SCIM_CONTENT_TYPE = "application/scim+json"
JSON_CONTENT_TYPE = "application/json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
_JSON_MEDIA_TYPES = {"application/scim+json", "application/json"}


class CaseInsensitiveQuery:
    """Query parameters whose names match case-insensitively (Entra and its tools send `startindex`). `cursor` sent
    empty is kept as "" (the host's conversion drops blank values): RFC 9865's first page is `cursor=`; every other
    blank parameter stays absent, as before."""

    def __init__(self, params: Mapping[str, str], url: str = "") -> None:
        blank = {k.lower(): "" for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)
                 if v == "" and k.lower() == "cursor"}
        self._params = {**blank, **{k.lower(): v for k, v in params.items()}}

    def get(self, name: str) -> str | None:
        return self._params.get(name.lower())


@dataclass(frozen=True)
class ApiRequest:
    """A request to the SCIM API or the management API, authenticated and parsed for its handler."""

    account: Account
    method: str
    tenant_url: str
    """The absolute Tenant URL (`.../scim/account/{accountId}`), the base of every `meta.location`."""
    route: Mapping[str, str]
    query: CaseInsensitiveQuery
    headers: Mapping[str, str]
    body: bytes
    services: Services
    invocation_id: str
    caller: Caller = field(default_factory=Caller)
    """Who made the request: the token's app integration, identity provider and key id."""
    _parsed: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    """The parsed body, once parsed (not copied by `replace`: a Bulk operation has a body of its own)."""

    @property
    def directory(self) -> Directory:
        """The ports the directory use cases work on (shared/domain/directory.py)."""
        svc = self.services

        def tell_admins(account_id: str, failure: Failure) -> None:
            retries.record_failure(svc.retry_context(), account_id, failure, times.now())

        return Directory(svc.users, svc.groups, svc.access, svc.retry_queue, tell_admins)

    def json(self) -> Any:
        """The body parsed as JSON (once: the edge reads the parsed document again for the activity record);
        InvalidSyntax when it is not JSON, 415 for a non-JSON media type."""
        if "document" in self._parsed:
            return self._parsed["document"]
        document = self._parse()
        self._parsed["document"] = document
        return document

    def parsed(self) -> Any:
        """The document if the handler parsed the body, else None (nothing is parsed here)."""
        return self._parsed.get("document")

    def _parse(self) -> Any:
        media_type = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
        if media_type and media_type not in _JSON_MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"Content-Type {media_type!r} is not supported; send application/scim+json or application/json.")
        if not self.body.strip():
            raise InvalidSyntax("The request body is empty; a JSON object is required.")
        try:
            document = json.loads(self.body)
        except RecursionError:
            raise InvalidSyntax(f"The body nests deeper than {limits.MAX_JSON_DEPTH} levels (limit: JSON nesting "
                                "depth).") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidSyntax(f"The request body is not valid JSON: {exc}.") from None
        limits.check_document(document)
        return document


@dataclass
class ApiResponse:
    """What a handler answers (rendered by the edge as SCIM JSON or the management API's JSON)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    note: ActivityNote = NO_NOTE
    """What the request's activity record says beyond its status (from the use case: queued work, ignored ids,
    members moved, a detail)."""


Handler = Callable[[ApiRequest], ApiResponse]


@dataclass(frozen=True)
class Edge:
    scope: str
    content_type: str
    error_body: Callable[[ScimError], dict[str, Any]]


def _scim_error_body(exc: ScimError) -> dict[str, Any]:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(exc.status)}
    if exc.scim_type:
        body["scimType"] = exc.scim_type
    body["detail"] = exc.detail
    return body


def _manage_error_body(exc: ScimError) -> dict[str, Any]:
    return {"error": {"status": exc.status, "code": exc.code, "message": exc.detail}}


SCIM = Edge("scim", SCIM_CONTENT_TYPE, _scim_error_body)
MANAGE = Edge("admin", JSON_CONTENT_TYPE, _manage_error_body)


def run_scim(req: func.HttpRequest, context: func.Context | None, operation: str, handler: Handler) -> func.HttpResponse:
    """Authenticate a SCIM token, parse, run `handler`, render its result or error as SCIM JSON, log the activity."""
    return _run(req, context, operation, handler, SCIM)


def paging(req: ApiRequest) -> tuple[int, int]:
    """`startIndex` (1-based) and `count` (default 100, at most 1,000) of a management list, as in the SCIM lists."""
    return (int_parameter(req.query.get("startIndex"), 1, 1, 10**9, "startIndex"),
            int_parameter(req.query.get("count"), 100, 0, 1000))


def int_parameter(raw: str | None, default: int, low: int, high: int, name: str = "count") -> int:
    """An integer query parameter, clamped to [low, high]; InvalidValue naming it when it is not an integer."""
    if raw is None:
        return default
    try:
        return max(low, min(high, int(raw)))
    except ValueError:
        raise InvalidValue(f"{name} must be an integer; got {raw!r}.") from None


def run_manage(req: func.HttpRequest, context: func.Context | None, operation: str, handler: Handler) -> func.HttpResponse:
    """The same for the management API: an admin-scoped token, JSON errors."""
    return _run(req, context, operation, handler, MANAGE)


@dataclass
class Outcome:
    """What a request came to, for its answer and its records: the status, scimType and detail, who was calling
    (`account` None when the request named no account that exists), and the handler's response and parsed request
    when it got that far."""

    response: func.HttpResponse
    status: int
    scim_type: str | None
    detail: str
    account: Account | None = None
    caller: Caller = field(default_factory=Caller)
    actor: str = ""
    result: ApiResponse | None = None
    request: ApiRequest | None = None


def _run(req: func.HttpRequest, context: func.Context | None, operation: str, handler: Handler, edge: Edge) -> func.HttpResponse:
    """Authenticate, dispatch to the handler, record: every SCIM and management request, one path."""
    with observed(context, operation, SpanKind.SERVER) as seen:
        outcome = _dispatch(req, operation, handler, edge, seen)
        _record(req, operation, edge, seen, outcome)  # inside the trace: its log record shares the operation id
    return outcome.response


def _dispatch(req: func.HttpRequest, operation: str, handler: Handler, edge: Edge, seen: Observation) -> Outcome:
    """The limits, the token, the handler; every error answered here, as its SCIM (or management) error body."""
    account_id = req.route_params.get("accountId", "")
    actor = presented_key_id(req.headers.get("Authorization"))
    content_type = negotiated_content_type(req.headers.get("Accept"), edge.content_type)
    account: Account | None = None
    caller = Caller("", "", "")
    request: ApiRequest | None = None
    try:
        svc = services()
        _check_size(req, svc.settings.max_body_bytes)
        for name, value in [*req.params.items(), *req.route_params.items()]:
            limits.check_query_value(name, value)
        account, token = svc.auth.authenticate_token(account_id, req.headers.get("Authorization"), scope=edge.scope)
        caller = Caller(token.integration, token.idp, token.key_id)
        if token.client_id:  # an OAuth access token: the client is who acts (its tokens come and go hourly)
            actor = f"{OAUTH_ACTOR}{token.client_id}"
            seen.span.set_attribute(telemetry.CREDENTIAL,
                                    "federated" if token.credential == "federated" else "client secret")
        request = ApiRequest(
            account=account, method=req.method.upper(), tenant_url=_tenant_url(req.url, account_id),
            route=req.route_params, query=CaseInsensitiveQuery(req.params, req.url), headers=req.headers,
            body=req.get_body() or b"", services=svc, invocation_id=seen.invocation_id, caller=caller)
        result = handler(request)
        response = _render(result.status, result.body, {"Content-Type": content_type, **result.headers})
        return Outcome(response, result.status, None, result.note.detail, account, caller, actor, result, request)
    except ScimError as exc:
        if isinstance(exc, Unauthorized):  # recorded against the account it named (Entra quarantines on these)
            account = _refused_account(account_id)
        response = _render(exc.status, edge.error_body(exc), {"Content-Type": content_type, **exc.headers})
        return Outcome(response, exc.status, exc.scim_type, exc.detail, account, caller, actor, None, request)
    except Exception:
        log.exception("unhandled error in %s (invocation %s)", operation, seen.invocation_id)
        unexpected = InternalError(f"An internal error occurred. Invocation id: {seen.invocation_id}.")
        response = _render(500, edge.error_body(unexpected), {"Content-Type": content_type})
        return Outcome(response, 500, None, unexpected.detail, account, caller, actor, None, request)


def _record(req: func.HttpRequest, operation: str, edge: Edge, seen: Observation, outcome: Outcome) -> None:
    """The request's span attributes, metrics and invocation record, and its activity record (the log and the
    audit, written in the background; an admin's successful reads only counted)."""
    result = outcome.result or ApiResponse(outcome.status)
    duration_ms, trips = seen.duration_ms, seen.trips
    resource_type, resource_id = _resource(operation, req, result.body)
    fields = {
        telemetry.ACCOUNT: req.route_params.get("accountId", ""), telemetry.OPERATION: operation,
        telemetry.RESOURCE_TYPE: resource_type, telemetry.RESOURCE_ID: resource_id, telemetry.STATUS: outcome.status,
        telemetry.SCIM_TYPE: outcome.scim_type or "", telemetry.OUTCOME: "success" if outcome.status < 400 else "failure",
        telemetry.DURATION_MS: round(duration_ms, 1), telemetry.ROUND_TRIPS: trips.count,
        telemetry.ENTITIES_READ: trips.entities_read, telemetry.ENTITIES_WRITTEN: trips.entities_written,
        telemetry.BYTES_SENT: trips.bytes_sent, telemetry.QUEUED: result.note.queued, telemetry.INVOCATION: seen.invocation_id,
        telemetry.DETAIL: outcome.detail or None, telemetry.IDP: outcome.caller.idp or None,
    }
    seen.span.set_attributes({k: v for k, v in fields.items() if v is not None and k != telemetry.DETAIL})
    seen.span.set_attributes(http_server_attributes(req, outcome.status))
    if outcome.status >= 500:
        seen.span.set_status(Status(StatusCode.ERROR))
    metric_labels = {telemetry.OPERATION: operation, telemetry.STATUS: outcome.status,
                     telemetry.OUTCOME: fields[telemetry.OUTCOME]}
    telemetry.requests_counter.add(1, metric_labels)
    telemetry.duration_histogram.record(duration_ms, metric_labels)
    telemetry.invocation_record(f"{edge.scope} {operation}", fields)
    if outcome.account is None:
        return
    sent = outcome.request.parsed() if outcome.request else None
    services().activity.record(outcome.account.id, request_record(
        result.note, time=times.now(), operation=operation, method=req.method.upper(), resource_type=resource_type,
        resource_id=resource_id, external_id=_external_id(req, result.body, sent) if resource_type else "",
        status=outcome.status, scim_type=outcome.scim_type or "", detail=outcome.detail, duration_ms=duration_ms,
        invocation_id=seen.invocation_id, integration=outcome.caller.integration, idp=outcome.caller.idp,
        actor=outcome.actor), _logged(edge, req.method, operation, outcome.status))


AUDITED_READS = frozenset({"Manage.Settings.Get", "Manage.Tokens.List"})
"""Management reads still recorded when they succeed: who looked at the account's settings and its tokens."""


def _logged(edge: Edge, method: str, operation: str, status: int) -> bool:
    """Every SCIM request, every change and every refusal is recorded; an admin's successful reads are not (reading
    the log would otherwise fill it with its own records), except those of AUDITED_READS."""
    return edge is not MANAGE or method.upper() != "GET" or status >= 400 or operation in AUDITED_READS


def http_server_attributes(req: func.HttpRequest, status: int) -> dict[str, Any]:
    """The HTTP semantic-convention attributes the Azure Monitor exporter turns into a Request item: method, route
    (its name), scheme, host, path and status (resultCode; success is false for every 4xx and 5xx). The path is the
    route with its values replaced by their names, except the account id, and the query is left out: a client can
    put anything there, personal data included."""
    parts = urlsplit(req.url)
    account_id = req.route_params.get("accountId", "")
    route = _route_of(parts.path, req.route_params)
    path = route.replace("{accountId}", quote(account_id, safe=""), 1) if account_id else route
    attributes: dict[str, Any] = {"http.request.method": req.method.upper(), "http.route": route, "url.path": path,
                                  "url.scheme": parts.scheme or "http", "http.response.status_code": status}
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    if parts.port:
        attributes["server.port"] = parts.port
    return attributes


def _route_of(path: str, route_params: dict[str, str]) -> str:
    """The request path with each route value replaced by its name: `/api/scim/account/{accountId}/Users/{id}`."""
    names = {value: name for name, value in route_params.items() if value}
    segments = path.split("/")
    for index, segment in enumerate(segments):
        if unquote(segment) in names:
            segments[index] = "{" + names[unquote(segment)] + "}"
    route = "/".join(segments)
    catch_all = route_params.get("path")
    if catch_all and "{path}" not in route:  # the unknown-route catch-all over several segments: the client's text
        route = route[:max(0, route.find("/" + quote(catch_all.split("/")[0])))] + "/{path}"
    return route


def negotiated_content_type(accept: str | None, default: str) -> str:
    """RFC 7644 §3.8: `application/scim+json` unless the client's Accept asks for `application/json` and not for
    SCIM's type (OneLogin's documentation asks for plain JSON); anything else gets the default, never a 406."""
    if default != SCIM_CONTENT_TYPE or not accept:
        return default
    accepted: dict[str, float] = {}
    for media_range in accept.split(","):
        media_type, *parameters = (part.strip() for part in media_range.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        accepted[media_type.lower()] = max(quality, accepted.get(media_type.lower(), 0.0))
    scim = max(accepted.get(SCIM_CONTENT_TYPE, 0.0), accepted.get("application/*", 0.0), accepted.get("*/*", 0.0))
    return JSON_CONTENT_TYPE if accepted.get(JSON_CONTENT_TYPE, 0.0) > scim else default


def _resource(operation: str, req: func.HttpRequest, result_body: Any) -> tuple[str, str]:
    """(resource type, id) of a request about a user, group, org, project, scope or role assignment, of either API:
    the route's id (or scope), or the created resource's."""
    name = operation.removeprefix("Manage.")
    kind = _RESOURCE_TYPES.get(name.split(".")[0])
    if kind is None:
        return "", ""
    body = result_body if isinstance(result_body, dict) else {}
    route = req.route_params
    named = route.get("id") or route.get("scope") or ":".join(v for v in (route.get("org"), route.get("project")) if v)
    return kind, named or str(body.get("id") or body.get("identifier") or body.get("scope") or "")


_RESOURCE_TYPES = {"Users": "User", "Groups": "Group", "Orgs": "Org", "Projects": "Project", "Scopes": "Scope",
                   "RoleAssignments": "RoleAssignment"}
"""Operation prefix -> the resource type its activity records name."""


def _refused_account(account_id: str) -> Account | None:
    try:
        return services().auth.refused_account(account_id)
    except Exception:  # storage down: the 401 stands, unrecorded
        return None


def _external_id(req: func.HttpRequest, result_body: Any, sent: Any) -> str:
    """The resource's externalId: from the response, or (a refused create or update) from what the client sent, so
    an admin can find Entra's object for every outcome. `sent` is the body as the handler parsed it; the body is
    parsed here only when the handler did not get that far."""
    for source in (result_body, sent if sent is not None else _sent_json(req)):
        if isinstance(source, dict) and isinstance(source.get("externalId"), str):
            return str(source["externalId"])
    return ""


def _sent_json(req: func.HttpRequest) -> Any:
    try:
        return json.loads(req.get_body() or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _render(status: int, body: Any, headers: dict[str, str]) -> func.HttpResponse:
    # "replace": text stored before input was validated (a lone surrogate) is rendered as U+FFFD, never a 500
    payload = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(errors="replace")
    return func.HttpResponse(payload, status_code=status, headers=headers)


def _check_size(req: func.HttpRequest, limit: int) -> None:
    declared = req.headers.get("Content-Length")
    size = len(req.get_body() or b"")
    if size > limit or (declared and declared.isdigit() and int(declared) > limit):
        raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes (app setting SCIM_MAX_BODY_BYTES).")


def _tenant_url(url: str, account_id: str) -> str:
    """`https://host/api/scim/account/acme/Users/1?x` -> `https://host/api/scim/account/acme`."""
    parts = urlsplit(url)
    segments = parts.path.split("/")
    for i in range(len(segments) - 2):
        if segments[i].lower() in ("scim", "manage") and segments[i + 1].lower() == "account":
            path = "/".join(segments[: i + 2] + [account_id])
            return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return urlunsplit((parts.scheme, parts.netloc, f"/api/scim/account/{account_id}", "", ""))
