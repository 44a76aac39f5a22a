"""The SCIM and management handlers on the memory stores: a handler gets a parsed request and its services and
returns a response, so it runs here without the local host, storage or a socket (milliseconds). What the HTTP edge
adds (authentication, limits, rendering, the activity record) is tested over real sockets in the other files here."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from scim_handlers import directory_api, groups, users
from scim_handlers.http_io import ApiRequest, ApiResponse, CaseInsensitiveQuery
from scim_handlers.services import Services
from shared.config import Settings
from shared.domain.accounts import Account
from shared.domain.directory import Caller
from shared.errors import LastAccountAdmin, ManagedByEntra, NotFound, PreconditionFailed
from shared.storage.memory import (
    MemoryAccessStore,
    MemoryFailureLog,
    MemoryGroupStore,
    MemoryPagePositions,
    MemoryQueue,
    MemoryState,
    MemoryUserStore,
)

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ACCOUNT = Account(id="acme", name="Acme", notification_email=None)
TENANT = "https://app.example/api/scim/account/acme"


@pytest.fixture
def services() -> Services:
    state = MemoryState()
    # the stores behind ports; what no handler here touches (tables, tokens, the log, federation) is left out
    return Services(settings=Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}),
                    tables=cast(Any, None), accounts=cast(Any, None),
                    auth=cast(Any, None), users=MemoryUserStore(state), groups=MemoryGroupStore(state),
                    retry_queue=MemoryQueue(), failures=MemoryFailureLog(state), activity=cast(Any, None),
                    access=MemoryAccessStore(state), positions=MemoryPagePositions(), federation=cast(Any, None))


def call(services: Services, handler: Any, method: str, body: Any = None, route: dict[str, str] | None = None,
         query: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> ApiResponse:
    request = ApiRequest(account=ACCOUNT, method=method, tenant_url=TENANT, route={"accountId": ACCOUNT.id, **(route or {})},
                          query=CaseInsensitiveQuery(query or {}), headers={"content-type": "application/scim+json",
                                                                            **(headers or {})},
                          body=json.dumps(body).encode() if body is not None else b"", services=services,
                          invocation_id="test", caller=Caller("current", "entra", "scim.k1"))
    return cast(ApiResponse, handler(request))


def test_a_user_is_created_read_listed_patched_and_deleted(services: Services) -> None:
    created = call(services, users._create, "POST", {"userName": "ann@acme.test", "externalId": "e-1"})
    assert created.status == 201 and created.headers["Location"].endswith(created.body["id"])
    user_id = created.body["id"]
    assert call(services, users._get, "GET", route={"id": user_id}).body["userName"] == "ann@acme.test"
    listed = call(services, users._list, "GET", query={"filter": 'externalId eq "e-1"'})
    assert listed.body["totalResults"] == 1 and listed.body["Resources"][0]["id"] == user_id
    patched = call(services, users._patch, "PATCH", {"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "active", "value": False}]}, route={"id": user_id})
    assert patched.body["active"] is False and patched.note.detail == "deactivated"
    version = patched.headers["ETag"]
    assert call(services, users._get, "GET", route={"id": user_id}, headers={"If-None-Match": version}).status == 304
    with pytest.raises(PreconditionFailed):
        call(services, users._delete, "DELETE", route={"id": user_id}, headers={"If-Match": 'W/"stale"'})
    assert call(services, users._delete, "DELETE", route={"id": user_id}).status == 204
    with pytest.raises(NotFound):
        call(services, users._get, "GET", route={"id": user_id})


def test_a_group_push_with_members_then_patches(services: Services) -> None:
    ann = call(services, users._create, "POST", {"userName": "ann@acme.test"}).body["id"]
    bob = call(services, users._create, "POST", {"userName": "bob@acme.test"}).body["id"]
    created = call(services, groups._create, "POST", {"displayName": "Eng", "members": [{"value": ann}]})
    assert created.status == 201 and created.note.added == (ann,)
    group_id = created.body["id"]
    patched = call(services, groups._patch, "PATCH", {"schemas": [PATCH], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": bob}, {"value": "not-a-user"}]},
        {"op": "remove", "path": f'members[value eq "{ann}"]'}]}, route={"id": group_id})
    assert patched.status == 204 and patched.note.added == (bob,) and patched.note.removed == (ann,)
    assert patched.note.ignored == ("not-a-user",)
    read = call(services, groups._get, "GET", route={"id": group_id})
    assert [m["value"] for m in read.body["members"]] == [bob]
    lean = call(services, groups._get, "GET", route={"id": group_id}, query={"excludedAttributes": "members"})
    assert "members" not in lean.body
    assert call(services, groups._delete, "DELETE", route={"id": group_id}).status == 204


def test_the_management_directory_routes(services: Services) -> None:
    ann = call(services, users._create, "POST", {"userName": "ann@acme.test", "name": {"formatted": "Ann A"}}).body["id"]
    group_id = call(services, groups._create, "POST", {"displayName": "Eng", "members": [{"value": ann}]}).body["id"]
    listed = call(services, directory_api._users, "GET", query={"filter": "ann"})
    assert [u["id"] for u in listed.body["users"]] == [ann] and listed.body["totalResults"] == 1
    group = call(services, directory_api._group_members, "GET", route={"id": group_id})
    assert [m["id"] for m in group.body["members"]] == [ann] and group.body["totalResults"] == 1
    with pytest.raises(ManagedByEntra):  # a SCIM group is managed in the identity provider
        call(services, directory_api._delete_group, "DELETE", route={"id": group_id})
    native = call(services, directory_api._create_group, "POST", {"name": "Local"})
    assert native.status == 201 and native.body["memberCount"] == 0
    assert call(services, directory_api._delete_group, "DELETE", route={"id": native.body["identifier"]}).status == 204


def test_the_last_admin_is_refused_by_the_scim_and_the_management_routes(services: Services) -> None:
    from shared.domain import assignments

    ann = call(services, users._create, "POST", {"userName": "ann@acme.test"}).body["id"]
    assignments.create_assignment(services.access, services.users, services.groups, ACCOUNT, {
        "scope": ACCOUNT.id, "role": "_account_admin", "resourceGroup": "_all_account_level_resources",
        "principal": {"type": "user", "id": ann}})
    with pytest.raises(LastAccountAdmin):
        call(services, users._delete, "DELETE", route={"id": ann})
    with pytest.raises(LastAccountAdmin):
        call(services, users._patch, "PATCH", {"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "active", "value": False}]}, route={"id": ann})
    with pytest.raises(ManagedByEntra):  # and the management API may not delete a provisioned user at all
        call(services, directory_api._delete_user, "DELETE", route={"id": ann})
    assert call(services, users._get, "GET", route={"id": ann}).body["active"] is True
