"""Blueprint: scopes and access in the management API (admin token, /api/manage/account/{accountId}/...): orgs and
projects, where a group is placed, who is a member of a scope, role assignments, and a user's effective access with
its reasons (shared/domain/access.py). Scopes are written as in harnessScopes: `A`, `A:O`, `A:O:P`."""

from __future__ import annotations

import azure.functions as func

from scim_handlers.http_io import ApiRequest, ApiResponse, paging, run_manage
from shared.domain import access, assignments, scope_admin, scopes
from shared.domain.assignments import AssignmentFilter
from shared.errors import InvalidValue, NotFound

bp = func.Blueprint()

BASE = "manage/account/{accountId}"
ANONYMOUS = func.AuthLevel.ANONYMOUS


@bp.route(route=f"{BASE}/orgs", methods=["GET"], auth_level=ANONYMOUS)
def manage_orgs_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Orgs.List", _orgs)


@bp.route(route=f"{BASE}/orgs", methods=["POST"], auth_level=ANONYMOUS)
def manage_orgs_create(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Orgs.Create", _create_org)


@bp.route(route=f"{BASE}/orgs/{{org}}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_org_delete(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Orgs.Delete", _delete_org)


@bp.route(route=f"{BASE}/orgs/{{org}}/projects", methods=["GET"], auth_level=ANONYMOUS)
def manage_projects_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Projects.List", _projects)


@bp.route(route=f"{BASE}/orgs/{{org}}/projects", methods=["POST"], auth_level=ANONYMOUS)
def manage_projects_create(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Projects.Create", _create_project)


@bp.route(route=f"{BASE}/orgs/{{org}}/projects/{{project}}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_project_delete(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Projects.Delete", _delete_project)


@bp.route(route=f"{BASE}/groups/{{id}}/placements", methods=["PUT"], auth_level=ANONYMOUS)
def manage_group_placements_set(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Groups.Place", _place_group)


@bp.route(route=f"{BASE}/scopes/{{scope}}/members", methods=["GET"], auth_level=ANONYMOUS)
def manage_scope_members_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Scopes.Members", _scope_members)


@bp.route(route=f"{BASE}/scopes/{{scope}}/members/{{userId}}", methods=["PUT"], auth_level=ANONYMOUS)
def manage_scope_member_add(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Scopes.AddMember", _add_scope_member)


@bp.route(route=f"{BASE}/scopes/{{scope}}/members/{{userId}}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_scope_member_remove(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Scopes.RemoveMember", _remove_scope_member)


@bp.route(route=f"{BASE}/role-assignments", methods=["GET"], auth_level=ANONYMOUS)
def manage_role_assignments_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.RoleAssignments.List", _assignments)


@bp.route(route=f"{BASE}/role-assignments", methods=["POST"], auth_level=ANONYMOUS)
def manage_role_assignments_create(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.RoleAssignments.Create", _create_assignment)


@bp.route(route=f"{BASE}/role-assignments/{{id}}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_role_assignment_delete(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.RoleAssignments.Delete", _delete_assignment)


@bp.route(route=f"{BASE}/users/{{id}}/access", methods=["GET"], auth_level=ANONYMOUS)
def manage_user_access(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Users.Access", _user_access)


@bp.route(route=f"{BASE}/roles", methods=["GET"], auth_level=ANONYMOUS)
def manage_roles_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Roles.List", lambda r: ApiResponse(200, {"roles": access.roles_view()}))


@bp.route(route=f"{BASE}/resource-groups", methods=["GET"], auth_level=ANONYMOUS)
def manage_resource_groups_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.ResourceGroups.List",
                      lambda r: ApiResponse(200, {"resourceGroups": access.resource_groups_view()}))


def _orgs(req: ApiRequest) -> ApiResponse:
    found = scope_admin.list_scopes(req.services.access, req.account)
    return ApiResponse(200, {"orgs": [scope_admin.scope_view(req.account, r) for r in found]})


def _create_org(req: ApiRequest) -> ApiResponse:
    record = scope_admin.create_org(req.services.access, req.account, req.json())
    return ApiResponse(201, scope_admin.scope_view(req.account, record))


def _delete_org(req: ApiRequest) -> ApiResponse:
    _delete_scope(req, _route_identifier(req, "org"))
    return ApiResponse(204)


def _projects(req: ApiRequest) -> ApiResponse:
    found = scope_admin.list_scopes(req.services.access, req.account, _route_identifier(req, "org"))
    return ApiResponse(200, {"projects": [scope_admin.scope_view(req.account, r) for r in found]})


def _create_project(req: ApiRequest) -> ApiResponse:
    record = scope_admin.create_project(req.services.access, req.account, _route_identifier(req, "org"), req.json())
    return ApiResponse(201, scope_admin.scope_view(req.account, record))


def _delete_project(req: ApiRequest) -> ApiResponse:
    _delete_scope(req, f"{_route_identifier(req, 'org')}:{_route_identifier(req, 'project')}")
    return ApiResponse(204)


def _delete_scope(req: ApiRequest, scope: str) -> None:
    svc = req.services
    scope_admin.delete_scope(svc.access, svc.groups, req.account, scope, svc.retry_queue)


def _route_identifier(req: ApiRequest, name: str) -> str:
    value = req.route[name]
    if not scopes.IDENTIFIER.fullmatch(value):
        raise NotFound(f"No {name} {value!r}.")
    return value


def _scope(req: ApiRequest) -> str:
    return scopes.parse_scope(req.route["scope"], req.account.id)


def _place_group(req: ApiRequest) -> ApiResponse:
    svc = req.services
    group = scope_admin.set_admin_placements(svc.groups, svc.access, req.account, req.route["id"], req.json(),
                                        svc.retry_queue)
    alive = scopes.live_scopes(svc.access.scopes(req.account.id))
    return ApiResponse(200, {"identifier": group.id, "placements": scope_admin.placements_view(req.account, group, alive)})


def _scope_members(req: ApiRequest) -> ApiResponse:
    svc = req.services
    start, count = paging(req)
    page = scope_admin.scope_members(svc.access, svc.groups, req.account, _scope(req), start, count)
    return ApiResponse(200, {"scope": req.route["scope"], "members": page.items, "totalResults": page.total,
                              "startIndex": page.start_index, "itemsPerPage": len(page.items)})


def _add_scope_member(req: ApiRequest) -> ApiResponse:
    scope_admin.add_scope_member(req.services.access, req.services.users, req.account, _scope(req), req.route["userId"])
    return ApiResponse(204)


def _remove_scope_member(req: ApiRequest) -> ApiResponse:
    scope_admin.remove_scope_member(req.services.access, req.account, _scope(req), req.route["userId"])
    return ApiResponse(204)


def _assignments(req: ApiRequest) -> ApiResponse:
    query = req.query
    principal_type = query.get("principalType")
    if principal_type not in (None, "user", "group"):
        raise InvalidValue("principalType must be user or group.")
    wanted = AssignmentFilter(scope=scopes.parse_scope(query.get("scope"), req.account.id) if query.get("scope") else None,
                              principal_type=principal_type, principal_id=query.get("principalId"),
                              role=query.get("role"))
    svc = req.services
    found = assignments.list_assignments(svc.access, svc.users, svc.groups, req.account, wanted)
    return ApiResponse(200, {"roleAssignments": [assignments.assignment_view(req.account, a) for a in found]})


def _create_assignment(req: ApiRequest) -> ApiResponse:
    svc = req.services
    created = assignments.create_assignment(svc.access, svc.users, svc.groups, req.account, req.json())
    return ApiResponse(201, assignments.assignment_view(req.account, created))


def _delete_assignment(req: ApiRequest) -> ApiResponse:
    svc = req.services
    assignments.delete_assignment(svc.access, svc.users, svc.groups, req.account, req.route["id"])
    return ApiResponse(204)


def _user_access(req: ApiRequest) -> ApiResponse:
    svc = req.services
    return ApiResponse(200, access.user_access(svc.access, svc.users, svc.groups, req.account, req.route["id"],
                                                req.query.get("scope")))
