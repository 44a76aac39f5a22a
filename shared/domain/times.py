"""What time it is, and how this service writes a moment: an RFC 3339 UTC time ending in `Z` (SCIM's dateTime,
RFC 7643 §2.3.5), in SCIM resources and in the management API alike.

`now()` is the time every recorded moment takes (created, lastModified, activity records, token issue and expiry):
storage's clock once the app has set it (shared/storage/clock.py), so that instances whose clocks disagree still
write times in the order things happened. Durations are measured with the monotonic clock, never with this."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def _host_now() -> datetime:
    return datetime.now(UTC)


_source: Callable[[], datetime] = _host_now


def now() -> datetime:
    return _source()


def use_clock(source: Callable[[], datetime]) -> None:
    """Where `now()` reads the time from (the app's services set storage's clock; tests may keep the host's)."""
    global _source
    _source = source


def utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def utc_iso_or_none(moment: datetime | None) -> str | None:
    return utc_iso(moment) if moment else None


def not_before(now: datetime, *earlier: datetime | None) -> datetime:
    """`now`, or the latest of `earlier` when this host's clock is behind the one that wrote it: a resource's
    lastModified never goes back, nor before its created, whichever instance writes (#39)."""
    return max([now, *(moment for moment in earlier if moment is not None)])
