"""Blueprint: the directory part of the management API for the application's own admins, at
/api/manage/account/{accountId}/...: users, groups and their members, and the SSO check. Authenticated with an
admin-scoped token of the account (scim_handlers/http_io.py); errors are `{"error": {"status", "code", "message"}}`;
the Harness limitations come back as 409 `managedByEntra` (shared/domain/native.py). Writes go through the directory
use cases (shared/domain/directory.py)."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from scim_handlers.http_io import ApiRequest, ApiResponse, int_parameter, paging, run_manage
from shared.domain import administration, directory, native, scope_admin, times, users
from shared.domain.listing import Page
from shared.errors import InvalidValue, NotFound

bp = func.Blueprint()

BASE = "manage/account/{accountId}"
ANONYMOUS = func.AuthLevel.ANONYMOUS


@bp.route(route=f"{BASE}/users", methods=["GET"], auth_level=ANONYMOUS)
def manage_users_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Users.List", _users)


@bp.route(route=f"{BASE}/users", methods=["POST"], auth_level=ANONYMOUS)
def manage_users_create(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Users.Create", _create_user)


@bp.route(route=f"{BASE}/users/{{id}}", methods=["GET"], auth_level=ANONYMOUS)
def manage_user_get(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Users.Get", _user)


@bp.route(route=f"{BASE}/users/{{id}}/scim", methods=["GET"], auth_level=ANONYMOUS)
def manage_user_scim(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Users.Scim", _user_scim)


@bp.route(route=f"{BASE}/users/{{id}}/history", methods=["GET"], auth_level=ANONYMOUS)
def manage_user_history(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Users.History", _user_history)


@bp.route(route=f"{BASE}/users/{{id}}", methods=["PATCH"], auth_level=ANONYMOUS)
def manage_user_edit(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Users.Edit", _edit_user)


@bp.route(route=f"{BASE}/users/{{id}}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_user_delete(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Users.Delete", _delete_user)


@bp.route(route=f"{BASE}/groups", methods=["GET"], auth_level=ANONYMOUS)
def manage_groups_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Groups.List", _groups)


@bp.route(route=f"{BASE}/groups", methods=["POST"], auth_level=ANONYMOUS)
def manage_groups_create(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Groups.Create", _create_group)


@bp.route(route=f"{BASE}/groups/{{id}}", methods=["GET"], auth_level=ANONYMOUS)
def manage_group_get(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Groups.Get", _group)


@bp.route(route=f"{BASE}/groups/{{id}}/members", methods=["GET"], auth_level=ANONYMOUS)
def manage_group_members(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Groups.Members", _group_members)


@bp.route(route=f"{BASE}/groups/{{id}}", methods=["PATCH"], auth_level=ANONYMOUS)
def manage_group_rename(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Groups.Rename", _rename_group)


@bp.route(route=f"{BASE}/groups/{{id}}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_group_delete(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Groups.Delete", _delete_group)


@bp.route(route=f"{BASE}/groups/{{id}}/members/{{userId}}", methods=["PUT"], auth_level=ANONYMOUS)
def manage_group_member_add(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Groups.AddMember", _add_member)


@bp.route(route=f"{BASE}/groups/{{id}}/members/{{userId}}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_group_member_remove(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Groups.RemoveMember", _remove_member)


@bp.route(route=f"{BASE}/sso/check", methods=["POST"], auth_level=ANONYMOUS)
def manage_sso_check(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Sso.Check", _sso_check)


def _users(req: ApiRequest) -> ApiResponse:
    start, count = paging(req)
    page = native.list_users(req.services.users, req.account, req.query.get("filter"), req.query.get("source"),
                             start, count, req.services.positions, req.query.get("cursor"))
    return ApiResponse(200, {"users": [native.user_view(u) for u in page.items], **_page_fields(page)})


def _user(req: ApiRequest) -> ApiResponse:
    return ApiResponse(200, native.user_view(req.services.users.get(req.account.id, req.route["id"])))


def _user_scim(req: ApiRequest) -> ApiResponse:
    """The user as the identity provider reads it over SCIM (the same rendering, read with the admin token)."""
    tenant = req.tenant_url.replace("/manage/account/", "/scim/account/")
    return ApiResponse(200, users.render_user(users.get_user(req.services.users, req.account, req.route["id"]), tenant))


def _user_history(req: ApiRequest) -> ApiResponse:
    """A person's story, newest first: created, changed, deactivated, groups joined and left, refused requests that
    carried their externalId. At most HISTORY_PAGES pages of the log per request; `nextCursor` goes on. A deleted
    user's id still finds their records."""
    user_id = req.route["id"]
    try:
        external_id = req.services.users.get(req.account.id, user_id).attributes.get("externalId")
    except NotFound:
        external_id = None
    count = int_parameter(req.query.get("count"), 50, 1, 200)
    try:
        records, cursor = req.services.activity.query(
            req.account.id, None, None, None, None, count, req.query.get("cursor") or None, kind="all",
            about=administration.about_user(user_id, external_id if isinstance(external_id, str) else None),
            max_pages=administration.HISTORY_PAGES)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
    return ApiResponse(200, {"history": [administration.history_entry(r, user_id) for r in records],
                              "nextCursor": cursor})


