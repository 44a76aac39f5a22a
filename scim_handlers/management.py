"""Blueprint: the application's management API for its own admins, at /api/manage/account/{accountId}/...,
authenticated with an admin-scoped token of the account. Errors are `{"error": {"status", "code", "message"}}`;
the Harness limitations come back as 409 `managedByEntra` (shared/domain/native.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import azure.functions as func

from scim_handlers.http_io import ScimRequest, ScimResponse, int_parameter, paging, run_manage
from shared.domain import administration, directory, limits, native, reads, retries, scope_admin, times, users
from shared.domain.accounts import Account
from shared.domain.listing import Page
from shared.errors import InvalidValue, NotFound
from shared.storage.activity_table import KINDS

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


@bp.route(route=f"{BASE}/activity", methods=["GET"], auth_level=ANONYMOUS)
def manage_activity(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Activity", _activity)


@bp.route(route=f"{BASE}/overview", methods=["GET"], auth_level=ANONYMOUS)
def manage_overview(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Overview", _overview)


@bp.route(route=f"{BASE}/settings", methods=["GET"], auth_level=ANONYMOUS)
def manage_settings_get(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Settings.Get", _settings)


@bp.route(route=f"{BASE}/settings", methods=["PATCH"], auth_level=ANONYMOUS)
def manage_settings_change(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Settings.Change", _change_settings)


@bp.route(route=f"{BASE}/tokens", methods=["GET"], auth_level=ANONYMOUS)
def manage_tokens_list(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Tokens.List", _tokens)


@bp.route(route=f"{BASE}/tokens", methods=["POST"], auth_level=ANONYMOUS)
def manage_tokens_create(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Tokens.Create", _create_token)


@bp.route(route=f"{BASE}/tokens/{{keyId}}", methods=["DELETE"], auth_level=ANONYMOUS)
def manage_token_revoke(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Tokens.Revoke", _revoke_token)


@bp.route(route=f"{BASE}/failures", methods=["GET"], auth_level=ANONYMOUS)
def manage_failures(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Failures.List", _failures)


@bp.route(route=f"{BASE}/failures/redrive", methods=["POST"], auth_level=ANONYMOUS)
def manage_failures_redrive(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Failures.Redrive", _redrive)


@bp.route(route=f"{BASE}/{{*path}}", auth_level=ANONYMOUS)
def manage_unknown_path(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return run_manage(req, context, "Manage.Unknown", _unknown)


def _unknown(req: ScimRequest) -> ScimResponse:
    raise NotFound(f"No management endpoint {req.method} /{req.route.get('path', '')}; see docs/operations.md.")


def _users(req: ScimRequest) -> ScimResponse:
    start, count = paging(req)
    page = native.list_users(req.services.users, req.account, req.query.get("filter"), req.query.get("source"),
                             start, count, req.services.positions, req.query.get("cursor"))
    return ScimResponse(200, {"users": [native.user_view(u) for u in page.items], **_page_fields(page)})


def _user(req: ScimRequest) -> ScimResponse:
    return ScimResponse(200, native.user_view(req.services.users.get(req.account.id, req.route["id"])))


def _user_scim(req: ScimRequest) -> ScimResponse:
    """The user as the identity provider reads it over SCIM (the same rendering, read with the admin token)."""
    tenant = req.tenant_url.replace("/manage/account/", "/scim/account/")
    return ScimResponse(200, users.render_user(users.get_user(req.services.users, req.account, req.route["id"]), tenant))


def _user_history(req: ScimRequest) -> ScimResponse:
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
    return ScimResponse(200, {"history": [administration.history_entry(r, user_id) for r in records],
                              "nextCursor": cursor})


def _create_user(req: ScimRequest) -> ScimResponse:
    return ScimResponse(201, native.user_view(native.create_user(req.services.users, req.account, req.json())))


def _edit_user(req: ScimRequest) -> ScimResponse:
    user = directory.edit_native_user(req.directory, req.account, req.route["id"], req.json())
    return ScimResponse(200, native.user_view(req.services.users.get(req.account.id, user.id)))


def _delete_user(req: ScimRequest) -> ScimResponse:
    directory.delete_native_user(req.directory, req.account, req.route["id"])
    return ScimResponse(204)


def _groups(req: ScimRequest) -> ScimResponse:
    start, count = paging(req)
    page, views = native.list_groups(req.services.groups, req.account, req.query.get("filter"),
                                     req.query.get("source"), start, count, req.services.positions,
                                     req.query.get("cursor"))
    return ScimResponse(200, {"groups": views, **_page_fields(page)})


def _page_fields(page: Page) -> dict[str, Any]:
    if page.by_cursor:
        return {"totalResults": page.total, "itemsPerPage": len(page.items), "nextCursor": page.next_cursor}
    return {"totalResults": page.total, "startIndex": page.start_index, "itemsPerPage": len(page.items)}


def _group(req: ScimRequest) -> ScimResponse:
    """The group with how many members it has (a page of them: /members), its placements (active or pending) and
    the role assignments it holds."""
    svc = req.services
    group = svc.groups.get(req.account.id, req.route["id"])
    view = native.group_view(group, native.member_count(svc.groups, req.account, group))
    view.update(scope_admin.group_access_view(svc.access, req.account, group))
    return ScimResponse(200, view)


def _group_members(req: ScimRequest) -> ScimResponse:
    start, count = paging(req)
    page = native.group_members(req.services.groups, req.services.users, req.account, req.route["id"],
                                req.query.get("filter"), start, count, req.services.positions)
    return ScimResponse(200, {"members": [native.member_view(u) for u in page.items], **_page_fields(page)})


def _create_group(req: ScimRequest) -> ScimResponse:
    return ScimResponse(201, native.group_view(native.create_group(req.services.groups, req.account, req.json()), 0))


def _rename_group(req: ScimRequest) -> ScimResponse:
    group = native.rename_group(req.services.groups, req.account, req.route["id"], req.json(), req.services.retry_queue)
    return ScimResponse(200, native.group_view(group))


def _delete_group(req: ScimRequest) -> ScimResponse:
    directory.delete_native_group(req.directory, req.account, req.route["id"])
    return ScimResponse(204)


def _add_member(req: ScimRequest) -> ScimResponse:
    native.change_membership(req.services.groups, req.services.users, req.account, req.route["id"],
                             req.route["userId"], add=True, queue=req.services.retry_queue)
    return ScimResponse(204)


def _remove_member(req: ScimRequest) -> ScimResponse:
    native.change_membership(req.services.groups, req.services.users, req.account, req.route["id"],
                             req.route["userId"], add=False, queue=req.services.retry_queue)
    return ScimResponse(204)


def _sso_check(req: ScimRequest) -> ScimResponse:
    body = req.json()
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or not email.strip():
        raise InvalidValue("Send the email of the user who signs in: {\"email\": \"user@example.com\"}.")
    integrations = req.services.accounts.integrations(req.account.id, times.now())
    return ScimResponse(200, native.sso_check(req.services.users, req.account, integrations, email.strip()))


def _activity(req: ScimRequest) -> ScimResponse:
    """Provisioning (SCIM) records unless `kind=audit` (the management API and command line) or `kind=all`."""
    outcome = req.query.get("outcome")
    if outcome not in (None, "success", "failure"):
        raise InvalidValue("outcome must be success or failure.")
    kind = req.query.get("kind") or "provisioning"
    if kind not in KINDS:
        raise InvalidValue(f"kind must be one of {', '.join(KINDS)}; got {kind!r}.")
    count = int_parameter(req.query.get("count"), 50, 1, 1000)
    try:
        records, cursor = req.services.activity.query(
            req.account.id, _time(req.query.get("since"), "since"), _time(req.query.get("until"), "until"), outcome,
            req.query.get("resourceId"), count, req.query.get("cursor") or None, req.query.get("operation"), req.query.get("idp"),
            kind)
    except ValueError as exc:
        raise InvalidValue(str(exc)) from None
    return ScimResponse(200, {"activity": [r.as_json() for r in records], "nextCursor": cursor})


def _overview(req: ScimRequest) -> ScimResponse:
    """The console's landing page in two parallel waves of reads: the hourly counts (a round trip per 1,000 rows),
    the tokens, pending work, failures not yet and already reported and digests; then the placements (the scopes
    and the groups' placements, a wave of their own: a pool task never waits on another). 8 round trips while the
    counts fit in 1,000 rows (30 days of one instance)."""
    window = administration.checked_window(req.query.get("window"))
    svc, account, now = req.services, req.account, times.now()
    ctx = svc.retry_context()
    hours, tokens, pending, unreported, reported, digests = reads.parallel(
        lambda: svc.activity.stats.hours(account.id, now - administration.COUNTS_READ),
        lambda: svc.accounts.list_tokens(account.id),
        lambda: ctx.pending.pending(account.id),
        lambda: ctx.failures.unreported(account.id),
        lambda: ctx.failures.reported(account.id),
        lambda: ctx.failures.digests(account.id))
    placements = scope_admin.pending_placements(svc.access, svc.groups, account)
    return ScimResponse(200, administration.overview_view(window, now, hours, tokens, len(pending), len(unreported),
                                                          len(reported), digests, len(placements)))


def _time(raw: str | None, name: str) -> datetime | None:
    return limits.parse_time_parameter(raw, name) if raw else None




def _settings(req: ScimRequest) -> ScimResponse:
    return ScimResponse(200, administration.settings_view(_fresh_account(req)))


def _change_settings(req: ScimRequest) -> ScimResponse:
    changed = administration.changed_settings(_fresh_account(req), req.json())
    req.services.accounts.update(changed)
    return ScimResponse(200, administration.settings_view(changed))


def _fresh_account(req: ScimRequest) -> Account:
    """The account as stored now (the authenticated one may come from the per-instance cache)."""
    return req.services.accounts.get(req.account.id) or req.account


def _tokens(req: ScimRequest) -> ScimResponse:
    now = times.now()
    tokens, hours = reads.parallel(lambda: req.services.accounts.list_tokens(req.account.id),
                                    lambda: req.services.activity.stats.hours(req.account.id,
                                                                              now - administration.COUNTS_READ))
    last_used = administration.last_seen_by_token(hours)
    return ScimResponse(200, {"tokens": [administration.token_view(t, now, last_used.get(t.key_id)) for t in tokens]})


def _create_token(req: ScimRequest) -> ScimResponse:
    now = times.now()
    minted = administration.new_token(req.account.id, req.json(), now)
    req.services.accounts.add_token(minted.record)
    return ScimResponse(201, {**administration.token_view(minted.record, now), "token": minted.token})


def _revoke_token(req: ScimRequest) -> ScimResponse:
    if not req.services.accounts.revoke_token(req.account.id, req.route["keyId"], times.now()):
        raise NotFound(f"No token {req.route['keyId']!r} in this account.")
    return ScimResponse(204)


def _failures(req: ScimRequest) -> ScimResponse:
    """What `manage.py retries list` shows: recorded work not yet finished, failures not yet and already
    reported, and the digest emails sent."""
    ctx = req.services.retry_context()
    account_id = req.account.id
    return ScimResponse(200, {
        "pending": [administration.work_view(w) for w in ctx.pending.pending(account_id)],
        "unreported": [administration.failure_view(f) for f in ctx.failures.unreported(account_id)],
        "reported": [administration.failure_view(f) for f in ctx.failures.reported(account_id)],
        "digests": [administration.digest_view(d) for d in ctx.failures.digests(account_id)],
        "pendingPlacements": scope_admin.pending_placements(req.services.access, req.services.groups, req.account)})


def _redrive(req: ScimRequest) -> ScimResponse:
    return ScimResponse(200, {"queued": retries.redrive(req.services.retry_context(), req.account.id)})
