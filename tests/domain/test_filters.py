"""RFC 7644 §3.4.2.2 filters, evaluated against a user's full representation."""

from __future__ import annotations

from typing import Any

import pytest

from shared.domain.filters import indexed_equality, matches, parse_filter, parse_path
from shared.domain.schema import GROUP, USER
from shared.errors import InvalidFilter, InvalidPath

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ALICE: dict[str, Any] = {
    "id": "2819c223", "externalId": "Ext-1", "userName": "Alice@Example.com", "active": False,
    "displayName": "Alice Smith", "title": "Engineer",
    "name": {"givenName": "Alice", "familyName": "Smith"},
    "emails": [{"type": "work", "value": "alice@example.com", "primary": True},
               {"type": "other", "value": "a.smith@example.org"}],
    ENTERPRISE: {"employeeNumber": "701984", "manager": {"value": "boss-1"}},
    "groups": [{"value": "Dev_Team", "display": "Dev-Team"}],
    "meta": {"created": "2026-01-10T10:00:00Z", "lastModified": "2026-02-01T08:30:00Z"},
}


@pytest.mark.parametrize(("text", "expected"), [
    ('userName eq "alice@example.com"', True),          # caseExact=false: value compared case-insensitively
    ('USERNAME EQ "ALICE@EXAMPLE.COM"', True),          # attribute names and operators too
    ('userName+eq+"alice@example.com"'.replace("+", " "), True),
    ('externalId eq "ext-1"', False),                    # externalId is caseExact
    ('externalId eq "Ext-1"', True),
    ("externalId eq Ext-1", True),                       # Entra's documented unquoted value
    ('id eq "2819c223"', True),
    ('userName ne "bob"', True),
    ('userName co "example"', True),
    ('userName sw "ali"', True),
    ('userName ew ".COM"', True),
    ('userName gt "aaa"', True),
    ('userName lt "aaa"', False),
    ("title pr", True),
    ("nickName pr", False),
    ("active eq false", True),
    ('active eq "False"', True),
    ("not (active eq true)", True),
    ('name.familyName eq "smith"', True),
    ('name.FamilyName eq "Smith" and (emails.Value co "example.com" or emails.Value co "example.net")', True),
    ('emails[type eq "work"].value eq "alice@example.com"', True),
    ('emails[type eq "work" and value co "example.org"]', False),
    ('emails[type eq "other" and value co "example.org"]', True),
    ('emails co "example.org"', True),                   # multi-valued complex: compares .value
    ('emails.primary eq true', True),
    ("meta.created gt 2025-10-10T14:38:21.8617979-07:00", True),
    ('meta.lastModified ge "2026-02-01T08:30:00Z" and meta.lastModified le "2026-02-01T08:30:00.0000000Z"', True),
    (f'{ENTERPRISE}:employeeNumber eq "701984"', True),
    (f'{ENTERPRISE}:manager.value eq "BOSS-1"', True),
    (f'{ENTERPRISE}.manager.value eq "boss-1"', True),  # dot form of the extension prefix
    ('groups.value eq "Dev_Team"', True),
    ('userName eq "bob" or displayName sw "Alice"', True),
    ('userName eq "bob" or displayName sw "Alice" and title eq "x"', False),  # and binds tighter than or
    ("nickName eq null", True),
    ('(userName eq "bob")', False),
])
def test_filter_matches(text: str, expected: bool) -> None:
    assert matches(parse_filter(text, USER), ALICE) is expected


@pytest.mark.parametrize("text", [
    "", "userName", 'userName eq', 'userName xx "a"', 'userName eq "a" and', '(userName eq "a"', 'emails[type eq "w"',
    'nosuchattr eq "x"', 'name.nosub eq "x"', 'userName eq "a" extra', 'emails[nosub eq "x"]', 'title[value eq "x"]',
    'urn:ietf:params:scim:schemas:extension:Custom:2.0:User:x eq "1"',
])
def test_malformed_or_unsupported_filters_are_invalid_filter(text: str) -> None:
    with pytest.raises(InvalidFilter):
        parse_filter(text, USER)


def test_indexed_equality_is_found_alone_or_as_a_conjunct() -> None:
    assert indexed_equality(parse_filter('userName eq "a@b"', USER)) == ("userName", "a@b")
    assert indexed_equality(parse_filter('id eq "x" and manager.value eq "m"'.replace("manager.value", "title"), USER)) \
        == ("id", "x")
    assert indexed_equality(parse_filter('externalId eq "e"', USER)) == ("externalId", "e")
    assert indexed_equality(parse_filter('displayName eq "G"', GROUP)) == ("displayName", "G")
    assert indexed_equality(parse_filter('userName eq "a" or title eq "b"', USER)) is None
    assert indexed_equality(parse_filter('userName co "a"', USER)) is None


def test_paths_for_patch() -> None:
    path = parse_path('emails[type eq "work"].value', USER)
    assert (path.attribute.name, path.sub and path.sub.name) == ("emails", "value")
    assert parse_path(f"{ENTERPRISE}:manager", USER).extension == ENTERPRISE
    assert parse_path('members[value eq "u1"]', GROUP).attribute.name == "members"
    with pytest.raises(InvalidPath):
        parse_path('emails[type eq "work"', USER)
