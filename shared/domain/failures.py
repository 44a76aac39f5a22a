"""Work given up and the digest emails about it (`FailureLog` in ports.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Failure:
    """Work the retry queue gave up on, or damage the reconcile pass could not repair: reported by digest."""

    job_id: str
    operation: str
    resource_type: str
    resource_id: str
    external_id: str
    last_error: str
    attempts: int
    first_attempt: datetime
    last_attempt: datetime
    invocation_id: str
    work_id: str
    source: str
    """`retry` (the retry queue gave up) or `reconcile` (damage the reconcile timer could not repair)."""


@dataclass(frozen=True)
class SentDigest:
    digest_id: str
    sent_at: datetime
    failures: int


@dataclass(frozen=True)
class NotifyState:
    last_sent: datetime | None
    scheduled_digest: str | None
    scheduled_for: datetime | None
    etag: str | None
