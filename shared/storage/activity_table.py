"""The provisioning activity log: a record per SCIM request (table `<prefix>activity`, PartitionKey = account id).

Records are written in the background: every half second, each account's new records go into one entity (a "page":
RowKey = inverted time of its newest record, so the newest pages come first, and `Oldest` = its oldest record's time,
so `until` selects the pages holding a record no later than it (a page can straddle it); the
records as JSON in Data0..). That is one plain upsert per account per flush, off the request path: recording adds
no round trip to a request and little CPU (a batch of one row per record cost more CPU than serving the requests,
in the Azure SDK's multipart parsing). Filters (outcome, resource id, exact times) are applied to the decoded
records. A crash can lose the last half second of records; the SCIM data itself is never at risk.

Refused authentications (401) are aggregated so a flood cannot push the provisioning records out of the log: per
account, presented key id and minute, the first refusal is recorded at once and the rest of that minute's become one
record with their count when the minute is over. Each flush also updates the hourly counts (activity_stats.py).
"""

from __future__ import annotations

import atexit
import base64
import heapq
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from shared import telemetry
from shared.domain import times
from shared.domain.activity import ActivityRecord
from shared.domain.jobs import SPILL_CHARACTERS, WriteActivity
from shared.storage.activity_stats import ActivityStats
from shared.storage.entities import pack_json, unpack
from shared.storage.tables import ACTIVITY, Tables
from shared.storage.transactions import MAX_TRANSACTION_OPERATIONS, storage_errors, submit

log = logging.getLogger("scim.activity")

_MAX_TICKS = 10**19
_PAGE_SPAN_TICKS = 3600 * 1_000_000
"""How far apart a page's newest and oldest records can be, at most (a writer's batch spans seconds; a minute's
aggregated refusals a minute): a cursor skips, by key, the pages newer than it by more than this."""
FLUSH_SECONDS = 0.5
PAGE_RECORDS = 400
"""Records per page entity at most (~500 characters each)."""
PAGE_CHARACTERS = 300_000
"""And at most this much JSON per page, well inside the 450K-character document limit: a group write's record lists
up to 100 user ids (~4 KB)."""
KINDS = ("provisioning", "audit", "all")


def of_kind(record: ActivityRecord, kind: str) -> bool:
    return kind == "all" or (kind == "audit") == record.is_audit


class RefusalGate:
    """Per (account, key id, minute): lets the first refused authentication through, counts the rest, and hands
    them back as one record once their minute is over."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str, datetime], tuple[ActivityRecord, int]] = {}
        self._lock = threading.Lock()

    def admit(self, account_id: str, entry: ActivityRecord) -> bool:
        """True: record it now; False: counted, recorded with its minute's others later."""
        minute = entry.time.replace(second=0, microsecond=0)
        key = (account_id, entry.actor, minute)
        with self._lock:
            if key not in self._held:
                self._held[key] = (entry, 0)
                return True
            first, more = self._held[key]
            self._held[key] = (first if more else entry, more + 1)
            return False

    def closed(self, now: datetime, everything: bool = False) -> list[tuple[str, ActivityRecord]]:
        """The aggregated records of minutes over before `now` (all of them with `everything`)."""
        done = []
        with self._lock:
            for key in [k for k in self._held if everything or k[2] + timedelta(minutes=1) <= now]:
                sample, more = self._held.pop(key)
                if more:
                    done.append((key[0], replace(
                        sample, count=more, invocation_id=f"refusals-{key[1] or 'nokey'}-{key[2]:%H%M}",
                        detail=f"{more} more refused authentication(s) with this key id in this minute "
                               f"(the first is recorded on its own). {sample.detail}".strip())))
        return done


