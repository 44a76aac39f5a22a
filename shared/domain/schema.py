"""Attribute lookup over the schemas this server publishes (shared/domain/discovery.py): names are matched
case-insensitively (RFC 7643 §2.1) and resolved to their canonical spelling, type, multiplicity and caseExact.

Resources are held as plain dicts: core attributes at the top level and the enterprise extension under its
schema URN, every name in its canonical spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from shared.domain import discovery

ENTERPRISE = discovery.ENTERPRISE_USER_SCHEMA


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    multi_valued: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"
    sub: dict[str, Attribute] = field(default_factory=dict)

    def sub_attribute(self, name: str) -> Attribute | None:
        return self.sub.get(name.lower())


def _build(definition: dict[str, Any]) -> Attribute:
    return Attribute(
        name=definition["name"], type=definition["type"], multi_valued=definition["multiValued"],
        case_exact=definition.get("caseExact", False), mutability=definition["mutability"],
        sub={s["name"].lower(): _build(s) for s in definition.get("subAttributes", [])})


def _index(definitions: list[dict[str, Any]]) -> dict[str, Attribute]:
    return {d["name"].lower(): _build(d) for d in definitions}


_COMMON = {
    "id": Attribute("id", "string", case_exact=True, mutability="readOnly"),
    "externalid": Attribute("externalId", "string", case_exact=True),
    "meta": Attribute("meta", "complex", mutability="readOnly", sub={
        "resourcetype": Attribute("resourceType", "string", mutability="readOnly"),
        "created": Attribute("created", "dateTime", mutability="readOnly"),
        "lastmodified": Attribute("lastModified", "dateTime", mutability="readOnly"),
        "location": Attribute("location", "reference", case_exact=True, mutability="readOnly"),
        "version": Attribute("version", "string", case_exact=True, mutability="readOnly"),
    }),
}


@dataclass(frozen=True)
class ResourceSchema:
    """The attributes of one resource type: its core schema plus (for users) the enterprise extension."""

    core_urn: str
    core: dict[str, Attribute]
    extensions: dict[str, dict[str, Attribute]]
    aliases: dict[str, str] = field(default_factory=dict)
    """Lower-case top-level names that stand for an extension's attribute (`harnessScopes`, which Harness reads
    as a plain Group attribute) -> that extension's URN."""

    def core_attribute(self, name: str) -> Attribute | None:
        return self.core.get(name.lower()) or _COMMON.get(name.lower())

    def extension_urn(self, candidate: str) -> str | None:
        """The canonical extension URN matching `candidate` case-insensitively."""
        for urn in self.extensions:
            if urn.lower() == candidate.lower():
                return urn
        return None

    def split_urn(self, path: str) -> tuple[str | None, str]:
        """`urn:...:enterprise:2.0:User:manager.value` (or `...User.manager`) -> (extension URN, `manager.value`);
        a core-URN prefix is dropped; a plain path -> (None, path)."""
        lowered = path.lower()
        for urn in [self.core_urn, *self.extensions]:
            if lowered.startswith(urn.lower()) and len(path) > len(urn) and path[len(urn)] in ":.":
                rest = path[len(urn) + 1:]
                return (None if urn == self.core_urn else urn), rest
        alias = self.aliases.get(re.split(r"[.\[]", lowered, maxsplit=1)[0])
        return alias, path

    def attribute(self, extension: str | None, name: str) -> Attribute | None:
        if extension is None:
            return self.core_attribute(name)
        return self.extensions[extension].get(name.lower())


USER = ResourceSchema(discovery.USER_SCHEMA, _index(discovery.USER_ATTRIBUTES),
                      {ENTERPRISE: _index(discovery.ENTERPRISE_USER_ATTRIBUTES)})
GROUP = ResourceSchema(discovery.GROUP_SCHEMA, _index(discovery.GROUP_ATTRIBUTES),
                       {discovery.HARNESS_GROUP_SCHEMA: _index(discovery.HARNESS_GROUP_ATTRIBUTES)},
                       aliases={"harnessscopes": discovery.HARNESS_GROUP_SCHEMA})
