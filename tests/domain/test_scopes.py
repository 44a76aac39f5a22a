"""The scope rules as pure functions (shared/domain/scopes.py): which scopes exist, what an assignment or a
placement hangs on, and that no host's clock decides it (#39; #37 asked for fast tests where the rules are densest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain import scopes
from shared.domain.scopes import Placement, ScopeRecord
from shared.errors import InvalidValue

T0 = datetime(2026, 12, 1, tzinfo=UTC)
LATER, EARLIER = T0 + timedelta(minutes=10), T0 - timedelta(minutes=10)


def test_a_project_lives_with_the_org_generation_it_was_made_under_whatever_the_clocks() -> None:
    org = ScopeRecord("o1", "O1", LATER, "org-gen-1")
    project = ScopeRecord("o1:p1", "P1", EARLIER, "proj-gen", parent="org-gen-1")  # "older" than its org by the clocks
    assert set(scopes.live_scopes([org, project])) == {"o1", "o1:p1"}
    recreated = ScopeRecord("o1", "O1", EARLIER, "org-gen-2")  # the org deleted and created again
    assert set(scopes.live_scopes([recreated, project])) == {"o1"}


def test_rows_from_before_generations_are_judged_by_their_times() -> None:
    org = ScopeRecord("o1", "O1", T0)
    assert set(scopes.live_scopes([org, ScopeRecord("o1:p1", "P1", LATER)])) == {"o1", "o1:p1"}
    assert set(scopes.live_scopes([org, ScopeRecord("o1:p1", "P1", EARLIER)])) == {"o1"}


def test_an_assignment_hangs_on_its_scope_generation() -> None:
    alive = scopes.live_scopes([ScopeRecord("o1", "O1", LATER, "gen-a")])
    assert scopes.scope_exists("o1", alive, at=EARLIER, generation="gen-a")  # made "before" by the clocks: still valid
    assert not scopes.scope_exists("o1", alive, at=LATER, generation="gen-old")  # a scope created again
    assert scopes.scope_exists("", alive, generation="anything")  # the account always exists
    assert not scopes.scope_exists("o2", alive)


def test_a_group_reaches_a_scope_under_the_very_placement_an_assignment_names() -> None:
    alive = scopes.live_scopes([ScopeRecord("o1", "O1", T0, "g1"), ScopeRecord("o1:p1", "P1", T0, "g2", "g1")])
    placed = (Placement("o1", scopes.IDP, LATER, "place-1"),)
    assert scopes.group_reaches(placed, "o1:p1", alive, at=EARLIER, generation="place-1") == placed[0]
    assert scopes.group_reaches(placed, "o1:p1", alive, at=LATER, generation="place-0") is None  # placed again since
    legacy = (Placement("o1", scopes.IDP, T0),)
    assert scopes.group_reaches(legacy, "o1:p1", alive, at=LATER) == legacy[0]
    assert scopes.group_reaches(legacy, "o1:p1", alive, at=EARLIER) is None
    assert scopes.group_reaches(placed, "o2", alive) is None


def test_a_kept_placement_keeps_its_generation_and_a_new_one_gets_its_own() -> None:
    first = scopes.replaced((), T0, "scim", ("o1",), scopes.IDP, T0)
    again = scopes.replaced(first, T0, "scim", ("o1", "o2"), scopes.IDP, LATER)
    assert again[0] == first[0] and again[1].generation and again[1].generation != first[0].generation
    removed_and_back = scopes.replaced(scopes.replaced(again, T0, "scim", ("o2",), scopes.IDP, LATER),
                                       T0, "scim", ("o1", "o2"), scopes.IDP, LATER)
    assert removed_and_back[0].generation != first[0].generation  # its assignments do not come back
    assert scopes.decode_placements(scopes.encode_placements(again)) == again
    assert scopes.decode_placements('[["o1","idp","2026-12-01T00:00:00+00:00"]]')[0].generation == ""  # before


def test_a_group_without_placements_is_at_the_account_under_its_own_generation() -> None:
    [account] = scopes.effective_placements((), T0, "scim")
    assert (account.scope, account.owner) == ("", scopes.IDP) and account.generation
    assert scopes.effective_placements((), LATER, "scim")[0].generation != account.generation  # a group created again


@pytest.mark.parametrize("text", ["other:o1", "acct:o1:p1:x", "acct:1bad", "acct:o1:"])
def test_harness_scopes_outside_the_account_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(InvalidValue):
        scopes.parse_harness_scopes(text, "acct")


def test_harness_scopes_are_normalised() -> None:
    assert scopes.parse_harness_scopes(" acct:o1 , acct:o1:p1,acct:o1 ", "acct") == ("o1", "o1:p1")
    assert scopes.ancestors("o1:p1") == ["o1:p1", "o1", ""] and scopes.contains("o1", "o1:p1")
