"""SCIM filters and attribute paths (RFC 7644 §3.4.2.2 and §3.5.2), parsed into a small AST and evaluated
in memory against a resource's full representation (what GET returns).

Grammar, with `not` > `and` > `or` and parentheses:
    filter   = "not" "(" filter ")" / "(" filter ")" / attrExp / filter ("and" / "or") filter
    attrExp  = path "pr" / path op value / path "[" filter "]"
    path     = [URN (":" / ".")] attr ["." sub] / attr "[" filter "]" ["." sub]
Attribute names and operators are case-insensitive; values compare case-insensitively unless the attribute is
caseExact. An unknown attribute or a malformed filter raises InvalidFilter (InvalidPath for PATCH paths).
Storage queries are never built from this text: indexed lookups use the parsed value (see `indexed_equality`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.domain import limits
from shared.domain.schema import Attribute, ResourceSchema
from shared.errors import InvalidFilter, InvalidPath, ScimError

COMPARISONS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}
_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<punct>[()\[\]])|(?P<word>[^\s()\[\]"]+))')
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")


class UnknownAttribute(InvalidPath):
    """A well-formed PATCH path naming an attribute this server does not keep (e.g. a custom extension)."""


@dataclass(frozen=True)
class AttrPath:
    extension: str | None
    attribute: Attribute
    value_filter: Filter | None = None
    sub: Attribute | None = None

    @property
    def text(self) -> str:
        base = f"{self.extension}:{self.attribute.name}" if self.extension else self.attribute.name
        return base + (f".{self.sub.name}" if self.sub else "")


@dataclass(frozen=True)
class Compare:
    path: AttrPath
    op: str
    value: Any


@dataclass(frozen=True)
class Present:
    path: AttrPath


@dataclass(frozen=True)
class HasElement:
    """`emails[type eq "work"]` used as a filter: some element matches the inner filter."""

    path: AttrPath


@dataclass(frozen=True)
class And:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Or:
    left: Filter
    right: Filter


@dataclass(frozen=True)
class Not:
    inner: Filter


Filter = Compare | Present | HasElement | And | Or | Not


def parse_filter(text: str, schema: ResourceSchema) -> Filter:
    parser = _Parser(text, schema, InvalidFilter)
    result = parser.filter(parent=None)
    parser.expect_end()
    return result


def parse_path(text: str, schema: ResourceSchema) -> AttrPath:
    """A PATCH path: `attr`, `attr.sub`, `urn:...:attr`, `attr[filter]`, `attr[filter].sub`."""
    parser = _Parser(text, schema, InvalidPath)
    path = parser.path(parent=None)
    parser.expect_end()
    return path


def indexed_equality(node: Filter) -> tuple[str, str] | None:
    """`(attribute, value)` when the filter pins `id`, `userName`, `externalId` or `displayName` with `eq`, on its
    own or as a conjunct, so a point read can find the only candidates (the whole filter is still applied)."""
    if isinstance(node, Compare) and node.op == "eq" and isinstance(node.value, str) and node.path.extension is None \
            and node.path.sub is None and node.path.value_filter is None \
            and node.path.attribute.name in ("id", "userName", "externalId", "displayName"):
        return node.path.attribute.name, node.value
    if isinstance(node, And):
        return indexed_equality(node.left) or indexed_equality(node.right)
    return None


def matches(node: Filter, resource: dict[str, Any]) -> bool:
    if isinstance(node, And):
        return matches(node.left, resource) and matches(node.right, resource)
    if isinstance(node, Or):
        return matches(node.left, resource) or matches(node.right, resource)
    if isinstance(node, Not):
        return not matches(node.inner, resource)
    if isinstance(node, HasElement):
        return bool(_elements(node.path, resource))
    values = _values(node.path, resource)
    if isinstance(node, Present):
        return any(v not in (None, "", [], {}) for v in values)
    return _compare(node, values)


# --- evaluation ---------------------------------------------------------------------------------------------

def _get(container: Any, name: str) -> Any:
    if not isinstance(container, dict):
        return None
    if name in container:
        return container[name]
    lowered = name.lower()
    return next((v for k, v in container.items() if k.lower() == lowered), None)


def _elements(path: AttrPath, resource: dict[str, Any]) -> list[Any]:
    container = _get(resource, path.extension) if path.extension else resource
    raw = _get(container, path.attribute.name)
    if raw is None:
        return []
    elements = raw if isinstance(raw, list) else [raw]
    if path.value_filter is not None:
        elements = [e for e in elements if isinstance(e, dict) and matches(path.value_filter, e)]
    return elements


def values_at(path: AttrPath, resource: dict[str, Any]) -> list[Any]:
    """The values a path names in a rendered resource (a multi-valued complex attribute's primary element first)."""
    elements = _elements(path, resource)
    elements = sorted(elements, key=lambda e: not (isinstance(e, dict) and e.get("primary") is True))
    if path.sub is not None:
        return [_get(e, path.sub.name) for e in elements]
    if path.attribute.type == "complex" and path.attribute.multi_valued:
        return [_get(e, "value") for e in elements]
    return elements


def target_of(path: AttrPath) -> Attribute:
    return _target(path)


def _values(path: AttrPath, resource: dict[str, Any]) -> list[Any]:
    elements = _elements(path, resource)
    if path.sub is not None:
        return [_get(e, path.sub.name) for e in elements]
    if path.attribute.type == "complex" and path.attribute.multi_valued:
        return [_get(e, "value") for e in elements]  # RFC 7644 §3.4.2.2: compare the "value" sub-attribute
    return elements


def _target(path: AttrPath) -> Attribute:
    if path.sub is not None:
        return path.sub
    if path.attribute.type == "complex" and path.attribute.multi_valued:
        return path.attribute.sub_attribute("value") or path.attribute
    return path.attribute


def _compare(node: Compare, values: list[Any]) -> bool:
    attribute = _target(node.path)
    if node.value is None:
        present = any(v is not None for v in values)
        return not present if node.op == "eq" else present if node.op == "ne" else False
    if node.op == "ne":
        return not any(_compare_one(attribute, "eq", v, node.value) for v in values)
    return any(_compare_one(attribute, node.op, v, node.value) for v in values)


def _compare_one(attribute: Attribute, op: str, actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if attribute.type == "boolean":
        if isinstance(actual, str):
            actual = actual.lower() == "true"
        if isinstance(expected, str):
            expected = expected.lower() == "true"
        return op == "eq" and actual == expected
    if attribute.type == "dateTime":
        moment, wanted = parse_datetime(actual), parse_datetime(expected)
        if moment is None or wanted is None:
            return False
        return _ordered(op, moment, wanted)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return op == "eq" and actual == expected
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return _ordered(op, actual, expected)
    left, right = str(actual), str(expected)
    if not attribute.case_exact:
        left, right = left.lower(), right.lower()
    if op == "co":
        return right in left
    if op == "sw":
        return left.startswith(right)
    if op == "ew":
        return left.endswith(right)
    return _ordered(op, left, right)


def _ordered(op: str, left: Any, right: Any) -> bool:
    return bool({"eq": left == right, "gt": left > right, "ge": left >= right, "lt": left < right,
                 "le": left <= right}.get(op, False))


def parse_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # .NET writes 7 fractional digits
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


# --- parsing ------------------------------------------------------------------------------------------------

class _Parser:
    def __init__(self, text: str, schema: ResourceSchema, error: type[ScimError]) -> None:
        limits.check_filter_text(text, error)
        self.text = text
        self.schema = schema
        self.error = error
        self.tokens = self._tokenize(text)
        self.position = 0
        self.depth = 0
        self.terms = 0

    def _deeper(self) -> None:
        self.depth += 1
        if self.depth > limits.MAX_FILTER_DEPTH:
            raise self.error(f"The filter or path nests deeper than {limits.MAX_FILTER_DEPTH} levels (limit: filter "
                             "nesting).")

    def _term(self) -> None:
        self.terms += 1
        if self.terms > limits.MAX_FILTER_TERMS:
            raise self.error(f"The filter or path has more than {limits.MAX_FILTER_TERMS} comparisons (limit: filter "
                             "terms).")

    def _tokenize(self, text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        position = 0
        text = text.rstrip()
        while position < len(text):
            found = _TOKEN.match(text, position)
            if found is None or found.end() == position:
                raise self.error(f"Cannot parse {text!r} at position {position}.")
            kind = found.lastgroup or "word"
            tokens.append((kind, found.group(kind)))
            position = found.end()
        if not tokens:
            raise self.error("The filter is empty.")
        return tokens

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise self.error(f"Unexpected end of {self.text!r}.")
        self.position += 1
        return token

    def _accept_word(self, word: str) -> bool:
        token = self._peek()
        if token and token[0] == "word" and token[1].lower() == word:
            self.position += 1
            return True
        return False

    def _expect(self, punct: str) -> None:
        token = self._next()
        if token != ("punct", punct):
            raise self.error(f"Expected {punct!r} in {self.text!r}, found {token[1]!r}.")

    def expect_end(self) -> None:
        token = self._peek()
        if token is not None:
            raise self.error(f"Unexpected {token[1]!r} in {self.text!r}.")

    def filter(self, parent: Attribute | None) -> Filter:
        node = self._and(parent)
        while self._accept_word("or"):
            node = Or(node, self._and(parent))
        return node

    def _and(self, parent: Attribute | None) -> Filter:
        node = self._unary(parent)
        while self._accept_word("and"):
            node = And(node, self._unary(parent))
        return node

    def _unary(self, parent: Attribute | None) -> Filter:
        token = self._peek()
        if token and token[0] == "word" and token[1].lower() == "not":
            following = self.tokens[self.position + 1] if self.position + 1 < len(self.tokens) else None
            if following == ("punct", "("):
                self.position += 1
                return Not(self._group(parent))
        if token == ("punct", "("):
            return self._group(parent)
        return self._attribute_expression(parent)

    def _group(self, parent: Attribute | None) -> Filter:
        self._expect("(")
        self._deeper()
        node = self.filter(parent)
        self._expect(")")
        self.depth -= 1
        return node

    def _attribute_expression(self, parent: Attribute | None) -> Filter:
        self._term()
        path = self.path(parent)
        token = self._peek()
        if token is None or token[0] == "punct" or token[1].lower() in ("and", "or"):
            if path.value_filter is not None and path.sub is None:
                return HasElement(path)
            raise self.error(f"Expected an operator after {path.text!r} in {self.text!r}.")
        operator = self._next()[1].lower()
        if operator == "pr":
            return Present(path)
        if operator not in COMPARISONS:
            raise self.error(f"Unknown operator {operator!r} in {self.text!r}; use eq ne co sw ew gt ge lt le pr.")
        return Compare(path, operator, self._value())

    def _value(self) -> Any:
        kind, raw = self._next()
        if kind == "string":
            try:
                value = json.loads(raw)
            except ValueError:
                raise self.error(f"Bad string literal {raw} in {self.text!r}.") from None
            if limits.has_lone_surrogate(value):  # `"\\ud800"`: valid text until its escape is decoded
                raise self.error("A string literal in the filter or path decodes to an invalid character (a lone "
                                 "UTF-16 surrogate); send valid Unicode text.")
            return value
        if kind == "punct":
            raise self.error(f"Expected a value in {self.text!r}, found {raw!r}.")
        lowered = raw.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered == "null":
            return None
        if _NUMBER.fullmatch(raw):
            if len(raw) > limits.MAX_NUMBER_CHARS:
                raise self.error(f"A number in the filter has more than {limits.MAX_NUMBER_CHARS} characters (limit: "
                                 "number length).")
            return float(raw) if any(c in raw for c in ".eE") else int(raw)
        return raw  # Entra's documented example sends `externalId eq jyoung` unquoted

    def path(self, parent: Attribute | None) -> AttrPath:
        kind, raw = self._next()
        if kind != "word":
            raise self.error(f"Expected an attribute name in {self.text!r}, found {raw!r}.")
        if parent is not None:  # inside brackets: names are sub-attributes of `parent`
            element_attribute = parent.sub_attribute(raw)
            if element_attribute is None:
                raise self.error(f"{parent.name} has no sub-attribute {raw!r}.")
            return AttrPath(None, element_attribute)
        extension, rest = self.schema.split_urn(raw)
        name, _, sub_name = rest.partition(".")
        if extension is None and ":" in rest:
            raise (UnknownAttribute if self.error is InvalidPath else self.error)(f"Unsupported attribute {raw!r}.")
        attribute = self.schema.attribute(extension, name)
        if attribute is None:
            raise (UnknownAttribute if self.error is InvalidPath else self.error)(f"Unsupported attribute {raw!r}.")
        value_filter: Filter | None = None
        if not sub_name and self._peek() == ("punct", "["):
            if attribute.type != "complex":
                raise self.error(f"{attribute.name} is not complex; it cannot take a [filter].")
            self.position += 1
            self._deeper()
            value_filter = self.filter(parent=attribute)
            self._expect("]")
            self.depth -= 1
            token = self._peek()
            if token and token[0] == "word" and token[1].startswith("."):
                self.position += 1
                sub_name = token[1][1:]
        sub: Attribute | None = None
        if sub_name:
            sub = attribute.sub_attribute(sub_name)
            if sub is None:
                raise self.error(f"{attribute.name} has no sub-attribute {sub_name!r}.")
        return AttrPath(extension, attribute, value_filter, sub)
