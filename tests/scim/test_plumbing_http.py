"""SCIM plumbing every resource uses: bearer auth per account, discovery, errors, limits (over HTTP)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from shared.domain.tokens import mint
from shared.storage.accounts_table import AccountStore
from tests.support.devhost import DevHost
from tests.support.scim import SCIM, ScimClient, assert_scim_error, new_account, new_token


def test_service_provider_config_with_a_valid_token(scim: ScimClient) -> None:
    response = scim.get("/ServiceProviderConfig")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == SCIM
    body = response.json()
    assert body["patch"]["supported"] is True and body["bulk"]["supported"] is True and body["bulk"]["maxOperations"] == 100
    assert body["etag"]["supported"] is True
    assert body["meta"]["location"] == f"{scim.tenant_url}/ServiceProviderConfig"
    # the limits SCIM has a place for: the largest page and the body limit of every request (README: Limits)
    assert body["filter"] == {"supported": True, "maxResults": 1000}
    assert body["bulk"]["maxPayloadSize"] == 1_048_576


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-token",
    "Bearer scim.0123456789abcdef.unknownsecret", "Token scim.0123456789abcdef.x",
])
def test_missing_or_malformed_or_unknown_tokens_get_401(scim: ScimClient, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = scim.session.get(f"{scim.tenant_url}/ServiceProviderConfig", headers=headers, timeout=10)
    body = assert_scim_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "token" in body["detail"]


def test_a_right_key_id_with_a_wrong_secret_gets_401(scim: ScimClient) -> None:
    key_id = scim.token.split(".")[1]
    forged = f"scim.{key_id}.{'A' * 43}"
    response = scim.session.get(f"{scim.tenant_url}/ServiceProviderConfig",
                                headers={"Authorization": f"Bearer {forged}"}, timeout=10)
    assert_scim_error(response, 401)


def test_another_accounts_token_gets_401(scim: ScimClient, accounts: AccountStore, scim_host: DevHost) -> None:
    other = new_account(accounts)
    other_token = new_token(accounts, other.id)
    response = scim.session.get(f"{scim.tenant_url}/ServiceProviderConfig",
                                headers={"Authorization": f"Bearer {other_token}"}, timeout=10)
    assert_scim_error(response, 401)


def test_unknown_account_gets_401_not_404(scim: ScimClient, scim_host: DevHost) -> None:
    response = scim.session.get(f"{scim_host.base_url}/api/scim/account/no-such-account/ServiceProviderConfig",
                                headers={"Authorization": f"Bearer {scim.token}"}, timeout=10)
    assert_scim_error(response, 401)


def test_admin_scoped_token_is_refused_on_scim_routes(scim: ScimClient, accounts: AccountStore) -> None:
    admin = new_token(accounts, scim.account_id, scope="admin")
    response = scim.session.get(f"{scim.tenant_url}/ServiceProviderConfig",
                                headers={"Authorization": f"Bearer {admin}"}, timeout=10)
    assert_scim_error(response, 401)


def test_expired_token_gets_401(scim: ScimClient, accounts: AccountStore) -> None:
    minted = mint(scim.account_id, "scim", datetime.now(UTC) - timedelta(days=3), expires_in_days=1)
    accounts.add_token(minted.record)
    response = scim.session.get(f"{scim.tenant_url}/ServiceProviderConfig",
                                headers={"Authorization": f"Bearer {minted.token}"}, timeout=10)
    assert_scim_error(response, 401)


def test_revocation_takes_effect_within_the_cache_bound(scim: ScimClient, accounts: AccountStore) -> None:
    assert scim.get("/ServiceProviderConfig").status_code == 200
    accounts.revoke_token(scim.account_id, scim.token.split(".")[1], datetime.now(UTC))
    time.sleep(1.2)  # AUTH_CACHE_SECONDS=1 for the test host
    assert_scim_error(scim.get("/ServiceProviderConfig"), 401)


def test_resource_types_and_schemas_describe_users_and_groups(scim: ScimClient) -> None:
    types = scim.get("/ResourceTypes").json()
    assert {r["endpoint"] for r in types["Resources"]} == {"/Users", "/Groups"}
    assert scim.get("/ResourceTypes/User").json()["schema"] == "urn:ietf:params:scim:schemas:core:2.0:User"
    schemas = scim.get("/Schemas").json()
    assert {s["id"] for s in schemas["Resources"]} == {
        "urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:core:2.0:Group",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:harness:2.0:Group"}
    group_type = scim.get("/ResourceTypes/Group").json()
    assert group_type["schemaExtensions"] == [
        {"schema": "urn:ietf:params:scim:schemas:extension:harness:2.0:Group", "required": False}]
    harness = scim.get("/Schemas/urn:ietf:params:scim:schemas:extension:harness:2.0:Group").json()
    [scopes] = harness["attributes"]
    assert (scopes["name"], scopes["type"], scopes["multiValued"], scopes["mutability"], scopes["returned"]) == (
        "harnessScopes", "string", False, "readWrite", "default")
    user = scim.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:User").json()
    assert user["name"] == "User" and "User Account" in user["description"]
    assert_scim_error(scim.get("/Schemas/urn:nope"), 404)
    assert_scim_error(scim.get("/ResourceTypes/Nope"), 404)


def test_unknown_query_parameters_are_ignored(scim: ScimClient) -> None:
    response = scim.get("/ServiceProviderConfig?aadOptscim062020&AzureAdScimPatch2017=1")
    assert response.status_code == 200


def test_unknown_path_under_an_account_is_a_scim_404(scim: ScimClient) -> None:
    body = assert_scim_error(scim.get("/Widgets/1"), 404)
    assert "/Users" in body["detail"]


def test_body_over_the_limit_gets_413(scim: ScimClient) -> None:
    limit = 1_048_576
    at_limit = b'{"filter": "userName eq \\"x\\"", "pad": "' + b"a" * (limit - 42) + b'"}'
    assert len(at_limit) == limit
    assert scim.request("POST", "/Users/.search", data=at_limit, headers={"Content-Type": SCIM}).status_code != 413
    response = scim.request("POST", "/Users/.search", data=at_limit + b" ", headers={"Content-Type": SCIM})
    assert "SCIM_MAX_BODY_BYTES" in assert_scim_error(response, 413)["detail"]


def test_errors_are_never_plain_text_even_without_auth(scim_host: DevHost) -> None:
    response = requests.get(f"{scim_host.base_url}/api/scim/account/x/Users", timeout=10)
    assert_scim_error(response, 401)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_wrong_method_on_a_known_endpoint_is_405(scim: ScimClient, method: str) -> None:
    response = scim.request(method, "/ServiceProviderConfig", json={})
    assert_scim_error(response, 405)
    assert response.headers["Allow"] == "GET"


def test_the_console_is_served_with_strict_headers_and_nothing_else(scim_host: DevHost) -> None:
    page = requests.get(f"{scim_host.base_url}/api/console/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"] and page.headers["X-Frame-Options"] == "DENY"
    assert "<script>" not in page.text and 'src="app.js"' in page.text  # no inline script
    script = requests.get(f"{scim_host.base_url}/api/console/app.js", timeout=10)
    assert script.headers["Content-Type"].startswith("text/javascript") and "innerHTML" not in script.text
    for outside in ("%2e%2e%2fhost.json", "..%2Ffunction_app.py", "function_app.py", ".hidden.js", "nope.js"):
        assert requests.get(f"{scim_host.base_url}/api/console/{outside}", timeout=10).status_code == 404, outside
