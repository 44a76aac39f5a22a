from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.azurite import Azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    """One private Azurite (table + queue) for the whole session."""
    instance = Azurite(tmp_path_factory.mktemp("azurite"))
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
def table_prefix() -> str:
    """Fresh table names for one test."""
    return "t" + uuid.uuid4().hex[:12]


def unique_id(prefix: str = "acct") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def tmp_logs(tmp_path: Path) -> Path:
    return tmp_path
