"""The activity log's vocabulary: a record per request, what counts as the admin audit, and the hourly counts the
console's overview reads (stored by `ActivityStore`, shared/storage/activity_table.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.domain.times import utc_iso

MAX_IGNORED_LISTED = 20
MAX_MEMBERS_LISTED = 100
"""Users listed per group write in the activity log (Entra adds at most 100 per PATCH; a larger write lists its
first 100 and says how many in its detail)."""


AUDIT_PREFIXES = ("Manage.", "CLI.", "Activity.")
"""Operations of the admin audit (the management API and the command line); every other one is provisioning."""


def is_audit(operation: str) -> bool:
    return operation.startswith(AUDIT_PREFIXES)


@dataclass(frozen=True)
class ActivityNote:
    """What a request's activity record says beyond its outcome, as the use case reports it: a detail for a success
    (a user's state after the change, how many members a large write moved), whether part of the work was left to
    the retry queue, member ids that are no users, the users added and removed, and the scopes they joined or left."""

    detail: str = ""
    queued: bool = False
    ignored: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActivityRecord:
    time: datetime
    operation: str
    method: str
    resource_type: str
    resource_id: str
    external_id: str
    status: int
    scim_type: str
    detail: str
    duration_ms: float
    invocation_id: str
    integration: str
    queued: bool
    """The request succeeded but part of its work was left to the retry queue."""
    idp: str = "entra"
    """The identity provider whose token made the request (entra, okta, onelogin)."""
    ignored: int = 0
    """Member ids the request named that are no users of the account (ignored, as Entra expects)."""
    ignored_ids: tuple[str, ...] = ()
    """The first MAX_IGNORED_LISTED of them."""
    actor: str = ""
    """Who: the key id of the token presented (never its secret), or `cli:<user>` for a command-line change."""
    count: int = 1
    """How many requests the record stands for: more than 1 for refused authentications aggregated per minute."""
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    """Users a group write added and removed (the first MAX_MEMBERS_LISTED of each): each user's history."""
    scopes: tuple[str, ...] = ()
    """Where that group was placed: the scopes those users joined or left (their access gained or lost)."""

    @property
    def succeeded(self) -> bool:
        return self.status < 400

    @property
    def is_audit(self) -> bool:
        """A record of the admin audit, not of provisioning."""
        return is_audit(self.operation)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = utc_iso(self.time)
        return {"".join(w.title() if i else w for i, w in enumerate(k.split("_"))): v for k, v in data.items()}


MAX_ACTORS_PER_HOUR = 200
"""Tokens remembered per hour and process (the most recent): a flood of made-up key ids cannot grow it unbounded."""


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class HourCounts:
    """One account's counts for one hour (in one process, or summed over them)."""

    hour: datetime
    operations: dict[str, list[int]] = field(default_factory=dict)
    """operation -> [succeeded, failed]"""
    actors: dict[str, tuple[datetime, str, str]] = field(default_factory=dict)
    """token key id -> (last seen, identity provider, operation)"""

    def add(self, record: ActivityRecord) -> None:
        counts = self.operations.setdefault(record.operation, [0, 0])
        counts[0 if record.succeeded else 1] += record.count
        if record.actor:
            seen = self.actors.get(record.actor)
            if seen is None or record.time > seen[0]:
                self.actors[record.actor] = (record.time, "admin" if record.is_audit else record.idp, record.operation)
            if len(self.actors) > MAX_ACTORS_PER_HOUR:
                oldest = min(self.actors, key=lambda key: self.actors[key][0])
                del self.actors[oldest]

    def merge(self, other: HourCounts) -> None:
        for operation, (ok, failed) in other.operations.items():
            counts = self.operations.setdefault(operation, [0, 0])
            counts[0] += ok
            counts[1] += failed
        for actor, seen in other.actors.items():
            if actor not in self.actors or seen[0] > self.actors[actor][0]:
                self.actors[actor] = seen


NO_NOTE = ActivityNote()


def request_record(note: ActivityNote, *, time: datetime, operation: str, method: str, resource_type: str,
                   resource_id: str, external_id: str, status: int, scim_type: str, detail: str, duration_ms: float,
                   invocation_id: str, integration: str, idp: str, actor: str) -> ActivityRecord:
    """The record of one request (or one Bulk operation): its outcome, and what its note adds, the member lists
    cut to what a record lists."""
    return ActivityRecord(
        time=time, operation=operation, method=method, resource_type=resource_type, resource_id=resource_id,
        external_id=external_id, status=status, scim_type=scim_type, detail=detail, duration_ms=duration_ms,
        invocation_id=invocation_id, integration=integration, queued=note.queued, idp=idp, ignored=len(note.ignored),
        ignored_ids=note.ignored[:MAX_IGNORED_LISTED], actor=actor, added=note.added[:MAX_MEMBERS_LISTED],
        removed=note.removed[:MAX_MEMBERS_LISTED], scopes=note.scopes if note.added or note.removed else ())
