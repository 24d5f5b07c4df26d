"""Running the catalog sync (SB-1, SB-3, SB-4): ConnectWise procurement catalog → HubSpot products, one way.

Per run: the custom product properties are created when missing; catalog items are streamed a page at a time
(incremental: `lastUpdated >= cursor`, full on the first run or with `full`), planned against the links of pair
`catalog:products` (`products.plan_product`, pure), and applied with HubSpot batch endpoints. Writes are gathered
across pages so every batch call carries 100 products (only the last of each kind is short), several calls in
flight (HubSpot's rate limit, not the round trip, sets the pace). Each call's links and run items are committed
together; the cursor moves only when the run has finished, so a crash replays at most the batches in flight.
Inactive products follow the status mapping (archived, skipped, or kept with a custom status) and always leave a
run item saying why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F
from cwsync.connectors.http import CwsyncApiError, PermissionDeniedError
from cwsync.connectors.hubspot import BatchResult, HubSpotClient
from cwsync.engine.reading import chunks, last_updated
from cwsync.engine.record import Recorder
from cwsync.engine.runs import recorded_run
from cwsync.store import Action, Counts, Link, RunItem, Store, Trigger
from cwsync.syncs.catalog.config import CatalogSync
from cwsync.syncs.catalog.products import (
    PRODUCT_PROPERTIES,
    PRODUCTS_PAIR,
    ProductPlan,
    plan_product,
    project_product,
)
from cwsync.syncs.hubspot.properties import create_properties

__all__ = ["BATCH", "CATALOG_PATH", "CatalogEngine", "CatalogReport", "catalog_sync_config"]

log = structlog.get_logger("cwsync.catalog.sync")
Record = dict[str, Any]

BATCH = 100
"""HubSpot batch endpoints take at most 100 inputs."""
CATALOG_PATH = "procurement/catalog"
CALLBACK_TYPE = "productcatalog"


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
            "items": [p.as_json() for p in self.items],
        }


class CatalogEngine:
    """The catalog sync for one configuration, over a store and the two clients (CLI, server and tests share it)."""

    def __init__(self, config: Config, store: Store, cw: ConnectWiseClient, hs: HubSpotClient) -> None:
        self.config, self.sync, self.store, self.cw, self.hs = config, catalog_sync_config(config), store, cw, hs
        self.tenant = config.tenant
        self._properties_checked = False

    # -- the run -------------------------------------------------------------------------------------------------

    async def run(self, *, full: bool = False, dry_run: bool = False, trigger: Trigger = "cli") -> CatalogReport:
        """Sync (or with `dry_run` only plan) the catalog: changed items since the cursor, or all with `full`.

        Raises:
            CwsyncApiError: a fatal error (authentication, permission) stopped the run; it is recorded as failed.
        """
        started = datetime.now(UTC)
        cursor = None if full else await self.store.cursor(self.tenant, PRODUCTS_PAIR, "left")
        report = CatalogReport(run_id=None, dry_run=dry_run, full=cursor is None)
        conditions = None if cursor is None else F("lastUpdated") >= datetime.fromisoformat(cursor)
        newest: datetime | None = None

        async def body(batcher: _Batcher) -> None:
            nonlocal newest
            async for page in self.cw.stream(CATALOG_PATH, conditions=conditions, page_size=1000):
                await self._plan_page(page, batcher)
                stamps = [s for s in (last_updated(i) for i in page) if s is not None]
                newest = max([newest, *stamps] if newest else stamps, default=newest)

        await self._run(report, "full" if report.full else "incremental", trigger, body)
        if not dry_run and report.error is None:
            mark = min(newest, started) if newest else (datetime.fromisoformat(cursor) if cursor else started)
            async with self.store.transaction() as tx:
                await tx.set_cursor(self.tenant, PRODUCTS_PAIR, "left", mark.isoformat())
        return report

    async def sync_products(
        self, ids: Iterable[int], *, dry_run: bool = False, trigger: Trigger = "callback"
    ) -> CatalogReport:
        """Sync some catalog items now (a `productcatalog` callback): deleted ones are archived in HubSpot."""
        wanted = sorted({int(i) for i in ids})
        report = CatalogReport(run_id=None, dry_run=dry_run, full=False)

        async def body(batcher: _Batcher) -> None:
            seen: set[str] = set()
            for start in range(0, len(wanted), BATCH):
                chunk = wanted[start : start + BATCH]
                async for page in self.cw.stream(CATALOG_PATH, conditions=F("id").in_(chunk)):
                    seen.update(str(i["id"]) for i in page)
                    await self._plan_page(page, batcher)
            gone = [str(i) for i in wanted if str(i) not in seen]
            links = await self.store.links_by_left(self.tenant, PRODUCTS_PAIR, gone)
            for cw_id, link in links.items():
                if link.left_values.get("state") != "archived":
                    plan = ProductPlan(
                        cw_id, str(link.left_values.get("hs_sku", "")), "delete", "deleted in ConnectWise"
                    )
                    plan.hubspot_id, plan.state = link.right_id, "archived"
                    plan.properties = {k: v for k, v in link.left_values.items() if k != "state"}
                    await batcher.add(plan)

        await self._run(report, "record", trigger, body)
        return report

    async def _run(
        self, report: CatalogReport, kind: Any, trigger: Trigger, body: Callable[[_Batcher], Awaitable[None]]
    ) -> None:
        scope = recorded_run(
            self.store,
            self.tenant,
            pairs=[PRODUCTS_PAIR],
            kind=kind,
            trigger=trigger,
            counts=lambda: report.counts,
            record=not report.dry_run,
        )
        try:
            async with scope as run:
                report.run_id = run.run_id
                recorder = Recorder(self.store, self.tenant, PRODUCTS_PAIR, run.run_id, dry_run=report.dry_run)
                batcher = _Batcher(self, report, recorder)
                try:
                    report.properties_created = await self.ensure_properties(dry_run=report.dry_run)
                    if not report.dry_run and await self.store.has_journal(self.tenant, PRODUCTS_PAIR):
                        batcher.recovering = True
                    await body(batcher)
                    await batcher.drain()
                except BaseException:
                    await batcher.abandon()
                    raise
        finally:
            report.error = run.error

    async def ensure_properties(self, *, dry_run: bool = False) -> list[str]:
        """Create the custom product properties HubSpot lacks (once per engine); returns `products.name` created."""
        if self._properties_checked:
            return []
        existing = {p["name"] for p in await self.hs.properties("products")}
        missing = [p for p in PRODUCT_PROPERTIES if p.name not in existing]
        created = [] if dry_run or not missing else await create_properties(self.hs, missing)
        self._properties_checked = not dry_run
        return created if not dry_run else [f"products.{p.name}" for p in missing]

    async def _plan_page(self, page: Sequence[Record], batcher: _Batcher) -> None:
        links = await self.store.links_by_left(self.tenant, PRODUCTS_PAIR, [str(i["id"]) for i in page])
        plans = [plan_product(item, self.sync, links.get(str(item["id"]))) for item in page]
        if batcher.recovering:
            await self._adopt_created(batcher.recorder, plans)
        for plan in plans:
            await batcher.add(plan)

    async def _adopt_created(self, recorder: Recorder, plans: Sequence[ProductPlan]) -> None:
        """Products an earlier run created but never recorded (an intent is left: its answer was lost, or the
        process was killed) are found in HubSpot by `connectwise_catalog_id` and updated instead of created twice."""
        pending = await recorder.pending([p.cw_id for p in plans if p.action == "create"])
        wanted = [p for p in plans if p.action == "create" and p.cw_id in pending]
        found: dict[str, str] = {}
        for chunk in chunks([p.cw_id for p in wanted], BATCH):
            group = {"filters": [{"propertyName": "connectwise_catalog_id", "operator": "IN", "values": chunk}]}
            props = ["connectwise_catalog_id"]
            async for rows in self.hs.search("products", filter_groups=[group], properties=props):
                for row in rows:
                    cw_id = str((row.get("properties") or {}).get("connectwise_catalog_id") or "")
                    found.setdefault(cw_id, str(row["id"]))
        for plan in wanted:
            if plan.cw_id in found:
                plan.action, plan.hubspot_id = "update", found[plan.cw_id]
                plan.reason = f"created in HubSpot by an earlier run that did not record it (product {plan.hubspot_id})"
                plan.diff = {k: [None, v] for k, v in plan.properties.items()}

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
        link = (await self.store.links_by_left(self.tenant, PRODUCTS_PAIR, [cw_id])).get(cw_id)
        plan = plan_product(item, self.sync, link)
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
            next_sync=plan.as_json(),
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


class _Batcher:
    """Gathers the writes of a run across pages into full batches of 100, several in flight, and records them."""

    def __init__(self, engine: CatalogEngine, report: CatalogReport, recorder: Recorder) -> None:
        self.engine, self.report, self.recorder = engine, report, recorder
        self.recovering = False
        """An earlier run left creates it never recorded: look those up before creating (`_adopt_created`)."""
        self.pending: dict[str, list[ProductPlan]] = {"create": [], "update": [], "delete": []}
        self.quiet: list[ProductPlan] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.gate = asyncio.Semaphore(max(1, engine.hs.settings.max_concurrency))
        self.failure: BaseException | None = None

    async def add(self, plan: ProductPlan) -> None:
        if self.failure is not None:
            raise self.failure
        if plan.action in self.pending and not self.report.dry_run:
            queue = self.pending[plan.action]
            queue.append(plan)
            if len(queue) >= BATCH:
                await self._launch(plan.action, queue[:BATCH])
                del queue[:BATCH]
            return
        self.quiet.append(plan)
        if len(self.quiet) >= 1000:
            await self._record_quiet()

    async def _launch(self, action: str, plans: list[ProductPlan]) -> None:
        await self.gate.acquire()  # back-pressure: at most max_concurrency batches in flight
        if action == "create":
            try:
                await self.recorder.intend({p.cw_id: {"sku": p.identifier} for p in plans})
            except BaseException:
                self.gate.release()
                raise
        task = asyncio.create_task(self._flush(action, plans))
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.gate.release()
        if not task.cancelled() and task.exception() is not None and self.failure is None:
            self.failure = task.exception()

    async def drain(self) -> None:
        for action, queue in self.pending.items():
            for start in range(0, len(queue), BATCH):
                await self._launch(action, queue[start : start + BATCH])
            queue.clear()
        while self.tasks:
            await asyncio.wait(set(self.tasks))
        if self.failure is not None:
            raise self.failure
        await self._record_quiet()

    async def abandon(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(set(self.tasks))

    async def _flush(self, action: str, plans: list[ProductPlan]) -> None:
        hs = self.engine.hs
        if action == "create":
            inputs: list[dict[str, Any]] = [{"properties": p.properties} for p in plans]
            # HubSpot does not echo the trace id: results are matched (and lost answers resolved) by catalog id.
            result = await hs.batch_create("products", inputs, match_property="connectwise_catalog_id")
        elif action == "update":
            updates = [{"id": p.hubspot_id, "properties": p.properties} for p in plans]
            result = await hs.batch_update("products", updates)
        else:
            result = await hs.batch_archive("products", [str(p.hubspot_id) for p in plans])
        self.report.hubspot_calls += -(-len(plans) // BATCH)
        await self._record(plans, result)

    async def _record_quiet(self) -> None:
        plans, self.quiet = self.quiet, []
        await self._record(plans, None)

    async def _record(self, plans: list[ProductPlan], result: BatchResult | None) -> None:
        links: list[Link] = []
        items: list[RunItem] = []
        settled: list[str] = []
        for n, plan in enumerate(plans):
            error = result.error_for(n) if result is not None else None
            record = result.by_index.get(n) if result is not None else None
            if plan.action == "create" and record is not None:
                plan.hubspot_id = str(record.get("id"))
            lost = plan.action == "create" and record is None and result is not None
            action: Action | None = "fail" if error is not None or lost else None
            self.report.counts.add(action or plan.action)
            if plan.action != "unchanged" or action:
                self.report.items.append(plan)
            if self.report.dry_run:
                continue
            if action is None and plan.action in ("create", "update", "delete") and plan.hubspot_id:
                links.append(self._link(plan))
                if result is not None and plan.action in ("create", "update"):
                    settled.append(plan.cw_id)
            if plan.action != "unchanged" or action:
                items.append(self._item(plan, action, error))
        await self.recorder.commit(links=links, items=items, settled=settled)

    def _link(self, plan: ProductPlan) -> Link:
        return self.recorder.link(
            plan.cw_id, str(plan.hubspot_id), match_key=plan.identifier or None, left_values=plan.projection
        )

    def _item(self, plan: ProductPlan, failed: str | None, error: CwsyncApiError | None) -> RunItem:
        reason = "; ".join([plan.reason, *plan.notes])
        if failed:
            reason += f"; failed: {error or 'HubSpot did not return the created product'}"
        return self.recorder.item(
            "fail" if failed else plan.action,
            status="failed" if failed else "applied",
            left_id=plan.cw_id,
            right_id=plan.hubspot_id,
            reason=reason,
            diff=plan.diff,
            source_values=plan.projection,
            error=error,
        )
