"""Org and Project scopes, group placements, role assignments and effective access: the rules, as pure functions
(`../shared/reference/harness-scopes.md` §2 has the product rules this implements).

A scope is written as in `harnessScopes`: `A` (the account), `A:O`, `A:O:P`. Inside the service a scope is kept
without its account segment: `""` (the account), `"O"`, `"O:P"`.

Validity is derived, never copied. A group's placements live on the group row, written with the group, so they
change exactly when the IdP's write is applied (the ordering rule covers them); memberships of a scope through a
group are computed from the group's members and placements when asked, so they can never lag behind either. A role
assignment or a direct membership is effective only while everything it hangs on still holds, checked at read time
with the generation it was made under (`since` times): a placement removed and added again, a scope deleted and
created again, a group deleted and created again with the same identifier, or a user deactivated and reactivated,
does not bring back the assignments of before. Rows that no longer hold are invisible and are deleted afterwards
(at once by the request that removed their basis, and by reconcile if that request was cut short).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.domain import discovery
from shared.errors import InvalidValue

HARNESS_GROUP_SCHEMA = discovery.HARNESS_GROUP_SCHEMA
HARNESS_SCOPES = "harnessScopes"
ACCOUNT_SCOPE = ""
IDENTIFIER = re.compile(r"[a-zA-Z_][0-9a-zA-Z_$]{0,127}")
"""Harness' EntityIdentifierValidator: org and project identifiers."""
MAX_PLACEMENTS = 50
"""Entries of one group's harnessScopes (or admin placements)."""
MAX_SCOPES_TEXT = 8_192

IDP = "idp"
ADMIN = "admin"

ROLES: dict[str, tuple[str, str]] = {
    "_account_admin": ("Account Admin", "account"),
    "_account_viewer": ("Account Viewer", "account"),
    "_organization_admin": ("Organization Admin", "organization"),
    "_organization_viewer": ("Organization Viewer", "organization"),
    "_project_admin": ("Project Admin", "project"),
    "_project_viewer": ("Project Viewer", "project"),
}
"""Harness' built-in roles: identifier -> (name, the scope level it is assigned at)."""
RESOURCE_GROUPS: dict[str, tuple[str, str]] = {
    "_all_account_level_resources": ("All Account Level Resources", "account"),
    "_all_organization_level_resources": ("All Organization Level Resources", "organization"),
    "_all_project_level_resources": ("All Project Level Resources", "project"),
}
ACCOUNT_ADMIN = "_account_admin"


def level(scope: str) -> str:
    return ("account", "organization", "project")[0 if not scope else scope.count(":") + 1]


def render(account_id: str, scope: str) -> str:
    """`O:P` -> `A:O:P`; the account scope -> `A`."""
    return f"{account_id}:{scope}" if scope else account_id


def ancestors(scope: str) -> list[str]:
    """The scope and every scope above it, nearest first: `O:P` -> [`O:P`, `O`, ``]."""
    if not scope:
        return [ACCOUNT_SCOPE]
    parts = scope.split(":")
    return [":".join(parts[:n]) for n in range(len(parts), 0, -1)] + [ACCOUNT_SCOPE]


def contains(outer: str, inner: str) -> bool:
    """`outer` is `inner` or one of its parents."""
    return outer in ancestors(inner)


def parse_scope(text: Any, account_id: str, what: str = "scope") -> str:
    """One scope as written (`A`, `A:O`, `A:O:P`): the account segment must be this account's, the others Harness
    identifiers. InvalidValue names the entry."""
    if not isinstance(text, str):
        raise InvalidValue(f"{what} must be a string such as {account_id}:myorg:myproject.")
    entry = text.strip()
    parts = entry.split(":")
    shown = entry if len(entry) <= 200 else entry[:200] + "..."
    if len(parts) > 3:
        raise InvalidValue(f"{what} entry {shown!r} has more than three parts; write account[:org[:project]].")
    if parts[0] != account_id:
        raise InvalidValue(f"{what} entry {shown!r} does not start with this account's id {account_id!r}.")
    for part in parts[1:]:
        if not IDENTIFIER.fullmatch(part):
            raise InvalidValue(f"{what} entry {shown!r}: {part[:130]!r} is not an org or project identifier "
                               "(a letter or _, then up to 127 letters, digits, _ or $).")
    return ":".join(parts[1:])


