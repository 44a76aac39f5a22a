"""The store contract (`shared/domain/ports.py`), run against both implementations: the Table stores on Azurite and
the memory stores the domain unit tests use. A case that passes on one and fails on the other is a drift of the fake
from the real thing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.config import Settings
from shared.domain.failures import Failure
from shared.domain.ports import AccessStore, DriftStore, FailureLog, GroupStore, ReconcileLease, UserStore
from shared.domain.scopes import DirectMembership, Placement, Principal, RoleAssignment, ScopeRecord
from shared.domain.stored import MembershipChange, VersionConflict
from shared.errors import NotFound, Uniqueness
from shared.storage.access_table import TableAccessStore
from shared.storage.clients import table_service
from shared.storage.drift import TableDriftStore
from shared.storage.failures_table import FailureStore
from shared.storage.groups_table import TableGroupStore
from shared.storage.lease import LeaseStore
from shared.storage.memory import (
    MemoryAccessStore,
    MemoryDriftStore,
    MemoryFailureLog,
    MemoryGroupStore,
    MemoryLease,
    MemoryState,
    MemoryUserStore,
)
from shared.storage.tables import RESOURCES, Tables
from shared.storage.users_table import TableUserStore
from tests.support.azurite import Azurite

LARGE = 40  # more memberships than one write holds (32 on both stores): recorded, then carried out


@dataclass
class Stores:
    users: UserStore
    groups: GroupStore
    drift: DriftStore
    failures: FailureLog
    lease: ReconcileLease
    access: AccessStore
    account: str


@pytest.fixture(params=["memory", "table"])
def stores(request: pytest.FixtureRequest, azurite: Azurite, table_prefix: str) -> Iterator[Stores]:
    account = "contract-" + uuid.uuid4().hex[:8]
    if request.param == "memory":
        state = MemoryState()
        yield Stores(MemoryUserStore(state), MemoryGroupStore(state), MemoryDriftStore(state), MemoryFailureLog(state),
                     MemoryLease(), MemoryAccessStore(state), account)
        return
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    tables = Tables(table_service(settings), table_prefix)
    tables.get(RESOURCES)
    yield Stores(TableUserStore(tables), TableGroupStore(tables), TableDriftStore(tables), FailureStore(tables),
                 LeaseStore(tables), TableAccessStore(tables), account)


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def new_user(s: Stores, name: str, external_id: str | None = None) -> str:
    user_id = str(uuid.uuid4())
    attributes = {"userName": name, **({"externalId": external_id} if external_id else {})}
    s.users.create(s.account, user_id, attributes, NOW)
    return user_id


def member_ids(s: Stores, group_id: str) -> set[str]:
    return {user_id for user_id, _ in s.groups.members(s.account, group_id)}


def test_user_names_are_unique_case_insensitively_and_a_race_has_one_winner(stores: Stores) -> None:
    new_user(stores, "ann@contoso.test")
    with pytest.raises(Uniqueness):
        new_user(stores, "ANN@contoso.test")

    def attempt(_: int) -> bool:
        try:
            new_user(stores, "race@contoso.test")
        except Uniqueness:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(attempt, range(8))) == 1
    found = stores.users.find_by_user_name(stores.account, "RACE@contoso.test")
    assert found is not None and found.user_name == "race@contoso.test"


def test_ids_match_exactly_and_accounts_are_isolated(stores: Stores) -> None:
    user_id = new_user(stores, "bo@contoso.test")
    for wrong in (user_id[:8], user_id + "0", user_id.upper(), ""):
        with pytest.raises(NotFound):
            stores.users.get(stores.account, wrong)
    with pytest.raises(NotFound):
        stores.users.get("another-account", user_id)
    assert stores.users.find_by_user_name("another-account", "bo@contoso.test") is None
    group, _ = stores.groups.create(stores.account, {"displayName": "Engineering"}, NOW)
    for wrong in (group.id[:4], group.id + "x", group.id.lower()):
        with pytest.raises(NotFound):
            stores.groups.get(stores.account, wrong)
    assert list(stores.groups.scan("another-account")) == []


def test_a_write_on_a_stale_version_is_a_conflict_and_changes_nothing(stores: Stores) -> None:
    user_id = new_user(stores, "cy@contoso.test")
    read = stores.users.get(stores.account, user_id)
    stores.users.update(stores.account, read, {"userName": "cy@contoso.test", "title": "first"}, NOW)
    with pytest.raises(VersionConflict):
        stores.users.update(stores.account, read, {"userName": "cy@contoso.test", "title": "stale"}, NOW)
    with pytest.raises(VersionConflict):
        stores.users.delete(stores.account, read, NOW)
    assert stores.users.get(stores.account, user_id).attributes["title"] == "first"

    group, _ = stores.groups.create(stores.account, {"displayName": "Ops"}, NOW)
    stores.groups.update(stores.account, group, {"displayName": "Ops", "externalId": "x"}, MembershipChange({}, set()), NOW)
    with pytest.raises(VersionConflict):
        stores.groups.update(stores.account, group, {"displayName": "Ops"}, MembershipChange({user_id: None}, set()), NOW)
    with pytest.raises(VersionConflict):
        stores.groups.delete(stores.account, group, NOW)
    assert member_ids(stores, group.id) == set()


def test_joining_a_group_moves_the_users_version_so_a_stale_delete_cannot_strand_a_membership(stores: Stores) -> None:
    user_id = new_user(stores, "di@contoso.test")
    before = stores.users.get(stores.account, user_id)
    group, _ = stores.groups.create(stores.account, {"displayName": "Joiners"}, NOW)
    stores.groups.update(stores.account, group, group.attributes, MembershipChange({user_id: "Di"}, set()), NOW)
    with pytest.raises(VersionConflict):
        stores.users.delete(stores.account, before, NOW)
    current = stores.users.get(stores.account, user_id)
    assert [g.id for g in current.groups] == [group.id]
    assert stores.users.delete(stores.account, current, NOW) is None  # few groups: one write
    assert member_ids(stores, group.id) == set()


def test_renaming_frees_the_old_name_and_external_ids_match_exactly(stores: Stores) -> None:
    user_id = new_user(stores, "ed@contoso.test", external_id="Ext-1")
    new_user(stores, "eve@contoso.test", external_id="Ext-1")  # externalId is not unique
    assert len(stores.users.find_by_external_id(stores.account, "Ext-1")) == 2
    assert stores.users.find_by_external_id(stores.account, "ext-1") == []  # caseExact
    current = stores.users.get(stores.account, user_id)
    stores.users.update(stores.account, current, {"userName": "edward@contoso.test", "externalId": "Ext-2"}, NOW)
    assert stores.users.find_by_user_name(stores.account, "ed@contoso.test") is None
    new_user(stores, "ed@contoso.test")  # the old name is free again
    with pytest.raises(Uniqueness):
        stores.users.update(stores.account, stores.users.get(stores.account, user_id), {"userName": "EVE@contoso.test"}, NOW)
    assert [u.id for u in stores.users.find_by_external_id(stores.account, "Ext-2")] == [user_id]


def test_group_names_and_identifiers(stores: Stores) -> None:
    scim, _ = stores.groups.create(stores.account, {"displayName": "Sales Team"}, NOW)
    with pytest.raises(Uniqueness):
        stores.groups.create(stores.account, {"displayName": "SALES TEAM"}, NOW)
    native, _ = stores.groups.create(stores.account, {"displayName": "Sales Team"}, NOW, managed_by="native")
    assert native.id != scim.id and native.managed_by == "native"  # a native group takes the next identifier
    found = stores.groups.find_by_display_name(stores.account, "sales team")
    assert found is not None and found.id == scim.id
    assert {g.id for g in stores.groups.scan(stores.account)} == {scim.id, native.id}


def test_members_are_users_of_the_account_and_changes_apply_net(stores: Stores) -> None:
    ann, bob, cat = (new_user(stores, f"{n}@contoso.test") for n in ("ann", "bob", "cat"))
    ghost = str(uuid.uuid4())
    group, written = stores.groups.create(stores.account, {"displayName": "Net"}, NOW,
                                          members={ann: "Ann", bob: None, ghost: None, "not-a-uuid": None})
    assert written.work is None and sorted(written.ignored) == sorted([ghost, "not-a-uuid"])
    assert member_ids(stores, group.id) == {ann, bob}
    current = stores.groups.get(stores.account, group.id)
    stores.groups.update(stores.account, current, current.attributes, MembershipChange({cat: None}, {ann}), NOW)
    assert member_ids(stores, group.id) == {bob, cat}
    assert stores.users.get(stores.account, ann).groups == []
    current = stores.groups.get(stores.account, group.id)
    stores.groups.update(stores.account, current, current.attributes, MembershipChange({ann: None}, set(), True), NOW)
    assert member_ids(stores, group.id) == {ann}  # replace all
    assert [g.id for g in stores.users.get(stores.account, ann).groups] == [group.id]
    assert stores.users.get(stores.account, cat).groups == []
    other, _ = stores.groups.create(stores.account, {"displayName": "Other"}, NOW, members={bob: None})
    pages = stores.groups.members_of_groups(stores.account, [group.id, other.id])
    assert {g: {u for u, _ in m} for g, m in pages.items()} == {group.id: {ann}, other.id: {bob}}


def test_a_large_change_is_recorded_carried_out_once_and_holds_later_writes(stores: Stores) -> None:
    ids = [new_user(stores, f"l{n}@contoso.test") for n in range(LARGE)]
    group, _ = stores.groups.create(stores.account, {"displayName": "Large"}, NOW)
    ghost = str(uuid.uuid4())
    adds: dict[str, str | None] = {u: None for u in [*ids, ghost]}
    written = stores.groups.update(stores.account, group, group.attributes, MembershipChange(adds, set()), NOW)
    assert written.work is not None
    pending = stores.groups.get(stores.account, group.id)
    assert pending.pending == written.work.id
    assert [w.id for w in stores.groups.pending.pending(stores.account)] == [written.work.id]
    with pytest.raises(ValueError):  # a later write waits for the work (the domain finishes it first)
        stores.groups.update(stores.account, pending, pending.attributes, MembershipChange({}, {ids[0]}), NOW)
    assert stores.groups.pending.run(stores.account, written.work.id) == [ghost]
    assert stores.groups.pending.run(stores.account, written.work.id) is None  # already done
    assert member_ids(stores, group.id) == set(ids)
    assert stores.groups.get(stores.account, group.id).pending is None
    assert stores.groups.pending.pending(stores.account) == []


def test_a_rename_is_recorded_and_refreshes_the_members_group_display(stores: Stores) -> None:
    ann = new_user(stores, "ann@contoso.test")
    group, _ = stores.groups.create(stores.account, {"displayName": "Before"}, NOW, members={ann: None})
    written = stores.groups.update(stores.account, group, {"displayName": "After"}, MembershipChange({}, set()), NOW)
    assert written.work is not None
    stores.groups.pending.run(stores.account, written.work.id)
    assert [g.display for g in stores.users.get(stores.account, ann).groups] == ["After"]
    found = stores.groups.find_by_display_name(stores.account, "After")
    assert found is not None and stores.groups.find_by_display_name(stores.account, "Before") is None


def test_a_deleted_group_is_gone_at_once_and_its_purge_removes_every_membership(stores: Stores) -> None:
    ids = [new_user(stores, f"d{n}@contoso.test") for n in range(LARGE)]
    group, created = stores.groups.create(stores.account, {"displayName": "Doomed"}, NOW, members=dict.fromkeys(ids))
    assert created.work is not None  # too many members for the create's own write
    stores.groups.pending.run(stores.account, created.work.id)
    work = stores.groups.delete(stores.account, stores.groups.get(stores.account, group.id), NOW)
    with pytest.raises(NotFound):
        stores.groups.get(stores.account, group.id)
    assert stores.groups.find_by_display_name(stores.account, "Doomed") is None
    assert not stores.drift.resource_exists(stores.account, "Group", group.id)
    stores.groups.pending.run(stores.account, work.id)
    assert member_ids(stores, group.id) == set()
    assert all(stores.users.get(stores.account, u).groups == [] for u in ids)
    again, _ = stores.groups.create(stores.account, {"displayName": "Doomed"}, NOW)
    assert again.id == group.id  # the identifier is free once the purge is done


def member_count(s: Stores, group_id: str) -> int:
    group = s.groups.get(s.account, group_id)
    return s.groups.member_counts(s.account, [group])[group_id]


def test_member_counts_are_exact_through_every_kind_of_change(stores: Stores) -> None:
    ids = [new_user(stores, f"c{n}@contoso.test") for n in range(LARGE + 6)]
    group, _ = stores.groups.create(stores.account, {"displayName": "Counted"}, NOW, members=dict.fromkeys(ids[:3]))
    assert member_count(stores, group.id) == 3

    def update(adds: list[str], removes: list[str], replace_all: bool = False) -> None:
        current = stores.groups.get(stores.account, group.id)
        written = stores.groups.update(stores.account, current, current.attributes,
                                       MembershipChange(dict.fromkeys(adds), set(removes), replace_all), NOW)
        if written.work is not None:
            stores.groups.pending.run(stores.account, written.work.id)

    update([ids[0], ids[1], ids[3], str(uuid.uuid4())], [ids[9]])  # two already in, one unknown, one not a member
    assert member_count(stores, group.id) == 4 == len(member_ids(stores, group.id))
    update(ids[4:4 + LARGE], [ids[0]])  # recorded, then carried out in batches
    assert member_count(stores, group.id) == 3 + LARGE == len(member_ids(stores, group.id))
    update(ids[4:4 + LARGE], [ids[0]])  # the same again: nothing changes
    assert member_count(stores, group.id) == 3 + LARGE
    update(ids[1:3], [], replace_all=True)
    assert member_count(stores, group.id) == 2 == len(member_ids(stores, group.id))
    other, _ = stores.groups.create(stores.account, {"displayName": "Counted too"}, NOW, members={ids[1]: None})
    stores.users.delete(stores.account, stores.users.get(stores.account, ids[1]), NOW)  # leaves both groups
    counts = stores.groups.member_counts(stores.account, [stores.groups.get(stores.account, g) for g in (group.id, other.id)])
    assert counts == {group.id: 1, other.id: 0}
    stores.groups.pending.run(stores.account, stores.groups.delete(stores.account, stores.groups.get(
        stores.account, group.id), NOW).id)
    again, _ = stores.groups.create(stores.account, {"displayName": "Counted"}, NOW)
    assert again.id == group.id and member_count(stores, again.id) == 0  # a group created again starts from none


def test_a_user_in_many_groups_leaves_each_count_when_deleted(stores: Stores) -> None:
    ann, bob = new_user(stores, "ann@contoso.test"), new_user(stores, "bob@contoso.test")
    made = [stores.groups.create(stores.account, {"displayName": f"Many {n}"}, NOW, members={ann: None, bob: None})[0]
            for n in range(35)]
    work = stores.users.delete(stores.account, stores.users.get(stores.account, ann), NOW)
    assert work is not None  # more memberships than the delete's own write holds: purged afterwards
    stores.groups.pending.run(stores.account, work.id)
    fresh = [stores.groups.get(stores.account, group.id) for group in made]
    assert stores.groups.member_counts(stores.account, fresh) == {group.id: 1 for group in made}


def test_a_page_of_members_in_id_order(stores: Stores) -> None:
    ids = sorted(new_user(stores, f"p{n}@contoso.test") for n in range(7))
    group, _ = stores.groups.create(stores.account, {"displayName": "Paged"}, NOW, members=dict.fromkeys(ids))
    assert stores.groups.member_page(stores.account, group.id, None, 3) == (ids[:3], ids[3])
    assert stores.groups.member_page(stores.account, group.id, ids[3], 4) == (ids[3:], None)
    assert stores.groups.member_skip(stores.account, group.id, ids[1], 4) == ids[5]
    assert stores.groups.member_skip(stores.account, group.id, None, 7) is None
    assert stores.groups.members_among(stores.account, group.id, [ids[2], str(uuid.uuid4()), ids[6]]) == {ids[2], ids[6]}


def test_drift_repairs_are_conditional_on_what_was_seen(stores: Stores) -> None:
    ann = new_user(stores, "ann@contoso.test")
    group, _ = stores.groups.create(stores.account, {"displayName": "Drift"}, NOW, members={ann: None})
    seen = stores.drift.membership(stores.account, group.id, ann)
    assert seen.forward is not None and seen.reverse is not None
    rows = stores.drift.scan(stores.account)
    assert (group.id, ann) in rows.forward and (ann, group.id) in rows.reverse and ann in rows.users
    for change in (MembershipChange({}, {ann}), MembershipChange({ann: "Ann"}, set())):  # removed and added again
        current = stores.groups.get(stores.account, group.id)
        stores.groups.update(stores.account, current, current.attributes, change, NOW)
    assert stores.drift.remove_membership(stores.account, group.id, ann, seen) is False  # re-written meanwhile
    assert member_ids(stores, group.id) == {ann}
    fresh = stores.drift.membership(stores.account, group.id, ann)
    assert stores.drift.remove_membership(stores.account, group.id, ann, fresh) is True
    assert member_ids(stores, group.id) == set() and stores.users.get(stores.account, ann).groups == []
    assert member_count(stores, group.id) == 0  # the repair counts too


def test_a_failure_is_recorded_once_and_the_digest_state_changes_only_from_what_was_read(stores: Stores) -> None:
    failure = Failure("job-1", "Groups.Patch", "Group", "team", "", "storage down", 5, NOW, NOW, "inv", "work", "retry")
    assert stores.failures.record(stores.account, failure) is True
    assert stores.failures.record(stores.account, failure) is False  # a poison message delivered twice
    assert [f.job_id for f in stores.failures.unreported(stores.account)] == ["job-1"]
    read = stores.failures.state(stores.account)
    assert stores.failures.save_state(stores.account, read, None, "digest-1", NOW) is True
    assert stores.failures.save_state(stores.account, read, None, "digest-2", NOW) is False  # another instance won
    assert stores.failures.state(stores.account).scheduled_digest == "digest-1"
    stores.failures.mark_reported(stores.account, [failure])
    assert stores.failures.unreported(stores.account) == []
    assert stores.failures.record(stores.account, failure) is False  # reported already
    assert stores.failures.purge_reported(stores.account, NOW + timedelta(days=1)) == 1


def test_one_reconcile_lease_at_a_time_and_its_checkpoint(stores: Stores) -> None:
    held = stores.lease.acquire(NOW, timedelta(minutes=10))
    assert held is not None
    assert stores.lease.acquire(NOW + timedelta(minutes=1), timedelta(minutes=10)) is None
    stores.lease.release(held, "acct-5", NOW + timedelta(minutes=2))
    again = stores.lease.acquire(NOW + timedelta(minutes=3), timedelta(minutes=10))
    assert again is not None and again.checkpoint == "acct-5"
    expired = stores.lease.acquire(NOW + timedelta(minutes=20), timedelta(minutes=10))  # the holder died
    assert expired is not None


# --- scopes and access --------------------------------------------------------------------------------------

def test_placements_are_written_with_the_group_and_kept_by_writes_that_do_not_name_them(stores: Stores) -> None:
    now = datetime.now(UTC)
    placed = (Placement("o1", "idp", now), Placement("o1:p1", "idp", now - timedelta(days=1)))
    group, _ = stores.groups.create(stores.account, {"displayName": "Placed"}, now, placements=placed)
    assert stores.groups.get(stores.account, group.id).placements == placed
    stores.groups.update(stores.account, group, {"displayName": "Renamed"}, MembershipChange({}, set()), now)
    stores.groups.pending.run(stores.account, stores.groups.get(stores.account, group.id).pending or "")
    current = stores.groups.get(stores.account, group.id)
    assert current.placements == placed  # a write that does not name placements keeps them
    moved = (Placement("o2", "admin", now),)
    stores.groups.update(stores.account, current, current.attributes, MembershipChange({}, set()), now, moved)
    current = stores.groups.get(stores.account, group.id)
    assert current.placements == moved
    with pytest.raises(VersionConflict):  # placements are conditioned on the group row like every other change
        stores.groups.update(stores.account, group, group.attributes, MembershipChange({}, set()), now, ())
    other, _ = stores.groups.create(stores.account, {"displayName": "Unplaced"}, now)
    index = stores.groups.placements(stores.account)
    assert index[current.id].placements == moved and index[other.id].placements == ()
    assert index[other.id].created == other.created and index[other.id].managed_by == "scim"
    stores.groups.pending.run(stores.account, stores.groups.delete(stores.account, current, now).id)
    assert current.id not in stores.groups.placements(stores.account)


def test_scopes_are_unique_and_listed_and_deleted(stores: Stores) -> None:
    now = datetime.now(UTC)
    stores.access.create_scope(stores.account, ScopeRecord("o1", "Org One", now))
    stores.access.create_scope(stores.account, ScopeRecord("o1:p1", "P", now))
    with pytest.raises(Uniqueness):
        stores.access.create_scope(stores.account, ScopeRecord("o1", "Again", now))
    assert [(r.scope, r.name) for r in stores.access.scopes(stores.account)] == [("o1", "Org One"), ("o1:p1", "P")]
    assert stores.access.scopes("other-" + stores.account) == []
    assert stores.access.delete_scope(stores.account, "o1:p1") is True
    assert stores.access.delete_scope(stores.account, "o1:p1") is False
    assert [r.scope for r in stores.access.scopes(stores.account)] == ["o1"]


def test_the_admin_removals_row_is_written_only_as_it_was_read(stores: Stores) -> None:
    now = datetime.now(UTC)
    empty = stores.access.admin_removals(stores.account)
    assert empty.claims == {} and empty.etag is None
    assert stores.access.claim_admin_removal(stores.account, empty, {"a:one": now}) is True
    assert stores.access.claim_admin_removal(stores.account, empty, {"a:two": now}) is False  # created meanwhile
    seen = stores.access.admin_removals(stores.account)
    assert seen.claims == {"a:one": now} and seen.etag is not None
    assert stores.access.claim_admin_removal(stores.account, seen, {"a:one": now, "u:x": now}) is True
    assert stores.access.claim_admin_removal(stores.account, seen, {"u:y": now}) is False  # a stale read loses
    assert set(stores.access.admin_removals(stores.account).claims) == {"a:one", "u:x"}
    assert stores.access.admin_removals("other-" + stores.account).claims == {}


def test_assignments_are_unique_by_id_and_found_by_principal(stores: Stores) -> None:
    now = datetime.now(UTC)
    user_id = str(uuid.uuid4())
    mine = RoleAssignment("a1", "o1", "_organization_admin", "_all_organization_level_resources",
                          Principal("user", user_id), now, now)
    theirs = RoleAssignment("a2", "", "_account_viewer", "_all_account_level_resources", Principal("group", "Team"),
                            now, now)
    stores.access.add_assignment(stores.account, mine)
    stores.access.add_assignment(stores.account, theirs)
    with pytest.raises(Uniqueness):
        stores.access.add_assignment(stores.account, mine)
    assert stores.access.get_assignment(stores.account, "a1") == mine
    with pytest.raises(NotFound):
        stores.access.get_assignment(stores.account, "a1x")
    with pytest.raises(NotFound):
        stores.access.get_assignment("other-" + stores.account, "a1")
    assert sorted(a.id for a in stores.access.assignments(stores.account)) == ["a1", "a2"]
    stores.access.add_membership(stores.account, DirectMembership("o1:p1", user_id, now))
    own, memberships = stores.access.assignments_of(stores.account, user_id)
    assert own == [mine] and memberships == [DirectMembership("o1:p1", user_id, now)]
    assert stores.access.group_assignments(stores.account) == [theirs]
    assert stores.access.assignments_of_group(stores.account, "Team") == [theirs]
    assert stores.access.assignments_of_group(stores.account, "Tea") == []  # ids match exactly, not as prefixes
    stores.access.delete_assignments(stores.account, [mine, mine])
    assert stores.access.assignments_of(stores.account, user_id) == ([], memberships)
    assert [a.id for a in stores.access.assignments(stores.account)] == ["a2"]


def test_direct_memberships_of_an_org_are_not_its_projects(stores: Stores) -> None:
    now = datetime.now(UTC)
    pat, sam = str(uuid.uuid4()), str(uuid.uuid4())
    stores.access.add_membership(stores.account, DirectMembership("o1", pat, now))
    stores.access.add_membership(stores.account, DirectMembership("o1:p1", sam, now))
    stores.access.add_membership(stores.account, DirectMembership("o1", pat, now))  # idempotent
    assert [m.user_id for m in stores.access.scope_memberships(stores.account, "o1")] == [pat]
    assert [m.user_id for m in stores.access.scope_memberships(stores.account, "o1:p1")] == [sam]
    assert stores.access.remove_membership(stores.account, "o1", pat) is True
    assert stores.access.remove_membership(stores.account, "o1", pat) is False
    assert stores.access.assignments_of(stores.account, pat) == ([], [])
    stores.access.delete_memberships(stores.account, stores.access.scope_memberships(stores.account, "o1:p1"))
    assert stores.access.assignments_of(stores.account, sam) == ([], [])


def test_pages_skips_and_counts_follow_id_order_and_leave_other_kinds_out(stores: Stores) -> None:
    ids = sorted(new_user(stores, f"pager{n}@contoso.test") for n in range(5))
    group_id = stores.groups.create(stores.account, {"displayName": "Paged"}, NOW, members={ids[0]: None})[0].id
    stores.users.delete(stores.account, stores.users.get(stores.account, ids[4]), NOW)  # gone: neither paged nor counted
    first, following = stores.users.page(stores.account, None, 2)
    assert [u.id for u in first] == ids[:2] and following == ids[2]
    assert [g.id for g in first[0].groups] == [group_id]  # a page renders each user's groups
    rest, end = stores.users.page(stores.account, following, 10)
    assert [u.id for u in rest] == ids[2:4] and end is None
    assert stores.users.skip(stores.account, None, 3) == ids[3] and stores.users.skip(stores.account, ids[1], 5) is None
    assert stores.users.count(stores.account) == 4
    native = stores.groups.create(stores.account, {"displayName": "Native"}, NOW, managed_by="native")[0].id
    doomed = stores.groups.create(stores.account, {"displayName": "Doomed"}, NOW)[0]
    stores.groups.delete(stores.account, doomed, NOW)  # a tombstone while its purge is pending: not a group
    assert [g.id for g in stores.groups.page(stores.account, None, 10)[0]] == [group_id]
    assert [g.id for g in stores.groups.page(stores.account, None, 10, "native")[0]] == [native]
    assert (stores.groups.count(stores.account), stores.groups.count(stores.account, "native")) == (1, 1)
    assert stores.groups.skip(stores.account, None, 0) == group_id
