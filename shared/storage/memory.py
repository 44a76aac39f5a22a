"""In-memory implementations of every port in `shared/domain/ports.py` (and the retry queue), for fast domain
unit tests. The contract suite (`tests/storage/test_store_contract.py`) runs the same cases against these and the
Table stores on Azurite, so the two cannot drift apart. Never used by the app.

The model follows the Table stores where the domain can tell: ETags move with every write of a row (a user's also
when they join a group, so a delete conditioned on it cannot leave a membership behind); a membership change larger
than `inline_memberships` is recorded in the write and carried out by `pending.run` in batches, with the group
`Pending` until then; and `outage_after(n)` makes every call after the next `n` raise ServiceUnavailable (as a cut
storage connection would), so interrupted work can be tested without a network.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from shared.domain.accounts import Account
from shared.domain.activity import ActivityRecord
from shared.domain.auth import AccountLookup
from shared.domain.failures import Failure, NotifyState, SentDigest
from shared.domain.identifiers import candidate_identifiers
from shared.domain.jobs import Job
from shared.domain.oauth import OAuthClient
from shared.domain.ports import (
    AccessStore,
    AccountDirectory,
    ActivityStore,
    DriftStore,
    FailureLog,
    GroupStore,
    PagePositions,
    ReconcileLease,
    UserStore,
    WorkStore,
)
from shared.domain.repairs import IndexRepair, Lease, MembershipRows, ResourceRows, Sweep
from shared.domain.scopes import AdminRemovals, DirectMembership, Placement, RoleAssignment, ScopeRecord
from shared.domain.search import fold, group_terms, user_terms
from shared.domain.stored import (
    MEMBERS,
    PURGE_GROUP,
    PURGE_USER,
    Adoption,
    ChangedBy,
    GroupRef,
    GroupWrite,
    MembershipChange,
    PendingWork,
    StoredGroup,
    StoredGroupPlacement,
    StoredUser,
    VersionConflict,
)
from shared.domain.times import not_before
from shared.domain.tokens import TokenRecord
from shared.domain.work import JobQueue
from shared.errors import NotFound, ServiceUnavailable, Uniqueness

SCIM = "scim"


@dataclass
class _Group:
    attributes: dict[str, Any]
    created: datetime
    modified: datetime
    etag: str
    managed_by: str
    pending: str | None = None
    deleted: bool = False
    members: dict[str, str | None] = field(default_factory=dict)
    placements: tuple[Placement, ...] = ()


@dataclass
class _User:
    attributes: dict[str, Any]
    created: datetime
    modified: datetime
    version: int
    etag: str
    source: str
    integrations: frozenset[str]
    adopted: Adoption | None = None
    changed_by: ChangedBy | None = None
    groups: dict[str, tuple[str, str]] = field(default_factory=dict)
    """group id -> (display, managed by): the reverse rows"""


@dataclass
class _Work:
    work: PendingWork
    changes: list[tuple[str, str | None] | str]
    """What is left to do, in order: (user id, display) to add, or a user id to remove."""


class MemoryState:
    """One storage account's data, shared by the stores built on it (as the Table stores share tables)."""

    def __init__(self, inline_memberships: int = 32) -> None:
        self.inline_memberships = inline_memberships
        self.lock = threading.RLock()
        self.users: dict[tuple[str, str], _User] = {}
        self.groups: dict[tuple[str, str], _Group] = {}
        self.work: dict[tuple[str, str], _Work] = {}
        self.scopes: dict[tuple[str, str], ScopeRecord] = {}
        self.assignments: dict[tuple[str, str], RoleAssignment] = {}
        self.memberships: dict[tuple[str, str, str], DirectMembership] = {}
        self.admin_removals: dict[str, AdminRemovals] = {}
        self.calls = 0
        self._etags = itertools.count(1)
        self._calls_left: int | None = None

    def etag(self) -> str:
        return f'W/"{next(self._etags)}"'

    def outage_after(self, calls: int) -> None:
        """Lets `calls` more store calls through, then fails every one until `restore()`."""
        self._calls_left = calls

    def restore(self) -> None:
        self._calls_left = None

    def call(self) -> None:
        """One round trip: counted, and refused during an outage."""
        self.calls += 1
        if self._calls_left is not None:
            if self._calls_left <= 0:
                raise ServiceUnavailable("Storage is temporarily unavailable; nothing was changed. Retry later.")
            self._calls_left -= 1


