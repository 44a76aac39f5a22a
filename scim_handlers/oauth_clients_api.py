"""Blueprint: the management API's OAuth clients, `/api/manage/account/{accountId}/oauth-clients` (admin token).

    GET    oauth-clients                               the token URL and every client (secrets by id and expiry)
    POST   oauth-clients                               a client; a secret client's first secret is in the answer once
    DELETE oauth-clients/{clientId}                    revoke the client (its access tokens stop within 60 s)
    POST   oauth-clients/{clientId}/secrets            another secret (rotation), in the answer once
    DELETE oauth-clients/{clientId}/secrets/{secretId} revoke one secret

Every change is audited (`Manage.OAuthClients.*`), as the command line's are (`CLI.OAuthClients.*`).
"""

from __future__ import annotations

from dataclasses import replace

import azure.functions as func

from scim_handlers.http_io import ApiRequest, ApiResponse, run_manage
from shared.domain import oauth, times
from shared.errors import InvalidValue, NotFound

bp = func.Blueprint()

CLIENTS = "manage/account/{accountId}/oauth-clients"
ANONYMOUS = func.AuthLevel.ANONYMOUS


@bp.route(route=CLIENTS, methods=["GET"], auth_level=ANONYMOUS)
def manage_oauth_clients_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.OAuthClients.List", _list)


@bp.route(route=CLIENTS, methods=["POST"], auth_level=ANONYMOUS)
def manage_oauth_clients_create(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.OAuthClients.Create", _create)


@bp.route(route=CLIENTS + "/{clientId}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_oauth_client_revoke(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.OAuthClients.Revoke", _revoke)


@bp.route(route=CLIENTS + "/{clientId}/secrets", methods=["POST"], auth_level=ANONYMOUS)
def manage_oauth_client_secret_add(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.OAuthClients.Secrets.Add", _add_secret)


@bp.route(route=CLIENTS + "/{clientId}/secrets/{secretId}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_oauth_client_secret_revoke(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.OAuthClients.Secrets.Revoke", _revoke_secret)


def _token_url(req: ApiRequest) -> str:
    return req.tenant_url.replace("/manage/account/", "/oauth/account/") + "/token"


def _client(req: ApiRequest) -> oauth.OAuthClient:
    client = req.services.accounts.get_client(req.account.id, req.route["clientId"])
    if client is None:
        raise NotFound(f"No OAuth client {req.route['clientId']!r} in this account.")
    return client


def _body(req: ApiRequest) -> object:
    """Every field has a default, so an empty body is `{}`."""
    return req.json() if req.body.strip() else {}


def _list(req: ApiRequest) -> ApiResponse:
    now = times.now()
    clients = req.services.accounts.clients(req.account.id)
    return ApiResponse(200, {"tokenUrl": _token_url(req), "clients": [oauth.client_view(c, now) for c in clients]})


def _create(req: ApiRequest) -> ApiResponse:
    now = times.now()
    try:
        body = oauth.body_of(oauth.ClientBody, _body(req))
        if body.federation is not None:
            f = body.federation
            client = oauth.new_federated_client(req.account.id, body.idp, body.token_minutes, now,
                                                oauth.Federation(f.issuer, f.subject, f.audience, f.jwks_uri))
            req.services.accounts.save_client(client)
            return ApiResponse(201, {**oauth.client_view(client, now), "tokenUrl": _token_url(req)})
        new = oauth.new_secret_client(req.account.id, body.idp, body.token_minutes, now, body.secret_years)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
    req.services.accounts.save_client(new.client)
    return ApiResponse(201, {**oauth.client_view(new.client, now), "tokenUrl": _token_url(req),
                              "secretId": new.secret_id, "secret": new.secret})


def _revoke(req: ApiRequest) -> ApiResponse:
    client = _client(req)
    req.services.accounts.save_client(replace(client, revoked=client.revoked or times.now()))
    return ApiResponse(204)


def _add_secret(req: ApiRequest) -> ApiResponse:
    now = times.now()
    client = _client(req)
    try:
        new = oauth.add_secret(client, now, oauth.body_of(oauth.SecretBody, _body(req)).years)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
    req.services.accounts.save_client(new.client)
    return ApiResponse(201, {**oauth.client_view(new.client, now), "secretId": new.secret_id, "secret": new.secret})


def _revoke_secret(req: ApiRequest) -> ApiResponse:
    try:
        client = oauth.revoke_secret(_client(req), req.route["secretId"], times.now())
    except KeyError:
        raise NotFound(f"No secret {req.route['secretId']!r} on this client.") from None
    req.services.accounts.save_client(client)
    return ApiResponse(204)
