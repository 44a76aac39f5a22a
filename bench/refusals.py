"""`python -m bench.refusals`: what a flood of refused tokens costs (#39 part 3), over the local host and Azurite.

A good client reads one user again and again; its latency p50/p99 is taken alone, then while 4 threads send
FLOOD requests with made-up tokens (a new key id every 100 requests) and wrong secrets of a real key id. Printed:
the good path's p50/p99 before and during, the refused requests' storage reads in total and per (key id, minute),
and their storage writes (the activity log's aggregated refusals are written in the background, not counted here).

    python -m bench.refusals [--flood 20000]
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.azurite import Azurite  # noqa: E402
from tests.support.devhost import DevHost  # noqa: E402
from tests.support.scim import account_store, new_account, new_token  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 1)


def good_path(url: str, token: str, stop: threading.Event, latencies: list[float]) -> None:
    with requests.Session() as session:
        while not stop.is_set():
            started = time.perf_counter()
            assert session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200
            latencies.append(time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flood", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        azurite = Azurite(Path(temp))
        azurite.start()
        prefix = "r" + uuid.uuid4().hex[:10]
        store = account_store(azurite.connection_string, prefix)
        account = new_account(store)
        token = new_token(store, account.id)
        key_id = token.split(".")[1]
        host = DevHost(ROOT, {"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": prefix,
                              "DEVHOST_STATE_DIR": temp, "RECONCILE_SCHEDULE": "0 0 0 1 1 *"}, Path(temp) / "host.log")
        try:
            tenant = f"{host.base_url}/api/scim/account/{account.id}"
            user = requests.post(f"{tenant}/Users", json={"userName": "good@example.com"}, timeout=30,
                                 headers={"Authorization": f"Bearer {token}"}).json()["id"]
            url = f"{tenant}/Users/{user}"
            alone: list[float] = []
            stop = threading.Event()
            worker = threading.Thread(target=good_path, args=(url, token, stop, alone))
            worker.start()
            time.sleep(15)
            stop.set()
            worker.join()

            offset = len(host.log())
            during: list[float] = []
            stop = threading.Event()
            worker = threading.Thread(target=good_path, args=(url, token, stop, during))
            worker.start()
            sent = [0]
            lock = threading.Lock()
            flood_started = time.perf_counter()

            def flood(share: int) -> None:
                with requests.Session() as session:
                    for n in range(share):
                        if n % 2:
                            presented = f"scim.{key_id}.{secrets.token_urlsafe(32)}"
                        else:
                            presented = f"scim.{uuid.uuid5(uuid.NAMESPACE_OID, str(n // 100)).hex[:16]}.x"
                        session.get(f"{tenant}/Users", headers={"Authorization": f"Bearer {presented}"}, timeout=30)
                        with lock:
                            sent[0] += 1

            floods = [threading.Thread(target=flood, args=(args.flood // 4,)) for _ in range(4)]
            for thread in floods:
                thread.start()
            for thread in floods:
                thread.join()
            flood_seconds = time.perf_counter() - flood_started
            stop.set()
            worker.join()
            time.sleep(1)
            log = host.log()[offset:]
            refused = [line for line in log.splitlines() if "scim.status=401" in line]
            reads = sum(int(m.group(1)) for line in refused
                        if (m := re.search(r"scim\.storage_round_trips=(\d+)", line)))
            written = sum(int(m.group(1)) for line in refused
                          if (m := re.search(r"scim\.storage_entities_written=(\d+)", line)))
            key_ids = len({f"{n // 100}" for n in range(args.flood // 4)}) + 1
            minutes = max(1, int(flood_seconds // 60) + 1)
            print(f"flood: {sent[0]} refused requests in {flood_seconds:.0f} s ({sent[0] / flood_seconds:.0f}/s), "
                  f"{len(refused)} recorded")
            # one read per key id and minute; beside them, the account once a minute (to record refusals) and the real
            # token and its account each time its cache entry (AUTH_CACHE_SECONDS, 30 s) runs out
            allowed = key_ids * minutes + minutes + 2 * int(flood_seconds // 30 + 1)
            print(f"storage requests by the refusals: {reads} ({reads / max(1, len(refused)):.4f} per refusal; "
                  f"{key_ids} key ids over {minutes} minute(s): at most {allowed} allowed), entities written by them: "
                  f"{written}")
            print(f"good path alone: p50 {percentile(alone, 0.5)} ms, p99 {percentile(alone, 0.99)} ms "
                  f"({len(alone)} requests)")
            print(f"good path during the flood: p50 {percentile(during, 0.5)} ms, p99 {percentile(during, 0.99)} ms "
                  f"({len(during)} requests)")
            print(f"good path median ratio during/alone: {statistics.median(during) / statistics.median(alone):.2f}")
        finally:
            host.stop()
            azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
