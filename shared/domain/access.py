"""Use cases of scopes and access for the application's admins: orgs and projects, where groups are placed, direct
scope memberships, role assignments, and each user's effective access with its reasons. The rules are in
`shared/domain/scopes.py`; the stores are `AccessStore`, `GroupStore` and `UserStore`.

What is in effect is computed from the stored facts when asked (a group's members and placements, the scopes that
exist, the assignments with the generation they were made under), so no write here or in SCIM has to keep a copy in
step. Rows that no longer hold anything are deleted by the request that removed their basis (`forget_user`,
`forget_group`, `delete_scope`) and, if that request was cut short, by the next one that reads them.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared.domain import groups as scim_groups
from shared.domain import scopes, times
from shared.domain.accounts import Account
from shared.domain.listing import Page, paginate
from shared.domain.ports import AccessStore, GroupStore, UserStore
from shared.domain.scopes import (
    ACCOUNT_ADMIN,
    ACCOUNT_SCOPE,
    ADMIN,
    DirectMembership,
    Placement,
    Principal,
    RoleAssignment,
    ScopeRecord,
)
from shared.domain.stored import MembershipChange, StoredGroup, StoredGroupPlacement, StoredUser
from shared.domain.times import utc_iso
from shared.domain.work import JobQueue
from shared.errors import InvalidValue, LastAccountAdmin, ManagedByEntra, NotFound, ServiceUnavailable, Uniqueness

log = logging.getLogger("scim.access")

PLACEMENTS_LOCKED = ("Group {name!r} is placed by its identity provider (harnessScopes): change its scopes there. "
                     "Admins may place a provisioned group only when the identity provider sends no harnessScopes.")
LAST_ADMIN = ("{what} would leave the account with nobody holding {role} (the last account admin cannot be removed): "
              "assign {role} to someone else first.")
SAME_INSTANT = timedelta(milliseconds=1)
"""Generations are compared as stored times (storage keeps microseconds): within this they are the same."""

_reads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="scim-access")
"""A pool of its own, not the storage layer's (roundtrips.in_parallel): a read issued here may fan out there, and a
task waiting on work queued behind it in the same pool could wait for ever."""


def parallel(*calls: Callable[[], Any]) -> list[Any]:
    """The reads of one answer, issued at once: they are independent, so the answer costs one round trip's time.
    Each runs in a copy of the caller's context, so the request's round-trip count and trace include it."""
    futures = [_reads.submit(contextvars.copy_context().run, call) for call in calls]
    return [f.result() for f in futures]


# --- orgs and projects --------------------------------------------------------------------------------------

def _identifier(body: Any, what: str) -> tuple[str, str]:
    if not isinstance(body, dict):
        raise InvalidValue("The request body must be a JSON object.")
    identifier = body.get("identifier")
    if not isinstance(identifier, str) or not scopes.IDENTIFIER.fullmatch(identifier):
        raise InvalidValue(f"identifier of the {what} must be a letter or _, then up to 127 letters, digits, _ or $.")
    name = body.get("name", identifier)
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise InvalidValue(f"name of the {what} must be a non-empty string of at most 256 characters.")
    return identifier, name.strip()


def scope_view(account: Account, record: ScopeRecord) -> dict[str, Any]:
    view = {"scope": scopes.render(account.id, record.scope), "identifier": record.identifier, "name": record.name,
            "level": scopes.level(record.scope), "created": utc_iso(record.created)}
    if ":" in record.scope:
        view["org"] = record.scope.split(":")[0]
    return view


def create_org(access: AccessStore, account: Account, body: Any) -> ScopeRecord:
    identifier, name = _identifier(body, "org")
    record = ScopeRecord(identifier, name, times.now(), scopes.new_generation())
    try:
        access.create_scope(account.id, record)
    except Uniqueness:
        raise Uniqueness(f"An org {identifier!r} exists.") from None
    return record


def create_project(access: AccessStore, account: Account, org: str, body: Any) -> ScopeRecord:
    identifier, name = _identifier(body, "project")
    parent = scopes.live_scopes(access.scopes(account.id)).get(org)
    if parent is None:
        raise NotFound(f"No org {org!r}.")
    record = ScopeRecord(f"{org}:{identifier}", name, times.now(), scopes.new_generation(), parent.generation)
    try:
        access.create_scope(account.id, record)
    except Uniqueness:
        raise Uniqueness(f"A project {identifier!r} exists in org {org!r}.") from None
    return record


def list_scopes(access: AccessStore, account: Account, org: str | None = None) -> list[ScopeRecord]:
    """The orgs (org None) or one org's projects; NotFound for an unknown org."""
    alive = scopes.live_scopes(access.scopes(account.id))
    if org is None:
        return [r for r in alive.values() if ":" not in r.scope]
    if org not in alive:
        raise NotFound(f"No org {org!r}.")
    return [r for r in alive.values() if r.scope.startswith(org + ":")]


