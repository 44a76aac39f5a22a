"""A remote build installs requirements.txt into a clean folder and the host imports function_app from it:
do the same, so a missing runtime dependency (one only present through requirements-dev.txt) fails here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_function_app_imports_from_requirements_alone(tmp_path: Path) -> None:
    packages = tmp_path / "python_packages"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--target", str(packages), "-r", str(ROOT / "requirements.txt")], check=True)
    app = tmp_path / "app"
    ignored = [line.strip() for line in (ROOT / ".funcignore").read_text().splitlines() if line.strip()]
    shutil.copytree(ROOT, app, ignore=shutil.ignore_patterns(*ignored, ".git*", "*.pyc"))
    assert not (app / "tests").exists() and not (app / "devhost").exists()
    # -S: no site-packages of this interpreter, only the stdlib, the app and what requirements.txt installed.
    script = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import function_app; "
              "print(len(function_app.app.get_functions()))")
    result = subprocess.run([sys.executable, "-S", "-c", script, str(app), str(packages)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) > 0
