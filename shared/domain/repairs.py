"""What the reconcile pass reads and repairs (`DriftStore`, `ReconcileLease` in ports.py): an account's rows by kind, a
sweep's position, one membership's two rows, name clashes, the lease."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ResourceRows:
    """What the reconcile pass sees of one account's resources and memberships (a scan, not a snapshot)."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    """user id -> attributes"""
    groups: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    """group id -> (attributes, managed by); deleted groups whose purge is pending are left out"""
    forward: set[tuple[str, str]] = field(default_factory=set)
    """(group id, user id) of every member row"""
    reverse: set[tuple[str, str]] = field(default_factory=set)
    """(user id, group id) of every reverse row (a user's `groups`)"""
    index_rows: dict[str, str] = field(default_factory=dict)
    """The store's uniqueness/lookup rows (opaque to the domain) -> the id each points at"""
    entities: int = 0
    group_indexes: bool = True
    """Whether this slice holds the groups' index rows (the first slice of a sweep does; every slice holds every
    group, so that a membership's group is known)."""


@dataclass(frozen=True)
class Sweep:
    """Where an account's sweep stands: slice `bucket` of `buckets` is next (`bucket == buckets`: finished)."""

    bucket: int
    buckets: int
    started: datetime
    """When the sweep began, by the host that began it (only the cadence depends on it)."""
    marker: str
    """The storage's own mark of when the sweep began (opaque): what was written after it is found by it."""

    @property
    def finished(self) -> bool:
        return self.bucket >= self.buckets


@dataclass(frozen=True)
class MembershipRows:
    """The two rows of one membership as read just now: their versions, or None where a row is absent."""

    forward: str | None
    reverse: str | None
    tally: str | None = None
    """The group's member count kind, from the forward row."""


@dataclass(frozen=True)
class NameClash:
    """Two or more resources claim one unique name (outside damage): nothing can choose between them."""

    resource_type: str
    claim: str
    owners: list[str]


@dataclass
class IndexRepair:
    repaired: Counter[str] = field(default_factory=Counter)
    """What was repaired, by kind"""
    clashes: list[NameClash] = field(default_factory=list)


@dataclass(frozen=True)
class Lease:
    holder: str
    checkpoint: str
    etag: str
