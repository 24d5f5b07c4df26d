"""Benchmark: the product catalog to HubSpot against the rate-limit bound, and quote → opportunity latency (issue 6).

Both emulators run in a child process (so the measured process is cwsync only), with `--latency-ms` added to every
API request and HubSpot's default rate limit (`--rate` requests per 10 s, emulator and client).

1. Catalog: a full `CatalogEngine.run()` of a `--products`-item ConnectWise catalog into an empty HubSpot portal.
   Bound, from the minimum work (not the calls the run made): one batch create per 100 active catalog items (counted
   in the emulator's data) at `rate / 10` calls per second; target (issue 12) wall ≤ 1.08× that bound. (The strict
   sliding-window floor is printed too: under `rate` calls it is zero, the window never binds.) Also: calls per
   product, engine CPU per product.
2. Quotes: `--quotes` approved quotes (three lines and shipping each) submitted one after the other through
   `QuoteWorkflow.submit`. Baseline, measured in the same run against the same emulator and interleaved with the
   quotes (one baseline round after each quote): the bare httpx round trips of the minimal writes (the opportunity
   POST, then the four forecast POSTs at once, as cwsync sends them). Reported: p50/p95 of both, the ratio (target,
   issue 19: p50 ≤ 1.5×), cwsync's CPU and ConnectWise requests per quote. Three phases, quotes of their own each,
   all naming the same company, contact and products (a quoting tool's customers and products recur):
   - no links in the store: the workflow reads the first quote's records in ConnectWise and remembers them
     (`workflow.Recent`, 300 s), so the next quotes take the links' path (the first quote is printed apart);
   - no links, nothing remembered (`remember_seconds=0`): every quote reads its company, contact and products
     before its opportunity. Its target (issue 19: p50 ≤ 1.5×) is against the bare minimal reads + writes (the
     three reads at once, then the same writes), not the bare writes alone: a quote nothing is known of must find
     its records before writing — the opportunity's POST needs the contact's id, and ConnectWise has no reference by
     e-mail — and it must not create an opportunity for a quote it then refuses (an unknown or inactive product,
     issue 20), so no design writes before those reads come back: the reads + writes are that quote's minimum work
     (~1.8–2× the bare writes by themselves, printed beside it). The bare-writes ratio is printed too;
   - the company, contact and products linked as the HubSpot and catalog syncs keep them (`_seed_links`): a
     deployment has those links, and the workflow then reads only the products, beside the opportunity's create.
3. With `--lookup-links N`: the CPU of a quote's store look-up (`_known`: company by identifier, contact by e-mail,
   products by SKU) with N contacts, N/10 companies and N/5 products linked (SQLite), median of 200.

    .venv/bin/python benchmarks/catalog_quotes.py                       # 20k products, 100 quotes, 20 ms
    .venv/bin/python benchmarks/catalog_quotes.py --products 2000 --quotes 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

import bench_common
from bench_child import Child, credentials

# -- the child: both emulators, served over loopback ------------------------------------------------------------


def serve(spec: dict[str, Any]) -> None:
    """Serve both emulators; print their addresses, then wait until stdin closes."""
    from cwsync.logs import configure_logging
    from cwsync_sandbox.connectwise.app import SandboxSettings
    from cwsync_sandbox.faults import FaultSettings
    from cwsync_sandbox.hubspot import HubSpotSandboxSettings
    from cwsync_sandbox.server import running_sandbox

    configure_logging("warning")
    faults = FaultSettings(latency_ms=spec["latency_ms"])
    counts = {"catalog_items": spec["products"], "companies": 60, "contacts": 300, "opportunities": 20}
    settings = SandboxSettings(records=0, counts=counts, seed=spec["seed"], faults=faults)
    hubspot = HubSpotSandboxSettings(rate_limit_per_10s=spec["rate"], faults=faults)
    with running_sandbox(settings, hubspot=hubspot) as running:
        assert running.hubspot is not None
        store = running.sandbox.store
        active = sum(
            1 for i in store.ids("catalog_items") if not (store.get("catalog_items", i) or {}).get("inactiveFlag")
        )
        hello = credentials(running) | {"active_items": active}
        print(json.dumps(hello), flush=True)
        for _ in sys.stdin:
            pass


# -- the parent: cwsync ---------------------------------------------------------------------------------------------


def make_config(hello: dict[str, Any], workdir: Path, rate: int) -> Any:
    """A configuration for the served emulators."""
    from cwsync.config.model import Config

    return Config.model_validate(
        {
            "store": f"sqlite:///{workdir / 'cwsync.db'}",
            "connections": {
                "connectwise": {
                    "site": hello["site"],
                    "company_id": hello["company_id"],
                    "public_key": hello["public_key"],
                    "private_key": hello["private_key"],
                    "client_id": hello["client_id"],
                    "requests_per_minute": None,
                },
                "hubspot": {"token": hello["token"], "base_url": hello["hubspot_url"], "requests_per_10s": rate},
            },
            "syncs": {"catalog": {"shipping_product": "SHIP-GROUND", "categories": {"Hardware": "Hardware"}}},
        }
    )


class Meter:
    """Requests by host (httpx event hook)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()

    async def hook(self, request: httpx.Request) -> None:
        side = "hubspot" if request.url.path.startswith("/hubspot") else "connectwise"
        self.calls[side] += 1
        self.methods[request.method] += 1


