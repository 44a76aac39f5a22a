"""The management API endpoints an admin console needs, over the local host on real storage: the account's settings,
its tokens (created with the secret shown once, listed without it, revoked), and its failed work with a re-drive
that the host's retry queue then carries out. Each is admin-scoped and audited."""

from __future__ import annotations

import time

import requests

from tests.support.azurite import Azurite
from tests.support.scim import AdminClient, ScimClient
from tests.support.work import stuck_member_add


def test_settings_are_read_and_changed(scim: ScimClient, admin: AdminClient) -> None:
    settings = admin.request("GET", "/settings").json()
    assert settings["id"] == scim.account_id and settings["updateEmailsViaScim"] is False
    changed = admin.request("PATCH", "/settings", json={"notificationEmail": "ops@contoso.test",
                                                        "updateEmailsViaScim": True})
    assert changed.status_code == 200, changed.text
    assert changed.json()["notificationEmail"] == "ops@contoso.test" and changed.json()["updateEmailsViaScim"] is True
    assert admin.request("GET", "/settings").json()["features"] == ["UPDATE_EMAILS_VIA_SCIM"]
    cleared = admin.request("PATCH", "/settings", json={"notificationEmail": None}).json()
    assert cleared["notificationEmail"] is None and cleared["updateEmailsViaScim"] is True
    bad: object
    for bad in ({"notificationEmail": "not-an-email"}, {"updateEmailsViaScim": "yes"}, {}, []):
        assert admin.request("PATCH", "/settings", json=bad).status_code == 400


def test_tokens_are_created_once_listed_without_secrets_and_revoked(scim: ScimClient, admin: AdminClient) -> None:
    created = admin.request("POST", "/tokens", json={"idp": "okta", "expiresInDays": 30})
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    key_id = created.json()["keyId"]
    assert created.json()["idp"] == "okta" and created.json()["state"] == "active" and created.json()["expires"]
    assert requests.get(f"{scim.tenant_url}/Users", headers={"Authorization": f"Bearer {token}"},
                        timeout=30).status_code == 200
    listed = admin.request("GET", "/tokens")
    assert key_id in {t["keyId"] for t in listed.json()["tokens"]}
    deadline = time.monotonic() + 10  # "last used" is read from the activity log, written in the background
    while not next(t for t in admin.request("GET", "/tokens").json()["tokens"] if t["keyId"] == key_id)["lastUsed"]:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert token.split(".")[2] not in listed.text and "hash" not in listed.text.lower()

    assert admin.request("DELETE", f"/tokens/{key_id}").status_code == 204
    assert admin.request("DELETE", "/tokens/0000000000000000").status_code == 404
    revoked = next(t for t in admin.request("GET", "/tokens").json()["tokens"] if t["keyId"] == key_id)
    assert revoked["state"] == "revoked"
    deadline = time.monotonic() + 5  # the host caches tokens for AUTH_CACHE_SECONDS (1 s in tests)
    while requests.get(f"{scim.tenant_url}/Users", headers={"Authorization": f"Bearer {token}"},
                       timeout=30).status_code != 401:
        assert time.monotonic() < deadline
        time.sleep(0.3)
    for bad in ({"scope": "root"}, {"idp": "ping"}, {"expiresInDays": 0}, {"expiresInDays": "30"}):
        assert admin.request("POST", "/tokens", json=bad).status_code == 400
    scim_scoped = requests.get(f"{admin.base}/tokens", headers={"Authorization": f"Bearer {scim.token}"}, timeout=30)
    assert scim_scoped.status_code == 401  # a SCIM token never reaches the admin endpoints


def test_failures_are_listed_and_a_redrive_is_carried_out_by_the_retry_queue(
        scim: ScimClient, admin: AdminClient, azurite: Azurite, scim_prefix: str) -> None:
    user = scim.post("/Users", {"userName": "stuck@contoso.test"}).json()["id"]
    group = scim.post("/Groups", {"displayName": "Stuck"}).json()["id"]
    work_id = stuck_member_add(azurite.connection_string, scim_prefix, scim.account_id, group, user)

    listed = admin.request("GET", "/failures").json()
    assert [w["workId"] for w in listed["pending"]] == [work_id] and listed["pending"][0]["resourceId"] == group
    assert [f["lastError"] for f in listed["unreported"]] == ["storage was down"]
    assert admin.request("POST", "/failures/redrive").json() == {"queued": 1}

    deadline = time.monotonic() + 30  # the host's scim-retry trigger carries the work out
    while admin.request("GET", "/failures").json()["pending"]:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert [m["value"] for m in scim.get(f"/Groups/{group}").json()["members"]] == [user]
