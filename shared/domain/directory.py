"""Use cases that change the directory (users and groups), for the SCIM routes and the management API alike: each
route makes one call here, and the call applies every rule its write implies beyond the resource itself, so no
handler composes them.

- A user deleted or deactivated, through SCIM or the management API, passes the last-admin guard first and loses
  their direct scope memberships and role assignments (`assignments.before_user_removal`).
- A group write that moves the group's placements deletes the assignments the old placements carried
  (`assignments.prune_group`); a deleted group's assignments are forgotten (`assignments.forget_group`).
- The identity provider's writes are never refused for the last admin's sake: when one to a group that holds
  `_account_admin` (members removed, placements moved, the group deleted) leaves nobody holding it, the account's
  admins are told, in the failures view and the digest email (`Directory.tell_admins`).

`Caller` is who makes a SCIM write, built once at the edge; `Directory` the ports these use cases work on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared.domain import assignments, native, times
from shared.domain import groups as scim_groups
from shared.domain import users as scim_users
from shared.domain.accounts import Account
from shared.domain.failures import Failure
from shared.domain.ports import AccessStore, GroupStore, UserStore
from shared.domain.scopes import ACCOUNT_ADMIN
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
    tell_admins: Callable[[str, Failure], None] | None = None
    """Records a notice for the account's admins (the failures view) and schedules their digest email."""

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
    _admins_left(d, account, group_id, "Groups.Replace", "a replacement of its members or placements")
    return result, group


def patch_group(d: Directory, account: Account, group_id: str, body: Any,
                if_match: str | None) -> scim_groups.WriteResult:
    result = scim_groups.patch_group(d.groups, account, group_id, body, if_match, d.queue)
    if result.placed:
        assignments.prune_group(d.access, account, d.groups.get(account.id, result.group.id))
    if result.placed or result.removed:
        _admins_left(d, account, result.group.id, "Groups.Patch", "a change of its members or placements")
    return result


def delete_group(d: Directory, account: Account, group_id: str, if_match: str | None) -> Settled:
    held = d.tell_admins is not None and assignments.holds_account_admin(d.access, account, group_id)
    outcome = scim_groups.delete_group(d.groups, account, group_id, if_match, d.queue)
    assignments.forget_group(d.access, account, group_id)
    if held:
        _admins_left(d, account, group_id, "Groups.Delete", "its deletion", checked=True)
    return outcome


def _admins_left(d: Directory, account: Account, group_id: str, operation: str, what: str,
                 checked: bool = False) -> None:
    """After the identity provider's write to a group: if the group holds (`checked`: held) `_account_admin` and
    nobody holds it any more, the admins are told. Reads only for writes that could take the role away: the group's
    own assignments (one range read), and the holders only for a group that held the role."""
    if d.tell_admins is None:
        return
    if not checked and not assignments.holds_account_admin(d.access, account, group_id):
        return
    if not assignments.nobody_holds_account_admin(d.access, d.users, d.groups, account):
        return
    now = times.now()
    d.tell_admins(account.id, Failure(
        job_id=f"no-account-admin-{group_id}-{now:%Y%m%dT%H%M%S%f}", operation=operation, resource_type="Group",
        resource_id=group_id, external_id="", attempts=1, first_attempt=now, last_attempt=now, invocation_id="",
        work_id="", source="access",
        last_error=f"Nobody holds {ACCOUNT_ADMIN} any more: the identity provider's write to group {group_id!r} "
                   f"({what}) took it from its last holder. The write was applied (the identity provider decides "
                   f"membership); assign {ACCOUNT_ADMIN} to someone in the console's Scopes page or with "
                   "`python manage.py roles assign`."))


# --- the management API -------------------------------------------------------------------------------------

def edit_native_user(d: Directory, account: Account, user_id: str, body: Any) -> StoredUser:
    return native.edit_user(d.users, account, user_id, body, d._guard(account))


def delete_native_user(d: Directory, account: Account, user_id: str) -> None:
    native.delete_user(d.users, account, user_id, d.queue, d._guard(account))


def delete_native_group(d: Directory, account: Account, group_id: str) -> None:
    native.delete_group(d.groups, account, group_id, d.queue)
    assignments.forget_group(d.access, account, group_id)
