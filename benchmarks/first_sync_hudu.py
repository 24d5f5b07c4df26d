"""Benchmark: the first ConnectWise → Hudu sync of 200 companies (about 3,000 configurations with their contacts
and sites), under a Hudu rate limit, then the no-op re-sync after it (issue 5).

Both emulators run in-process (ASGI transports); the Hudu emulator enforces `--rate` requests a minute (a sliding
60-second window, as Hudu's 300/min) and the client paces itself under the same figure. Every Hudu request is
counted through httpx event hooks. The rate is chosen (unless given) so that the run needs about 2.5 minutes' worth
of requests: the bound it sets is requests needed ÷ rate; with a sliding window the first minute's quota can go at
once, so the tightest bound is `floor((requests - 1) / rate)` whole minutes — both are printed.
Also: writes per created/changed record (target 1) and writes on the re-sync (target 0).

    .venv/bin/python benchmarks/first_sync_hudu.py                 # 200 companies
    .venv/bin/python benchmarks/first_sync_hudu.py --companies 20   # a quick try
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.hudu import HuduClient
from cwsync.store import Store
from cwsync.syncs.hudu.context import connectwise_settings, hudu_settings
from cwsync.syncs.hudu.matching import Decision
from cwsync.syncs.hudu.run import HuduRunReport, HuduSyncEngine
from cwsync_sandbox.connectwise.app import SandboxSettings, build_sandbox, create_app
from cwsync_sandbox.hudu import HuduSandboxSettings, build_hudu_sandbox, create_hudu_app

CW, HUDU = "http://cw.bench", "http://hudu.bench"
RULES = [
    {"types": ["Managed Server", "Legacy Server", "Virtual Machine"], "layout": "Server"},
    {"types": ["Managed Workstation", "Laptop"], "layout": "Computer"},
    {"types": ["Firewall", "Switch", "Wireless AP"], "layout": "Network Device"},
]


def _config(tmp: Path, cw_box: Any, rate: int) -> Config:
    s = cw_box.settings
    return Config.model_validate(
        {
            "store": f"sqlite:///{tmp / 'bench.db'}",
            "connections": {
                "connectwise": {
                    "site": CW,
                    "company_id": s.company_id,
                    "public_key": s.public_key,
                    "private_key": s.private_key,
                    "client_id": s.client_id,
                    "requests_per_minute": None,
                },
                "hudu": {"base_url": HUDU, "api_key": HuduSandboxSettings().api_key, "requests_per_minute": rate},
            },
            "syncs": {"hudu": {"layouts": {"sort_rules": RULES}, "create_missing_layouts": True}},
        }
    )


def _expected_writes(cw_box: Any, companies: list[int]) -> int:
    """Companies + their active sites, active contacts, configurations and (at most) agreements."""
    wanted = set(companies)
    total = len(companies) + 1  # + the Agreements layout
    for entity, inactive in (("sites", "inactiveFlag"), ("contacts", "inactiveFlag"), ("configurations", None)):
        for i in cw_box.store.ids(entity):
            r = cw_box.store.get(entity, i)
            if r and (r.get("company") or {}).get("id") in wanted and not (inactive and r.get(inactive)):
                total += 1
    total += sum(
        1
        for i in cw_box.store.ids("agreements")
        if (cw_box.store.get("agreements", i) or {}).get("company", {}).get("id") in wanted
    )
    return total


async def main(companies: int, records: int, rate: int | None) -> None:
    cw_box = build_sandbox(SandboxSettings(base_url=CW, records=records, seed=11))
    live = [i for i in cw_box.store.ids("companies") if not (cw_box.store.get("companies", i) or {}).get("deletedFlag")]
    per_company = Counter(
        (cw_box.store.get("configurations", i) or {}).get("company", {}).get("id")
        for i in cw_box.store.ids("configurations")
    )
    chosen = sorted(live, key=lambda cid: -per_company[cid])[:companies]  # the best-equipped clients
    estimate = _expected_writes(cw_box, chosen)
    rate = rate or max(60, math.ceil(estimate / 2.5))
    hudu_box = build_hudu_sandbox(HuduSandboxSettings(base_url=HUDU, rate_limit_per_minute=rate))
    calls: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        calls[request.method] += 1

    with tempfile.TemporaryDirectory() as tmp:
        config = _config(Path(tmp), cw_box, rate)
        cw_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(cw_box)), timeout=60)
        hudu_http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_hudu_app(hudu_box)), event_hooks={"request": [count]}, timeout=60
        )
        store = await Store.open(config.store)
        async with (
            ConnectWiseClient(connectwise_settings(config), http=cw_http) as cw,
            HuduClient(hudu_settings(config), http=hudu_http) as hudu,
        ):
            engine = HuduSyncEngine(config, store, cw, hudu)
            await engine.decide([Decision(cid, "create", by="bench") for cid in chosen])
            configs = sum(
                1
                for i in cw_box.store.ids("configurations")
                if (cw_box.store.get("configurations", i) or {}).get("company", {}).get("id") in set(chosen)
            )
            print(f"ConnectWise: {len(chosen)} companies, {configs} configurations; Hudu limit {rate} requests/min")
            started = time.monotonic()
            first = await engine.run()
            wall = time.monotonic() - started
            first_calls = Counter(calls)
            calls.clear()
            started = time.monotonic()
            again = await engine.run()
            rewall = time.monotonic() - started
        await store.close()
    _print(first, first_calls, wall, again, calls, rewall, rate, hudu_box.limits.refused)


def _print(
    first: HuduRunReport,
    first_calls: Counter[str],
    wall: float,
    again: HuduRunReport,
    again_calls: Counter[str],
    rewall: float,
    rate: int,
    refused: int,
) -> None:
    requests = sum(first_calls.values())
    writes = requests - first_calls["GET"]
    changed = first.counts.created + first.counts.updated + first.counts.linked
    rate_bound = requests / rate * 60
    window_bound = ((requests - 1) // rate) * 60
    print(f"first sync: {wall:.1f} s wall; {requests} Hudu requests ({dict(first_calls)}); 429s: {refused}")
    print(f"  counts: {first.counts.as_dict()}")
    print(f"  bound requests/rate: {rate_bound:.1f} s -> wall/bound = {wall / rate_bound:.3f}")
    ratio = wall / max(window_bound, 1)
    print(f"  sliding-window bound floor((n-1)/rate) min: {window_bound:.0f} s -> wall/bound = {ratio:.3f}")
    per = writes / max(changed, 1)
    print(f"  writes per created/changed record: {writes}/{changed} = {per:.3f} (1 layout created too)")
    re_writes = sum(again_calls.values()) - again_calls["GET"]
    print(f"re-sync: {rewall:.1f} s; Hudu requests {dict(again_calls)}; writes {re_writes}")
    print(f"  counts {again.counts.as_dict()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=200)
    parser.add_argument("--records", type=int, default=16000, help="ConnectWise sandbox size (records of all kinds)")
    parser.add_argument("--rate", type=int, default=None, help="Hudu requests per minute (default: ~2.5 min of work)")
    args = parser.parse_args()
    from cwsync.logs import configure_logging

    configure_logging("warning")  # the CLI's default: per-request debug events would flood the output
    asyncio.run(main(args.companies, args.records, args.rate))
    sys.exit(0)
