"""The console's search over the management API (local host, Azurite): by the start of a userName, an email, the
full name or a word of it, or an externalId, any case and any accent, answered from index rows that every write
keeps right and the reconcile pass restores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from scim_handlers.services import Services
from shared.domain.reconcile import run_reconcile
from shared.storage.keys import rows_with_prefix
from shared.storage.tables import RESOURCES
from tests.support.scim import AdminClient, ScimClient

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def found(admin: AdminClient, text: str, path: str = "/users", key: str = "users") -> list[str]:
    response = admin.request("GET", path, params={"filter": text})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["totalResults"] == len(body[key])
    return sorted(item.get("id") or item["identifier"] for item in body[key])


def test_users_are_found_by_the_start_of_each_term_in_any_case_and_accent(scim: ScimClient, admin: AdminClient) -> None:
    jose = scim.post("/Users", {"schemas": [USER], "userName": "jn@contoso.test", "externalId": "EMP-0042",
                                "name": {"givenName": "José", "familyName": "Ñúñez"},
                                "emails": [{"value": "Jose.Nunez@Work.example", "type": "work"}]}).json()["id"]
    other = scim.post("/Users", {"schemas": [USER], "userName": "strasse@contoso.test",
                                 "displayName": "Anna Straße"}).json()["id"]
    for text in ("jn@", "JN@CONTOSO", "jose", "JOSÉ", "ñúñez", "nunez", "jose ñ", "jose.nunez@work", "EMP-00", "emp-0042"):
        assert found(admin, text) == [jose], text
    assert found(admin, "strasse") == sorted([other])  # userName and "Straße" folded alike
    assert found(admin, "anna str") == [other]
    for text in ("ose", "unez", "contoso.test", "x"):  # the start of a term or word, not its middle
        assert found(admin, text) == [], text


def test_renames_move_the_index_rows_and_deletes_remove_them(scim: ScimClient, admin: AdminClient) -> None:
    user = scim.post("/Users", {"schemas": [USER], "userName": "ren@contoso.test", "displayName": "Old Name"}).json()
    assert found(admin, "old") == [user["id"]]
    patched = scim.patch(f"/Users/{user['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Brand New"}]})
    assert patched.status_code == 200
    assert found(admin, "old") == [] and found(admin, "brand") == [user["id"]] and found(admin, "new") == [user["id"]]
    group = scim.post("/Groups", {"displayName": "Night Shift"}).json()
    assert found(admin, "shift", "/groups", "groups") == [group["id"]]
    scim.patch(f"/Groups/{group['id']}", {"schemas": [PATCH], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Day Shift"}]})
    assert found(admin, "night", "/groups", "groups") == [] and found(admin, "day", "/groups", "groups") == [group["id"]]
    assert scim.delete(f"/Users/{user['id']}").status_code == 204
    assert found(admin, "brand") == []


def test_a_members_search_is_bounded_by_the_group_and_the_index(scim: ScimClient, admin: AdminClient) -> None:
    ids = [scim.post("/Users", {"schemas": [USER], "userName": f"crew{n}@contoso.test"}).json()["id"] for n in range(4)]
    scim.post("/Users", {"schemas": [USER], "userName": "crew9@contoso.test"})  # not in the group
    group = scim.post("/Groups", {"displayName": "Crew", "members": [{"value": i} for i in ids]}).json()["id"]
    assert found(admin, "crew", f"/groups/{group}/members", "members") == sorted(ids)
    assert found(admin, "CREW2", f"/groups/{group}/members", "members") == [ids[2]]


def test_the_reconcile_pass_restores_a_lost_search_row(installed_services: Services) -> None:
    """An account written before the search index existed has no search rows: the reconcile pass adds them, as it
    adds any index row a resource lacks."""
    from shared.domain import users
    from shared.domain.accounts import Account

    svc = installed_services
    account = Account(id="search-reconcile", name="Search", notification_email=None, created=datetime.now(UTC))
    svc.accounts.create(account)
    user = users.create_user(svc.users, account, {"userName": "lost@contoso.test", "displayName": "Lost Row"})
    table = svc.tables.get(RESOURCES)
    for row in list(rows_with_prefix(table, account.id, "us:")):
        table.delete_entity(account.id, row["RowKey"])
    assert svc.users.search(account.id, "lost", 100) == []
    summary = run_reconcile(svc.reconcile_context(), datetime.now(UTC), only_account=account.id)
    assert summary.repaired["resource without its index row"] >= 3  # userName, displayName, and its words
    assert svc.users.search(account.id, "lost", 100) == [user.id] == svc.users.search(account.id, "row", 100)
