"""An account's own administration through the management API (and the console built on it): its settings, its
SCIM tokens and its failed work. Every change here is a management request, so it is audited like the others
(scim_handlers/http_io.py records who made it)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from shared.domain.accounts import UPDATE_EMAILS_VIA_SCIM, Account, AccountError, validate_email
from shared.domain.ports import Failure, PendingWork, SentDigest
from shared.domain.tokens import IDPS, INTEGRATIONS, SCOPES, MintedToken, TokenRecord, mint
from shared.errors import InvalidValue


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


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


def token_view(record: TokenRecord, now: datetime, last_used: datetime | None = None) -> dict[str, Any]:
    """A token as the console lists it: never its secret or hash. `lastUsed` comes from the activity log's recent
    records (null: not used recently)."""
    return {"keyId": record.key_id, "scope": record.scope, "integration": record.integration, "idp": record.idp,
            "created": _iso(record.created), "expires": _iso(record.expires), "revoked": _iso(record.revoked),
            "lastUsed": _iso(last_used), "state": record.state(now)}


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
            "operation": work.operation, "created": _iso(work.created), "invocationId": work.invocation_id}


def failure_view(failure: Failure) -> dict[str, Any]:
    return {"jobId": failure.job_id, "operation": failure.operation, "resourceType": failure.resource_type,
            "resourceId": failure.resource_id, "externalId": failure.external_id, "lastError": failure.last_error,
            "attempts": failure.attempts, "firstAttempt": _iso(failure.first_attempt),
            "lastAttempt": _iso(failure.last_attempt), "workId": failure.work_id, "source": failure.source}


def digest_view(digest: SentDigest) -> dict[str, Any]:
    return {"digestId": digest.digest_id, "sentAt": _iso(digest.sent_at), "failures": digest.failures}
