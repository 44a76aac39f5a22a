"""What the domain needs from storage. `shared/storage/*_table.py` implements it on Table Storage.

Contract for every store method: the account id scopes every read and write (data of another account is never
seen); results are copies the caller may change; `NotFound`, `Uniqueness` and `VersionConflict` are the only
errors for the cases they name, and a storage outage surfaces as `ServiceUnavailable`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.domain.accounts import Account
from shared.domain.activity import ActivityRecord
from shared.domain.failures import Failure, NotifyState, SentDigest
from shared.domain.repairs import IndexRepair, Lease, MembershipRows, ResourceRows, Sweep
from shared.domain.scopes import AdminRemovals, DirectMembership, Placement, RoleAssignment, ScopeRecord
from shared.domain.stored import (
    Adoption,
    ChangedBy,
    GroupWrite,
    MembershipChange,
    PendingWork,
    StoredGroup,
    StoredGroupPlacement,
    StoredUser,
)


class WorkStore(Protocol):
    """Recorded work (a change larger than one transaction)."""

    def run(self, account_id: str, work_id: str) -> list[str] | None:
        """Carries the work out, fenced against other executors and idempotent: the member ids it ignored, or None
        if it was already done. Returns only once it is done; ServiceUnavailable if storage fails on the way."""

    def get(self, account_id: str, work_id: str) -> PendingWork | None:
        """The work, if it is still recorded."""

    def pending(self, account_id: str) -> list[PendingWork]:
        """Every piece of work of the account still recorded."""


class UserStore(Protocol):
    @property
    def pending(self) -> WorkStore:
        """The account's recorded work (shared by users and groups)."""

    def create(self, account_id: str, user_id: str, attributes: dict[str, Any], now: datetime, source: str = "scim",
               integrations: frozenset[str] = frozenset(), changed_by: ChangedBy | None = None) -> StoredUser:
        """Creates the user and its index rows atomically; raises Uniqueness if the userName is taken."""

    def get(self, account_id: str, user_id: str) -> StoredUser:
        """The user with its groups; raises NotFound."""

    def find_by_user_name(self, account_id: str, user_name: str) -> StoredUser | None:
        """The user whose userName equals `user_name` case-insensitively."""

    def find_by_external_id(self, account_id: str, external_id: str) -> list[StoredUser]:
        """Users whose externalId equals `external_id` exactly (externalId is caseExact and not unique)."""

    def scan(self, account_id: str) -> Iterator[StoredUser]:
        """Every user of the account in a stable order (by id), streamed page by page."""

    def search(self, account_id: str, query: str, limit: int) -> list[str]:
        """Ids of the users with a term (shared/domain/search.py) starting with `query` once folded, distinct, in
        term order, from at most `limit` index rows: a range read of the search index, never a scan."""

    def page(self, account_id: str, start: str | None, limit: int) -> tuple[list[StoredUser], str | None]:
        """Up to `limit` users in id order from the id `start` (inclusive; None: from the first), and the id of the
        next user (None: no more). Costs one page of storage work wherever `start` is."""

    def skip(self, account_id: str, start: str | None, offset: int) -> str | None:
        """The id of the user `offset` places after `start` in id order (None: past the end); reads keys only."""

    def page_by_name(self, account_id: str, start: str | None, limit: int) -> tuple[list[StoredUser], str | None]:
        """As `page`, in userName order (case-insensitive) from the opaque position `start`, read from the userName
        index: one page of storage work wherever the page is."""

    def skip_by_name(self, account_id: str, start: str | None, offset: int) -> str | None:
        """As `skip`, in userName order."""

    def count(self, account_id: str) -> int:
        """How many users the account has, exactly, without reading them (counted as they are created and
        deleted, in the same transactions)."""

    def get_many(self, account_id: str, user_ids: list[str]) -> list[StoredUser]:
        """The users among `user_ids` that exist, in that order: one read per user, made in parallel (for a page of
        a group's members: one wave of round trips, however large the group)."""

    def update(self, account_id: str, current: StoredUser, attributes: dict[str, Any], now: datetime,
               integrations: frozenset[str] | None = None, adopted: Adoption | None = None,
               changed_by: ChangedBy | None = None) -> StoredUser:
        """Replaces the attributes if the user is still at `current.etag` (else VersionConflict), moving index rows
        in the same transaction; raises Uniqueness if a new userName is taken. `adopted` is recorded if the user
        has no adoption yet (the first one is kept); `changed_by` replaces the stored one (None keeps it)."""

    def delete(self, account_id: str, current: StoredUser, now: datetime) -> PendingWork | None:
        """Deletes the user, its index rows and memberships if still at `current.etag` (else VersionConflict); a
        user in too many groups for one transaction leaves the purge of its memberships recorded (returned)."""


