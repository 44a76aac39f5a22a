"""PATCH (RFC 7644 §3.5.2) as a pure function over a copy of a resource's stored attributes.

Accepts both Entra dialects (reference §1.4): capitalised ops, string booleans, one op per path or one no-path
`replace` whose value has dotted (`name.givenName`) and URN-qualified keys, filtered paths that create the missing
typed element (`emails[type eq "work"].value` on a user without a work email), enterprise paths in colon and dot
form, and `manager` in all its shapes. Every operation is validated before the result is returned, so a request
either applies whole or raises (nothing is written by the caller).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.domain import entra, limits
from shared.domain.filters import And, AttrPath, Compare, Filter, UnknownAttribute, matches, parse_path
from shared.domain.resource import SERVER_OWNED, coerce, coerce_single
from shared.domain.schema import ResourceSchema
from shared.errors import InvalidSyntax, InvalidValue, Mutability, NoTarget

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass(frozen=True)
class Operation:
    op: str
    path: str | None
    value: Any


@dataclass
class Patched:
    attributes: dict[str, Any]
    changed: bool
    skipped: list[str] = field(default_factory=list)
    """Paths that were not applied on purpose (protected attributes, attributes this server does not keep)."""


def parse_operations(body: Any) -> list[Operation]:
    """The Operations of a PatchOp message; InvalidSyntax says what is wrong with its shape."""
    if not isinstance(body, dict):
        raise InvalidSyntax("The PATCH body must be a JSON object with Operations.")
    lowered = {k.lower(): v for k, v in body.items()}
    schemas = lowered.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or PATCH_SCHEMA.lower() not in [str(s).lower() for s in schemas]):
        raise InvalidSyntax(f"schemas must contain {PATCH_SCHEMA}.")
    raw_operations = lowered.get("operations")
    if not isinstance(raw_operations, list) or not raw_operations:
        raise InvalidSyntax("Operations must be a non-empty array.")
    if len(raw_operations) > limits.MAX_PATCH_OPERATIONS:
        raise InvalidValue(f"The PATCH has {len(raw_operations)} operations; at most {limits.MAX_PATCH_OPERATIONS} are "
                           "accepted (limit: operations per PATCH).")
    operations = []
    for raw in raw_operations:
        if not isinstance(raw, dict):
            raise InvalidSyntax(f"Each operation must be an object; got {type(raw).__name__}.")
        fields = {k.lower(): v for k, v in raw.items()}
        path = fields.get("path")
        if path is not None and not isinstance(path, str):
            raise InvalidSyntax(f"path must be a string; got {path!r}.")
        operations.append(Operation(entra.patch_op(fields.get("op")), path.strip() if path else None, fields.get("value")))
    return operations


def apply_patch(attributes: dict[str, Any], operations: list[Operation], schema: ResourceSchema,
                protected: Callable[[AttrPath], bool] = lambda path: False, resource_id: str | None = None) -> Patched:
    """Applies `operations` to a copy of `attributes`. `protected` paths are skipped (not an error). Setting `id`
    to the resource's own id is not a change (Okta's Group Push sends it in every rename); any other write to
    `id` is refused."""
    result = copy.deepcopy(attributes)
    skipped: list[str] = []
    for operation in operations:
        extension = schema.extension_urn(operation.path or "")
        if extension is not None and operation.op == "remove":
            result.pop(extension, None)  # the whole extension (RFC 7644 §3.5.2.2 with path = schema URN)
            continue
        for path_text, value in _expand(operation, schema):
            try:
                path = parse_path(path_text, schema)
            except UnknownAttribute:
                skipped.append(path_text)
                continue
            if protected(path):
                skipped.append(path_text)
                continue
            if _restates_id(path, operation.op, value, resource_id):
                continue
            _apply(result, operation.op, path, value)
    return Patched(result, result != attributes, skipped)


def _restates_id(path: AttrPath, op: str, value: Any, resource_id: str | None) -> bool:
    return (resource_id is not None and path.attribute.name.lower() == "id" and path.sub is None
            and path.value_filter is None and op in ("add", "replace") and value == resource_id)


def _expand(operation: Operation, schema: ResourceSchema) -> list[tuple[str, Any]]:
    """One (path, value) per target. A no-path add/replace spreads its object's keys, which may be dotted
    (`name.givenName`), URN-qualified, or an extension URN holding an object (reference §1.4)."""
    extension = schema.extension_urn(operation.path or "")
    if extension is not None:  # path is an extension's URN: its value is an object of extension attributes
        if not isinstance(operation.value, dict):
            raise InvalidValue(f"{operation.op} on {extension} needs an object of its attributes.")
        return [(f"{extension}:{key}", value) for key, value in operation.value.items() if key.lower() != "schemas"]
    if operation.path:
        return [(operation.path, operation.value)]
    if operation.op == "remove":
        raise NoTarget("remove needs a path (RFC 7644 §3.5.2.2).")
    if not isinstance(operation.value, dict):
        raise InvalidValue(f"{operation.op} without a path needs an object value; got {operation.value!r}.")
    targets: list[tuple[str, Any]] = []
    for key, value in operation.value.items():
        extension = schema.extension_urn(key)
        if extension is not None and isinstance(value, dict):
            targets.extend((f"{extension}:{sub_key}", sub_value) for sub_key, sub_value in value.items())
        elif key.lower() not in ("schemas",):
            targets.append((key, value))
    return targets


def _apply(resource: dict[str, Any], op: str, path: AttrPath, value: Any) -> None:
    attribute = path.attribute
    if attribute.name.lower() in SERVER_OWNED or attribute.mutability == "readOnly":
        raise Mutability(f"{attribute.name} is read-only and cannot be changed with PATCH.")
    if attribute.mutability == "writeOnly":
        return  # password: accepted and discarded
    container = resource.get(path.extension, {}) if path.extension else resource
    if path.value_filter is not None:
        _apply_filtered(container, op, path, value)
    elif path.sub is not None:
        _apply_sub(container, op, path, value)
    else:
        _apply_whole(container, op, path, value)
    if path.extension:
        if container:
            resource[path.extension] = container
        else:
            resource.pop(path.extension, None)


def _apply_whole(container: dict[str, Any], op: str, path: AttrPath, value: Any) -> None:
    attribute = path.attribute
    name = attribute.name
    if op == "remove":
        if attribute.multi_valued and value is not None and name in container:
            drop = coerce(attribute, value, name) or []
            kept = [e for e in container[name] if not any(_same(e, d) for d in drop)]
            _set(container, name, kept or None)
        elif name == "manager" and value is not None:  # 2023 traffic: remove manager only when it is the given one
            current = container.get(name) or {}
            given = entra.manager(value)
            if given is None or str(current.get("value", "")).lower() == given["value"].lower():
                container.pop(name, None)
        else:
            container.pop(name, None)
        return
    coerced = coerce(attribute, value, name)
    if attribute.multi_valued and op == "add" and coerced is not None:
        _set(container, name, _merged(list(container.get(name) or []), coerced))
    elif attribute.type == "complex" and not attribute.multi_valued and name != "manager" and isinstance(coerced, dict):
        merged = {**(container.get(name) or {}), **coerced}  # RFC 7644 §3.5.2.1/3: sub-attributes not given are kept
        _set(container, name, merged)
    else:
        _set(container, name, coerced)


def _apply_sub(container: dict[str, Any], op: str, path: AttrPath, value: Any) -> None:
    attribute, sub = path.attribute, path.sub
    assert sub is not None
    if attribute.name == "manager":  # `manager.value` and friends: rebuild the manager from its parts
        current = dict(container.get("manager") or {})
        _set_sub(current, sub.name, None if op == "remove" else coerce_single(sub, value, f"manager.{sub.name}"))
        _set(container, "manager", entra.manager(current) if current else None)
        return
    if attribute.multi_valued:
        elements = list(container.get(attribute.name) or [])
        if op == "remove":
            elements = [_without(e, sub.name) for e in elements]
        else:
            coerced = coerce_single(sub, value, f"{attribute.name}.{sub.name}")
            elements = [{**e, sub.name: coerced} for e in elements] or [{sub.name: coerced}]
        _set(container, attribute.name, [e for e in elements if _meaningful(e)] or None)
        return
    current = dict(container.get(attribute.name) or {})
    _set_sub(current, sub.name, None if op == "remove" else coerce_single(sub, value, f"{attribute.name}.{sub.name}"))
    _set(container, attribute.name, current or None)


def _apply_filtered(container: dict[str, Any], op: str, path: AttrPath, value: Any) -> None:
    attribute, sub, value_filter = path.attribute, path.sub, path.value_filter
    assert value_filter is not None
    elements = list(container.get(attribute.name) or [])
    hits = [i for i, e in enumerate(elements) if isinstance(e, dict) and matches(value_filter, e)]
    if op == "remove":
        if sub is None:
            elements = [e for i, e in enumerate(elements) if i not in hits]
        else:
            elements = [_without(e, sub.name) if i in hits else e for i, e in enumerate(elements)]
        _set(container, attribute.name, [e for e in elements if _meaningful(e)] or None)
        return
    if sub is not None:
        new_value = coerce_single(sub, value, f"{attribute.name}.{sub.name}")
        update: dict[str, Any] = {} if new_value is None else {sub.name: new_value}
        clear = [sub.name] if new_value is None else []
    else:
        update = coerce_single(attribute, value, attribute.name) or {}
        clear = []
    if hits:
        for i in hits:
            merged = {k: v for k, v in {**elements[i], **update}.items() if k not in clear}
            elements[i] = merged
    elif update:
        # Entra (and SCIM-SDK#416): add/replace on a filtered path with no matching element creates it,
        # seeded from the filter's equalities, e.g. {"type": "work", "value": ...}.
        elements.append({**_seed(value_filter), **update})
    _set(container, attribute.name, [e for e in elements if _meaningful(e)] or None)


def _seed(value_filter: Filter) -> dict[str, Any]:
    if isinstance(value_filter, Compare) and value_filter.op == "eq" and value_filter.path.sub is None:
        return {value_filter.path.attribute.name: value_filter.value}
    if isinstance(value_filter, And):
        return {**_seed(value_filter.left), **_seed(value_filter.right)}
    raise NoTarget("No element matches the filter, and it is not a simple equality to create one from.")


def _merged(existing: list[Any], added: list[Any]) -> list[Any]:
    """`existing` plus each added value that `_same` does not find among them (nor among the values added before
    it), in linear time: values are compared through keys, not pairwise."""
    by_value = {_value_key(x) for x in existing if _by_value(x)}
    whole = {_canonical(x) for x in existing}
    for element in added:
        if (isinstance(element, dict) and _value_key(element) in by_value) or _canonical(element) in whole:
            continue
        existing.append(element)
        whole.add(_canonical(element))
        if _by_value(element):
            by_value.add(_value_key(element))
    return existing


def _by_value(element: Any) -> bool:
    """An element that `_same` matches by its value alone (Entra's `[{"value": x}]`)."""
    return isinstance(element, dict) and "value" in element and len(element) <= 2


def _value_key(element: dict[str, Any]) -> str:
    return str(element.get("value", "")).lower()


def _canonical(element: Any) -> str:
    return json.dumps(element, sort_keys=True, separators=(",", ":"))


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, dict) and isinstance(right, dict):
        if "value" in right and len(right) <= 2:  # remove by value: [{"value": x}] (Entra's member dialect)
            return str(left.get("value", "")).lower() == str(right["value"]).lower()
        return left == right
    return bool(left == right)


def _meaningful(element: Any) -> bool:
    if not isinstance(element, dict):
        return element is not None
    return any(k not in ("type", "primary") for k in element)


def _without(element: Any, key: str) -> Any:
    return {k: v for k, v in element.items() if k != key} if isinstance(element, dict) else element


def _set_sub(container: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        container.pop(key, None)
    else:
        container[key] = value


def _set(container: dict[str, Any], key: str, value: Any) -> None:
    if value is None or value == [] or value == {}:
        container.pop(key, None)
    else:
        container[key] = value
