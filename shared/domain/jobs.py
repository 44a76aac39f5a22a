"""Jobs on the `scim-retry` queue: re-apply recorded work, send an account's failure digest, or write activity records
the log's writer could not.

Each job has a `job_id`, so a redelivered message (queue delivery is at-least-once) can be recognised.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

RETRY_QUEUE = "scim-retry"
POISON_QUEUE = "scim-retry-poison"


class MalformedJob(ValueError):
    """A message that can never succeed: dropped on purpose (and logged)."""


@dataclass(frozen=True)
class RetryWork:
    """Finish a recorded change (shared/storage/pending.py) that could not be completed inline."""

    account_id: str
    work_id: str
    operation: str = ""
    resource_type: str = ""
    resource_id: str = ""
    external_id: str = ""
    invocation_id: str = ""
    last_error: str = ""
    notify_to: str = ""
    """The account's notification address when the job was queued (used if storage is down when it is given up)."""
    queued_at: str = ""
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    kind: str = "retry_work"


@dataclass(frozen=True)
class SendDigest:
    """Send the account's digest of given-up work, `digest_id` names the digest (one window of one account)."""

    account_id: str
    digest_id: str
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    kind: str = "send_digest"


@dataclass(frozen=True)
class WriteActivity:
    """Activity records the background writer could not write to the log (storage faltering): written from here."""

    account_id: str
    records: str
    """The records as the log stores them (a JSON array), at most SPILL_CHARACTERS."""
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    kind: str = "write_activity"


SPILL_CHARACTERS = 40_000
"""A queue message holds 64 KiB (base64 of it, less): the records a WriteActivity job carries at most."""

Job = RetryWork | SendDigest | WriteActivity


def serialize(job: Job) -> str:
    return json.dumps(asdict(job), separators=(",", ":"))


def parse(body: bytes | str) -> Job:
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedJob(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedJob("not a JSON object")
    kinds: dict[str, type[RetryWork] | type[SendDigest] | type[WriteActivity]] = {
        "retry_work": RetryWork, "send_digest": SendDigest, "write_activity": WriteActivity}
    job_type = kinds.get(str(data.get("kind")))
    if job_type is None:
        raise MalformedJob(f"unknown job kind {data.get('kind')!r}")
    try:
        job = job_type(**data)
    except TypeError as exc:
        raise MalformedJob(f"bad fields: {exc}") from None
    if not job.account_id or not all(isinstance(v, str) for v in asdict(job).values()):
        raise MalformedJob("fields must be strings and account_id is required")
    return job