def _ticks(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def row_key(moment: datetime, invocation_id: str) -> str:
    return f"{_MAX_TICKS - _ticks(moment):020d}-{invocation_id}"


WRITE_ATTEMPTS = 4


class ActivityLog:
    def __init__(self, tables: Tables, flush_seconds: float = FLUSH_SECONDS) -> None:
        self._tables = tables
        self.stats = ActivityStats(tables)
        self._refusals = RefusalGate()
        self._pending: queue.Queue[tuple[str, ActivityRecord, bool, bool]] = queue.Queue(maxsize=100_000)
        """(account, record, logged, counted): kept in the log, and added to the hourly counts."""
        self._flush_seconds = flush_seconds
        self._started = False
        self._lock = threading.Lock()
        self._unwritten = 0
        """Records queued or in a batch being written: `flush` waits for the writer's batch too."""
        self._written = threading.Condition()
        self.spill: Callable[[WriteActivity], None] | None = None
        """Where records go that storage would not take after WRITE_ATTEMPTS (the retry queue, set by the app)."""
        self._lost: dict[str, int] = {}
        """Records neither written nor spilled, per account: recorded as one audit record once storage takes writes."""

    def record(self, account_id: str, entry: ActivityRecord, logged: bool = True) -> None:
        """Non-blocking: queued for the background writer (dropped, with a warning, if the backlog is full). A record
        not `logged` is only counted (an admin's reads: when each token was last used, without filling the log)."""
        self._start()
        if entry.status == 401 and not self._refusals.admit(account_id, entry):
            logged = False  # counted now; logged with its minute's other refusals when the minute is over
        with self._written:
            self._unwritten += 1
        try:
            self._pending.put_nowait((account_id, entry, logged, True))
        except queue.Full:
            self._done(1)
            log.warning("activity backlog full; dropping the record of invocation %s", entry.invocation_id)

    def _done(self, records: int) -> None:
        with self._written:
            self._unwritten -= records
            self._written.notify_all()

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
            try:
                first = self._pending.get(timeout=5)
            except queue.Empty:
                self._write(self._closed_refusals())
                continue
            refusals = self._closed_refusals()
            threading.Event().wait(self._flush_seconds)  # let the batch fill
            queued = [first]
            while len(queued) < 10_000:
                try:
                    queued.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(queued + refusals)
            finally:
                self._done(len(queued))

    def flush(self, wait_seconds: float = 10.0) -> None:
        """Writes everything recorded so far, refusals counted in the current minute too, and waits (at most
        `wait_seconds`) for the batch the writer had already taken (at exit and by tests)."""
        refusals = self._closed_refusals(everything=True)
        queued: list[tuple[str, ActivityRecord, bool, bool]] = []
        while True:
            try:
                queued.append(self._pending.get_nowait())
            except queue.Empty:
                break
        try:
            self._write(queued + refusals)
        finally:
            self._done(len(queued))
        with self._written:
            self._written.wait_for(lambda: self._unwritten <= 0, timeout=wait_seconds)

    def _closed_refusals(self, everything: bool = False) -> list[tuple[str, ActivityRecord, bool, bool]]:
        """The minutes' aggregated refusals, to log (each was counted when it was refused)."""
        return [(account, entry, True, False) for account, entry in self._refusals.closed(times.now(), everything)]

    def _write(self, batch: list[tuple[str, ActivityRecord, bool, bool]]) -> None:
        if not batch and not self._lost:
            return
        by_account: dict[str, list[ActivityRecord]] = {}
        counted: dict[str, list[ActivityRecord]] = {}
        for account_id, entry, logged, counts in batch:
            if counts:
                counted.setdefault(account_id, []).append(entry)
            if logged:
                by_account.setdefault(account_id, []).append(entry)
        try:
            table = self._tables.get(ACTIVITY)
        except Exception as exc:
            log.warning("could not reach the activity table for %d record(s): %s", len(batch), exc)
            for account_id, entries in by_account.items():
                for page in _pages(sorted(entries, key=lambda e: e.time, reverse=True)):
                    self._spill(account_id, page)
            return
        for account_id, entries in by_account.items():
            entries.sort(key=lambda e: e.time, reverse=True)
            for page in _pages(entries):
                if not self._upsert(table, _page_entity(account_id, page)):
                    self._spill(account_id, page)
        for account_id, entries in counted.items():
            try:
                self.stats.add(account_id, entries)
            except Exception as exc:  # the hourly counts are a summary: the records themselves are kept above
                log.warning("could not count %d activity record(s) of account %s: %s", len(entries), account_id, exc)
        self._record_losses(table)

    def _upsert(self, table: Any, entity: dict[str, Any]) -> bool:
        """Up to WRITE_ATTEMPTS tries, pausing 0.5, 1, 2 s between them (the writer's own thread waits, not a request)."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                table.upsert_entity(entity)
                return True
            except Exception as exc:
                if attempt == WRITE_ATTEMPTS - 1:
                    log.warning("could not write activity page %s after %d attempts: %s", entity["RowKey"],
                                WRITE_ATTEMPTS, exc)
                    return False
                time.sleep(0.5 * 2 ** attempt)
        return False

    def _spill(self, account_id: str, page: list[tuple[ActivityRecord, str]]) -> None:
        """The page's records to the retry queue in messages of at most SPILL_CHARACTERS (a queue is another service
        than the tables); what cannot be queued either is counted as lost."""
        chunk: list[str] = []
        size = 0
        chunks: list[list[str]] = []
        for _, text in page:
            if chunk and size + len(text) > SPILL_CHARACTERS:
                chunks.append(chunk)
                chunk, size = [], 0
            chunk.append(text)
            size += len(text) + 1
        if chunk:
            chunks.append(chunk)
        for texts in chunks:
            try:
                if self.spill is None:
                    raise RuntimeError("no queue to spill to")
                self.spill(WriteActivity(account_id, "[" + ",".join(texts) + "]"))
                telemetry.activity_spilled_counter.add(len(texts))
            except Exception as exc:
                self.lost(account_id, len(texts), f"neither the table nor the queue took them: {exc}")

    def lost(self, account_id: str, count: int, reason: str) -> None:
        log.error("%d activity record(s) of account %s lost: %s", count, account_id, reason)
        telemetry.activity_lost_counter.add(count)
        with self._lock:
            self._lost[account_id] = self._lost.get(account_id, 0) + count

    def _record_losses(self, table: Any) -> None:
        """Each account's lost records, as one audit record in its log (written once storage takes writes again)."""
        with self._lock:
            lost, self._lost = self._lost, {}
        for account_id, count in lost.items():
            entry = ActivityRecord(
                time=times.now(), operation="Activity.RecordsLost", method="", resource_type="", resource_id="",
                external_id="", status=500, scim_type="", detail=f"{count} activity record(s) could not be written "
                "(storage and the retry queue refused them): the log has a gap here", duration_ms=0.0,
                invocation_id=uuid.uuid4().hex, integration="", queued=False, idp="", count=count)
            if not self._upsert(table, _page_entity(account_id, [(entry, json.dumps(_document(entry)))])):
                with self._lock:
                    self._lost[account_id] = self._lost.get(account_id, 0) + count

    def write_spilled(self, account_id: str, records: str) -> None:
        """A WriteActivity job: the records, written as one page (the same RowKey each delivery: idempotent)."""
        entries = sorted((_record(doc) for doc in json.loads(records)), key=lambda e: e.time, reverse=True)
        if not entries:
            return
        page = [(entry, json.dumps(_document(entry))) for entry in entries]
        self._tables.get(ACTIVITY).upsert_entity(_page_entity(account_id, page))

    @storage_errors
    def query(self, account_id: str, since: datetime | None, until: datetime | None, outcome: str | None,
              resource_id: str | None, count: int, cursor: str | None,
              operation: str | None = None, idp: str | None = None, kind: str = "all",
              about: Callable[[ActivityRecord], bool] | None = None,
              max_pages: int | None = None) -> tuple[list[ActivityRecord], str | None]:
        """Newest first, at most `count`; the returned cursor continues after the last record returned. `operation`
        is a prefix (`Manage.` for the admin audit, `Users.Create`); `kind` is provisioning, audit or all; `about`
        any other test a record must pass. With `max_pages`, at most that many pages are read: the cursor then
        continues after the last page read, so a search through a long log is bounded per request."""
        after = _decode_cursor(cursor)
        clauses = ["PartitionKey eq @pk"]
        parameters: dict[str, Any] = {"pk": account_id}
        if until is not None:  # pages holding a record no later than `until`: their oldest record is not after it
            # (`not (… gt …)` keeps pages written before `Oldest` existed: they are read and filtered here)
            clauses.append("not ( Oldest gt @until )")  # spaced: the SDK substitutes whitespace-delimited @names
            parameters["until"] = until
        if after is not None:  # pages that may hold a record after the cursor (older than it in the merged order)
            clauses.append("not ( Oldest gt @cursortime )")
            clauses.append("RowKey ge @skip")  # pages newer than it by more than a page can span are skipped by key
            parameters["cursortime"] = datetime.fromtimestamp(after[0] / 1_000_000, UTC)
            parameters["skip"] = f"{max(0, _MAX_TICKS - after[0] - _PAGE_SPAN_TICKS):020d}"
        rows = iter(self._tables.get(ACTIVITY).query_entities(" and ".join(clauses), parameters=parameters,
                                                              results_per_page=50))
        found: list[ActivityRecord] = []
        merged: list[tuple[int, str, ActivityRecord]] = []
        """Records read and not yet returned, as a heap newest first: pages of several instances overlap in time,
        so a record is returned only once no unread page can hold a newer one."""
        last: tuple[int, str] | None = None
        examined: tuple[int, str] | None = None
        """The last record taken from the heap (returned or filtered out): where a bounded read continues."""
        pages = 0
        upcoming = next(rows, None)
        while True:
            while upcoming is not None and (not merged or _newest_ticks(upcoming) >= -merged[0][0]):
                if max_pages is not None and pages == max_pages:  # bounded: continue from here on the next request
                    return found, _encode_cursor(*(examined or (_newest_ticks(upcoming), "")))
                records = [_record(r) for r in unpack(upcoming)]
                if since is not None and records and max(r.time for r in records) < since:
                    upcoming = None  # every later page is older
                    break
                for index, record in enumerate(records):
                    key = (_ticks(record.time), f"{record.invocation_id}|{upcoming['RowKey']}|{index:04d}")
                    if after is None or key[0] < after[0] or (key[0] == after[0] and key[1] > after[1]):
                        heapq.heappush(merged, (-key[0], key[1], record))
                pages += 1
                upcoming = next(rows, None)
            if not merged:
                return found, None
            negative, tiebreak, record = heapq.heappop(merged)
            if len(found) < count:
                examined = (-negative, tiebreak)
            if not _wanted(record, since, until, outcome, resource_id, operation) or idp and record.idp != idp \
                    or not of_kind(record, kind) or about is not None and not about(record):
                continue
            if len(found) == count:
                assert last is not None
                return found, _encode_cursor(*last)
            found.append(record)
            last = (-negative, tiebreak)

    def purge(self, account_id: str, before: datetime, limit: int = 10_000) -> int:
        """Deletes pages whose newest record is older than `before`."""
        table = self._tables.get(ACTIVITY)
        rows = table.query_entities("PartitionKey eq @pk and RowKey ge @lo",
                                    parameters={"pk": account_id, "lo": f"{_MAX_TICKS - _ticks(before):020d}"},
                                    select=["RowKey", "Count"], results_per_page=1000)
        keys, records = [], 0
        for row in rows:
            keys.append(row["RowKey"])
            records += int(row.get("Count", 0))
            if len(keys) >= limit:
                break
        for start in range(0, len(keys), MAX_TRANSACTION_OPERATIONS):
            submit(table, [("delete", {"PartitionKey": account_id, "RowKey": key})
                           for key in keys[start:start + MAX_TRANSACTION_OPERATIONS]])
        self.stats.purge(account_id, before)
        return records


