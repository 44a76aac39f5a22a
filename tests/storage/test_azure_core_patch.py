"""The one private azure-core function this service replaces (`shared/storage/clients.py`): azure-core is pinned,
the replacement must be in place on that version, and an entity group transaction must go out byte for byte as
azure-core's own code would send it (ids and dates aside). An azure-core upgrade that changes the function's shape
fails here instead of silently changing what is sent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from azure.core.pipeline import _base

from shared.config import Settings
from shared.storage.clients import table_service
from shared.storage.tables import RESOURCES, Tables
from tests.support.azurite import Azurite

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def table(azurite: Azurite, table_prefix: str) -> Any:
    settings = Settings.from_env({"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": table_prefix})
    return Tables(table_service(settings), table_prefix).get(RESOURCES)


def test_the_patch_is_applied_on_the_pinned_azure_core(table: Any) -> None:
    pinned = re.search(r"^azure-core==(\S+)$", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned is not None and version("azure-core") == pinned.group(1)
    assert getattr(_base.Pipeline, "_scim_in_line", False) is True


def _sent_body(table: Any, partition: str) -> bytes:
    captured: list[bytes] = []

    def capture(request: Any) -> None:
        captured.append(bytes(request.http_request.body))

    table.submit_transaction([
        ("create", {"PartitionKey": partition, "RowKey": "a", "Text": "one"}),
        ("upsert", {"PartitionKey": partition, "RowKey": "b", "Number": 2}, {"mode": "merge"}),
        ("create", {"PartitionKey": partition, "RowKey": "c", "When": "2026-12-01T00:00:00Z"}),
    ], raw_request_hook=capture)
    [body] = captured
    body = re.sub(rb"(batch|changeset)_[0-9a-f-]{36}", rb"\1_ID", body)
    body = re.sub(rb"(x-ms-date|Date|x-ms-client-request-id): [^\r\n]+", rb"\1: X", body, flags=re.IGNORECASE)
    return body.replace(partition.encode(), b"PARTITION")


@pytest.fixture
def original_in_place() -> Iterator[None]:
    patched = _base.Pipeline._prepare_multipart_mixed_request
    _base.Pipeline._prepare_multipart_mixed_request = staticmethod(_base.Pipeline._scim_original)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        _base.Pipeline._prepare_multipart_mixed_request = staticmethod(patched)


def test_a_transaction_goes_out_exactly_as_azure_core_would_send_it(table: Any, request: pytest.FixtureRequest) -> None:
    in_line = _sent_body(table, "inline01")  # partitions of one length: Content-Length matches
    request.getfixturevalue("original_in_place")
    original = _sent_body(table, "original")
    assert b"changeset_ID" in in_line and in_line.count(b"Content-Type: application/http") == 3
    assert in_line == original
