"""Route templates as the Functions host (ASP.NET Core routing) reads them."""

import pytest

from devhost.routes import compile_template


@pytest.mark.parametrize(("template", "path", "expected"), [
    ("scim/account/{accountId}/Users/{id?}", "scim/account/acme/Users/u-1", {"accountId": "acme", "id": "u-1"}),
    ("scim/account/{accountId}/Users/{id?}", "scim/account/acme/Users", {"accountId": "acme"}),
    ("scim/account/{accountId}/Users/{id?}", "scim/account/acme/Users/", {"accountId": "acme"}),
    ("scim/account/{accountId}/Users/{id?}", "SCIM/Account/acme/users", {"accountId": "acme"}),
    ("items/{id:int}", "items/42", {"id": "42"}),
    ("items/{id:int}", "items/forty", None),
    ("g/{id:guid}", "g/6f9619ff-8b86-d011-b42d-00c04fc964ff", {"id": "6f9619ff-8b86-d011-b42d-00c04fc964ff"}),
    ("g/{id:guid}", "g/not-a-guid", None),
    ("n/{code:length(3)}", "n/abc", {"code": "abc"}),
    ("n/{code:length(3)}", "n/abcd", None),
    ("n/{code:regex(^[a-z]+$)}", "n/abc", {"code": "abc"}),
    ("n/{code:alpha:maxlength(2)}", "n/abc", None),
    ("files/{*rest}", "files/a/b/c.txt", {"rest": "a/b/c.txt"}),
    ("files/{*rest}", "files", {}),
    ("file.{ext}", "file.json", {"ext": "json"}),
    ("s/{name}", "s/a%20b%2Fc", {"name": "a b/c"}),
    ("s/{name}", "s/a/b", None),
])
def test_template_matching(template: str, path: str, expected: dict[str, str] | None) -> None:
    assert compile_template(template).match(path) == expected


def test_precedence_puts_literals_before_constrained_before_plain_before_catch_all() -> None:
    templates = ["x/{*rest}", "x/{name}", "x/{id:int}", "x/special"]
    ordered = sorted(templates, key=lambda t: compile_template(t).precedence)
    assert ordered == ["x/special", "x/{id:int}", "x/{name}", "x/{*rest}"]


def test_optional_parameter_must_be_last() -> None:
    with pytest.raises(ValueError, match="must be last"):
        compile_template("a/{id?}/b")