def _pages(entries: list[ActivityRecord]) -> Iterator[list[tuple[ActivityRecord, str]]]:
    """The records with their JSON (serialised once: it sizes the page and is what the page stores), in pages of at
    most PAGE_RECORDS records and PAGE_CHARACTERS characters."""
    page: list[tuple[ActivityRecord, str]] = []
    size = 0
    for entry in entries:
        text = json.dumps(_document(entry), ensure_ascii=True, separators=(",", ":"))
        if page and (len(page) == PAGE_RECORDS or size + len(text) > PAGE_CHARACTERS):
            yield page
            page, size = [], 0
        page.append((entry, text))
        size += len(text)
    if page:
        yield page


def _wanted(record: ActivityRecord, since: datetime | None, until: datetime | None, outcome: str | None,
            resource_id: str | None, operation: str | None) -> bool:
    if since is not None and record.time < since or until is not None and record.time > until:
        return False
    if operation and not record.operation.startswith(operation):
        return False
    if outcome == "failure" and record.succeeded or outcome == "success" and not record.succeeded:
        return False
    return not resource_id or record.resource_id == resource_id


def _page_entity(account_id: str, page: list[tuple[ActivityRecord, str]]) -> dict[str, Any]:
    newest, oldest = page[0][0], page[-1][0]
    return {"PartitionKey": account_id, "RowKey": row_key(newest.time, newest.invocation_id), "Kind": "activity",
            "Oldest": oldest.time, "Count": len(page), "Failures": sum(1 for r, _ in page if not r.succeeded),
            **pack_json("[" + ",".join(text for _, text in page) + "]")}


