"""The application's own ("native") side, as the management API's directory routes serve it
(scim_handlers/directory_api.py, through shared/domain/directory.py for writes), with the limitations of the Harness
document enforced as rules:

- SCIM-provisioned groups cannot be managed natively: no adding or removing users, renaming or deleting.
- A user who belongs to any SCIM-provisioned group: email, full name and group assignments cannot be edited natively.
- A user assigned to the application directly (SCIM-provisioned, in no SCIM group) starts with no group assignments
  and can be added to and removed from native groups natively.
- SCIM-provisioned users cannot be deleted natively: they are removed in Entra. So are native users an identity
  provider has adopted (matched and changed them by SCIM, or put them in a SCIM group).
- A SCIM group whose name duplicates a native group's is kept alongside it (distinct identifiers); the native one
  can be renamed, the SCIM one cannot.
Each refusal is a 409 `ManagedByEntra` whose message says where to make the change instead.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.domain import groups as scim_groups
from shared.domain import times
from shared.domain import users as scim_users
from shared.domain.accounts import Account, AccountError, validate_email
from shared.domain.listing import ListQuery, Page, StoreListing, list_resources, paginate
from shared.domain.ports import GroupStore, PagePositions, UserStore
from shared.domain.search import SEARCH_LIMIT
from shared.domain.stored import MANAGED_BY_NATIVE, MANAGED_BY_SCIM, MembershipChange, StoredGroup, StoredUser
from shared.domain.times import utc_iso
from shared.domain.work import JobQueue
from shared.errors import InvalidValue, ManagedByEntra, NotFound

GROUP_LOCKED = ("Group {name!r} is managed by Microsoft Entra ID provisioning: its members, name and existence are "
                "changed in Entra (Enterprise applications > this application > Users and groups), not here.")
USER_LOCKED = ("User {email!r} belongs to a group provisioned by Microsoft Entra ID: their email, full name and group "
               "assignments are changed in Entra, not here.")
USER_STATUS_LOCKED = ("User {email!r} is managed by an identity provider: disable or enable them there (Entra: "
                      "block sign-in or unassign; the provisioning service then deactivates them here).")
USER_DELETE_LOCKED = ("User {email!r} is provisioned by Microsoft Entra ID (or adopted by it): remove them from this "
                      "application in Entra (unassign them, or remove them from the assigned group) to delete them.")


def full_name(user: StoredUser) -> str:
    attributes = user.attributes
    if isinstance(attributes.get("displayName"), str):
        return str(attributes["displayName"])
    name = attributes.get("name") or {}
    if isinstance(name.get("formatted"), str):
        return str(name["formatted"])
    return " ".join(p for p in (name.get("givenName"), name.get("familyName")) if isinstance(p, str))


def user_view(user: StoredUser) -> dict[str, Any]:
    """The user as the console shows it: `email` is the Harness login (the userName); `primaryEmail` the email the
    identity provider sent (the primary one, else the first), which may differ."""
    changed = user.changed_by
    return {
        "id": user.id, "email": user.user_name, "fullName": full_name(user), "userName": user.user_name,
        "primaryEmail": primary_email(user), "externalId": user.attributes.get("externalId"),
        "status": "active" if user.attributes.get("active", True) is not False else "disabled",
        "source": user.source, "integrations": sorted(user.integrations), "adopted": _adoption(user),
        "created": utc_iso(user.created), "lastModified": utc_iso(user.last_modified),
        "lastChangedBy": {"keyId": changed.key_id, "idp": changed.idp} if changed else None,
        "groups": [{"identifier": g.id, "name": g.display, "managedBy": g.managed_by} for g in user.groups],
    }


def member_view(user: StoredUser) -> dict[str, Any]:
    """A group member in a page of members: enough to recognise and open them."""
    return {"id": user.id, "email": user.user_name, "fullName": full_name(user),
            "status": "active" if user.attributes.get("active", True) is not False else "disabled"}


def primary_email(user: StoredUser) -> str | None:
    emails = [e for e in user.attributes.get("emails") or [] if isinstance(e, dict) and isinstance(e.get("value"), str)]
    chosen = next((e for e in emails if e.get("primary") is True), emails[0] if emails else None)
    return str(chosen["value"]) if chosen else None


def _adoption(user: StoredUser) -> dict[str, Any] | None:
    """How a native user came to be managed by an identity provider: SCIM changed it, or put it in a SCIM group."""
    if user.source == MANAGED_BY_SCIM:
        return None
    if user.adopted is not None:
        return {"by": user.adopted.idp, "integration": user.adopted.integration,
                "at": utc_iso(user.adopted.at)}
    return {"by": "scim group membership"} if _in_scim_group(user) else None


def managed_by_idp(user: StoredUser) -> bool:
    """Provisioned by SCIM, or a native user an identity provider has adopted: deleted only in the IdP."""
    return user.source == MANAGED_BY_SCIM or user.adopted is not None or _in_scim_group(user)


def group_view(group: StoredGroup, member_count: int | None = None) -> dict[str, Any]:
    """The group without its members (a page of them: `group_members`), with how many it has when counted."""
    view: dict[str, Any] = {"identifier": group.id, "name": group.display_name, "managedBy": group.managed_by,
                            "externalId": group.attributes.get("externalId"), "created": utc_iso(group.created),
                            "lastModified": utc_iso(group.last_modified)}
    if member_count is not None:
        view["memberCount"] = member_count
    return view


def _in_scim_group(user: StoredUser) -> bool:
    return any(g.managed_by == MANAGED_BY_SCIM for g in user.groups)


def _text(body: Any, name: str, required: bool) -> str | None:
    if not isinstance(body, dict):
        raise InvalidValue("The request body must be a JSON object.")
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{name} must be a non-empty string.")
    return value.strip()


def _email(value: str) -> str:
    try:
        return validate_email(value)
    except AccountError as exc:
        raise InvalidValue(str(exc)) from None


def create_user(users: UserStore, account: Account, body: Any) -> StoredUser:
    email = _email(str(_text(body, "email", True)))
    name = _text(body, "fullName", False)
    attributes: dict[str, Any] = {"userName": email, "emails": [{"value": email, "type": "work", "primary": True}],
                                  "active": True}
    if name:
        attributes["displayName"] = name
    return users.create(account.id, str(uuid.uuid4()), attributes, times.now(), MANAGED_BY_NATIVE)


def edit_user(users: UserStore, account: Account, user_id: str, body: Any,
              guard: scim_users.RemovalGuard | None = None) -> StoredUser:
    """Email and full name (not for a user in a SCIM group); `active` (only for a user no identity provider manages:
    the others are disabled and enabled there)."""
    email = _text(body, "email", False)
    name = _text(body, "fullName", False)
    active = body.get("active") if isinstance(body, dict) else None
    if active is not None and not isinstance(active, bool):
        raise InvalidValue(f"active must be true or false; got {active!r}.")
    if email is None and name is None and active is None:
        raise InvalidValue("Send email, fullName and/or active.")
    current = users.get(account.id, user_id)
    if active is not None and managed_by_idp(current):
        raise ManagedByEntra(USER_STATUS_LOCKED.format(email=current.user_name))
    if (email is not None or name is not None) and _in_scim_group(current):
        raise ManagedByEntra(USER_LOCKED.format(email=current.user_name))
    attributes = dict(current.attributes)
    if active is not None:
        attributes["active"] = active
    if email is not None:
        attributes["userName"] = _email(email)
        attributes["emails"] = [{"value": email, "type": "work", "primary": True}]
    if name is not None:
        attributes["displayName"] = name
    if guard is not None:
        guard(current, attributes)
    return users.update(account.id, current, attributes, times.now())


def delete_user(users: UserStore, account: Account, user_id: str, queue: JobQueue | None = None,
                guard: scim_users.RemovalGuard | None = None) -> None:
    current = users.get(account.id, user_id)
    if managed_by_idp(current):
        raise ManagedByEntra(USER_DELETE_LOCKED.format(email=current.user_name))
    scim_users.delete_user(users, account, user_id, queue=queue, guard=guard)


def create_group(groups: GroupStore, account: Account, body: Any) -> StoredGroup:
    name = str(_text(body, "name", True))
    group, _ = groups.create(account.id, {"displayName": name}, times.now(), managed_by=MANAGED_BY_NATIVE)
    return group


def native_group(groups: GroupStore, account: Account, group_id: str) -> StoredGroup:
    """The group, if the application may change it; ManagedByEntra for a SCIM-provisioned one."""
    group = groups.get(account.id, group_id)
    if group.managed_by == MANAGED_BY_SCIM:
        raise ManagedByEntra(GROUP_LOCKED.format(name=group.display_name))
    return group


def rename_group(groups: GroupStore, account: Account, group_id: str, body: Any, queue: JobQueue | None = None) -> StoredGroup:
    name = str(_text(body, "name", True))
    scim_groups.write_group(groups, account, group_id, None,
                            lambda group: ({**group.attributes, "displayName": name}, MembershipChange({}, set()), None),
                            queue, read=lambda gid: native_group(groups, account, gid))
    return groups.get(account.id, group_id)


def delete_group(groups: GroupStore, account: Account, group_id: str, queue: JobQueue | None = None) -> None:
    scim_groups.delete_group(groups, account, group_id, queue=queue, read=lambda gid: native_group(groups, account, gid))


def change_membership(groups: GroupStore, users: UserStore, account: Account, group_id: str, user_id: str,
                      add: bool, queue: JobQueue | None = None) -> None:
    native_group(groups, account, group_id)
    user = users.get(account.id, user_id)
    if _in_scim_group(user):
        raise ManagedByEntra(USER_LOCKED.format(email=user.user_name))
    change = MembershipChange({user_id: None}, set()) if add else MembershipChange({}, {user_id})
    result = scim_groups.write_group(groups, account, group_id, None, lambda group: (group.attributes, change, None), queue,
                                     read=lambda gid: native_group(groups, account, gid))
    if result.outcome.ignored:
        raise NotFound(f"No user with id {user_id!r}.")


def member_count(groups: GroupStore, account: Account, group: StoredGroup) -> int:
    """How many members: the group's count (one range read of its tally rows), never its members."""
    return groups.member_counts(account.id, [group])[group.id]


