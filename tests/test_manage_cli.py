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
