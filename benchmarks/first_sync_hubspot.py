"""Benchmark: the first HubSpot sync of a large ConnectWise instance, and the no-op re-sync after it (issue 3).

Both emulators run in a child process (so the engine's CPU time is its own), with `--latency-ms` added to every
API request and HubSpot's default rate limit (`--rate` requests per 10 s). The engine (`HubSpotSync`, its two
clients and a SQLite store) runs here. Every HTTP request is counted through httpx event hooks, by side (ConnectWise
or HubSpot), object type and kind of call.

Baseline: the lower bounds the rate limit sets, from the same run: the fewest HubSpot calls that can carry what the
run wrote (one batch create per 100 records created, one batch association per 100 associations made, per object
type and association, whatever calls the engine made). The lenient bound is those calls at `rate / 10` per second;
the strict one is what the sliding 10 s window allows at best (the first `rate` calls at once, then `rate` more
every 10 s). Targets (issue 19): wall ≤ 1.06× the lenient bound (≤ 1.10× with `--hog`), engine CPU ≤ 200 µs per
synced record. Also reported: API calls per record, peak RSS, and the no-op re-sync's calls per object type
(target O(1)) and time. Every run prints the load average at its start and end.

    .venv/bin/python benchmarks/first_sync_hubspot.py                  # 10k companies, 50k contacts, 5k deals
    .venv/bin/python benchmarks/first_sync_hubspot.py --scale 0.02     # a quick try at 2% of that
    .venv/bin/python benchmarks/first_sync_hubspot.py --resyncs 0 --hog  # with another process holding one core
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import bench_common
from bench_child import Child, credentials

BATCH = 100
"""HubSpot's inputs per batch request."""

CW_TYPES = {"company/companies": "companies", "company/contacts": "contacts", "sales/opportunities": "deals"}
HS_PREFIX = "/hubspot"
ASSOCIATIONS = (("contacts", "companies"), ("deals", "companies"), ("deals", "contacts"))
"""The associations the sync writes (reference fields: contact → company, deal → company and contact)."""


# -- the child: both emulators, served over loopback ------------------------------------------------------------


def serve(spec: dict[str, Any]) -> None:
    """Serve both emulators; print their addresses, then answer `stats` lines on stdin until it closes."""
    from cwsync.logs import configure_logging
    from cwsync_sandbox.connectwise.app import SandboxSettings
    from cwsync_sandbox.faults import FaultSettings
    from cwsync_sandbox.hubspot import HubSpotSandboxSettings

    configure_logging("warning")
    faults = FaultSettings(latency_ms=spec["latency_ms"])
    settings = SandboxSettings(records=0, counts=spec["counts"], seed=spec["seed"], faults=faults)
    hubspot = HubSpotSandboxSettings(rate_limit_per_10s=spec["rate"], faults=faults)
    from cwsync_sandbox.server import running_sandbox

    with running_sandbox(settings, hubspot=hubspot) as running:  # its socket gets TCP_NODELAY (IPPROTO_TCP)
        assert running.hubspot is not None
        hello = credentials(running) | {
            "cw_live": {e: running.sandbox.store.live_count(e) for e in ("companies", "contacts", "opportunities")},
        }
        print(json.dumps(hello), flush=True)
        for line in sys.stdin:
            if line.strip() == "stats":
                state = running.hubspot.state
                usage = resource.getrusage(resource.RUSAGE_SELF)
                stats = {
                    "cpu": usage.ru_utime + usage.ru_stime,
                    "hs_live": {t: c["live"] for t, c in state.counts().items()},
                    "hs_associations": {
                        f"{a}>{b}": sum(1 for (t, _), targets in state.links.items() if t == a and targets.get(b))
                        for a, b in ASSOCIATIONS
                    },
                }
                print(json.dumps(stats), flush=True)


class Sandbox(Child):
    """The child process serving the emulators; `stats` reads its CPU time and what HubSpot holds."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec, __file__)

    def stats(self) -> dict[str, Any]:
        """The child's CPU time so far and what HubSpot holds."""
        return self.ask("stats")