def group_members(groups: GroupStore, users: UserStore, account: Account, group_id: str, search: str | None,
                  start_index: int, count: int, positions: PagePositions) -> Page:
    """A page of a group's members (StoredUser, by id), or of those found by `search` as the users list finds them.
    A page costs a page, like the users list (shared/domain/listing.py): the group's count, the page's member keys
    from where `startIndex` starts (remembered from the previous page of the walk), the page's users in one
    parallel wave. A search reads the search index rows it matches (at most 10,000) and checks which are members
    (point reads for a few, else one key range of the group between the lowest and highest match). NotFound for an
    unknown group."""
    group = groups.get(account.id, group_id)
    needle = (search or "").strip()
    if needle:
        found = users.search(account.id, needle, SEARCH_LIMIT)
        members = groups.members_among(account.id, group.id, found)
        matches = [user_id for user_id in found if user_id in members]
        window = matches[start_index - 1:start_index - 1 + count]
        return Page(len(matches), start_index, users.get_many(account.id, window))

    def page(start: str | None, limit: int) -> tuple[list[StoredUser], str | None]:
        ids, following = groups.member_page(account.id, group.id, start, limit)
        return users.get_many(account.id, ids), following

    listing = StoreListing(page, lambda start, offset: groups.member_skip(account.id, group.id, start, offset),
                           lambda: member_count(groups, account, group))
    return list_resources(listing, positions, account.id, f"Manage.Members.{group.id}.{group.tally or ''}",
                          ListQuery(None, start_index, count, [], []), None)


