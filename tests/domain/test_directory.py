"""The directory use cases (shared/domain/directory.py) on the memory stores: each route's one call applies the rules
its write implies — the last-admin guard before a user is removed, the assignments a group's old placements carried
pruned, a deleted group's assignments forgotten — whichever API makes the write. Fast: no storage, no network."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from shared.domain import assignments, directory, native, scope_admin
from shared.domain.accounts import Account
from shared.domain.directory import Caller, Directory
from shared.domain.failures import Failure
from shared.errors import LastAccountAdmin
from shared.storage.memory import MemoryAccessStore, MemoryGroupStore, MemoryQueue, MemoryState, MemoryUserStore

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HARNESS = "urn:ietf:params:scim:schemas:extension:harness:2.0:Group"
ACCOUNT = Account(id="acme", name="Acme", notification_email=None)
OKTA = Caller("current", "okta", "scim.okta1")


@pytest.fixture
def d() -> Directory:
    state = MemoryState()
    return Directory(MemoryUserStore(state), MemoryGroupStore(state), MemoryAccessStore(state), MemoryQueue())


def user(d: Directory, name: str) -> str:
    return directory.create_user(d, ACCOUNT, {"userName": name}, OKTA).id


def native_user(d: Directory, email: str) -> str:
    return native.create_user(d.users, ACCOUNT, {"email": email}).id


def assign(d: Directory, scope: str, role: str, group: str | None = None, user_id: str | None = None) -> str:
    resource_group = {"_account_admin": "_all_account_level_resources",
                      "_organization_admin": "_all_organization_level_resources"}[role]
    principal = {"type": "group", "id": group} if group else {"type": "user", "id": user_id}
    return assignments.create_assignment(d.access, d.users, d.groups, ACCOUNT, {
        "scope": scope, "role": role, "resourceGroup": resource_group, "principal": principal}).id


def assignment_ids(d: Directory) -> set[str]:
    return {a.id for a in d.access.assignments(ACCOUNT.id)}


def deactivate() -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}


def test_the_caller_is_recorded_on_the_user_it_writes(d: Directory) -> None:
    ann = user(d, "ann@acme.test")
    written = directory.patch_user(d, ACCOUNT, ann, {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "displayName", "value": "Ann"}]}, None, Caller("legacy", "onelogin", "scim.ol1"))
    assert written.integrations == frozenset({"current", "legacy"})
    assert written.changed_by is not None and (written.changed_by.key_id, written.changed_by.idp) == ("scim.ol1", "onelogin")


@pytest.mark.parametrize("removal", ["scim delete", "scim deactivate", "scim put inactive", "native delete",
                                     "native deactivate"])
def test_the_last_admin_is_kept_whichever_api_removes_them(d: Directory, removal: str) -> None:
    make = native_user if removal.startswith("native") else user  # the application's own users are removed there
    ann = make(d, "ann@acme.test")
    assign(d, ACCOUNT.id, "_account_admin", user_id=ann)
    attempts: dict[str, Callable[[], object]] = {
        "scim delete": lambda: directory.delete_user(d, ACCOUNT, ann, None),
        "scim deactivate": lambda: directory.patch_user(d, ACCOUNT, ann, deactivate(), None, OKTA),
        "scim put inactive": lambda: directory.replace_user(d, ACCOUNT, ann, {"userName": "ann@acme.test",
                                                                              "active": False}, None, OKTA),
        "native delete": lambda: directory.delete_native_user(d, ACCOUNT, ann),
        "native deactivate": lambda: directory.edit_native_user(d, ACCOUNT, ann, {"active": False}),
    }
    with pytest.raises(LastAccountAdmin):
        attempts[removal]()
    assert d.users.get(ACCOUNT.id, ann).attributes.get("active", True) is True
    bob = make(d, "bob@acme.test")
    assign(d, ACCOUNT.id, "_account_admin", user_id=bob)
    attempts[removal]()  # bob holds it now: ann may go, and takes her own assignment with her
    assert {a.principal.id for a in d.access.assignments(ACCOUNT.id)} == {bob}


def test_a_group_moved_by_its_idp_loses_the_roles_its_old_placement_carried(d: Directory) -> None:
    for org in ("eng", "ops"):
        scope_admin.create_org(d.access, ACCOUNT, {"identifier": org, "name": org.title()})
    created = directory.create_group(d, ACCOUNT, {"displayName": "Builders", HARNESS: {
        "harnessScopes": f"{ACCOUNT.id}:eng,{ACCOUNT.id}:ops"}}).group
    kept = assign(d, f"{ACCOUNT.id}:ops", "_organization_admin", group=created.id)
    assign(d, f"{ACCOUNT.id}:eng", "_organization_admin", group=created.id)
    directory.patch_group(d, ACCOUNT, created.id, {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": f"{HARNESS}:harnessScopes", "value": f"{ACCOUNT.id}:ops"}]}, None)
    assert assignment_ids(d) == {kept}
    result, group = directory.replace_group(d, ACCOUNT, created.id, {"displayName": "Builders"}, None)
    assert result.placed and group.placements == () and assignment_ids(d) == set()  # placed at the account only


def test_a_deleted_group_forgets_its_roles_whichever_api_deletes_it(d: Directory) -> None:
    scim_group = directory.create_group(d, ACCOUNT, {"displayName": "Admins"}).group
    assign(d, ACCOUNT.id, "_account_admin", group=scim_group.id)
    directory.delete_group(d, ACCOUNT, scim_group.id, None)
    assert assignment_ids(d) == set()


def test_the_idp_may_take_the_last_admin_role_away_and_the_admins_are_told(d: Directory) -> None:
    told: list[tuple[str, Failure]] = []
    d = replace(d, tell_admins=lambda account_id, failure: told.append((account_id, failure)))
    ann, bob = user(d, "ann@acme.test"), user(d, "bob@acme.test")
    admins = directory.create_group(d, ACCOUNT, {"displayName": "Admins", "members": [{"value": ann}]}).group
    others = directory.create_group(d, ACCOUNT, {"displayName": "Others", "members": [{"value": bob}]}).group
    assign(d, ACCOUNT.id, "_account_admin", group=admins.id)

    def remove(group_id: str, user_id: str) -> None:
        directory.patch_group(d, ACCOUNT, group_id, {"schemas": [PATCH], "Operations": [
            {"op": "remove", "path": f'members[value eq "{user_id}"]'}]}, None)

    remove(others.id, bob)  # a group without the role: nothing to tell, nothing read for it
    assert told == []
    remove(admins.id, ann)  # the identity provider decides membership: applied, and the admins told
    assert [u for u, _ in d.groups.members(ACCOUNT.id, admins.id)] == []
    [(account_id, notice)] = told
    assert account_id == ACCOUNT.id and notice.operation == "Groups.Patch" and notice.source == "access"
    assert notice.resource_id == admins.id and "_account_admin" in notice.last_error
    carl = user(d, "carl@acme.test")
    assign(d, ACCOUNT.id, "_account_admin", user_id=carl)
    directory.delete_group(d, ACCOUNT, admins.id, None)  # carl still holds it: nothing to tell
    assert len(told) == 1
    again = directory.create_group(d, ACCOUNT, {"displayName": "Admins again", "members": [{"value": bob}]}).group
    assign(d, ACCOUNT.id, "_account_admin", group=again.id)
    [carls] = [a for a in d.access.assignments(ACCOUNT.id) if a.principal.id == carl]
    assignments.delete_assignment(d.access, d.users, d.groups, ACCOUNT, carls.id)  # bob holds it through the group
    directory.delete_group(d, ACCOUNT, again.id, None)
    assert [n.operation for _, n in told] == ["Groups.Patch", "Groups.Delete"]
