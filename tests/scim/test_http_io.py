"""The one error mapping: an unexpected exception becomes a generic SCIM 500 with the invocation id.

A bug cannot be caused for real from outside, so this test calls `run_scim` in-process with a handler that
raises; everything else here is real (Azurite-backed services, a real token)."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import pytest

from scim_handlers.http_io import ApiRequest, ApiResponse, run_scim
from shared.storage.roundtrips import counting
from tests.support.scim import new_account, new_token


class _Context:
    invocation_id = "3f2c1e9a-0000-4000-8000-000000000001"


def _request(account_id: str, token: str, body: bytes = b"") -> func.HttpRequest:
    return func.HttpRequest("GET", f"https://app.example/api/scim/account/{account_id}/Users?x=1",
                            headers={"Authorization": f"Bearer {token}"}, params={}, route_params={"accountId": account_id},
                            body=body)


def test_unexpected_exception_is_a_generic_500_with_the_invocation_id(installed_services: Any) -> None:
    account = new_account(installed_services.accounts)
    token = new_token(installed_services.accounts, account.id)

    def handler(req: ApiRequest) -> ApiResponse:
        raise RuntimeError("connection string AccountKey=secret leaked")

    response = run_scim(_request(account.id, token), _Context(), "Test.Boom", handler)  # type: ignore[arg-type]
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/scim+json"
    body = json.loads(response.get_body())
    assert body["status"] == "500" and _Context.invocation_id in body["detail"]
    assert "secret" not in response.get_body().decode()


def test_tenant_url_is_absolute_and_stops_at_the_account(installed_services: Any) -> None:
    account = new_account(installed_services.accounts)
    token = new_token(installed_services.accounts, account.id)
    seen: list[str] = []

    def handler(req: ApiRequest) -> ApiResponse:
        seen.append(req.tenant_url)
        return ApiResponse(204)

    assert run_scim(_request(account.id, token), _Context(), "Test.Url", handler).status_code == 204  # type: ignore[arg-type]
    assert seen == [f"https://app.example/api/scim/account/{account.id}"]


@pytest.mark.parametrize(("content_type", "body", "status"), [
    ("application/scim+json", b"{not json", 400), ("application/json", b"", 400), ("text/xml", b"<a/>", 415)])
def test_bodies_that_are_not_json_objects_are_rejected(installed_services: Any, content_type: str, body: bytes,
                                                       status: int) -> None:
    account = new_account(installed_services.accounts)
    token = new_token(installed_services.accounts, account.id)

    def handler(req: ApiRequest) -> ApiResponse:
        return ApiResponse(200, req.json())

    request = func.HttpRequest("POST", f"http://h/api/scim/account/{account.id}/Users",
                               headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
                               params={}, route_params={"accountId": account.id}, body=body)
    response = run_scim(request, _Context(), "Test.Json", handler)  # type: ignore[arg-type]
    assert response.status_code == status
    assert json.loads(response.get_body())["status"] == str(status)


def test_recording_activity_adds_no_round_trip_to_the_request(installed_services: Any) -> None:
    account = new_account(installed_services.accounts)
    token = new_token(installed_services.accounts, account.id)

    def handler(req: ApiRequest) -> ApiResponse:
        return ApiResponse(200, {"id": "x"})

    run_scim(_request(account.id, token), _Context(), "Users.Get", handler)  # type: ignore[arg-type]  # warms the caches
    installed_services.activity.flush()
    with counting() as trips:
        assert run_scim(_request(account.id, token), _Context(), "Users.Get", handler).status_code == 200  # type: ignore[arg-type]
    assert trips.count == 0  # the handler made none, auth is cached, and the log row is written in the background
    installed_services.activity.flush()
    records, _ = installed_services.activity.query(account.id, None, None, None, None, 10, None)
    assert [r.operation for r in records] == ["Users.Get", "Users.Get"]