USER_SOURCES = ("scim", "native", "adopted")
GROUP_SOURCES = (MANAGED_BY_SCIM, MANAGED_BY_NATIVE)


def user_source(user: StoredUser) -> str:
    """`scim` (provisioned), `adopted` (native, taken over by an identity provider) or `native`."""
    if user.source == MANAGED_BY_SCIM:
        return "scim"
    return "adopted" if managed_by_idp(user) else "native"


def list_users(users: UserStore, account: Account, search: str | None, source: str | None, start_index: int,
               count: int, positions: PagePositions, cursor: str | None = None) -> Page:
    """A page of users whose userName, an email, the full name or a word of it, or the externalId starts with
    `search` (any case, any accent: shared/domain/search.py), and whose source is `source`. Without either, a page
    costs a page (shared/domain/listing.py); a search reads the search index rows (at most 10,000: the total is then a
    lower bound) and the page's users in one parallel wave; a source alone still streams the users."""
    if source is not None and source not in USER_SOURCES:
        raise InvalidValue(f"source must be one of {', '.join(USER_SOURCES)}; got {source!r}.")
    needle = (search or "").strip()
    _check_cursor(cursor, needle, source)
    if needle:
        found = users.search(account.id, needle, SEARCH_LIMIT)
        if source is None:
            return Page(len(found), start_index, users.get_many(account.id, found[start_index - 1:start_index - 1 + count]))
        candidates = users.get_many(account.id, found[:SOURCE_AND_SEARCH_LIMIT])
        return paginate(iter(candidates), lambda user: user_source(user) == source, start_index, count)
    if source is None:
        return list_resources(scim_users.account_users(users, account.id), positions, account.id, "Manage.Users",
                              ListQuery(None, start_index, count, [], [], cursor=cursor), None)
    return paginate(users.scan(account.id), lambda user: user_source(user) == source, start_index, count)


