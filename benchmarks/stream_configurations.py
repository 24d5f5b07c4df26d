"""Benchmark: stream N configurations from the sandbox over loopback with `ConnectWiseClient.stream`.

Baseline, measured in the same run against the same sandbox: a bare httpx loop doing the same forward-only paging
(`pageSize=1000`, `pageId`), with no retry, limits or error handling. Each measurement runs in a fresh process so
its peak RSS is its own. Targets (issue 2): client speed ≥ 0.9× the bare loop; peak RSS at 100k within 20% of 10k.

    .venv/bin/python benchmarks/stream_configurations.py [--sizes 10000 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import subprocess
import sys
import time
from typing import Any

import httpx

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


def child(kind: str, settings: dict[str, str]) -> None:
    """Run one measurement in this (fresh) process and print it as JSON."""
    started = time.perf_counter()
    count = asyncio.run(_bare(settings) if kind == "bare" else _client(settings))
    elapsed = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"kind": kind, "records": count, "seconds": elapsed, "peak_rss_mb": peak_kb / 1024}))


def _measure(kind: str, settings: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--settings", json.dumps(settings)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(sizes: list[int], repeat: int) -> list[dict[str, Any]]:
    """Measure every size, alternating bare and client runs; keep the best of `repeat` for each."""
    rows = []
    for size in sizes:
        with running_sandbox(SandboxSettings(records=100, counts={"configurations": size})) as sandbox:
            s = sandbox.sandbox.settings
            settings = {
                "site": sandbox.base_url,
                "api_root": sandbox.sandbox.api_root,
                "company_id": s.company_id,
                "public_key": s.public_key,
                "private_key": s.private_key,
                "client_id": s.client_id,
            }
            best: dict[str, dict[str, Any]] = {}
            for _ in range(repeat):
                for kind in ("bare", "client"):
                    result = _measure(kind, settings)
                    assert result["records"] == size, result
                    if kind not in best or result["seconds"] < best[kind]["seconds"]:
                        best[kind] = result
        bare, client = best["bare"], best["client"]
        rows.append(
            {
                "size": size,
                "bare_rps": size / bare["seconds"],
                "client_rps": size / client["seconds"],
                "speed_ratio": bare["seconds"] / client["seconds"],
                "bare_rss_mb": bare["peak_rss_mb"],
                "client_rss_mb": client["peak_rss_mb"],
            }
        )
    return rows


def main() -> None:
    """Parse arguments; run as the parent (report) or as a child (one measurement)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["bare", "client"])
    parser.add_argument("--settings")
    args = parser.parse_args()
    if args.child:
        child(args.child, json.loads(args.settings))
        return
    rows = run(args.sizes, args.repeat)
    print(f"{'records':>8} {'bare rec/s':>11} {'client rec/s':>13} {'ratio':>6} {'bare RSS':>9} {'client RSS':>11}")
    for r in rows:
        print(
            f"{r['size']:>8} {r['bare_rps']:>11.0f} {r['client_rps']:>13.0f} {r['speed_ratio']:>6.2f} "
            f"{r['bare_rss_mb']:>7.1f}MB {r['client_rss_mb']:>9.1f}MB"
        )
    if len(rows) >= 2:
        growth = rows[-1]["client_rss_mb"] / rows[0]["client_rss_mb"]
        print(f"client peak RSS {rows[-1]['size']} vs {rows[0]['size']}: {growth:.2f}x (target <= 1.20)")
    print(f"speed ratio client/bare (target >= 0.90): {min(r['speed_ratio'] for r in rows):.2f} (worst size)")


if __name__ == "__main__":
    main()
