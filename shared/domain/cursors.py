"""Cursors for RFC 9865 paging: opaque, bound to their account, resource type, query and page size, signed.

A cursor names where the next page starts (the id of its first resource, in the store's id order, which is Table
Storage's own key order: a page read from there costs one page of storage work wherever it is) and is signed with
HMAC-SHA256 under a key every instance shares (`PagePositions.signing_key`). So a cursor cannot be forged or altered
(`invalidCursor`), one account's or one query's cursor is refused by another (`invalidCursor`), a changed `count` is
`invalidCount`, and a cursor older than `CURSOR_TIMEOUT_SECONDS` is `expiredCursor`. Expiry reads the host's clock
against the issuing host's: a cursor lives a day, so a skew of minutes changes nothing that matters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import ExpiredCursor, InvalidCount, InvalidCursor

CURSOR_TIMEOUT_SECONDS = 86_400
MAX_CURSOR_CHARACTERS = 1_024
_SIGNATURE_BYTES = 16


def query_digest(resource_type: str, filter_text: str | None) -> str:
    """What a cursor and a remembered position are bound to: the resource type and the filter as sent."""
    return hashlib.sha256(f"{resource_type}\n{(filter_text or '').strip()}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Cursor:
    account_id: str
    query: str
    start: str
    count: int


class CursorSigner:
    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    def issue(self, cursor: Cursor) -> str:
        payload = json.dumps([cursor.account_id, cursor.query, cursor.start, cursor.count, int(self._clock())],
                             separators=(",", ":")).encode()
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def read(self, text: str, account_id: str, query: str, count: int) -> str:
        """The start id the cursor names, once it is proven to be this service's cursor for this account and query."""
        if len(text) > MAX_CURSOR_CHARACTERS or text.count(".") != 1:
            raise InvalidCursor("The cursor is not one this service issued: send nextCursor as it was received.")
        encoded, signature = text.split(".")
        try:
            payload, sent = _unb64(encoded), _unb64(signature)
        except (binascii.Error, ValueError):
            raise InvalidCursor("The cursor is not one this service issued: send nextCursor as it was received.") from None
        if not hmac.compare_digest(sent, self._sign(payload)):
            raise InvalidCursor("The cursor is not one this service issued: send nextCursor as it was received.")
        cursor_account, cursor_query, start, cursor_count, issued = json.loads(payload)
        if cursor_account != account_id or cursor_query != query:
            raise InvalidCursor("The cursor belongs to another account or query: keep every parameter but cursor the "
                                "same across pages, or start again without one.")
        if cursor_count != count:
            raise InvalidCount(f"count changed between pages ({cursor_count} when the cursor was issued, {count} now).")
        if self._clock() - issued > CURSOR_TIMEOUT_SECONDS:
            raise ExpiredCursor(f"The cursor is older than {CURSOR_TIMEOUT_SECONDS} seconds: start again without one.")
        return str(start)

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
