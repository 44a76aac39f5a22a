"""Entity tags as HTTP compares them (RFC 9110 §13.1): a header lists tags or `*`; weak comparison, since SCIM's
versions are weak (`W/"3"`)."""

from __future__ import annotations

from shared.errors import PreconditionFailed


def listed(header: str | None, current: str) -> bool:
    """Whether the If-Match / If-None-Match header names the current version (or is `*`)."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or any(t.removeprefix("W/") == current.removeprefix("W/") for t in tags)


def check_if_match(if_match: str | None, current: str) -> None:
    """RFC 7644 §3.14: a write with If-Match proceeds only if it names the current version (or `*`); else 412."""
    if if_match and not listed(if_match, current):
        raise PreconditionFailed(f"If-Match {if_match} does not match the current version {current}.")
