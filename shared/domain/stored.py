"""Users and groups as the stores hold them, their membership changes and the work recorded for changes too large
for one transaction (`UserStore`, `GroupStore`, `WorkStore` in ports.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.domain.jobs import RetryWork
from shared.domain.scopes import Placement


class VersionConflict(Exception):
    """The stored row changed since it was read (its ETag no longer matches): re-read and try again."""


@dataclass(frozen=True)
class GroupRef:
    id: str
    display: str
    managed_by: str = "scim"
    tally: str | None = None
    """The group's member count kind (storage's), so removing the user from it counts."""


@dataclass(frozen=True)
class Adoption:
    """A native user taken over by an identity provider (matched and updated by SCIM): managed there from then on."""

    idp: str
    integration: str
    at: datetime


@dataclass(frozen=True)
class ChangedBy:
    """Which token (key id) of which identity provider made a user's latest change through SCIM."""

    key_id: str
    idp: str


@dataclass(frozen=True)
class StoredUser:
    id: str
    attributes: dict[str, Any]
    created: datetime
    last_modified: datetime
    version: int
    etag: str
    groups: list[GroupRef] = field(default_factory=list)
    source: str = "scim"
    """`scim` (provisioned by Entra) or `native` (created in the application)."""
    integrations: frozenset[str] = frozenset()
    """The app integrations (current/legacy) whose tokens have provisioned this user."""
    adopted: Adoption | None = None
    """For a native user: when and by which identity provider SCIM first changed it."""
    changed_by: ChangedBy | None = None
    """The token and identity provider of the latest SCIM write (None: never written through SCIM)."""

    @property
    def user_name(self) -> str:
        return str(self.attributes["userName"])


@dataclass(frozen=True)
class MembershipChange:
    """The net effect of a request on a group's members."""

    adds: dict[str, str | None]
    """user id -> display as sent (or None)"""
    removes: set[str]
    replace_all: bool = False
    """Remove every current member not in `adds` (PUT, replace members, remove all)."""

    @property
    def empty(self) -> bool:
        return not self.adds and not self.removes and not self.replace_all


MEMBERS = "members"
PURGE_GROUP = "purge_group"
PURGE_USER = "purge_user"
RESOURCE_TYPES = {MEMBERS: "Group", PURGE_GROUP: "Group", PURGE_USER: "User"}


@dataclass(frozen=True)
class PendingWork:
    """A change too large for one transaction, recorded in its first one and carried out in fenced batches."""

    id: str
    kind: str
    """MEMBERS (a group's member changes and/or members' display refresh), PURGE_GROUP or PURGE_USER."""
    created: datetime
    group_id: str | None = None
    user_id: str | None = None
    display: str | None = None
    operation: str = ""
    external_id: str = ""
    invocation_id: str = ""
    refresh_display: bool = False
    """A group rename: members' `groups[].display` (their reverse rows) are rewritten after the member changes."""
    tally: str | None = None
    """The group's member count kind: the changes count there (MEMBERS), or it is deleted (PURGE_GROUP)."""

    @property
    def resource_type(self) -> str:
        return RESOURCE_TYPES.get(self.kind, "")

    @property
    def resource_id(self) -> str:
        return self.group_id or self.user_id or ""

    def retry_job(self, account_id: str, last_error: str, notify_to: str = "") -> RetryWork:
        return RetryWork(account_id=account_id, work_id=self.id, operation=self.operation,
                         resource_type=self.resource_type, resource_id=self.resource_id, external_id=self.external_id,
                         invocation_id=self.invocation_id, last_error=last_error, notify_to=notify_to,
                         queued_at=self.created.isoformat())


@dataclass(frozen=True)
class GroupWrite:
    """What a group store write did."""

    ignored: list[str]
    """Member ids that are not users of this account: ignored, as Entra expects."""
    work: PendingWork | None
    """Recorded in the write's transaction, still to be carried out (a large change, or a rename's refresh)."""


MANAGED_BY_SCIM = "scim"
MANAGED_BY_NATIVE = "native"


@dataclass(frozen=True)
class StoredGroup:
    id: str
    attributes: dict[str, Any]
    created: datetime
    last_modified: datetime
    etag: str
    managed_by: str
    """`scim` (provisioned by Entra: locked in the application) or `native` (created in the application)."""
    pending: str | None = None
    """Id of recorded work on this group not yet carried out: every later write finishes it first."""
    placements: tuple[Placement, ...] = ()
    """Where the group is placed (written with the group row); () = the account only."""
    tally: str | None = None
    """Where storage counts its members (None: a group from before counting began, counted by reading them)."""

    @property
    def display_name(self) -> str:
        return str(self.attributes["displayName"])

    @property
    def version(self) -> str:
        """meta.version: derived from the row's ETag, so it changes with every write, members included."""
        import hashlib

        return f'W/"{hashlib.sha256(self.etag.encode()).hexdigest()[:16]}"'


@dataclass(frozen=True)
class StoredGroupPlacement:
    """A group's placements with what their validity needs (the group's generation and who manages it)."""

    created: datetime
    managed_by: str
    placements: tuple[Placement, ...]
