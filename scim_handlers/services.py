"""The process-wide services (settings, storage, authenticator), built on first use and reused across
invocations, as the Functions docs advise for SDK clients. Tests may install their own with `override`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from shared.config import Settings, get_settings
from shared.domain.auth import Authenticator
from shared.storage.accounts_table import AccountStore
from shared.storage.clients import table_service
from shared.storage.groups_table import TableGroupStore
from shared.storage.tables import Tables
from shared.storage.users_table import TableUserStore


@dataclass
class Services:
    settings: Settings
    tables: Tables
    accounts: AccountStore
    auth: Authenticator
    users: TableUserStore
    groups: TableGroupStore

    @classmethod
    def build(cls, settings: Settings) -> Services:
        # azure-core logs every HTTP request at INFO; on the host that would flood Application Insights.
        logging.getLogger("azure").setLevel(logging.WARNING)
        tables = Tables(table_service(settings), settings.table_prefix)
        accounts = AccountStore(tables)
        return cls(settings=settings, tables=tables, accounts=accounts,
                   auth=Authenticator(accounts, settings.auth_cache_seconds),
                   users=TableUserStore(tables), groups=TableGroupStore(tables))


_services: Services | None = None
_lock = threading.Lock()


def services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                _services = Services.build(get_settings())
    return _services


def override(replacement: Services | None) -> None:
    global _services
    _services = replacement