def _document(entry: ActivityRecord) -> dict[str, Any]:
    return {"t": entry.time.isoformat(), "op": entry.operation, "m": entry.method, "rt": entry.resource_type,
            "id": entry.resource_id, "x": entry.external_id, "s": entry.status, "st": entry.scim_type,
            "d": entry.detail[:2000], "ms": round(entry.duration_ms, 1), "inv": entry.invocation_id,
            "i": entry.integration, "q": entry.queued, "idp": entry.idp, "ig": entry.ignored,
            "igi": list(entry.ignored_ids), "a": entry.actor, "n": entry.count, "ad": list(entry.added),
            "rm": list(entry.removed), "sc": list(entry.scopes)}


def _record(doc: dict[str, Any]) -> ActivityRecord:
    return ActivityRecord(time=datetime.fromisoformat(doc["t"]), operation=doc["op"], method=doc["m"],
                          resource_type=doc["rt"], resource_id=doc["id"], external_id=doc["x"], status=int(doc["s"]),
                          scim_type=doc["st"], detail=doc["d"], duration_ms=float(doc["ms"]), invocation_id=doc["inv"],
                          integration=doc["i"], queued=bool(doc["q"]), idp=doc.get("idp", "entra"),
                          ignored=int(doc.get("ig", 0)), ignored_ids=tuple(doc.get("igi", ())), actor=doc.get("a", ""),
                          count=int(doc.get("n", 1)), added=tuple(doc.get("ad", ())),
                          removed=tuple(doc.get("rm", ())), scopes=tuple(doc.get("sc", ())))


def _newest_ticks(row: Any) -> int:
    """A page's newest record's time, from its RowKey (the inverted time)."""
    return _MAX_TICKS - int(str(row["RowKey"])[:20])


def _encode_cursor(ticks: int, tiebreak: str) -> str:
    """The position after a record in the merged order: its time and its tie-break (invocation, page, index)."""
    return base64.urlsafe_b64encode(json.dumps([ticks, tiebreak]).encode()).decode()


def _decode_cursor(cursor: str | None) -> tuple[int, str] | None:
    if not cursor:
        return None
    try:
        ticks, tiebreak = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(ticks, int) or not isinstance(tiebreak, str):
            raise TypeError
        return ticks, tiebreak
    except (ValueError, TypeError):
        raise ValueError("cursor is not one this server issued") from None
