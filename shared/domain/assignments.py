"""Role assignments: made, listed (deleting what no longer holds), deleted; the last-admin guard; and the cleanup when
what an assignment hangs on goes (a group deleted, its placements moved). What is in effect is derived when read
(`shared/domain/scopes.py`): each assignment carries the generation it was made under and counts only while it holds.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.domain import scopes, times
from shared.domain.accounts import Account
from shared.domain.ports import AccessStore, GroupStore, UserStore
from shared.domain.reads import parallel
from shared.domain.scopes import (
    ACCOUNT_ADMIN,
    ACCOUNT_SCOPE,
    Principal,
    RoleAssignment,
    ScopeRecord,
)
from shared.domain.stored import StoredGroup, StoredGroupPlacement, StoredUser
from shared.domain.times import utc_iso
from shared.errors import InvalidValue, LastAccountAdmin, NotFound, ServiceUnavailable, Uniqueness

log = logging.getLogger("scim.access")

LAST_ADMIN = ("{what} would leave the account with nobody holding {role} (the last account admin cannot be removed): "
              "assign {role} to someone else first.")
SAME_INSTANT = timedelta(milliseconds=1)
"""Generations are compared as stored times (storage keeps microseconds): within this they are the same."""


def placement_of(group: StoredGroup) -> StoredGroupPlacement:
    """What validity needs of a group just read (as `GroupStore.placements` gives it for every group)."""
    return StoredGroupPlacement(group.created, group.managed_by, group.placements)


def existing_scope(access: AccessStore, account: Account, scope: str) -> dict[str, ScopeRecord]:
    alive = scopes.live_scopes(access.scopes(account.id))
    if not scopes.scope_exists(scope, alive):
        raise NotFound(f"No {scopes.level(scope)} {scopes.render(account.id, scope)!r}.")
    return alive


# --- role assignments ---------------------------------------------------------------------------------------

def assignment_id(scope: str, role: str, resource_group: str, principal: Principal) -> str:
    """The same grant twice is one assignment: its id is derived from what it grants to whom."""
    text = "\n".join((scope, role, resource_group, principal.type, principal.id))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def assignment_view(account: Account, a: RoleAssignment) -> dict[str, Any]:
    return {"id": a.id, "scope": scopes.render(account.id, a.scope), "role": a.role, "resourceGroup": a.resource_group,
            "principal": {"type": a.principal.type, "id": a.principal.id}, "created": utc_iso(a.created)}


def _principal(body: Any) -> Principal:
    principal = body.get("principal") if isinstance(body, dict) else None
    if not isinstance(principal, dict) or principal.get("type") not in ("user", "group") \
            or not isinstance(principal.get("id"), str) or not principal["id"]:
        raise InvalidValue('principal must be {"type": "user" or "group", "id": "<user id or group identifier>"}.')
    return Principal(principal["type"], principal["id"])


def create_assignment(access: AccessStore, users: UserStore, groups: GroupStore, account: Account,
                      body: Any) -> RoleAssignment:
    """A role at a scope for a user or a group. A group may be assigned where it is placed (an active placement) or
    at a scope below one: a project-placed group cannot get an org or account role."""
    if not isinstance(body, dict):
        raise InvalidValue("The request body must be a JSON object.")
    scope = scopes.parse_scope(body.get("scope"), account.id)
    role, resource_group = body.get("role"), body.get("resourceGroup")
    if not isinstance(role, str) or not isinstance(resource_group, str):
        raise InvalidValue("role and resourceGroup are required (GET roles and resource-groups list them).")
    scopes.check_assignable(role, resource_group, scope)
    principal = _principal(body)
    alive = existing_scope(access, account, scope)
    now = times.now()
    placement_generation = ""
    if principal.type == "user":
        try:
            since = users.get(account.id, principal.id).created
        except NotFound:
            raise InvalidValue(f"principal: no user {principal.id!r} in this account.") from None
    else:
        try:
            group = groups.get(account.id, principal.id)
        except NotFound:
            raise InvalidValue(f"principal: no group {principal.id!r} in this account.") from None
        placed = scopes.effective_placements(group.placements, group.created, group.managed_by)
        reaching = scopes.group_reaches(placed, scope, alive)
        if reaching is None:
            where = ", ".join(scopes.render(account.id, p.scope) + ("" if scopes.placement_state(p, alive) == "active"
                                                                   else " (pending)") for p in placed)
            raise InvalidValue(f"Group {group.id!r} is placed at {where}: it can be assigned roles there or below, "
                               f"not at {scopes.render(account.id, scope)}.")
        since = group.created
        placement_generation = reaching.generation
    assignment = RoleAssignment(assignment_id(scope, role, resource_group, principal), scope, role, resource_group,
                                principal, now, since, alive[scope].generation if scope else "", placement_generation)
    try:
        access.add_assignment(account.id, assignment)
    except Uniqueness:
        raise Uniqueness(f"{principal.type} {principal.id!r} already has {role} on {resource_group} at "
                         f"{scopes.render(account.id, scope)}.") from None
    return assignment


@dataclass(frozen=True)
class AssignmentFilter:
    scope: str | None = None
    principal_type: str | None = None
    principal_id: str | None = None
    role: str | None = None

    def keeps(self, a: RoleAssignment) -> bool:
        return (self.scope is None or a.scope == self.scope) and (self.role is None or a.role == self.role) \
            and (self.principal_type is None or a.principal.type == self.principal_type) \
            and (self.principal_id is None or a.principal.id == self.principal_id)


def list_assignments(access: AccessStore, users: UserStore, groups: GroupStore, account: Account,
                     wanted: AssignmentFilter) -> list[RoleAssignment]:
    """The assignments in effect (their scope, group placement and principal still hold), filtered; rows that no
    longer hold are deleted on the way."""
    stored, alive, placed = parallel(lambda: access.assignments(account.id),
                                      lambda: scopes.live_scopes(access.scopes(account.id)),
                                      lambda: groups.placements(account.id))
    user_ids = {a.principal.id for a in stored if a.principal.type == "user" and wanted.keeps(a)}
    living = living_users(users, account, user_ids)
    kept, stale = [], []
    for a in stored:
        if not wanted.keeps(a):
            continue
        if in_effect(a, alive, placed, living):
            kept.append(a)
        else:
            stale.append(a)
    if stale:
        access.delete_assignments(account.id, stale)
    return kept


def living_users(users: UserStore, account: Account, user_ids: set[str]) -> dict[str, StoredUser]:
    found: dict[str, StoredUser] = {}

    def read(user_id: str) -> None:
        try:
            found[user_id] = users.get(account.id, user_id)
        except NotFound:
            pass

    parallel(*[lambda u=u: read(u) for u in sorted(user_ids)])
    return found


def in_effect(a: RoleAssignment, alive: dict[str, ScopeRecord], placed: dict[str, StoredGroupPlacement],
               living: dict[str, StoredUser] | None = None) -> bool:
    """The assignment's scope is the one it was made at (the same generation: not deleted and created again), and
    its principal is the one it was made for: the same group (not a later one with the same identifier), still
    placed where it reaches the scope under the very placement it was made under; or the same user (users' ids are
    never reused). Generations are compared for equality, so no host's clock decides (rows made before generations
    existed are judged by their times)."""
    if not scopes.scope_exists(a.scope, alive, at=a.created, generation=a.scope_generation):
        return False
    if a.principal.type == "group":
        group = placed.get(a.principal.id)
        if group is None or abs(group.created - a.principal_since) > SAME_INSTANT:
            return False
        effective = scopes.effective_placements(group.placements, group.created, group.managed_by)
        return scopes.group_reaches(effective, a.scope, alive, at=a.created,
                                    generation=a.placement_generation) is not None
    if living is None:
        return True
    user = living.get(a.principal.id)
    return user is not None and abs(user.created - a.principal_since) <= SAME_INSTANT


def delete_assignment(access: AccessStore, users: UserStore, groups: GroupStore, account: Account,
                      assignment_id_: str) -> RoleAssignment:
    assignment = access.get_assignment(account.id, assignment_id_)
    if assignment.role == ACCOUNT_ADMIN:
        guard_last_admin(access, users, groups, account, "Removing this assignment", assignment_id=assignment.id)
    access.delete_assignments(account.id, [assignment])
    return assignment


# --- the last account admin ---------------------------------------------------------------------------------

CLAIM_SECONDS = 300
"""How long a claimed removal of an admin holder keeps that holder from counting for other removals: long past any
request (the removal itself follows its claim at once), short enough that a removal that failed after its claim
does not keep refusing others for long (until then it refuses more, never less)."""
CLAIM_ATTEMPTS = 5


def guard_last_admin(access: AccessStore, users: UserStore, groups: GroupStore, account: Account, what: str, *,
                     assignment_id: str | None = None, user_id: str | None = None) -> None:
    """Before removing an `_account_admin` assignment or one of its holders (a user deleted or deactivated):
    LastAccountAdmin (409) when nobody else would hold the role, else the removal is claimed on the account's guard
    row, conditioned on that row not having changed since it was read. Two concurrent removals of the last two
    holders both find the other still holding, but only one claim lands; the other reads again, finds the first's
    claim, and is refused: so a conditional write on a row they share, not a lock, keeps one admin in place
    whichever instances serve them. Costs a read and a write, and only for a removal that touches an admin."""
    claim = f"a:{assignment_id}" if assignment_id is not None else f"u:{user_id}"
    for _ in range(CLAIM_ATTEMPTS):
        seen = access.admin_removals(account.id)
        now = times.now()
        recent = {c: at for c, at in seen.claims.items() if now - at < timedelta(seconds=CLAIM_SECONDS)}
        gone_users = {c[2:] for c in recent if c.startswith("u:")}
        holders = {aid: held - gone_users for aid, held in _admin_holders(access, users, groups, account).items()
                   if f"a:{aid}" not in recent}
        if assignment_id is not None and not holders.get(assignment_id) \
                or user_id is not None and not any(user_id in held for held in holders.values()):
            return  # not holding the role (through this assignment): nothing to keep
        if not _others_hold(holders, exclude_assignment=assignment_id, exclude_user=user_id):
            raise LastAccountAdmin(LAST_ADMIN.format(what=what, role=ACCOUNT_ADMIN))
        if access.claim_admin_removal(account.id, seen, {**recent, claim: now}):
            return
    raise ServiceUnavailable("Other removals of account admins are under way: try again.", retry_after_seconds=5)


def holds_account_admin(access: AccessStore, account: Account, group_id: str) -> bool:
    """Whether the group is assigned `_account_admin` at the account (one range read of the group's assignments)."""
    return any(a.role == ACCOUNT_ADMIN and a.scope == ACCOUNT_SCOPE
               for a in access.assignments_of_group(account.id, group_id))


def nobody_holds_account_admin(access: AccessStore, users: UserStore, groups: GroupStore, account: Account) -> bool:
    return not any(_admin_holders(access, users, groups, account).values())


def _admin_holders(access: AccessStore, users: UserStore, groups: GroupStore,
                   account: Account) -> dict[str, set[str]]:
    """assignment id -> the active users holding `_account_admin` through it (account-scope assignments in effect)."""
    stored, alive, placed = parallel(lambda: access.assignments(account.id),
                                      lambda: scopes.live_scopes(access.scopes(account.id)),
                                      lambda: groups.placements(account.id))
    admin = [a for a in stored if a.role == ACCOUNT_ADMIN and a.scope == ACCOUNT_SCOPE and in_effect(a, alive, placed)]
    holders: dict[str, set[str]] = {}
    for a in admin:
        if a.principal.type == "user":
            candidates = [a.principal.id]
        else:
            candidates = [user_id for user_id, _ in groups.members(account.id, a.principal.id)]
        living = living_users(users, account, set(candidates))
        holders[a.id] = {u for u, user in living.items() if is_active(user)
                         and (a.principal.type == "group" or abs(user.created - a.principal_since) <= SAME_INSTANT)}
    return holders


def _others_hold(holders: dict[str, set[str]], exclude_assignment: str | None = None,
                 exclude_user: str | None = None) -> bool:
    return any(users_ - {exclude_user} for aid, users_ in holders.items() if aid != exclude_assignment)


def is_active(user: StoredUser) -> bool:
    return user.attributes.get("active", True) is not False


def before_user_removal(access: AccessStore, users: UserStore, groups: GroupStore,
                        account: Account) -> Callable[[StoredUser, dict[str, Any] | None], None]:
    """For the user write path, before a user is deleted or deactivated (`attributes` is the new state, None for a
    delete): refuses (409) removing the last holder of `_account_admin`, then removes the user's direct scope
    memberships and role assignments (§2.3). Before the write, so a cut leaves the user as they were (Entra retries)
    or without those rows and then removed on the retry; never removed with them left to come back on a
    reactivation. Costs nothing for any other write."""
    def guard(current: StoredUser, attributes: dict[str, Any] | None) -> None:
        removing = attributes is None or (is_active(current) and attributes.get("active", True) is False)
        if not removing:
            return
        own, memberships = access.assignments_of(account.id, current.id)
        if any(a.role == ACCOUNT_ADMIN for a in own) or _in_admin_group(access, account, current):
            what = "Deleting this user" if attributes is None else "Deactivating this user"
            guard_last_admin(access, users, groups, account, what, user_id=current.id)
        if own:
            access.delete_assignments(account.id, own)
        if memberships:
            access.delete_memberships(account.id, memberships)
    return guard


def _in_admin_group(access: AccessStore, account: Account, user: StoredUser) -> bool:
    in_groups = {g.id for g in user.groups}
    return bool(in_groups) and any(a.role == ACCOUNT_ADMIN and a.principal.id in in_groups
                                   for a in access.group_assignments(account.id))


# --- cleanup of rows that no longer hold -------------------------------------------------------------------

def _hygiene(cleanup: Callable[..., None]) -> Callable[..., None]:
    """Cleanups after a write: correctness never waits on them (what no longer holds is out of effect already), so
    a storage failure here is logged, and the rows go when next read (`list_assignments`)."""
    def run(*args: Any) -> None:
        try:
            cleanup(*args)
        except ServiceUnavailable as failure:
            log.warning("%s left for later: %s", cleanup.__name__, failure.detail)
    run.__doc__ = cleanup.__doc__
    return run


@_hygiene
def forget_group(access: AccessStore, account: Account, group_id: str) -> None:
    """A deleted group's role assignments go with it (a later group of the same identifier would not have them in
    any case: they hang on the group's creation time)."""
    stale = access.assignments_of_group(account.id, group_id)
    if stale:
        access.delete_assignments(account.id, stale)


@_hygiene
def prune_group(access: AccessStore, account: Account, group: StoredGroup) -> None:
    """After a group's placements changed: its assignments no placement reaches any more are deleted."""
    mine = access.assignments_of_group(account.id, group.id)
    if not mine:
        return
    alive = scopes.live_scopes(access.scopes(account.id))
    placed = {group.id: placement_of(group)}
    stale = [a for a in mine if not in_effect(a, alive, placed)]
    if stale:
        access.delete_assignments(account.id, stale)
