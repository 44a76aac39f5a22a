"""Django settings of the benchmark's durable peer (see the package docstring)."""

from __future__ import annotations

import os

SECRET_KEY = os.environ.get("PEER_SECRET_KEY", "bench-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django_scim", "bench.django_peer"]
MIDDLEWARE = ["bench.django_peer.auth.BearerToken"]
ROOT_URLCONF = "bench.django_peer.urls"
AUTH_USER_MODEL = "django_peer.User"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": os.environ.get("PEER_DATABASE", "peer.sqlite3"),
    # WAL + synchronous=FULL: a commit is fsynced before the answer; IMMEDIATE: writers queue instead of failing
    "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                "transaction_mode": "IMMEDIATE", "timeout": 30},
}}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
SCIM_SERVICE_PROVIDER = {
    "NETLOC": "127.0.0.1",
    "AUTHENTICATION_SCHEMES": [{"type": "oauthbearertoken", "name": "Bearer token", "description": "Static token"}],
    "GROUP_MODEL": "bench.django_peer.models.Group",
    "USER_FILTER_PARSER": "bench.django_peer.filters.UserFilterQuery",
    "GROUP_FILTER_PARSER": "bench.django_peer.filters.GroupFilterQuery",
}
