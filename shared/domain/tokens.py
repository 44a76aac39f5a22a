"""Bearer tokens: minted at random, shown once, stored only as a SHA-256 hash under a key id.

A token reads `scim.<key id>.<secret>`. The key id locates the stored hash with one point read; the
secret carries 256 bits from `secrets`, so a fast hash is enough (no password-style stretching needed)
and the comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

SCOPES = ("scim", "admin")
INTEGRATIONS = ("current", "legacy")
"""Harness' NextGen (current) and FirstGen (legacy) app integrations: each a named set of provisioning tokens."""
IDPS = ("entra", "okta", "onelogin")
"""The identity provider a SCIM token is given to: the activity log and telemetry say which one made a change."""
TOKEN_PREFIX = "scim"
PREFIXES = (TOKEN_PREFIX, "oat")
"""Secret Tokens read `scim.<key id>.<secret>`; OAuth access tokens `oat.<key id>.<secret>` (both stored alike)."""


@dataclass(frozen=True)
class TokenRecord:
    account_id: str
    key_id: str
    hash: str
    scope: str
    created: datetime
    expires: datetime | None = None
    revoked: datetime | None = None
    integration: str = "current"
    idp: str = "entra"
    client_id: str = ""
    """An OAuth access token's client (shared/domain/oauth.py); empty for a Secret Token."""
    credential: str = ""
    """The credential an access token was issued through: a client secret's id, or `federated`."""

    def state(self, now: datetime) -> str:
        """`revoked`, `expired` or `active`, as operators see it."""
        if self.revoked:
            return "revoked"
        return "expired" if self.expires and self.expires <= now else "active"

    def is_usable(self, scope: str, now: datetime) -> bool:
        return (self.scope == scope and self.revoked is None
                and (self.expires is None or now < self.expires))


@dataclass(frozen=True)
class MintedToken:
    record: TokenRecord
    token: str
    """The token text: returned to the caller once, never stored."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def mint(account_id: str, scope: str, now: datetime, expires_in_days: int | None = None,
         integration: str = "current", idp: str = "entra") -> MintedToken:
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    if integration not in INTEGRATIONS:
        raise ValueError(f"unknown integration {integration!r}; use one of {', '.join(INTEGRATIONS)}")
    if idp not in IDPS:
        raise ValueError(f"unknown identity provider {idp!r}; use one of {', '.join(IDPS)}")
    if expires_in_days is not None and expires_in_days < 1:
        raise ValueError("--expires-in-days must be at least 1")
    key_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}.{key_id}.{secrets.token_urlsafe(32)}"
    expires = now + timedelta(days=expires_in_days) if expires_in_days else None
    record = TokenRecord(account_id, key_id, hash_token(token), scope, now, expires, integration=integration, idp=idp)
    return MintedToken(record, token)


def key_id_of(token: str) -> str | None:
    """The key id of a well-formed token, else None (malformed tokens are rejected without a lookup)."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] not in PREFIXES:
        return None
    key_id = parts[1]
    if len(key_id) != 16 or any(c not in "0123456789abcdef" for c in key_id):
        return None
    return key_id


def matches(record: TokenRecord, token: str) -> bool:
    return hmac.compare_digest(record.hash, hash_token(token))
