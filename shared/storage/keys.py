"""Table keys built from user input. Keys forbid `/ \\ # ?` and control characters (U+0000-001F, U+007F-009F)
and are limited to 1 KiB, and userNames may contain any of them: such characters are %-escaped (and `%` and `'`
too, so the encoding is one-to-one), and a part that would still be long is replaced by its SHA-256. Rows sharing a
key prefix are read with one range query (`rows_with_prefix`), and index rows resolved to their resources here too."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from itertools import islice
from typing import Any

from shared.errors import NotFound

ISSUED_USER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""The ids this server gives users (str(uuid4())); anything else names no user, and costs no storage read."""
USER = "u:"
GROUP = "g:"


def user_key(user_id: str) -> str:
    return USER + user_id


def group_key(group_id: str) -> str:
    return GROUP + group_id


_ESCAPED = set("/\\#?%'") | {chr(c) for c in range(0x20)} | {chr(c) for c in range(0x7F, 0xA0)}
MAX_PART_BYTES = 400


def key_part(value: str) -> str:
    escaped = "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in value)
    if len(escaped.encode("utf-8")) > MAX_PART_BYTES:
        return "~" + hashlib.sha256(value.encode("utf-8")).hexdigest()
    return escaped


def upper_bound(prefix: str) -> str:
    """The smallest key greater than every key starting with `prefix` (for range queries)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def rows_with_prefix(table: Any, account_id: str, prefix: str, start: str | None = None, **options: Any) -> Any:
    """The account's rows whose RowKey starts with `prefix` (from the key `start` on, when given): one range query,
    parameterised, in key order (`options` go to query_entities: select, results_per_page)."""
    return table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
                                parameters={"pk": account_id, "lo": start or prefix, "hi": upper_bound(prefix)},
                                **options)


def index_page(table: Any, account_id: str, index_prefix: str, column: str, start: str | None, limit: int,
               read_many: Callable[[list[str]], list[Any]]) -> tuple[list[Any], str | None]:
    """A page of resources in the order of their index rows (`<index_prefix><name>`, `column` naming the resource)
    from the index key `start`, and the key of the next one: one key read of the index, then `read_many` (a
    resource deleted meanwhile is left out)."""
    rows = list(islice(rows_with_prefix(table, account_id, index_prefix, start, select=["RowKey", column],
                                        results_per_page=min(1000, limit + 1)), limit + 1))
    ids = [str(row[column]) for row in rows[:limit]]
    found = {item.id: item for item in read_many(ids)}
    return [found[i] for i in ids if i in found], (str(rows[limit]["RowKey"]) if len(rows) > limit else None)


def index_skip(table: Any, account_id: str, index_prefix: str, start: str | None, offset: int) -> str | None:
    """The index key `offset` rows after `start` (None: past the end), read as keys only (1,000 per round trip)."""
    rows = rows_with_prefix(table, account_id, index_prefix, start, select=["RowKey"], results_per_page=1000)
    return next((str(row["RowKey"]) for position, row in enumerate(rows) if position == offset), None)


def search_key(prefix: str, term: str, resource_id: str) -> str:
    """A search index row: `<prefix><term>:<id>`; `term` is already folded and short (shared/domain/search.py)."""
    return f"{prefix}{key_part(term)}:{resource_id}"


def written(row: dict[str, Any], search_prefix: str) -> tuple[Any, ...]:
    """The operation that writes an index row: name and externalId rows are created (a taken name fails the
    transaction); a search row is upserted (it names its resource, so whatever is there is the same row)."""
    return ("upsert", row, {"mode": "replace"}) if row["RowKey"].startswith(search_prefix) else ("create", row)


def search_ids(table: Any, account_id: str, prefix: str, query: str, column: str, limit: int) -> list[str]:
    """The distinct ids of the search rows whose term starts with `query` (folded), in term order, at most `limit`
    rows read (1,000 a round trip)."""
    lo = prefix + key_part(query)
    rows = table.query_entities("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi", select=[column],
                                results_per_page=1000, parameters={"pk": account_id, "lo": lo, "hi": upper_bound(lo)})
    found: dict[str, None] = {}
    for number, row in enumerate(rows):
        if number >= limit:
            break
        found[str(row[column])] = None
    return list(found)


def resolve_index(table: Any, account_id: str, prefix: str, column: str, read: Any, still_matches: Any) -> list[Any]:
    """The resources an index range (`<prefix><id>` rows whose `column` holds the id) points at, read with `read`
    (which raises NotFound for a resource deleted meanwhile) and kept only if `still_matches` them: an index row can
    briefly outlive its resource or its value, and reconcile removes such rows."""
    found = []
    for row in rows_with_prefix(table, account_id, prefix, select=[column]):
        try:
            resource = read(account_id, row[column])
        except NotFound:
            continue
        if still_matches(resource):
            found.append(resource)
    return found
