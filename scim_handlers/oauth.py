"""Blueprint: POST /api/oauth/account/{accountId}/token, the OAuth 2.0 token endpoint (RFC 6749 §4.4, RFC 7523 §2.2).

Form-encoded in, JSON out, `Cache-Control: no-store` on every answer (RFC 6749 §5.1). Client authentication by
client_secret_basic, client_secret_post or a federated assertion (shared/domain/oauth.py decides, shared/federation.py
checks assertions). Nothing secret is logged: the activity record names the client and the credential kind only.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any
from urllib.parse import parse_qs, unquote_plus

import azure.functions as func
from opentelemetry.trace import SpanKind

from scim_handlers.observed import observed
from scim_handlers.services import services
from shared import telemetry
from shared.domain import oauth, times
from shared.domain.accounts import is_valid_account_id
from shared.domain.activity import NO_NOTE, request_record
from shared.errors import ServiceUnavailable

bp = func.Blueprint()
log = logging.getLogger("scim.oauth")

OPERATION = "OAuth.Token"
FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json"}


@bp.route(route="oauth/account/{accountId}/token", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def oauth_token(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    account_id = req.route_params.get("accountId", "")
    client_id = credential = ""
    account_known = False
    basic = req.headers.get("Authorization", "").strip().lower().startswith("basic ")
    with observed(context, OPERATION, SpanKind.SERVER) as seen:
        invocation_id = seen.invocation_id
        try:
            svc = services()
            now = times.now()
            request, presented = _parse(req)
            client_id = request.client_id or (presented[0] if presented else "")
            account = svc.accounts.get(account_id) if is_valid_account_id(account_id) else None
            if account is None:
                raise oauth.invalid_client("unknown account or client")
            account_known = True
            authenticated = oauth.authenticate_client(svc.accounts, svc.federation, account_id, request, presented, now)
            client_id, credential = authenticated.client.client_id, authenticated.credential
            oauth.check_scope(request.scope, authenticated.client)
            issued = oauth.issue_access_token(authenticated, now)
            svc.accounts.add_token(issued.record)
            svc.accounts.purge_access_tokens(account_id, client_id, now)
            svc.accounts.client_used(account_id, client_id, now)
            status, body = 200, oauth.token_response(issued)
        except oauth.OAuthError as refused:
            status, body = refused.status, oauth.error_response(refused)
        except ServiceUnavailable as exc:
            status, body = 503, {"error": "temporarily_unavailable", "error_description": exc.detail}
        except Exception:
            log.exception("unhandled error in %s (invocation %s)", OPERATION, invocation_id)
            status, body = 500, {"error": "server_error", "error_description": f"Invocation id: {invocation_id}."}
        fields = {telemetry.ACCOUNT: account_id, telemetry.OPERATION: OPERATION, telemetry.STATUS: status,
                  telemetry.OUTCOME: "success" if status < 400 else "failure", telemetry.INVOCATION: invocation_id,
                  telemetry.DURATION_MS: round(seen.duration_ms, 1), telemetry.ROUND_TRIPS: seen.trips.count}
        seen.span.set_attributes(fields)
        telemetry.invocation_record(f"oauth {OPERATION}", fields)
        if account_known:
            _record(account_id, status, body, client_id, credential, invocation_id, seen.duration_ms)
    headers = dict(NO_STORE)
    if status == 401 and basic:
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return func.HttpResponse(json.dumps(body), status_code=status, headers=headers)


def _parse(req: func.HttpRequest) -> tuple[oauth.TokenRequest, tuple[str, str] | None]:
    body = req.get_body() or b""
    if len(body) > oauth.MAX_REQUEST_BYTES:
        raise oauth.OAuthError("invalid_request", f"the request body is larger than {oauth.MAX_REQUEST_BYTES} bytes")
    content_type = req.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise oauth.OAuthError("invalid_request", f"the request must be {FORM}")
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise oauth.OAuthError("invalid_request", "the form is not valid UTF-8 with at most 20 fields") from None
    return oauth.parse_token_request(fields), _basic(req.headers.get("Authorization"))


def _basic(authorization: str | None) -> tuple[str, str] | None:
    """client_secret_basic (RFC 6749 §2.3.1): both parts form-decoded after base64."""
    if not authorization or not authorization.strip().lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization.strip()[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise oauth.invalid_client("the Authorization header is not valid Basic credentials") from None
    client_id, separator, secret = decoded.partition(":")
    if not separator or len(decoded) > 512:
        raise oauth.invalid_client("the Authorization header is not valid Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def _record(account_id: str, status: int, body: dict[str, Any], client_id: str, credential: str, invocation_id: str,
            duration_ms: float) -> None:
    """The account's activity log (the request found the account): who was issued a token, through which kind of
    credential (never the secret, the assertion or the token), and who was refused (401s aggregated per client and
    minute like every refused authentication, so a flood cannot push provisioning records out of the log). A
    malformed request (400) is counted in telemetry only: it names no one."""
    if status not in (200, 401):
        return
    kind = "" if not credential else ("federated assertion" if credential == "federated" else f"secret {credential}")
    detail = f"access token issued through {kind}" if status == 200 else str(body.get("error_description", ""))
    services().activity.record(account_id, request_record(
        NO_NOTE, time=times.now(), operation=OPERATION, method="POST", resource_type="", resource_id="", external_id="",
        status=status, scim_type=str(body.get("error", "")) if status >= 400 else "", detail=detail,
        duration_ms=duration_ms, invocation_id=invocation_id, integration="", idp="",
        actor=f"client:{client_id}" if client_id else ""))
