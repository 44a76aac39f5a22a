"""The HTTP edge of every SCIM route: size limit, bearer auth, request parsing, response rendering,
and the one place where errors become responses (RFC 7644 §3.12).

A handler receives a parsed `ScimRequest` and returns a `ScimResponse` or raises a `ScimError`; it never
sees `func.HttpRequest` details or builds error bodies itself.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import azure.functions as func

from scim_handlers.services import Services, services
from shared.domain.accounts import Account
from shared.errors import InvalidSyntax, PayloadTooLarge, ScimError, UnsupportedMediaType
from shared.invocation import invocation, set_notify_to
from shared.storage.roundtrips import counting

log = logging.getLogger("scim")

SCIM_CONTENT_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
_JSON_MEDIA_TYPES = {"application/scim+json", "application/json"}


class CaseInsensitiveQuery:
    """Query parameters whose names match case-insensitively (Entra and its tools send `startindex`)."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._params = {k.lower(): v for k, v in params.items()}

    def get(self, name: str) -> str | None:
        return self._params.get(name.lower())


@dataclass(frozen=True)
class ScimRequest:
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
    integration: str = "current"
    """The app integration (current = NextGen, legacy = FirstGen) whose token made the request."""

    def json(self) -> Any:
        """The body parsed as JSON; InvalidSyntax when it is not JSON, 415 for a non-JSON media type."""
        media_type = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
        if media_type and media_type not in _JSON_MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"Content-Type {media_type!r} is not supported; send application/scim+json or application/json.")
        if not self.body.strip():
            raise InvalidSyntax("The request body is empty; a JSON object is required.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidSyntax(f"The request body is not valid JSON: {exc}.") from None


@dataclass
class ScimResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ScimRequest], ScimResponse]


def run_scim(req: func.HttpRequest, context: func.Context | None, operation: str, handler: Handler) -> func.HttpResponse:
    """Authenticate, parse, run `handler`, and render its result or error as SCIM JSON."""
    invocation_id = getattr(context, "invocation_id", None) or str(uuid.uuid4())
    account_id = req.route_params.get("accountId", "")
    started = time.perf_counter()
    with counting(operation) as round_trips, invocation(operation, invocation_id):
        try:
            svc = services()
            _check_size(req, svc.settings.max_body_bytes)
            account, token = svc.auth.authenticate_token(account_id, req.headers.get("Authorization"), scope="scim")
            set_notify_to(account.notification_email)
            request = ScimRequest(
                account=account, method=req.method.upper(), tenant_url=_tenant_url(req.url, account_id),
                route=req.route_params, query=CaseInsensitiveQuery(req.params), headers=req.headers,
                body=req.get_body() or b"", services=svc, invocation_id=invocation_id, integration=token.integration)
            result = handler(request)
            response = _render(result.status, result.body, result.headers)
            outcome: tuple[int, str | None] = (result.status, None)
        except ScimError as exc:
            response = error_response(exc)
            outcome = (exc.status, exc.scim_type)
        except Exception:
            log.exception("unhandled error in %s (invocation %s)", operation, invocation_id)
            response = _error(500, None, f"An internal error occurred. Invocation id: {invocation_id}.", {})
            outcome = (500, None)
    log.info("scim %s account=%s status=%s scimType=%s roundTrips=%d durationMs=%.1f invocation=%s",
             operation, account_id, outcome[0], outcome[1] or "", round_trips.count,
             (time.perf_counter() - started) * 1000, invocation_id)
    return response


def error_response(exc: ScimError) -> func.HttpResponse:
    return _error(exc.status, exc.scim_type, exc.detail, exc.headers)


def _error(status: int, scim_type: str | None, detail: str, headers: dict[str, str]) -> func.HttpResponse:
    body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    body["detail"] = detail
    return _render(status, body, headers)


def _render(status: int, body: Any, headers: dict[str, str]) -> func.HttpResponse:
    payload = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return func.HttpResponse(payload, status_code=status, headers={"Content-Type": SCIM_CONTENT_TYPE, **headers})


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
        if segments[i].lower() == "scim" and segments[i + 1].lower() == "account":
            path = "/".join(segments[: i + 2] + [account_id])
            return urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return urlunsplit((parts.scheme, parts.netloc, f"/api/scim/account/{account_id}", "", ""))
