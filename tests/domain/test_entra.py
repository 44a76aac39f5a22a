"""Each Entra quirk, with where Entra sends it (../shared/reference/entra-scim-behaviour.md)."""

import pytest

from shared.domain import entra
from shared.errors import InvalidSyntax, InvalidValue


@pytest.mark.parametrize("op", ["Add", "Replace", "Remove", "add", "REPLACE"])
def test_ops_are_case_insensitive(op: str) -> None:  # §1.4: Entra's default dialect capitalises ops
    assert entra.patch_op(op) == op.lower()


def test_unknown_op_is_invalid_syntax() -> None:
    with pytest.raises(InvalidSyntax):
        entra.patch_op("move")


@pytest.mark.parametrize(("raw", "expected"), [("True", True), ("False", False), (" true ", True), (False, False)])
def test_string_booleans(raw: object, expected: bool) -> None:  # §1.3: Switch([IsSoftDeleted], ...) yields strings
    assert entra.boolean(raw, "active") is expected


def test_non_boolean_is_invalid_value() -> None:
    with pytest.raises(InvalidValue, match="active"):
        entra.boolean("yes", "active")


@pytest.mark.parametrize(("raw", "expected"), [
    ("id1", {"value": "id1"}), ({"value": "id1"}, {"value": "id1"}), ({"Value": "id1"}, {"value": "id1"}),
    ([{"$ref": "r", "value": "id1"}], {"value": "id1", "$ref": "r"}), ("", None), ({"value": ""}, None), ([], None),
])
def test_manager_shapes(raw: object, expected: object) -> None:  # §1.4 manager bullet list
    assert entra.manager(raw) == expected


def test_member_ids_accept_objects_single_objects_and_bare_strings() -> None:  # §1.6 and R1 tests 66-67
    assert entra.member_ids([{"$ref": None, "value": "a"}, {"value": "b"}]) == ["a", "b"]
    assert entra.member_ids({"value": "a"}) == ["a"]
    assert entra.member_ids(["string id 1"]) == ["string id 1"]
    with pytest.raises(InvalidValue):
        entra.member_ids([{"display": "no value"}])
