"""Each user's effective access, with its reasons: every scope they are a member of (directly or through a placed
group) and every role assignment that reaches them. What is in effect is computed from the stored facts when asked
(a group's members and placements, the scopes that exist, the assignments with the generation they were made under),
so no write here or in SCIM has to keep a copy in step. Scopes and placements are administered in `scope_admin.py`,
role assignments (and the last-admin guard) in `assignments.py`; the rules are in `scopes.py`.
"""
from __future__ import annotations

import logging
from typing import Any

from shared.domain import scopes
from shared.domain.accounts import Account
from shared.domain.assignments import (
    in_effect,
    is_active,
)
from shared.domain.ports import AccessStore, GroupStore, UserStore
from shared.domain.reads import parallel
from shared.domain.scope_admin import add_via
from shared.domain.scopes import (
    ACCOUNT_SCOPE,
    RoleAssignment,
)
from shared.errors import NotFound

log = logging.getLogger("scim.access")



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
    answer: dict[str, Any] = {"userId": user.id, "active": is_active(user), "scopes": [], "assignments": []}
    if not is_active(user):
        return answer  # a deactivated user cannot sign in: no access anywhere
    via: dict[str, list[dict[str, Any]]] = {ACCOUNT_SCOPE: [{"type": "direct"}]}
    for m in memberships:
        if scopes.scope_exists(m.scope, alive, at=m.created, generation=m.scope_generation):
            for s in scopes.ancestors(m.scope):
                add_via(via, s, {"type": "direct"})
    in_groups = {g.id: g for g in user.groups if g.id in placed}
    for group_id in in_groups:
        group = placed[group_id]
        effective = scopes.effective_placements(group.placements, group.created, group.managed_by)
        for s in scopes.scope_reach(effective, alive):
            add_via(via, s, {"type": "group", "id": group_id, "name": in_groups[group_id].display})
    living = {user.id: user}
    reaching = [a for a in own if in_effect(a, alive, placed, living)]
    reaching += [a for a in group_assignments if a.principal.id in in_groups and in_effect(a, alive, placed)]
    assignments = []
    for a in sorted(reaching, key=lambda a: (a.scope, a.role, a.principal.type, a.principal.id)):
        reason = {"type": "direct"} if a.principal.type == "user" else {
            "type": "group", "id": a.principal.id, "name": in_groups[a.principal.id].display}
        for s in scopes.ancestors(a.scope):  # an assignment at a scope makes its holder present there
            add_via(via, s, reason)
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