def _create_user(req: ApiRequest) -> ApiResponse:
    return ApiResponse(201, native.user_view(native.create_user(req.services.users, req.account, req.json())))


def _edit_user(req: ApiRequest) -> ApiResponse:
    user = directory.edit_native_user(req.directory, req.account, req.route["id"], req.json())
    return ApiResponse(200, native.user_view(req.services.users.get(req.account.id, user.id)))


def _delete_user(req: ApiRequest) -> ApiResponse:
    directory.delete_native_user(req.directory, req.account, req.route["id"])
    return ApiResponse(204)


def _groups(req: ApiRequest) -> ApiResponse:
    start, count = paging(req)
    page, views = native.list_groups(req.services.groups, req.account, req.query.get("filter"),
                                     req.query.get("source"), start, count, req.services.positions,
                                     req.query.get("cursor"))
    return ApiResponse(200, {"groups": views, **_page_fields(page)})


def _page_fields(page: Page) -> dict[str, Any]:
    if page.by_cursor:
        return {"totalResults": page.total, "itemsPerPage": len(page.items), "nextCursor": page.next_cursor}
    return {"totalResults": page.total, "startIndex": page.start_index, "itemsPerPage": len(page.items)}


def _group(req: ApiRequest) -> ApiResponse:
    """The group with how many members it has (a page of them: /members), its placements (active or pending) and
    the role assignments it holds."""
    svc = req.services
    group = svc.groups.get(req.account.id, req.route["id"])
    view = native.group_view(group, native.member_count(svc.groups, req.account, group))
    view.update(scope_admin.group_access_view(svc.access, req.account, group))
    return ApiResponse(200, view)


def _group_members(req: ApiRequest) -> ApiResponse:
    start, count = paging(req)
    page = native.group_members(req.services.groups, req.services.users, req.account, req.route["id"],
                                req.query.get("filter"), start, count, req.services.positions)
    return ApiResponse(200, {"members": [native.member_view(u) for u in page.items], **_page_fields(page)})


def _create_group(req: ApiRequest) -> ApiResponse:
    return ApiResponse(201, native.group_view(native.create_group(req.services.groups, req.account, req.json()), 0))


def _rename_group(req: ApiRequest) -> ApiResponse:
    group = native.rename_group(req.services.groups, req.account, req.route["id"], req.json(), req.services.retry_queue)
    return ApiResponse(200, native.group_view(group))


def _delete_group(req: ApiRequest) -> ApiResponse:
    directory.delete_native_group(req.directory, req.account, req.route["id"])
    return ApiResponse(204)


def _add_member(req: ApiRequest) -> ApiResponse:
    native.change_membership(req.services.groups, req.services.users, req.account, req.route["id"],
                             req.route["userId"], add=True, queue=req.services.retry_queue)
    return ApiResponse(204)


def _remove_member(req: ApiRequest) -> ApiResponse:
    native.change_membership(req.services.groups, req.services.users, req.account, req.route["id"],
                             req.route["userId"], add=False, queue=req.services.retry_queue)
    return ApiResponse(204)


def _sso_check(req: ApiRequest) -> ApiResponse:
    body = req.json()
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not email.strip():
        raise InvalidValue("Send the email of the user who signs in: {\"email\": \"user@example.com\"}.")
    integrations = req.services.accounts.integrations(req.account.id, times.now())
    return ApiResponse(200, native.sso_check(req.services.users, req.account, integrations, email.strip()))