# -- counting requests ----------------------------------------------------------------------------------------------

_HS_OBJECTS = re.compile(r"/crm/v3/objects/(?P<type>[a-z_]+)(?P<rest>/.*)?$")
_HS_ASSOC = re.compile(r"/crm/v4/associations/(?P<type>[a-z_]+)/(?P<to>[a-z_]+)/batch/(?P<op>.+)$")
_HS_PROPS = re.compile(r"/crm/v3/properties/(?P<type>[a-z_]+)")
_CW_API = re.compile(r"/apis/3\.0/(?P<path>.*)$")


def classify(request: httpx.Request) -> tuple[str, str, str]:
    """(side, object type, kind of call) of a request."""
    path, method = request.url.path, request.method
    if path.startswith(HS_PREFIX):
        path = path[len(HS_PREFIX) :]
        if m := _HS_ASSOC.search(path):
            op = "associate" if m["op"].startswith("associate") else f"{m['op']} associations"
            return "hubspot", m["type"], f"{op} → {m['to']}"
        if m := _HS_OBJECTS.search(path):
            rest = m["rest"] or ""
            if rest.startswith("/batch/"):
                return "hubspot", m["type"], f"batch {rest[len('/batch/') :]}"
            if rest == "/search":
                return "hubspot", m["type"], "search"
            return "hubspot", m["type"], ("list" if method == "GET" else "create one") if not rest else f"{method} one"
        if m := _HS_PROPS.search(path):
            return "hubspot", m["type"], "properties"
        return "hubspot", "other", f"{method} {path}"
    if m := _CW_API.search(path):
        resource_path = re.sub(r"/\d+", "/{id}", m["path"])
        entity = re.sub(r"/\{id\}.*$", "", resource_path)
        kind = {"GET": "read", "POST": "create", "PATCH": "patch", "PUT": "put"}.get(method, method)
        return "connectwise", CW_TYPES.get(entity, entity), kind if resource_path == entity else f"{kind} one"
    return "connectwise", "other", f"{method} {path}"


@dataclass
class Meter:
    """Requests counted by (side, type, kind), responses by status, and time spent waiting for answers."""

    calls: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    http_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(("hubspot", "connectwise"), 0.0))
    paced_seconds: float = 0.0
    started: dict[int, float] = field(default_factory=dict)
    timeline: list[tuple[float, str, str, str]] = field(default_factory=list)
    """(perf_counter at send, side, type, kind) of every request: where the run waited."""

    in_flight: int = 0
    """HubSpot requests sent and not answered yet (sampled by `Monitor`)."""
    pacing: int = 0
    """HubSpot requests waiting for the pacer right now."""

    async def on_request(self, request: httpx.Request) -> None:
        kind = classify(request)
        self.calls[kind] += 1
        self.in_flight += kind[0] == "hubspot"
        self.started[id(request)] = now = time.perf_counter()
        self.timeline.append((now, *kind))

    async def on_response(self, response: httpx.Response) -> None:
        await response.aread()  # the body too: the time is request sent → response read
        side = classify(response.request)[0]
        self.in_flight -= side == "hubspot"
        self.statuses[(side, response.status_code)] += 1
        began = self.started.pop(id(response.request), None)
        if began is not None:
            self.http_seconds[side] += time.perf_counter() - began

    async def sleep(self, seconds: float) -> None:
        """The HubSpot client's sleep: pacing waits (and retry back-offs) are summed."""
        self.paced_seconds += max(seconds, 0.0)
        self.pacing += 1
        try:
            await asyncio.sleep(seconds)
        finally:
            self.pacing -= 1

    def http(self) -> httpx.AsyncClient:
        """An httpx client whose requests this meter counts."""
        hooks: dict[str, list[Callable[..., Any]]] = {"request": [self.on_request], "response": [self.on_response]}
        return httpx.AsyncClient(timeout=120, event_hooks=hooks)

    def snapshot(self) -> Meter:
        """A copy of the counters (to diff phases)."""
        return Meter(
            Counter(self.calls),
            Counter(self.statuses),
            dict(self.http_seconds),
            self.paced_seconds,
            {},
            list(self.timeline),
        )

    def since(self, before: Meter) -> Meter:
        """What was counted after `before`."""
        return Meter(
            self.calls - before.calls,
            self.statuses - before.statuses,
            {side: seconds - before.http_seconds[side] for side, seconds in self.http_seconds.items()},
            self.paced_seconds - before.paced_seconds,
            {},
            self.timeline[len(before.timeline) :],
        )

    def total(self, side: str, object_type: str | None = None) -> int:
        return sum(n for (s, t, _), n in self.calls.items() if s == side and object_type in (None, t))


