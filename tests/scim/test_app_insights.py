"""Application Insights as it would receive this app: the real azure-monitor-opentelemetry exporter, configured by
the local host as the Python worker configures it, sending to a recording ingestion endpoint (a small HTTP server
in this test) instead of Azure. Asserts what an Azure engineer would look at: a Request item per request with its
resultCode and success, a name per route, one operation id shared by a request, its storage dependencies and its
log records, the documented custom metrics, and no token or personal data anywhere."""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from shared import telemetry
from tests.support.azurite import ROOT, Azurite
from tests.support.devhost import DevHost
from tests.support.scim import SCIM, account_store, new_account, new_token


class Ingestion:
    """Records every envelope the exporter posts (gzip or plain JSON arrays, or newline-delimited JSON)."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []
        self.raw: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                text = body.decode()
                recorder.raw.append(text)
                try:
                    items = json.loads(text)
                except ValueError:
                    items = [json.loads(line) for line in text.splitlines() if line.strip()]
                recorder.envelopes.extend(items if isinstance(items, list) else [items])
                reply = json.dumps({"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, base_type: str) -> list[dict[str, Any]]:
        return [e for e in self.envelopes if e.get("data", {}).get("baseType") == base_type]


@pytest.fixture
def ingestion() -> Iterator[Ingestion]:
    recorder = Ingestion()
    yield recorder
    recorder.server.shutdown()
    recorder.server.server_close()


@pytest.fixture
def host(azurite: Azurite, ingestion: Ingestion, table_prefix: str, tmp_path: Path) -> Iterator[DevHost]:
    env = {"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix,
           "DEVHOST_STATE_DIR": str(tmp_path),
           "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                                                    f"IngestionEndpoint=http://127.0.0.1:{ingestion.port}/;"
                                                    f"LiveEndpoint=http://127.0.0.1:{ingestion.port}/",
           "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "true",
           # Nothing leaves the machine: azure-functions-runtime (3.13) configures the distro with its defaults, live
           # metrics on (sent to the LiveEndpoint above), and the exporter's own statsbeat goes to a fixed Azure host.
           "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
           # exported quickly, so the test does not wait for the default 5 s and 60 s intervals
           "OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BLRP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "1000"}
    instance = DevHost(ROOT, env, tmp_path / "devhost.log")
    yield instance
    instance.stop()


def test_requests_dependencies_logs_and_metrics_as_application_insights_receives_them(
        azurite: Azurite, host: DevHost, ingestion: Ingestion, table_prefix: str) -> None:
    accounts = account_store(azurite.connection_string, table_prefix)
    account = new_account(accounts)
    token = new_token(accounts, account.id)
    tenant = f"{host.base_url}/api/scim/account/{account.id}"
    auth = {"Authorization": f"Bearer {token}", "Content-Type": SCIM}
    person = f"alice.{uuid.uuid4().hex[:8]}@contoso.test"
    sent = {  # what each request must become: (method, route) -> (resultCode, success)
        "created": requests.post(f"{tenant}/Users", json={"userName": person, "externalId": "ext-1"}, headers=auth,
                                 timeout=30),
        "found": requests.get(f"{tenant}/Users", params={"filter": f'userName eq "{person}"'}, headers=auth, timeout=30),
        "missing": requests.get(f"{tenant}/Users/{uuid.uuid4()}", headers=auth, timeout=30),
        "refused": requests.get(f"{tenant}/Users", headers={"Authorization": "Bearer scim.0123456789abcdef.x"},
                                timeout=30),
        "invalid": requests.post(f"{tenant}/Users", data=b'{"displayName": "no userName"}', headers=auth, timeout=30),
    }
    assert [r.status_code for r in sent.values()] == [201, 200, 404, 401, 400]

    deadline = time.monotonic() + 30
    while True:
        scim_requests = [e for e in ingestion.of("RequestData") if "/scim/account/" in e["data"]["baseData"]["name"]]
        metrics = {m["name"] for e in ingestion.of("MetricData") for m in e["data"]["baseData"]["metrics"]}
        if len(scim_requests) >= 5 and telemetry.METRIC_REQUESTS in metrics:
            break
        assert time.monotonic() < deadline, (len(scim_requests), metrics, host.log()[-3000:])
        time.sleep(0.3)

    by_code = {e["data"]["baseData"]["responseCode"]: e for e in scim_requests}
    assert set(by_code) == {"201", "200", "404", "401", "400"}
    assert by_code["201"]["data"]["baseData"]["success"] is True and by_code["200"]["data"]["baseData"]["success"] is True
    for failed in ("404", "401", "400"):  # every 4xx is unsuccessful (docs/operations.md says why 404 too)
        assert by_code[failed]["data"]["baseData"]["success"] is False
    assert by_code["201"]["data"]["baseData"]["name"] == "POST /api/scim/account/{accountId}/Users"
    assert by_code["404"]["data"]["baseData"]["name"] == "GET /api/scim/account/{accountId}/Users/{id}"

    created = by_code["201"]
    operation_id = created["tags"]["ai.operation.id"]
    assert operation_id and set(operation_id) != {"0"}
    dependencies = [e for e in ingestion.of("RemoteDependencyData") if e["tags"].get("ai.operation.id") == operation_id]
    assert dependencies, "the create's storage call shares its operation id"
    logs = [e for e in ingestion.of("MessageData") if e["tags"].get("ai.operation.id") == operation_id]
    assert any("Users.Create" in e["data"]["baseData"]["message"] for e in logs)
    assert {telemetry.METRIC_REQUESTS, telemetry.METRIC_DURATION} <= metrics

    everything = "\n".join(ingestion.raw)
    secret = token.split(".")[2]
    assert secret not in everything and token not in everything
    local_part = person.split("@")[0]
    assert local_part not in everything, [line for line in everything.splitlines() if local_part in line][:3]
    assert "ext-1" not in everything


def test_the_host_starts_clean_with_the_shipped_settings_and_no_reconcile_schedule(
        azurite: Azurite, table_prefix: str, tmp_path: Path) -> None:
    """local.settings.sample.json as shipped (telemetry off until a connection string is set) and RECONCILE_SCHEDULE
    unset: no ERROR, and the reconcile timer is bound to its default schedule."""
    env = {"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix,
           "DEVHOST_STATE_DIR": str(tmp_path), "RECONCILE_SCHEDULE": ""}
    instance = DevHost(ROOT, env, tmp_path / "devhost.log")
    try:
        assert requests.get(f"{instance.base_url}/api/health", timeout=30).status_code in (200, 503)
        log = instance.wait_for_log("reconcile")
    finally:
        instance.stop()
    assert " ERROR " not in log, [line for line in log.splitlines() if " ERROR " in line]
    assert "reconcile (timerTrigger)" in log and "0 */30 * * * *" in log