class MemoryWorkStore:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    def record(self, account_id: str, kind: str, now: datetime, *, group_id: str | None = None,
               user_id: str | None = None, display: str | None = None, adds: list[tuple[str, str | None]] | None = None,
               removes: list[str] | None = None, refresh_display: bool = False) -> PendingWork:
        work = PendingWork(f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}", kind, now, group_id, user_id, display,
                           refresh_display=refresh_display)
        self._state.work[(account_id, work.id)] = _Work(work, [*(adds or []), *(removes or [])])
        return work

    def get(self, account_id: str, work_id: str) -> PendingWork | None:
        with self._state.lock:
            self._state.call()
            found = self._state.work.get((account_id, work_id))
            return found.work if found else None

    def pending(self, account_id: str) -> list[PendingWork]:
        with self._state.lock:
            self._state.call()
            return [w.work for (account, _), w in sorted(self._state.work.items()) if account == account_id]

    def run(self, account_id: str, work_id: str) -> list[str] | None:
        """Carried out a batch (one call) at a time, like the fenced batches of the Table store."""
        state = self._state
        ignored: list[str] = []
        while True:
            with state.lock:
                state.call()
                record = state.work.get((account_id, work_id))
                if record is None:
                    return ignored or None
                if self._step(account_id, record, ignored):
                    del state.work[(account_id, work_id)]
                    return ignored

    def _step(self, account_id: str, record: _Work, ignored: list[str]) -> bool:
        """Applies the next batch; True when the work is finished (its group no longer pending)."""
        state, work, size = self._state, record.work, self._state.inline_memberships
        group_id = str(work.group_id)
        group = state.groups.get((account_id, group_id))
        if work.kind == MEMBERS:
            batch, record.changes = record.changes[:size], record.changes[size:]
            if group is not None:
                display = str(group.attributes.get("displayName", ""))
                for change in batch:
                    if isinstance(change, str):
                        _leave(state, account_id, group_id, group, change)
                    elif not _join(state, account_id, group_id, group, change[0], change[1], display):
                        ignored.append(change[0])
            if record.changes:
                return False
            if group is not None:
                if work.refresh_display:
                    for user_id in group.members:
                        state.users[(account_id, user_id)].groups[group_id] = (str(work.display or ""), group.managed_by)
                group.pending, group.etag = None, state.etag()
            return True
        if work.kind == PURGE_GROUP:
            if group is not None:
                for user_id in list(group.members)[:size]:
                    _leave(state, account_id, group_id, group, user_id)
                if group.members:
                    return False
                del state.groups[(account_id, group_id)]
            return True
        if work.kind == PURGE_USER:
            holding = [g for (account, _), g in state.groups.items() if account == account_id and work.user_id in g.members]
            for g in holding[:size]:
                g.members.pop(str(work.user_id), None)
            return len(holding) <= size
        return True


def _join(state: MemoryState, account_id: str, group_id: str, group: _Group, user_id: str, shown: str | None,
          display: str) -> bool:
    """Both rows of the membership, and the user's row touched (its ETag moves); False if there is no such user."""
    user = state.users.get((account_id, user_id))
    if user is None:
        return False
    group.members[user_id] = shown
    user.groups[group_id] = (display, group.managed_by)
    user.etag = state.etag()
    return True


def _leave(state: MemoryState, account_id: str, group_id: str, group: _Group, user_id: str) -> None:
    group.members.pop(user_id, None)
    user = state.users.get((account_id, user_id))
    if user is not None:
        user.groups.pop(group_id, None)


