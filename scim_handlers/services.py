"""The process-wide services (settings, storage, authenticator), built on first use and reused across
invocations, as the Functions docs advise for SDK clients. Tests may install their own with `override`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from shared import telemetry
from shared.config import Settings, get_settings, max_dequeue_count
from shared.domain import times
from shared.domain.auth import Authenticator
from shared.domain.jobs import POISON_QUEUE
from shared.domain.ports import AccessStore, FailureLog, GroupStore, PagePositions, UserStore
from shared.domain.reconcile import ReconcileContext
from shared.domain.retries import RetryContext
from shared.domain.work import JobQueue
from shared.federation import JwksVerifier
from shared.notifications.email import mailer_from
from shared.storage.access_table import TableAccessStore
from shared.storage.accounts_table import AccountStore
from shared.storage.activity_table import ActivityLog
from shared.storage.clients import table_service
from shared.storage.clock import storage_clock
from shared.storage.drift import TableDriftStore
from shared.storage.failures_table import FailureStore
from shared.storage.groups_table import TableGroupStore
from shared.storage.lease import LeaseStore
from shared.storage.positions_table import TablePagePositions
from shared.storage.queues import RetryQueue
from shared.storage.tables import Tables
from shared.storage.users_table import TableUserStore


@dataclass
class Services:
    settings: Settings
    tables: Tables
    accounts: AccountStore
    auth: Authenticator
    users: UserStore
    groups: GroupStore
    retry_queue: JobQueue
    failures: FailureLog
    activity: ActivityLog
    access: AccessStore
    positions: PagePositions
    federation: JwksVerifier

    def queue_depth(self, name: str = POISON_QUEUE) -> int | None:
        """Approximate number of messages in a queue (0 if it does not exist yet, None if unreachable)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return int(RetryQueue(self.settings, name).client.get_queue_properties().approximate_message_count)
        except ResourceNotFoundError:
            return 0
        except Exception:
            return None

    def reconcile_context(self) -> ReconcileContext:
        return ReconcileContext(accounts=self.accounts, drift=TableDriftStore(self.tables), lease=LeaseStore(self.tables),
                                retry=self.retry_context(), activity=self.activity,
                                stale_after=timedelta(minutes=self.settings.reconcile_stale_minutes),
                                retention=timedelta(days=self.settings.retention_days),
                                sweep_every=timedelta(hours=self.settings.reconcile_sweep_hours))

    def retry_context(self) -> RetryContext:
        return RetryContext(settings=self.settings, accounts=self.accounts, pending=self.groups.pending,
                            failures=self.failures, queue=self.retry_queue, mailer=mailer_from(self.settings),
                            max_attempts=max_dequeue_count(), activity=self.activity)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        # azure-core logs every HTTP request at INFO; on the host that would flood Application Insights.
        logging.getLogger("azure").setLevel(logging.WARNING)
        telemetry.install_personal_data_scrubber()
        tables = Tables(table_service(settings), settings.table_prefix)
        positions = TablePagePositions(tables)
        storage_clock.probe = positions.touch_clock
        times.use_clock(storage_clock.now)  # every recorded time is storage's, whichever instance records it (#39)
        accounts = AccountStore(tables)
        retry_queue = RetryQueue(settings)
        activity = ActivityLog(tables)
        activity.spill = retry_queue.enqueue  # records the table refuses go to the retry queue (another service)
        return cls(settings=settings, tables=tables, accounts=accounts,
                   auth=Authenticator(accounts, settings.auth_cache_seconds),
                   users=TableUserStore(tables), groups=TableGroupStore(tables),
                   retry_queue=retry_queue, failures=FailureStore(tables), activity=activity,
                   access=TableAccessStore(tables), positions=positions, federation=JwksVerifier())


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
