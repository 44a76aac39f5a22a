"""Group use cases: create, read, list/filter, replace, patch, delete, against the group store.

Group membership is never loaded to apply a change: a request's member operations are folded, in order, into one
net `MembershipChange` (adds, removes, or "replace all"), which the store applies with O(k) work for k changed
members, whatever the group's size.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from shared.domain import discovery, entra, etags, limits, resource, scopes, times
from shared.domain.accounts import Account
from shared.domain.activity import MAX_MEMBERS_LISTED, ActivityNote
from shared.domain.filters import And, Compare, Filter, Not, Or, matches, parse_path
from shared.domain.listing import (
    ListQuery,
    Page,
    StoreListing,
    candidates,
    indexed_candidates,
    indexed_page,
    list_resources,
    sorted_in_memory,
)
from shared.domain.patch import Operation, apply_patch, parse_operations
from shared.domain.ports import GroupStore, PagePositions
from shared.domain.schema import GROUP
from shared.domain.scopes import Placement
from shared.domain.stored import MANAGED_BY_SCIM, GroupWrite, MembershipChange, StoredGroup, VersionConflict
from shared.domain.times import utc_iso
from shared.domain.work import JobQueue, Settled, complete, settle
from shared.errors import InvalidFilter, InvalidValue, NotFound, PreconditionFailed, ServiceUnavailable

log = logging.getLogger("scim.groups")

MAX_CONFLICT_RETRIES = 12
"""Every write to a group is conditioned on the row it read, so concurrent writes to one group take turns; a loser
re-reads after a short random pause (growing with each attempt) and, after this many, answers 503."""
ADSCIM_SCHEMA = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


@dataclass(frozen=True)
class WriteResult:
    group: StoredGroup
    """The group as created, or as read just before an update (its id; re-read it for the new state)."""
    outcome: Settled
    """Ignored member ids, and whether part of the change was left to the retry queue."""
    placed: bool = False
    """The write changed where the group is placed."""
    added: tuple[str, ...] = ()
    """The users the write added (ids the request named that are users of the account)."""
    removed: tuple[str, ...] = ()
    """The users the write named for removal (a PUT's implicit removals are not listed)."""
    scopes: tuple[str, ...] = ()
    """Where the group is placed after the write (`A`, `A:O`, `A:O:P`): the scopes its members join and leave."""

    @property
    def note(self) -> ActivityNote:
        """What the write's activity record says: queued work, ignored ids, the users moved and where, and how many
        when there are more than a record lists."""
        detail = ""
        if max(len(self.added), len(self.removed)) > MAX_MEMBERS_LISTED:
            detail = (f"{len(self.added)} member(s) added, {len(self.removed)} removed (the first "
                      f"{MAX_MEMBERS_LISTED} of each listed).")
        return ActivityNote(detail, self.outcome.queued, tuple(self.outcome.ignored), self.added, self.removed,
                            self.scopes)


def check_if_match(if_match: str | None, group: StoredGroup) -> None:
    etags.check_if_match(if_match, group.version)


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
    members = _with_display(raw)
    _check_member_count(len(members))
    return members


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


def _take_scopes(attributes: dict[str, Any]) -> str | None:
    """Removes harnessScopes (top-level or under our extension: the schema files both under the extension) from the
    attributes to store: the group's placements hold it."""
    extension = attributes.get(scopes.HARNESS_GROUP_SCHEMA)
    if not isinstance(extension, dict):
        return None
    text = extension.pop(scopes.HARNESS_SCOPES, None)
    if not extension:
        del attributes[scopes.HARNESS_GROUP_SCHEMA]
    return text if isinstance(text, str) else None


def _placements_from_idp(account: Account, current: StoredGroup | None, text: str | None,
                         now: datetime) -> tuple[Placement, ...] | None:
    """The placements after the IdP sent `text` as harnessScopes (§2.1): non-empty scopes replace every placement
    (the IdP owns them from then on); absent or empty removes the IdP's own placements and keeps an admin's. None
    when nothing changes. InvalidValue names a bad entry, before anything is written."""
    wanted = scopes.parse_harness_scopes(text, account.id)
    if current is None:
        return scopes.replaced((), now, MANAGED_BY_SCIM, wanted, scopes.IDP, now) if wanted else ()
    if not wanted:
        if scopes.idp_scopes(current.placements) is None:
            return None  # the account by default, or an admin's placements: the IdP sent none, nothing changes
        return ()
    if scopes.idp_scopes(current.placements) == wanted:
        return None
    return scopes.replaced(current.placements, current.created, current.managed_by, wanted, scopes.IDP, now)


def create_group(store: GroupStore, account: Account, body: Any, queue: JobQueue | None = None) -> WriteResult:
    """Entra's create (empty members, the extra ADSCIM schema URN) or a create with members: one atomic write of
    the group, its placements (harnessScopes) and its members (or of the record of them, then carried out or queued
    like a PATCH's). A placement at an org or project that does not exist yet is kept, pending."""
    attributes = _attributes(body)
    now = times.now()
    placements = _placements_from_idp(account, None, _take_scopes(attributes), now) or ()
    members = _members_of(body)
    group, written = store.create(account.id, attributes, now, members=members, placements=placements)
    outcome = settle(store.pending, queue, account.id, written.work, account.notification_email or "")
    ignored = sorted(set(written.ignored) | set(outcome.ignored))
    _log_ignored(group.id, ignored)
    return WriteResult(group, Settled(ignored, outcome.queued), added=_added(members, ignored),
                       scopes=_scopes_of(account, group.placements))


def _scopes_of(account: Account, placements: tuple[Placement, ...]) -> tuple[str, ...]:
    return tuple(scopes.render(account.id, p.scope) for p in placements) or (account.id,)


def _added(adds: dict[str, str | None], ignored: list[str]) -> tuple[str, ...]:
    skipped = set(ignored)
    return tuple(sorted(user_id for user_id in adds if user_id not in skipped))


def get_group(store: GroupStore, account: Account, group_id: str) -> StoredGroup:
    group = store.get(account.id, group_id)
    if group.managed_by != MANAGED_BY_SCIM:
        raise NotFound(f"No group with id {group_id!r}.")  # native groups are not Entra's to see
    return group


def list_groups(store: GroupStore, account: Account, query: ListQuery, tenant_url: str,
                positions: PagePositions) -> Page:
    """`displayName eq` (case-insensitive), `externalId eq` and `id eq` are point reads; everything else pages
    through the SCIM groups in id order (a filter on members reads the members of the groups it examines)."""
    query_filter = query.filter
    keep = _keeper(store, account, query_filter, tenant_url) if query_filter else None
    found = indexed_candidates(query_filter, _lookups(store, account))
    render = lambda group: render_group(group, tenant_url, None, account.id)  # noqa: E731
    if found is not None:
        scim_only = [group for group in found if group.managed_by == MANAGED_BY_SCIM]
        return indexed_page(scim_only, keep or (lambda _: True), query, render)
    if query.sort is not None and not query.sort.is_on("displayName"):
        if query.sort.path.attribute.name == "members":  # the members are not read for a list
            raise InvalidValue("sortBy members is not supported: sort groups by their own attributes.")
        return sorted_in_memory(account_groups(store, account.id), positions, account.id, "Group", query, keep, render)
    listing = groups_by_name(store, account.id) if query.sort else account_groups(store, account.id)
    return list_resources(listing, positions, account.id, "Group", query, keep)


def account_groups(store: GroupStore, account_id: str, managed_by: str = MANAGED_BY_SCIM) -> StoreListing[StoredGroup]:
    """The groups of one account managed by `managed_by` (SCIM's, unless said), in id order."""
    return StoreListing(partial(store.page, account_id, managed_by=managed_by),
                        partial(store.skip, account_id, managed_by=managed_by),
                        partial(store.count, account_id, managed_by))


def groups_by_name(store: GroupStore, account_id: str) -> StoreListing[StoredGroup]:
    """The SCIM groups of one account in displayName order (case-insensitive), read from the displayName index."""
    return StoreListing(partial(store.page_by_name, account_id), partial(store.skip_by_name, account_id),
                        partial(store.count, account_id))


def _lookups(store: GroupStore, account: Account) -> dict[str, Callable[[str], Any]]:
    return {"displayName": lambda value: store.find_by_display_name(account.id, value),
            "externalId": lambda value: store.find_by_external_id(account.id, value),
            "id": lambda value: store.get(account.id, value)}


def _keeper(store: GroupStore, account: Account, query_filter: Filter, tenant_url: str) -> Callable[[StoredGroup], bool]:
    needs_members = _mentions_members(query_filter)

    def keep(group: StoredGroup) -> bool:
        members = list(store.members(account.id, group.id)) if needs_members else None
        return matches(query_filter, render_group(group, tenant_url, members, account.id))

    return keep


def matching_groups(store: GroupStore, account: Account, query_filter: Filter | None,
                    tenant_url: str) -> Iterator[StoredGroup]:
    """The SCIM groups the filter matches, streamed (the root `.search`): indexed equalities are point reads."""
    keep = _keeper(store, account, query_filter, tenant_url) if query_filter else None
    for group in candidates(query_filter, _lookups(store, account), lambda: store.scan(account.id)):
        if group.managed_by == MANAGED_BY_SCIM and (keep is None or keep(group)):
            yield group


def _mentions_members(node: Filter) -> bool:
    if isinstance(node, And | Or):
        return _mentions_members(node.left) or _mentions_members(node.right)
    if isinstance(node, Not):
        return _mentions_members(node.inner)
    return node.path.attribute.name == "members"


def replace_group(store: GroupStore, account: Account, group_id: str, body: Any, if_match: str | None = None,
                  queue: JobQueue | None = None) -> WriteResult:
    """PUT: displayName, externalId, harnessScopes and the full member set."""
    resource.check_own_id(body, group_id)
    attributes = _attributes(body)
    text = _take_scopes(attributes)
    scopes.parse_harness_scopes(text, account.id)  # a bad entry is refused before anything is read or written
    change = MembershipChange(_members_of(body), set(), replace_all=True)
    return write_group(store, account, group_id, if_match, lambda current: (
        attributes, change, _placements_from_idp(account, current, text, times.now())), queue)


def patch_group(store: GroupStore, account: Account, group_id: str, body: Any, if_match: str | None = None,
                queue: JobQueue | None = None) -> WriteResult:
    operations = parse_operations(body)
    member_ops, attribute_ops = _split(operations)
    change = _net_change(member_ops)

    def compute(current: StoredGroup) -> tuple[dict[str, Any], MembershipChange, tuple[Placement, ...] | None]:
        sent_text = scopes.sent_harness_scopes(account.id, current.placements)
        patched = apply_patch(_with_scopes(current.attributes, sent_text), attribute_ops, GROUP, resource_id=current.id)
        if not isinstance(patched.attributes.get("displayName"), str) or not patched.attributes["displayName"].strip():
            raise InvalidValue("displayName cannot be removed: a group needs a name.")
        attributes = patched.attributes
        text = _take_scopes(attributes)
        placements = None
        if text != sent_text:
            placements = _placements_from_idp(account, current, text, times.now())
        return attributes, change, placements

    return write_group(store, account, group_id, if_match, compute, queue)


def delete_group(store: GroupStore, account: Account, group_id: str, if_match: str | None = None,
                 queue: JobQueue | None = None, read: Callable[[str], StoredGroup] | None = None) -> Settled:
    """Deletes the group (after any earlier recorded work on it); its memberships are purged, its users remain.
    `read` picks which groups the caller may delete (SCIM groups by default)."""
    _, work = _in_turn(store, account, group_id, if_match, read,
                       lambda current: store.delete(account.id, current, times.now()),
                       "The group changed while it was being deleted; read it again.")
    return settle(store.pending, queue, account.id, work, account.notification_email or "")


Compute = Callable[[StoredGroup], tuple[dict[str, Any], MembershipChange, tuple[Placement, ...] | None]]
"""The group's new attributes, its membership change and its new placements (None: unchanged)."""


def _with_scopes(attributes: dict[str, Any], text: str | None) -> dict[str, Any]:
    """The stored attributes with harnessScopes as the IdP last sent it, for PATCH to apply its operations to."""
    seeded = dict(attributes)
    if text is not None:
        seeded[scopes.HARNESS_GROUP_SCHEMA] = {scopes.HARNESS_SCOPES: text}
    return seeded


def write_group(store: GroupStore, account: Account, group_id: str, if_match: str | None, compute: Compute,
                queue: JobQueue | None = None, read: Callable[[str], StoredGroup] | None = None) -> WriteResult:
    """Every change of a group but its deletion goes through here: compute the new state from the group as read,
    write it in turn (`_in_turn`), then settle the work the write recorded. `read` picks which groups the caller
    may write (SCIM groups by default)."""
    computed: list[tuple[MembershipChange, tuple[Placement, ...] | None]] = []
    """What the last attempt wrote: on success, the write conditioned on `current`."""

    def write(group: StoredGroup) -> GroupWrite:
        attributes, change, placements = compute(group)
        computed[:] = [(change, placements)]
        return store.update(account.id, group, attributes, change, times.now(), placements=placements)

    current, written = _in_turn(store, account, group_id, if_match, read, write,
                                "The group changed since the version given in If-Match; read it again.")
    outcome = settle(store.pending, queue, account.id, written.work, account.notification_email or "")
    ignored = sorted(set(written.ignored) | set(outcome.ignored))
    _log_ignored(current.id, ignored)
    change, placements = computed[0]
    return WriteResult(current, Settled(ignored, outcome.queued),
                       placed=placements is not None and placements != current.placements,
                       added=_added(change.adds, ignored), removed=tuple(sorted(change.removes)),
                       scopes=_scopes_of(account, current.placements if placements is None else placements))


Written = TypeVar("Written")


def _in_turn(store: GroupStore, account: Account, group_id: str, if_match: str | None,
             read: Callable[[str], StoredGroup] | None, write: Callable[[StoredGroup], Written],
             changed_detail: str) -> tuple[StoredGroup, Written]:
    """The ordering rule for groups: read the group; if earlier work on it is still recorded, carry that out first
    (a later write never overtakes an acknowledged one); then `write`, which is conditioned on the row read. A
    conflict re-reads after a short pause, or is a 412 under If-Match. Returns the group as read and the write's
    result."""
    read = read or (lambda gid: get_group(store, account, gid))
    for attempt in range(MAX_CONFLICT_RETRIES):
        current = read(group_id)
        if current.pending:
            complete(store.pending, account.id, current.pending)
            continue
        check_if_match(if_match, current)
        try:
            return current, write(current)
        except VersionConflict:
            if if_match:
                raise PreconditionFailed(changed_detail) from None
            _pause(attempt)
    raise ServiceUnavailable("The group is being changed by other requests; retry.", retry_after_seconds=1)


def _pause(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.5, 0.01 * 2 ** attempt)))


