"""Storage round trips of an effective-access query, counted by the hook on the Table client (deterministic): the
figure in README and docs/architecture.md. A user in 50 groups, one of them placed at 20 projects with a role in
each: five reads, whatever those numbers."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.config import Settings
from shared.domain import access, assignments, groups, scope_admin, scopes, users
from shared.domain.accounts import Account
from shared.storage.access_table import TableAccessStore
from shared.storage.clients import table_service
from shared.storage.groups_table import TableGroupStore
from shared.storage.roundtrips import counting
from shared.storage.tables import ACCESS, RESOURCES, Tables
from shared.storage.users_table import TableUserStore
from tests.support.azurite import Azurite


def test_an_access_query_is_five_round_trips_whatever_the_groups_and_placements(azurite: Azurite,
                                                                                 table_prefix: str) -> None:
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    tables = Tables(table_service(settings), table_prefix)
    tables.get(RESOURCES), tables.get(ACCESS)  # created once per process, outside the counted operations
    user_store, group_store, access_store = TableUserStore(tables), TableGroupStore(tables), TableAccessStore(tables)
    account = Account(id="rt-access", name="Round trips", notification_email=None, created=datetime.now(UTC))
    scope_admin.create_org(access_store, account, {"identifier": "big"})
    projects = [f"p{n}" for n in range(20)]
    for project in projects:
        scope_admin.create_project(access_store, account, "big", {"identifier": project})
    pat = users.create_user(user_store, account, {"userName": "pat@example.com"})
    spread = groups.create_group(group_store, account, {
        "displayName": "Spread", "members": [{"value": pat.id}],
        scopes.HARNESS_SCOPES: ",".join(f"{account.id}:big:{p}" for p in projects)}).group
    for project in projects:
        assignments.create_assignment(access_store, user_store, group_store, account, {
            "scope": f"{account.id}:big:{project}", "role": "_project_viewer",
            "resourceGroup": "_all_project_level_resources", "principal": {"type": "group", "id": spread.id}})
    for n in range(49):
        groups.create_group(group_store, account, {"displayName": f"Team {n}", "members": [{"value": pat.id}]})

    with counting() as trips:
        answer = access.user_access(access_store, user_store, group_store, account, pat.id)
    assert len(answer["assignments"]) == 20 and len(answer["scopes"]) == 22
    assert trips.count == 5
    with counting() as trips:
        access.user_access(access_store, user_store, group_store, account, pat.id, f"{account.id}:big:p7")
    assert trips.count == 5
