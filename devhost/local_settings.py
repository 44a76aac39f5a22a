"""local.settings.json and host.json, read the way `func start` reads them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any


def load_local_settings(app_dir: Path, environ: dict[str, str] | None = None) -> Path | None:
    """Copy `Values` of local.settings.json (else local.settings.sample.json) into the environment.

    Variables already set win, as with Core Tools, so `AzureWebJobsStorage` from the environment overrides
    the file. Returns the file used, if any.
    """
    env = os.environ if environ is None else environ
    for name in ("local.settings.json", "local.settings.sample.json"):
        path = app_dir / name
        if path.is_file():
            values = json.loads(path.read_text(encoding="utf-8")).get("Values", {})
            for key, value in values.items():
                env.setdefault(key, str(value))
            return path
    return None


HOST_OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


def load_host_json(app_dir: Path, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """host.json, with app settings `AzureFunctionsJobHost__section__key` overriding its values, as on the host."""
    env = os.environ if environ is None else environ
    path = app_dir / "host.json"
    host: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"version": "2.0"}
    for name, value in env.items():
        if not name.startswith(HOST_OVERRIDE_PREFIX):
            continue
        *sections, key = name[len(HOST_OVERRIDE_PREFIX):].split("__")
        node = host
        for section in sections:
            existing = next((k for k in node if k.lower() == section.lower()), section)
            node = node.setdefault(existing, {})
        node[next((k for k in node if k.lower() == key.lower()), key)] = value
    return host


_SETTING_REFERENCE = re.compile(r"%([^%]+)%")


def resolve(value: str, environ: dict[str, str] | None = None) -> str:
    """Replace `%Setting%` references (binding expressions over app settings) from the environment."""
    env = os.environ if environ is None else environ

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise KeyError(f"app setting {name!r} referenced as %{name}% is not set")
        return env[name]

    return _SETTING_REFERENCE.sub(lookup, value)


def timespan_seconds(value: str | None, default: float) -> float:
    """host.json TimeSpan `hh:mm:ss[.fff]` (or `d.hh:mm:ss`) in seconds."""
    if not value:
        return default
    days = 0
    if value.count(":") == 2 and "." in value.split(":")[0]:
        day_part, value = value.split(".", 1)
        days = int(day_part)
    hours, minutes, seconds = value.split(":")
    return days * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
