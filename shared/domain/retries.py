"""The retry queue's jobs, the poison queue, and the digest emails to each account's notification address.

- `handle_retry`: finishes recorded work (idempotent). A transient failure is raised so the Functions host retries
  the message (visibilityTimeout between attempts, maxDequeueCount attempts, then `scim-retry-poison`); a job that
  can never succeed (malformed, account gone) is logged and dropped on purpose.
- `handle_poisoned`: runs on `scim-retry-poison`, so the email never depends on the main trigger seeing a "last
  attempt" (the host can poison a message without invoking it). It records the failure and schedules a digest.
- Digests: at most one per account per NOTIFY_WINDOW_MINUTES; everything unreported goes into the next one; the send
  is itself a queued job whose digest id is marked once sent, so a redelivered job does not send it again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared import telemetry
from shared.config import Settings
from shared.domain import times
from shared.domain.failures import Failure
from shared.domain.jobs import Job, MalformedJob, RetryWork, SendDigest, WriteActivity, parse
from shared.domain.ports import AccountDirectory, ActivityStore, FailureLog, WorkStore
from shared.domain.work import JobQueue, complete
from shared.errors import ServiceUnavailable
from shared.notifications.digest import render_digest
from shared.notifications.email import Mailer

log = logging.getLogger("scim.retries")

SCHEDULE_GRACE = timedelta(minutes=30)
"""A digest scheduled this long ago and still not sent is considered lost (e.g. its enqueue failed): reschedule."""


@dataclass
class RetryContext:
    settings: Settings
    accounts: AccountDirectory
    pending: WorkStore
    failures: FailureLog
    queue: JobQueue
    mailer: Mailer | None
    max_attempts: int
    activity: ActivityStore | None = None


def _records_in(job: WriteActivity) -> int:
    """How many activity records a given-up job held (its JSON array; 1 if even that cannot be read)."""
    try:
        records = json.loads(job.records)
    except ValueError:
        return 1
    return len(records) if isinstance(records, list) else 1


def _parse_or_drop(body: bytes, queue: str) -> Job | None:
    """The job, or None for a message that can never succeed (logged, then dropped on purpose)."""
    try:
        return parse(body)
    except MalformedJob as exc:
        log.error("dropping malformed %s message: %s", queue, exc)
        return None


def handle_retry(ctx: RetryContext, body: bytes, now: datetime) -> str:
    """Returns what happened (for the invocation log); raises on a transient failure."""
    job = _parse_or_drop(body, "retry")
    if job is None:
        return "dropped: malformed"
    if ctx.accounts.get(job.account_id) is None:
        log.error("dropping job %s: account %s no longer exists", job.job_id, job.account_id)
        return "dropped: account gone"
    if isinstance(job, SendDigest):
        return send_digest(ctx, job, now)
    if isinstance(job, WriteActivity):
        if ctx.activity is None:
            raise RuntimeError("no activity log to write spilled records to")
        ctx.activity.write_spilled(job.account_id, job.records)
        return "activity records written"
    ignored = complete(ctx.pending, job.account_id, job.work_id)
    if ignored is None:
        return "nothing left to do"
    if ignored:
        log.warning("work %s ignored member ids that are not users of the account: %s", job.work_id, ", ".join(ignored[:20]))
    return "completed"


def handle_poisoned(ctx: RetryContext, body: bytes, now: datetime) -> str:
    job = _parse_or_drop(body, "poison")
    if job is None:
        return "dropped: malformed"
    if isinstance(job, WriteActivity):
        if ctx.activity is not None:
            ctx.activity.lost(job.account_id, _records_in(job), f"given up after {ctx.max_attempts} attempts")
        return "activity records given up"
    if isinstance(job, SendDigest):
        log.error("digest %s for account %s could not be sent after %d attempts; its failures stay unreported "
                  "and go into the next digest", job.digest_id, job.account_id, ctx.max_attempts)
        _clear_schedule(ctx, job.account_id, job.digest_id)
        return "digest given up"
    telemetry.poisoned_counter.add(1, {telemetry.OPERATION: job.operation})
    try:
        work = ctx.pending.get(job.account_id, job.work_id)
    except ServiceUnavailable:
        return _tell_directly(ctx, job, now)
    failure = Failure(
        job_id=job.job_id, operation=job.operation or (work.operation if work else ""),
        resource_type=job.resource_type or (work.resource_type if work else ""),
        resource_id=job.resource_id or (work.resource_id if work else ""),
        external_id=job.external_id or (work.external_id if work else ""), last_error=job.last_error,
        attempts=ctx.max_attempts, first_attempt=work.created if work else now, last_attempt=now,
        invocation_id=job.invocation_id or (work.invocation_id if work else ""), work_id=job.work_id, source="retry")
    try:
        if ctx.failures.record(job.account_id, failure):
            schedule_digest(ctx, job.account_id, now)
    except ServiceUnavailable:
        return _tell_directly(ctx, job, now)
    return "recorded"


def _tell_directly(ctx: RetryContext, job: RetryWork, now: datetime) -> str:
    """Table storage is down, so neither the failure nor the digest state can be recorded: email this one failure
    now rather than not at all. The work itself stays recorded (it was written before the outage) for the reconcile
    timer and `manage.py retries redrive`."""
    recipient = job.notify_to or ctx.settings.notify_default_email
    if ctx.mailer is None or not recipient:
        log.error("given up: %s on %s %s of account %s (work %s, last error: %s); storage is down and no mail "
                  "transport or address is configured", job.operation, job.resource_type, job.resource_id,
                  job.account_id, job.work_id, job.last_error)
        return "given up: not reported (storage down, no transport)"
    first = datetime.fromisoformat(job.queued_at) if job.queued_at else now
    failure = Failure(job_id=job.job_id, operation=job.operation, resource_type=job.resource_type,
                      resource_id=job.resource_id, external_id=job.external_id, last_error=job.last_error,
                      attempts=ctx.max_attempts, first_attempt=first, last_attempt=now, invocation_id=job.invocation_id,
                      work_id=job.work_id, source="retry")
    subject, text = render_digest(job.account_id, [failure], now)
    _send(ctx.mailer, recipient, subject, text, f"{job.account_id}-{job.job_id}")
    return "given up: reported directly (storage down)"


def record_failure(ctx: RetryContext, account_id: str, failure: Failure, now: datetime) -> None:
    """Damage found elsewhere (reconcile) that could not be repaired: reported like given-up work."""
    if ctx.failures.record(account_id, failure):
        schedule_digest(ctx, account_id, now)


def schedule_digest(ctx: RetryContext, account_id: str, now: datetime) -> None:
    """Queues the account's next digest unless one is already on its way."""
    state = ctx.failures.state(account_id)
    if state.scheduled_digest and state.scheduled_for and state.scheduled_for > now - SCHEDULE_GRACE:
        return
    window = timedelta(minutes=ctx.settings.notify_window_minutes)
    send_at = max(now, state.last_sent + window) if state.last_sent else now
    digest_id = f"{account_id}-{send_at:%Y%m%dT%H%M%S}"
    if not ctx.failures.save_state(account_id, state, state.last_sent, digest_id, send_at):
        return  # another instance scheduled it first
    ctx.queue.enqueue(SendDigest(account_id=account_id, digest_id=digest_id), (send_at - now).total_seconds())