def parse_harness_scopes(text: Any, account_id: str) -> tuple[str, ...]:
    """`harnessScopes` as sent: entries separated by `,`, each trimmed, empty ones ignored, duplicates collapsed;
    sorted (so the account's entry, then each org before its projects). Absent or empty: the account only (())."""
    if text is None:
        return ()
    if not isinstance(text, str):
        raise InvalidValue(f"{HARNESS_SCOPES} must be a string of comma-separated scopes, e.g. "
                           f"\"{account_id}:myorg,{account_id}:myorg:myproject\".")
    if len(text) > MAX_SCOPES_TEXT:
        raise InvalidValue(f"{HARNESS_SCOPES} is {len(text)} characters long; at most {MAX_SCOPES_TEXT} are accepted.")
    scopes = {parse_scope(entry, account_id, HARNESS_SCOPES) for entry in text.split(",") if entry.strip()}
    if len(scopes) > MAX_PLACEMENTS:
        raise InvalidValue(f"{HARNESS_SCOPES} names {len(scopes)} scopes; at most {MAX_PLACEMENTS} are accepted.")
    return tuple(sorted(scopes))


def format_harness_scopes(account_id: str, scopes: Iterable[str]) -> str:
    return ",".join(render(account_id, s) for s in sorted(scopes))


def new_generation() -> str:
    """A generation: what an assignment or membership hangs on is the same thing only while it carries the same
    random generation it carried then. Equality of stored values, never an order of two machines' clocks."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Placement:
    scope: str
    owner: str
    """`idp` (from harnessScopes) or `admin` (set in the application)."""
    since: datetime
    """When the group was placed here (shown; rows written before generations existed are judged by it)."""
    generation: str = ""
    """This placement's generation: a placement removed and added again gets a new one."""


def effective_placements(placements: tuple[Placement, ...], created: datetime, managed_by: str) -> tuple[Placement, ...]:
    """A group with no placements stored is placed at the account (since it was created; its generation is the
    group's own, which a group created again with the same identifier does not share)."""
    if placements:
        return placements
    return (Placement(ACCOUNT_SCOPE, IDP if managed_by == "scim" else ADMIN, created, f"group:{created.isoformat()}"),)


def replaced(current: tuple[Placement, ...], created: datetime, managed_by: str, scopes: tuple[str, ...],
             owner: str, now: datetime) -> tuple[Placement, ...]:
    """The placements after the owner sets `scopes` (() = the account only): a scope kept keeps its `since` and its
    generation; a new one gets a new generation."""
    if not scopes:
        return ()
    before = {p.scope: p for p in effective_placements(current, created, managed_by)}
    return tuple(Placement(s, owner, before[s].since, before[s].generation or new_generation()) if s in before
                 else Placement(s, owner, now, new_generation()) for s in scopes)


def idp_scopes(placements: tuple[Placement, ...]) -> tuple[str, ...] | None:
    """What the IdP sent as harnessScopes (normalised), or None when it sent none."""
    if placements and placements[0].owner == IDP:
        return tuple(p.scope for p in placements)
    return None


def sent_harness_scopes(account_id: str, placements: tuple[Placement, ...]) -> str | None:
    """harnessScopes as the IdP last sent it, normalised (`A:o1,A:o1:p1`), or None when it sent none."""
    sent = idp_scopes(placements)
    return format_harness_scopes(account_id, sent) if sent else None


def encode_placements(placements: tuple[Placement, ...]) -> str:
    import json

    return json.dumps([[p.scope, p.owner, p.since.isoformat(), p.generation] for p in placements], separators=(",", ":"))


def decode_placements(text: str | None) -> tuple[Placement, ...]:
    import json

    if not text:
        return ()
    return tuple(Placement(entry[0], entry[1], datetime.fromisoformat(entry[2]), entry[3] if len(entry) > 3 else "")
                 for entry in json.loads(text))


@dataclass(frozen=True)
class ScopeRecord:
    """An org (`O`) or a project (`O:P`) of the account, created by the application's admins."""

    scope: str
    name: str
    created: datetime
    generation: str = ""
    """Random, new each time the scope is created: what hangs on the scope names it."""
    parent: str = ""
    """A project's: its org's generation when the project was created."""

    @property
    def identifier(self) -> str:
        return self.scope.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class Principal:
    type: str
    """`user` or `group`"""
    id: str


