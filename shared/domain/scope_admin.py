"""Use cases of the application's admins for scopes: orgs and projects, where groups are placed, and direct scope
memberships. The rules are in `shared/domain/scopes.py`; role assignments are in `assignments.py`, each user's effective
access in `access.py`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from shared.domain import groups as scim_groups
from shared.domain import scopes, times
from shared.domain.accounts import Account
from shared.domain.assignments import assignment_view, existing_scope, in_effect, placement_of, prune_group
from shared.domain.listing import Page, paginate
from shared.domain.ports import AccessStore, GroupStore, UserStore
from shared.domain.reads import parallel
from shared.domain.scopes import (
    ACCOUNT_SCOPE,
    ADMIN,
    DirectMembership,
    Placement,
    ScopeRecord,
)
from shared.domain.stored import MembershipChange, StoredGroup, StoredGroupPlacement
from shared.domain.times import utc_iso
from shared.domain.work import JobQueue
from shared.errors import InvalidValue, ManagedByEntra, NotFound, Uniqueness

log = logging.getLogger("scim.access")

PLACEMENTS_LOCKED = ("Group {name!r} is placed by its identity provider (harnessScopes): change its scopes there. "
                     "Admins may place a provisioned group only when the identity provider sends no harnessScopes.")


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
                            lambda: access.assignments_of_group(account.id, group.id))
    placed = {group.id: placement_of(group)}
    return {"placements": placements_view(account, group, alive),
            "harnessScopes": scopes.sent_harness_scopes(account.id, group.placements),
            "roleAssignments": [assignment_view(account, a) for a in held if in_effect(a, alive, placed)]}


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

def add_scope_member(access: AccessStore, users: UserStore, account: Account, scope: str, user_id: str) -> None:
    if not scope:
        raise InvalidValue("Every user of the account is a member of the account scope; add them to an org or project.")
    alive = existing_scope(access, account, scope)
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
        lambda: existing_scope(access, account, scope), lambda: groups.placements(account.id),
        lambda: [m for s in _inner_scopes(access, account, scope) for m in access.scope_memberships(account.id, s)],
        lambda: access.group_assignments(account.id))
    via: dict[str, list[dict[str, Any]]] = {}
    for m in direct_rows:
        if scopes.scope_exists(m.scope, alive, at=m.created, generation=m.scope_generation):
            add_via(via, m.user_id, {"type": "direct"})
    reaching = {gid for gid, g in placed.items()
                if scope in scopes.scope_reach(scopes.effective_placements(g.placements, g.created, g.managed_by), alive)}
    reaching |= {a.principal.id for a in group_assignments if in_effect(a, alive, placed)
                 and (a.scope == scope or scopes.contains(scope, a.scope))}
    members = groups.members_of_groups(account.id, sorted(reaching)) if reaching else {}
    for group_id in sorted(reaching):
        for user_id, _ in members.get(group_id, []):
            add_via(via, user_id, {"type": "group", "id": group_id})
    items = [{"userId": u, "via": v} for u, v in sorted(via.items())]
    return paginate(iter(items), lambda _: True, start_index, count)


def _inner_scopes(access: AccessStore, account: Account, scope: str) -> list[str]:
    return [r.scope for r in scopes.live_scopes(access.scopes(account.id)).values() if scopes.contains(scope, r.scope)]


def add_via(via: dict[str, list[dict[str, Any]]], user_id: str, reason: dict[str, Any]) -> None:
    reasons = via.setdefault(user_id, [])
    if reason not in reasons:
        reasons.append(reason)
