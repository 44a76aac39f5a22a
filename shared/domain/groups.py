"""Group use cases: create, read, list/filter, replace, patch, delete, against the group store.

Group membership is never loaded to apply a change: a request's member operations are folded, in order, into one
net `MembershipChange` (adds, removes, or "replace all"), which the store applies with O(k) work for k changed
members, whatever the group's size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.domain import discovery, entra, resource
from shared.domain.accounts import Account
from shared.domain.filters import And, Compare, Filter, Not, Or, matches, parse_path
from shared.domain.listing import ListQuery, Page, candidates, paginate
from shared.domain.patch import Operation, apply_patch, parse_operations
from shared.domain.ports import MANAGED_BY_SCIM, MembershipChange, MembershipResult, StoredGroup, VersionConflict
from shared.domain.schema import GROUP
from shared.errors import InvalidFilter, InvalidValue, NotFound, PreconditionFailed, ServiceUnavailable
from shared.storage.groups_table import TableGroupStore

log = logging.getLogger("scim.groups")

MAX_CONFLICT_RETRIES = 8
ADSCIM_SCHEMA = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


@dataclass(frozen=True)
class WriteResult:
    group: StoredGroup
    membership: MembershipResult


def check_if_match(if_match: str | None, group: StoredGroup) -> None:
    if not if_match:
        return
    tags = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if "*" in tags or group.version.removeprefix("W/") in tags:
        return
    raise PreconditionFailed(f"If-Match {if_match} does not match the current version {group.version}.")


def _attributes(body: Any) -> dict[str, Any]:
    attributes = resource.normalize(body, GROUP)
    name = attributes.get("displayName")
    if not isinstance(name, str) or not name.strip():
        raise InvalidValue("displayName is required: send the group's name.")
    return attributes


def _members_of(body: Any) -> dict[str, str | None]:
    """`members` of a POST/PUT body: user id -> display as sent (a repeated member is kept once)."""
    lowered = {k.lower(): v for k, v in body.items()} if isinstance(body, dict) else {}
    raw = lowered.get("members")
    if raw is None:
        return {}
    return _with_display(raw)


def _with_display(raw: Any) -> dict[str, str | None]:
    ids = entra.member_ids(raw)
    displays: dict[str, str | None] = dict.fromkeys(ids)
    for item in raw if isinstance(raw, list) else [raw]:
        if isinstance(item, dict):
            fields = {k.lower(): v for k, v in item.items()}
            shown = fields.get("display") or fields.get("displayname")
            if isinstance(shown, str) and isinstance(fields.get("value"), str):
                displays[fields["value"]] = shown
    return displays


def create_group(store: TableGroupStore, account: Account, body: Any) -> WriteResult:
    """Entra's create (empty members, the extra ADSCIM schema URN) or a create with members."""
    attributes = _attributes(body)
    members = _members_of(body)
    now = datetime.now(UTC)
    group = store.create(account.id, attributes, now)
    if not members:
        return WriteResult(group, MembershipResult([], None))
    result = store.update(account.id, group, attributes, MembershipChange(members, set()), now, if_match=False)
    _log_ignored(group.id, result)
    return WriteResult(store.get(account.id, group.id), result)


def get_group(store: TableGroupStore, account: Account, group_id: str) -> StoredGroup:
    group = store.get(account.id, group_id)
    if group.managed_by != MANAGED_BY_SCIM:
        raise NotFound(f"No group with id {group_id!r}.")  # native groups are not Entra's to see
    return group


def list_groups(store: TableGroupStore, account: Account, query: ListQuery, tenant_url: str) -> Page:
    return paginate(matching_groups(store, account, query.filter, tenant_url), lambda _: True, query.start_index,
                    query.count)


def matching_groups(store: TableGroupStore, account: Account, query_filter: Filter | None,
                    tenant_url: str) -> Iterator[StoredGroup]:
    """`displayName eq` (case-insensitive), `externalId eq` and `id eq` are point reads; other filters stream the
    account's groups. A filter on members reads the members of the candidate groups."""
    needs_members = query_filter is not None and _mentions_members(query_filter)
    lookups: dict[str, Callable[[str], Any]] = {
        "displayName": lambda value: store.find_by_display_name(account.id, value),
        "externalId": lambda value: store.find_by_external_id(account.id, value),
        "id": lambda value: store.get(account.id, value)}
    for group in candidates(query_filter, lookups, lambda: store.scan(account.id)):
        if group.managed_by != MANAGED_BY_SCIM:
            continue
        members = store.members(account.id, group.id) if needs_members else None
        if query_filter is None or matches(query_filter, render_group(group, tenant_url, members)):
            yield group


def _mentions_members(node: Filter) -> bool:
    if isinstance(node, And | Or):
        return _mentions_members(node.left) or _mentions_members(node.right)
    if isinstance(node, Not):
        return _mentions_members(node.inner)
    return node.path.attribute.name == "members"


def replace_group(store: TableGroupStore, account: Account, group_id: str, body: Any,
                  if_match: str | None = None) -> WriteResult:
    """PUT: displayName, externalId and the full member set."""
    attributes = _attributes(body)
    change = MembershipChange(_members_of(body), set(), replace_all=True)
    return _write(store, account, group_id, if_match, lambda current: (attributes, change))


def patch_group(store: TableGroupStore, account: Account, group_id: str, body: Any,
                if_match: str | None = None) -> WriteResult:
    operations = parse_operations(body)
    member_ops, attribute_ops = _split(operations)
    change = _net_change(member_ops)

    def compute(current: StoredGroup) -> tuple[dict[str, Any], MembershipChange]:
        patched = apply_patch(current.attributes, attribute_ops, GROUP)
        if not isinstance(patched.attributes.get("displayName"), str) or not patched.attributes["displayName"].strip():
            raise InvalidValue("displayName cannot be removed: a group needs a name.")
        return patched.attributes, change

    return _write(store, account, group_id, if_match, compute)