async def bench_catalog(config: Any, rate: int, active: int) -> dict[str, Any]:
    """One full catalog run; its wall time against the HubSpot rate-limit bound."""
    from cwsync.connectors.connectwise import ConnectWiseClient
    from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
    from cwsync.integrations.catalog.engine import CatalogEngine
    from cwsync.integrations.hudu.context import connectwise_settings
    from cwsync.store import Store

    meter = Meter()
    h = config.connections.hubspot
    hs_settings = HubSpotSettings(token=h.token, base_url=h.base_url, requests_per_10s=h.requests_per_10s)
    store = await Store.open(config.store)
    hooks: Any = {"request": [meter.hook]}
    async with (
        ConnectWiseClient(connectwise_settings(config), http=httpx.AsyncClient(event_hooks=hooks, timeout=60)) as cw,
        HubSpotClient(hs_settings, http=httpx.AsyncClient(event_hooks=hooks, timeout=60)) as hs,
    ):
        started, cpu = time.perf_counter(), time.process_time()
        report = await CatalogEngine(config, store, cw, hs).run(full=True)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    await store.close()
    hs_calls = meter.calls["hubspot"]
    minimal = math.ceil(active / 100)
    bound = minimal / (rate / 10)
    products = sum(report.counts.as_dict().values())
    return {
        "products": products,
        "counts": report.counts.as_dict(),
        "hubspot_calls": hs_calls,
        "connectwise_calls": meter.calls["connectwise"],
        "batch_calls": report.hubspot_calls,
        "wall": wall,
        "cpu": cpu,
        "minimal": minimal,
        "bound": bound,
        "strict": max(0, math.ceil(minimal / rate) - 1) * 10,
        "ratio": wall / bound,
        "calls_per_product": hs_calls / max(1, products),
    }


async def _quote_inputs(cw: Any) -> tuple[Any, str, list[dict[str, Any]]]:
    """A company with a contact e-mail, and three active catalog items."""
    contacts = await cw.list_page("company/contacts", page_size=200)
    for contact in contacts:
        emails = [i["value"] for i in contact.get("communicationItems") or [] if i.get("communicationType") == "Email"]
        if contact.get("company") and emails:
            company = await cw.get("company/companies", contact["company"]["id"])
            if not company.get("deletedFlag"):
                break
    else:
        raise RuntimeError("no company with a contact e-mail")
    items = [i for i in await cw.list_page("procurement/catalog", page_size=50) if not i.get("inactiveFlag")][:3]
    return company, emails[0], items