def delete_scope(access: AccessStore, groups: GroupStore, account: Account, scope: str,
                 queue: JobQueue | None = None) -> None:
    """Deletes an org (with its projects) or a project. Its role assignments and direct memberships stop at once
    (they hang on the scope's generation) and their rows are deleted; admin-owned placements there are removed from
    their groups; an IdP's placement there turns pending again (the IdP still names it: it is active again if the
    scope is created again, without the assignments of before)."""
    rows = access.scopes(account.id)
    alive = scopes.live_scopes(rows)
    if scope not in alive:
        raise NotFound(f"No {scopes.level(scope)} {scope!r}." if scope else "The account scope cannot be deleted.")
    gone = [r.scope for r in rows if scopes.contains(scope, r.scope)]  # (never the account: no last-admin check)
    for inner in sorted(gone, key=len, reverse=True):
        access.delete_scope(account.id, inner)
    for group_id, placed in groups.placements(account.id).items():
        if any(p.owner == ADMIN and p.scope in gone for p in placed.placements):
            _write_placements(groups, account, group_id, lambda group: tuple(
                p for p in group.placements if not (p.owner == ADMIN and p.scope in gone)), queue)
    access.delete_assignments(account.id, [a for a in access.assignments(account.id) if a.scope in gone])
    for inner in gone:
        access.delete_memberships(account.id, access.scope_memberships(account.id, inner))


# --- placements ---------------------------------------------------------------------------------------------

def placements_view(account: Account, group: StoredGroup | StoredGroupPlacement,
                    alive: dict[str, ScopeRecord]) -> list[dict[str, Any]]:
    placed = scopes.effective_placements(group.placements, group.created, group.managed_by)
    return [{"scope": scopes.render(account.id, p.scope), "state": scopes.placement_state(p, alive), "owner": p.owner,
             "since": utc_iso(p.since)} for p in placed]


def group_access_view(access: AccessStore, account: Account,
                      group: StoredGroup) -> dict[str, Any]:
    """What the management API's group view adds: placements with their state and the group's assignments."""
    alive, held = parallel(lambda: scopes.live_scopes(access.scopes(account.id)),
                            lambda: access.group_assignments(account.id))
    placed = {group.id: _placed(group)}
    return {"placements": placements_view(account, group, alive),
            "harnessScopes": scopes.sent_harness_scopes(account.id, group.placements),
            "roleAssignments": [assignment_view(account, a) for a in held
                                if a.principal.id == group.id and _in_effect(a, alive, placed)]}


def _placed(group: StoredGroup) -> StoredGroupPlacement:
    """What validity needs of a group just read (as `GroupStore.placements` gives it for every group)."""
    return StoredGroupPlacement(group.created, group.managed_by, group.placements)


def pending_placements(access: AccessStore, groups: GroupStore, account: Account) -> list[dict[str, Any]]:
    """Placements waiting for their org or project to be created (the failures view lists them)."""
    alive, placed = parallel(lambda: scopes.live_scopes(access.scopes(account.id)),
                              lambda: groups.placements(account.id))
    return [{"group": group_id, "scope": scopes.render(account.id, p.scope), "owner": p.owner, "since": utc_iso(p.since)}
            for group_id, group in placed.items() for p in group.placements
            if scopes.placement_state(p, alive) == "pending"]


