"""Microsoft Entra ID's departures from RFC 7643/7644, handled in one place. Each has a test in
tests/domain/test_entra.py that says where Entra sends it (see ../shared/reference/entra-scim-behaviour.md §1.4)."""

from __future__ import annotations

from typing import Any

from shared.errors import InvalidSyntax, InvalidValue

PATCH_OPS = ("add", "replace", "remove")


def patch_op(value: Any) -> str:
    """Entra sends `Add`, `Replace`, `Remove` (capitalised) by default; RFC 7644 §3.5.2 spells them lower-case."""
    if not isinstance(value, str) or value.lower() not in PATCH_OPS:
        raise InvalidSyntax(f"PATCH op must be one of add, replace, remove; got {value!r}.")
    return value.lower()


def boolean(value: Any, name: str) -> bool:
    """Entra's default mapping `Switch([IsSoftDeleted], , "False", "True", ...)` sends booleans as "True"/"False"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise InvalidValue(f"{name} must be a boolean (true or false); got {value!r}.")


def manager(value: Any) -> dict[str, Any] | None:
    """The enterprise `manager`, in every shape Entra and its validators send: a plain id string (current Entra),
    `{"value": id}` (validator), a one-element array with `$ref` (legacy docs), or "" to clear it (R6)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, dict):
        lowered = {k.lower(): v for k, v in value.items()}
        manager_id = lowered.get("value")
        if manager_id in (None, ""):
            return None
        if not isinstance(manager_id, str):
            raise InvalidValue(f"manager.value must be a string id; got {manager_id!r}.")
        result: dict[str, Any] = {"value": manager_id}
        for key in ("$ref", "displayName"):
            if isinstance(lowered.get(key.lower()), str):
                result[key] = lowered[key.lower()]
        return result
    raise InvalidValue(f"manager must be an id string or an object with a value; got {value!r}.")


def member_ids(value: Any) -> list[str]:
    """Group members in a PATCH value: `[{"value": id, "$ref": null}, ...]` (Entra), a single object, or (from
    Microsoft's own test collection) bare id strings."""
    items = value if isinstance(value, list) else [value]
    ids = []
    for item in items:
        if isinstance(item, str) and item:
            ids.append(item)
        elif isinstance(item, dict):
            lowered = {k.lower(): v for k, v in item.items()}
            if not isinstance(lowered.get("value"), str) or not lowered["value"]:
                raise InvalidValue(f"Each member needs a string value (the user id); got {item!r}.")
            ids.append(lowered["value"])
        elif item is not None:
            raise InvalidValue(f"Each member must be an object with a value; got {item!r}.")
    return ids