async def bench_quotes(config: Any, quotes: int) -> dict[str, dict[str, Any]]:
    """`quotes` submits through the workflow, and the bare round trips of their minimal writes; twice: first with
    no links in the store, then with the company, contact and products linked as cwsync's syncs keep them."""
    from cwsync.connectors.connectwise import ConnectWiseClient
    from cwsync.integrations.hudu.context import connectwise_settings
    from cwsync.store import Store
    from cwsync.workflows.quotes.workflow import QuoteWorkflow

    store = await Store.open(config.store)
    commits = _Commits()
    meter = Meter()
    out: dict[str, dict[str, Any]] = {}
    http = httpx.AsyncClient(event_hooks={"request": [meter.hook]}, timeout=60)
    async with ConnectWiseClient(connectwise_settings(config), http=http) as cw, httpx.AsyncClient(timeout=60) as bare:
        company, email, items = await _quote_inputs(cw)
        workflow = QuoteWorkflow(config, store, cw)
        try:
            cold = QuoteWorkflow(config, store, cw, remember_seconds=0)  # type: ignore[call-arg]
        except TypeError:  # cwsync before `Recent`: it never remembers
            cold = QuoteWorkflow(config, store, cw)
        lines = [{"product": i["identifier"], "quantity": n + 1, "price": i["price"]} for n, i in enumerate(items)]
        codebase = (await cw.company_info()).codebase
        root = cw._url(codebase, "").rstrip("/")
        bare.headers.update(cw._headers(True, None))
        args = (bare, root, company, email, items, lines, commits, meter)
        out["unlinked"] = await _quote_phase("U", quotes, workflow, *args)
        out["cold"] = await _quote_phase("C", quotes, cold, *args)
        await _seed_links(cw, store, config.tenant, company, email, [*items, {"identifier": "SHIP-GROUND"}])
        out["linked"] = await _quote_phase("L", quotes, workflow, *args)
    await store.close()
    return out


async def _quote_phase(
    prefix: str,
    quotes: int,
    workflow: Any,
    bare: httpx.AsyncClient,
    root: str,
    company: dict[str, Any],
    email: str,
    items: list[dict[str, Any]],
    lines: list[dict[str, Any]],
    commits: _Commits,
    meter: Meter,
) -> dict[str, Any]:
    """`quotes` new quotes, each followed by its bare baseline rounds (interleaved)."""
    from cwsync.workflows.quotes.document import Quote

    cwsync_ms: list[float] = []
    baseline_ms: list[float] = []
    with_reads_ms: list[float] = []
    cpu = 0.0
    per_quote: list[int] = []
    calls = Counter[str]()
    for n in range(quotes):
        quote = Quote(
            external_id=f"BENCH-{prefix}{n}", company=company["identifier"], contact=email, lines=lines, shipping=25.0
        )
        started, cpu0, commits0, sent = time.perf_counter(), bench_common.cpu(), commits.count, Counter(meter.methods)
        plan = await workflow.submit(quote)
        cwsync_ms.append((time.perf_counter() - started) * 1000)
        cpu += bench_common.cpu() - cpu0
        per_quote.append(commits.count - commits0)
        calls += Counter(meter.methods) - sent
        assert plan.action == "create"
        forecast = [line.body(plan.status_id) for line in plan.lines]
        baseline_ms.append(await _baseline(bare, root, dict(plan.opportunity), forecast))
        reads = _minimal_reads(bare, root, company["identifier"], email, [i["identifier"] for i in items])
        with_reads_ms.append(await _baseline(bare, root, dict(plan.opportunity), forecast, reads=reads))
    return {
        "cwsync": cwsync_ms,
        "baseline": baseline_ms,
        "with_reads": with_reads_ms,
        "cpu": cpu,
        "commits": per_quote,
        "reads": calls["GET"] / max(quotes, 1),
        "writes": (sum(calls.values()) - calls["GET"]) / max(quotes, 1),
    }