def send_digest(ctx: RetryContext, job: SendDigest, now: datetime) -> str:
    if ctx.failures.digest_sent(job.account_id, job.digest_id):
        return "already sent"
    failures = ctx.failures.unreported(job.account_id)
    if not failures:
        _clear_schedule(ctx, job.account_id, job.digest_id)
        return "nothing to report"
    account = ctx.accounts.get(job.account_id)
    recipient = (account.notification_email if account else None) or ctx.settings.notify_default_email
    if ctx.mailer is None or not recipient:
        log.warning("account %s has %d unreported failure(s) but no %s is configured; they stay recorded "
                    "(python manage.py retries list %s)", job.account_id, len(failures),
                    "mail transport" if ctx.mailer is None else "notification address", job.account_id)
        _clear_schedule(ctx, job.account_id, job.digest_id)
        return "not sent: no transport or address"
    subject, text = render_digest(job.account_id, failures, now)
    _send(ctx.mailer, recipient, subject, text, job.digest_id)
    ctx.failures.mark_digest_sent(job.account_id, job.digest_id, now, len(failures))
    ctx.failures.mark_reported(job.account_id, failures)
    state = ctx.failures.state(job.account_id)
    ctx.failures.save_state(job.account_id, state, now, None, None)
    if ctx.failures.unreported(job.account_id):  # recorded while this one was being sent
        schedule_digest(ctx, job.account_id, times.now())
    return f"sent {len(failures)} failure(s) to the notification address"


def _send(mailer: Mailer, recipient: str, subject: str, text: str, message_id: str) -> None:
    try:
        mailer.send(recipient, subject, text, message_id)
    except Exception:
        telemetry.emails_counter.add(1, {telemetry.OUTCOME: "failure"})
        raise  # the send job is retried by the host
    telemetry.emails_counter.add(1, {telemetry.OUTCOME: "success"})


def _clear_schedule(ctx: RetryContext, account_id: str, digest_id: str) -> None:
    state = ctx.failures.state(account_id)
    if state.scheduled_digest == digest_id:
        ctx.failures.save_state(account_id, state, state.last_sent, None, None)


def redrive(ctx: RetryContext, account_id: str) -> int:
    """Queues every recorded, unfinished piece of work of the account again (an operator's re-drive after fixing
    the cause); the work is idempotent, so re-driving something already done is harmless."""
    count = 0
    for work in ctx.pending.pending(account_id):
        ctx.queue.enqueue(work.retry_job(account_id, "re-driven by an operator"))
        count += 1
    return count
