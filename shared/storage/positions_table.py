"""Where index paging's next page starts, remembered for a while, and the key that signs cursors.

Table `<prefix>pagepositions`, PartitionKey = account id, RowKey = the query's digest (resource type and filter):
`Positions` holds the newest `KEPT` pairs (startIndex, id of the first resource of that page), `Updated` when it was
written. A client walking `startIndex=1, 101, 201, ...` (Okta, OneLogin, the scim2 tools) finds each page's start
here instead of counting its way to it. It is a hint, never a correctness matter: two walks of one query overwrite
each other's pairs (the loser's next page counts its way from the nearest pair left), and after writes the start of
page k is where it was when page k-1 was read, as index paging over changing data is anyway (RFC 7644 §3.4.2.4).

PartitionKey `~` (no account id has `~`), RowKey `cursor-key`: 32 random bytes, created once by the first instance
that needs them (insert-if-absent, so every instance signs with the same key) and read once per process.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from typing import Any

from shared.domain import times
from shared.storage.tables import PAGE_POSITIONS, Tables
from shared.storage.transactions import storage_errors

KEPT = 16
SERVICE = "~"
CURSOR_KEY = "cursor-key"


LOCAL_QUERIES = 1_024
"""Queries whose positions a process also keeps in memory: the instance that served page k usually serves k+1
(one storage read less); another instance reads the row."""


class TablePagePositions:
    def __init__(self, tables: Tables) -> None:
        self._tables = tables
        self._key: bytes | None = None
        self._lock = threading.Lock()
        self._local: OrderedDict[tuple[str, str], dict[int, str]] = OrderedDict()

    @property
    def _table(self) -> Any:
        return self._tables.get(PAGE_POSITIONS)

    @storage_errors
    def known(self, account_id: str, query: str, start_index: int) -> dict[int, str]:
        from azure.core.exceptions import ResourceNotFoundError

        with self._lock:
            local = self._local.get((account_id, query))
        if local is not None and start_index in local:
            return dict(local)
        try:
            row = self._table.get_entity(account_id, query)
        except ResourceNotFoundError:
            return {}
        return {int(start): str(at) for start, at in json.loads(row.get("Positions") or "[]")}

    @storage_errors
    def remember(self, account_id: str, query: str, known: dict[int, str], start_index: int, start_id: str) -> None:
        """Adds the pair to those read before (`known`), keeping the `KEPT` pairs nearest the walk's position."""
        pairs = dict(known)
        pairs[start_index] = start_id
        nearest = dict(sorted(pairs.items(), key=lambda pair: abs(pair[0] - start_index))[:KEPT])
        with self._lock:
            self._local[(account_id, query)] = nearest
            self._local.move_to_end((account_id, query))
            while len(self._local) > LOCAL_QUERIES:
                self._local.popitem(last=False)
        self._table.upsert_entity({"PartitionKey": account_id, "RowKey": query, "Updated": times.now(),
                                   "Positions": json.dumps(sorted(nearest.items()))})

    def touch_clock(self) -> None:
        """One write whose answer tells storage's time (clock.py): an unconditional upsert of one row that every
        process shares (nothing is read from it, and no two writes conflict)."""
        self._table.upsert_entity({"PartitionKey": SERVICE, "RowKey": "clock"})

    @storage_errors
    def signing_key(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    self._key = self._read_or_create_key()
        return self._key

    def _read_or_create_key(self) -> bytes:
        from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

        try:
            return bytes.fromhex(self._table.get_entity(SERVICE, CURSOR_KEY)["Key"])
        except ResourceNotFoundError:
            pass
        try:
            key = secrets.token_bytes(32)
            self._table.create_entity({"PartitionKey": SERVICE, "RowKey": CURSOR_KEY, "Key": key.hex()})
            return key
        except ResourceExistsError:  # another instance created it first: every instance signs with that one
            return bytes.fromhex(self._table.get_entity(SERVICE, CURSOR_KEY)["Key"])
