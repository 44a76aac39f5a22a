"""Accounts: the tenants of the service. Each has its own SCIM endpoint, tokens and data."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime

ACCOUNT_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

UPDATE_EMAILS_VIA_SCIM = "UPDATE_EMAILS_VIA_SCIM"
"""Harness' flag: when on, changes to a user's email identity (userName, emails) are applied."""

KNOWN_FEATURES = frozenset({UPDATE_EMAILS_VIA_SCIM})


class AccountError(ValueError):
    """Invalid account input; the message says what to fix."""


def is_valid_account_id(account_id: str) -> bool:
    return ACCOUNT_ID_PATTERN.fullmatch(account_id) is not None


def validate_account_id(account_id: str) -> str:
    if not is_valid_account_id(account_id):
        raise AccountError(f"invalid account id {account_id!r}: use 1-64 characters from A-Z a-z 0-9 _ -")
    return account_id


def validate_email(email: str) -> str:
    if not EMAIL_PATTERN.fullmatch(email):
        raise AccountError(f"invalid email address {email!r}")
    return email


def validate_feature(flag: str) -> str:
    if flag not in KNOWN_FEATURES:
        raise AccountError(f"unknown feature flag {flag!r}; known: {', '.join(sorted(KNOWN_FEATURES))}")
    return flag


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    notification_email: str | None
    features: frozenset[str] = field(default_factory=frozenset)
    created: datetime | None = None

    def has(self, flag: str) -> bool:
        return flag in self.features

    def with_changes(self, *, notification_email: str | None = None,
                     enable: tuple[str, ...] = (), disable: tuple[str, ...] = ()) -> Account:
        features = (self.features | {validate_feature(f) for f in enable}) - {validate_feature(f) for f in disable}
        email = validate_email(notification_email) if notification_email is not None else self.notification_email
        return replace(self, notification_email=email, features=frozenset(features))