def delete_group(store: TableGroupStore, account: Account, group_id: str, if_match: str | None = None) -> None:
    for _ in range(MAX_CONFLICT_RETRIES):
        current = get_group(store, account, group_id)
        check_if_match(if_match, current)
        try:
            store.delete(account.id, current, if_match=bool(if_match), now=datetime.now(UTC))
            return
        except VersionConflict:
            if if_match:
                raise PreconditionFailed("The group changed while it was being deleted; read it again.") from None
    raise ServiceUnavailable("The group is being changed by other requests; retry.", retry_after_seconds=1)


def _write(store: TableGroupStore, account: Account, group_id: str, if_match: str | None, compute: Any) -> WriteResult:
    for _ in range(MAX_CONFLICT_RETRIES):
        current = get_group(store, account, group_id)
        check_if_match(if_match, current)
        attributes, change = compute(current)
        try:
            result = store.update(account.id, current, attributes, change, datetime.now(UTC), if_match=bool(if_match))
        except VersionConflict:
            if if_match:
                raise PreconditionFailed("The group changed since the version given in If-Match; read it again.") from None
            continue
        _log_ignored(current.id, result)
        return WriteResult(current, result)
    raise ServiceUnavailable("The group is being changed by other requests; retry.", retry_after_seconds=1)


def _log_ignored(group_id: str, result: MembershipResult) -> None:
    if result.ignored:
        log.warning("group %s: ignored %d member id(s) that are not users of this account: %s",
                    group_id, len(result.ignored), ", ".join(result.ignored[:20]))


def _split(operations: list[Operation]) -> tuple[list[Operation], list[Operation]]:
    """Member operations (path `members...`, or the `members` key of a no-path value) and the rest."""
    member_ops: list[Operation] = []
    attribute_ops: list[Operation] = []
    for operation in operations:
        if operation.path is not None:
            (member_ops if operation.path.lower().startswith("members") else attribute_ops).append(operation)
            continue
        if not isinstance(operation.value, dict):
            attribute_ops.append(operation)  # apply_patch reports the error
            continue
        rest = {k: v for k, v in operation.value.items() if k.lower() != "members"}
        for key, value in operation.value.items():
            if key.lower() == "members":
                member_ops.append(Operation(operation.op, "members", value))
        if rest:
            attribute_ops.append(Operation(operation.op, None, rest))
    return member_ops, attribute_ops


def _net_change(operations: list[Operation]) -> MembershipChange:
    """Folds member operations, in order, into one change (RFC 7644 §3.5.2 semantics, plus Entra's
    `remove` with a value array, which removes only the listed members, never all)."""
    adds: dict[str, str | None] = {}
    removes: set[str] = set()
    replace_all = False
    for operation in operations:
        path = parse_path(operation.path or "members", GROUP)
        if path.sub is not None:
            raise InvalidValue(f"Member sub-attributes cannot be changed ({operation.path}); add or remove members.")
        if path.value_filter is not None:
            if operation.op != "remove":
                raise InvalidValue(f"{operation.op} with a filtered members path is not supported; add members by value.")
            ids = _ids_in(path.value_filter)
            for user_id in ids:
                adds.pop(user_id, None)
            removes |= ids
        elif operation.op == "add":
            for user_id, shown in _with_display(operation.value).items():
                adds[user_id] = shown
                removes.discard(user_id)
        elif operation.op == "remove" and operation.value is not None:
            ids = set(entra.member_ids(operation.value))
            for user_id in ids:
                adds.pop(user_id, None)
            removes |= ids
        else:  # remove all, or replace the whole set
            replace_all = True
            removes.clear()
            adds = _with_display(operation.value) if operation.op == "replace" and operation.value is not None else {}
    return MembershipChange(adds, removes, replace_all)


def _ids_in(node: Filter) -> set[str]:
    """`members[value eq "a"]` or `members[value eq "a" or value eq "b"]`."""
    if isinstance(node, Compare) and node.op == "eq" and node.path.attribute.name == "value" and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, Or):
        return _ids_in(node.left) | _ids_in(node.right)
    raise InvalidFilter('Select members to remove with value eq "<id>" (joined with or).')


def render_group(group: StoredGroup, tenant_url: str, members: Iterable[tuple[str, str | None]] | None) -> dict[str, Any]:
    """The representation; `members` omitted (not read) when None, for `excludedAttributes=members`."""
    body: dict[str, Any] = {"schemas": [discovery.GROUP_SCHEMA], "id": group.id, **group.attributes}
    if members is not None:
        body["members"] = list(_member_values(members, tenant_url))
    body["meta"] = {"resourceType": "Group", "created": _iso(group.created), "lastModified": _iso(group.last_modified),
                    "location": f"{tenant_url}/Groups/{group.id}", "version": group.version}
    return body


def _member_values(members: Iterable[tuple[str, str | None]], tenant_url: str) -> Iterator[dict[str, str]]:
    for user_id, shown in members:
        value = {"value": user_id, "$ref": f"{tenant_url}/Users/{user_id}", "type": "User"}
        if shown:
            value["display"] = shown
        yield value


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def complete_pending_work(store: TableGroupStore, account_id: str) -> int:
    """Finishes every change of the account that was recorded but interrupted (idempotent); returns how many.
    The reconcile timer and the retry queue call this; so can an operator."""
    done = 0
    for work in store.pending.pending(account_id):
        if store.pending.run(account_id, work.id) is not None:
            done += 1
    return done
