"""Running the catalog sync (SB-1, SB-3, SB-4): ConnectWise procurement catalog → HubSpot products, one way.

The catalog is one engine pair (`products.product_pair`) run by `Engine.run`: incremental by `lastUpdated` (full on
the first run or with `full`), planned against the links of pair `catalog:products`, written with HubSpot batch
endpoints (`integrations.hubspot.HubSpotTarget`: 100 products per call, the page's remainder filling the next
page's calls, as many calls in flight as the HubSpot client allows: its rate limit, not the round trip, sets the
pace). The custom product properties are created first when missing. Inactive products follow the status mapping
(archived, skipped, or kept with a custom status) and always leave a run item saying why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cwsync.config.catalog import CatalogSync
from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F
from cwsync.connectors.http import PermissionDeniedError
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.engine.engine import Engine
from cwsync.engine.oneway import Decision, decide
from cwsync.engine.pair import Pair
from cwsync.integrations.catalog.products import (
    FLAG_PROPERTY,
    IMPORTED_LISTS,
    PRODUCT_PROPERTIES,
    PRODUCTS_PAIR,
    ProductPlan,
    dropdown_options,
    product_pair,
    project_product,
)
from cwsync.integrations.connectwise import ConnectWiseSource
from cwsync.integrations.hubspot.properties import create_properties, sync_options
from cwsync.integrations.hubspot.target import BATCH, HubSpotTarget
from cwsync.store import Counts, Link, Store, Trigger

__all__ = ["BATCH", "CATALOG_PATH", "CATALOG_TYPES", "CatalogEngine", "CatalogReport", "catalog_sync_config"]

CATALOG_TYPES = ("options", "products")
"""What a manual catalog run can be limited to (`--only`): the dropdowns' options (SB-1) or the products (whose run
imports the options first)."""

CATALOG_PATH = "procurement/catalog"


def catalog_sync_config(config: Config) -> CatalogSync:
    """`syncs.catalog`, or a ValueError saying what to add."""
    sync = config.syncs.catalog
    if sync is None or not sync.enabled:
        raise ValueError("the catalog sync is not configured or off: add `syncs: {catalog: {...}}`")
    return sync


@dataclass
class CatalogReport:
    """The outcome of a catalog run (or plan): counts and every product that was not unchanged."""

    run_id: int | None
    dry_run: bool
    full: bool
    counts: Counts = field(default_factory=Counts)
    items: list[ProductPlan] = field(default_factory=list)
    hubspot_calls: int = 0
    properties_created: list[str] = field(default_factory=list)
    error: str | None = None
    cancelled: bool = False

    def as_json(self) -> dict[str, Any]:
        """JSON-ready (CLI `--json`, the API)."""
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "full": self.full,
            "counts": self.counts.as_dict(),
            "hubspot_batch_calls": self.hubspot_calls,
            "properties_created": self.properties_created,
            "error": self.error,
            "cancelled": self.cancelled,
            "items": [p.as_json() for p in self.items],
        }


class CatalogEngine:
    """The catalog sync for one configuration, over a store and the two clients (CLI, server and tests share it)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        cw: ConnectWiseClient,
        hs: HubSpotClient,
        *,
        progress: Callable[[str, int], None] | None = None,
        totals: Callable[[str, int], None] | None = None,
    ) -> None:
        """`progress` is told of every catalog item decided, `totals` of how many the read returns (a CLI bar)."""
        self.config, self.sync, self.store, self.cw, self.hs = config, catalog_sync_config(config), store, cw, hs
        self.progress, self.totals = progress, totals
        self.tenant = config.tenant
        self._properties_checked = False

    # -- the run -------------------------------------------------------------------------------------------------

    async def run(self, *, full: bool = False, dry_run: bool = False, trigger: Trigger = "cli") -> CatalogReport:
        """Sync (or with `dry_run` only plan) the catalog: changed items since the cursor, or all with `full`.

        Raises:
            CwsyncApiError: a fatal error (authentication, permission) stopped the run; it is recorded as failed.
        """
        full = full or await self.store.cursor(self.tenant, PRODUCTS_PAIR, "left") is None
        return await self._run(CatalogReport(None, dry_run, full), trigger, full=full)

    async def sync_products(
        self, ids: Iterable[int], *, dry_run: bool = False, trigger: Trigger = "callback"
    ) -> CatalogReport:
        """Sync some catalog items now (a `productcatalog` callback): deleted ones are archived in HubSpot."""
        wanted = [str(i) for i in sorted({int(i) for i in ids})]
        return await self._run(CatalogReport(None, dry_run, False), trigger, records={PRODUCTS_PAIR: wanted})

    async def _run(
        self,
        report: CatalogReport,
        trigger: Trigger,
        *,
        full: bool = False,
        records: Mapping[str, Sequence[str]] | None = None,
    ) -> CatalogReport:
        target = self._target()

        async def prepare(dry_run: bool) -> None:
            report.properties_created = await self.ensure_properties(dry_run=dry_run)

        def observe(_pair: str, decision: Decision) -> None:
            if decision.action != "unchanged":
                report.items.append(ProductPlan.of(decision))
            if self.progress is not None:
                self.progress(_pair, 1)

        pair = self._pair(target, prepare)
        engine = Engine(self.store, self.tenant)
        outcome = await engine.run(
            [pair],
            dry_run=report.dry_run,
            full=full,
            records=records,
            trigger=trigger,
            observe=observe,
            totals=self.totals,
        )
        report.run_id, report.counts, report.error = outcome.run_id, outcome.counts, outcome.error
        report.cancelled = outcome.cancelled
        report.hubspot_calls = target.calls
        return report

    def _target(self) -> HubSpotTarget:
        return HubSpotTarget(self.hs, "products", match_property="connectwise_catalog_id")

    def _pair(self, target: HubSpotTarget, prepare: Callable[[bool], Awaitable[None]] | None = None) -> Pair:
        source = ConnectWiseSource(self.cw, CATALOG_PATH)
        return product_pair(self.sync, source, target, in_flight=self.hs.settings.max_concurrency, prepare=prepare)

    async def ensure_properties(self, *, dry_run: bool = False, options_only: bool = False) -> list[str]:
        """Create the custom product properties HubSpot lacks, and bring the dropdowns' options up to ConnectWise's
        categories, subcategories, product types and manufacturers (SB-1; once per engine, so on each run's prepare
        step); returns `products.name` created (with `options_only`: the dropdowns whose options changed)."""
        if self._properties_checked:
            return []
        existing = {p["name"]: p for p in await self.hs.properties("products")}
        options = await self.dropdown_options()
        changed = []
        for name, wanted in options.items():
            got = await sync_options(self.hs, "products", name, wanted, definition=existing.get(name), dry_run=dry_run)
            changed += [f"products.{name}"] if got is not None else []
        if options_only:
            return changed
        own = [*PRODUCT_PROPERTIES, *([FLAG_PROPERTY] if self.sync.on_delete == "flag" else [])]
        missing = [p for p in own if p.name not in existing]
        choices = {("products", name): wanted or [self.sync.default_category] for name, wanted in options.items()}
        created = [] if dry_run or not missing else await create_properties(self.hs, missing, choices)
        self._properties_checked = not dry_run
        return created if not dry_run else [f"products.{p.name}" for p in missing]

    async def dropdown_options(self) -> dict[str, list[str]]:
        """The product dropdowns' options from ConnectWise's lists (read at the same time, names only)."""

        async def names(path: str) -> list[str]:
            return [str(r["name"]) async for r in self.cw.stream_records(path, fields="id,name") if r.get("name")]

        read = await asyncio.gather(*(names(path) for path in IMPORTED_LISTS.values()))
        return dropdown_options(dict(zip(IMPORTED_LISTS, read, strict=True)), self.sync)

    # -- troubleshooting (SB-6) ----------------------------------------------------------------------------------

    async def explain(self, identifier: str) -> dict[str, Any]:
        """Why a product is (not) in HubSpot: not in the catalog, no access, inactive, defaults used, failures."""
        out: dict[str, Any] = {"identifier": identifier}
        try:
            rows = await self.cw.list_page(CATALOG_PATH, conditions=F("identifier") == identifier, page_size=2)
        except PermissionDeniedError as exc:
            out["reasons"] = [
                "no access: the API member's security role cannot read Procurement › Product Catalog "
                f"(ConnectWise answered {exc.status}); grant Inquire on it and re-run `cwsync catalog sync --full`"
            ]
            return out
        if not rows:
            out["reasons"] = [f"not in the ConnectWise catalog: no catalog item has the identifier {identifier!r}"]
            return out
        item = rows[0]
        cw_id = str(item["id"])
        links = await self.store.links_by_left(self.tenant, PRODUCTS_PAIR, [cw_id])
        link = links.get(cw_id)
        [decision] = await decide(self._pair(self._target()), [item], links)
        projected = project_product(item, self.sync)
        reasons = [f"status {projected.status!r} → {projected.target}"]
        if projected.status != "Active":
            reasons.append(f"inactive in ConnectWise ({projected.status}): the status mapping says {projected.target}")
        reasons += list(projected.notes)
        reasons.append(_held(link))
        history = await self.store.items_for_record(self.tenant, PRODUCTS_PAIR, left_id=cw_id, limit=5)
        out.update(
            connectwise_id=int(item["id"]),
            status=projected.status,
            in_hubspot=link is not None and link.left_values.get("state") != "archived",
            hubspot_id=link.right_id if link else None,
            next_sync=ProductPlan.of(decision).as_json(),
            reasons=reasons,
            history=[{"run_id": i.run_id, "action": i.action, "status": i.status, "reason": i.reason} for i in history],
        )
        return out


def _held(link: Link | None) -> str:
    if link is None:
        return "not in HubSpot yet (no sync has created it: run `cwsync catalog sync`)"
    if link.left_values.get("state") == "archived":
        return f"archived in HubSpot (product {link.right_id})"
    return f"in HubSpot as product {link.right_id}"
