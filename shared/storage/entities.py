"""JSON documents inside Table entities. A string property holds at most 64 KiB (32K UTF-16 units; Azurite enforces
it too), so a document is split over `Data0`, `Data1`, ... and an entity holds at most 1 MiB, so the document is
capped (PayloadTooLarge, before anything is written)."""

from __future__ import annotations

import json
from typing import Any

from shared.errors import PayloadTooLarge

CHUNK_CHARS = 30_000
MAX_CHUNKS = 15  # 450K characters: strings count as UTF-16 (2 bytes each) against the 1 MiB entity limit


def pack(document: Any) -> dict[str, str]:
    # ASCII only (\uXXXX escapes): a character is then one UTF-16 unit, so a chunk of CHUNK_CHARS characters is
    # 60,000 bytes whatever the text, inside the 64 KiB property limit
    return pack_json(json.dumps(document, ensure_ascii=True, separators=(",", ":")))


def pack_json(text: str) -> dict[str, str]:
    """`pack` of a document already serialised as `pack` serialises it (ASCII, compact)."""
    chunks = [text[i:i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)] or [""]
    if len(chunks) > MAX_CHUNKS:
        raise PayloadTooLarge(f"The resource is too large to store ({len(text)} characters).")
    return {f"Data{i}": chunk for i, chunk in enumerate(chunks)}


def unpack(entity: dict[str, Any]) -> Any:
    parts = []
    index = 0
    while f"Data{index}" in entity:
        parts.append(entity[f"Data{index}"])
        index += 1
    return json.loads("".join(parts)) if parts else {}
