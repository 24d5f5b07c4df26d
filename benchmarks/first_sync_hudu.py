"""Benchmark: the first ConnectWise → Hudu sync of 200 companies (about 3,000 configurations with their contacts
and sites), under a Hudu rate limit, then the no-op re-sync after it (issue 5; honest bound: issue 19).

Both emulators run in a child process served over loopback (sockets with TCP_NODELAY), so this process's CPU is
cwsync's own, with `--latency-ms` added to every API request of both. The Hudu emulator enforces `--rate` requests a
minute (a sliding 60 s window, as Hudu's 300/min) and the client paces itself under the same figure. Every Hudu
request is counted through httpx event hooks.

Bound, from the minimum work (not the calls the engine made): one Hudu write per record the run must create (every
company decided "create", its active sites and contacts, its configurations and active agreements), counted from
the emulator's data. With a sliding window the first minute's quota can go at once, so the
strict bound for n requests is `floor((n - 1) / rate)` minutes; the default rate is chosen so that this floor is
whole minutes of work (`(n - 1) / rate` just above 2), where the strict and the lenient bound (`n / rate` minutes)
meet and the run cannot gain by bursting. Target (issue 12): wall ≤ 1.05× the bound. Also: writes per created
record (target 1) and writes on the re-sync (target 0).

    .venv/bin/python benchmarks/first_sync_hudu.py                 # 200 companies
    .venv/bin/python benchmarks/first_sync_hudu.py --companies 20   # a quick try
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

import bench_common
from bench_child import Child

RULES = [
    {"types": ["Managed Server", "Legacy Server", "Virtual Machine"], "layout": "Server"},
    {"types": ["Managed Workstation", "Laptop"], "layout": "Computer"},
    {"types": ["Firewall", "Switch", "Wireless AP"], "layout": "Network Device"},
]
WINDOWS = 2
"""Whole minutes of Hudu work the default rate sets (the strict bound)."""


# -- the child: both emulators, served over loopback ------------------------------------------------------------


def _plan(box: Any, companies: int) -> tuple[list[int], int, int]:
    """The best-equipped `companies` live companies, the writes a sync of them needs, and their configurations."""
    store = box.store
    live = [i for i in store.ids("companies") if not (store.get("companies", i) or {}).get("deletedFlag")]
    company_of = {
        i: (store.get("configurations", i) or {}).get("company", {}).get("id") for i in store.ids("configurations")
    }
    per_company = Counter(company_of.values())
    chosen = sorted(live, key=lambda cid: -per_company[cid])[:companies]
    wanted = set(chosen)
    writes = len(chosen)  # a layout the run creates is not counted: the bound stays a lower bound
    for entity, inactive in (("sites", "inactiveFlag"), ("contacts", "inactiveFlag"), ("configurations", None)):
        for i in store.ids(entity):
            r = store.get(entity, i)
            if r and (r.get("company") or {}).get("id") in wanted and not (inactive and r.get(inactive)):
                writes += 1
    from cwsync.integrations.hudu.shapes import active_agreement  # the spec's rule for an agreement to import

    for i in store.ids("agreements"):
        agreement = store.get("agreements", i) or {}
        if (agreement.get("company") or {}).get("id") in wanted and active_agreement(agreement) is None:
            writes += 1
    return chosen, writes, sum(1 for c in company_of.values() if c in wanted)


def serve(spec: dict[str, Any]) -> None:
    """Serve both emulators; print what the parent needs, then answer `stats` lines until stdin closes."""
    from cwsync.logs import configure_logging
    from cwsync_sandbox.connectwise.app import SandboxSettings, build_sandbox
    from cwsync_sandbox.faults import FaultSettings
    from cwsync_sandbox.hudu import HuduSandboxSettings
    from cwsync_sandbox.server import running_sandbox

    configure_logging("warning")
    faults = FaultSettings(latency_ms=spec["latency_ms"])
    settings = SandboxSettings(records=spec["records"], seed=11, faults=faults)
    chosen, writes, configurations = _plan(build_sandbox(settings), spec["companies"])
    rate = spec["rate"] or max(60, (writes - 1) // WINDOWS)
    hudu = HuduSandboxSettings(rate_limit_per_minute=rate, latency_ms=spec["latency_ms"])
    with running_sandbox(settings, hudu=hudu) as running:
        assert running.hudu is not None
        s = running.sandbox.settings
        hello = {
            "site": running.base_url,
            "hudu_url": running.hudu_url,
            "api_key": hudu.api_key,
            "company_id": s.company_id,
            "public_key": s.public_key,
            "private_key": s.private_key,
            "client_id": s.client_id,
            "chosen": chosen,
            "writes": writes,
            "configurations": configurations,
            "rate": rate,
        }
        print(json.dumps(hello), flush=True)
        for _ in sys.stdin:
            print(json.dumps({"refused": running.hudu.limits.refused, "cpu": bench_common.cpu()}), flush=True)


# -- the parent: cwsync ---------------------------------------------------------------------------------------------


def _config(tmp: Path, hello: dict[str, Any]) -> Any:
    from cwsync.config.model import Config

    return Config.model_validate(
        {
            "store": f"sqlite:///{tmp / 'bench.db'}",
            "connections": {
                "connectwise": {
                    **{k: hello[k] for k in ("site", "company_id", "public_key", "private_key", "client_id")},
                    "requests_per_minute": None,
                },
                "hudu": {
                    "base_url": hello["hudu_url"],
                    "api_key": hello["api_key"],
                    "requests_per_minute": hello["rate"],
                },
            },
            "syncs": {"hudu": {"layouts": {"sort_rules": RULES}, "create_missing_layouts": True}},
        }
    )


async def main(child: Child) -> None:
    from cwsync.connectors.connectwise import ConnectWiseClient
    from cwsync.connectors.hudu import HuduClient
    from cwsync.integrations.hudu.context import connectwise_settings, hudu_settings
    from cwsync.integrations.hudu.matching import Decision
    from cwsync.integrations.hudu.run import HuduSyncEngine
    from cwsync.store import Store

    hello = child.hello
    calls: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        calls[request.method] += 1

    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), hello)
        hudu_http = httpx.AsyncClient(event_hooks={"request": [count]}, timeout=60)
        store = await Store.open(config.store)
        async with (
            ConnectWiseClient(connectwise_settings(config)) as cw,
            hudu_http,
            HuduClient(hudu_settings(config), http=hudu_http) as hudu,
        ):
            engine = HuduSyncEngine(config, store, cw, hudu)
            await engine.decide([Decision(cid, "create", by="bench") for cid in hello["chosen"]])
            print(
                f"ConnectWise: {len(hello['chosen'])} companies, {hello['configurations']} configurations; "
                f"Hudu limit {hello['rate']} requests/min; {hello['writes']} writes needed"
            )
            started, cpu = time.monotonic(), bench_common.cpu()
            first = await engine.run()
            wall, cpu = time.monotonic() - started, bench_common.cpu() - cpu
            first_calls = Counter(calls)
            calls.clear()
            started = time.monotonic()
            again = await engine.run()
            rewall = time.monotonic() - started
        await store.close()
    _print(hello, first, first_calls, wall, cpu, again, calls, rewall, child.ask("stats")["refused"])


def _print(
    hello: dict[str, Any],
    first: Any,
    first_calls: Counter[str],
    wall: float,
    cpu: float,
    again: Any,
    again_calls: Counter[str],
    rewall: float,
    refused: int,
) -> None:
    rate, needed = hello["rate"], hello["writes"]
    requests = sum(first_calls.values())
    writes = requests - first_calls["GET"]
    changed = first.counts.created + first.counts.updated + first.counts.linked
    lenient = needed / rate * 60
    strict = ((needed - 1) // rate) * 60
    print(
        f"first sync: {wall:.1f} s wall, {cpu:.1f} s cwsync CPU; {requests} Hudu requests ({dict(first_calls)}); "
        f"429s: {refused}"
    )
    print(f"  counts: {first.counts.as_dict()}")
    print(
        f"  minimum work: {needed} writes; lenient bound {needed}/{rate} per min = {lenient:.1f} s "
        f"(wall/bound {wall / lenient:.3f})"
    )
    print(f"  strict bound (sliding window): floor(({needed} - 1)/{rate}) min = {strict:.0f} s")
    print(f"  requests made / minimum: {requests / needed:.3f}")
    bench_common.target("Hudu first sync wall / strict bound", wall / max(strict, 1), 1.05)
    per = writes / max(changed, 1)
    print(f"  writes per created/changed record: {writes}/{changed} = {per:.3f} (1 layout created too)")
    print(f"  cwsync CPU per record: {1e6 * cpu / max(changed, 1):.0f} µs")
    re_writes = sum(again_calls.values()) - again_calls["GET"]
    print(f"re-sync: {rewall:.1f} s; Hudu requests {dict(again_calls)}; writes {re_writes}")
    print(f"  counts {again.counts.as_dict()}")
    bench_common.target("Hudu re-sync writes", re_writes, 0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--records", type=int, default=16000, help="ConnectWise sandbox size (records of all kinds)")
    parser.add_argument(
        "--rate", type=int, default=None, help=f"Hudu requests per minute (default: {WINDOWS} min of work)"
    )
    parser.add_argument("--latency-ms", type=float, default=20, help="added to every API request of both emulators")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    bench_common.add_arguments(parser)
    args = parser.parse_args()
    if args.serve:
        serve(json.loads(args.serve))
        sys.exit(0)
    from cwsync.logs import configure_logging

    configure_logging("warning")  # the CLI's default: per-request debug events would flood the output
    spec = {"companies": args.companies, "records": args.records, "rate": args.rate, "latency_ms": args.latency_ms}
    with bench_common.session("first_sync_hudu", args.hog):
        child = Child(spec, __file__)
        try:
            asyncio.run(main(child))
        finally:
            child.close()
