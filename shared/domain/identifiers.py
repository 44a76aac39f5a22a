"""Group identifiers by the Harness rule (reference §4.4 and the settled decisions in §5).

`.`, `-` and whitespace become `_`, accents are stripped, a leading run of digits, `-` and `$` is dropped, other
characters outside `[0-9A-Za-z_$ ]` are deleted; a name that starts with a digit gets `_` + 8 hex characters of
its SHA-256, and an identifier is at most 128 characters. `example-group` -> `example_group`,
`Dev-Team.Ops Group` -> `Dev_Team_Ops_Group`, `R&D (EU)` -> `RD_EU`, `123 Group` -> `_Group_<8 hex>`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator

MAX_LENGTH = 128


def _digest(display_name: str, length: int) -> str:
    return hashlib.sha256(display_name.encode("utf-8")).hexdigest()[:length]


def harness_identifier(display_name: str) -> str:
    text = display_name.strip().replace(".", "_").replace("-", "_")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).strip()
    text = re.sub(r"^[0-9\-$]+", "", text)
    text = re.sub(r"[^0-9a-zA-Z_$\s]", "", text)
    text = re.sub(r"\s", "_", text)
    trimmed = display_name.strip()
    if trimmed[:1].isdigit() and trimmed != text:
        return f"{text[:MAX_LENGTH - 9]}_{_digest(display_name, 8)}"
    return text[:MAX_LENGTH] or f"group_{_digest(display_name, 8)}"


def candidate_identifiers(display_name: str) -> Iterator[str]:
    """The Harness identifier, then (when it is taken, by another group whose name normalises the same or by a
    native group) the same with a short suffix derived from the name, then numbered: deterministic for a name."""
    base = harness_identifier(display_name)
    yield base
    suffixed = f"{base[:MAX_LENGTH - 7]}_{_digest(display_name, 6)}"
    yield suffixed
    for n in range(2, 1000):
        yield f"{suffixed[:MAX_LENGTH - len(str(n)) - 1]}_{n}"
