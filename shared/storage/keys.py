"""Table keys built from user input. Keys forbid `/ \\ # ?` and control characters (U+0000-001F, U+007F-009F)
and are limited to 1 KiB, and userNames may contain any of them: such characters are %-escaped (and `%` and `'`
too, so the encoding is one-to-one), and a part that would still be long is replaced by its SHA-256."""

from __future__ import annotations

import hashlib

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
