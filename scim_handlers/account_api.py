"""Blueprint: the account-administration part of the management API: the activity log and the overview, settings,
tokens, failures and their redrive, and the answer for a path that is none of the management API's. Authenticated
with an admin-scoped token of the account; errors are `{"error": {"status", "code", "message"}}`."""

from __future__ import annotations

from datetime import datetime

import azure.functions as func

from scim_handlers.http_io import ApiRequest, ApiResponse, int_parameter, run_manage
from shared.domain import administration, limits, reads, retries, scope_admin, times
from shared.domain.accounts import Account
from shared.errors import InvalidValue, NotFound
from shared.storage.activity_table import KINDS

bp = func.Blueprint()

BASE = "manage/account/{accountId}"
ANONYMOUS = func.AuthLevel.ANONYMOUS


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


def _unknown(req: ApiRequest) -> ApiResponse:
    raise NotFound(f"No management endpoint {req.method} /{req.route.get('path', '')}; see docs/operations.md.")


def _activity(req: ApiRequest) -> ApiResponse:
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
    return ApiResponse(200, {"activity": [r.as_json() for r in records], "nextCursor": cursor})


def _overview(req: ApiRequest) -> ApiResponse:
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
    return ApiResponse(200, administration.overview_view(window, now, hours, tokens, len(pending), len(unreported),
                                                          len(reported), digests, len(placements)))


def _time(raw: str | None, name: str) -> datetime | None:
    return limits.parse_time_parameter(raw, name) if raw else None




def _settings(req: ApiRequest) -> ApiResponse:
    return ApiResponse(200, administration.settings_view(_fresh_account(req)))


def _change_settings(req: ApiRequest) -> ApiResponse:
    changed = administration.changed_settings(_fresh_account(req), req.json())
    req.services.accounts.update(changed)
    return ApiResponse(200, administration.settings_view(changed))


def _fresh_account(req: ApiRequest) -> Account:
    """The account as stored now (the authenticated one may come from the per-instance cache)."""
    return req.services.accounts.get(req.account.id) or req.account


def _tokens(req: ApiRequest) -> ApiResponse:
    now = times.now()
    tokens, hours = reads.parallel(lambda: req.services.accounts.list_tokens(req.account.id),
                                    lambda: req.services.activity.stats.hours(req.account.id,
                                                                              now - administration.COUNTS_READ))
    last_used = administration.last_seen_by_token(hours)
    return ApiResponse(200, {"tokens": [administration.token_view(t, now, last_used.get(t.key_id)) for t in tokens]})


def _create_token(req: ApiRequest) -> ApiResponse:
    now = times.now()
    minted = administration.new_token(req.account.id, req.json(), now)
    req.services.accounts.add_token(minted.record)
    return ApiResponse(201, {**administration.token_view(minted.record, now), "token": minted.token})


def _revoke_token(req: ApiRequest) -> ApiResponse:
    if not req.services.accounts.revoke_token(req.account.id, req.route["keyId"], times.now()):
        raise NotFound(f"No token {req.route['keyId']!r} in this account.")
    return ApiResponse(204)


def _failures(req: ApiRequest) -> ApiResponse:
    """What `manage.py retries list` shows: recorded work not yet finished, failures not yet and already
    reported, and the digest emails sent."""
    ctx = req.services.retry_context()
    account_id = req.account.id
    return ApiResponse(200, {
        "pending": [administration.work_view(w) for w in ctx.pending.pending(account_id)],
        "unreported": [administration.failure_view(f) for f in ctx.failures.unreported(account_id)],
        "reported": [administration.failure_view(f) for f in ctx.failures.reported(account_id)],
        "digests": [administration.digest_view(d) for d in ctx.failures.digests(account_id)],
        "pendingPlacements": scope_admin.pending_placements(req.services.access, req.services.groups, req.account)})


def _redrive(req: ApiRequest) -> ApiResponse:
    return ApiResponse(200, {"queued": retries.redrive(req.services.retry_context(), req.account.id)})
