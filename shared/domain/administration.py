"""An account's own administration through the management API (scim_handlers/account_api.py, and the console built on
it): its settings, its SCIM tokens and its failed work. Every change here is a management request, so it is audited
like the others (scim_handlers/http_io.py records who made it)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from shared.domain.accounts import UPDATE_EMAILS_VIA_SCIM, Account, AccountError, validate_email
from shared.domain.activity import ActivityRecord, HourCounts, hour_of, is_audit
from shared.domain.failures import Failure, SentDigest
from shared.domain.stored import PendingWork
from shared.domain.times import utc_iso_or_none
from shared.domain.tokens import IDPS, INTEGRATIONS, SCOPES, MintedToken, TokenRecord, mint
from shared.errors import InvalidValue


def settings_view(account: Account) -> dict[str, Any]:
    return {"id": account.id, "name": account.name, "notificationEmail": account.notification_email,
            "updateEmailsViaScim": account.has(UPDATE_EMAILS_VIA_SCIM), "features": sorted(account.features)}


def changed_settings(account: Account, body: Any) -> Account:
    """`{"notificationEmail": "ops@contoso.com" | null, "updateEmailsViaScim": bool}`, either or both."""
    if not isinstance(body, dict) or not {"notificationEmail", "updateEmailsViaScim"} & set(body):
        raise InvalidValue("Send notificationEmail and/or updateEmailsViaScim.")
    flag = body.get("updateEmailsViaScim")
    if "updateEmailsViaScim" in body and not isinstance(flag, bool):
        raise InvalidValue(f"updateEmailsViaScim must be true or false; got {flag!r}.")
    email = body.get("notificationEmail", account.notification_email)
    if email is not None and not isinstance(email, str):
        raise InvalidValue("notificationEmail must be an email address or null.")
    try:
        changed = account.with_changes(
            notification_email=validate_email(email) if email else None,
            enable=(UPDATE_EMAILS_VIA_SCIM,) if flag is True else (),
            disable=(UPDATE_EMAILS_VIA_SCIM,) if flag is False else ())
    except AccountError as exc:
        raise InvalidValue(str(exc)) from None
    return changed if email else replace(changed, notification_email=None)


def last_seen_by_token(hours: list[HourCounts]) -> dict[str, datetime]:
    """When each token (key id) last made a request, from the activity log's hourly counts."""
    return {actor: seen[0] for actor, seen in latest_actors(hours).items()}


def token_view(record: TokenRecord, now: datetime, last_used: datetime | None = None) -> dict[str, Any]:
    """A token as the console lists it: never its secret or hash. `lastUsed` comes from the activity log's hourly
    counts of the last 30 days (null: not used in that time)."""
    return {"keyId": record.key_id, "scope": record.scope, "integration": record.integration, "idp": record.idp,
            "created": utc_iso_or_none(record.created), "expires": utc_iso_or_none(record.expires),
            "revoked": utc_iso_or_none(record.revoked),
            "lastUsed": utc_iso_or_none(last_used), "state": record.state(now)}


