"""`make bench` / `python -m bench`: replays what Entra does on an initial sync and a delta cycle against this
service (local host + Azurite, every write durable in Table Storage) and, alternating round by round in the same run,
against two peers: scim2-server (in memory, threaded, HTTP/1.1 keep-alive) and django-scim2 (SQLite in WAL mode with
synchronous=FULL, gunicorn), the durable one. Loopback only; counts and run time are bounded.

Reports per target: throughput, p50/p95/p99 latency per operation, non-2xx count, storage round trips per operation
(ours, from the host's per-invocation records), peak memory; then side by side (medians over rounds) throughput, its
ratio, the group PATCH p50 and the CPU per request of each server process (host and Azurite apart), and the cold-start
import time. Results are also written as JSON (bench-results/latest.json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.azurite import Azurite, free_port, wait_for_port  # noqa: E402  (dev tooling shares the test helpers)
from tests.support.devhost import DevHost  # noqa: E402
from tests.support.scim import account_store, new_account, new_token  # noqa: E402

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
MAX_SECONDS = 900
OURS = "this service (Table Storage via Azurite)"


@dataclass
class Run:
    target: str
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    non_2xx: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    round_trips: dict[str, float] = field(default_factory=dict)
    storage_work: dict[str, dict[str, float]] = field(default_factory=dict)
    """Per operation (ours): mean round trips, entities read and written, bytes sent."""
    peak_memory_mb: float | None = None
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    """CPU time used during the run by each server-side process (where the time goes)."""

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        operations = {}
        for name, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            operations[name] = {
                "count": len(values), "non2xx": self.non_2xx.get(name, 0),
                "p50_ms": round(_percentile(ordered, 50), 2), "p95_ms": round(_percentile(ordered, 95), 2),
                "p99_ms": round(_percentile(ordered, 99), 2),
                "storage_round_trips": self.round_trips.get(name),
            }
        return {"target": self.target, "seconds": round(self.seconds, 2), "requests": self.requests,
                "throughput_rps": round(self.throughput, 1), "non2xx": sum(self.non_2xx.values()),
                "peak_memory_mb": self.peak_memory_mb, "cpu_seconds": self.cpu_seconds, "operations": operations,
                "storage_work": self.storage_work}


def _percentile(ordered: list[float], p: int) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
    return ordered[index] * 1000


class Client:
    def __init__(self, base: str, token: str, run: Run) -> None:
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        self.run = run
        self.local = threading.local()
        self.lock = threading.Lock()

    def call(self, name: str, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        started = time.perf_counter()
        response = session.request(method, self.base + path, headers=self.headers, params=params,
                                   data=json.dumps(body) if body is not None else None, timeout=60)
        elapsed = time.perf_counter() - started
        with self.lock:
            self.run.latencies[name].append(elapsed)
            if not 200 <= response.status_code < 300:
                self.run.non_2xx[name] += 1
        return response.json() if response.content else None


def workload(client: Client, users: int, groups: int, members: int, member_batch: int, concurrency: int) -> None:
    """Entra's initial sync (match by userName then create; groups matched by displayName, created, then members added
    in batches), then a delta cycle (attribute PATCHes in both dialects, deactivations)."""
    user_ids: list[str] = [""] * users

    def provision_user(i: int) -> None:
        name = f"user{i:05d}@contoso.test"
        client.call("Users.Filter", "GET", "/Users", params={"filter": f'userName eq "{name}"'})
        created = client.call("Users.Create", "POST", "/Users", {
            "schemas": [CORE, ENTERPRISE], "externalId": str(uuid.uuid4()), "userName": name, "active": True,
            "displayName": f"User {i}", "emails": [{"primary": True, "type": "work", "value": name}],
            "name": {"givenName": "User", "familyName": str(i)}, ENTERPRISE: {"department": "Engineering"}})
        user_ids[i] = created.get("id", "") if isinstance(created, dict) else ""

    def provision_group(g: int) -> None:
        name = f"Group {g:03d}"
        client.call("Groups.Filter", "GET", "/Groups", params={"excludedAttributes": "members",
                                                              "filter": f'displayName eq "{name}"'})
        created = client.call("Groups.Create", "POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                                                   "displayName": name, "externalId": str(uuid.uuid4())})
        group_id = created.get("id") if isinstance(created, dict) else None
        chosen = [user_ids[(g * members + k) % users] for k in range(members)]
        for start in range(0, len(chosen), member_batch):
            client.call("Groups.PatchMembers", "PATCH", f"/Groups/{group_id}", {"schemas": [PATCH], "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": u} for u in chosen[start:start + member_batch]]}]})

    def delta_user(i: int) -> None:
        user_id = user_ids[i]
        if i % 2:
            client.call("Users.Patch", "PATCH", f"/Users/{user_id}", {"schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "displayName", "value": f"User {i} (renamed)"},
                {"op": "Replace", "path": "name.familyName", "value": f"{i}-b"}]})
        else:
            client.call("Users.Patch", "PATCH", f"/Users/{user_id}", {"schemas": [PATCH], "Operations": [
                {"op": "replace", "value": {"displayName": f"User {i} (renamed)", "name.familyName": f"{i}-b"}}]})
        if i % 10 == 0:
            client.call("Users.Deactivate", "PATCH", f"/Users/{user_id}", {"schemas": [PATCH], "Operations": [
                {"op": "Replace", "path": "active", "value": False}]})

    with ThreadPoolExecutor(concurrency) as pool:
        for phase, count in ((provision_user, users), (provision_group, groups), (delta_user, users)):
            list(pool.map(phase, range(count)))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (gunicorn's workers), from /proc (Linux)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                pending.extend(int(child) for child in task.read_text().split())
            except OSError:
                pass
    return found


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(member) for member in process_tree(pid))


def tree_peak_memory_mb(pid: int) -> float | None:
    peaks = [peak for member in process_tree(pid) if (peak := peak_memory_mb(member)) is not None]
    return round(sum(peaks), 1) if peaks else None


def peak_memory_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


RECORD = re.compile(r"scim\.operation=(\S+).*?scim\.storage_round_trips=(\d+)")
NAMES = {"Users.List": "Users.Filter", "Groups.List": "Groups.Filter", "Groups.Patch": "Groups.PatchMembers"}


WORK_FIELDS = {"round_trips": "scim.storage_round_trips", "entities_read": "scim.storage_entities_read",
               "entities_written": "scim.storage_entities_written", "bytes_sent": "scim.storage_bytes_sent"}
FLOORS: dict[str, tuple[int, int, int, str]] = {
    # operation: (round trips, entities read, entities written, how it follows from the storage layout)
    "Users.Filter": (1, 0, 0, "a miss: one point read of the un:<userName> index row, which is not there"),
    "Users.Create": (1, 0, 9, "one transaction: the user row, its un: and ux: index rows, its count's delta and 5 "
                              "search rows (userName, externalId, the full name and its two words)"),
    "Users.Patch": (2, 1, 1, "read the user for its ETag (the ordering rule, If-Match), one conditional write"),
    "Groups.Filter": (1, 0, 0, "a miss: one point read of the gn:<displayName> index row"),
    "Groups.Create": (1, 0, 8, "one transaction: the group row, its gn: and gx: index rows, its count's delta and 4 "
                               "search rows (the name, its two words, externalId)"),
    "Groups.PatchMembers": (2, 1, 31, "read the group for its ETag, one transaction: the group row, and per member "
                                      "its two membership rows and the check that the user exists (10 members)"),
}
"""The least each Entra operation can need with this storage layout (docs/architecture.md, "Storage layout")."""


def storage_work_from(log: str) -> dict[str, dict[str, float]]:
    """Mean storage work per operation, from the host's per-invocation records."""
    totals: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for line in log.splitlines():
        found = re.search(r"scim\.operation=(\S+)", line)
        if not found or "scim.storage_round_trips=" not in line:
            continue
        name = NAMES.get(found.group(1), found.group(1))
        for key, field_name in WORK_FIELDS.items():
            value = re.search(rf"{re.escape(field_name)}=(\d+)", line)
            if value:
                totals[name][key].append(int(value.group(1)))
    return {name: {key: round(statistics.mean(values), 2) for key, values in fields.items()}
            for name, fields in totals.items()}