class MemoryUserStore:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self.pending = MemoryWorkStore(state)

    def _stored(self, user_id: str, user: _User) -> StoredUser:
        return StoredUser(user_id, _copy(user.attributes), user.created, user.modified, user.version, user.etag,
                          [GroupRef(g, d, m) for g, (d, m) in sorted(user.groups.items())], user.source,
                          user.integrations, user.adopted, user.changed_by)

    def _name_taken(self, account_id: str, user_name: str, besides: str | None = None) -> bool:
        return any(account == account_id and uid != besides and u.attributes["userName"].lower() == user_name.lower()
                   for (account, uid), u in self._state.users.items())

    def create(self, account_id: str, user_id: str, attributes: dict[str, Any], now: datetime, source: str = SCIM,
               integrations: frozenset[str] = frozenset(), changed_by: ChangedBy | None = None) -> StoredUser:
        with self._state.lock:
            self._state.call()
            if self._name_taken(account_id, attributes["userName"]):
                raise Uniqueness(f"A user with userName {attributes['userName']!r} already exists in this account.")
            user = _User(_copy(attributes), now, now, 1, self._state.etag(), source, integrations,
                         changed_by=changed_by)
            self._state.users[(account_id, user_id)] = user
            return self._stored(user_id, user)

    def get(self, account_id: str, user_id: str) -> StoredUser:
        with self._state.lock:
            self._state.call()
            user = self._state.users.get((account_id, user_id))
            if user is None:
                raise NotFound(f"No user with id {user_id!r}.")
            return self._stored(user_id, user)

    def find_by_user_name(self, account_id: str, user_name: str) -> StoredUser | None:
        with self._state.lock:
            self._state.call()
            for (account, user_id), user in self._state.users.items():
                if account == account_id and user.attributes["userName"].lower() == user_name.lower():
                    return self._stored(user_id, user)
            return None

    def find_by_external_id(self, account_id: str, external_id: str) -> list[StoredUser]:
        with self._state.lock:
            self._state.call()
            return [self._stored(uid, u) for (account, uid), u in sorted(self._state.users.items())
                    if account == account_id and u.attributes.get("externalId") == external_id]

    def scan(self, account_id: str) -> Iterator[StoredUser]:
        with self._state.lock:
            self._state.call()
            found = [self._stored(uid, u) for (account, uid), u in sorted(self._state.users.items()) if account == account_id]
        yield from found

    def _ids(self, account_id: str, start: str | None) -> list[str]:
        return sorted(uid for (account, uid) in self._state.users if account == account_id and uid >= (start or ""))

    def search(self, account_id: str, query: str, limit: int) -> list[str]:
        with self._state.lock:
            self._state.call()
            return _found(((term, uid) for (account, uid), u in self._state.users.items() if account == account_id
                           for term in user_terms(u.attributes)), fold(query), limit)

    def page(self, account_id: str, start: str | None, limit: int) -> tuple[list[StoredUser], str | None]:
        with self._state.lock:
            self._state.call()
            ids = self._ids(account_id, start)
            return ([self._stored(uid, self._state.users[(account_id, uid)]) for uid in ids[:limit]],
                    ids[limit] if len(ids) > limit else None)

    def skip(self, account_id: str, start: str | None, offset: int) -> str | None:
        with self._state.lock:
            self._state.call()
            ids = self._ids(account_id, start)
            return ids[offset] if len(ids) > offset else None

    def _by_name(self, account_id: str, start: str | None) -> list[tuple[str, str]]:
        return sorted((u.attributes["userName"].lower() + "\0" + uid, uid) for (account, uid), u in self._state.users.items()
                      if account == account_id and u.attributes["userName"].lower() + "\0" + uid >= (start or ""))

    def page_by_name(self, account_id: str, start: str | None, limit: int) -> tuple[list[StoredUser], str | None]:
        with self._state.lock:
            self._state.call()
            return _window(self._by_name(account_id, start), limit,
                           lambda uid: self._stored(uid, self._state.users[(account_id, uid)]))

    def skip_by_name(self, account_id: str, start: str | None, offset: int) -> str | None:
        with self._state.lock:
            self._state.call()
            return _position(self._by_name(account_id, start), offset)

    def count(self, account_id: str) -> int:
        with self._state.lock:
            self._state.call()
            return len(self._ids(account_id, None))

    def get_many(self, account_id: str, user_ids: list[str]) -> list[StoredUser]:
        with self._state.lock:
            self._state.call()
            return [self._stored(uid, self._state.users[(account_id, uid)]) for uid in user_ids
                    if (account_id, uid) in self._state.users]

    def update(self, account_id: str, current: StoredUser, attributes: dict[str, Any], now: datetime,
               integrations: frozenset[str] | None = None, adopted: Adoption | None = None,
               changed_by: ChangedBy | None = None) -> StoredUser:
        now = not_before(now, current.last_modified, current.created)
        with self._state.lock:
            self._state.call()
            user = self._state.users.get((account_id, current.id))
            if user is None or user.etag != current.etag:
                raise VersionConflict(current.id)
            if self._name_taken(account_id, attributes["userName"], besides=current.id):
                raise Uniqueness(f"A user with userName {attributes['userName']!r} already exists in this account.")
            user.attributes, user.modified, user.version = _copy(attributes), now, user.version + 1
            user.integrations = current.integrations if integrations is None else integrations
            user.adopted = user.adopted or adopted
            user.changed_by = changed_by or user.changed_by
            user.etag = self._state.etag()
            return self._stored(current.id, user)

    def delete(self, account_id: str, current: StoredUser, now: datetime) -> PendingWork | None:
        with self._state.lock:
            self._state.call()
            user = self._state.users.get((account_id, current.id))
            if user is None or user.etag != current.etag:
                raise VersionConflict(current.id)
            del self._state.users[(account_id, current.id)]
            if len(user.groups) <= self._state.inline_memberships:
                for group_id in user.groups:
                    group = self._state.groups.get((account_id, group_id))
                    if group is not None:
                        group.members.pop(current.id, None)
                return None
            return self.pending.record(account_id, PURGE_USER, now, user_id=current.id)


