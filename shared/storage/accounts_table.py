"""Accounts and tokens in Table Storage.

Layout (table `<prefix>accounts`): PartitionKey = account id; RowKey `account` holds the account,
RowKey `token:<key id>` one token (hash only). An account and its tokens share a partition, so one
account's token can never be found under another account's id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.domain.accounts import Account
from shared.domain.tokens import TokenRecord
from shared.storage.keys import rows_with_prefix
from shared.storage.tables import ACCOUNTS, Tables

ACCOUNT_ROW = "account"
TOKEN_ROW_PREFIX = "token:"


class AccountExists(Exception):
    pass


class AccountNotFound(Exception):
    pass


def _account_from(entity: dict[str, Any]) -> Account:
    features = entity.get("Features") or ""
    return Account(
        id=entity["PartitionKey"],
        name=entity.get("DisplayName") or entity["PartitionKey"],
        notification_email=entity.get("NotificationEmail") or None,
        features=frozenset(f for f in features.split(",") if f),
        created=entity.get("Created"),
    )


def _account_entity(account: Account) -> dict[str, Any]:
    return {
        "PartitionKey": account.id,
        "RowKey": ACCOUNT_ROW,
        "DisplayName": account.name,
        "NotificationEmail": account.notification_email or "",
        "Features": ",".join(sorted(account.features)),
        "Created": account.created,
    }


def _token_from(entity: dict[str, Any]) -> TokenRecord:
    return TokenRecord(
        account_id=entity["PartitionKey"],
        key_id=entity["RowKey"][len(TOKEN_ROW_PREFIX):],
        hash=entity["Hash"],
        scope=entity["Scope"],
        created=entity["Created"],
        expires=entity.get("Expires"),
        revoked=entity.get("Revoked"),
        integration=entity.get("Integration") or "current",
        idp=entity.get("Idp") or "entra",
    )


class AccountStore:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables

    @property
    def _table(self) -> Any:
        return self._tables.get(ACCOUNTS)

    def create(self, account: Account) -> None:
        """Raises AccountExists when the id is taken."""
        from azure.core.exceptions import ResourceExistsError

        try:
            self._table.create_entity(_account_entity(account))
        except ResourceExistsError:
            raise AccountExists(account.id) from None

    def get(self, account_id: str) -> Account | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _account_from(self._table.get_entity(account_id, ACCOUNT_ROW))
        except ResourceNotFoundError:
            return None

    def update(self, account: Account) -> None:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            self._table.update_entity(_account_entity(account), mode=UpdateMode.REPLACE)
        except ResourceNotFoundError:
            raise AccountNotFound(account.id) from None

    def all(self) -> list[Account]:
        rows = self._table.query_entities("RowKey eq @row", parameters={"row": ACCOUNT_ROW})
        return sorted((_account_from(e) for e in rows), key=lambda a: a.id)

    def add_token(self, record: TokenRecord) -> None:
        entity: dict[str, Any] = {
            "PartitionKey": record.account_id,
            "RowKey": TOKEN_ROW_PREFIX + record.key_id,
            "Hash": record.hash,
            "Scope": record.scope,
            "Created": record.created,
            "Integration": record.integration,
            "Idp": record.idp,
        }
        if record.expires:
            entity["Expires"] = record.expires
        self._table.create_entity(entity)

    def get_token(self, account_id: str, key_id: str) -> TokenRecord | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _token_from(self._table.get_entity(account_id, TOKEN_ROW_PREFIX + key_id))
        except ResourceNotFoundError:
            return None

    def integrations(self, account_id: str, now: datetime) -> set[str]:
        """The integrations that have a usable SCIM token: an integration exists while it can provision."""
        return {t.integration for t in self.list_tokens(account_id) if t.is_usable("scim", now)}

    def list_tokens(self, account_id: str) -> list[TokenRecord]:
        rows = rows_with_prefix(self._table, account_id, TOKEN_ROW_PREFIX)
        return sorted((_token_from(e) for e in rows), key=lambda t: t.created)

    def revoke_token(self, account_id: str, key_id: str, now: datetime) -> bool:
        """Marks the token revoked; False when no such token exists for this account."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            self._table.update_entity(
                {"PartitionKey": account_id, "RowKey": TOKEN_ROW_PREFIX + key_id, "Revoked": now},
                mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            return False
        return True