async def _seed_links(
    cw: Any, store: Any, tenant: str, company: dict[str, Any], email: str, items: list[dict[str, Any]]
) -> None:
    """The links a deployment has once the HubSpot sync and the catalog sync ran: pairs `companies` and `contacts`
    (left id = ConnectWise id, right id = HubSpot id) and `catalog:products` (left id = catalog item id), their left
    values holding what the syncs project (`connectwise_company_id`, `email` and `company`, `hs_sku`). Written
    straight into the store (not by running both syncs: the HubSpot emulator's rate limit would make that minutes);
    the ids are ConnectWise's own, read from the emulator."""
    from cwsync.connectors.connectwise.conditions import F
    from cwsync.store import Link

    [contact] = await cw.list_page("company/contacts", child_conditions=F("communicationItems/value") == email)
    catalog = {
        str(i["identifier"]).lower(): i
        for i in await cw.list_page(
            "procurement/catalog", conditions=F("identifier").in_([i["identifier"] for i in items])
        )
    }
    company_values = {"connectwise_company_id": company["identifier"], "name": company["name"]}
    contact_values = {"email": email, "company": str(company["id"]), "firstname": contact.get("firstName")}
    links = [
        Link(tenant=tenant, pair="companies", left_id=str(company["id"]), right_id="9001", left_values=company_values),
        Link(tenant=tenant, pair="contacts", left_id=str(contact["id"]), right_id="9002", left_values=contact_values),
    ]
    for n, item in enumerate(catalog.values()):
        values = {"hs_sku": item["identifier"]}
        links.append(
            Link(
                tenant=tenant,
                pair="catalog:products",
                left_id=str(item["id"]),
                right_id=f"{9100 + n}",
                left_values=values,
            )
        )
    async with store.transaction() as tx:
        await tx.upsert_links(links)


