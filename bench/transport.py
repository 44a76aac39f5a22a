"""`python -m bench.transport`: what one storage call costs this process in CPU, by client stack, against a private
Azurite: the app's (the sync SDK on `shared/storage/transport.py`, urllib3's pool), the one it replaced (the sync SDK
on azure-core's RequestsTransport with a pooled requests session) and the async SDK (`azure.data.tables.aio` on
aiohttp, whose HTTP parser is C), each driving the same calls at the same concurrency. The sync transactions are the
app's (`transactions.submit`, the changeset codec); the async one is the SDK's own. aiohttp is a dev dependency
only (requirements-dev.txt), not the app's.

Per stack and call kind it prints the client process's CPU ms per call and calls per second. Azurite's own CPU is
measured apart. It answers the performance issue's question "would async handlers with the async SDK measure
better on this workload" without rewriting the app first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.__main__ import cpu_seconds  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.storage import transactions  # noqa: E402
from shared.storage.clients import CLIENT_OPTIONS, table_service  # noqa: E402
from tests.support.azurite import Azurite  # noqa: E402

KINDS = ("point read", "upsert", "31-operation transaction")
MEMBERS_PER_TRANSACTION = 31  # a group PATCH of 10 members: 3 operations each, and the group's row


def _entity(partition: str, row: str) -> dict[str, Any]:
    return {"PartitionKey": partition, "RowKey": row, "Kind": "member", "Display": "A Person's display name"}


def _transaction(partition: str, call: int) -> list[tuple[Any, ...]]:
    return [("upsert", _entity(partition, f"t{call}:{i}")) for i in range(MEMBERS_PER_TRANSACTION)]


class Measured:
    """CPU of this process and of Azurite, and wall time, from creation to `figures`."""

    def __init__(self, azurite_pid: int) -> None:
        self.azurite_pid = azurite_pid
        self.own, self.other = cpu_seconds(os.getpid()), cpu_seconds(azurite_pid)
        self.started = time.perf_counter()

    def figures(self, calls: int) -> dict[str, float]:
        seconds = time.perf_counter() - self.started
        return {"client_cpu_ms_per_call": round((cpu_seconds(os.getpid()) - self.own) * 1000 / calls, 2),
                "azurite_cpu_ms_per_call": round((cpu_seconds(self.azurite_pid) - self.other) * 1000 / calls, 2),
                "calls_per_second": round(calls / seconds, 1)}


def sync_stack(connection_string: str, table_name: str, calls: int, concurrency: int,
               azurite_pid: int) -> dict[str, dict[str, float]]:
    table = table_service(Settings.from_env({"AzureWebJobsStorage": connection_string})).get_table_client(table_name)
    return _sync_calls(table, calls, concurrency, azurite_pid)


def requests_stack(connection_string: str, table_name: str, calls: int, concurrency: int,
                   azurite_pid: int) -> dict[str, dict[str, float]]:
    """The app's clients as they were before `shared/storage/transport.py`: azure-core's RequestsTransport on one
    pooled requests session (trust_env off, urllib3 retries off, 32 connections)."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from azure.data.tables import TableServiceClient
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.trust_env = False
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=Retry(
        total=False, redirect=False, raise_on_status=False)))
    transport = RequestsTransport(session=session, session_owner=False, use_env_settings=False,
                                  connection_timeout=5, read_timeout=20)
    options = {**CLIENT_OPTIONS, "transport": transport}
    table = TableServiceClient.from_connection_string(connection_string, **options).get_table_client(table_name)
    return _sync_calls(table, calls, concurrency, azurite_pid)


def _sync_calls(table: Any, calls: int, concurrency: int, azurite_pid: int) -> dict[str, dict[str, float]]:
    table.upsert_entity(_entity("p", "read-me"))
    work: dict[str, Callable[[int], Any]] = {
        "point read": lambda i: table.get_entity("p", "read-me"),
        "upsert": lambda i: table.upsert_entity(_entity("p", f"s{i}")),
        "31-operation transaction": lambda i: transactions.submit(table, _transaction(f"sync{i % 8}", i)),
    }
    results = {}
    with ThreadPoolExecutor(concurrency) as pool:
        for kind in KINDS:
            count = calls if kind != "31-operation transaction" else calls // 10
            measured = Measured(azurite_pid)
            list(pool.map(work[kind], range(count)))
            results[kind] = measured.figures(count)
    return results


def async_stack(connection_string: str, table_name: str, calls: int, concurrency: int,
                azurite_pid: int) -> dict[str, dict[str, float]]:
    from azure.data.tables.aio import TableClient

    async def main() -> dict[str, dict[str, float]]:
        async with TableClient.from_connection_string(connection_string, table_name) as table:
            await table.upsert_entity(_entity("p", "read-me"))
            work: dict[str, Callable[[int], Any]] = {
                "point read": lambda i: table.get_entity("p", "read-me"),
                "upsert": lambda i: table.upsert_entity(_entity("p", f"a{i}")),
                "31-operation transaction": lambda i: table.submit_transaction(_transaction(f"async{i % 8}", i)),
            }
            results = {}
            for kind in KINDS:
                count = calls if kind != "31-operation transaction" else calls // 10
                gate = asyncio.Semaphore(concurrency)

                async def one(i: int, call: Callable[[int], Any] = work[kind],
                              gate: asyncio.Semaphore = gate) -> None:
                    async with gate:
                        await call(i)

                measured = Measured(azurite_pid)
                await asyncio.gather(*(one(i) for i in range(count)))
                results[kind] = measured.figures(count)
            return results

    return asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transport", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not 10 <= args.calls <= 20_000 or not 1 <= args.concurrency <= 64 or not 1 <= args.rounds <= 10:
        parser.error("bounded: 10 <= calls <= 20000, 1 <= concurrency <= 64, 1 <= rounds <= 10")
    stacks = {"sync, urllib3 (the app's)": sync_stack, "sync, requests (until 2026-12)": requests_stack,
              "async (aiohttp)": async_stack}
    with tempfile.TemporaryDirectory() as temp:
        azurite = Azurite(Path(temp))
        azurite.start()
        try:
            from azure.data.tables import TableServiceClient

            name = "transport" + uuid.uuid4().hex[:8]
            TableServiceClient.from_connection_string(azurite.connection_string).create_table(name)
            rows = []
            for round_no in range(args.rounds):  # alternating, so drift in the machine's load hits both
                for stack, run in stacks.items():
                    for kind, figures in run(azurite.connection_string, name, args.calls, args.concurrency,
                                             azurite.pid("table")).items():
                        rows.append((round_no + 1, stack, kind, figures))
        finally:
            azurite.stop()
    print(f"{'round':<7}{'stack':<34}{'call':<27}{'client CPU ms/call':>20}{'Azurite CPU ms/call':>21}{'calls/s':>10}")
    for round_no, stack, kind, figures in rows:
        print(f"{round_no:<7}{stack:<34}{kind:<27}{figures['client_cpu_ms_per_call']:>20}"
              f"{figures['azurite_cpu_ms_per_call']:>21}{figures['calls_per_second']:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
