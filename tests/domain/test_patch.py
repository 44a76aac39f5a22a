"""PATCH over stored attributes, in both Entra dialects (reference §1.4) and RFC 7644 §3.5.2."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.patch import Operation, apply_patch, parse_operations
from shared.domain.schema import USER
from shared.errors import InvalidSyntax, InvalidValue, Mutability, NoTarget

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def user(**extra: Any) -> dict[str, Any]:
    return {"userName": "bjensen@example.com", "active": True, "displayName": "Babs",
            "emails": [{"type": "work", "value": "bjensen@example.com", "primary": True}], **extra}


def patch(attributes: dict[str, Any], *ops: dict[str, Any]) -> Any:
    return apply_patch(attributes, parse_operations({"schemas": [PATCH], "Operations": list(ops)}), USER)


def test_entra_default_disable_with_capitalised_op_and_string_boolean() -> None:
    result = patch(user(), {"op": "Replace", "path": "active", "value": "False"})
    assert result.attributes["active"] is False and result.changed


def test_flagged_dialect_disable() -> None:
    assert patch(user(), {"op": "replace", "path": "active", "value": False}).attributes["active"] is False


def test_one_replace_per_path_default_dialect() -> None:
    result = patch(user(),
                   {"op": "Replace", "path": "displayName", "value": "Bjfe"},
                   {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "new@example.com"},
                   {"op": "Replace", "path": "name.givenName", "value": "Kkom"},
                   {"op": "Replace", "path": "name.familyName", "value": "Unua"},
                   {"op": "Replace", "path": "externalId", "value": "e-1"},
                   {"op": "Replace", "path": f"{ENTERPRISE}:employeeNumber", "value": "Aklq"})
    attributes = result.attributes
    assert attributes["displayName"] == "Bjfe" and attributes["externalId"] == "e-1"
    assert attributes["emails"] == [{"type": "work", "value": "new@example.com", "primary": True}]
    assert attributes["name"] == {"givenName": "Kkom", "familyName": "Unua"}
    assert attributes[ENTERPRISE] == {"employeeNumber": "Aklq"}


def test_no_path_replace_with_dotted_and_urn_keys() -> None:
    result = patch(user(name={"givenName": "B", "familyName": "J"}), {"op": "replace", "value": {
        "displayName": "Bjfe", "name.givenName": "Kkom", "name.familyName": "Unua",
        f"{ENTERPRISE}:employeeNumber": "Aklq", ENTERPRISE: {"department": "Eng"}}})
    assert result.attributes["name"] == {"givenName": "Kkom", "familyName": "Unua"}
    assert result.attributes[ENTERPRISE] == {"employeeNumber": "Aklq", "department": "Eng"}


def test_filtered_path_creates_the_missing_typed_element() -> None:
    result = patch(user(), {"op": "Add", "path": 'emails[type eq "other"].value', "value": "x@example.org"},
                   {"op": "Replace", "path": 'phoneNumbers[type eq "mobile"].value', "value": "+1 555"})
    assert {"type": "other", "value": "x@example.org"} in result.attributes["emails"]
    assert result.attributes["phoneNumbers"] == [{"type": "mobile", "value": "+1 555"}]


def test_capitalised_sub_attribute_names_from_entras_mapping_table() -> None:
    result = patch(user(), {"op": "Add", "path": 'addresses[type eq "other"].Formatted', "value": "Bldg 7"})
    assert result.attributes["addresses"] == [{"type": "other", "formatted": "Bldg 7"}]


@pytest.mark.parametrize("path", [f"{ENTERPRISE}:manager", f"{ENTERPRISE}.manager"])
@pytest.mark.parametrize(("value", "expected"), [
    ("mgr-1", {"value": "mgr-1"}),
    ({"value": "mgr-1"}, {"value": "mgr-1"}),
    ([{"$ref": "https://x/Users/mgr-1", "value": "mgr-1"}], {"value": "mgr-1", "$ref": "https://x/Users/mgr-1"}),
])
def test_manager_in_every_shape(path: str, value: Any, expected: dict[str, str]) -> None:
    assert patch(user(), {"op": "Add", "path": path, "value": value}).attributes[ENTERPRISE]["manager"] == expected


def test_legacy_manager_path_without_urn_is_not_a_core_attribute_and_is_skipped() -> None:
    result = patch(user(), {"op": "Add", "path": "manager", "value": [{"value": "m"}]})
    assert not result.changed and result.skipped == ["manager"]


@pytest.mark.parametrize("op", [
    {"op": "replace", "path": f"{ENTERPRISE}:manager", "value": ""},
    {"op": "remove", "path": f"{ENTERPRISE}:manager"},
    {"op": "remove", "path": f"{ENTERPRISE}:manager", "value": {"value": "mgr-1"}},
])
def test_manager_removal_shapes(op: dict[str, Any]) -> None:
    result = patch(user(**{ENTERPRISE: {"manager": {"value": "mgr-1"}, "department": "Eng"}}), op)
    assert result.attributes[ENTERPRISE] == {"department": "Eng"}


def test_remove_manager_with_another_id_keeps_it() -> None:
    start = user(**{ENTERPRISE: {"manager": {"value": "mgr-1"}}})
    result = patch(start, {"op": "remove", "path": f"{ENTERPRISE}:manager", "value": "other"})
    assert not result.changed


def test_remove_with_value_filter_and_with_value_array() -> None:
    start = user(emails=[{"type": "work", "value": "a@x"}, {"type": "other", "value": "b@x"}])
    assert patch(start, {"op": "remove", "path": 'emails[type eq "other"]'}).attributes["emails"] == [
        {"type": "work", "value": "a@x"}]
    assert patch(start, {"op": "Remove", "path": "emails", "value": [{"value": "A@X"}]}).attributes["emails"] == [
        {"type": "other", "value": "b@x"}]


def test_add_to_multi_valued_appends_without_duplicates() -> None:
    result = patch(user(), {"op": "add", "path": "emails", "value": [
        {"type": "work", "value": "bjensen@example.com", "primary": True}, {"type": "home", "value": "h@x"}]})
    assert len(result.attributes["emails"]) == 2


def test_same_value_is_not_a_change() -> None:
    result = patch(user(), {"op": "Replace", "path": "displayName", "value": "Babs"},
                   {"op": "replace", "path": "active", "value": "True"})
    assert result.changed is False


def test_replace_with_null_removes_the_attribute() -> None:
    result = patch(user(title="Boss"), {"op": "replace", "path": "title", "value": None})
    assert "title" not in result.attributes


@pytest.mark.parametrize(("op", "error"), [
    ({"op": "remove"}, NoTarget),
    ({"op": "replace", "path": "id", "value": "x"}, Mutability),
    ({"op": "replace", "path": "groups", "value": []}, Mutability),
    ({"op": "replace", "path": "active", "value": "maybe"}, InvalidValue),
    ({"op": "add", "value": "not an object"}, InvalidValue),
    ({"op": "copy", "path": "title", "value": "x"}, InvalidSyntax),
    ({"op": "replace", "path": "emails[type eq", "value": "x"}, Exception),
])
def test_invalid_operations_raise(op: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        patch(user(), {"op": "replace", "path": "title", "value": "ok"}, op)


@pytest.mark.parametrize("body", [None, [], {"Operations": []}, {"Operations": "x"}, {"Operations": [1]},
                                  {"schemas": ["urn:wrong"], "Operations": [{"op": "add", "path": "a", "value": 1}]}])
def test_malformed_patch_bodies_are_invalid_syntax(body: Any) -> None:
    with pytest.raises(InvalidSyntax):
        parse_operations(body)


def test_protected_paths_are_skipped_and_reported() -> None:
    operations = [Operation("replace", "userName", "new@x"), Operation("replace", "displayName", "New")]
    result = apply_patch(user(), operations, USER, protected=lambda p: p.attribute.name == "userName")
    assert result.attributes["userName"] == "bjensen@example.com" and result.attributes["displayName"] == "New"
    assert result.skipped == ["userName"]


def test_the_input_is_never_mutated() -> None:
    start = user()
    patch(start, {"op": "replace", "path": 'emails[type eq "work"].value', "value": "z@x"})
    assert start == user()


def test_path_naming_the_extension_urn_adds_and_removes_the_extension() -> None:
    added = patch(user(), {"op": "add", "path": ENTERPRISE, "value": {"department": "Eng", "manager": "m-1"}})
    assert added.attributes[ENTERPRISE] == {"department": "Eng", "manager": {"value": "m-1"}}
    removed = patch(added.attributes, {"op": "remove", "path": ENTERPRISE})
    assert ENTERPRISE not in removed.attributes


def test_restating_the_resources_own_id_is_not_a_change_and_another_id_is_refused() -> None:
    """Okta's Group Push (and some user updates) put the resource's own id in a no-path replace."""
    own = "5f0c5e5e-1b8f-4b6a-9b70-2b7d1d2a5e11"
    restated = parse_operations({"Operations": [{"op": "replace", "value": {"id": own, "displayName": "Ann"}}]})
    patched = apply_patch({"userName": "ann"}, restated, USER, resource_id=own)
    assert patched.attributes == {"userName": "ann", "displayName": "Ann"} and patched.changed
    for other in ("00000000-0000-4000-8000-000000000000", own.upper()):
        with pytest.raises(Mutability):
            apply_patch({"userName": "ann"}, parse_operations({"Operations": [
                {"op": "replace", "value": {"id": other}}]}), USER, resource_id=own)
    with pytest.raises(Mutability):  # removing the id is never a no-op
        apply_patch({"userName": "ann"}, parse_operations({"Operations": [{"op": "remove", "path": "id"}]}), USER,
                    resource_id=own)