class MemoryGroupStore:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self.pending = MemoryWorkStore(state)

    def _stored(self, group_id: str, group: _Group) -> StoredGroup:
        return StoredGroup(group_id, _copy(group.attributes), group.created, group.modified, group.etag,
                           group.managed_by, group.pending, group.placements)

    def _name_holder(self, account_id: str, display_name: str) -> str | None:
        for (account, group_id), group in self._state.groups.items():
            if account == account_id and group.managed_by == SCIM and not group.deleted \
                    and str(group.attributes["displayName"]).lower() == display_name.lower():
                return group_id
        return None

    def create(self, account_id: str, attributes: dict[str, Any], now: datetime, managed_by: str = SCIM,
               members: dict[str, str | None] | None = None,
               placements: tuple[Placement, ...] = ()) -> tuple[StoredGroup, GroupWrite]:
        with self._state.lock:
            self._state.call()
            display = str(attributes["displayName"])
            if managed_by == SCIM and self._name_holder(account_id, display) is not None:
                raise Uniqueness(f"A group with displayName {display!r} already exists.")
            group_id = next(i for i in candidate_identifiers(display) if (account_id, i) not in self._state.groups)
            group = _Group(_copy(attributes), now, now, self._state.etag(), managed_by, placements=placements)
            self._state.groups[(account_id, group_id)] = group
            written = self._change(account_id, group_id, group, MembershipChange(dict(members or {}), set()), now, False)
            return self._stored(group_id, group), written

    def get(self, account_id: str, group_id: str) -> StoredGroup:
        with self._state.lock:
            self._state.call()
            group = self._state.groups.get((account_id, group_id))
            if group is None or group.deleted:
                raise NotFound(f"No group with id {group_id!r}.")
            return self._stored(group_id, group)

    def get_many(self, account_id: str, group_ids: list[str]) -> list[StoredGroup]:
        with self._state.lock:
            self._state.call()
            return [self._stored(gid, self._state.groups[(account_id, gid)]) for gid in group_ids
                    if (account_id, gid) in self._state.groups and not self._state.groups[(account_id, gid)].deleted]

    def members(self, account_id: str, group_id: str) -> Iterator[tuple[str, str | None]]:
        with self._state.lock:
            self._state.call()
            group = self._state.groups.get((account_id, group_id))
            found = sorted(group.members.items()) if group else []
        yield from found

    def members_of_groups(self, account_id: str, group_ids: list[str]) -> dict[str, list[tuple[str, str | None]]]:
        with self._state.lock:
            self._state.call()
            return {g: sorted(self._state.groups[(account_id, g)].members.items())
                    if (account_id, g) in self._state.groups else [] for g in group_ids}

    def member_page(self, account_id: str, group_id: str, start: str | None,
                    limit: int) -> tuple[list[str], str | None]:
        ids = [user_id for user_id, _ in self.members(account_id, group_id) if start is None or user_id >= start]
        return ids[:limit], ids[limit] if len(ids) > limit else None

    def member_skip(self, account_id: str, group_id: str, start: str | None, offset: int) -> str | None:
        ids = [user_id for user_id, _ in self.members(account_id, group_id) if start is None or user_id >= start]
        return ids[offset] if offset < len(ids) else None

    def members_among(self, account_id: str, group_id: str, user_ids: list[str]) -> set[str]:
        return {user_id for user_id, _ in self.members(account_id, group_id)} & set(user_ids)

    def member_counts(self, account_id: str, groups: list[StoredGroup]) -> dict[str, int]:
        found = self.members_of_groups(account_id, [group.id for group in groups])
        return {group_id: len(members) for group_id, members in found.items()}

    def find_by_display_name(self, account_id: str, display_name: str) -> StoredGroup | None:
        with self._state.lock:
            self._state.call()
            group_id = self._name_holder(account_id, display_name)
            return self._stored(group_id, self._state.groups[(account_id, group_id)]) if group_id else None

    def find_by_external_id(self, account_id: str, external_id: str) -> list[StoredGroup]:
        with self._state.lock:
            self._state.call()
            return [self._stored(gid, g) for (account, gid), g in sorted(self._state.groups.items())
                    if account == account_id and not g.deleted and g.attributes.get("externalId") == external_id]

    def scan(self, account_id: str) -> Iterator[StoredGroup]:
        with self._state.lock:
            self._state.call()
            found = [self._stored(gid, g) for (account, gid), g in sorted(self._state.groups.items())
                     if account == account_id and not g.deleted]
        yield from found

    def search(self, account_id: str, query: str, limit: int) -> list[str]:
        with self._state.lock:
            self._state.call()
            return _found(((term, gid) for (account, gid), g in self._state.groups.items()
                           if account == account_id and not g.deleted for term in group_terms(g.attributes)),
                          fold(query), limit)

    def _ids(self, account_id: str, start: str | None, managed_by: str) -> list[str]:
        return sorted(gid for (account, gid), g in self._state.groups.items() if account == account_id
                      and not g.deleted and g.managed_by == managed_by and gid >= (start or ""))

    def page(self, account_id: str, start: str | None, limit: int,
             managed_by: str = SCIM) -> tuple[list[StoredGroup], str | None]:
        with self._state.lock:
            self._state.call()
            ids = self._ids(account_id, start, managed_by)
            return ([self._stored(gid, self._state.groups[(account_id, gid)]) for gid in ids[:limit]],
                    ids[limit] if len(ids) > limit else None)

    def skip(self, account_id: str, start: str | None, offset: int, managed_by: str = SCIM) -> str | None:
        with self._state.lock:
            self._state.call()
            ids = self._ids(account_id, start, managed_by)
            return ids[offset] if len(ids) > offset else None

    def _by_name(self, account_id: str, start: str | None) -> list[tuple[str, str]]:
        return sorted((str(g.attributes["displayName"]).lower() + "\0" + gid, gid)
                      for (account, gid), g in self._state.groups.items() if account == account_id and not g.deleted
                      and g.managed_by == SCIM and str(g.attributes["displayName"]).lower() + "\0" + gid >= (start or ""))

    def page_by_name(self, account_id: str, start: str | None, limit: int) -> tuple[list[StoredGroup], str | None]:
        with self._state.lock:
            self._state.call()
            return _window(self._by_name(account_id, start), limit,
                           lambda gid: self._stored(gid, self._state.groups[(account_id, gid)]))

    def skip_by_name(self, account_id: str, start: str | None, offset: int) -> str | None:
        with self._state.lock:
            self._state.call()
            return _position(self._by_name(account_id, start), offset)

    def count(self, account_id: str, managed_by: str = SCIM) -> int:
        with self._state.lock:
            self._state.call()
            return len(self._ids(account_id, None, managed_by))

    def update(self, account_id: str, current: StoredGroup, attributes: dict[str, Any], change: MembershipChange,
               now: datetime, placements: tuple[Placement, ...] | None = None) -> GroupWrite:
        if current.pending:
            raise ValueError("a group with pending work is written only after that work is finished")
        now = not_before(now, current.last_modified, current.created)
        with self._state.lock:
            self._state.call()
            group = self._state.groups.get((account_id, current.id))
            if group is None or group.deleted or group.etag != current.etag:
                raise VersionConflict(current.id)
            display = str(attributes["displayName"])
            renamed = display != group.attributes.get("displayName")
            if renamed and group.managed_by == SCIM and self._name_holder(account_id, display) not in (None, current.id):
                raise Uniqueness(f"A group with displayName {display!r} already exists.")
            if change.replace_all:
                change = MembershipChange(change.adds, set(group.members) - set(change.adds))
            moved = placements is not None and placements != group.placements
            if attributes == group.attributes and not change.adds and not change.removes and not moved:
                return GroupWrite([], None)
            group.attributes, group.modified = _copy(attributes), now
            if placements is not None:
                group.placements = placements
            return self._change(account_id, current.id, group, change, now, renamed)

    def _change(self, account_id: str, group_id: str, group: _Group, change: MembershipChange, now: datetime,
                renamed: bool) -> GroupWrite:
        """Applies a membership change now, or records it when it is larger than one write holds (or a rename)."""
        state = self._state
        group.etag = state.etag()
        adds = list(change.adds.items())
        removes = sorted(change.removes - set(change.adds))
        if renamed or len(adds) + len(removes) > state.inline_memberships:
            work = self.pending.record(account_id, MEMBERS, now, group_id=group_id, display=group.attributes["displayName"],
                                       adds=adds, removes=removes, refresh_display=renamed)
            group.pending = work.id
            return GroupWrite([], work)
        display = str(group.attributes["displayName"])
        ignored = [u for u, shown in adds if not _join(state, account_id, group_id, group, u, shown, display)]
        for user_id in removes:
            _leave(state, account_id, group_id, group, user_id)
        return GroupWrite(sorted(ignored), None)

    def placements(self, account_id: str) -> dict[str, StoredGroupPlacement]:
        with self._state.lock:
            self._state.call()
            return {gid: StoredGroupPlacement(g.created, g.managed_by, g.placements)
                    for (account, gid), g in sorted(self._state.groups.items()) if account == account_id and not g.deleted}

    def delete(self, account_id: str, current: StoredGroup, now: datetime) -> PendingWork:
        if current.pending:
            raise ValueError("a group with pending work is deleted only after that work is finished")
        with self._state.lock:
            self._state.call()
            group = self._state.groups.get((account_id, current.id))
            if group is None or group.deleted or group.etag != current.etag:
                raise VersionConflict(current.id)
            work = self.pending.record(account_id, PURGE_GROUP, now, group_id=current.id)
            group.deleted, group.pending, group.etag = True, work.id, self._state.etag()
            return work