def round_trips_from(log: str) -> dict[str, float]:
    """Mean storage round trips per operation, from the host's per-invocation records (auth lookups are cached)."""
    totals: dict[str, list[int]] = defaultdict(list)
    for operation, trips in RECORD.findall(log):
        totals[NAMES.get(operation, operation)].append(int(trips))
    return {op: round(statistics.mean(v), 2) for op, v in totals.items()}


def app_host(azurite: Azurite, workdir: Path, log_name: str) -> tuple[DevHost, str, str]:
    """The app in the local host on fresh tables, with one account: (host, Tenant URL, Secret Token)."""
    prefix = "b" + uuid.uuid4().hex[:10]
    store = account_store(azurite.connection_string, prefix)
    account = new_account(store)
    token = new_token(store, account.id)
    env = {"AzureWebJobsStorage": azurite.connection_string, "TABLE_PREFIX": prefix, "DEVHOST_STATE_DIR": str(workdir),
           "RECONCILE_SCHEDULE": "0 0 0 1 1 *", "AUTH_CACHE_SECONDS": "300"}
    host = DevHost(ROOT, env, workdir / log_name)
    return host, f"{host.base_url}/api/scim/account/{account.id}", token


def run_ours(azurite: Azurite, args: argparse.Namespace, workdir: Path, round_no: int) -> Run:
    host, tenant, token = app_host(azurite, workdir, f"host-{round_no}.log")
    run = Run(OURS)
    try:
        client = Client(tenant, token, run)
        processes = {"host (python)": host.process.pid, "azurite-table (node)": azurite.pid("table")}
        before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        started = time.perf_counter()
        workload(client, args.users, args.groups, args.members, args.member_batch, args.concurrency)
        run.seconds = time.perf_counter() - started
        run.cpu_seconds = {name: round(cpu_seconds(pid) - before[name], 2) for name, pid in processes.items()}
        run.peak_memory_mb = peak_memory_mb(host.process.pid)
    finally:
        host.stop()
    run.round_trips = round_trips_from(host.log())
    run.storage_work = storage_work_from(host.log())
    return run


