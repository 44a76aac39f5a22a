"""What the domain needs from storage. `shared/storage/*_table.py` implements it on Table Storage.

Contract for every store method: the account id scopes every read and write (data of another account is never
seen); results are copies the caller may change; `NotFound`, `Uniqueness` and `VersionConflict` are the only
errors for the cases they name, and a storage outage surfaces as `ServiceUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class VersionConflict(Exception):
    """The stored row changed since it was read (its ETag no longer matches): re-read and try again."""


@dataclass(frozen=True)
class GroupRef:
    id: str
    display: str
    managed_by: str = "scim"


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


@dataclass(frozen=True)
class MembershipResult:
    ignored: list[str]
    """Member ids that are not users of this account: ignored, as Entra expects."""
    work_id: str | None
    """Set when the change was too large for one transaction and was recorded as pending work first."""


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

    @property
    def display_name(self) -> str:
        return str(self.attributes["displayName"])

    @property
    def version(self) -> str:
        """meta.version: derived from the row's ETag, so it changes with every write, members included."""
        import hashlib

        return f'W/"{hashlib.sha256(self.etag.encode()).hexdigest()[:16]}"'


class UserStore(Protocol):
    def create(self, account_id: str, user_id: str, attributes: dict[str, Any], now: datetime, source: str = "scim",
               integrations: frozenset[str] = frozenset()) -> StoredUser:
        """Creates the user and its index rows atomically; raises Uniqueness if the userName is taken."""

    def get(self, account_id: str, user_id: str) -> StoredUser:
        """The user with its groups; raises NotFound."""

    def find_by_user_name(self, account_id: str, user_name: str) -> StoredUser | None:
        """The user whose userName equals `user_name` case-insensitively."""

    def find_by_external_id(self, account_id: str, external_id: str) -> list[StoredUser]:
        """Users whose externalId equals `external_id` exactly (externalId is caseExact and not unique)."""

    def scan(self, account_id: str) -> Iterator[StoredUser]:
        """Every user of the account in a stable order (by id), streamed page by page."""

    def update(self, account_id: str, current: StoredUser, attributes: dict[str, Any], now: datetime,
               integrations: frozenset[str] | None = None) -> StoredUser:
        """Replaces the attributes if the user is still at `current.etag` (else VersionConflict), moving index rows
        in the same transaction; raises Uniqueness if a new userName is taken."""

    def delete(self, account_id: str, current: StoredUser, now: datetime) -> None:
        """Deletes the user, its index rows and memberships if still at `current.etag` (else VersionConflict)."""