class MemoryDriftStore:
    """Memory holds no derived rows (indexes are computed), so only membership drift can exist here."""

    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._sweeps: dict[str, Sweep] = {}

    def scan(self, account_id: str, bucket: int = 0, buckets: int = 1) -> ResourceRows:
        with self._state.lock:
            self._state.call()
            rows = ResourceRows()  # memory is small: one slice holds everything
            for (account, user_id), user in self._state.users.items():
                if account == account_id:
                    rows.users[user_id] = _copy(user.attributes)
                    rows.reverse.update((user_id, g) for g in user.groups)
            for (account, group_id), group in self._state.groups.items():
                if account == account_id:
                    if not group.deleted:
                        rows.groups[group_id] = (_copy(group.attributes), group.managed_by)
                    rows.forward.update((group_id, u) for u in group.members)
            return replace(rows, entities=len(rows.users) + len(rows.groups) + len(rows.forward) + len(rows.reverse))

    def resource_exists(self, account_id: str, resource_type: str, resource_id: str) -> bool:
        with self._state.lock:
            self._state.call()
            if resource_type == "User":
                return (account_id, resource_id) in self._state.users
            group = self._state.groups.get((account_id, resource_id))
            return group is not None and not group.deleted

    def membership(self, account_id: str, group_id: str, user_id: str) -> MembershipRows:
        with self._state.lock:
            self._state.call()
            group = self._state.groups.get((account_id, group_id))
            user = self._state.users.get((account_id, user_id))
            forward = group.etag if group is not None and user_id in group.members else None
            reverse = user.etag if user is not None and group_id in user.groups else None
            return MembershipRows(forward, reverse)

    def remove_membership(self, account_id: str, group_id: str, user_id: str, seen: MembershipRows) -> bool:
        with self._state.lock:
            if self.membership(account_id, group_id, user_id) != seen:
                return False
            group = self._state.groups.get((account_id, group_id))
            if group is not None:
                _leave(self._state, account_id, group_id, group, user_id)
            else:
                self._state.users[(account_id, user_id)].groups.pop(group_id, None)
            return True

    def restore_reverse(self, account_id: str, group_id: str, user_id: str, seen: MembershipRows, display: str,
                        managed_by: str) -> bool:
        with self._state.lock:
            user = self._state.users.get((account_id, user_id))
            if seen.forward is None or seen.reverse is not None or user is None \
                    or self.membership(account_id, group_id, user_id) != seen:
                return False
            user.groups[group_id] = (display, managed_by)
            return True

    def fold_counts(self, account_id: str) -> int:
        return 0  # counted directly

    def fold_member_counts(self, account_id: str) -> int:
        return 0

    def sweep(self, account_id: str) -> Sweep | None:
        return self._sweeps.get(account_id)

    def begin_sweep(self, account_id: str, buckets: int, now: datetime) -> Sweep:
        self._sweeps[account_id] = Sweep(0, 1, now, "")
        return self._sweeps[account_id]

    def advance_sweep(self, account_id: str, sweep: Sweep) -> Sweep:
        self._sweeps[account_id] = replace(sweep, bucket=sweep.bucket + 1)
        return self._sweeps[account_id]

    def written_since(self, account_id: str, sweep: Sweep) -> bool:
        return True  # memory keeps no write times

    def users_to_sweep(self, account_id: str) -> int:
        return sum(1 for (account, _) in self._state.users if account == account_id)

    def repair_indexes(self, account_id: str, rows: ResourceRows) -> IndexRepair:
        return IndexRepair()


