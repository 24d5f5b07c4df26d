"""Benchmark: device sync (CB-7) of N configurations from the ConnectWise emulator, and the no-op re-syncs.

The emulator runs in a child process (so this process's CPU is cwsync's own), with `--latency-ms` added to every
request. This process runs, against the same configurations, `--samples` interleaved pairs:

- **baseline**: a bare httpx loop doing the same forward-only paging (`pageSize=1000`, `pageId`, the same `fields=`),
  each page decoded with orjson (the decoder the client uses: `httpx.Response.json()`'s standard `json` took ~1 ms
  more per page, which the baseline then spent and the sync did not), nothing else — the floor of reading N
  configurations;
- **first sync**: `DeviceSync.run()` into an empty SQLite store (plan each page, one transaction per page);

the two in turns, the baseline first in odd samples and the sync first in even ones (a drift of the machine's load
within a pair then favours neither); then, on the last sample's store, the **no-op re-syncs**: an incremental run
(nothing changed since the cursor) and a full run (all unchanged). The ratio of each pair (first sync ÷ its
baseline) is printed, and the median of them (5 pairs unless told: with 3, one noisy sample of this shared
machine's ±10% decided it) is held against the target (issue 12: ≤ 1.05×); CPU beside wall for every phase.

    .venv/bin/python benchmarks/device_sync.py                       # 50k configurations, 20 ms latency
    .venv/bin/python benchmarks/device_sync.py --configurations 5000 --latency-ms 0
    .venv/bin/python benchmarks/device_sync.py --configurations 20000 --samples 1 --profile /tmp/sync.prof
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import json
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

import bench_common
from bench_child import Child

PAGE = 1000
FIELDS = "id,name,type/name,company/id,company/identifier,serialNumber,status/name,_info/lastUpdated"
TYPES = {
    "Managed Server": "Server",
    "Managed Workstation": "Workstation",
    "Laptop": "Laptop",
    "Firewall": "Firewall",
    "Switch": "Network Switch",
    "Wireless AP": "Access Point",
    "Virtual Machine": "Server",
}


# -- the child: the emulator over loopback -------------------------------------------------------------------------


def serve(spec: dict[str, Any]) -> None:
    """Serve the ConnectWise emulator; print its address and credentials, then wait for stdin to close."""
    from cwsync.logs import configure_logging
    from cwsync_sandbox.connectwise.app import SandboxSettings
    from cwsync_sandbox.faults import FaultSettings

    configure_logging("warning")
    faults = FaultSettings(latency_ms=spec["latency_ms"])
    settings = SandboxSettings(records=100, counts={"configurations": spec["configurations"]}, faults=faults)
    with serving(settings) as (base_url, box):
        s = box.settings
        hello = {
            "site": base_url,
            "api_root": box.api_root,
            "company_id": s.company_id,
            "public_key": s.public_key,
            "private_key": s.private_key,
            "client_id": s.client_id,
        }
        print(json.dumps(hello), flush=True)
        for _ in sys.stdin:
            pass


@contextmanager
def serving(settings: Any) -> Iterator[tuple[str, Any]]:
    """The emulator served from a socket opened with IPPROTO_TCP, so its connections get TCP_NODELAY.

    (`cwsync_sandbox.server.bind` opens protocol 0: asyncio then leaves Nagle on and each keep-alive response waits
    ~40 ms for a delayed ACK — an emulator artifact, see benchmarks/README.md, first_sync_hubspot.)
    """
    from cwsync_sandbox.server import base_url_of, build_all, make_server

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    base_url = base_url_of(sock)
    box, _, app = build_all(settings.model_copy(update={"base_url": base_url}), None, None)
    server = make_server(app)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the sandbox server did not start")
        time.sleep(0.01)
    try:
        yield base_url, box
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- measurements -------------------------------------------------------------------------------------------------


class Counter:
    """Requests sent through an httpx client (event hook)."""

    def __init__(self) -> None:
        self.requests = 0

    async def hook(self, _: httpx.Request) -> None:
        self.requests += 1


def _auth(hello: dict[str, Any]) -> dict[str, str]:
    user = f"{hello['company_id']}+{hello['public_key']}:{hello['private_key']}"
    return {
        "Authorization": "Basic " + base64.b64encode(user.encode()).decode(),
        "clientId": hello["client_id"],
        "Accept": "application/vnd.connectwise.com+json; version=2025.8",
        "pagination-type": "forward-only",
    }


async def bare(hello: dict[str, Any]) -> dict[str, Any]:
    """The baseline: a plain httpx forward-only page loop over the same configurations and fields."""
    url, headers = f"{hello['api_root']}/company/configurations", _auth(hello)
    total, page_id, calls = 0, 0, 0
    started, cpu = time.perf_counter(), time.process_time()
    async with httpx.AsyncClient(timeout=120) as client:
        while True:
            params: dict[str, Any] = {"pageSize": PAGE, "pageId": page_id, "fields": FIELDS}
            response = await client.get(url, params=params, headers=headers)
            calls += 1
            response.raise_for_status()
            rows = orjson.loads(response.content)
            total += len(rows)
            if len(rows) < PAGE:
                break
            page_id = rows[-1]["id"]
    return {
        "records": total,
        "seconds": time.perf_counter() - started,
        "calls": calls,
        "cpu": time.process_time() - cpu,
    }


async def product(
    hello: dict[str, Any], workdir: Path, *, resyncs: bool = True, profile: str | None = None
) -> list[dict[str, Any]]:
    """DeviceSync: a first (full) run into an empty store, then (with `resyncs`) an incremental and a full no-op
    re-sync; with `profile`, the first run under cProfile (its stats written to that file: the engine's own CPU,
    the emulator being in the child)."""
    from cwsync.config.changes import DevicesConfig
    from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
    from cwsync.integrations.devices.sync import DeviceSync
    from cwsync.runtime.memory import tune_gc
    from cwsync.store import Store

    tune_gc()  # as the CLI does when a command starts its work (`cwsync changes devices sync`)
    settings = ConnectWiseSettings(
        site=hello["site"],
        company_id=hello["company_id"],
        public_key=hello["public_key"],
        private_key=hello["private_key"],
        client_id=hello["client_id"],
        requests_per_minute=None,
    )
    counter = Counter()
    store = await Store.open(f"sqlite:///{workdir / 'devices.db'}")
    phases = []
    try:
        http = httpx.AsyncClient(timeout=120, event_hooks={"request": [counter.hook]})
        async with http, ConnectWiseClient(settings, http=http) as cw:
            await cw.company_info()  # discovery is not part of a run
            sync = DeviceSync(client=cw, store=store, config=DevicesConfig(types=TYPES), tenant="bench")
            runs = [("first sync", False), ("no-op re-sync (incremental)", False), ("no-op re-sync (full)", True)]
            for name, full in runs if resyncs else runs[:1]:
                before, cpu, started = counter.requests, time.process_time(), time.perf_counter()
                profiler = cProfile.Profile() if profile and name == "first sync" else None
                if profiler is not None:
                    profiler.enable()
                report = await sync.run(full=full)
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(profile)
                phases.append(
                    {
                        "phase": name,
                        "seconds": time.perf_counter() - started,
                        "cpu": time.process_time() - cpu,
                        "calls": counter.requests - before,
                        "report": report.model_dump(),
                    }
                )
    finally:
        await store.close()
    return phases


def main() -> None:
    """Parse arguments; run as the parent (report) or as the child (the emulator)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configurations", type=int, default=50_000)
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--samples", type=int, default=5, help="interleaved baseline / first-sync pairs")
    parser.add_argument(
        "--profile", metavar="FILE", help="write a cProfile of the last sample's first sync here (its times skew)"
    )
    parser.add_argument("--serve")
    bench_common.add_arguments(parser)
    args = parser.parse_args()
    if args.serve:
        serve(json.loads(args.serve))
        return
    from cwsync.logs import configure_logging

    configure_logging("warning")
    with bench_common.session("device_sync", args.hog):
        child = Child({"configurations": args.configurations, "latency_ms": args.latency_ms}, __file__)
        pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        try:
            for n in range(args.samples):
                sync_first = n % 2 == 1
                baseline = asyncio.run(bare(child.hello)) if not sync_first else {}
                with tempfile.TemporaryDirectory() as tmp:
                    last = n == args.samples - 1
                    profile = args.profile if last else None
                    phases = asyncio.run(product(child.hello, Path(tmp), resyncs=last, profile=profile))
                if sync_first:
                    baseline = asyncio.run(bare(child.hello))
                pairs.append((baseline, phases[0]))
        finally:
            child.close()
        report(args, pairs, phases)