class GroupStore(Protocol):
    @property
    def pending(self) -> WorkStore:
        """The account's recorded work (shared by users and groups)."""

    def create(self, account_id: str, attributes: dict[str, Any], now: datetime, managed_by: str = "scim",
               members: dict[str, str | None] | None = None,
               placements: tuple[Placement, ...] = ()) -> tuple[StoredGroup, GroupWrite]:
        """Claims the first free identifier for the display name (Uniqueness if a SCIM group has the name) and
        writes the group with its placements and members atomically, or with the record of the members when they
        are too many for one transaction (GroupWrite.work, to be carried out like an update's)."""

    def get(self, account_id: str, group_id: str) -> StoredGroup:
        """The group (SCIM or native); NotFound, also for a deleted group whose purge is still pending."""

    def get_many(self, account_id: str, group_ids: list[str]) -> list[StoredGroup]:
        """The groups among `group_ids` that exist, in that order, read in parallel (one wave of round trips)."""

    def members(self, account_id: str, group_id: str) -> Iterator[tuple[str, str | None]]:
        """(user id, display as sent) of every member, streamed."""

    def members_of_groups(self, account_id: str, group_ids: list[str]) -> dict[str, list[tuple[str, str | None]]]:
        """group id -> (user id, display as sent) of its members, for a page of groups: the cost grows with the
        member rows read, not with the number of groups."""

    def member_page(self, account_id: str, group_id: str, start: str | None,
                    limit: int) -> tuple[list[str], str | None]:
        """Up to `limit` member ids in id order from `start` (inclusive; None: the first) and the id after them
        (None at the end): a page's cost."""

    def member_skip(self, account_id: str, group_id: str, start: str | None, offset: int) -> str | None:
        """The member id `offset` members after `start` (None: past the end)."""

    def members_among(self, account_id: str, group_id: str, user_ids: list[str]) -> set[str]:
        """Which of `user_ids` are members of the group (bounded by the ids asked, at most by the group)."""

    def member_counts(self, account_id: str, groups: list[StoredGroup]) -> dict[str, int]:
        """group id -> how many members, without reading them for groups whose members are counted (`tally`)."""

    def find_by_display_name(self, account_id: str, display_name: str) -> StoredGroup | None:
        """The SCIM group whose displayName equals `display_name` case-insensitively."""

    def find_by_external_id(self, account_id: str, external_id: str) -> list[StoredGroup]:
        """Groups whose externalId equals `external_id` exactly."""

    def scan(self, account_id: str) -> Iterator[StoredGroup]:
        """Every group of the account (SCIM and native) in id order, streamed."""

    def search(self, account_id: str, query: str, limit: int) -> list[str]:
        """Ids of the groups (SCIM and native) with a term starting with `query` once folded, as UserStore.search."""

    def page(self, account_id: str, start: str | None, limit: int,
             managed_by: str = "scim") -> tuple[list[StoredGroup], str | None]:
        """Up to `limit` groups managed by `managed_by`, in id order from the id `start` (inclusive), and the id of
        the next one (None: no more): one page of storage work wherever `start` is."""

    def skip(self, account_id: str, start: str | None, offset: int, managed_by: str = "scim") -> str | None:
        """The id of the group `offset` places after `start` (None: past the end); reads keys only."""

    def page_by_name(self, account_id: str, start: str | None, limit: int) -> tuple[list[StoredGroup], str | None]:
        """The SCIM groups in displayName order (case-insensitive) from the opaque position `start`, from the
        displayName index: one page of storage work wherever the page is."""

    def skip_by_name(self, account_id: str, start: str | None, offset: int) -> str | None:
        """As `skip`, in displayName order."""

    def count(self, account_id: str, managed_by: str = "scim") -> int:
        """How many groups `managed_by` manages, exactly, without reading them."""

    def update(self, account_id: str, current: StoredGroup, attributes: dict[str, Any], change: MembershipChange,
               now: datetime, placements: tuple[Placement, ...] | None = None) -> GroupWrite:
        """Writes new attributes, placements (None: unchanged) and a membership change if the group is still at
        `current.etag` (else VersionConflict), placements in the group row's own write; a change too large for one
        transaction, or a rename, is recorded (GroupWrite.work)."""

    def placements(self, account_id: str) -> dict[str, StoredGroupPlacement]:
        """group id -> how every group of the account is placed, in one projected scan of the group rows (one
        round trip per 1,000 groups, whatever the groups' sizes)."""

    def delete(self, account_id: str, current: StoredGroup, now: datetime) -> PendingWork:
        """Deletes the group if still at `current.etag` (else VersionConflict), recording the purge of its members."""


