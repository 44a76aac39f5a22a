"""local.settings.sample.json documents every app setting, and every documented setting exists."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = json.loads((ROOT / "local.settings.sample.json").read_text())
SETTING_READ = re.compile(r"""(?:env|environ)\.get\(\s*(?:f?["'])([A-Za-z_][A-Za-z0-9_]*)|_int\(env,\s*["']([A-Z_]+)["']""")


def test_every_value_has_documentation_and_every_documented_setting_has_a_value() -> None:
    assert set(SAMPLE["Values"]) == set(SAMPLE["Documentation"])
    assert all(len(text) > 20 for text in SAMPLE["Documentation"].values())


def test_every_setting_the_code_reads_is_in_the_sample() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "shared").rglob("*.py"))
    read = {a or b for a, b in SETTING_READ.findall(source)}
    read.discard("STORAGE_SETTING")
    documented = set(SAMPLE["Values"]) | {"AzureWebJobsStorage__accountName", "AzureWebJobsStorage__tableServiceUri",
                                          "AzureWebJobsStorage__queueServiceUri", "AzureWebJobsStorage__clientId",
                                          # the host's own override of host.json, read to know the attempt count
                                          "AzureFunctionsJobHost__extensions__queues__maxDequeueCount"}
    assert read <= documented, f"settings read but not documented: {sorted(read - documented)}"
    assert "SCIM_MAX_BODY_BYTES" in read  # the pattern really finds settings
