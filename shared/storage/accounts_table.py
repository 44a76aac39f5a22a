"""Accounts and tokens in Table Storage.

Layout (table `<prefix>accounts`): PartitionKey = account id; RowKey `account` holds the account,
RowKey `token:<key id>` one token (hash only: a Secret Token, or an OAuth access token with its ClientId and
Credential), RowKey `client:<client id>` one OAuth client (its secrets' hashes, or its federation). An account and
its tokens share a partition, so one account's token can never be found under another account's id.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from shared.domain.accounts import Account
from shared.domain.oauth import ClientSecret, Federation, OAuthClient
from shared.domain.tokens import TokenRecord
from shared.storage.keys import rows_with_prefix, upper_bound
from shared.storage.tables import ACCOUNTS, Tables

ACCOUNT_ROW = "account"
TOKEN_ROW_PREFIX = "token:"
CLIENT_ROW_PREFIX = "client:"


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
        client_id=entity.get("ClientId") or "",
        credential=entity.get("Credential") or "",
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


def _client_entity(client: OAuthClient) -> dict[str, Any]:
    federation = client.federation
    revoked = {"Revoked": client.revoked} if client.revoked else {}
    return {
        "PartitionKey": client.account_id, "RowKey": CLIENT_ROW_PREFIX + client.client_id, "Idp": client.idp,
        "TokenMinutes": client.token_minutes, "Created": client.created, **revoked,
        "Secrets": json.dumps([[s.secret_id, s.hash, s.created.isoformat(), s.expires.isoformat(),
                                s.revoked.isoformat() if s.revoked else None] for s in client.secrets]),
        "Federation": json.dumps([federation.issuer, federation.subject, federation.audience, federation.jwks_uri])
        if federation else "",
    }


def _client_from(entity: dict[str, Any]) -> OAuthClient:
    def moment(text: str | None) -> datetime | None:
        return datetime.fromisoformat(text) if text else None

    federation = json.loads(entity["Federation"]) if entity.get("Federation") else None
    return OAuthClient(
        account_id=entity["PartitionKey"], client_id=entity["RowKey"][len(CLIENT_ROW_PREFIX):], idp=entity["Idp"],
        token_minutes=int(entity["TokenMinutes"]), created=entity["Created"], revoked=entity.get("Revoked"),
        last_used=entity.get("LastUsed"),
        secrets=tuple(ClientSecret(i, h, datetime.fromisoformat(c), datetime.fromisoformat(e), moment(r))
                      for i, h, c, e, r in json.loads(entity.get("Secrets") or "[]")),
        federation=Federation(*federation) if federation else None)


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
        if record.client_id:
            entity.update(ClientId=record.client_id, Credential=record.credential)
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
        """The account's Secret Tokens (OAuth access tokens are listed with their client)."""
        rows = rows_with_prefix(self._table, account_id, TOKEN_ROW_PREFIX)
        return sorted((_token_from(e) for e in rows if not e.get("ClientId")), key=lambda t: t.created)

    def purge_access_tokens(self, account_id: str, client_id: str, now: datetime) -> int:
        """Deletes the client's access tokens that have expired (done whenever it is issued a new one, so they
        never pile up: a client holds at most a lifetime's worth)."""
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and ClientId eq @client",
            parameters={"pk": account_id, "lo": TOKEN_ROW_PREFIX, "hi": upper_bound(TOKEN_ROW_PREFIX),
                        "client": client_id}, select=["RowKey", "Expires"])
        expired = [row["RowKey"] for row in rows if row.get("Expires") and row["Expires"] <= now]
        for row_key in expired:
            self._table.delete_entity(account_id, row_key)
        return len(expired)

    def get_client(self, account_id: str, client_id: str) -> OAuthClient | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _client_from(self._table.get_entity(account_id, CLIENT_ROW_PREFIX + client_id))
        except ResourceNotFoundError:
            return None

    def clients(self, account_id: str) -> list[OAuthClient]:
        rows = rows_with_prefix(self._table, account_id, CLIENT_ROW_PREFIX)
        return sorted((_client_from(e) for e in rows), key=lambda c: c.created)

    def save_client(self, client: OAuthClient) -> None:
        self._table.upsert_entity(_client_entity(client))

    def client_used(self, account_id: str, client_id: str, now: datetime) -> None:
        from azure.data.tables import UpdateMode

        self._table.update_entity({"PartitionKey": account_id, "RowKey": CLIENT_ROW_PREFIX + client_id,
                                   "LastUsed": now}, mode=UpdateMode.MERGE)

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
