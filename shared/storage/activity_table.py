"""The provisioning activity log: one row per SCIM request (table `<prefix>activity`, PartitionKey = account id,
RowKey = inverted time + invocation id, so the newest come first and a time range is a key range).

Rows are written in the background, batched per account into entity group transactions, so recording adds no
round trip to the request itself (about one transaction per 100 requests, off the request path). The price is that
a crash can lose the last second of log rows: the log is for diagnosis, the SCIM data itself is never at risk.
"""

from __future__ import annotations

import atexit
import base64
import json
import logging
import queue
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from shared.storage.tables import ACTIVITY, Tables

log = logging.getLogger("scim.activity")

_MAX_TICKS = 10**19
FLUSH_SECONDS = 0.5


def _ticks(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def row_key(moment: datetime, invocation_id: str) -> str:
    return f"{_MAX_TICKS - _ticks(moment):020d}-{invocation_id}"


@dataclass(frozen=True)
class ActivityRecord:
    time: datetime
    operation: str
    method: str
    resource_type: str
    resource_id: str
    external_id: str
    status: int
    scim_type: str
    detail: str
    duration_ms: float
    invocation_id: str
    integration: str
    queued: bool
    """The request succeeded but part of its work was left to the retry queue."""

    @property
    def succeeded(self) -> bool:
        return self.status < 400

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["time"] = self.time.isoformat().replace("+00:00", "Z")
        return {"".join(w.title() if i else w for i, w in enumerate(k.split("_"))): v for k, v in data.items()}


class ActivityLog:
    def __init__(self, tables: Tables, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._tables = tables
        self._pending: queue.Queue[tuple[str, ActivityRecord]] = queue.Queue(maxsize=100_000)
        self._flush_seconds = flush_seconds
        self._started = False
        self._lock = threading.Lock()

    def record(self, account_id: str, entry: ActivityRecord) -> None:
        """Non-blocking: queued for the background writer (dropped, with a warning, if the backlog is full)."""
        self._start()
        try:
            self._pending.put_nowait((account_id, entry))
        except queue.Full:
            log.warning("activity backlog full; dropping the record of invocation %s", entry.invocation_id)

    def _start(self) -> None:
        if self._started:
            return
        with self._lock:
            if not self._started:
                threading.Thread(target=self._run, name="activity-writer", daemon=True).start()
                atexit.register(self.flush)
                self._started = True

    def _run(self) -> None:
        while True:
            first = self._pending.get()
            batch = [first]
            deadline = threading.Event()
            deadline.wait(self._flush_seconds)
            while len(batch) < 10_000:
                try:
                    batch.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def flush(self) -> None:
        """Writes everything queued so far (used at exit and by tests)."""
        batch = []
        while True:
            try:
                batch.append(self._pending.get_nowait())
            except queue.Empty:
                break
        self._write(batch)

    def _write(self, batch: list[tuple[str, ActivityRecord]]) -> None:
        if not batch:
            return
        by_account: dict[str, list[ActivityRecord]] = {}
        for account_id, entry in batch:
            by_account.setdefault(account_id, []).append(entry)
        try:
            table = self._tables.get(ACTIVITY)
        except Exception as exc:
            log.warning("could not write %d activity record(s): %s", len(batch), exc)
            return
        for account_id, entries in by_account.items():
            for start in range(0, len(entries), 100):
                operations = [("upsert", _entity(account_id, e)) for e in entries[start:start + 100]]
                try:
                    table.submit_transaction(operations)
                except Exception as exc:
                    log.warning("could not write %d activity record(s) of account %s: %s", len(operations), account_id, exc)

    def query(self, account_id: str, since: datetime | None, until: datetime | None, outcome: str | None,
              resource_id: str | None, count: int, cursor: str | None) -> tuple[list[ActivityRecord], str | None]:
        """Newest first; `cursor` continues a previous page."""
        clauses = ["PartitionKey eq @pk"]
        parameters: dict[str, Any] = {"pk": account_id}
        if until is not None:
            clauses.append("RowKey ge @lo")
            parameters["lo"] = f"{_MAX_TICKS - _ticks(until):020d}"
        if since is not None:
            clauses.append("RowKey lt @hi")
            parameters["hi"] = f"{_MAX_TICKS - _ticks(since) + 1:020d}"
        if outcome == "failure":
            clauses.append("Status ge @failed")
            parameters["failed"] = 400
        elif outcome == "success":
            clauses.append("Status lt @failed")
            parameters["failed"] = 400
        if resource_id:
            clauses.append("ResourceId eq @rid")
            parameters["rid"] = resource_id
        pages = self._tables.get(ACTIVITY).query_entities(" and ".join(clauses), parameters=parameters,
                                                          results_per_page=count).by_page(
            continuation_token=_decode_cursor(cursor))
        page: Any = next(pages, [])
        records = [_record(row) for row in page]
        token = getattr(pages, "continuation_token", None)
        return records, _encode_cursor(token)

    def purge(self, account_id: str, before: datetime, limit: int = 10_000) -> int:
        table = self._tables.get(ACTIVITY)
        rows = table.query_entities("PartitionKey eq @pk and RowKey ge @lo",
                                    parameters={"pk": account_id, "lo": f"{_MAX_TICKS - _ticks(before):020d}"},
                                    select=["RowKey"], results_per_page=1000)
        keys = []
        for row in rows:
            keys.append(row["RowKey"])
            if len(keys) >= limit:
                break
        for start in range(0, len(keys), 100):
            table.submit_transaction([("delete", {"PartitionKey": account_id, "RowKey": k}) for k in keys[start:start + 100]])
        return len(keys)


def _entity(account_id: str, entry: ActivityRecord) -> dict[str, Any]:
    return {"PartitionKey": account_id, "RowKey": row_key(entry.time, entry.invocation_id), "Time": entry.time,
            "Operation": entry.operation, "Method": entry.method, "ResourceType": entry.resource_type,
            "ResourceId": entry.resource_id, "ExternalId": entry.external_id, "Status": entry.status,
            "ScimType": entry.scim_type, "Detail": entry.detail[:2000], "DurationMs": round(entry.duration_ms, 1),
            "InvocationId": entry.invocation_id, "Integration": entry.integration, "Queued": entry.queued}


def _record(row: Any) -> ActivityRecord:
    moment = row["Time"]
    return ActivityRecord(time=moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC),
                          operation=row["Operation"], method=row.get("Method", ""), resource_type=row.get("ResourceType", ""),
                          resource_id=row.get("ResourceId", ""), external_id=row.get("ExternalId", ""),
                          status=int(row["Status"]), scim_type=row.get("ScimType", ""), detail=row.get("Detail", ""),
                          duration_ms=float(row.get("DurationMs", 0.0)), invocation_id=row.get("InvocationId", ""),
                          integration=row.get("Integration", ""), queued=bool(row.get("Queued", False)))


def _encode_cursor(token: Any) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def _decode_cursor(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError:
        raise ValueError("cursor is not one this server issued") from None
