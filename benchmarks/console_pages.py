"""The console's pages against a big store: 50,000 links and 500,000 run items (issue 14: each page < 200 ms).

Builds an SQLite store (or uses `--store URL`, e.g. PostgreSQL) with the links and items spread over 120 runs — one
of 200,000 items (a first sync of a large MSP), the rest smaller — with a share failed, then asks every page of the
console in-process (ASGI, no network: what is timed is cwsync's work) as a logged-in admin, `--repeat` times each,
and prints the median and worst wall time and CPU per page, and the ratio to `/api/health` measured in the same run
(the baseline: a route that touches nothing).

    python benchmarks/console_pages.py [--links 50000] [--items 500000] [--repeat 15] [--store URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.console import add_console
from cwsync.integrations.root import connectwise_settings
from cwsync.server.app import Server, create_app
from cwsync.store import Store
from cwsync.store.store import LINKS, RUN_ITEMS, RUNS
from cwsync.store.users import UserStore

PAIRS = ("companies", "contacts", "deals")
REASONS = (
    "matched by email",
    "unchanged",
    "created in HubSpot",
    "updated: 2 field(s)",
    "skipped: filtered out (type is Vendor)",
    "ConnectWise needs at least one address field (address, city, state or zip) to create a company",
)
PASSWORD = "benchmark password 1"


async def fill(store: Store, links: int, items: int, seed: int = 14) -> dict[str, Any]:
    """Write the links, runs and items in bulk; returns ids the pages ask about."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    big = 200_000 if items >= 400_000 else items // 2
    sizes = [big] + [max(1, (items - big) // 119)] * 119
    async with store.transaction() as tx:
        conn = tx._conn  # bulk: straight through the transaction's connection
        rows = []
        for n in range(links):
            pair = PAIRS[n % 3]
            rows.append(
                {
                    "tenant": "default",
                    "pair": pair,
                    "left_id": str(n + 1),
                    "right_id": str(10_000_000 + n),
                    "match_key": f"user{n}@example.com",
                    "left_hash": "h",
                    "right_hash": "h",
                    "left_values": {"name": f"Record {n}", "email": f"user{n}@example.com"},
                    "right_values": {"name": f"Record {n}", "email": f"user{n}@example.com"},
                    "last_writer": "left",
                    "synced_at": now,
                    "created_at": now,
                }
            )
            if len(rows) == 5000:
                await conn.execute(insert(LINKS), rows)
                rows = []
        if rows:
            await conn.execute(insert(LINKS), rows)
        run_ids = []
        for index, size in enumerate(sizes):
            started = now - timedelta(hours=len(sizes) - index)
            result = await conn.execute(
                insert(RUNS).values(
                    tenant="default",
                    pairs=list(PAIRS),
                    kind="full" if index == 0 else "incremental",
                    trigger="schedule",
                    status="succeeded",
                    started_at=started,
                    finished_at=started + timedelta(minutes=3),
                    counts={"created": size // 3, "updated": size // 3, "failed": size // 50},
                    error=None,
                )
            )
            run_id = int(result.inserted_primary_key[0])  # type: ignore[index]
            run_ids.append(run_id)
            batch = []
            for k in range(size):
                failed = rnd.random() < 0.02
                left = str(rnd.randint(1, links))
                batch.append(
                    {
                        "run_id": run_id,
                        "tenant": "default",
                        "pair": PAIRS[k % 3],
                        "direction": "left_to_right",
                        "action": "create" if failed else rnd.choice(("create", "update", "link", "skip", "unchanged")),
                        "status": "failed" if failed else "applied",
                        "left_id": left,
                        "right_id": str(10_000_000 + int(left)),
                        "reason": REASONS[5] if failed else rnd.choice(REASONS[:5]),
                        "diff": {"email": [None, f"user{left}@example.com"]},
                        "source_values": {"name": f"Record {left}"},
                        "remote_status": 400 if failed else 200,
                        "remote_response": None,
                        "created_at": started,
                    }
                )
                if len(batch) == 10_000:
                    await conn.execute(insert(RUN_ITEMS), batch)
                    batch = []
            if batch:
                await conn.execute(insert(RUN_ITEMS), batch)
    return {"big_run": run_ids[0], "small_run": run_ids[-1], "record": str(links // 2)}


def _config(url: str) -> Config:
    return Config.model_validate(
        {
            "store": url,
            "connections": {
                "connectwise": {
                    "site": "http://cw.invalid",
                    "company_id": "bench",
                    "public_key": "pub",
                    "private_key": "priv",
                    "client_id": "3f2c1b6e-0d4a-4c8e-9b1f-5a7d2e8c0f11",
                }
            },
            "syncs": {"hubspot": {}},
            "server": {"api_token": "bench"},
        }
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--links", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--store", default=None, help="a store URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cwsync-console-bench-") as scratch:
        url = args.store or f"sqlite:///{Path(scratch) / 'bench.db'}"
        config = _config(url)
        path = Path(scratch) / "cwsync.yaml"
        path.write_text(
            f"# benchmark\nstore: {url}\nconnections:\n  connectwise:\n    site: http://cw.invalid\n"
            "    company_id: bench\n    public_key: pub\n    private_key: priv\n"
            "    client_id: 3f2c1b6e-0d4a-4c8e-9b1f-5a7d2e8c0f11\n",
            encoding="utf-8",
        )
        config._source = str(path)
        store = await Store.open(url)
        started = time.perf_counter()
        ids = await fill(store, args.links, args.items)
        took = time.perf_counter() - started
        print(f"store: {args.links:,} links, {args.items:,} run items in {took:.1f} s ({url.split(':')[0]})")
        await UserStore(store).add("bench", PASSWORD, role="admin")
        async with httpx.AsyncClient() as key_http, ConnectWiseClient(connectwise_settings(config)) as cw:
            server = Server(config, store, cw, None, key_http)
            app = create_app(server)
            add_console(app, server)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                login = await http.get("/login")
                token = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                answer = await http.post(
                    "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token}
                )
                assert answer.status_code == 303, answer.text
                big, small, record = ids["big_run"], ids["small_run"], ids["record"]
                pages = [
                    "/api/health",
                    "/",
                    "/runs",
                    "/runs?status=succeeded&since=2020-01-01",
                    "/runs?integration=hubspot",
                    f"/runs/{big}",
                    f"/runs/{big}?offset=150000",
                    f"/runs/{big}?status=failed",
                    f"/runs/{big}?record={record}",
                    f"/runs/{big}?text=address",
                    f"/runs/{big}?action=skip&text=vendor",
                    f"/runs/{small}",
                    f"/records/connectwise/contacts/{record}",
                    f"/records/hubspot/contacts/{10_000_000 + int(record)}",
                    "/plans",
                    "/connections",
                ]
                results = []
                for page in pages:
                    walls, cpus = [], []
                    for _ in range(args.repeat):
                        cpu, wall = time.process_time(), time.perf_counter()
                        response = await http.get(page)
                        walls.append(time.perf_counter() - wall)
                        cpus.append(time.process_time() - cpu)
                        assert response.status_code == 200, (page, response.status_code, response.text[:300])
                    results.append((page, statistics.median(walls), max(walls), statistics.median(cpus)))
        await store.close()
    base = results[0][1]
    print(f"{'page':<48} {'median':>9} {'worst':>9} {'CPU':>9} {'× health':>9}")
    for page, median, worst, cpu in results:
        flag = "" if median < 0.2 else "  > 200 ms"
        print(f"{page:<48} {median * 1000:8.1f}ms {worst * 1000:8.1f}ms {cpu * 1000:8.1f}ms {median / base:9.1f}{flag}")
    slowest = max(results[1:], key=lambda r: r[1])
    print(f"slowest page: {slowest[0]} median {slowest[1] * 1000:.1f} ms (target < 200 ms)")


if __name__ == "__main__":
    asyncio.run(main())
