"""The dependency rule docs/architecture.md states: the domain depends on ports, never on storage or Azure."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = sorted((ROOT / "shared" / "domain").glob("*.py"))
FORBIDDEN = ("shared.storage", "azure", "scim_handlers")


def _imports(path: Path) -> list[str]:
    """Every module the file imports, at any depth (function-level imports included)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


def test_the_domain_package_is_found() -> None:
    assert len(DOMAIN) > 10 and any(path.name == "ports.py" for path in DOMAIN)


@pytest.mark.parametrize("path", DOMAIN, ids=lambda path: path.name)
def test_no_domain_module_imports_storage_or_azure(path: Path) -> None:
    offending = [name for name in _imports(path) if name.split(".")[0] == "azure"
                 or any(name == prefix or name.startswith(prefix + ".") for prefix in FORBIDDEN)]
    assert offending == [], f"{path.name} imports {offending}"