class DriftStore(Protocol):
    """The reconcile pass's view of an account's partition. Every repair is conditional on what was re-read just
    before it, so a repair never undoes a write made meanwhile by another instance."""

    def scan(self, account_id: str, bucket: int = 0, buckets: int = 1) -> ResourceRows:
        """The account's rows of slice `bucket` of `buckets`: the users whose id falls in it (by a hash), their
        memberships in both directions and their index rows, and every group (with the groups' index rows in slice
        0). One pass over the partition, holding only the slice: memory is bounded by the slice, not the account."""

    def resource_exists(self, account_id: str, resource_type: str, resource_id: str) -> bool:
        """Whether the User or Group (not a deleted group whose purge is pending) exists now."""

    def membership(self, account_id: str, group_id: str, user_id: str) -> MembershipRows:
        """The membership's two rows as they are now."""

    def remove_membership(self, account_id: str, group_id: str, user_id: str, seen: MembershipRows) -> bool:
        """Deletes both rows if they are still as `seen`; False if either changed meanwhile."""

    def restore_reverse(self, account_id: str, group_id: str, user_id: str, seen: MembershipRows, display: str,
                        managed_by: str) -> bool:
        """Writes the missing reverse row in one transaction with a check that the member row is still as `seen`."""

    def sweep(self, account_id: str) -> Sweep | None:
        """Where the account's sweep stands (None: never swept)."""

    def begin_sweep(self, account_id: str, buckets: int, now: datetime) -> Sweep:
        """Starts a sweep in `buckets` slices and marks when (in storage's own time, not a host's)."""

    def advance_sweep(self, account_id: str, sweep: Sweep) -> Sweep:
        """Records that slice `sweep.bucket` is done."""

    def written_since(self, account_id: str, sweep: Sweep) -> bool:
        """Whether any row of the account was written after the sweep began (reads no row when none was)."""

    def users_to_sweep(self, account_id: str) -> int:
        """How many users the account has (from its count: no scan), to size a sweep's slices."""

    def fold_counts(self, account_id: str) -> int:
        """Folds the account's count deltas into their tallies (users, SCIM and native groups), so a count stays one
        short range read; returns how many deltas were folded."""

    def fold_member_counts(self, account_id: str) -> int:
        """The same for the members of groups with many deltas (reads every group's member count rows, keys only:
        run with a sweep, never on a quiet account)."""

    def repair_indexes(self, account_id: str, rows: ResourceRows) -> IndexRepair:
        """Deletes index rows that point at a deleted or renamed resource and restores missing ones (each re-checked
        just before); reports unique names claimed by more than one resource."""


class FailureLog(Protocol):
    """Failures per account and the state of its digest emails."""

    def record(self, account_id: str, failure: Failure) -> bool:
        """False when this job's failure was already recorded (poison delivery is at-least-once)."""

    def unreported(self, account_id: str) -> list[Failure]:
        """Failures no digest has reported yet, oldest first."""

    def reported(self, account_id: str) -> list[Failure]:
        """Failures a digest has reported (kept for RETENTION_DAYS), oldest first."""

    def digests(self, account_id: str) -> list[SentDigest]:
        """The digest emails sent, newest first."""

    def mark_reported(self, account_id: str, failures: list[Failure]) -> None: ...

    def purge_reported(self, account_id: str, before: datetime) -> int:
        """Deletes reported failures last attempted before `before`; how many."""

    def state(self, account_id: str) -> NotifyState: ...

    def save_state(self, account_id: str, previous: NotifyState, last_sent: datetime | None,
                   scheduled_digest: str | None, scheduled_for: datetime | None) -> bool:
        """Conditional on `previous` (False if another instance changed the state first)."""

    def digest_sent(self, account_id: str, digest_id: str) -> bool: ...

    def mark_digest_sent(self, account_id: str, digest_id: str, now: datetime, count: int) -> None: ...


