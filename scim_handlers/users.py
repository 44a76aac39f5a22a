"""Blueprint: /Users and /Users/{id} (RFC 7644 §3) for one account."""

from __future__ import annotations

import azure.functions as func

from scim_handlers.http_io import ApiRequest, ApiResponse, run_scim
from shared.domain import directory, etags, users
from shared.domain.activity import ActivityNote
from shared.domain.listing import QueryParameters, SearchRequestParameters, list_response, parse_list_query
from shared.domain.resource import attribute_list, project
from shared.domain.schema import USER
from shared.domain.stored import StoredUser

bp = func.Blueprint()

USERS = "scim/account/{accountId}/Users"
ANONYMOUS = func.AuthLevel.ANONYMOUS


@bp.route(route=USERS, methods=["GET"], auth_level=ANONYMOUS)
def scim_users_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Users.List", _list)


@bp.route(route=USERS, methods=["POST"], auth_level=ANONYMOUS)
def scim_users_create(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Users.Create", _create)


@bp.route(route=USERS + "/.search", methods=["POST"], auth_level=ANONYMOUS)
def scim_users_search(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Users.Search", _search)


@bp.route(route=USERS + "/{id}", methods=["GET"], auth_level=ANONYMOUS)
def scim_user_get(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Users.Get", _get)


@bp.route(route=USERS + "/{id}", methods=["PUT"], auth_level=ANONYMOUS)
def scim_user_replace(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Users.Replace", _replace)


@bp.route(route=USERS + "/{id}", methods=["PATCH"], auth_level=ANONYMOUS)
def scim_user_patch(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Users.Patch", _patch)


@bp.route(route=USERS + "/{id}", methods=["DELETE"], auth_level=ANONYMOUS)
def scim_user_delete(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Users.Delete", _delete)


def _list(req: ApiRequest, params: QueryParameters | None = None) -> ApiResponse:
    settings = req.services.settings
    query = parse_list_query(params or req.query, USER, settings.page_size_default, settings.page_size_max)
    page = users.list_users(req.services.users, req.account, query, req.tenant_url, req.services.positions)
    resources = [project(users.render_user(u, req.tenant_url), USER, query.attributes, query.excluded) for u in page.items]
    return ApiResponse(200, list_response(page, resources))


def _search(req: ApiRequest) -> ApiResponse:
    return _list(req, SearchRequestParameters(req.json()))


def _create(req: ApiRequest) -> ApiResponse:
    user = directory.create_user(req.directory, req.account, req.json(), req.caller)
    return _user_response(req, user, 201, location=True, note=_state(user))


def _get(req: ApiRequest) -> ApiResponse:
    """If-None-Match with the current version answers 304 without a body (RFC 9110 §13.1.2)."""
    user = users.get_user(req.services.users, req.account, req.route["id"])
    version = users.version_tag(user.version)
    if etags.listed(req.headers.get("If-None-Match"), version):
        return ApiResponse(304, None, {"ETag": version})
    return _user_response(req, user, 200)


def _replace(req: ApiRequest) -> ApiResponse:
    user = directory.replace_user(req.directory, req.account, req.route["id"], req.json(), req.headers.get("If-Match"),
                                  req.caller)
    return _user_response(req, user, 200, note=_state(user))


def _patch(req: ApiRequest) -> ApiResponse:
    user = directory.patch_user(req.directory, req.account, req.route["id"], req.json(), req.headers.get("If-Match"),
                                req.caller)
    return _user_response(req, user, 200, note=_state(user))


def _state(user: StoredUser) -> str:
    """The user's state after a write, for the activity log (a person's history shows when they were deactivated)."""
    return "active" if user.attributes.get("active", True) is not False else "deactivated"


def _delete(req: ApiRequest) -> ApiResponse:
    outcome = directory.delete_user(req.directory, req.account, req.route["id"], req.headers.get("If-Match"))
    return ApiResponse(204, note=outcome.note)


def _user_response(req: ApiRequest, user: StoredUser, status: int, location: bool = False,
                   note: str = "") -> ApiResponse:
    body = users.render_user(user, req.tenant_url)
    headers = {"ETag": body["meta"]["version"]}
    if location:
        headers["Location"] = body["meta"]["location"]
    projected = project(body, USER, attribute_list(req.query.get("attributes")),
                        attribute_list(req.query.get("excludedAttributes")))
    return ApiResponse(status, projected, headers, ActivityNote(note))


WRITES = {"POST": _create, "PUT": _replace, "PATCH": _patch, "DELETE": _delete}
"""The write handlers by method, which a bulk request's operations run through (scim_handlers/bulk.py)."""
