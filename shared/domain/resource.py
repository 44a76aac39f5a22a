"""SCIM resources in and out: a request body becomes stored attributes, stored attributes become the
representation a client sees (with `attributes` / `excludedAttributes` applied).

Stored attributes are a dict with canonical attribute names, values as sent (after coercing string booleans),
no nulls, no unknown or read-only attributes and never `password`. `id`, `meta` and `groups`/`members` are not
part of them: the server owns those.
"""

from __future__ import annotations

from typing import Any

from shared.domain import entra
from shared.domain.filters import parse_datetime
from shared.domain.schema import Attribute, ResourceSchema
from shared.errors import InvalidSyntax, InvalidValue, Mutability

SERVER_OWNED = {"id", "meta", "schemas", "groups", "members"}
"""Attributes a client cannot write through the resource body (members are handled by the group domain)."""


def normalize(body: Any, schema: ResourceSchema) -> dict[str, Any]:
    """A POST/PUT body as stored attributes; InvalidSyntax/InvalidValue say what to fix."""
    if not isinstance(body, dict):
        raise InvalidSyntax("The request body must be a JSON object.")
    schemas = body.get("schemas")
    if schemas is not None and not (isinstance(schemas, list) and all(isinstance(s, str) for s in schemas)):
        raise InvalidSyntax("schemas must be an array of schema URNs.")
    stored: dict[str, Any] = {}
    for key, value in body.items():
        if value is None:
            continue
        extension = schema.extension_urn(key)
        if extension is not None:
            if not isinstance(value, dict):
                raise InvalidValue(f"{extension} must be an object of extension attributes.")
            for sub_key, sub_value in value.items():
                set_value(stored, schema, extension, sub_key, sub_value)
            continue
        extension, name = schema.split_urn(key)
        if extension is None and ":" in name:
            continue  # a custom extension attribute (urn:...:CustomExt:2.0:User:x): not kept
        set_value(stored, schema, extension, name, value)
    return stored


def check_own_id(body: Any, resource_id: str) -> None:
    """A PUT body may restate the resource's id (OneLogin and Okta send it); a different id is refused: ids are
    the server's (RFC 7643 §3.1)."""
    if isinstance(body, dict):
        for key, value in body.items():
            if key.lower() == "id" and value is not None and value != resource_id:
                raise Mutability(f"id is read-only: the body names {value!r}, the URL {resource_id!r}.")


def set_value(stored: dict[str, Any], schema: ResourceSchema, extension: str | None, name: str, value: Any) -> None:
    attribute = schema.attribute(extension, name)
    if attribute is None or attribute.name.lower() in SERVER_OWNED or attribute.mutability in ("readOnly", "writeOnly"):
        return  # unknown, server-owned or write-only (password): ignored, never stored
    coerced = coerce(attribute, value, attribute.name)
    container = stored.setdefault(extension, {}) if extension else stored
    if coerced is None:
        container.pop(attribute.name, None)
    else:
        container[attribute.name] = coerced
    if extension and not stored[extension]:
        del stored[extension]


def coerce(attribute: Attribute, value: Any, where: str) -> Any:
    """One attribute's value checked against its schema; None when it carries nothing."""
    if value is None:
        return None
    if attribute.multi_valued:
        items = value if isinstance(value, list) else [value]
        coerced = [coerce_single(attribute, item, f"{where}[{i}]") for i, item in enumerate(items)]
        kept = [c for c in coerced if c is not None]
        return kept or None
    return coerce_single(attribute, value, where)


def coerce_single(attribute: Attribute, value: Any, where: str) -> Any:
    if value is None:
        return None
    if attribute.name == "manager":
        return entra.manager(value)
    if attribute.type == "complex":
        if not isinstance(value, dict):
            raise InvalidValue(f"{where} must be an object; got {value!r}.")
        result: dict[str, Any] = {}
        for key, sub_value in value.items():
            sub = attribute.sub_attribute(key)
            if sub is None or sub_value is None:
                continue
            coerced = coerce_single(sub, sub_value, f"{where}.{sub.name}")
            if coerced is not None:
                result[sub.name] = coerced
        return result or None
    if attribute.type == "boolean":
        return entra.boolean(value, where)
    if attribute.type in ("integer", "decimal"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValue(f"{where} must be a number; got {value!r}.")
        return value
    if not isinstance(value, str):
        raise InvalidValue(f"{where} must be a string; got {value!r}.")
    if attribute.type == "dateTime" and parse_datetime(value) is None:
        raise InvalidValue(f"{where} must be an ISO 8601 date-time; got {value!r}.")
    return value


def attribute_list(raw: str | None) -> list[str]:
    return [a.strip() for a in raw.split(",") if a.strip()] if raw else []


ALWAYS_RETURNED = {"id", "schemas", "meta"}


def project(full: dict[str, Any], schema: ResourceSchema, attributes: list[str], excluded: list[str]) -> dict[str, Any]:
    """RFC 7644 §3.4.2.5: keep only `attributes` (plus id, schemas, meta), or drop `excluded`. Names are
    case-insensitive and may be URN-qualified or dotted (`name.givenName`); a `[filter]` part is ignored."""
    if attributes:
        wanted = [_split(a, schema) for a in attributes]
        result: dict[str, Any] = {k: v for k, v in full.items() if k in ALWAYS_RETURNED}
        for extension, name, sub in wanted:
            source = full.get(extension) if extension else full
            if not isinstance(source, dict):
                continue
            key = _key(source, name)
            if key is None:
                continue
            target = result.setdefault(extension, {}) if extension else result
            if sub and isinstance(source[key], dict):
                sub_key = _key(source[key], sub)
                if sub_key is not None:
                    target.setdefault(key, {})[sub_key] = source[key][sub_key]
            else:
                target[key] = source[key]
        return result
    if excluded:
        result = dict(full)
        for extension, name, sub in (_split(a, schema) for a in excluded):
            source = result.get(extension) if extension else result
            if not isinstance(source, dict):
                continue
            key = _key(source, name)
            if key is None or key in ALWAYS_RETURNED:
                continue
            if extension:
                source = result[extension] = dict(source)
            if sub and isinstance(source[key], dict):
                source[key] = {k: v for k, v in source[key].items() if k.lower() != sub.lower()}
            else:
                del source[key]
        return result
    return full


def _split(raw: str, schema: ResourceSchema) -> tuple[str | None, str, str | None]:
    extension = schema.extension_urn(raw)
    if extension:
        return None, extension, None
    extension, rest = schema.split_urn(raw.split("[")[0])
    name, _, sub = rest.partition(".")
    return extension, name, sub or None


def _key(container: dict[str, Any], name: str) -> str | None:
    lowered = name.lower()
    return next((k for k in container if k.lower() == lowered), None)