class Monitor:
    """Samples the engine's event loop every `TICK` s during a run: how late the sample wakes (the loop was busy),
    and whether HubSpot work was waiting (requests in flight or held by the pacer) or not (the engine had none)."""

    TICK = 0.05

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.samples: list[tuple[float, float, int, int]] = []  # (time, lag, in flight, pacing)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Monitor:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _sample(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.TICK)
            now = time.perf_counter()
            self.samples.append((now, now - before - self.TICK, self.meter.in_flight, self.meter.pacing))

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        lags = [lag for _, lag, _, _ in self.samples]
        idle = sum(1 for _, _, flying, pacing in self.samples if flying == 0 and pacing == 0)
        paced = sum(1 for _, _, _, pacing in self.samples if pacing)
        n = len(self.samples)
        return (
            f"event loop late by > 50 ms in {sum(lag > 0.05 for lag in lags)} of {n} samples (longest "
            f"{1000 * max(lags):.0f} ms, {sum(lags):.1f} s in all); HubSpot: nothing in flight or waiting in "
            f"{100 * idle / n:.0f}% of samples, requests held by the pacer in {100 * paced / n:.0f}%"
        )


# -- the engine run ---------------------------------------------------------------------------------------------


@dataclass
class Phase:
    """One run of the engine, as measured."""

    name: str
    wall: float
    cpu: float
    sandbox_cpu: float
    meter: Meter
    counts: dict[str, dict[str, int]]
    after: dict[str, Any]
    began: float = 0.0
    """perf_counter at the run's start (the timeline's zero)."""
    loop: str = ""
    """What the `Monitor` saw."""
    peak_rss: float = 0.0
    """The engine process's peak RSS (MB) at the end of this run: which run set it."""


async def run(
    hello: dict[str, Any], sandbox: Sandbox, rate: int, workdir: Path, pause: float = 0, resyncs: int = 2
) -> list[Phase]:
    """A first (full) sync, then `resyncs` no-op incremental re-syncs `pause` seconds apart, each measured."""
    from cwsync.config.model import Config
    from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
    from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
    from cwsync.integrations.hubspot.run import HubSpotSync
    from cwsync.runtime.memory import tune_gc
    from cwsync.store import Store

    tune_gc()  # as the CLI does when a command starts its work (the engine's modules are loaded now)

    cw_settings = {k: hello[k] for k in ("site", "company_id", "public_key", "private_key", "client_id")}
    store_url = f"sqlite:///{workdir / 'b.db'}"
    config = Config.model_validate(
        {
            "store": store_url,
            "connections": {
                "connectwise": {**cw_settings, "requests_per_minute": None},
                "hubspot": {"token": hello["token"], "base_url": hello["hubspot_url"]},
            },
            "syncs": {"hubspot": {}},
        }
    )
    meter = Meter()
    store = await Store.open(store_url)
    cw_http, hs_http = meter.http(), meter.http()
    cw = ConnectWiseClient(ConnectWiseSettings(**cw_settings, requests_per_minute=None), http=cw_http)
    hs = HubSpotClient(
        HubSpotSettings(token=hello["token"], base_url=hello["hubspot_url"], requests_per_10s=rate),
        http=hs_http,
        sleep=meter.sleep,
    )
    phases = []
    try:
        runs = [("first sync (full)", True), *((f"no-op re-sync {n}", False) for n in range(1, resyncs + 1))]
        for name, full in runs:
            if not full and pause:
                await asyncio.sleep(pause)  # the scheduler's cycle: runs are minutes apart, not back to back
            before, sandbox_before = meter.snapshot(), sandbox.stats()["cpu"]
            cpu, began = time.process_time(), time.perf_counter()
            async with Monitor(meter) as monitor:
                report = await HubSpotSync(config, store, cw, hs).run(full=full)
            wall, cpu = time.perf_counter() - began, time.process_time() - cpu
            after = sandbox.stats()
            counts = {p.pair: p.counts.as_dict() for p in report.pairs}
            sandbox_cpu = after["cpu"] - sandbox_before
            phase = Phase(
                name,
                wall,
                cpu,
                sandbox_cpu,
                meter.since(before),
                counts,
                after,
                began,
                monitor.summary(),
                bench_common.peak_rss_mb(),
            )
            phases.append(phase)
    finally:
        await cw_http.aclose()  # the clients do not close an httpx client they were given
        await hs_http.aclose()
        await store.close()
    return phases