def _log_ignored(group_id: str, ignored: list[str]) -> None:
    if ignored:
        log.warning("group %s: ignored %d member id(s) that are not users of this account: %s",
                    group_id, len(ignored), ", ".join(ignored[:20]))


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
    _check_member_count(len(adds) + len(removes))
    return MembershipChange(adds, removes, replace_all)


def _check_member_count(count: int) -> None:
    if count > limits.MAX_MEMBERS_PER_REQUEST:
        raise InvalidValue(f"The request names {count} members; at most {limits.MAX_MEMBERS_PER_REQUEST} are accepted "
                           "(limit: members per request).")


def _ids_in(node: Filter) -> set[str]:
    """`members[value eq "a"]` or `members[value eq "a" or value eq "b"]`."""
    if isinstance(node, Compare) and node.op == "eq" and node.path.attribute.name == "value" and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, Or):
        return _ids_in(node.left) | _ids_in(node.right)
    raise InvalidFilter('Select members to remove with value eq "<id>" (joined with or).')


def render_group(group: StoredGroup, tenant_url: str, members: Iterable[tuple[str, str | None]] | None,
                 account_id: str) -> dict[str, Any]:
    """The representation; `members` omitted (not read) when None, for `excludedAttributes=members`. harnessScopes
    as the IdP sent it, normalised, under our extension (when it sent any)."""
    body: dict[str, Any] = {"schemas": [discovery.GROUP_SCHEMA], "id": group.id, **group.attributes}
    sent = scopes.sent_harness_scopes(account_id, group.placements)
    if sent:
        body["schemas"].append(scopes.HARNESS_GROUP_SCHEMA)
        body[scopes.HARNESS_GROUP_SCHEMA] = {scopes.HARNESS_SCOPES: sent}
    if members is not None:
        body["members"] = list(_member_values(members, tenant_url))
    body["meta"] = {"resourceType": "Group", "created": utc_iso(group.created), "lastModified": utc_iso(group.last_modified),
                    "location": f"{tenant_url}/Groups/{group.id}", "version": group.version}
    return body


def _member_values(members: Iterable[tuple[str, str | None]], tenant_url: str) -> Iterator[dict[str, str]]:
    for user_id, shown in members:
        value = {"value": user_id, "$ref": f"{tenant_url}/Users/{user_id}", "type": "User"}
        if shown:
            value["display"] = shown
        yield value


def complete_pending_work(store: GroupStore, account_id: str) -> int:
    """Finishes every change of the account that was recorded but interrupted (idempotent); returns how many.
    An operator's or a test's entry point; the retry queue and reconcile carry out one piece of work each."""
    done = 0
    for work in store.pending.pending(account_id):
        if complete(store.pending, account_id, work.id) is not None:
            done += 1
    return done
