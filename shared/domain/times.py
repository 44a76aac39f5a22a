"""How this service writes a moment: an RFC 3339 UTC time ending in `Z` (SCIM's dateTime, RFC 7643 §2.3.5), in
SCIM resources and in the management API alike."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def not_before(now: datetime, *earlier: datetime | None) -> datetime:
    """`now`, or the latest of `earlier` when this host's clock is behind the one that wrote it: a resource's
    lastModified never goes back, nor before its created, whichever instance writes (#39)."""
    return max([now, *(moment for moment in earlier if moment is not None)])