# -- the report -------------------------------------------------------------------------------------------------


def lower_bound(phase: Phase, rate: int) -> tuple[int, dict[str, int]]:
    """The fewest HubSpot calls that carry what the run wrote: creates and associations, 100 per batch."""
    parts: dict[str, int] = {}
    for pair, counts in phase.counts.items():
        parts[f"{pair} batch create"] = math.ceil(counts.get("created", 0) / BATCH)
    for key, made in phase.after["hs_associations"].items():
        a, b = key.split(">")
        parts[f"{a} associate → {b}"] = math.ceil(made / BATCH)
    return sum(parts.values()), parts


def print_calls(meter: Meter) -> None:
    print(f"    {'side':<12} {'type':<16} {'kind':<32} {'calls':>7}")
    for (side, object_type, kind), n in sorted(meter.calls.items()):
        print(f"    {side:<12} {object_type:<16} {kind:<32} {n:>7,}")
    errors = {f"{s} {code}": n for (s, code), n in meter.statuses.items() if code >= 400}
    print(f"    error responses: {errors or 'none'}")


def print_timeline(phase: Phase, per_s: float) -> None:
    """Where the first sync's HubSpot budget went unused: each object type's first and last write, and the gaps.

    A second in which fewer than `per_s` HubSpot calls were sent is budget lost for good (the pacer allows at most a
    quarter of the window's budget in any quarter of it, so idle time is not made up later).
    """
    hubspot = [
        (t - phase.began, object_type, kind) for t, side, object_type, kind in phase.meter.timeline if side == "hubspot"
    ]
    if not hubspot:
        return
    writes = [(t, o) for t, o, kind in hubspot if kind.startswith(("batch create", "associate"))]
    print("  timeline (seconds from the start): HubSpot writes per object type, first → last")
    for object_type in ("companies", "contacts", "deals"):
        mine = [t for t, o in writes if o == object_type]
        if mine:
            print(f"    {object_type:<10} {mine[0]:6.1f} → {mine[-1]:6.1f}  ({len(mine):,} write calls)")
    seconds = math.ceil(phase.wall)
    per_second = Counter(int(t) for t, _, _ in hubspot)
    lost = {s: per_s - per_second.get(s, 0) for s in range(seconds) if per_second.get(s, 0) < per_s - 1}
    print(
        f"  seconds with under {per_s - 1:g} HubSpot calls sent: {len(lost)} of {seconds}, "
        f"{sum(lost.values()) / per_s:.1f} s of budget unused"
    )
    spans: list[tuple[int, int, float]] = []
    for s, missing in sorted(lost.items()):
        if spans and spans[-1][1] == s - 1:
            a, _, m = spans[-1]
            spans[-1] = (a, s, m + missing)
        else:
            spans.append((s, s, missing))
    worst = sorted(spans, key=lambda span: -span[2])[:8]
    print("    worst spans: " + ", ".join(f"{a}–{b + 1} s ({m / per_s:.1f} s lost)" for a, b, m in sorted(worst)))