class MemoryFailureLog:
    def __init__(self, state: MemoryState) -> None:
        self._state = state
        self._unreported: dict[tuple[str, str], Failure] = {}
        self._reported: dict[tuple[str, str], Failure] = {}
        self._states: dict[str, NotifyState] = {}
        self._digests: dict[tuple[str, str], SentDigest] = {}

    def record(self, account_id: str, failure: Failure) -> bool:
        with self._state.lock:
            self._state.call()
            key = (account_id, failure.job_id)
            if key in self._unreported or key in self._reported:
                return False
            self._unreported[key] = failure
            return True

    def unreported(self, account_id: str) -> list[Failure]:
        with self._state.lock:
            self._state.call()
            return sorted((f for (a, _), f in self._unreported.items() if a == account_id), key=lambda f: f.last_attempt)

    def reported(self, account_id: str) -> list[Failure]:
        with self._state.lock:
            self._state.call()
            return sorted((f for (a, _), f in self._reported.items() if a == account_id), key=lambda f: f.last_attempt)

    def digests(self, account_id: str) -> list[SentDigest]:
        with self._state.lock:
            self._state.call()
            return sorted((d for (a, _), d in self._digests.items() if a == account_id), key=lambda d: d.sent_at,
                          reverse=True)

    def mark_reported(self, account_id: str, failures: list[Failure]) -> None:
        with self._state.lock:
            self._state.call()
            for failure in failures:
                self._unreported.pop((account_id, failure.job_id), None)
                self._reported[(account_id, failure.job_id)] = failure

    def purge_reported(self, account_id: str, before: datetime) -> int:
        with self._state.lock:
            self._state.call()
            old = [k for k, f in self._reported.items() if k[0] == account_id and f.last_attempt < before]
            for key in old:
                del self._reported[key]
            return len(old)

    def state(self, account_id: str) -> NotifyState:
        with self._state.lock:
            self._state.call()
            return self._states.get(account_id, NotifyState(None, None, None, None))

    def save_state(self, account_id: str, previous: NotifyState, last_sent: datetime | None,
                   scheduled_digest: str | None, scheduled_for: datetime | None) -> bool:
        with self._state.lock:
            self._state.call()
            if self._states.get(account_id, NotifyState(None, None, None, None)).etag != previous.etag:
                return False
            self._states[account_id] = NotifyState(last_sent, scheduled_digest, scheduled_for, self._state.etag())
            return True

    def digest_sent(self, account_id: str, digest_id: str) -> bool:
        with self._state.lock:
            self._state.call()
            return (account_id, digest_id) in self._digests

    def mark_digest_sent(self, account_id: str, digest_id: str, now: datetime, count: int) -> None:
        with self._state.lock:
            self._state.call()
            self._digests[(account_id, digest_id)] = SentDigest(digest_id, now, count)