async def bench_lookup(links: int, workdir: Path) -> dict[str, Any]:
    """The CPU of one quote's store look-up (`_known`) with `links` contacts, a tenth as many companies and a fifth
    as many products linked: median and p95 of 200, in µs, on SQLite (the store's read connection)."""
    from cwsync.store import Link, Store
    from cwsync.workflows.quotes.document import Quote
    from cwsync.workflows.quotes.workflow import _known

    store = await Store.open(f"sqlite:///{workdir / 'lookup.db'}")
    companies, products = max(links // 10, 1), max(links // 5, 4)
    rows = [
        Link(
            tenant="t",
            pair="companies",
            left_id=str(i),
            right_id=f"c{i}",
            left_values={"connectwise_company_id": f"CO{i}", "name": f"Co {i}"},
        )
        for i in range(1, companies + 1)
    ]
    rows += [
        Link(
            tenant="t",
            pair="contacts",
            left_id=str(i),
            right_id=f"p{i}",
            left_values={"email": f"person{i}@example.com", "company": str(i % companies + 1), "firstname": "P"},
        )
        for i in range(1, links + 1)
    ]
    rows += [
        Link(
            tenant="t",
            pair="catalog:products",
            left_id=str(i),
            right_id=f"s{i}",
            left_values={"hs_sku": f"SKU-{i}", "name": f"Item {i}"},
        )
        for i in range(1, products + 1)
    ]
    for start in range(0, len(rows), 5000):
        async with store.transaction() as tx:
            await tx.upsert_links(rows[start : start + 5000])
    samples: list[float] = []
    for n in range(200):
        contact = n * 37 % links + 1
        lines = [{"product": f"SKU-{(n * 7 + k) % products + 1}", "quantity": 1, "price": 1} for k in range(3)]
        quote = Quote(
            external_id="X",
            company=f"CO{contact % companies + 1}",
            contact=f"person{contact}@example.com",
            lines=lines,
            shipping=5,
        )
        cpu = time.process_time()
        known = await store.read(lambda reads, q=quote: _known(reads, "t", q, f"SKU-{products}"))
        samples.append((time.process_time() - cpu) * 1e6)
        assert known.company is not None
        assert known.contact is not None
        assert len(known.products) >= 3
    await store.close()
    return {"links": links, "p50": _pct(samples, 50), "p95": _pct(samples, 95)}


class _Commits:
    """Store transactions committed in this process (SQLAlchemy's commit event on every engine)."""

    def __init__(self) -> None:
        from sqlalchemy import Engine, event

        self.count = 0
        self.per_quote: list[int] = []
        event.listen(Engine, "commit", self._commit)

    def _commit(self, *_: Any) -> None:
        self.count += 1


async def _minimal_reads(http: httpx.AsyncClient, root: str, company: str, email: str, products: list[str]) -> None:
    """The reads no design can skip (a quote names its company, contact and products, the writes need their ids),
    at once: the company by identifier, the contact by e-mail, the catalog items by identifier."""
    names = ", ".join(f'"{p}"' for p in products)
    gets = [
        http.get(f"{root}/company/companies", params={"conditions": f'identifier="{company}"'}),
        http.get(f"{root}/company/contacts", params={"childConditions": f'communicationItems/value="{email}"'}),
        http.get(f"{root}/procurement/catalog", params={"conditions": f"identifier in ({names})"}),
    ]
    for answer in await asyncio.gather(*gets):
        answer.raise_for_status()


async def _baseline(
    http: httpx.AsyncClient,
    root: str,
    body: dict[str, Any],
    forecast: list[dict[str, Any]],
    *,
    reads: Any = None,
) -> float:
    """One round of the bare minimal writes: the opportunity POST, then its forecast POSTs at once (ms); with
    `reads`, those first (the minimal reads + writes, printed beside the target's bare-writes ratio)."""
    started = time.perf_counter()
    if reads is not None:
        await reads
    made = await http.post(f"{root}/sales/opportunities", json=body)
    made.raise_for_status()
    path = f"{root}/sales/opportunities/{made.json()['id']}/forecast"
    for answer in await asyncio.gather(*(http.post(path, json={"forecastItems": [f]}) for f in forecast)):
        answer.raise_for_status()
    return (time.perf_counter() - started) * 1000


def _pct(values: list[float], q: float) -> float:
    return bench_common.percentile(values, q)


def report(
    args: argparse.Namespace, catalog: dict[str, Any], quotes: dict[str, dict[str, Any]], lookup: dict[str, Any]
) -> None:
    """Print the figures."""
    if catalog:
        _report_catalog(args, catalog)
    if args.quotes:  # `--quotes 0`: the catalog alone, no quote targets to report
        _report_quotes(args, quotes)
    if lookup:
        print(
            f"quote look-up in the store ({lookup['links']:,} contacts, {lookup['links'] // 10:,} companies, "
            f"{lookup['links'] // 5:,} products linked; SQLite): "
            f"CPU p50 {lookup['p50']:.0f} µs, p95 {lookup['p95']:.0f} µs"
        )


def _report_catalog(args: argparse.Namespace, catalog: dict[str, Any]) -> None:
    print(f"catalog: {args.products:,} ConnectWise catalog items, HubSpot {args.rate}/10 s, {args.latency_ms:g} ms")
    print(f"  counts {catalog['counts']}")
    print(
        f"  {catalog['hubspot_calls']} HubSpot calls ({catalog['batch_calls']} batch writes), "
        f"{catalog['connectwise_calls']} ConnectWise calls; {catalog['calls_per_product']:.4f} HubSpot calls/product"
    )
    print(
        f"  minimum work: {catalog['minimal']} batch creates (100 active items each) ÷ {args.rate / 10:g}/s = "
        f"{catalog['bound']:.1f} s; strict sliding-window floor {catalog['strict']:.0f} s; "
        f"calls made / minimum {catalog['hubspot_calls'] / max(catalog['minimal'], 1):.2f}"
    )
    print(
        f"  wall {catalog['wall']:.1f} s vs bound {catalog['bound']:.1f} s: ratio {catalog['ratio']:.3f}; "
        f"engine CPU {catalog['cpu']:.1f} s = {1e6 * catalog['cpu'] / max(catalog['products'], 1):.0f} µs per item"
    )
    bench_common.target("catalog wall / bound", catalog["ratio"], 1.08)


def _report_quotes(args: argparse.Namespace, phases: dict[str, dict[str, Any]]) -> None:
    ratios = {}
    for phase, quotes in phases.items():
        c, b = quotes["cwsync"], quotes["baseline"]
        what = {
            "linked": "the company, contact and products linked by cwsync's syncs",
            "unlinked": "no links (the first quote's records read from ConnectWise, then remembered)",
            "cold": "no links, nothing remembered (every quote's records read from ConnectWise first)",
        }[phase]
        print(
            f"quotes, {what}: {len(c)} approved quotes (3 lines + shipping → 4 forecast items), "
            f"{args.latency_ms:g} ms, {args.quote_catalog} catalog items"
        )
        print(f"  cwsync   p50 {_pct(c, 50):.1f} ms  p95 {_pct(c, 95):.1f} ms")
        print(
            f"  baseline p50 {_pct(b, 50):.1f} ms  p95 {_pct(b, 95):.1f} ms  (bare POST opportunity + 4 forecast POSTs)"
        )
        print(f"  ratio    p50 {_pct(c, 50) / _pct(b, 50):.2f}  p95 {_pct(c, 95) / _pct(b, 95):.2f}")
        if phase == "unlinked" and c:
            print(
                f"  first quote (nothing remembered yet): {c[0]:.1f} ms = {c[0] / _pct(b, 50):.2f}× the p50 bare writes"
            )
        r = quotes["with_reads"]
        print(
            f"  bare minimal reads (company, contact, products at once) + writes: p50 {_pct(r, 50):.1f} ms "
            f"(cwsync / it: {_pct(c, 50) / _pct(r, 50):.2f}; "
            f"this floor against the bare writes: {_pct(r, 50) / _pct(b, 50):.2f})"
        )
        per_quote = quotes["commits"]
        print(
            f"  cwsync CPU {1000 * quotes['cpu'] / max(len(c), 1):.1f} ms per quote; "
            f"store transactions per quote: {sum(per_quote) / max(len(per_quote), 1):.1f}; "
            f"ConnectWise requests per quote: {quotes['reads']:.2f} reads + {quotes['writes']:.2f} writes"
        )
        ratios[phase] = _pct(c, 50) / _pct(b, 50)
    bench_common.target("quote → opportunity p50 / bare writes, without links", ratios["unlinked"], 1.5)
    bench_common.target("quote → opportunity p50 / bare writes, records linked", ratios["linked"], 1.5)
    cold = phases["cold"]
    cold_ratio = _pct(cold["cwsync"], 50) / _pct(cold["with_reads"], 50)
    bench_common.target("quote → opportunity p50 / bare reads + writes, nothing remembered", cold_ratio, 1.5)


def main() -> None:
    """Parse arguments; run as the parent (cwsync and report) or as the child (`--serve`, the emulators)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--quotes", type=int, default=100)
    parser.add_argument("--quote-catalog", type=int, default=500, help="catalog size of the quote phase's emulator")
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--rate", type=int, default=190, help="HubSpot requests per 10 s (emulator and client)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lookup-links", type=int, default=0, help="also time the store look-up at this many links")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    bench_common.add_arguments(parser)
    args = parser.parse_args()
    if args.serve:
        serve(json.loads(args.serve))
        return
    from cwsync.logs import configure_logging

    configure_logging("warning")
    spec = {"seed": args.seed, "latency_ms": args.latency_ms, "rate": args.rate}
    with bench_common.session("catalog_quotes", args.hog):
        catalog: dict[str, Any] = {}
        if args.products:
            child = Child({**spec, "products": args.products}, __file__)
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    config = make_config(child.hello, Path(tmp), args.rate)
                    catalog = asyncio.run(bench_catalog(config, args.rate, child.hello["active_items"]))
            finally:
                child.close()
        # Quotes run against their own emulator with a `--quote-catalog`-item catalog: the emulator filters
        # `identifier in (...)` by scanning every generated item (ConnectWise itself answers from an index), which
        # at 20k items would measure the emulator, not cwsync.
        child = Child({**spec, "products": args.quote_catalog}, __file__)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                quotes = asyncio.run(bench_quotes(make_config(child.hello, Path(tmp), args.rate), args.quotes))
        finally:
            child.close()
        lookup: dict[str, Any] = {}
        if args.lookup_links:
            with tempfile.TemporaryDirectory() as tmp:
                lookup = asyncio.run(bench_lookup(args.lookup_links, Path(tmp)))
        report(args, catalog, quotes, lookup)
        print(f"  peak RSS of this (cwsync's) process: {bench_common.peak_rss_mb():.1f} MB")


if __name__ == "__main__":
    main()
