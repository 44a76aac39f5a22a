"""Request bodies become stored attributes; stored attributes are projected for responses."""

from __future__ import annotations

import pytest

from shared.domain.resource import normalize, project
from shared.domain.schema import USER
from shared.errors import InvalidSyntax, InvalidValue

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_entra_create_body_with_nulls_unknowns_string_booleans_and_password() -> None:
    stored = normalize({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
        "externalId": "0a21", "UserName": "Test_User@x.com", "active": "True", "addresses": None, "title": None,
        "emails": [{"Primary": "true", "type": "work", "value": "t@x.com"}], "meta": {"resourceType": "User"},
        "roles": [], "password": "hunter2", "id": "client-chosen", "favouriteColour": "blue",
        "urn:ietf:params:scim:schemas:extension:Custom:2.0:User:shoeSize": "42",
        f"{ENTERPRISE}:department": "Eng",
    }, USER)
    assert stored == {"externalId": "0a21", "userName": "Test_User@x.com", "active": True,
                      "emails": [{"primary": True, "type": "work", "value": "t@x.com"}], ENTERPRISE: {"department": "Eng"}}


@pytest.mark.parametrize("body", [[1], "text", {"schemas": "x"}])
def test_non_object_bodies_are_invalid_syntax(body: object) -> None:
    with pytest.raises(InvalidSyntax):
        normalize(body, USER)


@pytest.mark.parametrize("body", [{"active": "maybe"}, {"name": "Alice"}, {"emails": ["a@x"]}, {"userName": 42}])
def test_schema_violations_are_invalid_value_with_the_attribute_named(body: dict[str, object]) -> None:
    with pytest.raises(InvalidValue) as raised:
        normalize(body, USER)
    assert next(iter(body)).lower() in raised.value.detail.lower()


def test_projection_keeps_id_schemas_meta_and_the_requested_attributes() -> None:
    full = {"schemas": ["s"], "id": "1", "meta": {}, "userName": "a", "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "x"}], ENTERPRISE: {"department": "Eng", "costCenter": "1"}}
    assert project(full, USER, ["USERNAME", "name.givenName", f"{ENTERPRISE}:department"], []) == {
        "schemas": ["s"], "id": "1", "meta": {}, "userName": "a", "name": {"givenName": "A"},
        ENTERPRISE: {"department": "Eng"}}
    assert project(full, USER, ['emails[type eq "work"]'], [])["emails"] == [{"value": "x"}]
    excluded = project(full, USER, [], ["emails", "id", f"{ENTERPRISE}:costCenter"])
    assert "emails" not in excluded and excluded["id"] == "1" and excluded[ENTERPRISE] == {"department": "Eng"}
