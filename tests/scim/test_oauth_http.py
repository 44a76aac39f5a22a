"""OAuth 2.0 client credentials and workload identity federation over the local host and Azurite, with a local
issuer standing in for Entra (tests/support/issuer.py): the token endpoint's answers and errors, access tokens on
the SCIM routes, rotation, revocation, and each hostile assertion refused with a clean OAuth error."""

from __future__ import annotations

import base64
import base64 as b64
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest
import requests

from shared.domain import oauth
from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.issuer import LocalIssuer
from tests.support.scim import new_account, new_token

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
AUDIENCE = "api://5f1c1d3e-scim-app"
SUBJECT = "9a8b7c6d-0000-4000-8000-00000000e1d5"


@pytest.fixture
def issuer() -> Iterator[LocalIssuer]:
    instance = LocalIssuer()
    yield instance
    instance.close()


def token_url(host: DevHost, account_id: str) -> str:
    return f"{host.base_url}/api/oauth/account/{account_id}/token"


def ask(host: DevHost, account_id: str, form: dict[str, str], **kwargs: Any) -> requests.Response:
    return requests.post(token_url(host, account_id), data=form, timeout=30, **kwargs)


def users(host: DevHost, account_id: str, token: str) -> requests.Response:
    return requests.get(f"{host.base_url}/api/scim/account/{account_id}/Users", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def refused(response: requests.Response, error: str, status: int = 401) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error and response.headers["Cache-Control"] == "no-store"
    assert "Traceback" not in response.text


def secret_client(accounts: AccountStore, account_id: str, minutes: int = 60) -> oauth.NewSecret:
    new = oauth.new_secret_client(account_id, "entra", minutes, datetime.now(UTC))
    accounts.save_client(new.client)
    return new


def federated_client(accounts: AccountStore, account_id: str, issuer: LocalIssuer, jwks: bool = True) -> oauth.OAuthClient:
    client = oauth.new_federated_client(account_id, "entra", 60, datetime.now(UTC), oauth.Federation(
        issuer.issuer, SUBJECT, AUDIENCE, issuer.jwks_uri if jwks else None))
    accounts.save_client(client)
    return client


def federated_form(client_id: str | None, assertion: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_assertion_type": oauth.CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion, "scope": f"{AUDIENCE}/.default"}
    if client_id:
        form["client_id"] = client_id
    return form


def test_a_client_secret_buys_an_access_token_that_works_like_a_secret_token(
        scim_host: DevHost, accounts: AccountStore) -> None:
    account, other = new_account(accounts), new_account(accounts)
    new = secret_client(accounts, account.id, minutes=90)
    by_post = ask(scim_host, account.id, {"grant_type": "client_credentials", "client_id": new.client.client_id,
                                          "client_secret": new.secret})
    assert by_post.status_code == 200, by_post.text
    body = by_post.json()
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 5400, "scim")
    assert by_post.headers["Cache-Control"] == "no-store" and by_post.headers["Pragma"] == "no-cache"
    basic = base64.b64encode(f"{new.client.client_id}:{new.secret}".encode()).decode()
    by_basic = ask(scim_host, account.id, {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    assert by_basic.status_code == 200, by_basic.text
    for token in (body["access_token"], by_basic.json()["access_token"]):
        created = requests.post(f"{scim_host.base_url}/api/scim/account/{account.id}/Users", timeout=30,
                                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
                                data=json.dumps({"schemas": [USER], "userName": f"{token[-6:]}@contoso.test"}))
        assert created.status_code == 201, created.text
        assert users(scim_host, other.id, token).status_code == 401  # another account's data: never
    refused(ask(scim_host, other.id, {"grant_type": "client_credentials", "client_id": new.client.client_id,
                                      "client_secret": new.secret}), "invalid_client")  # nor another account's token


def test_rotation_with_two_secrets_and_revocation_within_the_cache_bound(scim_host: DevHost, accounts: AccountStore) -> None:
    account = new_account(accounts)
    first = secret_client(accounts, account.id)
    second = oauth.add_secret(first.client, datetime.now(UTC))
    accounts.save_client(second.client)
    client_id = first.client.client_id

    def token(secret: str) -> str:
        answer = ask(scim_host, account.id, {"grant_type": "client_credentials", "client_id": client_id,
                                             "client_secret": secret})
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    old, new = token(first.secret), token(second.secret)
    assert users(scim_host, account.id, old).status_code == 200 and users(scim_host, account.id, new).status_code == 200
    stored = accounts.get_client(account.id, client_id)
    assert stored is not None
    accounts.save_client(oauth.revoke_secret(stored, first.secret_id, datetime.now(UTC)))
    refused(ask(scim_host, account.id, {"grant_type": "client_credentials", "client_id": client_id,
                                        "client_secret": first.secret}), "invalid_client")
    deadline = time.monotonic() + 60
    while users(scim_host, account.id, old).status_code != 401:
        assert time.monotonic() < deadline, "an access token outlived its revoked secret by 60 s"
        time.sleep(0.5)
    assert users(scim_host, account.id, new).status_code == 200  # the other secret's tokens keep working

    from dataclasses import replace
    stored = accounts.get_client(account.id, client_id)
    assert stored is not None
    accounts.save_client(replace(stored, revoked=datetime.now(UTC)))
    deadline = time.monotonic() + 60
    while users(scim_host, account.id, new).status_code != 401:
        assert time.monotonic() < deadline, "an access token outlived its revoked client by 60 s"
        time.sleep(0.5)


@pytest.mark.parametrize("with_jwks_uri", [True, False], ids=["jwks-uri", "openid-configuration"])
def test_workload_identity_federation_end_to_end(scim_host: DevHost, accounts: AccountStore, issuer: LocalIssuer,
                                                 with_jwks_uri: bool) -> None:
    account = new_account(accounts)
    client = federated_client(accounts, account.id, issuer, jwks=with_jwks_uri)
    answer = ask(scim_host, account.id, federated_form(client.client_id, issuer.assertion(SUBJECT, AUDIENCE)))
    assert answer.status_code == 200, answer.text
    assert users(scim_host, account.id, answer.json()["access_token"]).status_code == 200
    # the client id may be left out: the assertion's issuer and subject find the client
    assert ask(scim_host, account.id, federated_form(None, issuer.assertion(SUBJECT, AUDIENCE))).status_code == 200
    assert sum(1 for path in issuer.requests if path.endswith("/keys")) == 1  # the keys are cached


def hs256_with_public_key(issuer: LocalIssuer) -> str:
    """The classic confusion attack: the public key (which anyone has) used as an HMAC secret."""
    header = {"alg": "HS256", "typ": "JWT", "kid": "key-0"}
    claims = issuer.claims(SUBJECT, AUDIENCE)

    def part(value: dict[str, Any]) -> str:
        return b64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    import hashlib
    import hmac
    signing_input = f"{part(header)}.{part(claims)}"
    signature = hmac.new(issuer.public_pem(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def unsigned(issuer: LocalIssuer) -> str:
    return jwt.encode(issuer.claims(SUBJECT, AUDIENCE), key="", algorithm="none", headers={"kid": "key-0"})


HOSTILE: dict[str, Callable[[LocalIssuer], str]] = {
    "expired": lambda i: i.assertion(SUBJECT, AUDIENCE, exp=int(time.time()) - 400, iat=int(time.time()) - 1000,
                                     nbf=int(time.time()) - 1000),
    "not yet valid": lambda i: i.assertion(SUBJECT, AUDIENCE, nbf=int(time.time()) + 900),
    "issued in the future": lambda i: i.assertion(SUBJECT, AUDIENCE, iat=int(time.time()) + 900,
                                                  exp=int(time.time()) + 1800),
    "no expiry": lambda i: i.assertion(SUBJECT, AUDIENCE, exp=None),
    "wrong issuer": lambda i: i.assertion(SUBJECT, AUDIENCE, iss="https://login.microsoftonline.com/other/v2.0"),
    "wrong subject": lambda i: i.assertion("someone-else", AUDIENCE),
    "wrong audience": lambda i: i.assertion(SUBJECT, "api://another-app"),
    "unsigned": unsigned,
    "HS256 with the public key": hs256_with_public_key,
    "a key the JWKS does not hold": lambda i: jwt.encode(
        i.claims(SUBJECT, AUDIENCE), LocalIssuer().keys["key-0"], algorithm="RS256", headers={"kid": "key-9"}),
    "signed by another key under a known kid": lambda i: jwt.encode(
        i.claims(SUBJECT, AUDIENCE), i.keys["key-1"], algorithm="RS256", headers={"kid": "key-0"}),
    "an alg the key does not allow": lambda i: i.assertion(SUBJECT, AUDIENCE, algorithm="PS256"),
    "not a JWT": lambda i: "not.a-jwt",
    "oversized": lambda i: "a" * (oauth.MAX_ASSERTION_CHARACTERS + 1),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_each_hostile_assertion_is_a_clean_oauth_error(scim_host: DevHost, accounts: AccountStore, issuer: LocalIssuer,
                                                       case: str) -> None:
    account = new_account(accounts)
    client = federated_client(accounts, account.id, issuer)
    answer = ask(scim_host, account.id, federated_form(client.client_id, HOSTILE[case](issuer)))
    assert answer.status_code in (400, 401), answer.text
    refused(answer, "invalid_request" if case == "oversized" else "invalid_client", answer.status_code)
    assert "access_token" not in answer.json()
    # and the same client's good assertion still works: nothing was poisoned
    assert ask(scim_host, account.id, federated_form(client.client_id, issuer.assertion(SUBJECT, AUDIENCE))).status_code == 200


@pytest.mark.parametrize("mode", ["down", "garbage", "slow"])
def test_a_failing_key_endpoint_is_a_clean_oauth_error(scim_host: DevHost, accounts: AccountStore, issuer: LocalIssuer,
                                                       mode: str) -> None:
    account = new_account(accounts)
    client = federated_client(accounts, account.id, issuer)
    issuer.mode = mode
    refused(ask(scim_host, account.id, federated_form(client.client_id, issuer.assertion(SUBJECT, AUDIENCE))),
            "invalid_client")
    assert users(scim_host, account.id, new_token(accounts, account.id)).status_code == 200  # Secret Tokens unaffected


def test_a_flood_of_made_up_kids_fetches_the_keys_once_a_minute(scim_host: DevHost, accounts: AccountStore,
                                                                issuer: LocalIssuer) -> None:
    account = new_account(accounts)
    client = federated_client(accounts, account.id, issuer)
    stranger = LocalIssuer()
    try:
        for n in range(25):
            forged = jwt.encode(issuer.claims(SUBJECT, AUDIENCE), stranger.keys["key-0"], algorithm="RS256",
                                headers={"kid": f"made-up-{n}"})
            refused(ask(scim_host, account.id, federated_form(client.client_id, forged)), "invalid_client")
    finally:
        stranger.close()
    assert sum(1 for path in issuer.requests if path.endswith("/keys")) == 1


def test_the_token_endpoints_errors(scim_host: DevHost, accounts: AccountStore) -> None:
    account = new_account(accounts)
    new = secret_client(accounts, account.id)
    good = {"grant_type": "client_credentials", "client_id": new.client.client_id, "client_secret": new.secret}
    refused(ask(scim_host, account.id, {**good, "grant_type": "password"}), "unsupported_grant_type", 400)
    refused(ask(scim_host, account.id, {k: v for k, v in good.items() if k != "grant_type"}), "invalid_request", 400)
    refused(ask(scim_host, account.id, {**good, "scope": 'scim "quoted"'}), "invalid_scope", 400)
    granted = ask(scim_host, account.id, {**good, "scope": "api://anything/.default openid"})
    assert granted.status_code == 200 and granted.json()["scope"] == "scim"  # any scope asked, scim granted
    refused(ask(scim_host, account.id, {**good, "client_secret": "wrong"}), "invalid_client")
    refused(ask(scim_host, account.id, {**good, "client_id": "c-0000000000000000"}), "invalid_client")
    refused(ask(scim_host, "no-such-account", good), "invalid_client")
    refused(requests.post(token_url(scim_host, account.id), json=good, timeout=30), "invalid_request", 400)
    refused(ask(scim_host, account.id, {**good, "pad": "x" * oauth.MAX_REQUEST_BYTES}), "invalid_request", 400)
    basic = base64.b64encode(f"{new.client.client_id}:wrong".encode()).decode()
    answer = ask(scim_host, account.id, {"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    refused(answer, "invalid_client")
    assert answer.headers["WWW-Authenticate"].startswith("Basic")
    refused(ask(scim_host, account.id, good, headers={"Authorization": f"Basic {basic}"}), "invalid_request", 400)
    assert ask(scim_host, account.id, good).status_code == 200  # and the right request still works


def test_discovery_names_the_token_endpoint_and_every_attribute_entra_maps(scim_host: DevHost,
                                                                           accounts: AccountStore) -> None:
    """Microsoft's validation flattens /Schemas and expects what Entra's default mappings write, externalId too."""
    account = new_account(accounts)
    headers = {"Authorization": f"Bearer {new_token(accounts, account.id)}"}
    base = f"{scim_host.base_url}/api/scim/account/{account.id}"
    config = requests.get(f"{base}/ServiceProviderConfig", headers=headers, timeout=30).json()
    oauth2 = next(s for s in config["authenticationSchemes"] if s["type"] == "oauth2")
    assert token_url(scim_host, account.id) in oauth2["description"]
    schemas = {s["id"]: s for s in requests.get(f"{base}/Schemas", headers=headers, timeout=30).json()["Resources"]}

    def flattened(schema: dict[str, Any]) -> set[str]:
        names = set()
        for attribute in schema["attributes"]:
            names.add(attribute["name"])
            names |= {f"{attribute['name']}.{sub['name']}" for sub in attribute.get("subAttributes", [])}
        return names

    user = flattened(schemas["urn:ietf:params:scim:schemas:core:2.0:User"])
    enterprise = flattened(schemas["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"])
    group = flattened(schemas["urn:ietf:params:scim:schemas:core:2.0:Group"])
    entra_user_defaults = {"userName", "active", "displayName", "title", "emails.value", "emails.type",
                           "preferredLanguage", "name.givenName", "name.familyName", "name.formatted",
                           "addresses.formatted", "addresses.streetAddress", "addresses.locality", "addresses.region",
                           "addresses.postalCode", "addresses.country", "phoneNumbers.value", "phoneNumbers.type",
                           "externalId"}
    assert entra_user_defaults <= user
    assert {"employeeNumber", "department", "manager", "costCenter", "organization", "division"} <= enterprise
    assert {"displayName", "externalId", "members", "members.value"} <= group


def test_the_management_api_makes_rotates_and_revokes_clients(scim_host: DevHost, accounts: AccountStore,
                                                               issuer: LocalIssuer) -> None:
    from tests.support.scim import AdminClient

    account = new_account(accounts)
    with requests.Session() as session:
        admin = AdminClient(f"{scim_host.base_url}/api/manage/account/{account.id}",
                            new_token(accounts, account.id, scope="admin"), session)
        created = admin.request("POST", "/oauth-clients", json={"idp": "okta", "tokenMinutes": 120})
        assert created.status_code == 201, created.text
        made = created.json()
        assert made["tokenUrl"] == token_url(scim_host, account.id) and made["secret"] and made["idp"] == "okta"
        form = {"grant_type": "client_credentials", "client_id": made["clientId"], "client_secret": made["secret"]}
        assert ask(scim_host, account.id, form).json()["expires_in"] == 7200
        rotated = admin.request("POST", f"/oauth-clients/{made['clientId']}/secrets", data=b"")
        assert rotated.status_code == 201 and len(rotated.json()["secrets"]) == 2
        assert admin.request("DELETE", f"/oauth-clients/{made['clientId']}/secrets/{made['secretId']}").status_code == 204
        refused(ask(scim_host, account.id, form), "invalid_client")
        listed = admin.request("GET", "/oauth-clients").json()
        [view] = listed["clients"]
        assert {s["state"] for s in view["secrets"]} == {"active", "revoked"} and view["lastUsed"]
        assert made["secret"] not in json.dumps(listed) and rotated.json()["secret"] not in json.dumps(listed)
        federated = admin.request("POST", "/oauth-clients", json={"federation": {
            "issuer": issuer.issuer, "subject": SUBJECT, "audience": AUDIENCE, "jwksUri": issuer.jwks_uri}})
        assert federated.status_code == 201 and "secret" not in federated.json(), federated.text
        answer = ask(scim_host, account.id, federated_form(federated.json()["clientId"], issuer.assertion(SUBJECT, AUDIENCE)))
        assert answer.status_code == 200, answer.text
        for bad in ({"tokenMinutes": 30}, {"secretYears": 4}, {"idp": "ping"}, {"unknown": 1},
                    {"federation": {"issuer": "http://example.com", "subject": "s", "audience": "a"}}):
            assert admin.request("POST", "/oauth-clients", json=bad).status_code == 400, bad
        assert admin.request("DELETE", f"/oauth-clients/{made['clientId']}").status_code == 204
        assert admin.request("DELETE", "/oauth-clients/c-0000000000000000").status_code == 404
        audited = admin.wait_for(lambda found: len(found) >= 5, operation="Manage.OAuthClients.")
        assert {r["operation"] for r in audited} >= {"Manage.OAuthClients.Create", "Manage.OAuthClients.Revoke",
                                                      "Manage.OAuthClients.Secrets.Add",
                                                      "Manage.OAuthClients.Secrets.Revoke"}


def test_the_activity_log_and_the_overview_name_the_client_not_its_passing_tokens(
        scim_host: DevHost, accounts: AccountStore) -> None:
    from tests.support.scim import AdminClient

    account = new_account(accounts)
    new = secret_client(accounts, account.id)
    form = {"grant_type": "client_credentials", "client_id": new.client.client_id, "client_secret": new.secret}
    for n in range(2):  # two access tokens of one client
        token = ask(scim_host, account.id, form).json()["access_token"]
        created = requests.post(f"{scim_host.base_url}/api/scim/account/{account.id}/Users", timeout=30,
                                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
                                data=json.dumps({"schemas": [USER], "userName": f"actor{n}@contoso.test"}))
        assert created.status_code == 201
    with requests.Session() as session:
        admin = AdminClient(f"{scim_host.base_url}/api/manage/account/{account.id}",
                            new_token(accounts, account.id, scope="admin"), session)
        records = admin.wait_for(lambda found: len(found) >= 2, operation="Users.Create")
        assert {r["actor"] for r in records} == {f"client:{new.client.client_id}"}
        issued = admin.wait_for(lambda found: len(found) >= 2, operation="OAuth.Token")
        assert all(f"secret {new.secret_id}" in r["detail"] for r in issued)
        assert all(new.secret not in json.dumps(r) for r in records + issued)
        overview = admin.request("GET", "/overview").json()
        row = next(t for t in overview["tokens"] if t["keyId"] == f"client:{new.client.client_id}")
        assert row["state"] == "oauth client" and overview["unknownKeyIds"] == 0
