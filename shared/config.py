"""App settings, read once from the environment (Functions app settings / local.settings.json Values).

Every setting is documented in local.settings.sample.json; a test keeps the two in step.
Nothing here connects to anything: the Functions host imports the app to index it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.errors import ConfigurationError

STORAGE_SETTING = "AzureWebJobsStorage"


def _int(env: Mapping[str, str], key: str, default: int, minimum: int = 0) -> int:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"app setting {key} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"app setting {key} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    storage_connection_string: str | None
    """`AzureWebJobsStorage`: a connection string, including `UseDevelopmentStorage=true`."""
    storage_account_name: str | None
    """`AzureWebJobsStorage__accountName`: identity-based access when no connection string is set."""
    table_service_uri: str | None
    queue_service_uri: str | None
    storage_client_id: str | None
    table_prefix: str
    """Prefix of every table name, so several deployments (or test runs) can share a storage account."""
    max_body_bytes: int
    auth_cache_seconds: int
    page_size_default: int
    page_size_max: int
    notify_default_email: str | None
    notify_from: str
    notify_window_minutes: int
    notify_smtp_host: str | None
    notify_smtp_port: int
    notify_smtp_user: str | None
    notify_smtp_password: str | None
    notify_smtp_security: str
    notify_acs_connection_string: str | None
    reconcile_stale_minutes: int
    reconcile_sweep_hours: int
    """A full sweep of an account's rows at most this often (0: no wait), and only if something was written since the
    last one began."""
    retention_days: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        prefix = env.get("TABLE_PREFIX", "scim").strip() or "scim"
        if not (prefix.isascii() and prefix.isalnum() and prefix[0].isalpha() and len(prefix) <= 40):
            raise ConfigurationError("app setting TABLE_PREFIX must be 1-40 letters/digits starting with a letter")
        settings = cls(
            storage_connection_string=env.get(STORAGE_SETTING) or None,
            storage_account_name=env.get(f"{STORAGE_SETTING}__accountName") or None,
            table_service_uri=env.get(f"{STORAGE_SETTING}__tableServiceUri") or None,
            queue_service_uri=env.get(f"{STORAGE_SETTING}__queueServiceUri") or None,
            storage_client_id=env.get(f"{STORAGE_SETTING}__clientId") or None,
            table_prefix=prefix,
            max_body_bytes=_int(env, "SCIM_MAX_BODY_BYTES", 1_048_576, minimum=1024),
            auth_cache_seconds=_int(env, "AUTH_CACHE_SECONDS", 30),
            page_size_default=_int(env, "SCIM_PAGE_SIZE_DEFAULT", 100, minimum=1),
            page_size_max=_int(env, "SCIM_PAGE_SIZE_MAX", 1000, minimum=1),
            notify_default_email=env.get("NOTIFY_DEFAULT_EMAIL") or None,
            notify_from=env.get("NOTIFY_FROM") or "scim-provisioning@localhost",
            notify_window_minutes=_int(env, "NOTIFY_WINDOW_MINUTES", 15),
            notify_smtp_host=env.get("NOTIFY_SMTP_HOST") or None,
            notify_smtp_port=_int(env, "NOTIFY_SMTP_PORT", 587, minimum=1),
            notify_smtp_user=env.get("NOTIFY_SMTP_USER") or None,
            notify_smtp_password=env.get("NOTIFY_SMTP_PASSWORD") or None,
            notify_smtp_security=(env.get("NOTIFY_SMTP_SECURITY") or "starttls").strip().lower(),
            notify_acs_connection_string=env.get("NOTIFY_ACS_CONNECTION_STRING") or None,
            reconcile_stale_minutes=_int(env, "RECONCILE_STALE_MINUTES", 10),
            reconcile_sweep_hours=_int(env, "RECONCILE_SWEEP_HOURS", 0),
            retention_days=_int(env, "RETENTION_DAYS", 30, minimum=1),
        )
        if settings.notify_smtp_security not in ("none", "starttls", "tls"):
            raise ConfigurationError("app setting NOTIFY_SMTP_SECURITY must be none, starttls or tls")
        if not (settings.storage_connection_string or settings.storage_account_name
                or settings.table_service_uri):
            raise ConfigurationError(
                f"no storage configured: set {STORAGE_SETTING} (a connection string) "
                f"or {STORAGE_SETTING}__accountName (identity-based access)")
        return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use (not at import)."""
    return Settings.from_env()


@lru_cache(maxsize=1)
def max_dequeue_count() -> int:
    """host.json `extensions.queues.maxDequeueCount` (an app setting
    `AzureFunctionsJobHost__extensions__queues__maxDequeueCount` overrides it, as on the host): how many attempts
    the host makes before it moves a message to the poison queue."""
    override = os.environ.get("AzureFunctionsJobHost__extensions__queues__maxDequeueCount")
    if override:
        return int(override)
    host = Path(__file__).resolve().parents[1] / "host.json"
    try:
        return int(json.loads(host.read_text())["extensions"]["queues"]["maxDequeueCount"])
    except (OSError, KeyError, ValueError):
        return 5
