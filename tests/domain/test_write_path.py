"""The domain's write path on the memory stores (fast: no storage, no network): net membership changes, conflict
retries, the native-side rules, and the ordering rule when part of a change is queued. The memory stores pass the
same contract suite as the Table stores (tests/storage/test_store_contract.py); what only real storage and real
cuts can show is in tests/reliability and tests/faults."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain import groups, native, users
from shared.domain.accounts import Account
from shared.domain.jobs import RetryWork, serialize
from shared.domain.retries import RetryContext, handle_retry
from shared.domain.stored import GroupWrite, MembershipChange, StoredGroup
from shared.errors import ManagedByEntra, PreconditionFailed, ServiceUnavailable
from shared.storage.memory import MemoryAccounts, MemoryFailureLog, MemoryGroupStore, MemoryQueue, MemoryState, MemoryUserStore

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ACCOUNT = Account(id="unit", name="Unit", notification_email=None)


@pytest.fixture
def state() -> MemoryState:
    return MemoryState(inline_memberships=4)  # small, so recorded work and its batches are cheap to reach


@pytest.fixture
def user_store(state: MemoryState) -> MemoryUserStore:
    return MemoryUserStore(state)


@pytest.fixture
def group_store(state: MemoryState) -> MemoryGroupStore:
    return MemoryGroupStore(state)


def people(store: MemoryUserStore, count: int) -> list[str]:
    return [users.create_user(store, ACCOUNT, {"userName": f"p{n}-{uuid.uuid4().hex[:4]}@contoso.test"}).id
            for n in range(count)]


def ops(*operations: tuple[str, str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": [{"op": op, "path": path, "value": value} if value is not None
                                               else {"op": op, "path": path} for op, path, value in operations]}


def values(ids: list[str]) -> list[dict[str, str]]:
    return [{"value": u} for u in ids]


def member_ids(store: MemoryGroupStore, group_id: str) -> set[str]:
    return {u for u, _ in store.members(ACCOUNT.id, group_id)}


def test_member_operations_fold_in_order_into_one_net_change(user_store: MemoryUserStore,
                                                             group_store: MemoryGroupStore) -> None:
    a, b, c = people(user_store, 3)
    group = groups.create_group(group_store, ACCOUNT, {"displayName": "Fold"}).group
    groups.patch_group(group_store, ACCOUNT, group.id, ops(
        ("add", "members", values([a, b])), ("remove", f'members[value eq "{a}"]', None), ("add", "members", values([c])),
        ("remove", "members", values([b])), ("add", "members", values([a]))))
    assert member_ids(group_store, group.id) == {a, c}
    groups.patch_group(group_store, ACCOUNT, group.id, ops(("replace", "members", values([b]))))
    assert member_ids(group_store, group.id) == {b}
    groups.patch_group(group_store, ACCOUNT, group.id, ops(("remove", "members", None)))
    assert member_ids(group_store, group.id) == set()


class RacingGroupStore(MemoryGroupStore):
    """Another instance writes the group between this one's read and its write, `races` times."""

    def __init__(self, state: MemoryState, races: int) -> None:
        super().__init__(state)
        self.races = races

    def update(self, account_id: str, current: StoredGroup, attributes: dict[str, Any], change: MembershipChange,
               now: datetime, placements: Any = None) -> GroupWrite:
        if self.races:
            self.races -= 1
            other = self.get(account_id, current.id)
            super().update(account_id, other, {**other.attributes, "externalId": uuid.uuid4().hex},
                           MembershipChange({}, set()), now)
        return super().update(account_id, current, attributes, change, now, placements)


def test_a_conflicting_write_is_retried_on_the_new_version_or_is_a_412_under_if_match(
        state: MemoryState, user_store: MemoryUserStore) -> None:
    [a] = people(user_store, 1)
    store = RacingGroupStore(state, races=3)
    group = groups.create_group(store, ACCOUNT, {"displayName": "Race"}).group
    groups.patch_group(store, ACCOUNT, group.id, ops(("add", "members", values([a]))))
    assert member_ids(store, group.id) == {a} and store.races == 0

    store.races = 1
    version = groups.get_group(store, ACCOUNT, group.id).version
    with pytest.raises(PreconditionFailed):
        groups.patch_group(store, ACCOUNT, group.id, ops(("remove", "members", values([a]))), if_match=version)
    assert member_ids(store, group.id) == {a}