def run_scale(azurite: Azurite, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """A large group built Entra's way (members added by PATCH in batches of 1,000), edited by +1/-1 member, read
    with and without members, and the account's users paged through: times, round trips and the host's peak memory."""
    host, tenant, token = app_host(azurite, workdir, "host-scale.log")
    figures: dict[str, Any] = {"users": args.scale_users, "members": args.scale_members}
    try:
        client = Client(tenant, token, Run("scale"))
        started = time.perf_counter()
        ids: list[str] = [""] * args.scale_users

        def create(i: int) -> None:
            ids[i] = client.call("Scale.CreateUser", "POST", "/Users", {"userName": f"s{i:06d}@contoso.test"})["id"]

        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(create, range(args.scale_users)))
        figures["create_users_s"] = round(time.perf_counter() - started, 1)
        group = client.call("Scale.CreateGroup", "POST", "/Groups", {"displayName": "Everyone"})["id"]
        started = time.perf_counter()
        members = ids[:args.scale_members]
        for start in range(0, len(members), 1000):
            client.call("Scale.AddMembers", "PATCH", f"/Groups/{group}", {"schemas": [PATCH], "Operations": [
                {"op": "Add", "path": "members", "value": [{"value": u} for u in members[start:start + 1000]]}]})
        figures["add_members_s"] = round(time.perf_counter() - started, 1)
        extra = ids[args.scale_members] if args.scale_users > args.scale_members else ids[0]
        for name, operation in (("plus_one", "Add"), ("minus_one", "Remove")):
            started = time.perf_counter()
            client.call(f"Scale.{name}", "PATCH", f"/Groups/{group}", {"schemas": [PATCH], "Operations": [
                {"op": operation, "path": "members", "value": [{"value": extra}]}]})
            figures[f"{name}_ms"] = round((time.perf_counter() - started) * 1000, 1)
        started = time.perf_counter()
        client.call("Scale.GetGroupWithoutMembers", "GET", f"/Groups/{group}", params={"excludedAttributes": "members"})
        figures["read_without_members_ms"] = round((time.perf_counter() - started) * 1000, 1)
        started = time.perf_counter()
        body = client.call("Scale.GetGroup", "GET", f"/Groups/{group}")
        figures["read_with_members_s"] = round(time.perf_counter() - started, 2)
        figures["members_returned"] = len(body.get("members", []))
        started = time.perf_counter()
        seen, start_index = 0, 1
        while True:
            page = client.call("Scale.ListUsers", "GET", "/Users", params={"startIndex": str(start_index), "count": "1000",
                                                                         "attributes": "userName"})
            seen += len(page["Resources"])
            if not page["Resources"] or seen >= page["totalResults"]:
                break
            start_index += len(page["Resources"])
        figures["page_through_users_s"] = round(time.perf_counter() - started, 1)
        figures["users_paged"] = seen
        figures.update(_bounded_work(client, ids))
        figures["host_peak_memory_mb"] = peak_memory_mb(host.process.pid)
    finally:
        host.stop()
    records = RECORD.findall(host.log())
    patches = [int(t) for op, t in records if op == "Groups.Patch"]
    reads = [int(t) for op, t in records if op == "Groups.Get"]
    lists = [int(t) for op, t in records if op == "Groups.List"]
    figures["round_trips"] = {"plus_one_member": patches[-3] if len(patches) > 2 else None,
                              "minus_one_member": patches[-2] if len(patches) > 1 else None,
                              "read_without_members": reads[0] if reads else None,
                              "read_with_members": reads[1] if len(reads) > 1 else None,
                              "page_of_100_groups_with_members": lists[-1] if lists else None,
                              "patch_with_1000_unknown_ids": patches[-1] if patches else None}
    return figures