class MemoryActivity:
    def __init__(self) -> None:
        self.records: list[tuple[str, ActivityRecord]] = []
        self.lost_records = 0

    def record(self, account_id: str, entry: ActivityRecord, logged: bool = True) -> None:
        if logged:
            self.records.append((account_id, entry))

    def purge(self, account_id: str, before: datetime) -> int:
        kept = [(a, r) for a, r in self.records if a != account_id or r.time >= before]
        purged, self.records = len(self.records) - len(kept), kept
        return purged

    def write_spilled(self, account_id: str, records: str) -> None:
        raise NotImplementedError("memory records are never spilled")

    def lost(self, account_id: str, count: int, reason: str) -> None:
        self.lost_records += count


class MemoryLease:
    def __init__(self) -> None:
        self._holder: tuple[str, datetime] | None = None
        self._checkpoint = ""
        self._lock = threading.Lock()

    def acquire(self, now: datetime, duration: timedelta) -> Lease | None:
        with self._lock:
            if self._holder is not None and self._holder[1] > now:
                return None
            holder = uuid.uuid4().hex
            self._holder = (holder, now + duration)
            return Lease(holder, self._checkpoint, holder)

    def release(self, lease: Lease, checkpoint: str, now: datetime) -> None:
        with self._lock:
            if self._holder is not None and self._holder[0] == lease.holder:
                self._holder, self._checkpoint = None, checkpoint


class MemoryAccounts:
    """Accounts and their tokens (the AccountDirectory and the authenticator's AccountLookup)."""

    def __init__(self, *accounts: Account) -> None:
        self._accounts = {a.id: a for a in accounts}
        self._tokens: dict[tuple[str, str], TokenRecord] = {}
        self._clients: dict[tuple[str, str], OAuthClient] = {}

    def get_client(self, account_id: str, client_id: str) -> OAuthClient | None:
        return self._clients.get((account_id, client_id))

    def clients(self, account_id: str) -> list[OAuthClient]:
        return sorted((c for (a, _), c in self._clients.items() if a == account_id), key=lambda c: c.created)

    def save_client(self, client: OAuthClient) -> None:
        self._clients[(client.account_id, client.client_id)] = client

    def add_token(self, record: TokenRecord) -> None:
        self._tokens[(record.account_id, record.key_id)] = record

    def get_token(self, account_id: str, key_id: str) -> TokenRecord | None:
        return self._tokens.get((account_id, key_id))

    def get(self, account_id: str) -> Account | None:
        return self._accounts.get(account_id)

    def all(self) -> list[Account]:
        return sorted(self._accounts.values(), key=lambda a: a.id)


