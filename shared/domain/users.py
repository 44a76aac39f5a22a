"""User use cases: create, read, list/filter, replace, patch, delete, against a UserStore.

Writes are optimistic: read, compute, write conditioned on the ETag read; on a conflict the whole step is redone
with fresh data (unless the client pinned a version with If-Match, which then fails with 412). No in-process lock
is involved, so several instances can serve one account.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from shared.domain import discovery, etags, limits, resource, times
from shared.domain.accounts import UPDATE_EMAILS_VIA_SCIM, Account
from shared.domain.filters import AttrPath, Filter, matches
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
from shared.domain.patch import apply_patch, parse_operations
from shared.domain.ports import PagePositions, UserStore
from shared.domain.schema import USER
from shared.domain.stored import Adoption, ChangedBy, StoredUser, VersionConflict
from shared.domain.times import utc_iso
from shared.domain.work import JobQueue, Settled, settle
from shared.errors import InvalidValue, PreconditionFailed, ServiceUnavailable

log = logging.getLogger("scim.users")

MAX_CONFLICT_RETRIES = 8
EMAIL_IDENTITY = ("userName", "emails")
"""What UPDATE_EMAILS_VIA_SCIM guards: Harness keys a user by its email, taken from userName (reference §4.7)."""


def version_tag(version: int) -> str:
    return f'W/"{version}"'


def check_if_match(if_match: str | None, stored: StoredUser) -> None:
    etags.check_if_match(if_match, version_tag(stored.version))


def _validated(attributes: dict[str, Any]) -> dict[str, Any]:
    user_name = attributes.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise InvalidValue("userName is required: send the user's unique sign-in name (for Entra, its userPrincipalName).")
    limits.check_multi_valued(attributes)
    return attributes


def create_user(store: UserStore, account: Account, body: Any, integration: str = "current", idp: str = "entra",
                key_id: str = "") -> StoredUser:
    """A user created without `active` is active (OneLogin's template sends none; Okta requires it back)."""
    attributes = _validated(resource.normalize(body, USER))
    attributes.setdefault("active", True)
    return store.create(account.id, str(uuid.uuid4()), attributes, times.now(), "scim", frozenset({integration}),
                        ChangedBy(key_id, idp) if key_id else None)


def get_user(store: UserStore, account: Account, user_id: str) -> StoredUser:
    return store.get(account.id, user_id)


def list_users(store: UserStore, account: Account, query: ListQuery, tenant_url: str, positions: PagePositions) -> Page:
    """Entra's `userName eq`, `externalId eq` and `id eq` are point reads; everything else pages through the users
    in id order (shared/domain/listing.py: a page costs a page)."""
    query_filter = query.filter
    def render(user: StoredUser) -> dict[str, Any]:
        return render_user(user, tenant_url)

    keep = (lambda user: matches(query_filter, render(user))) if query_filter else None
    found = indexed_candidates(query_filter, _lookups(store, account))
    if found is not None:
        return indexed_page(found, keep or (lambda _: True), query, render)
    if query.sort is not None and not query.sort.is_on("userName"):
        return sorted_in_memory(account_users(store, account.id), positions, account.id, "User", query, keep, render)
    listing = users_by_name(store, account.id) if query.sort else account_users(store, account.id)
    return list_resources(listing, positions, account.id, "User", query, keep)


def account_users(store: UserStore, account_id: str) -> StoreListing[StoredUser]:
    """The users of one account, in id order."""
    return StoreListing(partial(store.page, account_id), partial(store.skip, account_id), partial(store.count, account_id))


def users_by_name(store: UserStore, account_id: str) -> StoreListing[StoredUser]:
    """The users of one account in userName order (case-insensitive), read from the userName index."""
    return StoreListing(partial(store.page_by_name, account_id), partial(store.skip_by_name, account_id),
                        partial(store.count, account_id))


def _lookups(store: UserStore, account: Account) -> dict[str, Callable[[str], Any]]:
    return {"userName": lambda value: store.find_by_user_name(account.id, value),
            "externalId": lambda value: store.find_by_external_id(account.id, value),
            "id": lambda value: store.get(account.id, value)}


def matching_users(store: UserStore, account: Account, query_filter: Filter | None, tenant_url: str) -> Iterator[StoredUser]:
    """Entra's `userName eq`, `externalId eq` and `id eq` are answered by point reads; any other filter streams the
    account's users (the caller keeps only the requested page)."""
    for user in candidates(query_filter, _lookups(store, account), lambda: store.scan(account.id)):
        if query_filter is None or matches(query_filter, render_user(user, tenant_url)):
            yield user


RemovalGuard = Callable[[StoredUser, dict[str, Any] | None], None]
"""Called before a user write with the user as read and its new attributes (None for a delete); raises to refuse
(the last account admin cannot be removed: shared/domain/assignments.py)."""


def replace_user(store: UserStore, account: Account, user_id: str, body: Any, if_match: str | None = None,
                 integration: str = "current", idp: str = "entra", guard: RemovalGuard | None = None,
                 key_id: str = "") -> StoredUser:
    """PUT: the body replaces every writable attribute; id and server-owned attributes are kept, and so is `active`
    when the body leaves it out (our PUT rule: a full-update template without it neither activates nor
    deactivates anyone)."""
    resource.check_own_id(body, user_id)
    replacement = _validated(resource.normalize(body, USER))

    def compute(current: StoredUser) -> dict[str, Any]:
        attributes = dict(replacement)
        if "active" not in attributes and "active" in current.attributes:
            attributes["active"] = current.attributes["active"]
        if not account.has(UPDATE_EMAILS_VIA_SCIM):
            for name in EMAIL_IDENTITY:
                _keep_stored(attributes, current.attributes, name, current.id)
        return attributes

    return _write(store, account, user_id, if_match, compute, integration, idp, guard, key_id)


def patch_user(store: UserStore, account: Account, user_id: str, body: Any, if_match: str | None = None,
               integration: str = "current", idp: str = "entra", guard: RemovalGuard | None = None,
               key_id: str = "") -> StoredUser:
    operations = parse_operations(body)
    protected = _email_guard(account)

    def compute(current: StoredUser) -> dict[str, Any]:
        patched = apply_patch(current.attributes, operations, USER, protected, resource_id=current.id)
        if patched.skipped:
            log.info("user %s: PATCH skipped %s (UPDATE_EMAILS_VIA_SCIM off or attribute not kept)",
                     current.id, ", ".join(patched.skipped))
        return _validated(patched.attributes)

    return _write(store, account, user_id, if_match, compute, integration, idp, guard, key_id)


def delete_user(store: UserStore, account: Account, user_id: str, if_match: str | None = None,
                queue: JobQueue | None = None, guard: RemovalGuard | None = None) -> Settled:
    """Deletes the user with its index rows and memberships; a user in very many groups leaves the purge of its
    memberships recorded, settled like any recorded work (shared/domain/work.py)."""
    for _ in range(MAX_CONFLICT_RETRIES):
        current = store.get(account.id, user_id)
        check_if_match(if_match, current)
        if guard is not None:
            guard(current, None)
        try:
            recorded = store.delete(account.id, current, times.now())
            return settle(store.pending, queue, account.id, recorded, account.notification_email or "")
        except VersionConflict:
            if if_match:
                raise PreconditionFailed("The user changed while it was being deleted; read it again.") from None
    raise ServiceUnavailable("The user is being changed by other requests; retry.", retry_after_seconds=1)


def _write(store: UserStore, account: Account, user_id: str, if_match: str | None,
           compute: Callable[[StoredUser], dict[str, Any]], integration: str, idp: str,
           guard: RemovalGuard | None = None, key_id: str = "") -> StoredUser:
    """Read, compute new attributes, write if changed, conditioned on the ETag read; redo on conflict. The app
    integration whose token made the request is recorded on the user (for the SSO precedence check), and with it
    the token's key id and identity provider (what the console shows as the last change's source); a native
    user's first SCIM write records its adoption by that identity provider."""
    for _ in range(MAX_CONFLICT_RETRIES):
        current = store.get(account.id, user_id)
        check_if_match(if_match, current)
        attributes = compute(current)
        integrations = current.integrations | {integration}
        if attributes == current.attributes and integrations == current.integrations:
            return current  # nothing changed: meta.version and lastModified stay as they are
        if guard is not None:
            guard(current, attributes)
        now = times.now()
        adopted = Adoption(idp, integration, now) if current.source != "scim" and current.adopted is None else None
        try:
            return store.update(account.id, current, attributes, now, integrations, adopted,
                                ChangedBy(key_id, idp) if key_id else None)
        except VersionConflict:
            if if_match:
                raise PreconditionFailed("The user changed since the version given in If-Match; read it again.") from None
    raise ServiceUnavailable("The user is being changed by other requests; retry.", retry_after_seconds=1)


def _email_guard(account: Account) -> Callable[[AttrPath], bool]:
    if account.has(UPDATE_EMAILS_VIA_SCIM):
        return lambda path: False
    return lambda path: path.extension is None and path.attribute.name in EMAIL_IDENTITY


def _keep_stored(attributes: dict[str, Any], stored: dict[str, Any], name: str, user_id: str) -> None:
    if attributes.get(name) != stored.get(name):
        log.info("user %s: PUT leaves %s unchanged (UPDATE_EMAILS_VIA_SCIM off)", user_id, name)
    if name in stored:
        attributes[name] = stored[name]
    else:
        attributes.pop(name, None)


def render_user(user: StoredUser, tenant_url: str) -> dict[str, Any]:
    """The full representation (RFC 7643 §4.1 + enterprise extension), with read-only groups and meta."""
    schemas = [discovery.USER_SCHEMA]
    if discovery.ENTERPRISE_USER_SCHEMA in user.attributes:
        schemas.append(discovery.ENTERPRISE_USER_SCHEMA)
    location = f"{tenant_url}/Users/{user.id}"
    body: dict[str, Any] = {"schemas": schemas, "id": user.id, **user.attributes}
    manager = body.get(discovery.ENTERPRISE_USER_SCHEMA, {}).get("manager")
    if manager and "$ref" not in manager:
        body[discovery.ENTERPRISE_USER_SCHEMA] = {
            **body[discovery.ENTERPRISE_USER_SCHEMA], "manager": {**manager, "$ref": f"{tenant_url}/Users/{manager['value']}"}}
    provisioned = [g for g in user.groups if g.managed_by == "scim"]  # the application's own groups are not Entra's
    if provisioned:  # RFC 7643 §2.5: an empty multi-valued attribute is omitted
        body["groups"] = [{"value": g.id, "$ref": f"{tenant_url}/Groups/{g.id}", "display": g.display, "type": "direct"}
                          for g in provisioned]
    body["meta"] = {"resourceType": "User", "created": utc_iso(user.created), "lastModified": utc_iso(user.last_modified),
                    "location": location, "version": version_tag(user.version)}
    return body

