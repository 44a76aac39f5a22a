"""Telemetry of a real request flow (in-process, against Azurite), captured with the OpenTelemetry SDK's in-memory
exporters: a span per SCIM request with child spans for the storage calls, the metrics, one structured log record
per invocation, and no token anywhere. Also the health endpoint and the operations guide's KQL field names."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import requests
from azure.core.settings import settings as azure_settings
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from scim_handlers import services as services_module
from scim_handlers.users import scim_user_get, scim_users_create, scim_users_list
from shared import telemetry
from tests.support.devhost import DevHost
from tests.support.scim import new_account, new_token

ROOT = Path(__file__).resolve().parents[2]
SPANS = InMemorySpanExporter()
METRICS = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def otel_sdk() -> Iterator[None]:
    """The SDK, as the Functions worker would configure it, but exporting to memory. Global providers can be set
    once per process, so this module owns them."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SPANS))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[METRICS]))
    azure_settings.tracing_implementation = "opentelemetry"  # Azure SDK calls become child spans
    yield
    azure_settings.tracing_implementation = None


class _Context:
    invocation_id = "5d1f0000-0000-4000-8000-00000000abcd"


def request(method: str, path: str, account_id: str, token: str, body: Any = None, route: dict[str, str] | None = None,
            params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(method, f"https://app.example/api/scim/account/{account_id}{path}",
                            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"},
                            params=params or {}, route_params={"accountId": account_id, **(route or {})},
                            body=json.dumps(body).encode() if body is not None else b"")


def metric_points(name: str) -> list[Any]:
    data = METRICS.get_metrics_data()
    assert data is not None
    return [point for rm in data.resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
            if metric.name == name for point in metric.data.data_points]


def test_a_request_flow_produces_spans_metrics_and_logs_without_secrets(
        installed_services: services_module.Services, caplog: pytest.LogCaptureFixture) -> None:
    installed = installed_services
    account = new_account(installed.accounts)
    token = new_token(installed.accounts, account.id)
    SPANS.clear()
    with caplog.at_level(logging.INFO, logger="scim.telemetry"):
        created = scim_users_create(request("POST", "/Users", account.id, token, {"userName": "otel@contoso.test"}),
                                    _Context())
        user_id = json.loads(created.get_body())["id"]
        scim_user_get(request("GET", f"/Users/{user_id}", account.id, token, route={"id": user_id}), _Context())
        scim_users_list(request("GET", "/Users", account.id, token, params={"filter": "nope eq 1"}), _Context())

    spans = SPANS.get_finished_spans()
    create_span = next(s for s in spans if s.name == "Users.Create")
    assert create_span.kind == trace.SpanKind.SERVER
    attributes = dict(create_span.attributes or {})
    assert attributes[telemetry.ACCOUNT] == account.id and attributes[telemetry.STATUS] == 201
    assert attributes[telemetry.RESOURCE_TYPE] == "User" and attributes[telemetry.RESOURCE_ID] == user_id
    assert int(str(attributes[telemetry.ROUND_TRIPS])) >= 1 and attributes[telemetry.INVOCATION] == _Context.invocation_id
    children = [s for s in spans if s.parent is not None and s.parent.span_id == create_span.context.span_id]
    assert children, "storage calls are child spans of the request"
    failed = next(s for s in spans if s.name == "Users.List")
    assert dict(failed.attributes or {})[telemetry.SCIM_TYPE] == "invalidFilter"

    requests_points = metric_points(telemetry.METRIC_REQUESTS)
    outcomes = {(p.attributes[telemetry.OPERATION], p.attributes[telemetry.OUTCOME]): p.value for p in requests_points}
    assert outcomes[("Users.Create", "success")] >= 1 and outcomes[("Users.List", "failure")] >= 1
    assert metric_points(telemetry.METRIC_DURATION)

    records = [r for r in caplog.records if r.name == "scim.telemetry"]
    assert len(records) == 3  # one structured record per invocation
    assert getattr(records[0], telemetry.OPERATION) == "Users.Create" and getattr(records[0], telemetry.STATUS) == 201

    secret = token.split(".")[2]
    exported = json.dumps([dict(s.attributes or {}) | {"name": s.name} for s in spans], default=str)
    metrics = METRICS.get_metrics_data()
    assert metrics is not None
    exported += json.dumps(metrics.to_json())
    logged = "\n".join(r.getMessage() + json.dumps(r.__dict__, default=str) for r in caplog.records)
    for text in (exported, logged):
        assert secret not in text and token not in text
        assert "otel@contoso.test" not in text  # personal data stays out unless TELEMETRY_VERBOSE


def test_health_reports_storage_queues_and_last_reconcile(scim_host: DevHost) -> None:
    response = requests.get(f"{scim_host.base_url}/api/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy" and body["tables"] == "reachable" and body["queues"] == "reachable"
    assert isinstance(body["retryQueueDepth"], int) and isinstance(body["poisonQueueDepth"], int)
    assert "lastReconcile" in body and "account" not in json.dumps(body).lower()


def test_health_is_503_when_storage_is_unreachable(tmp_path: Path) -> None:
    dead = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
            "TableEndpoint=http://127.0.0.1:9/devstoreaccount1;QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;")
    host = DevHost(ROOT, {"AzureWebJobsStorage": dead, "DEVHOST_STATE_DIR": str(tmp_path)}, tmp_path / "log")
    try:
        response = requests.get(f"{host.base_url}/api/health", timeout=60)
    finally:
        host.stop()
    assert response.status_code == 503 and response.json()["status"] == "unhealthy"


def test_the_operations_guide_queries_only_fields_the_code_emits() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    queries = "\n".join(re.findall(r"```kusto\n(.*?)```", guide, re.S))
    assert queries, "the guide has KQL queries"
    dimensions = set(re.findall(r'customDimensions\["([^"]+)"\]', queries))
    assert dimensions and dimensions <= telemetry.FIELDS | {"scim.reconcile.repairedTotal", "scim.reconcile.reenqueued",
                                                            "scim.reconcile.unrepairable"}
    metric_names = set(re.findall(r'name == "([^"]+)"', queries))
    assert metric_names and metric_names <= telemetry.METRICS


def test_index_row_keys_are_hashed_out_of_storage_urls_and_resource_keys_are_kept() -> None:
    from shared.telemetry import scrub_span_attributes, scrub_url

    point_read = "https://x.table.core.windows.net/scimresources(PartitionKey='acme',RowKey='un%3Aada%40contoso.com')"
    scrubbed = scrub_url(point_read)
    assert "ada" not in scrubbed and "contoso" not in scrubbed and "PartitionKey='acme'" in scrubbed
    assert scrub_url(point_read) == scrubbed  # stable: the same key always reads the same
    user_row = "https://x.table.core.windows.net/scimresources(PartitionKey='acme',RowKey='u%3A5f0c5e5e')"
    assert scrub_url(user_row) == user_row
    assert scrub_span_attributes({"url.full": user_row, "http.request.method": "GET"}) is None
    assert "ada" not in str(scrub_span_attributes({"url.full": point_read}))
    search = ("https://x.table.core.windows.net/scimresources()?$filter=PartitionKey%20eq%20%27acme%27%20and%20"
              "RowKey%20ge%20%27us%3Aada%20lovel%27%20and%20RowKey%20lt%20%27us%3Aada%20lovem%27&$select=UserId")
    assert "lovel" not in scrub_url(search) and "ada" not in scrub_url(search) and "acme" in scrub_url(search)
    group_search = "https://x/scimresources()?$filter=RowKey+ge+'gs%3Anight'+and+RowKey+lt+'gs%3Anighu'"
    assert "night" not in scrub_url(group_search)