def set_admin_placements(groups: GroupStore, access: AccessStore, account: Account, group_id: str, body: Any,
                         queue: JobQueue | None = None) -> StoredGroup:
    """`{"scopes": ["A:O", "A:O:P"]}`: where an admin places a group (native, or provisioned without harnessScopes);
    `[]` or `["A"]`: the account only. A placement kept keeps its time, so its role assignments stay."""
    if not isinstance(body, dict) or not isinstance(body.get("scopes"), list):
        raise InvalidValue('Send {"scopes": ["<account>:<org>", "<account>:<org>:<project>"]}.')
    if len(body["scopes"]) > scopes.MAX_PLACEMENTS:
        raise InvalidValue(f"At most {scopes.MAX_PLACEMENTS} scopes can be set.")
    wanted = tuple(sorted({scopes.parse_scope(s, account.id) for s in body["scopes"]}))
    if wanted == (ACCOUNT_SCOPE,):
        wanted = ()

    def compute(group: StoredGroup) -> tuple[Placement, ...]:
        if scopes.idp_scopes(group.placements) is not None:
            raise ManagedByEntra(PLACEMENTS_LOCKED.format(name=group.display_name))
        return scopes.replaced(group.placements, group.created, group.managed_by, wanted, ADMIN, times.now())

    _write_placements(groups, account, group_id, compute, queue)
    updated = groups.get(account.id, group_id)
    prune_group(access, account, updated)
    return updated


def _write_placements(groups: GroupStore, account: Account, group_id: str,
                      compute: Callable[[StoredGroup], tuple[Placement, ...]], queue: JobQueue | None) -> None:
    """Placements change through the group's own write path (the ordering rule, conditioned on the group row)."""
    scim_groups.write_group(groups, account, group_id, None,
                            lambda group: (group.attributes, MembershipChange({}, set()), compute(group)), queue,
                            read=lambda gid: groups.get(account.id, gid))


# --- direct scope memberships -------------------------------------------------------------------------------

def _existing_scope(access: AccessStore, account: Account, scope: str) -> dict[str, ScopeRecord]:
    alive = scopes.live_scopes(access.scopes(account.id))
    if not scopes.scope_exists(scope, alive):
        raise NotFound(f"No {scopes.level(scope)} {scopes.render(account.id, scope)!r}.")
    return alive


def add_scope_member(access: AccessStore, users: UserStore, account: Account, scope: str, user_id: str) -> None:
    if not scope:
        raise InvalidValue("Every user of the account is a member of the account scope; add them to an org or project.")
    alive = _existing_scope(access, account, scope)
    user = users.get(account.id, user_id)
    access.add_membership(account.id, DirectMembership(scope, user.id, times.now(), alive[scope].generation))


def remove_scope_member(access: AccessStore, account: Account, scope: str, user_id: str) -> None:
    if not access.remove_membership(account.id, scope, user_id):
        raise NotFound(f"User {user_id!r} is no direct member of {scopes.render(account.id, scope)!r}.")


def scope_members(access: AccessStore, groups: GroupStore, account: Account, scope: str,
                  start_index: int, count: int) -> Page:
    """Who is a member of the scope and why: directly (at it, or at one of its projects), through each group placed
    at it or below it, or through a role assignment there. Items: {"userId", "via": [...]}."""
    alive, placed, direct_rows, group_assignments = parallel(
        lambda: _existing_scope(access, account, scope), lambda: groups.placements(account.id),
        lambda: [m for s in _inner_scopes(access, account, scope) for m in access.scope_memberships(account.id, s)],
        lambda: access.group_assignments(account.id))
    via: dict[str, list[dict[str, Any]]] = {}
    for m in direct_rows:
        if scopes.scope_exists(m.scope, alive, at=m.created, generation=m.scope_generation):
            _add_via(via, m.user_id, {"type": "direct"})
    reaching = {gid for gid, g in placed.items()
                if scope in scopes.scope_reach(scopes.effective_placements(g.placements, g.created, g.managed_by), alive)}
    reaching |= {a.principal.id for a in group_assignments if _in_effect(a, alive, placed)
                 and (a.scope == scope or scopes.contains(scope, a.scope))}
    members = groups.members_of_groups(account.id, sorted(reaching)) if reaching else {}
    for group_id in sorted(reaching):
        for user_id, _ in members.get(group_id, []):
            _add_via(via, user_id, {"type": "group", "id": group_id})
    items = [{"userId": u, "via": v} for u, v in sorted(via.items())]
    return paginate(iter(items), lambda _: True, start_index, count)