class ActivityStore(Protocol):
    def record(self, account_id: str, entry: ActivityRecord, logged: bool = True) -> None:
        """Non-blocking; may lose the last moments' records in a crash (never the SCIM data). A record not `logged`
        is only counted (hourly counts, when each token was last seen), not kept in the log."""

    def purge(self, account_id: str, before: datetime) -> int:
        """Deletes records older than `before`; how many."""

    def write_spilled(self, account_id: str, records: str) -> None:
        """Writes records that were spilled to the retry queue (a JSON array as the log stores them); raises if
        storage fails (the queue delivers the job again)."""

    def lost(self, account_id: str, count: int, reason: str) -> None:
        """Records that `count` activity records could not be written at all: counted in telemetry and kept in the
        log as an audit record (`Activity.RecordsLost`) once storage takes writes again."""


class ReconcileLease(Protocol):
    """Keeps two instances from reconciling at once, and where the last run stopped."""

    def acquire(self, now: datetime, duration: timedelta) -> Lease | None:
        """The lease, or None while another holder's lease runs."""

    def release(self, lease: Lease, checkpoint: str, now: datetime) -> None: ...


class AccessStore(Protocol):
    """Orgs and projects, role assignments and direct scope memberships of an account (`shared/domain/scopes.py`
    decides what of it is in effect). Every method is one round trip per 1,000 rows read, and every write of a row
    and its index rows is one transaction."""

    def create_scope(self, account_id: str, record: ScopeRecord) -> None:
        """Uniqueness if the org or project exists."""

    def scopes(self, account_id: str) -> list[ScopeRecord]:
        """Every org and project row of the account (a project's org may be gone: see `scopes.live_scopes`)."""

    def delete_scope(self, account_id: str, scope: str) -> bool:
        """False if there was no such row."""

    def add_assignment(self, account_id: str, assignment: RoleAssignment) -> None:
        """Uniqueness if an assignment with this id (the same scope, role, resource group and principal) exists."""

    def get_assignment(self, account_id: str, assignment_id: str) -> RoleAssignment:
        """NotFound if there is none."""

    def assignments(self, account_id: str) -> list[RoleAssignment]:
        """Every stored assignment of the account, in effect or not."""

    def assignments_of(self, account_id: str, user_id: str) -> tuple[list[RoleAssignment], list[DirectMembership]]:
        """The user's own assignments and direct scope memberships: one range read."""

    def group_assignments(self, account_id: str) -> list[RoleAssignment]:
        """Every assignment whose principal is a group: one range read per 1,000."""

    def assignments_of_group(self, account_id: str, group_id: str) -> list[RoleAssignment]:
        """The group's own assignments: one range read of its rows, whatever the account's other groups hold."""

    def delete_assignments(self, account_id: str, assignments: list[RoleAssignment]) -> None:
        """Deletes each (with its index row) that still exists."""

    def add_membership(self, account_id: str, membership: DirectMembership) -> None:
        """Upserts the user's direct membership of the scope."""

    def remove_membership(self, account_id: str, scope: str, user_id: str) -> bool:
        """False if there was none."""

    def scope_memberships(self, account_id: str, scope: str) -> list[DirectMembership]:
        """Direct members of exactly this scope, stored (in effect or not)."""

    def delete_memberships(self, account_id: str, memberships: list[DirectMembership]) -> None: ...

    def admin_removals(self, account_id: str) -> AdminRemovals:
        """The last-admin guard's row: one point read."""

    def claim_admin_removal(self, account_id: str, seen: AdminRemovals, claims: dict[str, datetime]) -> bool:
        """Writes `claims` as the row's, conditioned on the row being as `seen` (created if it was absent): False
        when another removal wrote it first."""


class AccountDirectory(Protocol):
    def get(self, account_id: str) -> Account | None: ...

    def all(self) -> list[Account]: ...


class PagePositions(Protocol):
    """Where index paging's pages start, remembered per account and query (a hint: losing it costs reads, never
    correctness), and the key that signs cursors (shared by every instance)."""

    def known(self, account_id: str, query: str, start_index: int) -> dict[int, str]:
        """startIndex -> id of the first resource of that page, for the pages remembered near `start_index`."""

    def remember(self, account_id: str, query: str, known: dict[int, str], start_index: int, start_id: str) -> None:
        """Remembers that the page at `start_index` starts at `start_id`."""

    def signing_key(self) -> bytes: ...