def _check_cursor(cursor: str | None, search: str, source: str | None) -> None:
    """Cursor paging (RFC 9865, as on the SCIM lists) pages the whole list: not a search, not a users' source."""
    if cursor is not None and (search or source is not None):
        raise InvalidValue("cursor paging lists every user or every group of a source; a search pages by startIndex.")


SOURCE_AND_SEARCH_LIMIT = 1_000
"""Users read at most to answer a search narrowed by source (the source is not indexed)."""


def list_groups(groups: GroupStore, account: Account, search: str | None, source: str | None, start_index: int,
                count: int, positions: PagePositions, cursor: str | None = None) -> tuple[Page, list[dict[str, Any]]]:
    """A page of groups (whose name, a word of it or externalId starts with `search`, any case and accent; managed
    by `source`) with their member counts: the groups' page (from the search index rows, or a page's cost by
    source; both kinds together still stream the groups) and one range read of the page's member rows."""
    if source is not None and source not in GROUP_SOURCES:
        raise InvalidValue(f"source must be one of {', '.join(GROUP_SOURCES)}; got {source!r}.")
    needle = (search or "").strip()
    if cursor is not None and source is None:
        raise InvalidValue("cursor paging of groups needs a source (scim or native): each kind is its own list.")
    _check_cursor(cursor, needle, None)
    if needle:
        found = groups.search(account.id, needle, SEARCH_LIMIT)
        if source is None:
            page = Page(len(found), start_index, groups.get_many(account.id, found[start_index - 1:start_index - 1 + count]))
        else:
            page = paginate(iter(groups.get_many(account.id, found[:SOURCE_AND_SEARCH_LIMIT])),
                            lambda g: g.managed_by == source, start_index, count)
    elif source is not None:
        page = list_resources(scim_groups.account_groups(groups, account.id, source), positions, account.id,
                              f"Manage.Groups.{source}", ListQuery(None, start_index, count, [], [], cursor=cursor), None)
    else:
        page = paginate(groups.scan(account.id), lambda _: True, start_index, count)
    counts = groups.member_counts(account.id, page.items)
    return page, [group_view(group, counts[group.id]) for group in page.items]


def sso_check(users: UserStore, account: Account, integrations: set[str], email: str) -> dict[str, Any]:
    """Which app integration authenticates a user signing in by SSO, and whether it succeeds. The Harness rule: while
    a legacy (FirstGen) integration exists it is the one used, even for users provisioned by the current one."""
    used = "legacy" if "legacy" in integrations else "current"
    user = users.find_by_user_name(account.id, email)
    answer: dict[str, Any] = {"email": email, "integration": used, "integrationsConfigured": sorted(integrations)}
    if not integrations:
        return {**answer, "loginSucceeds": False, "reason": "No app integration has a usable provisioning token.",
                "fix": "Create one: python manage.py tokens create ACCOUNT_ID --integration current"}
    if user is None:
        return {**answer, "loginSucceeds": False, "reason": f"{email} is not provisioned to this account.",
                "fix": f"Assign {email} to the {used} app integration in Entra and let it provision them."}
    if user.attributes.get("active", True) is False:
        return {**answer, "loginSucceeds": False, "reason": f"{email} is disabled (deactivated in Entra).",
                "fix": "Re-enable the user in Entra, or re-assign them to the application."}
    if used not in user.integrations:
        other = ", ".join(sorted(user.integrations)) or "no integration"
        return {**answer, "loginSucceeds": False,
                "reason": f"{email} is not a member of the {used} app integration, which authenticates every SSO "
                          f"login while it exists (they were provisioned by: {other}).",
                "fix": f"Add {email} to the {used} app integration in Entra"
                       + (" (the FirstGen integration), or remove that integration." if used == "legacy" else ".")}
    return {**answer, "loginSucceeds": True, "reason": f"{email} is an active member of the {used} app integration."}
