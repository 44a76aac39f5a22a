"""Storage's clock (shared/storage/clock.py): times come from storage's answers, not from this host's clock. The
samples here are written out (a monotonic clock the test moves); the faults tier runs it for real with hosts whose
clocks are ten minutes and one second off (tests/faults/test_clock_skew.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from azure.data.tables import TableServiceClient

from shared.storage.clients import CLIENT_OPTIONS
from shared.storage.clock import StorageClock, _etag_time, storage_clock
from tests.support.azurite import Azurite

MOMENT = datetime(2026, 12, 7, 23, 16, 12, 652552, tzinfo=UTC)
ETAG = "W/\"datetime'2026-12-07T23%3A16%3A12.6525523Z'\""


class Monotonic:
    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


def test_an_etag_gives_storage_time_to_100_nanoseconds() -> None:
    assert abs(_etag_time(ETAG) - MOMENT.timestamp()) < 1e-6  # type: ignore[operator]
    assert _etag_time('W/"0x8DC"') is None and _etag_time(None) is None and _etag_time("W/\"datetime'nonsense'\"") is None


def test_now_is_the_sample_advanced_by_the_monotonic_clock_not_the_host_clock() -> None:
    tick = Monotonic()
    clock = StorageClock(tick)
    clock.observe(999.99, 1000.01, ETAG, None)  # a 20 ms round trip around monotonic 1000.0
    tick.at = 1002.5
    assert abs((clock.now() - MOMENT).total_seconds() - 2.5) < 1e-6
    assert 0.0099 < clock.error_seconds < 0.011


def test_a_shorter_round_trip_wins_and_an_old_sample_gives_way() -> None:
    tick = Monotonic()
    clock = StorageClock(tick)
    clock.observe(999.9, 1000.1, ETAG, None)  # ± 100 ms
    clock.observe(999.9, 1000.2, "W/\"datetime'2026-12-07T23%3A16%3A13.0Z'\"", None)  # ± 150 ms: not taken
    tick.at = 1000.5
    assert abs((clock.now() - MOMENT).total_seconds() - 0.5) < 1e-6
    clock.observe(1000.49, 1000.51, "W/\"datetime'2026-12-07T23%3A16%3A20.0Z'\"", None)  # ± 10 ms: taken
    assert clock.now() == datetime(2026, 12, 7, 23, 16, 20, tzinfo=UTC)
    tick.at = 1000.5 + 3600  # an hour on, the sample's error has grown by 0.36 s: a ± 100 ms one replaces it
    clock.observe(tick.at - 0.1, tick.at + 0.1, "W/\"datetime'2026-12-07T23%3A16%3A30.0Z'\"", None)
    assert clock.now() == datetime(2026, 12, 7, 23, 16, 30, tzinfo=UTC)


def test_a_date_is_used_until_a_write_answers_and_never_after() -> None:
    tick = Monotonic()
    clock = StorageClock(tick)
    clock.observe(999.99, 1000.01, None, "Mon, 07 Dec 2026 23:16:12 GMT")
    assert abs((clock.now() - datetime(2026, 12, 7, 23, 16, 12, 500000, tzinfo=UTC)).total_seconds()) < 1e-6
    clock.observe(999.0, 1001.0, ETAG, None)  # ± 1 s, but a write's: preferred to any Date
    clock.observe(999.999, 1000.001, None, "Mon, 07 Dec 2026 23:16:40 GMT")
    assert abs((clock.now() - MOMENT).total_seconds()) < 1e-6


def test_the_first_now_without_a_write_probes_once_and_a_failing_probe_is_not_retried_at_once() -> None:
    tick = Monotonic()
    clock = StorageClock(tick)
    probes: list[float] = []

    def failing() -> None:
        probes.append(tick.at)
        raise ConnectionError("storage is out")

    clock.probe = failing
    before = datetime.now(UTC)
    assert clock.now() >= before  # nothing from storage at all: this host's clock
    clock.now()
    assert probes == [1000.0]
    tick.at += 31
    clock.probe = lambda: clock.observe(tick.at - 0.01, tick.at + 0.01, ETAG, None)
    assert abs((clock.now() - MOMENT).total_seconds()) < 1e-6


def test_the_response_hook_takes_the_time_of_writes_not_of_reads(storage: Azurite,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    service = TableServiceClient.from_connection_string(storage.connection_string, **CLIENT_OPTIONS)
    table = service.create_table_if_not_exists("clock" + datetime.now(UTC).strftime("%H%M%S%f"))
    table.upsert_entity({"PartitionKey": "p", "RowKey": "old"})
    seen: list[tuple[str | None, str | None]] = []
    monkeypatch.setattr(storage_clock, "observe", lambda sent, received, etag, date: seen.append((etag, date)))
    table.get_entity("p", "old")  # its answer's ETag is the time "old" was written: not storage's time now
    table.upsert_entity({"PartitionKey": "p", "RowKey": "new"})
    assert [etag is not None for etag, _ in seen] == [False, True]
    assert all(date for _, date in seen)
