"""infra/ cannot be compiled here (the Bicep CLI is not in the registries these machines reach), so what can be
checked is checked as text: every app setting the app reads is deployed with its default, the identity's roles cover
every data-plane call the app and the host make, the parameters line up, and every alert docs/operations.md
recommends is a rule. docs/deploy.md says what was validated how."""

from __future__ import annotations

import json
import re
from pathlib import Path

from shared import telemetry

ROOT = Path(__file__).resolve().parents[1]
BICEP = (ROOT / "infra" / "main.bicep").read_text()
PARAMETERS = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
SAMPLE = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
NOT_AN_APP_SETTING_ON_FLEX = {"FUNCTIONS_WORKER_RUNTIME"}  # functionAppConfig.runtime there
IDENTITY_BASED = {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__credential", "AzureWebJobsStorage__clientId"}


def app_settings() -> dict[str, str]:
    block = BICEP[BICEP.index("var appSettings = {"):]
    block = block[:block.index("\n}\n")]
    return dict(re.findall(r"^  (\w+): (.+)$", block, re.MULTILINE))


def test_every_setting_the_app_reads_is_deployed_with_its_default() -> None:
    deployed = app_settings()
    expected = set(SAMPLE) - NOT_AN_APP_SETTING_ON_FLEX - {"AzureWebJobsStorage"} | IDENTITY_BASED
    assert set(deployed) == expected, (sorted(expected - set(deployed)), sorted(set(deployed) - expected))
    for name, value in deployed.items():
        literal = re.fullmatch(r"'([^']*)'", value)
        if literal and name in SAMPLE and name != "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY":
            assert literal.group(1) == SAMPLE[name], name
    assert deployed["PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY"] == "'true'"  # with the connection string below
    assert "appInsights.properties.ConnectionString" in deployed["APPLICATIONINSIGHTS_CONNECTION_STRING"]
    for secret in ("NOTIFY_SMTP_PASSWORD", "NOTIFY_ACS_CONNECTION_STRING"):
        assert "@Microsoft.KeyVault(" in deployed[secret], secret


def test_the_identity_can_make_every_data_plane_call_and_shared_keys_are_off() -> None:
    storage_code = "\n".join(p.read_text() for p in (ROOT / "shared" / "storage").glob("*.py"))
    roles = dict(re.findall(r"(\w+): '([0-9a-f-]{36})'", BICEP))
    granted = BICEP[BICEP.index("var identityRoles"):].split("\n")[0]
    needed = {"storageBlobDataOwner"}  # the host: leases, timer status, the deployment package
    if "azure.data.tables" in storage_code:
        needed.add("storageTableDataContributor")
    if "azure.storage.queue" in storage_code:
        needed.add("storageQueueDataContributor")
    assert needed == {name for name in roles if f"roles.{name}" in granted}
    assert roles["storageTableDataContributor"] == "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
    assert roles["storageQueueDataContributor"] == "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
    assert roles["storageBlobDataOwner"] == "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
    assert "allowSharedKeyAccess: false" in BICEP and "keyVaultReferenceIdentity: identity.id" in BICEP
    assert "AzureWebJobsStorage__credential: 'managedidentity'" in BICEP


def test_parameters_line_up() -> None:
    declared = {name: kind for name, kind, _ in re.findall(r"^param (\w+) (\w+)(.*)$", BICEP, re.MULTILINE)}
    assert set(PARAMETERS) <= set(declared), sorted(set(PARAMETERS) - set(declared))
    required = {name for name, rest in re.findall(r"^param (\w+) \w+(.*)$", BICEP, re.MULTILINE) if "=" not in rest}
    assert required <= set(PARAMETERS), sorted(required - set(PARAMETERS))
    for name in declared:
        assert len(re.findall(rf"\b{name}\b", BICEP)) > 1, f"param {name} is never used"
    azure_yaml = (ROOT / "azure.yaml").read_text()
    assert "module: main" in azure_yaml and "host: function" in azure_yaml
    service = re.search(r"^  (\w+):\n    project:", azure_yaml, re.MULTILINE)
    assert service is not None and f"'azd-service-name': '{service.group(1)}'" in BICEP
    assert "/infra" in (ROOT / ".funcignore").read_text()


def test_every_recommended_alert_is_a_rule_on_fields_the_app_records() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    table = operations[operations.index("### Recommended alerts"):]
    table = table[:table.index("\n### ")]
    rows = [re.sub(r"[^a-z]+", "-", line.split("|")[1].strip().lower()).strip("-")
            for line in table.splitlines() if line.startswith("| ") and not line.startswith(("| Alert", "| ---"))]
    rules = set(re.findall(r"name: '([a-z-]+)'\n    severity", BICEP)) | {"health"}
    assert rows and set(rows) == rules, (rows, sorted(rules))
    fields = set(re.findall(r'customDimensions\["([\w.]+)"\]', BICEP))
    known = telemetry.FIELDS | {"scim.reconcile.unrepairable"}
    assert fields <= known, sorted(fields - known)
    metric_names = set(re.findall(r'"(scim\.[a-z_.]+)"', BICEP)) - fields
    assert metric_names <= telemetry.METRICS, sorted(metric_names - telemetry.METRICS)


def test_azure_runs_the_python_and_worker_library_the_local_host_tests() -> None:
    """The deployed Python is the newest the project supports (scripts/find-python.sh tries it first), and on it the
    worker library Azure loads is the version requirements.txt pins: the one the local host invokes every function
    through (devhost/library_worker.py), so a runtime upgrade is a reviewed change, not a surprise."""
    [deployed] = re.findall(r"runtime: \{ name: 'python', version: '([\d.]+)' \}", BICEP)
    newest = re.search(r"for version in ([\d. ]+);", (ROOT / "scripts" / "find-python.sh").read_text())
    assert newest is not None and deployed == newest.group(1).split()[0] == "3.13"
    requirements = (ROOT / "requirements.txt").read_text()
    pinned = re.search(r'^azure-functions-runtime==([\d.]+); python_version >= "3\.13"$', requirements, re.MULTILINE)
    assert pinned is not None, "requirements.txt pins azure-functions-runtime for 3.13"
    assert f"azure-functions-runtime {pinned.group(1)}" in (ROOT / "docs" / "deploy.md").read_text()
