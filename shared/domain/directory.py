"""Use cases that change the directory (users and groups), for the SCIM routes and the management API alike: each
route makes one call here, and the call applies every rule its write implies beyond the resource itself, so no
handler composes them.

- A user deleted or deactivated, through SCIM or the management API, passes the last-admin guard first and loses
  their direct scope memberships and role assignments (`assignments.before_user_removal`).
- A group write that moves the group's placements deletes the assignments the old placements carried
  (`assignments.prune_group`); a deleted group's assignments are forgotten (`assignments.forget_group`).

`Caller` is who makes a SCIM write, built once at the edge; `Directory` the ports these use cases work on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.domain import assignments, native
from shared.domain import groups as scim_groups
from shared.domain import users as scim_users
from shared.domain.accounts import Account
from shared.domain.ports import AccessStore, GroupStore, UserStore
from shared.domain.stored import StoredGroup, StoredUser
from shared.domain.work import JobQueue, Settled


@dataclass(frozen=True)
class Caller:
    """Who makes a SCIM write: the app integration of its token (current = NextGen, legacy = FirstGen), the identity
    provider the token is for, and the token's key id (`client:<id>` for an OAuth client's access token)."""

    integration: str = "current"
    idp: str = "entra"
    key_id: str = ""


@dataclass(frozen=True)
class Directory:
    """The ports a directory use case works on, for one request (`queue`: where recorded work left over goes)."""

    users: UserStore
    groups: GroupStore
    access: AccessStore
    queue: JobQueue | None = None

    def _guard(self, account: Account) -> scim_users.RemovalGuard:
        return assignments.before_user_removal(self.access, self.users, self.groups, account)


# --- SCIM --------------------------------------------------------------------------------------------------

def create_user(d: Directory, account: Account, body: Any, caller: Caller) -> StoredUser:
    return scim_users.create_user(d.users, account, body, caller.integration, caller.idp, caller.key_id)


def replace_user(d: Directory, account: Account, user_id: str, body: Any, if_match: str | None,
                 caller: Caller) -> StoredUser:
    return scim_users.replace_user(d.users, account, user_id, body, if_match, caller.integration, caller.idp,
                                   d._guard(account), caller.key_id)


def patch_user(d: Directory, account: Account, user_id: str, body: Any, if_match: str | None,
               caller: Caller) -> StoredUser:
    return scim_users.patch_user(d.users, account, user_id, body, if_match, caller.integration, caller.idp,
                                 d._guard(account), caller.key_id)


def delete_user(d: Directory, account: Account, user_id: str, if_match: str | None) -> Settled:
    return scim_users.delete_user(d.users, account, user_id, if_match, d.queue, d._guard(account))


def create_group(d: Directory, account: Account, body: Any) -> scim_groups.WriteResult:
    return scim_groups.create_group(d.groups, account, body, d.queue)


def replace_group(d: Directory, account: Account, group_id: str, body: Any,
                  if_match: str | None) -> tuple[scim_groups.WriteResult, StoredGroup]:
    """The write, and the group as it now is."""
    result = scim_groups.replace_group(d.groups, account, group_id, body, if_match, d.queue)
    group = scim_groups.get_group(d.groups, account, group_id)
    if result.placed:
        assignments.prune_group(d.access, account, group)
    return result, group


def patch_group(d: Directory, account: Account, group_id: str, body: Any,
                if_match: str | None) -> scim_groups.WriteResult:
    result = scim_groups.patch_group(d.groups, account, group_id, body, if_match, d.queue)
    if result.placed:
        assignments.prune_group(d.access, account, d.groups.get(account.id, result.group.id))
    return result


def delete_group(d: Directory, account: Account, group_id: str, if_match: str | None) -> Settled:
    outcome = scim_groups.delete_group(d.groups, account, group_id, if_match, d.queue)
    assignments.forget_group(d.access, account, group_id)
    return outcome


# --- the management API -------------------------------------------------------------------------------------

def edit_native_user(d: Directory, account: Account, user_id: str, body: Any) -> StoredUser:
    return native.edit_user(d.users, account, user_id, body, d._guard(account))


def delete_native_user(d: Directory, account: Account, user_id: str) -> None:
    native.delete_user(d.users, account, user_id, d.queue, d._guard(account))


def delete_native_group(d: Directory, account: Account, group_id: str) -> None:
    native.delete_group(d.groups, account, group_id, d.queue)
    assignments.forget_group(d.access, account, group_id)