def report(
    args: argparse.Namespace, pairs: list[tuple[dict[str, Any], dict[str, Any]]], phases: list[dict[str, Any]]
) -> None:
    """Print the figures."""
    n = pairs[0][0]["records"]
    print(f"{args.configurations} configurations, {args.latency_ms:g} ms latency per request, pages of {PAGE}")
    ratios = []
    for i, (baseline, first) in enumerate(pairs, start=1):
        ratios.append(first["seconds"] / baseline["seconds"])
        print(
            f"sample {i}: baseline (bare httpx paging) {baseline['seconds']:.2f} s wall, {baseline['cpu']:.2f} s CPU, "
            f"{n / baseline['seconds']:.0f} records/s, {baseline['calls']} calls; first sync {first['seconds']:.2f} s "
            f"wall, {first['cpu']:.2f} s CPU: ratio {ratios[-1]:.3f}"
        )
    print(
        f"ratios {', '.join(f'{r:.3f}' for r in ratios)}: median {bench_common.median(ratios):.3f}, "
        f"best {min(ratios):.3f}"
    )
    print(f"{'phase (last sample)':<30} {'wall s':>8} {'rec/s':>8} {'calls':>6} {'calls/rec':>9} {'cpu s':>6}  counts")
    for p in phases:
        r = p["report"]
        rate = r["read"] / p["seconds"] if r["read"] else 0
        per = p["calls"] / r["read"] if r["read"] else float("nan")
        counts = f"created {r['created']} updated {r['updated']} unchanged {r['unchanged']} skipped {r['skipped']}"
        print(
            f"{p['phase']:<30} {p['seconds']:>8.2f} {rate:>8.0f} {p['calls']:>6} {per:>9.4f} {p['cpu']:>6.2f}  {counts}"
        )
    bench_common.target("device first sync wall / bare paging loop (median)", bench_common.median(ratios), 1.05)
    print(f"peak RSS: {bench_common.peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
