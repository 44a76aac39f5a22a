"""`make bench-scale`: what a request costs at two tenant sizes a factor of 10 apart (default 2,000 and 20,000 users).

For each size: a fresh account is seeded through the storage layer in full transactions (the user row, its index and
search rows and its count delta: 14 users a transaction, as fast as Azurite takes them), then the app runs in the
local host and each phase's requests are sent one after another. Per phase and size it prints wall time, requests,
storage round trips and entities read per request (from the host's per-invocation records: what carries over to
Azure), latency p50/p95 (Azurite's, at size), and the host's peak memory. Then the goals of #35 are checked.

    python -m bench.scale [--sizes 2000,20000] [--groups 20]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.__main__ import tree_peak_memory_mb  # noqa: E402
from shared.domain.accounts import Account  # noqa: E402
from shared.storage.clients import table_service  # noqa: E402
from shared.storage.counts import USERS, delta  # noqa: E402
from shared.storage.drift import TableDriftStore  # noqa: E402
from shared.storage.groups_table import TableGroupStore  # noqa: E402
from shared.storage.tables import RESOURCES, Tables  # noqa: E402
from shared.storage.transactions import MAX_TRANSACTION_OPERATIONS  # noqa: E402
from shared.storage.users_table import TableUserStore, _index_rows, _user_entity  # noqa: E402
from tests.support.azurite import Azurite  # noqa: E402
from tests.support.devhost import DevHost  # noqa: E402
from tests.support.scim import account_store, new_token  # noqa: E402

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
FIELDS = {"trips": "scim.storage_round_trips", "read": "scim.storage_entities_read"}


def seed(connection: str, prefix: str, account: Account, users: int, groups: int) -> tuple[list[str], float]:
    from shared.config import Settings

    tables = Tables(table_service(Settings.from_env({"AzureWebJobsStorage": connection, "TABLE_PREFIX": prefix})), prefix)
    table = tables.get(RESOURCES)
    started = time.perf_counter()
    ids = sorted(str(uuid.uuid4()) for _ in range(users))
    now = datetime.now(UTC)
    batch: list[Any] = []
    for number, user_id in enumerate(ids):
        attributes = {"userName": f"u{number:06d}@scale.example", "displayName": f"User {number}", "active": True,
                      "emails": [{"value": f"u{number:06d}@scale.example", "type": "work", "primary": True}]}
        operations: list[Any] = [("create", _user_entity(account.id, user_id, attributes, now, now, 1))]
        operations += [("upsert", row) for row in _index_rows(account.id, user_id, attributes)]
        operations.append(delta(account.id, USERS, user_id, now, +1))
        if len(batch) + len(operations) > MAX_TRANSACTION_OPERATIONS:
            table.submit_transaction(batch)
            batch = []
        batch += operations
    if batch:
        table.submit_transaction(batch)
    store = TableGroupStore(tables)
    for number in range(groups):
        members: dict[str, str | None] = {user_id: None for user_id in ids[number * 10:number * 10 + 10]}
        store.create(account.id, {"displayName": f"Team {number:03d}"}, datetime.now(UTC), members=members)
    TableUserStore(tables).count(account.id)  # establishes the count, then folds the seed's deltas as reconcile does
    TableDriftStore(tables).fold_counts(account.id)
    return ids, time.perf_counter() - started


class Phase:
    def __init__(self, host: DevHost, name: str) -> None:
        self.host, self.name = host, name
        self.latencies: list[float] = []
        self._offset = len(host.log())
        self._started = time.perf_counter()

    def call(self, session: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = session.request(method, url, timeout=120, **kwargs)
        self.latencies.append(time.perf_counter() - started)
        if response.status_code >= 400:
            raise RuntimeError(f"{self.name}: {method} {url} answered {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def result(self) -> dict[str, Any]:
        wall = time.perf_counter() - self._started
        time.sleep(0.3)  # the host writes its invocation records just after answering
        records = [line for line in self.host.log()[self._offset:].splitlines() if "scim.storage_round_trips=" in line]
        work = {key: [int(m.group(1)) for line in records if (m := re.search(rf"{field}=(\d+)", line))]
                for key, field in FIELDS.items()}
        ordered = sorted(self.latencies)
        return {"requests": len(self.latencies), "wall_s": round(wall, 2),
                "trips_total": sum(work["trips"]), "trips_max": max(work["trips"], default=0),
                "trips_first": work["trips"][0] if work["trips"] else 0,
                "trips_last": work["trips"][-1] if work["trips"] else 0,
                "trips_mean": round(statistics.mean(work["trips"]), 2) if work["trips"] else 0,
                "read_mean": round(statistics.mean(work["read"]), 1) if work["read"] else 0,
                "trips_median": statistics.median(work["trips"]) if work["trips"] else 0,
                "read_median": statistics.median(work["read"]) if work["read"] else 0,
                "read_max": max(work["read"], default=0),
                "p50_ms": round(ordered[len(ordered) // 2] * 1000, 1) if ordered else 0,
                "p95_ms": round(ordered[int(len(ordered) * 0.95)] * 1000, 1) if ordered else 0}


def run_size(azurite: Azurite, workdir: Path, users: int, groups: int) -> dict[str, Any]:
    prefix = "z" + uuid.uuid4().hex[:10]
    accounts = account_store(azurite.connection_string, prefix)
    account = Account(id=f"scale-{users}", name="Scale", notification_email=None, created=datetime.now(UTC))
    accounts.create(account)
    ids, seeded = seed(azurite.connection_string, prefix, account, users, groups)
    token, admin = new_token(accounts, account.id), new_token(accounts, account.id, scope="admin")
    env = {"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": prefix, "DEVHOST_STATE_DIR": str(workdir),
           "RECONCILE_SCHEDULE": "0 0 0 1 1 *", "AUTH_CACHE_SECONDS": "300", "RECONCILE_SWEEP_HOURS": "0"}
    host = DevHost(ROOT, env, workdir / f"host-{users}.log")
    tenant = f"{host.base_url}/api/scim/account/{account.id}"
    manage = f"{host.base_url}/api/manage/account/{account.id}"
    figures: dict[str, Any] = {"users": users, "groups": groups, "seed_s": round(seeded, 1)}
    with requests.Session() as scim, requests.Session() as console:
        scim.headers.update({"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
        console.headers.update({"Authorization": f"Bearer {admin}"})

        phase = Phase(host, "entra_sync")
        for number in range(30):  # Entra's create: the matching query, the create; then an update
            name = f"new{number}@scale.example"
            phase.call(scim, "GET", f"{tenant}/Users", params={"filter": f'userName eq "{name}"'})
            created = phase.call(scim, "POST", f"{tenant}/Users", json={"userName": name, "active": True})
            phase.call(scim, "PATCH", f"{tenant}/Users/{created['id']}", json={"schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "displayName", "value": f"New {number}"}]})
        figures["entra_sync"] = phase.result()

        # the host creates each table's client on its first use, once per process: not part of an import
        scim.get(f"{tenant}/Users", params={"startIndex": 1, "count": 1}, timeout=60)
        phase = Phase(host, "import_index")
        start, seen = 1, 0
        while True:
            page = phase.call(scim, "GET", f"{tenant}/Users", params={"startIndex": start, "count": 100})
            seen += len(page["Resources"])
            if start + len(page["Resources"]) > page["totalResults"] or not page["Resources"]:
                break
            start += len(page["Resources"])
        figures["import_index"] = {**phase.result(), "users_seen": seen, "total": page["totalResults"]}

        phase = Phase(host, "import_cursor")
        cursor, seen = "", 0
        while True:
            page = phase.call(scim, "GET", f"{tenant}/Users", params={"cursor": cursor, "count": 100})
            seen += len(page["Resources"])
            if "nextCursor" not in page:
                break
            cursor = page["nextCursor"]
        figures["import_cursor"] = {**phase.result(), "users_seen": seen}

        phase = Phase(host, "groups_import")
        phase.call(scim, "GET", f"{tenant}/Groups", params={"startIndex": 1, "count": 100})
        figures["groups_import"] = phase.result()

        phase = Phase(host, "console_list")
        for start in (1, 101, 201, 301, 401):
            phase.call(console, "GET", f"{manage}/users", params={"startIndex": start, "count": 100})
        figures["console_list"] = phase.result()

        phase = Phase(host, "console_search")
        for text in ("u0001", "U00012", "user 15", "u0000"):  # prefixes matching 100, 10, 11 and 100 users at any size
            phase.call(console, "GET", f"{manage}/users", params={"filter": text, "count": 50})
        first_group = phase.call(console, "GET", f"{manage}/groups", params={"source": "scim", "count": 1})["groups"][0]
        for text in ("", "u0000"):
            phase.call(console, "GET", f"{manage}/groups/{first_group['identifier']}/members",
                       params={"filter": text, "count": 50} if text else {"count": 50})
        figures["console_search"] = phase.result()

        phase = Phase(host, "incremental")
        for user_id in ids[-20:]:  # Entra's incremental cycle: read, update (users in no group, at both sizes)
            phase.call(scim, "GET", f"{tenant}/Users/{user_id}")
            phase.call(scim, "PATCH", f"{tenant}/Users/{user_id}", json={"schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "active", "value": False}]})
        figures["incremental"] = phase.result()
    figures["partition_rows"] = partition_rows(azurite.connection_string, prefix, account.id)
    # the first sweep, a slice (20,000 users) a run, each run one scan of the account; once it is done, nothing
    # having been written since, a run reads nothing of the account
    runs = [reconcile_once(host)]
    while len(runs) < 10:
        run = reconcile_once(host)
        if not run["slices"]:
            break
        runs.append(run)
    figures["reconcile_quiet"] = run
    figures["reconcile_sweep"] = {"wall_s": max(r["wall_s"] for r in runs), "trips": max(r["trips"] for r in runs),
                                  "read": max(r["read"] for r in runs), "slices": sum(r["slices"] for r in runs),
                                  "not_needed": sum(r["not_needed"] for r in runs), "runs": len(runs)}
    figures["host_peak_mb"] = tree_peak_memory_mb(host.process.pid)
    host.stop()
    return figures


def partition_rows(connection: str, prefix: str, account_id: str) -> int:
    """How many rows the account's partition holds now (one scan's worth), read key-only by the bench itself."""
    from shared.config import Settings

    tables = Tables(table_service(Settings.from_env({"AzureWebJobsStorage": connection, "TABLE_PREFIX": prefix})), prefix)
    rows = tables.get(RESOURCES).query_entities("PartitionKey eq @pk", parameters={"pk": account_id},
                                                select=["RowKey"], results_per_page=1000)
    return sum(1 for _ in rows)


def reconcile_once(host: DevHost) -> dict[str, Any]:
    """Runs the reconcile timer once through the host's admin endpoint; its record's storage work and time."""
    before = host.log().count("scim.operation=reconcile ")
    started = time.perf_counter()
    requests.post(f"{host.base_url}/admin/functions/reconcile", json={"input": ""}, timeout=30).raise_for_status()
    while host.log().count("scim.operation=reconcile ") == before:
        if time.perf_counter() - started > 900:
            raise RuntimeError("the reconcile run did not finish in 15 minutes")
        time.sleep(0.2)
    record = [line for line in host.log().splitlines() if "scim.operation=reconcile " in line][-1]

    def field(name: str) -> int:
        found = re.search(rf"{re.escape(name)}=(\d+)", record)
        return int(found.group(1)) if found else 0

    return {"wall_s": round(time.perf_counter() - started, 1), "trips": field("scim.storage_round_trips"),
            "read": field("scim.storage_entities_read"), "slices": field("scim.reconcile.slicesSwept"),
            "not_needed": field("scim.reconcile.sweepsNotNeeded")}


PAGE_PHASES = ("import_index", "import_cursor", "groups_import", "console_list", "console_search")


def goals(small: dict[str, Any], large: dict[str, Any]) -> list[tuple[str, bool, str]]:
    found = []
    for name in PAGE_PHASES:
        a, b = small[name], large[name]
        ratio = b["trips_median"] / a["trips_median"] if a["trips_median"] else 0
        read_ratio = b["read_median"] / a["read_median"] if a["read_median"] else 0
        found.append((f"{name}: requests and entities per page (median) within 1.2x, at most 10 requests",
                      ratio <= 1.2 and read_ratio <= 1.2 and b["trips_max"] <= 10,
                      f"requests {a['trips_median']} -> {b['trips_median']} ({ratio:.2f}x), max {b['trips_max']}; "
                      f"entities {a['read_median']} -> {b['read_median']} ({read_ratio:.2f}x)"))
    for size in (small, large):
        walk = size["import_index"]
        found.append((f"{size['users']} users: last import page <= 2x the first's requests",
                      walk["trips_last"] <= 2 * walk["trips_first"], f"{walk['trips_first']} -> {walk['trips_last']}"))
        budget = 3 * -(-walk["total"] // 100)
        found.append((f"{walk['total']} users: whole import <= 3 x N/100 requests",
                      walk["trips_total"] <= budget, f"{walk['trips_total']} (budget {budget:.0f})"))
    a, b = small["incremental"], large["incremental"]
    found.append(("incremental cycle: same storage work at both sizes", a["trips_mean"] == b["trips_mean"]
                  and a["read_mean"] == b["read_mean"], f"{a['trips_mean']}/{a['read_mean']} vs "
                                                        f"{b['trips_mean']}/{b['read_mean']}"))
    for size in (small, large):
        quiet = size["reconcile_quiet"]
        found.append((f"{size['users']} users: the reconcile reads nothing of an account with nothing written since "
                      "its last sweep", quiet["slices"] == 0 and quiet["not_needed"] == 1 and quiet["read"] <= 8,
                      f"{quiet['trips']} requests, {quiet['read']} entities (the sweep row, the count tallies)"))
        sweep = size["reconcile_sweep"]
        budget = size["partition_rows"] + 100  # the scan, and the pending work, counts and sweep rows beside it
        found.append((f"{size['users']} users: each sweep run reads at most one scan's worth ({size['partition_rows']} "
                      f"rows; {sweep['runs']} run(s), a slice each)",
                      sweep["read"] <= budget and sweep["slices"] == sweep["runs"],
                      f"{sweep['trips']} requests, {sweep['read']} entities, {sweep['wall_s']} s"))
    peak = max(small["host_peak_mb"] or 0, large["host_peak_mb"] or 0)
    found.append(("host peak memory < 512 MiB", peak < 512, f"{peak} MiB"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2000,20000", help="two tenant sizes, comma-separated")
    parser.add_argument("--groups", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as temp:
        azurite = Azurite(Path(temp))
        azurite.start()
        try:
            results = [run_size(azurite, Path(temp), size, args.groups) for size in sizes]
        finally:
            azurite.stop()
    for result in results:
        print(f"\n{result['users']} users, {result['groups']} groups (seeded in {result['seed_s']} s); "
              f"host peak {result['host_peak_mb']} MiB")
        print(f"  {'phase':<15}{'reqs':>6}{'wall s':>9}{'trips/req':>10}{'max':>5}{'first':>6}{'last':>5}"
              f"{'total':>7}{'read/req':>9}{'p50 ms':>8}{'p95 ms':>8}")
        for name in ("entra_sync", *PAGE_PHASES, "incremental"):
            f = result[name]
            print(f"  {name:<15}{f['requests']:>6}{f['wall_s']:>9}{f['trips_mean']:>10}{f['trips_max']:>5}"
                  f"{f['trips_first']:>6}{f['trips_last']:>5}{f['trips_total']:>7}{f['read_mean']:>9}"
                  f"{f['p50_ms']:>8}{f['p95_ms']:>8}")
        for name in ("reconcile_sweep", "reconcile_quiet"):
            f = result[name]
            print(f"  {name:<15}{1:>6}{f['wall_s']:>9}{f['trips']:>10}{'':>5}{'':>6}{'':>5}{f['trips']:>7}{f['read']:>9}"
                  f"   slices swept {f['slices']}, not needed {f['not_needed']}")
    met = True
    if len(results) == 2:
        print("\nGoals (#35):")
        for text, ok, detail in goals(*results):
            met &= ok
            print(f"  [{'met' if ok else 'NOT MET'}] {text}: {detail}")
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    (out / "scale.json").write_text(json.dumps(results, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
