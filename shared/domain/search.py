"""What the console's search finds, and how text is compared: by the start of a term, any case, any accent.

A user is found by the start of its userName, of any of its emails, of its full name or of any word of it, or of
its externalId; a group by the start of its name, of any word of it, or of its externalId. Terms and queries are
folded the same way before they are compared: Unicode compatibility decomposition (NFKD), combining marks dropped,
case folded, runs of white space made one space. So "jose" finds "José Ñúñez" and "nunez" finds him too, "STRASSE"
finds "straße" (casefold), and "ｊｏｓｅ" (full width) finds "jose". Only the first `MAX_TERM_CHARACTERS` characters
of a term are kept: a query longer than that matches no more than its start does.

The storage keeps one index row per (term, resource), written in the resource's own transaction, so a search reads
the index rows that start with the query, never the account.
"""

from __future__ import annotations

import unicodedata
from typing import Any

MAX_TERM_CHARACTERS = 64
MAX_EMAILS = 5
MAX_WORDS = 4
SEARCH_LIMIT = 10_000
"""Index rows one search reads at most (10 storage requests): past it the total says "at least"."""


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())[:MAX_TERM_CHARACTERS]


def _names(attributes: dict[str, Any]) -> list[str]:
    """displayName, name.formatted and "givenName familyName": what the console shows as the full name, whichever
    the identity provider sent."""
    names = [attributes.get("displayName")]
    name = attributes.get("name")
    if isinstance(name, dict):
        names.append(name.get("formatted"))
        names.append(" ".join(p for p in (name.get("givenName"), name.get("familyName")) if isinstance(p, str)))
    return [n for n in names if isinstance(n, str) and n.strip()]


def _name_terms(name: str) -> set[str]:
    folded = fold(name)
    return {folded, *folded.split(" ")[:MAX_WORDS]} if folded else set()


def user_terms(attributes: dict[str, Any]) -> set[str]:
    terms: set[str] = set()
    for key in ("userName", "externalId"):
        value = attributes.get(key)
        if isinstance(value, str):
            terms.add(fold(value))
    emails = attributes.get("emails")
    if isinstance(emails, list):
        for email in emails[:MAX_EMAILS]:
            if isinstance(email, dict) and isinstance(email.get("value"), str):
                terms.add(fold(email["value"]))
    for name in _names(attributes):
        terms |= _name_terms(name)
    return {t for t in terms if t}


def group_terms(attributes: dict[str, Any]) -> set[str]:
    terms = _name_terms(str(attributes.get("displayName") or ""))
    if isinstance(attributes.get("externalId"), str):
        terms.add(fold(attributes["externalId"]))
    return {t for t in terms if t}
