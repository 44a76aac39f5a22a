"""`python manage.py ...` against Azurite, as an operator runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.support.azurite import ROOT, Azurite


@pytest.fixture
def manage(azurite: Azurite, table_prefix: str):  # type: ignore[no-untyped-def]
    env = {**os.environ, "AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
    return run


def test_account_lifecycle(manage) -> None:  # type: ignore[no-untyped-def]
    account = "cli-" + uuid.uuid4().hex[:6]
    created = manage("accounts", "create", account, "--name", "Contoso", "--notification-email", "ops@contoso.com",
                     "--feature", "UPDATE_EMAILS_VIA_SCIM")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["features"] == ["UPDATE_EMAILS_VIA_SCIM"]
    updated = manage("accounts", "update", account, "--notification-email", "it@contoso.com",
                     "--disable-feature", "UPDATE_EMAILS_VIA_SCIM")
    assert updated.returncode == 0, updated.stderr
    shown = json.loads(manage("accounts", "show", account).stdout)
    assert shown["notificationEmail"] == "it@contoso.com" and shown["features"] == [] and shown["name"] == "Contoso"
    assert account in manage("accounts", "list").stdout


def test_token_lifecycle(manage) -> None:  # type: ignore[no-untyped-def]
    account = "cli-" + uuid.uuid4().hex[:6]
    assert manage("accounts", "create", account).returncode == 0
    created = manage("tokens", "create", account, "--scope", "admin", "--expires-in-days", "30")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    key_id = token.split(".")[1]
    assert token.startswith("scim.")
    listed = manage("tokens", "list", account).stdout
    assert key_id in listed and "admin" in listed and "active" in listed and token not in listed
    assert manage("tokens", "revoke", account, key_id).returncode == 0
    assert "revoked" in manage("tokens", "list", account).stdout


def test_a_token_says_which_identity_provider_it_is_for(manage) -> None:  # type: ignore[no-untyped-def]
    account = "cli-" + uuid.uuid4().hex[:6]
    assert manage("accounts", "create", account).returncode == 0
    okta = manage("tokens", "create", account, "--idp", "okta")
    assert okta.returncode == 0 and "identity provider okta" in okta.stdout, okta.stderr
    entra = manage("tokens", "create", account)  # the default
    assert "identity provider entra" in entra.stdout
    rows = {line.split("\t")[0]: line.split("\t")[3] for line in manage("tokens", "list", account).stdout.splitlines()}
    assert sorted(rows.values()) == ["entra", "okta"]
    assert manage("tokens", "create", account, "--idp", "ping").returncode != 0


def test_oauth_client_lifecycle(manage) -> None:  # type: ignore[no-untyped-def]
    account = "cli-" + uuid.uuid4().hex[:6]
    assert manage("accounts", "create", account).returncode == 0
    created = manage("oauth-clients", "create", account, "--idp", "okta", "--token-minutes", "120")
    assert created.returncode == 0, created.stderr
    client_id = created.stdout.split("client id ")[1].split(",")[0]
    secret = created.stdout.strip().splitlines()[-1]
    first_secret = created.stdout.split("secret id ")[1].split(",")[0]
    added = manage("oauth-clients", "secrets", "add", account, client_id, "--years", "1")
    assert added.returncode == 0, added.stderr
    listed = manage("oauth-clients", "list", account).stdout
    assert client_id in listed and "okta" in listed and "120 min" in listed and listed.count("active") == 3
    assert secret not in listed and added.stdout.strip().splitlines()[-1] not in listed  # shown once, never listed
    assert manage("oauth-clients", "secrets", "revoke", account, client_id, first_secret).returncode == 0
    assert "revoked or expired" in manage("oauth-clients", "list", account).stdout
    federated = manage("oauth-clients", "create", account, "--federated", "--issuer",
                       "https://login.microsoftonline.com/t/v2.0", "--subject", "sub-1", "--audience", "api://app")
    assert federated.returncode == 0 and "federated" in federated.stdout, federated.stderr
    assert manage("oauth-clients", "revoke", account, client_id).returncode == 0
    assert f"{client_id}\tokta\trevoked" in manage("oauth-clients", "list", account).stdout
    for refused in (("oauth-clients", "create", account, "--token-minutes", "30"),
                    ("oauth-clients", "create", account, "--secret-years", "5"),
                    ("oauth-clients", "create", account, "--federated", "--issuer", "http://example.com/t",
                     "--subject", "s", "--audience", "a"),
                    ("oauth-clients", "secrets", "revoke", account, client_id, "nope"),
                    ("oauth-clients", "revoke", account, "c-0000000000000000")):
        result = manage(*refused)
        assert result.returncode == 1 and result.stderr.startswith("error: "), (refused, result.stderr)


@pytest.mark.parametrize("args", [
    ("accounts", "create", "bad id!"),
    ("accounts", "create", "ok-id", "--notification-email", "not-an-email"),
    ("accounts", "create", "ok-id", "--feature", "NO_SUCH_FLAG"),
    ("accounts", "show", "missing-account"),
    ("accounts", "update", "missing-account", "--enable-feature", "UPDATE_EMAILS_VIA_SCIM"),
    ("tokens", "create", "missing-account"),
    ("tokens", "revoke", "missing-account", "0123456789abcdef"),
])
def test_bad_input_gets_a_one_line_error_and_non_zero_exit(manage, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = manage(*args)
    assert result.returncode != 0
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_duplicate_account_is_refused(manage) -> None:  # type: ignore[no-untyped-def]
    account = "cli-" + uuid.uuid4().hex[:6]
    assert manage("accounts", "create", account).returncode == 0
    again = manage("accounts", "create", account)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_scopes_roles_and_access_from_the_command_line(manage, azurite: Azurite, table_prefix: str) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from shared.config import Settings
    from shared.storage.clients import table_service
    from shared.storage.tables import Tables
    from shared.storage.users_table import TableUserStore

    account = "cli-" + uuid.uuid4().hex[:6]
    assert manage("accounts", "create", account).returncode == 0
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    user = TableUserStore(Tables(table_service(settings), table_prefix)).create(
        account, str(uuid.uuid4()), {"userName": "pat@contoso.test", "active": True}, datetime.now(UTC))
    for scope in (f"{account}:eng", f"{account}:eng:web"):
        created = manage("scopes", "create", account, scope)
        assert created.returncode == 0 and created.stdout.strip() == scope, created.stderr
    assert manage("scopes", "create", account, "elsewhere:eng").returncode == 1
    assert manage("scopes", "list", account).stdout.split() == [f"{account}:eng", "eng", f"{account}:eng:web", "web"]
    assigned = manage("roles", "assign", account, f"{account}:eng:web", "_project_admin", "_all_project_level_resources",
                      "--user", user.id)
    assert assigned.returncode == 0, assigned.stderr
    admin = manage("roles", "assign", account, account, "_account_admin", "_all_account_level_resources", "--user", user.id)
    assert admin.returncode == 0, admin.stderr
    answer = json.loads(manage("access", account, user.id, "--scope", f"{account}:eng:web").stdout)
    assert {(a["role"], a["inheritedFrom"]) for a in answer["assignments"]} == {("_project_admin", None),
                                                                                ("_account_admin", account)}
    refused = manage("roles", "revoke", account, admin.stdout.strip())
    assert refused.returncode == 1 and "last account admin" in refused.stderr
    assert manage("scopes", "delete", account, f"{account}:eng").returncode == 0
    listed = manage("roles", "list", account).stdout
    assert "_account_admin" in listed and "_project_admin" not in listed
    audit = manage("activity", account, "--operation", "CLI.").stdout
    assert "CLI.Scopes.Create" in audit and "CLI.RoleAssignments.Create" in audit and "CLI.Scopes.Delete" in audit
