"""Scale-out on procrastinate: 20 tenants (sandboxes answering in 50 ms), 1, 2 and 4 `cwsync worker` processes.

    python benchmarks/scale_out.py [--tenants 20] [--workers 1,2,4] [--latency-ms 50] [--json]

Each tenant has its own sandbox (ConnectWise + HubSpot), all served by a few sandbox host processes; every tenant
is synced once beforehand (untimed). Then, for each worker count: that many `cwsync worker --concurrency 1`
processes are started and registered, and every tenant gets the same work at once — a batch of contact record jobs,
a batch of company record jobs and an incremental deals run (ConnectWise changed beforehand) — queued through the
procrastinate runner, the tenants concurrently (the runner opened before the clock starts; one connection
polls for the end). Measured: wall time until every job is done, runs per second, the workers' CPU, and per
tenant the API calls in any 10-second window against its budgets (HubSpot `requests_per_10s`, ConnectWise
`requests_per_minute`), from a request log kept by the sandbox hosts. The ratio is throughput against the one-worker
run of the same invocation. Needs PostgreSQL (CWSYNC_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from ruamel.yaml import YAML
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("CWSYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PER_HOST = 5
WINDOW_S = 10.0


# --- the sandbox hosts (a child process serving several sandboxes, with a request log) ------------------------------


def host(count: int, seed: int, records: int) -> None:
    """Serve `count` sandboxes in this process; print their URLs as one JSON line; serve until killed."""
    from cwsync_sandbox.connectwise.app import SandboxSettings
    from cwsync_sandbox.server import base_url_of, bind, build_all, make_server

    log: dict[str, list[tuple[float, str]]] = {}
    servers, urls = [], []
    for n in range(count):
        sock = bind("127.0.0.1", 0)
        url = base_url_of(sock)
        settings = SandboxSettings(records=records, seed=seed + n, base_url=url)
        _box, _hs, app = build_all(settings, None, None)
        log[url] = []
        servers.append((make_server(_recording(app, log[url], url)), sock))  # type: ignore[arg-type]
        urls.append(url)
    print(json.dumps(urls), flush=True)

    async def serve() -> None:
        await asyncio.gather(*(server.serve(sockets=[sock]) for server, sock in servers))

    asyncio.run(serve())


def _recording(app: Any, log: list[tuple[float, str]], url: str) -> Any:
    """The app, noting (time, system) of every API request; `/_bench/log` answers the log (and `?reset=1` clears)."""

    async def recorded(scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == "/_bench/log":
            body = json.dumps(log).encode()
            if "reset=1" in scope.get("query_string", b"").decode():
                log.clear()
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
            )
            await send({"type": "http.response.body", "body": body})
            return
        if path and "/_sandbox" not in path:
            log.append((time.time(), "hubspot" if path.startswith("/hubspot") else "connectwise"))
        await app(scope, receive, send)

    return recorded


# --- the benchmark ---------------------------------------------------------------------------------------------------


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cwsync", *args], capture_output=True, text=True, check=False, **kw)


def _tenant_files(directory: Path, urls: list[str], store: str) -> list[Path]:
    yaml, paths = YAML(), []
    for n, url in enumerate(urls):
        name, path = f"t{n:02d}", directory / f"t{n:02d}.yaml"
        done = _run(["init", str(path), "--sandbox", "--sandbox-url", url, "--store", store])
        assert done.returncode == 0, done.stdout + done.stderr
        data = yaml.load(path.read_text())
        data["tenant"] = name
        data["syncs"] = {"hubspot": data["syncs"]["hubspot"]}
        data["syncs"]["hubspot"]["schedule"] = {"incremental_minutes": 10_000, "full_hours": 10_000}
        data["server"]["public_url"] = f"http://127.0.0.1:1/t/{name}"
        data["server"]["api_token"] = f"token-{name}"
        with path.open("w") as out:
            yaml.dump(data, out)
        paths.append(path)
    return paths


def _parallel(commands: list[list[str]], at_once: int = 2) -> None:
    for start in range(0, len(commands), at_once):
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "cwsync", *c], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            for c in commands[start : start + at_once]
        ]
        for proc in procs:
            _out, err = proc.communicate()
            assert proc.returncode == 0, err[-2000:]


def _faults(urls: list[str], latency_ms: float) -> None:
    for url in urls:
        for base in (url, url + "/hubspot"):
            assert httpx.put(f"{base}/_sandbox/faults", json={"latency_ms": latency_ms}).status_code == 200


def _change_sources(urls: list[str]) -> None:
    """Touch 3 contacts, 2 companies and 1 opportunity per tenant (what the record jobs and the deals run carry)."""
    from cwsync_sandbox.connectwise.app import SandboxSettings
    from tests.conftest import auth_headers

    stamp = secrets.token_hex(3)
    for n, url in enumerate(urls):
        headers = auth_headers(SandboxSettings(base_url=url))
        api = f"{url}/v2025_1/apis/3.0"
        for what, path, field in (
            ("contacts", "company/contacts", "title"),
            ("companies", "company/companies", "website"),
        ):
            listed = httpx.get(f"{api}/{path}", params={"pageSize": 10}, headers=headers).json()
            for record in listed[: 3 if what == "contacts" else 2]:
                patch = [{"op": "replace", "path": field, "value": f"bench-{stamp}-{n}"}]
                assert httpx.patch(f"{api}/{path}/{record['id']}", json=patch, headers=headers).status_code == 200
        opportunity = httpx.get(f"{api}/sales/opportunities", params={"pageSize": 1}, headers=headers).json()[0]
        patch = [{"op": "replace", "path": "notes", "value": f"bench-{stamp}"}]
        assert (
            httpx.patch(f"{api}/sales/opportunities/{opportunity['id']}", json=patch, headers=headers).status_code
            == 200
        )


async def _timed(store_url: str, tenants: int, ids: dict[int, dict[str, list[int]]]) -> tuple[float, int]:
    """Queue every tenant's work at once and wait until it is done: (wall seconds, polls of the jobs table).

    The runner is opened before the clock starts, the tenants' jobs are queued concurrently (each tenant's in
    order, as separate webhook requests to `serve` would), and one connection polls every 20 ms: the clock sees the
    workers, not the harness (a fresh connection per look forks a PostgreSQL backend each time).
    """
    from cwsync.runtime.procrastinate_runner import ProcrastinateRunner
    from cwsync.store import JobStore, Store

    store = await Store.open(store_url)
    poll = await asyncpg.connect(make_url(store_url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        runner = ProcrastinateRunner(JobStore(store), store_url)
        async with runner.opened():
            started = time.perf_counter()
            await asyncio.gather(*(_enqueue_tenant(runner, n, ids[n]) for n in range(tenants)))
            idle, looks = "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')", 1
            async with asyncio.timeout(600):
                while await poll.fetchval(idle) > 0:
                    await asyncio.sleep(0.02)
                    looks += 1
            return time.perf_counter() - started, looks
    finally:
        await poll.close()
        await store.close()


async def _enqueue_tenant(runner: Any, n: int, ids: dict[str, list[int]]) -> None:
    from cwsync.runtime.jobs import JobSpec

    tenant = f"t{n:02d}"
    for pair, records in ids.items():
        for record in records:
            ref = f"connectwise:{pair}:{record}"
            key = f"record:{tenant}:{ref}:{secrets.token_hex(2)}"
            await runner.enqueue(JobSpec(tenant=tenant, pair=pair, kind="record", record=ref, queueing_key=key))
    await runner.enqueue(JobSpec(tenant=tenant, pair="deals", kind="incremental", payload={"trigger": "api"}))


async def _pg_stats(url: str) -> dict[str, int]:
    """The database's committed transactions and rows written so far (pg_stat_database, every client)."""
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await conn.fetchrow(  # rows read are left out: the benchmark's own polls read the jobs table
            "SELECT xact_commit AS transactions, tup_inserted + tup_updated + tup_deleted AS rows_written"
            " FROM pg_stat_database WHERE datname = current_database()"
        )
        return {k: int(v) for k, v in dict(row).items()}
    finally:
        await conn.close()