def _inner_scopes(access: AccessStore, account: Account, scope: str) -> list[str]:
    return [r.scope for r in scopes.live_scopes(access.scopes(account.id)).values() if scopes.contains(scope, r.scope)]


def _add_via(via: dict[str, list[dict[str, Any]]], user_id: str, reason: dict[str, Any]) -> None:
    reasons = via.setdefault(user_id, [])
    if reason not in reasons:
        reasons.append(reason)


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
    alive = _existing_scope(access, account, scope)
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
    living = _living_users(users, account, user_ids)
    kept, stale = [], []
    for a in stored:
        if not wanted.keeps(a):
            continue
        if _in_effect(a, alive, placed, living):
            kept.append(a)
        else:
            stale.append(a)
    if stale:
        access.delete_assignments(account.id, stale)
    return kept


def _living_users(users: UserStore, account: Account, user_ids: set[str]) -> dict[str, StoredUser]:
    found: dict[str, StoredUser] = {}

    def read(user_id: str) -> None:
        try:
            found[user_id] = users.get(account.id, user_id)
        except NotFound:
            pass

    parallel(*[lambda u=u: read(u) for u in sorted(user_ids)])
    return found


def _in_effect(a: RoleAssignment, alive: dict[str, ScopeRecord], placed: dict[str, StoredGroupPlacement],
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


def _admin_holders(access: AccessStore, users: UserStore, groups: GroupStore,
                   account: Account) -> dict[str, set[str]]:
    """assignment id -> the active users holding `_account_admin` through it (account-scope assignments in effect)."""
    stored, alive, placed = parallel(lambda: access.assignments(account.id),
                                      lambda: scopes.live_scopes(access.scopes(account.id)),
                                      lambda: groups.placements(account.id))
    admin = [a for a in stored if a.role == ACCOUNT_ADMIN and a.scope == ACCOUNT_SCOPE and _in_effect(a, alive, placed)]
    holders: dict[str, set[str]] = {}
    for a in admin:
        if a.principal.type == "user":
            candidates = [a.principal.id]
        else:
            candidates = [user_id for user_id, _ in groups.members(account.id, a.principal.id)]
        living = _living_users(users, account, set(candidates))
        holders[a.id] = {u for u, user in living.items() if _active(user)
                         and (a.principal.type == "group" or abs(user.created - a.principal_since) <= SAME_INSTANT)}
    return holders


def _others_hold(holders: dict[str, set[str]], exclude_assignment: str | None = None,
                 exclude_user: str | None = None) -> bool:
    return any(users_ - {exclude_user} for aid, users_ in holders.items() if aid != exclude_assignment)


def _active(user: StoredUser) -> bool:
    return user.attributes.get("active", True) is not False


def before_user_removal(access: AccessStore, users: UserStore, groups: GroupStore,
                        account: Account) -> Callable[[StoredUser, dict[str, Any] | None], None]:
    """For the user write path, before a user is deleted or deactivated (`attributes` is the new state, None for a
    delete): refuses (409) removing the last holder of `_account_admin`, then removes the user's direct scope
    memberships and role assignments (§2.3). Before the write, so a cut leaves the user as they were (Entra retries)
    or without those rows and then removed on the retry; never removed with them left to come back on a
    reactivation. Costs nothing for any other write."""
    def guard(current: StoredUser, attributes: dict[str, Any] | None) -> None:
        removing = attributes is None or (_active(current) and attributes.get("active", True) is False)
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
    stale = [a for a in access.group_assignments(account.id) if a.principal.id == group_id]
    if stale:
        access.delete_assignments(account.id, stale)


@_hygiene
def prune_group(access: AccessStore, account: Account, group: StoredGroup) -> None:
    """After a group's placements changed: its assignments no placement reaches any more are deleted."""
    mine = [a for a in access.group_assignments(account.id) if a.principal.id == group.id]
    if not mine:
        return
    alive = scopes.live_scopes(access.scopes(account.id))
    placed = {group.id: _placed(group)}
    stale = [a for a in mine if not _in_effect(a, alive, placed)]
    if stale:
        access.delete_assignments(account.id, stale)


# --- effective access ---------------------------------------------------------------------------------------

def user_access(access: AccessStore, users: UserStore, groups: GroupStore, account: Account, user_id: str,
                scope_text: str | None = None) -> dict[str, Any]:
    """Every scope the user is a member of and every assignment that reaches them, each with its reason: directly,
    through which group, or (with `scope`) inherited from a parent scope. Five reads issued at once, whatever the
    user's groups and their placements: the user with its groups, their own assignment and membership rows, every
    group's placements (a projected scan), every group assignment, and the scopes (one round trip each per 1,000
    rows)."""
    focus = scopes.parse_scope(scope_text, account.id) if scope_text is not None else None
    user, (own, memberships), placed, group_assignments, rows = parallel(
        lambda: users.get(account.id, user_id), lambda: access.assignments_of(account.id, user_id),
        lambda: groups.placements(account.id), lambda: access.group_assignments(account.id),
        lambda: access.scopes(account.id))
    alive = scopes.live_scopes(rows)
    if focus is not None and not scopes.scope_exists(focus, alive):
        raise NotFound(f"No {scopes.level(focus)} {scopes.render(account.id, focus)!r}.")
    answer: dict[str, Any] = {"userId": user.id, "active": _active(user), "scopes": [], "assignments": []}
    if not _active(user):
        return answer  # a deactivated user cannot sign in: no access anywhere
    via: dict[str, list[dict[str, Any]]] = {ACCOUNT_SCOPE: [{"type": "direct"}]}
    for m in memberships:
        if scopes.scope_exists(m.scope, alive, at=m.created, generation=m.scope_generation):
            for s in scopes.ancestors(m.scope):
                _add_via(via, s, {"type": "direct"})
    in_groups = {g.id: g for g in user.groups if g.id in placed}
    for group_id in in_groups:
        group = placed[group_id]
        effective = scopes.effective_placements(group.placements, group.created, group.managed_by)
        for s in scopes.scope_reach(effective, alive):
            _add_via(via, s, {"type": "group", "id": group_id, "name": in_groups[group_id].display})
    living = {user.id: user}
    reaching = [a for a in own if _in_effect(a, alive, placed, living)]
    reaching += [a for a in group_assignments if a.principal.id in in_groups and _in_effect(a, alive, placed)]
    assignments = []
    for a in sorted(reaching, key=lambda a: (a.scope, a.role, a.principal.type, a.principal.id)):
        reason = {"type": "direct"} if a.principal.type == "user" else {
            "type": "group", "id": a.principal.id, "name": in_groups[a.principal.id].display}
        for s in scopes.ancestors(a.scope):  # an assignment at a scope makes its holder present there
            _add_via(via, s, reason)
        if focus is None or a.scope == focus:
            assignments.append({**_grant(account, a, a.scope), "via": reason, "inheritedFrom": None})
        elif scopes.contains(a.scope, focus):
            assignments.append({**_grant(account, a, focus), "via": reason,
                                "inheritedFrom": scopes.render(account.id, a.scope)})
    shown = [s for s in sorted(via) if focus is None or s == focus]
    answer["scopes"] = [{"scope": scopes.render(account.id, s), "via": via[s]} for s in shown]
    answer["assignments"] = assignments
    return answer


def _grant(account: Account, a: RoleAssignment, at: str) -> dict[str, Any]:
    return {"scope": scopes.render(account.id, at), "role": a.role, "resourceGroup": a.resource_group,
            "assignmentId": a.id}


def roles_view() -> list[dict[str, Any]]:
    return [{"identifier": k, "name": name, "level": level, "builtIn": True} for k, (name, level) in scopes.ROLES.items()]


def resource_groups_view() -> list[dict[str, Any]]:
    return [{"identifier": k, "name": name, "level": level, "builtIn": True}
            for k, (name, level) in scopes.RESOURCE_GROUPS.items()]

