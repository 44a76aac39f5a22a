"""How this service writes a moment: an RFC 3339 UTC time ending in `Z` (SCIM's dateTime, RFC 7643 §2.3.5), in
SCIM resources and in the management API alike."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