def new_token(account_id: str, body: Any, now: datetime) -> MintedToken:
    """`{"scope", "integration", "idp", "expiresInDays"}`, all optional (a SCIM token for Entra, current, never
    expiring)."""
    body = body if isinstance(body, dict) else {}
    scope, integration, idp = body.get("scope", "scim"), body.get("integration", "current"), body.get("idp", "entra")
    days = body.get("expiresInDays")
    for name, value, allowed in (("scope", scope, SCOPES), ("integration", integration, INTEGRATIONS),
                                 ("idp", idp, IDPS)):
        if value not in allowed:
            raise InvalidValue(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
    if days is not None and (not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650):
        raise InvalidValue(f"expiresInDays must be a whole number of days from 1 to 3650; got {days!r}.")
    return mint(account_id, scope, now, days, integration, idp)


def work_view(work: PendingWork) -> dict[str, Any]:
    return {"workId": work.id, "kind": work.kind, "resourceType": work.resource_type, "resourceId": work.resource_id,
            "operation": work.operation, "created": utc_iso_or_none(work.created), "invocationId": work.invocation_id}


def failure_view(failure: Failure) -> dict[str, Any]:
    return {"jobId": failure.job_id, "operation": failure.operation, "resourceType": failure.resource_type,
            "resourceId": failure.resource_id, "externalId": failure.external_id, "lastError": failure.last_error,
            "attempts": failure.attempts, "firstAttempt": utc_iso_or_none(failure.first_attempt),
            "lastAttempt": utc_iso_or_none(failure.last_attempt), "workId": failure.work_id, "source": failure.source}


def digest_view(digest: SentDigest) -> dict[str, Any]:
    return {"digestId": digest.digest_id, "sentAt": utc_iso_or_none(digest.sent_at), "failures": digest.failures}


WINDOWS = {"24h": (timedelta(hours=24), "hour"), "7d": (timedelta(days=7), "day"), "30d": (timedelta(days=30), "day")}
"""The overview's windows and the width of their chart's bars."""
COUNTS_READ = timedelta(days=30)
"""How far back the overview and the tokens' "last used" read the hourly counts: the longest window."""


def checked_window(raw: str | None) -> str:
    """The overview's `window` (24h when absent); InvalidValue naming the choices, before anything is read."""
    window = raw or "24h"
    if window not in WINDOWS:
        raise InvalidValue(f"window must be one of {', '.join(WINDOWS)}; got {window!r}.")
    return window


def latest_actors(hours: list[HourCounts]) -> dict[str, tuple[datetime, str, str]]:
    """Each token's (key id's) newest (time, identity provider, operation) over the hours read."""
    latest: dict[str, tuple[datetime, str, str]] = {}
    for counts in hours:
        for actor, seen in counts.actors.items():
            if actor not in latest or seen[0] > latest[actor][0]:
                latest[actor] = seen
    return latest


OAUTH_ACTOR = "client:"
"""The activity log's actor for a request made with an OAuth access token: `client:<client id>`."""
MAX_UNKNOWN_KEY_IDS = 20
"""Key ids no token of the account has (refused requests) listed in the overview at most, newest first."""
QUIET_AFTER = timedelta(hours=1)
"""An identity provider not heard from for longer than this is shown as quiet (Entra syncs every ~40 minutes)."""


def overview_view(window: str, now: datetime, hours: list[HourCounts], tokens: list[TokenRecord],
                  pending: int, unreported: int, reported: int, digests: list[SentDigest],
                  pending_placements: int) -> dict[str, Any]:
    """What the console's landing page shows, from the activity log's hourly counts (provisioning only: the admin
    audit is left out) and the account's failures: requests and failures per hour or day by operation, the share of
    failures (what Entra quarantines an application on), the last request of each identity provider and token,
    and the work still queued or given up. `window` is one of WINDOWS (`checked_window`)."""
    span, step = WINDOWS[window]
    start = now - span
    buckets: dict[datetime, dict[str, list[int]]] = {}
    operations: dict[str, list[int]] = {}
    last_by_token = latest_actors(hours)  # every token seen in the days read, whatever the window
    for counts in hours:
        if counts.hour < hour_of(start):
            continue
        bucket = counts.hour if step == "hour" else counts.hour.replace(hour=0)
        for operation, (ok, failed) in counts.operations.items():
            if is_audit(operation):
                continue
            kind = operation.split(".")[0]
            totals = buckets.setdefault(bucket, {}).setdefault(kind, [0, 0])
            totals[0], totals[1] = totals[0] + ok, totals[1] + failed
            per_operation = operations.setdefault(operation, [0, 0])
            per_operation[0], per_operation[1] = per_operation[0] + ok, per_operation[1] + failed
    first = hour_of(start) if step == "hour" else hour_of(start).replace(hour=0)
    width = timedelta(hours=1) if step == "hour" else timedelta(days=1)
    series = []
    moment = first
    while moment <= now:
        kinds = buckets.get(moment, {})
        series.append({"start": utc_iso_or_none(moment), "succeeded": sum(v[0] for v in kinds.values()),
                       "failed": sum(v[1] for v in kinds.values()),
                       "byKind": {kind: {"succeeded": v[0], "failed": v[1]} for kind, v in sorted(kinds.items())}})
        moment += width
    succeeded, failed = sum(v[0] for v in operations.values()), sum(v[1] for v in operations.values())
    known = {t.key_id: t for t in tokens}
    token_rows: list[dict[str, Any]] = []
    by_idp: dict[str, dict[str, Any]] = {}
    unknown = 0
    for key_id, (last_seen, seen_idp, operation) in sorted(last_by_token.items(), key=lambda item: item[1][0],
                                                           reverse=True):
        token = known.get(key_id)
        client = key_id.startswith(OAUTH_ACTOR)  # OAuth access tokens are short-lived: their client is the actor
        if token is None and not client:
            unknown += 1
            if unknown > MAX_UNKNOWN_KEY_IDS:  # a flood of made-up key ids: the newest are enough to see it
                continue
        idp = (token.idp if token.scope == "scim" else "admin") if token else seen_idp
        token_rows.append({"keyId": key_id, "idp": idp, "lastSeen": utc_iso_or_none(last_seen), "lastOperation": operation,
                           "scope": token.scope if token else ("scim" if client else None),
                           "state": token.state(now) if token else ("oauth client" if client else "unknown key id")})
        if (client or (token is not None and token.scope == "scim")) and idp not in by_idp:  # newest first
            by_idp[idp] = {"idp": idp, "lastSeen": utc_iso_or_none(last_seen), "keyId": key_id,
                           "quiet": now - last_seen > QUIET_AFTER}
    return {
        "window": window, "from": utc_iso_or_none(start), "until": utc_iso_or_none(now), "bucket": step,
        "requests": {"total": succeeded + failed, "succeeded": succeeded, "failed": failed,
                     "failureShare": round(failed / (succeeded + failed), 4) if succeeded + failed else 0.0},
        "series": series,
        "operations": [{"operation": op, "succeeded": v[0], "failed": v[1]} for op, v in sorted(operations.items())],
        "identityProviders": sorted(by_idp.values(), key=lambda row: str(row["idp"])),
        "tokens": token_rows, "unknownKeyIds": unknown,
        "work": {"pending": pending, "givenUpUnreported": unreported, "givenUpReported": reported,
                 "pendingPlacements": pending_placements, "digestsSent": len(digests),
                 "lastDigest": utc_iso_or_none(max((d.sent_at for d in digests), default=None))},
    }


HISTORY_PAGES = 50
"""Activity log pages one history request reads at most (20,000 records); the answer's cursor continues from there."""


def about_user(user_id: str, external_id: str | None) -> Callable[[ActivityRecord], bool]:
    """Whether an activity record is part of a user's story: a request about them, a group write that added or
    removed them, or a refused request that carried their externalId."""
    def matches(record: ActivityRecord) -> bool:
        return (record.resource_id == user_id or user_id in record.added or user_id in record.removed
                or bool(external_id) and record.resource_type == "User" and record.external_id == external_id)
    return matches


def history_entry(record: ActivityRecord, user_id: str) -> dict[str, Any]:
    """One event of a user's story, as the console's timeline shows it."""
    operation = record.operation.removeprefix("Manage.")
    access: list[str] = []
    if user_id in record.added:
        what, access = f"joined group {record.resource_id}", [f"gained membership of {s}" for s in record.scopes]
    elif user_id in record.removed:
        what, access = f"left group {record.resource_id}", [f"lost membership of {s} through it" for s in record.scopes]
    elif not record.succeeded:
        what = f"refused ({record.status}{' ' + record.scim_type if record.scim_type else ''})"
    elif operation.endswith(".Create"):
        what = "created"
    elif operation.endswith(".Delete"):
        what = "deleted"
    elif record.detail == "deactivated":
        what = "changed, now deactivated"
    elif operation.endswith((".Patch", ".Replace", ".Edit")):
        what = "changed"
    else:
        what = operation
    return {"time": utc_iso_or_none(record.time), "what": what, "operation": record.operation, "status": record.status,
            "resourceType": record.resource_type, "resourceId": record.resource_id, "externalId": record.external_id,
            "detail": record.detail, "idp": None if record.is_audit else record.idp,
            "actor": record.actor, "access": access}