def _bounded_work(client: Client, ids: list[str]) -> dict[str, Any]:
    """The hostile-input bounds: a page of 100 groups with 20 members each (Okta's import), and one PATCH naming
    1,000 ids that are no user's (the last PATCH of the phase, so its round trips are read from the last record)."""
    figures: dict[str, Any] = {}
    for g in range(100):
        client.call("Scale.CreateGroupWithMembers", "POST", "/Groups", {
            "displayName": f"Page group {g:03d}", "members": [{"value": u} for u in ids[g % 50 * 20:g % 50 * 20 + 20]]})
    started = time.perf_counter()
    page = client.call("Scale.ListGroups", "GET", "/Groups", params={"startIndex": "1", "count": "100"})
    figures["page_of_100_groups_ms"] = round((time.perf_counter() - started) * 1000, 1)
    figures["page_member_rows"] = sum(len(g.get("members", [])) for g in page["Resources"])
    target = page["Resources"][0]["id"]
    started = time.perf_counter()
    client.call("Scale.UnknownMembers", "PATCH", f"/Groups/{target}", {"schemas": [PATCH], "Operations": [
        {"op": "Add", "path": "members", "value": [{"value": str(uuid.uuid4())} for _ in range(1000)]}]})
    figures["patch_with_1000_unknown_ids_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return figures


@dataclass(frozen=True)
class Peer:
    """A server a user could pick instead, served on a free port: `command(port, token, workdir)` starts it."""

    key: str
    """Its name in --peers and in the CPU figures."""
    name: str
    base_path: str
    command: Callable[[int, str, Path], list[str]]


PEERS = (
    Peer("scim2-server", "scim2-server (in memory)", "/v2",
         lambda port, token, workdir: [sys.executable, "-m", "bench.reference", "--port", str(port), "--token", token]),
    Peer("django-scim2", "django-scim2 (SQLite WAL, synchronous=FULL, gunicorn)", "/scim/v2",
         lambda port, token, workdir: [sys.executable, "-m", "bench.django_peer.serve", "--port", str(port),
                                       "--token", token, "--database", str(workdir / f"peer-{uuid.uuid4().hex}.sqlite3")]),
)


def run_peer(peer: Peer, args: argparse.Namespace, workdir: Path) -> Run:
    port = free_port()
    token = uuid.uuid4().hex
    process = subprocess.Popen(peer.command(port, token, workdir), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    run = Run(peer.name)
    try:
        wait_for_port(port, timeout=60)
        client = Client(f"http://127.0.0.1:{port}{peer.base_path}", token, run)
        before = tree_cpu_seconds(process.pid)
        started = time.perf_counter()
        workload(client, args.users, args.groups, args.members, args.member_batch, args.concurrency)
        run.seconds = time.perf_counter() - started
        run.cpu_seconds = {f"{peer.key} (python)": round(tree_cpu_seconds(process.pid) - before, 2)}
        run.peak_memory_mb = tree_peak_memory_mb(process.pid)
    finally:
        process.terminate()
        process.wait(10)
    return run


def cold_start_seconds() -> float:
    """`python -X importtime -c "import function_app"`: the cumulative import time of function_app, best of 3."""
    best = float("inf")
    for _ in range(3):
        result = subprocess.run([sys.executable, "-X", "importtime", "-c", "import function_app"], cwd=ROOT,
                                capture_output=True, text=True, check=True)
        line = [x for x in result.stderr.splitlines() if x.rstrip().endswith("| function_app")][-1]
        best = min(best, int(line.split("|")[1]) / 1e6)
    return round(best, 3)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--member-batch", type=int, default=10, help="members added per group PATCH")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="A/B alternations (at least 3 for a ratio that counts)")
    parser.add_argument("--peers", type=lambda text: [p for p in text.split(",") if p], default=["scim2-server", "django-scim2"],
                        help="comma-separated peers to run beside this service (scim2-server,django-scim2; empty: none)")
    parser.add_argument("--scale-users", type=int, default=5000,
                        help="users for the scale phase (100000 for the issue's figure; slow on Azurite)")
    parser.add_argument("--scale-members", type=int, default=2000,
                        help="members of the scale phase's group (50000 for the issue's figure; slow on Azurite)")
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "latest.json")
    args = parser.parse_args()
    if args.users > 20_000 or args.groups * args.members > 200_000 or args.concurrency > 64 \
            or not 1 <= args.member_batch <= 1000 or args.scale_users > 100_000 \
            or args.scale_members > min(50_000, args.scale_users):
        parser.error("sizes are bounded: users <= 20000, groups x members <= 200000, concurrency <= 64, member batch 1-1000, "
                     "scale users <= 100000, scale members <= 50000 and <= scale users")

    unknown = set(args.peers) - {peer.key for peer in PEERS}
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; known: {', '.join(peer.key for peer in PEERS)}")
    peers = [peer for peer in PEERS if peer.key in args.peers]
    deadline = time.monotonic() + MAX_SECONDS
    runs: dict[str, list[Run]] = {OURS: [], **{peer.name: [] for peer in peers}}
    with tempfile.TemporaryDirectory() as temp:
        azurite = Azurite(Path(temp))
        azurite.start()
        try:
            for round_no in range(args.rounds):
                if time.monotonic() > deadline:
                    print(f"stopping after {round_no} rounds: the {MAX_SECONDS}s bound was reached")
                    break
                runs[OURS].append(run_ours(azurite, args, Path(temp), round_no))
                print(f"round {round_no + 1}: ours {runs[OURS][-1].throughput:.1f} req/s", end="", flush=True)
                for peer in peers:
                    runs[peer.name].append(run_peer(peer, args, Path(temp)))
                    print(f", {peer.key} {runs[peer.name][-1].throughput:.1f} req/s", end="", flush=True)
                print()
            scale = run_scale(azurite, args, Path(temp)) if args.scale_users else {}
        finally:
            azurite.stop()

    result: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(), "commit": _commit(), "machine": f"{os.cpu_count()} cores",
        "options": {k: str(v) for k, v in vars(args).items()}, "cold_start_import_s": cold_start_seconds(),
        "runs": {target: [r.summary() for r in target_runs] for target, target_runs in runs.items()},
        "summary": _side_by_side(runs), "scale": scale,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    _print(result)
    return 0


def _side_by_side(runs: dict[str, list[Run]]) -> dict[str, Any]:
    """Per target, medians over its rounds: throughput, its ratio to ours, and CPU ms per request of each process."""
    ours = statistics.median(r.throughput for r in runs[OURS]) if runs[OURS] else 0.0
    table: dict[str, Any] = {}
    for target, target_runs in runs.items():
        if not target_runs:
            continue
        throughput = statistics.median(r.throughput for r in target_runs)
        processes = target_runs[0].cpu_seconds.keys()
        table[target] = {
            "throughput_rps": round(throughput, 1),
            "ours_to_this": round(ours / throughput, 3) if throughput else None,
            "cpu_ms_per_request": {name: round(statistics.median(r.cpu_seconds[name] * 1000 / r.requests
                                                                   for r in target_runs), 2) for name in processes},
            "group_patch_p50_ms": statistics.median(r.summary()["operations"].get("Groups.PatchMembers", {})
                                                    .get("p50_ms", 0.0) for r in target_runs),
        }
    return table


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _vs(measured: float | None, floor: int) -> str:
    """`measured/floor`, e.g. `2.0/2`."""
    return f"{'-' if measured is None else measured}/{floor}"


def _print(result: dict[str, Any]) -> None:
    for target_runs in result["runs"].values():
        for run in target_runs:
            print(f"\n{run['target']}: {run['requests']} requests in {run['seconds']} s = {run['throughput_rps']} req/s, "
                  f"non-2xx {run['non2xx']}, peak memory {run['peak_memory_mb']} MB, CPU s {run['cpu_seconds']}")
            print(f"  {'operation':<22}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'non2xx':>8}{'storage RT':>12}")
            for name, op in run["operations"].items():
                trips = "" if op["storage_round_trips"] is None else op["storage_round_trips"]
                print(f"  {name:<22}{op['count']:>7}{op['p50_ms']:>9}{op['p95_ms']:>9}{op['p99_ms']:>9}"
                      f"{op['non2xx']:>8}{trips:>12}")
    print(f"\nside by side, medians of {len(result['runs'][OURS])} alternating rounds:")
    print(f"  {'target':<56}{'req/s':>8}{'ours/this':>11}{'p50 group PATCH':>17}  CPU ms per request")
    for target, row in result["summary"].items():
        cpu = ", ".join(f"{name} {ms}" for name, ms in row["cpu_ms_per_request"].items())
        print(f"  {target:<56}{row['throughput_rps']:>8}{row['ours_to_this']:>11}{row['group_patch_p50_ms']:>17}  {cpu}")
    last = result["runs"][OURS][-1]
    print(f"\nstorage work per operation (ours, round {len(result['runs'][OURS])}; floor: the least this layout allows)")
    print(f"  {'operation':<22}{'round trips':>13}{'entities read':>15}{'entities written':>18}{'bytes sent':>12}")
    for name, (trips, read, written, why) in FLOORS.items():
        work = last.get("storage_work", {}).get(name, {})
        print(f"  {name:<22}{_vs(work.get('round_trips'), trips):>13}{_vs(work.get('entities_read'), read):>15}"
              f"{_vs(work.get('entities_written'), written):>18}{work.get('bytes_sent', ''):>12}   floor: {why}")
    print(f"cold start: import function_app {result['cold_start_import_s']} s")
    if result.get("scale"):
        print(f"scale: {json.dumps(result['scale'])}")


if __name__ == "__main__":
    raise SystemExit(main())
