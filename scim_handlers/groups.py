"""Blueprint: /Groups and /Groups/{id} (RFC 7644 §3) for one account. PATCH answers 204 (Entra's advice)."""

from __future__ import annotations

import azure.functions as func

from scim_handlers.http_io import ApiRequest, ApiResponse, run_scim
from shared.domain import directory, etags, groups
from shared.domain.activity import NO_NOTE, ActivityNote
from shared.domain.listing import QueryParameters, SearchRequestParameters, list_response, parse_list_query
from shared.domain.resource import attribute_list, project
from shared.domain.schema import GROUP
from shared.domain.stored import StoredGroup

bp = func.Blueprint()

GROUPS = "scim/account/{accountId}/Groups"
ANONYMOUS = func.AuthLevel.ANONYMOUS


@bp.route(route=GROUPS, methods=["GET"], auth_level=ANONYMOUS)
def scim_groups_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Groups.List", _list)


@bp.route(route=GROUPS, methods=["POST"], auth_level=ANONYMOUS)
def scim_groups_create(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Groups.Create", _create)


@bp.route(route=GROUPS + "/.search", methods=["POST"], auth_level=ANONYMOUS)
def scim_groups_search(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Groups.Search", _search)


@bp.route(route=GROUPS + "/{id}", methods=["GET"], auth_level=ANONYMOUS)
def scim_group_get(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Groups.Get", _get)


@bp.route(route=GROUPS + "/{id}", methods=["PUT"], auth_level=ANONYMOUS)
def scim_group_replace(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Groups.Replace", _replace)


@bp.route(route=GROUPS + "/{id}", methods=["PATCH"], auth_level=ANONYMOUS)
def scim_group_patch(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Groups.Patch", _patch)


@bp.route(route=GROUPS + "/{id}", methods=["DELETE"], auth_level=ANONYMOUS)
def scim_group_delete(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_scim(req, context, "Groups.Delete", _delete)


def _list(req: ApiRequest, params: QueryParameters | None = None) -> ApiResponse:
    settings = req.services.settings
    query = parse_list_query(params or req.query, GROUP, settings.page_size_default, settings.page_size_max)
    page = groups.list_groups(req.services.groups, req.account, query, req.tenant_url, req.services.positions)
    with_members = _wants_members(query.attributes, query.excluded)
    members = req.services.groups.members_of_groups(req.account.id, [g.id for g in page.items]) if with_members else {}
    resources = [project(_render(req, g, with_members, members.get(g.id)), GROUP, query.attributes, query.excluded)
                 for g in page.items]
    return ApiResponse(200, list_response(page, resources))


def _search(req: ApiRequest) -> ApiResponse:
    return _list(req, SearchRequestParameters(req.json()))


def _create(req: ApiRequest) -> ApiResponse:
    body = req.json()
    result = directory.create_group(req.directory, req.account, body)
    # Entra creates groups empty and adds members by PATCH: nothing to read back for such a group
    created_empty = isinstance(body, dict) and not any(k.lower() == "members" and v for k, v in body.items())
    group = result.group if created_empty else groups.get_group(req.services.groups, req.account, result.group.id)
    return _group_response(req, group, 201, location=True, known_members=[] if created_empty else None,
                           note=result.note)


def _get(req: ApiRequest) -> ApiResponse:
    """If-None-Match with the current version answers 304 without reading the members (RFC 9110 §13.1.2)."""
    group = groups.get_group(req.services.groups, req.account, req.route["id"])
    if etags.listed(req.headers.get("If-None-Match"), group.version):
        return ApiResponse(304, None, {"ETag": group.version})
    return _group_response(req, group, 200)


def _replace(req: ApiRequest) -> ApiResponse:
    result, group = directory.replace_group(req.directory, req.account, req.route["id"], req.json(),
                                            req.headers.get("If-Match"))
    return _group_response(req, group, 200, note=result.note)


def _patch(req: ApiRequest) -> ApiResponse:
    result = directory.patch_group(req.directory, req.account, req.route["id"], req.json(), req.headers.get("If-Match"))
    return ApiResponse(204, note=result.note)


def _delete(req: ApiRequest) -> ApiResponse:
    outcome = directory.delete_group(req.directory, req.account, req.route["id"], req.headers.get("If-Match"))
    return ApiResponse(204, note=outcome.note)


def _wants_members(attributes: list[str], excluded: list[str]) -> bool:
    """Members are read only when they will be returned: `excludedAttributes=members` (sent by Entra on every
    group read) and an `attributes` list without members cost no membership reads at all."""
    if attributes:
        return any(a.lower().split(".")[0].split("[")[0].endswith("members") for a in attributes)
    return not any(e.lower() in ("members", "urn:ietf:params:scim:schemas:core:2.0:group:members") for e in excluded)


def _render(req: ApiRequest, group: StoredGroup, with_members: bool,
            known_members: list[tuple[str, str | None]] | None = None) -> dict[str, object]:
    members = (known_members if known_members is not None else req.services.groups.members(req.account.id, group.id)) \
        if with_members else None
    return groups.render_group(group, req.tenant_url, members, req.account.id)


def _group_response(req: ApiRequest, group: StoredGroup, status: int, location: bool = False,
                    known_members: list[tuple[str, str | None]] | None = None,
                    note: ActivityNote = NO_NOTE) -> ApiResponse:
    attributes = attribute_list(req.query.get("attributes"))
    excluded = attribute_list(req.query.get("excludedAttributes"))
    body = _render(req, group, _wants_members(attributes, excluded), known_members)
    headers = {"ETag": group.version}
    if location:
        headers["Location"] = f"{req.tenant_url}/Groups/{group.id}"
    return ApiResponse(status, project(body, GROUP, attributes, excluded), headers, note)


WRITES = {"POST": _create, "PUT": _replace, "PATCH": _patch, "DELETE": _delete}
"""The write handlers by method, which a bulk request's operations run through (scim_handlers/bulk.py)."""
