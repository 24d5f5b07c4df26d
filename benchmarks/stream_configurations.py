"""Benchmark: stream N configurations from the sandbox over loopback with `ConnectWiseClient.stream`, against a bare
httpx loop and against pyconnectwise (the third-party client), with `--latency-ms` on every request.

Measured in the same run against the same sandbox, interleaved (bare, client, pyconnectwise, then again):
- **bare**: an httpx loop doing the same forward-only paging (`pageSize=1000`, `pageId`), nothing else — the floor;
- **client**: `ConnectWiseClient.stream` with discovery, the concurrency cap, rate limiter, retries, error mapping;
- **pyconnectwise**: `client.company.configurations.paginated(1, 1000).all()` (synchronous, `requests`, its models).
Each measurement runs in a fresh process so its peak RSS and its CPU time are its own. Reported per size: best and
median wall, CPU per record, peak RSS. Targets: client speed ≥ 0.9× the bare loop (issue 2); client peak RSS at the
largest size within 20% of the smallest; against pyconnectwise (issue 19) CPU per record ≤ 1/3 of its and wall ≥ 2×
faster.

    .venv/bin/python benchmarks/stream_configurations.py [--sizes 10000 100000] [--repeat 3] [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx

import bench_common
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import running_sandbox

PAGE = 1000


def _auth(settings: dict[str, str]) -> dict[str, str]:
    user = f"{settings['company_id']}+{settings['public_key']}:{settings['private_key']}"
    return {
        "Authorization": "Basic " + base64.b64encode(user.encode()).decode(),
        "clientId": settings["client_id"],
        "Accept": "application/vnd.connectwise.com+json; version=2025.8",
    }


async def _bare(settings: dict[str, str]) -> int:
    """The baseline: a plain httpx forward-only page loop."""
    url = f"{settings['api_root']}/company/configurations"
    headers = {**_auth(settings), "pagination-type": "forward-only"}
    total, page_id = 0, 0
    async with httpx.AsyncClient(timeout=60) as client:
        while True:
            response = await client.get(url, params={"pageSize": PAGE, "pageId": page_id}, headers=headers)
            response.raise_for_status()
            rows = response.json()
            if not rows:
                return total
            total += len(rows)
            page_id = rows[-1]["id"]


async def _client(settings: dict[str, str]) -> int:
    """The product: ConnectWiseClient.stream with discovery, retries, limits."""
    from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings

    cw = ConnectWiseSettings(
        site=settings["site"],
        company_id=settings["company_id"],
        public_key=settings["public_key"],
        private_key=settings["private_key"],
        client_id=settings["client_id"],
        requests_per_minute=None,
    )
    total = 0
    async with ConnectWiseClient(cw) as client:
        async for page in client.stream("company/configurations", page_size=PAGE):
            total += len(page)
    return total


def _pyconnectwise(settings: dict[str, str]) -> int:
    """The third-party client: pyconnectwise's paginated iterator (it builds `https://` URLs: pointed at loopback)."""
    from pyconnectwise import ConnectWiseManageAPIClient

    class Loopback(ConnectWiseManageAPIClient):  # type: ignore[misc]
        def _get_url(self) -> str:
            return str(settings["api_root"])

    client = Loopback(
        settings["company_id"],
        settings["site"].split("//", 1)[1],
        settings["client_id"],
        settings["public_key"],
        settings["private_key"],
        codebase=settings["codebase"],  # given, so it does not discover it over https
    )
    return sum(1 for _ in client.company.configurations.paginated(1, PAGE).all())


def child(kind: str, settings: dict[str, str]) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    started, cpu = time.perf_counter(), time.process_time()
    if kind == "pyconnectwise":
        count = _pyconnectwise(settings)
    else:
        count = asyncio.run(_bare(settings) if kind == "bare" else _client(settings))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"kind": kind, "records": count, "seconds": elapsed, "cpu": cpu, "peak_rss_mb": peak_kb / 1024}))


def _measure(kind: str, settings: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--settings", json.dumps(settings)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


KINDS = ("bare", "client", "pyconnectwise")


def run(sizes: list[int], repeat: int, latency_ms: float) -> list[dict[str, Any]]:
    """Measure every size, interleaving the three kinds `repeat` times."""
    from cwsync_sandbox.faults import FaultSettings

    rows = []
    for size in sizes:
        faults = FaultSettings(latency_ms=latency_ms)
        with running_sandbox(SandboxSettings(records=100, counts={"configurations": size}, faults=faults)) as sandbox:
            s = sandbox.sandbox.settings
            settings = {
                "site": sandbox.base_url,
                "api_root": sandbox.sandbox.api_root,
                "company_id": s.company_id,
                "public_key": s.public_key,
                "private_key": s.private_key,
                "client_id": s.client_id,
                "codebase": s.codebase,
            }
            runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
            for _ in range(repeat):
                for kind in KINDS:
                    result = _measure(kind, settings)
                    assert result["records"] == size, result
                    runs[kind].append(result)
        row: dict[str, Any] = {"size": size}
        for kind, results in runs.items():
            walls = [r["seconds"] for r in results]
            row[kind] = {
                "best": min(walls),
                "median": statistics.median(walls),
                "cpu_us": 1e6 * statistics.median(r["cpu"] for r in results) / size,
                "rss": max(r["peak_rss_mb"] for r in results),
            }
        rows.append(row)
    return rows


def main() -> None:
    """Parse arguments; run as the parent (report) or as a child (one measurement)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--child", choices=KINDS)
    parser.add_argument("--settings")
    bench_common.add_arguments(parser)
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(args.settings))
        return
    with bench_common.session("stream_configurations", args.hog):
        rows = run(args.sizes, args.repeat, args.latency_ms)
        report(rows, args)


def report(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Print the table and the targets."""
    print(f"{args.latency_ms:g} ms per request, pages of {PAGE}, {args.repeat} interleaved runs of each")
    print(f"{'records':>8} {'kind':<14} {'best s':>8} {'median s':>9} {'rec/s':>8} {'CPU µs/rec':>11} {'peak RSS':>9}")
    for r in rows:
        for kind in KINDS:
            k = r[kind]
            print(
                f"{r['size']:>8} {kind:<14} {k['best']:>8.2f} {k['median']:>9.2f} {r['size'] / k['median']:>8.0f} "
                f"{k['cpu_us']:>11.1f} {k['rss']:>7.1f}MB"
            )
    worst = min(r["bare"]["median"] / r["client"]["median"] for r in rows)
    bench_common.target("client speed / bare loop (median, worst size)", worst, 0.9, at_most=False)
    if len(rows) >= 2:
        growth = rows[-1]["client"]["rss"] / rows[0]["client"]["rss"]
        bench_common.target(f"client peak RSS {rows[-1]['size']} / {rows[0]['size']}", growth, 1.2)
    cpu_share = max(r["client"]["cpu_us"] / r["pyconnectwise"]["cpu_us"] for r in rows)
    bench_common.target("client CPU per record / pyconnectwise's (worst size)", cpu_share, 1 / 3)
    faster = min(r["pyconnectwise"]["median"] / r["client"]["median"] for r in rows)
    bench_common.target("client wall speed-up over pyconnectwise (median, worst size)", faster, 2.0, at_most=False)


if __name__ == "__main__":
    main()