def print_report(args: argparse.Namespace, sizes: dict[str, int], hello: dict[str, Any], phases: list[Phase]) -> None:
    first = phases[0]
    rate = args.rate
    per_s = rate / 10
    print(
        f"ConnectWise: {sizes['companies']:,} companies, {sizes['contacts']:,} contacts, {sizes['deals']:,} deals "
        f"(live: {hello['cw_live']}); latency {args.latency_ms:g} ms per request on both sides; "
        f"HubSpot limit {rate} requests / 10 s"
    )
    for phase in phases:
        totals = {k: sum(c.get(k, 0) for c in phase.counts.values()) for k in ("created", "updated", "linked")}
        other = {
            k: sum(c.get(k, 0) for c in phase.counts.values()) for k in ("skipped", "failed", "unchanged", "conflicts")
        }
        print(f"\n== {phase.name}: {phase.wall:.1f} s wall")
        print(f"  outcome: {totals} {other}")
        print(f"  per pair: {phase.counts}")
        print(f"  HubSpot now holds {phase.after['hs_live']}, associations {phase.after['hs_associations']}")
        print_calls(phase.meter)
        hs, cw = phase.meter.total("hubspot"), phase.meter.total("connectwise")
        m = phase.meter
        # Requests overlap (up to 6 HubSpot calls in flight, ConnectWise read ahead), so their times are not a split
        # of the wall time: only the mean per call is shown.
        print(
            f"  HTTP: HubSpot {hs:,} calls, {1000 * m.http_seconds['hubspot'] / max(hs, 1):.0f} ms each on average; "
            f"ConnectWise {cw:,} calls, {1000 * m.http_seconds['connectwise'] / max(cw, 1):.0f} ms each; "
            f"pacing waits (summed over concurrent requests) {m.paced_seconds:.1f} s"
        )
        print(
            f"  CPU: engine process {phase.cpu:.1f} s ({100 * phase.cpu / phase.wall:.0f}% of wall), "
            f"sandbox process {phase.sandbox_cpu:.1f} s; engine peak RSS so far {phase.peak_rss:.0f} MB"
        )

    synced = sum(c.get("created", 0) + c.get("linked", 0) + c.get("updated", 0) for c in first.counts.values())
    read = sum(hello["cw_live"].values())
    minimal, parts = lower_bound(first, rate)
    bound = minimal / per_s
    hs_calls, cw_calls = first.meter.total("hubspot"), first.meter.total("connectwise")
    print("\n== first sync against the rate limit")
    strict = max(0, math.ceil(minimal / rate) - 1) * 10
    print(
        f"  lenient bound: {minimal:,} HubSpot calls = creates at {BATCH}/batch + associations at {BATCH}/batch "
        f"for what this run wrote ({parts}), at {per_s:g} calls/s = {bound:.1f} s"
    )
    print(
        f"  strict bound: with a sliding 10 s window of {rate} calls the first {rate} may go at once, so the last of "
        f"{minimal:,} calls can start no earlier than {strict:.0f} s"
    )
    strict_ratio = f"{first.wall / strict:.3f}x" if strict else "n/a (the window never binds)"
    print(
        f"  wall {first.wall:.1f} s: {first.wall / max(bound, 1e-9):.3f}x the lenient bound, "
        f"{strict_ratio} the strict one"
    )
    limit = 1.10 if args.hog else 1.06
    bench_common.target("first sync wall / lenient bound", first.wall / max(bound, 1e-9), limit)
    print(
        f"  HubSpot calls made {hs_calls:,} = {hs_calls / max(minimal, 1):.2f}x the minimum; at the rate limit "
        f"they alone need {hs_calls / per_s:.1f} s (wall / that = {first.wall / max(hs_calls / per_s, 1e-9):.2f})"
    )
    print(
        f"  API calls per record synced ({synced:,}): HubSpot {hs_calls / max(synced, 1):.4f}, "
        f"ConnectWise {cw_calls / max(synced, 1):.4f} ({read:,} ConnectWise records read)"
    )
    print(
        f"  engine CPU per record synced: {1e6 * first.cpu / max(synced, 1):.0f} µs "
        f"(sandbox, separate process: {1e6 * first.sandbox_cpu / max(synced, 1):.0f} µs)"
    )
    bench_common.target("engine CPU per synced record", 1e6 * first.cpu / max(synced, 1), 200, unit=" µs")
    print(f"  engine peak RSS: {bench_common.peak_rss_mb():.0f} MB (all runs of this process)")
    print_timeline(first, per_s)
    print(f"  {first.loop}")
    for noop in phases[1:]:
        print(f"\n== {noop.name} (incremental; target: O(1) calls per object type)")
        for object_type in ("companies", "contacts", "deals"):
            print(
                f"  {object_type:<10} HubSpot calls {noop.meter.total('hubspot', object_type):>6,}   "
                f"ConnectWise calls {noop.meter.total('connectwise', object_type):>6,}"
            )
        print(
            f"  total {noop.meter.total('hubspot'):,} HubSpot + {noop.meter.total('connectwise'):,} ConnectWise "
            f"calls, {noop.wall:.1f} s wall, {noop.cpu:.1f} s engine CPU; "
            f"writes: {sum(c.get('created', 0) + c.get('updated', 0) for c in noop.counts.values())}"
        )