def test_a_write_after_queued_work_finishes_that_work_first(state: MemoryState, user_store: MemoryUserStore,
                                                            group_store: MemoryGroupStore) -> None:
    ids = people(user_store, 10)
    group = groups.create_group(group_store, ACCOUNT, {"displayName": "Queued"}).group
    queue = MemoryQueue()
    state.outage_after(3)  # the group read, the write with its record, one batch; then storage is down
    result = groups.patch_group(group_store, ACCOUNT, group.id, ops(("add", "members", values(ids))), queue=queue)
    state.restore()
    assert result.outcome.queued and len(queue.jobs) == 1
    assert member_ids(group_store, group.id) == set(ids[:4])  # one batch of 4 got through

    groups.patch_group(group_store, ACCOUNT, group.id, ops(("remove", "members", values(ids[:6]))), queue=queue)
    assert member_ids(group_store, group.id) == set(ids[6:])  # the queued adds first, then the remove

    job = queue.jobs[0][0]
    assert isinstance(job, RetryWork)
    context = RetryContext(settings=None, accounts=MemoryAccounts(ACCOUNT), pending=group_store.pending,  # type: ignore[arg-type]
                           failures=MemoryFailureLog(state), queue=queue, mailer=None, max_attempts=5)
    assert handle_retry(context, serialize(job).encode(), datetime.now(UTC)) == "nothing left to do"  # a late retry
    assert member_ids(group_store, group.id) == set(ids[6:])


def test_deleting_a_group_or_a_user_while_adds_are_queued(state: MemoryState, user_store: MemoryUserStore,
                                                          group_store: MemoryGroupStore) -> None:
    ids = people(user_store, 10)
    doomed = groups.create_group(group_store, ACCOUNT, {"displayName": "Doomed"}).group
    kept = groups.create_group(group_store, ACCOUNT, {"displayName": "Kept"}).group
    queue = MemoryQueue()
    for group in (doomed, kept):
        state.outage_after(3)
        assert groups.patch_group(group_store, ACCOUNT, group.id, ops(("add", "members", values(ids))),
                                  queue=queue).outcome.queued
        state.restore()
    groups.delete_group(group_store, ACCOUNT, doomed.id, queue=queue)
    assert member_ids(group_store, doomed.id) == set()
    assert all(doomed.id not in {g.id for g in user_store.get(ACCOUNT.id, u).groups} for u in ids)

    leaver = ids[-1]  # named by the queued adds of `kept`, not yet applied
    users.delete_user(user_store, ACCOUNT, leaver, queue=queue)
    groups.patch_group(group_store, ACCOUNT, kept.id, ops(("add", "members", values([]))), queue=queue)
    assert member_ids(group_store, kept.id) == set(ids[:-1])


def test_storage_down_before_the_first_step_is_a_503_that_changed_nothing(state: MemoryState,
                                                                          user_store: MemoryUserStore,
                                                                          group_store: MemoryGroupStore) -> None:
    ids = people(user_store, 2)
    group = groups.create_group(group_store, ACCOUNT, {"displayName": "Down"}).group
    state.outage_after(1)  # the read succeeds, the write does not
    with pytest.raises(ServiceUnavailable):
        groups.patch_group(group_store, ACCOUNT, group.id, ops(("add", "members", values(ids))), queue=MemoryQueue())
    state.restore()
    assert member_ids(group_store, group.id) == set()


def test_native_rules_scim_groups_and_their_members_are_locked(user_store: MemoryUserStore,
                                                              group_store: MemoryGroupStore) -> None:
    a, b = people(user_store, 2)
    scim = groups.create_group(group_store, ACCOUNT, {"displayName": "From Entra", "members": values([a])}).group
    own = native.create_group(group_store, ACCOUNT, {"name": "Ours"})
    with pytest.raises(ManagedByEntra):
        native.rename_group(group_store, ACCOUNT, scim.id, {"name": "Renamed"})
    with pytest.raises(ManagedByEntra):
        native.change_membership(group_store, user_store, ACCOUNT, scim.id, b, add=True)
    with pytest.raises(ManagedByEntra):  # a user in an Entra group is managed there
        native.change_membership(group_store, user_store, ACCOUNT, own.id, a, add=True)
    native.change_membership(group_store, user_store, ACCOUNT, own.id, b, add=True)
    assert native.rename_group(group_store, ACCOUNT, own.id, {"name": "Ours, renamed"}).display_name == "Ours, renamed"
    assert member_ids(group_store, own.id) == {b}
    assert [g.display for g in user_store.get(ACCOUNT.id, b).groups] == ["Ours, renamed"]


def test_a_native_user_adopted_by_an_identity_provider_is_managed_there(user_store: MemoryUserStore) -> None:
    adopted = native.create_user(user_store, ACCOUNT, {"email": "adopt@contoso.test"})
    own = native.create_user(user_store, ACCOUNT, {"email": "own@contoso.test"})
    users.patch_user(user_store, ACCOUNT, adopted.id, ops(("replace", "displayName", "Adopted")), idp="okta")
    users.patch_user(user_store, ACCOUNT, adopted.id, ops(("replace", "title", "Later")), idp="entra")
    view = native.user_view(user_store.get(ACCOUNT.id, adopted.id))
    assert view["source"] == "native" and view["adopted"]["by"] == "okta"  # the first adoption is kept
    with pytest.raises(ManagedByEntra):
        native.delete_user(user_store, ACCOUNT, adopted.id)
    with pytest.raises(ManagedByEntra):
        native.edit_user(user_store, ACCOUNT, adopted.id, {"active": False})
    assert native.user_view(native.edit_user(user_store, ACCOUNT, own.id, {"active": False}))["status"] == "disabled"
    native.delete_user(user_store, ACCOUNT, own.id)