@dataclass(frozen=True)
class RoleAssignment:
    id: str
    scope: str
    role: str
    resource_group: str
    principal: Principal
    created: datetime
    principal_since: datetime
    """The group's creation time, or when the user was last activated: a later group or user of the same id, or a
    reactivated user, does not inherit the assignment."""
    scope_generation: str = ""
    """The scope's generation when the assignment was made (empty for rows made before generations existed)."""
    placement_generation: str = ""
    """For a group: the generation of the placement that reached the scope when the assignment was made."""


@dataclass(frozen=True)
class DirectMembership:
    scope: str
    user_id: str
    created: datetime
    scope_generation: str = ""


def live_scopes(records: Iterable[ScopeRecord]) -> dict[str, ScopeRecord]:
    """The scopes that exist: a project whose org is gone (or was created again after it) does not."""
    by_scope = {r.scope: r for r in records}
    alive: dict[str, ScopeRecord] = {}
    for scope, record in by_scope.items():
        if ":" in scope:
            org = by_scope.get(scope.split(":")[0])
            if org is None or not _same_generation(org, record.parent, record.created):
                continue
        alive[scope] = record
    return alive


def _same_generation(record: ScopeRecord, generation: str, made: datetime | None) -> bool:
    """Whether something made under `generation` (at `made`) hangs on this scope record: the generations are equal.
    Rows written before generations existed carry none and are judged by time, as they were then."""
    if generation and record.generation:
        return record.generation == generation
    return made is None or record.created <= made


def scope_exists(scope: str, alive: dict[str, ScopeRecord], at: datetime | None = None, generation: str = "") -> bool:
    """The account always exists; an org or project if it exists now (and, with a generation or `at`, is the same
    one that existed then)."""
    if not scope:
        return True
    record = alive.get(scope)
    return record is not None and (at is None and not generation or _same_generation(record, generation, at))


def placement_state(placement: Placement, alive: dict[str, ScopeRecord]) -> str:
    return "active" if scope_exists(placement.scope, alive) else "pending"


def check_assignable(role: str, resource_group: str, scope: str) -> None:
    """A built-in role and resource group of the scope's level (Harness: `_project_admin` is a project role)."""
    if role not in ROLES:
        raise InvalidValue(f"role {role!r} is not a role of this account; use one of {', '.join(ROLES)}.")
    if resource_group not in RESOURCE_GROUPS:
        raise InvalidValue(f"resourceGroup {resource_group!r} is not a resource group of this account; use one of "
                           f"{', '.join(RESOURCE_GROUPS)}.")
    if ROLES[role][1] != level(scope):
        raise InvalidValue(f"role {role} is a role of the {ROLES[role][1]} level; the scope is the {level(scope)} "
                           "level.")
    if RESOURCE_GROUPS[resource_group][1] != level(scope):
        raise InvalidValue(f"resourceGroup {resource_group} belongs to the {RESOURCE_GROUPS[resource_group][1]} "
                           f"level; the scope is the {level(scope)} level.")


def group_reaches(placements: tuple[Placement, ...], scope: str, alive: dict[str, ScopeRecord],
                  at: datetime | None = None, generation: str = "") -> Placement | None:
    """The active placement under which a group may hold a role at `scope` (placed there or at a parent; with a
    generation, the very placement of that generation; with only `at`, for rows from before generations, placed
    no later than then), or None."""
    for placement in placements:
        if not (contains(placement.scope, scope) and scope_exists(placement.scope, alive)):
            continue
        if generation and placement.generation:
            if placement.generation == generation:
                return placement
        elif at is None or placement.since <= at:
            return placement
    return None


def scope_reach(placements: tuple[Placement, ...], alive: dict[str, ScopeRecord]) -> list[str]:
    """The scopes a group's members are members of: each active placement and the parents of a project or org."""
    reached: list[str] = []
    for placement in placements:
        if scope_exists(placement.scope, alive):
            reached.extend(s for s in ancestors(placement.scope) if s not in reached)
    return reached



@dataclass(frozen=True)
class AdminRemovals:
    """The last-admin guard's shared row: the removals of `_account_admin` holders claimed lately, each
    (`a:<assignment id>` or `u:<user id>`) with when it was claimed, and the row's version (None: no row yet)."""

    claims: dict[str, datetime]
    etag: str | None