class MemoryQueue:
    """The retry queue: jobs in the order sent, with their delays."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Job, float]] = []

    def enqueue(self, job: Job, delay_seconds: float = 0) -> None:
        self.jobs.append((job, delay_seconds))


T = TypeVar("T")


def _window(rows: list[tuple[str, str]], limit: int, stored: Callable[[str], T]) -> tuple[list[T], str | None]:
    """(name key, id) rows in order -> the first `limit` resources and the key of the next (the stores' pages)."""
    return [stored(resource_id) for _, resource_id in rows[:limit]], (rows[limit][0] if len(rows) > limit else None)


def _position(rows: list[tuple[str, str]], offset: int) -> str | None:
    return rows[offset][0] if len(rows) > offset else None


def _found(terms: Iterator[tuple[str, str]], query: str, limit: int) -> list[str]:
    """As the Table stores answer a search: distinct ids of the terms starting with `query`, in (term, id) order."""
    found: dict[str, None] = {}
    for _, resource_id in sorted(pair for pair in terms if pair[0].startswith(query))[:limit]:
        found[resource_id] = None
    return list(found)


def _copy(attributes: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(attributes)


class MemoryAccessStore:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    def create_scope(self, account_id: str, record: ScopeRecord) -> None:
        with self._state.lock:
            self._state.call()
            if (account_id, record.scope) in self._state.scopes:
                raise Uniqueness(f"{record.scope!r} exists.")
            self._state.scopes[(account_id, record.scope)] = record

    def scopes(self, account_id: str) -> list[ScopeRecord]:
        with self._state.lock:
            self._state.call()
            return [r for (a, _), r in sorted(self._state.scopes.items()) if a == account_id]

    def delete_scope(self, account_id: str, scope: str) -> bool:
        with self._state.lock:
            self._state.call()
            return self._state.scopes.pop((account_id, scope), None) is not None

    def add_assignment(self, account_id: str, assignment: RoleAssignment) -> None:
        with self._state.lock:
            self._state.call()
            if (account_id, assignment.id) in self._state.assignments:
                raise Uniqueness(f"Assignment {assignment.id!r} exists.")
            self._state.assignments[(account_id, assignment.id)] = assignment

    def get_assignment(self, account_id: str, assignment_id: str) -> RoleAssignment:
        with self._state.lock:
            self._state.call()
            found = self._state.assignments.get((account_id, assignment_id))
            if found is None:
                raise NotFound(f"No role assignment with id {assignment_id!r}.")
            return found

    def assignments(self, account_id: str) -> list[RoleAssignment]:
        with self._state.lock:
            self._state.call()
            return [r for (a, _), r in sorted(self._state.assignments.items()) if a == account_id]

    def assignments_of(self, account_id: str, user_id: str) -> tuple[list[RoleAssignment], list[DirectMembership]]:
        with self._state.lock:
            self._state.call()
            return ([r for (a, _), r in sorted(self._state.assignments.items())
                     if a == account_id and r.principal.type == "user" and r.principal.id == user_id],
                    [m for (a, _, u), m in sorted(self._state.memberships.items()) if a == account_id and u == user_id])

    def group_assignments(self, account_id: str) -> list[RoleAssignment]:
        with self._state.lock:
            self._state.call()
            return [r for (a, _), r in sorted(self._state.assignments.items())
                    if a == account_id and r.principal.type == "group"]

    def assignments_of_group(self, account_id: str, group_id: str) -> list[RoleAssignment]:
        return [a for a in self.group_assignments(account_id) if a.principal.id == group_id]

    def delete_assignments(self, account_id: str, assignments: list[RoleAssignment]) -> None:
        with self._state.lock:
            self._state.call()
            for assignment in assignments:
                self._state.assignments.pop((account_id, assignment.id), None)

    def add_membership(self, account_id: str, membership: DirectMembership) -> None:
        with self._state.lock:
            self._state.call()
            self._state.memberships[(account_id, membership.scope, membership.user_id)] = membership

    def remove_membership(self, account_id: str, scope: str, user_id: str) -> bool:
        with self._state.lock:
            self._state.call()
            return self._state.memberships.pop((account_id, scope, user_id), None) is not None

    def scope_memberships(self, account_id: str, scope: str) -> list[DirectMembership]:
        with self._state.lock:
            self._state.call()
            return [m for (a, s, _), m in sorted(self._state.memberships.items()) if a == account_id and s == scope]

    def delete_memberships(self, account_id: str, memberships: list[DirectMembership]) -> None:
        with self._state.lock:
            self._state.call()
            for membership in memberships:
                self._state.memberships.pop((account_id, membership.scope, membership.user_id), None)

    def admin_removals(self, account_id: str) -> AdminRemovals:
        with self._state.lock:
            self._state.call()
            return self._state.admin_removals.get(account_id, AdminRemovals({}, None))

    def claim_admin_removal(self, account_id: str, seen: AdminRemovals, claims: dict[str, datetime]) -> bool:
        with self._state.lock:
            self._state.call()
            if self._state.admin_removals.get(account_id, AdminRemovals({}, None)).etag != seen.etag:
                return False
            self._state.admin_removals[account_id] = AdminRemovals(dict(claims), self._state.etag())
            return True


class MemoryPagePositions:
    def __init__(self) -> None:
        self._positions: dict[tuple[str, str], dict[int, str]] = {}
        self._key = secrets.token_bytes(32)

    def known(self, account_id: str, query: str, start_index: int) -> dict[int, str]:
        return dict(self._positions.get((account_id, query), {}))

    def remember(self, account_id: str, query: str, known: dict[int, str], start_index: int, start_id: str) -> None:
        self._positions[(account_id, query)] = {**known, start_index: start_id}

    def signing_key(self) -> bytes:
        return self._key


def _conforms(state: MemoryState) -> tuple[UserStore, GroupStore, WorkStore, DriftStore, FailureLog, ActivityStore,
                                           ReconcileLease, AccountDirectory, AccountLookup, JobQueue, PagePositions,
                                           AccessStore]:
    """Never called: mypy checks here that each memory store implements its port."""
    return (MemoryUserStore(state), MemoryGroupStore(state), MemoryWorkStore(state), MemoryDriftStore(state),
            MemoryFailureLog(state), MemoryActivity(), MemoryLease(), MemoryAccounts(), MemoryAccounts(),
            MemoryQueue(), MemoryPagePositions(), MemoryAccessStore(state))
