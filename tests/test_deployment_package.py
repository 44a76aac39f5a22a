"""A remote build installs requirements.txt into a clean folder and the host imports function_app from it:
do the same, so a missing runtime dependency (one only present through requirements-dev.txt) fails here."""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _funcignore(root: Path) -> Callable[[str, list[str]], set[str]]:
    """.funcignore with gitignore's anchoring: `/name` only at the root, `name` at any depth."""
    lines = [line.strip() for line in (root / ".funcignore").read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")] + ["*.pyc"]

    def ignore(directory: str, names: list[str]) -> set[str]:
        at_root = Path(directory).resolve() == root
        return {name for name in names for pattern in patterns
                if fnmatch.fnmatch(name, pattern.lstrip("/")) and (at_root or not pattern.startswith("/"))}
    return ignore


@pytest.mark.slow
def test_function_app_imports_from_requirements_alone(tmp_path: Path) -> None:
    packages = tmp_path / "python_packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--target", str(packages), "-r", str(ROOT / "requirements.txt")], check=True)
    app = tmp_path / "app"
    shutil.copytree(ROOT, app, ignore=_funcignore(ROOT))
    assert not (app / "tests").exists() and not (app / "devhost").exists() and not (app / "manage.py").exists()
    assert (app / "scim_handlers" / "directory_api.py").exists() and (app / "host.json").exists()
    # -S: no site-packages of this interpreter, only the stdlib, the app and what requirements.txt installed.
    script = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import function_app; "
              "print(len(function_app.app.get_functions()))")
    result = subprocess.run([sys.executable, "-S", "-c", script, str(app), str(packages)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 0
