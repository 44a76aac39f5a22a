"""Storage's clock: what time it is according to Table Storage, so that no time this service records depends on the
host's wall clock (#39). Several instances write the activity log, `meta.created` and `meta.lastModified`; if each
used its own clock, one host running ten minutes behind would list its records in the wrong place and make
resources look modified before they were created.

Every write Table Storage applies answers with an ETag carrying the entity's new server-side Timestamp to 100 ns
(`W/"datetime'2026-12-07T23%3A14%3A35.1234567Z'"`), and every answer carries a `Date` to the second. The storage
clients' response hook (roundtrips.py) hands each answer here with this host's monotonic clock at the moment the
request left and the moment its answer came: storage's time then lies between the two, so a sample is good to half
its round trip. `now()` is the best sample advanced by the monotonic clock since it was taken; a sample's error
grows with its age (monotonic clocks drift a little), so a fresher one with a short round trip replaces it. The
host's wall clock is read only before any answer from storage has come back at all.

The first `now()` of a process with no write's sample yet makes one write of its own (a row of its own in the
positions table, `~` / `clock`), once: a Date alone is only good to a second.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import unquote

log = logging.getLogger("scim.storage")

DRIFT = 1e-4
"""How fast a sample is assumed to go stale: 100 µs a second, far more than a quartz clock drifts."""
PROBE_AGAIN_SECONDS = 30.0


class StorageClock:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        self._at: float | None = None
        """The best sample: storage's time (seconds since the epoch) at monotonic moment `_taken`, ± `_error`."""
        self._taken = 0.0
        self._error = float("inf")
        self._precise = False
        """A write's Timestamp has been seen (not only a Date)."""
        self._probed_at: float | None = None
        self.probe: Callable[[], None] | None = None
        """Makes one write whose answer lands here (set by the app's services); used when no write has yet."""

    def observe(self, sent: float, received: float, etag: str | None, date: str | None) -> None:
        """An answer from storage: `sent` and `received` on this host's monotonic clock; `etag` only of a write's
        answer (a read's ETag carries the time the entity was last written)."""
        stamp = _etag_time(etag)
        if stamp is not None:
            self._offer(stamp, sent, received, precise=True)
        elif date and not self._precise:  # once a write has answered, a Date is never taken: not parsed either
            try:  # a Date is truncated to the second: storage's time was in [Date, Date + 1 s) between the two
                seconds = parsedate_to_datetime(date).timestamp()
            except (TypeError, ValueError):
                return
            self._offer(seconds + 0.5, sent - 0.5, received + 0.5, precise=False)

    def _offer(self, server: float, sent: float, received: float, precise: bool) -> None:
        middle = (sent + received) / 2
        error = max(received - sent, 0.0) / 2
        with self._lock:
            if self._precise and not precise:
                return  # a second's Date against a write's Timestamp: the write's stays
            current = self._error + DRIFT * max(middle - self._taken, 0.0)
            if self._at is None or error < current or precise and not self._precise:
                self._at, self._taken, self._error = server, middle, error
                self._precise = self._precise or precise

    def now(self) -> datetime:
        """Storage's time now; one write of its own the first time in a process if no write has answered yet."""
        if not self._precise and self.probe is not None:
            self._probe_once()
        with self._lock:
            at, taken = self._at, self._taken
        if at is None:
            return datetime.now(UTC)  # storage has not answered at all yet (it is out): this host's clock
        return datetime.fromtimestamp(at, UTC) + timedelta(seconds=self._monotonic() - taken)

    def _probe_once(self) -> None:
        """One probe at a time, and none within PROBE_AGAIN_SECONDS of the last (storage may be out)."""
        with self._probe_lock:
            moment = self._monotonic()
            if self._precise or self._probed_at is not None and moment - self._probed_at < PROBE_AGAIN_SECONDS:
                return
            self._probed_at = moment
            try:
                assert self.probe is not None
                self.probe()
            except Exception as exc:
                log.warning("could not read storage's clock (times come from this host's until it answers): %s", exc)

    @property
    def error_seconds(self) -> float:
        """How far `now()` may be from storage's time, at most (telemetry and tests)."""
        with self._lock:
            return self._error + DRIFT * max(self._monotonic() - self._taken, 0.0)


def _etag_time(etag: str | None) -> float | None:
    """The Timestamp in a table entity's ETag (`W/"datetime'<RFC 3339, URL-encoded>'"`), as seconds since the epoch."""
    if not etag or "datetime'" not in etag:
        return None
    text = unquote(etag.split("datetime'", 1)[1].split("'", 1)[0])
    whole, _, fraction = text.rstrip("Z").partition(".")
    try:
        seconds = datetime.fromisoformat(whole).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None
    return seconds + (float("0." + fraction) if fraction.isdigit() else 0.0)


storage_clock = StorageClock()
"""The process's one storage clock (times are the same whichever table answered: one storage account)."""