def compare_rss(args: argparse.Namespace) -> None:
    """Peak RSS of this run against the same run at a tenth of the scale, in a fresh process (flat memory, #19)."""
    import subprocess

    argv = [sys.executable, __file__, "--scale", str(args.scale / 10), "--resyncs", str(args.resyncs)]
    argv += ["--latency-ms", str(args.latency_ms), "--rate", str(args.rate), "--pause", str(args.pause)]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    small = float(re.search(r"engine peak RSS: (\d+) MB", out).group(1))  # type: ignore[union-attr]
    mine = bench_common.peak_rss_mb()
    print(f"\n== peak RSS: {mine:.0f} MB here, {small:.0f} MB at scale {args.scale / 10:g}")
    bench_common.target("peak RSS / the 0.1-scale run's", mine / small, 1.2)


def main() -> None:
    """Parse arguments; run as the parent (engine and report) or as the child (`--serve`, the emulators)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--deals", type=int, default=5_000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the three sizes (e.g. 0.02 to try it)")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--rate", type=int, default=190, help="HubSpot requests per 10 s (emulator and client)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--pause",
        type=float,
        default=15.0,
        help="seconds between the runs (a scheduler runs them minutes apart; HubSpot's read overlaps 10 s back)",
    )
    parser.add_argument("--resyncs", type=int, default=2, help="no-op re-syncs after the first sync (0: first only)")
    parser.add_argument("--timeline", type=Path, help="write the first sync's requests (time, side, type, kind) here")
    parser.add_argument(
        "--compare-rss",
        action="store_true",
        help="afterwards, run the same at a tenth of the scale in a fresh process and compare peak RSS (target ≤ 1.2×)",
    )
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    bench_common.add_arguments(parser)
    args = parser.parse_args()
    if args.serve:
        serve(json.loads(args.serve))
        return
    sizes = {k: max(3, round(getattr(args, k) * args.scale)) for k in ("companies", "contacts", "deals")}
    counts = {"companies": sizes["companies"], "contacts": sizes["contacts"], "opportunities": sizes["deals"]}
    from cwsync.logs import configure_logging

    configure_logging("warning")  # the CLI's default: per-request debug events would cost the engine CPU
    spec = {"counts": counts, "seed": args.seed, "latency_ms": args.latency_ms, "rate": args.rate}
    with bench_common.session("first_sync_hubspot", args.hog):
        sandbox = Sandbox(spec)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                phases = asyncio.run(run(sandbox.hello, sandbox, args.rate, Path(tmp), args.pause, args.resyncs))
        finally:
            sandbox.close()
        print_report(args, sizes, sandbox.hello, phases)
        if args.compare_rss:
            compare_rss(args)
    if args.timeline:
        first = phases[0]
        rows = [(round(t - first.began, 4), side, kind, what) for t, side, kind, what in first.meter.timeline]
        args.timeline.write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