async def _scalar(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _wait(check: Callable[[], bool], timeout: float) -> int:
    """Poll until `check()`; returns how many times it looked (each look is one transaction of the benchmark's)."""
    deadline, looks = time.monotonic() + timeout, 1
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark phase did not finish")
        time.sleep(0.05)
        looks += 1
    return looks


def _windows(log: list[tuple[float, str]], system: str) -> int:
    """The most calls to `system` in any 10-second window."""
    stamps = sorted(t for t, s in log if s == system)
    return max((bisect.bisect_right(stamps, t + WINDOW_S) - i for i, t in enumerate(stamps)), default=0)


def _record_ids(urls: list[str]) -> dict[int, dict[str, list[int]]]:
    from cwsync_sandbox.connectwise.app import SandboxSettings
    from tests.conftest import auth_headers

    out = {}
    for n, url in enumerate(urls):
        headers, api = auth_headers(SandboxSettings(base_url=url)), f"{url}/v2025_1/apis/3.0"
        contacts = httpx.get(f"{api}/company/contacts", params={"pageSize": 3}, headers=headers).json()
        companies = httpx.get(f"{api}/company/companies", params={"pageSize": 2}, headers=headers).json()
        out[n] = {"contacts": [c["id"] for c in contacts], "companies": [c["id"] for c in companies]}
    return out


def _cpu(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


def phase(
    workers: int,
    directory: Path,
    store: str,
    urls: list[str],
    ids: dict[int, dict[str, list[int]]],
    hosts: list[int],
) -> dict[str, Any]:
    """One measurement: `workers` worker processes, every tenant's work queued at once."""
    env = {**os.environ, "CWSYNC_LOG_LEVEL": "error"}
    _change_sources(urls)
    before = asyncio.run(_scalar(store, "SELECT count(*) FROM runs"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "cwsync", "worker", "-t", str(directory), "--concurrency", "1", "--no-schedule"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(workers)
    ]
    try:
        _wait(lambda: asyncio.run(_scalar(store, "SELECT count(*) FROM procrastinate_workers")) >= workers, 120)
        for url in urls:
            httpx.get(f"{url}/_bench/log", params={"reset": 1})
        cpu0, host0 = _cpu([p.pid for p in procs]), _cpu(hosts)
        pg0 = asyncio.run(_pg_stats(store))
        wall, looks = asyncio.run(_timed(store, len(urls), ids))
        cpu, host_cpu = _cpu([p.pid for p in procs]) - cpu0, _cpu(hosts) - host0
        pg = {k: v - pg0[k] for k, v in asyncio.run(_pg_stats(store)).items()}
        pg["transactions"] -= looks + 1  # the benchmark's own polls and stats read
        rss = max(psutil.Process(p.pid).memory_info().rss for p in procs) / 2**20
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    runs = asyncio.run(_scalar(store, "SELECT count(*) FROM runs")) - before
    failed = asyncio.run(_scalar(store, "SELECT count(*) FROM runs WHERE status <> 'succeeded'"))
    logs = [httpx.get(f"{url}/_bench/log").json() for url in urls]
    peaks = {system: max(_windows(log, system) for log in logs) for system in ("hubspot", "connectwise")}
    calls = sum(len(log) for log in logs)
    jobs = len(urls) * 6  # 3 contact and 2 company record jobs and one deals run per tenant
    return {
        "workers": workers,
        "wall_s": round(wall, 2),
        "runs": runs,
        "runs_not_succeeded": failed,
        "runs_per_s": round(runs / wall, 2),
        "worker_cpu_s": round(cpu, 2),
        "sandbox_cpu_s": round(host_cpu, 2),
        "jobs": jobs,
        "pg_per_job": {k: round(v / jobs, 1) for k, v in pg.items()},
        "worker_rss_mb": round(rss),
        "api_calls": calls,
        "peak_calls_per_10s": peaks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    name = f"cwsync_bench_{secrets.token_hex(4)}"
    admin = make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    store = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    hosts: list[subprocess.Popen[str]] = []
    try:
        urls: list[str] = []
        for first in range(0, args.tenants, PER_HOST):
            count = min(PER_HOST, args.tenants - first)
            cmd = [sys.executable, __file__, "_host", str(count), str(100 + first), str(args.records)]
            hosts.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
            urls += json.loads(hosts[-1].stdout.readline())  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp) / "tenants"
            directory.mkdir()
            paths = _tenant_files(directory, urls, store)
            assert _run(["migrate", "upgrade", "-c", str(paths[0])]).returncode == 0
            _parallel([["sync", "-c", str(p)] for p in paths])  # the first sync, untimed, at full speed
            _faults(urls, args.latency_ms)
            ids = _record_ids(urls)
            pids = [h.pid for h in hosts]
            results = [phase(int(w), directory, store, urls, ids, pids) for w in args.workers.split(",")]
    finally:
        for proc in hosts:
            proc.kill()
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    base = results[0]["runs_per_s"]
    for r in results:
        r["speedup"] = round(r["runs_per_s"] / base, 2)
    budgets = {"hubspot": 190, "connectwise": 900 // 6}
    report = {
        "tenants": args.tenants,
        "latency_ms": args.latency_ms,
        "budgets_per_10s": budgets,
        "results": results,
        "load_average": os.getloadavg(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{args.tenants} tenants, {args.latency_ms:.0f} ms per API call; budgets per 10 s: {budgets}")
    for r in results:
        rate = f"{r['runs']} runs in {r['wall_s']} s = {r['runs_per_s']} runs/s ({r['speedup']}×)"
        peak = f"peak per tenant per 10 s {r['peak_calls_per_10s']}"
        cpu = f"worker CPU {r['worker_cpu_s']} s, sandbox hosts' CPU {r['sandbox_cpu_s']} s"
        print(f"{r['workers']} worker(s): {rate}, {cpu}, {r['api_calls']} API calls, {peak}")
    print(f"load average at the end: {report['load_average']}")


async def _admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_host":
        host(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
