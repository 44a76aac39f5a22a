"""The digest email about given-up work: pure (failures in, subject and text out)."""

from __future__ import annotations

from datetime import datetime

from shared.domain.failures import Failure

MAX_LISTED = 50


def render_digest(account_id: str, failures: list[Failure], now: datetime) -> tuple[str, str]:
    count = len(failures)
    subject = f"SCIM provisioning: {count} operation{'s' if count != 1 else ''} could not be completed for account {account_id}"
    lines = [
        f"Provisioning from Microsoft Entra ID to account {account_id} left {count} operation(s) incomplete after "
        "every retry. Entra was told these requests succeeded, so it will not send them again by itself.",
        "",
    ]
    for failure in failures[:MAX_LISTED]:
        what = f"{failure.resource_type} {failure.resource_id}".strip() or "resource unknown"
        lines += [
            f"- {failure.operation or 'operation'} on {what}"
            + (f" (Entra externalId {failure.external_id})" if failure.external_id else ""),
            f"  last error: {failure.last_error or 'unknown'}",
            f"  attempts: {failure.attempts}, first {failure.first_attempt:%Y-%m-%d %H:%M:%S} UTC, "
            f"last {failure.last_attempt:%Y-%m-%d %H:%M:%S} UTC",
            f"  invocation id: {failure.invocation_id or '-'}; work id: {failure.work_id or '-'}"
            + {"reconcile": "; found by the reconcile timer",
               "access": "; a notice: the identity provider's write was applied"}.get(failure.source, ""),
        ]
    if count > MAX_LISTED:
        lines.append(f"... and {count - MAX_LISTED} more (python manage.py retries list {account_id}).")
    lines += [
        "",
        "What to do:",
        f"1. See what is pending or given up: python manage.py retries list {account_id}",
        "2. Fix the cause (usually storage availability; see the last error).",
        f"3. Re-drive the given-up work: python manage.py retries redrive {account_id}",
        "   or restart provisioning for the affected users and groups in Entra (Provision on demand).",
        "",
        f"Sent {now:%Y-%m-%d %H:%M} UTC. At most one such email per account per notification window.",
    ]
    return subject, "\n".join(lines)
