"""Running the ConnectWise → Hudu sync: test the connection, companies first, then each matched company's records.

Per run: the connection test (Hudu `api_info`, the layouts the configuration names, ConnectWise `system/info`);
companies, the parent pair (`companies.company_pair`: every ConnectWise company not deleted, Hudu's company list
once, the stored match decisions as its hooks); then each data type (sites, contacts, configurations, agreements) as
an engine pair (`assets.asset_pair`). All of them run by `Engine.run` inside this one run (`within`): read from
ConnectWise page by page (assets: `company/id in (...)` of the matched companies, and of the unmatched ones to skip
their records naming the company), planned by the engine against the
links, written through `integrations.hudu` (`HuduCompanyTarget`, `HuduAssetTarget`: one Hudu request per created or
changed record, none for an unchanged one).
Hudu assets are never read one by one: the comparison is against the projection stored in each link;
`match_assets_on_serial` reads the assets of a company once, and only when that company has something to create.

A first run with no match decisions syncs nothing but proposes matches (staged first sync): decide with
`cwsync hudu match`, then run again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cwsync.config.hudu import DATA_TYPES, DataType
from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.conditions import F
from cwsync.connectors.hudu import HuduClient
from cwsync.diagnostics.connectwise import check_reads
from cwsync.engine.engine import Engine
from cwsync.engine.oneway import Decision as EngineDecision
from cwsync.engine.report import RunReport
from cwsync.engine.runs import cancel_point, recorded_run
from cwsync.integrations.hudu.assets import PLANNED, SerialIndex, asset_pair
from cwsync.integrations.hudu.companies import COMPANY_FIELDS, company_pair
from cwsync.integrations.hudu.decisions import (
    COMPANIES_PAIR,
    load_decisions,
    save_decisions,
)
from cwsync.integrations.hudu.layouts import LayoutError, LayoutInfo, resolve_layouts
from cwsync.integrations.hudu.matching import Decision, Suggestion, suggest
from cwsync.integrations.hudu.shapes import (
    company_type_names,
)
from cwsync.integrations.hudu.target import HuduAssetTarget, HuduCompanyTarget
from cwsync.store import Counts, Store, Trigger

__all__ = ["HuduRunReport", "HuduSyncEngine", "LayoutError", "TypeReport", "pair_name"]

Progress = Callable[[str, int], None]
Record = dict[str, Any]

READS: dict[str, str] = {
    "companies": "Companies",
    "sites": "Companies",  # sites are read under company/companies/{id}/sites: Company Maintenance (UNCONFIRMED)
    "contacts": "Contacts",
    "configurations": "Configurations",
    "agreements": "Agreements",
}
"""The ConnectWise entities (`diagnostics.connectwise.ENTITIES` labels) each data type reads: `hudu test` probes
them, so a missing permission is named before a sync fails on it."""


def pair_name(kind: DataType) -> str:
    """The store pair of a data type: `hudu:configurations`."""
    return f"hudu:{kind}"


@dataclass(frozen=True, slots=True)
class AssetItem:
    """A decision of the engine for one record of an asset data type, as a report lists it."""

    action: str
    cw_id: str
    hudu_id: int | None
    reason: str
    diff: dict[str, list[Any]]

    @classmethod
    def of(cls, decision: EngineDecision) -> AssetItem:
        if decision.action == "create":
            diff = {
                k: [None, v] for k, v in decision.values.items() if v is not None and k not in ("company", "layout")
            }
        else:
            diff = {k: list(change) for k, change in decision.diff.items()}
        right = decision.right_id
        return cls(decision.action, decision.left_id, int(right) if right else None, decision.why, diff)


@dataclass
class TypeReport:
    """What happened to one data type in a run."""

    kind: DataType
    counts: Counts = field(default_factory=Counts)
    items: list[AssetItem] = field(default_factory=list)

    @property
    def pair(self) -> str:
        """The store pair."""
        return pair_name(self.kind)


@dataclass
class HuduRunReport:
    """The outcome of a run (or a plan)."""

    run_id: int | None
    dry_run: bool
    types: list[TypeReport] = field(default_factory=list)
    awaiting_decision: int = 0
    error: str | None = None
    cancelled: bool = False
    """Stopped at a page boundary on request (`cwsync runs cancel`); recorded as cancelled."""

    @property
    def counts(self) -> Counts:
        """Counts over every data type."""
        return Counts.sum(report.counts for report in self.types)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form (CLI `--json`, REST API)."""
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "awaiting_decision": self.awaiting_decision,
            "error": self.error,
            "cancelled": self.cancelled,
            "counts": self.counts.as_dict(),
            "types": {
                t.kind: {
                    "counts": t.counts.as_dict(),
                    "items": [
                        {
                            "action": i.action,
                            "connectwise_id": i.cw_id,
                            "hudu_id": i.hudu_id,
                            "reason": i.reason,
                            "diff": i.diff,
                        }
                        for i in t.items
                    ],
                }
                for t in self.types
            },
        }


class HuduSyncEngine:
    """The Hudu integration for one configuration, over a store and the two clients (the CLI and server share it)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        cw: ConnectWiseClient,
        hudu: HuduClient,
        *,
        progress: Progress | None = None,
        totals: Progress | None = None,
        today: datetime | None = None,
    ) -> None:
        sync = config.syncs.hudu
        if sync is None:
            raise ValueError("syncs.hudu is not configured")
        self.config, self.sync, self.store, self.cw, self.hudu = config, sync, store, cw, hudu
        self.tenant = config.tenant
        self._progress = progress or (lambda _pair, _n: None)
        self._totals = totals
        """Told how many records a data type's read returns, where ConnectWise can count them (a progress total)."""
        self._today = today
        self._unsynced: dict[int, str] = {}
        """ConnectWise company id → why it has no Hudu company this run (its assets name it when they skip)."""

    # -- connection test ---------------------------------------------------------------------------------------

    async def test(self, *, create_missing: bool = False) -> dict[str, Any]:
        """Prove both connections and resolve the configured layouts.

        Raises:
            CwsyncApiError: a connection failed (the error says how to fix it).
            LayoutError: a configured layout is missing in Hudu (the message lists the valid ones).
        """
        info = await self.hudu.test_connection()
        cw_info = await self.cw.system_info()
        readable = ["Companies", *(READS[kind] for kind in self.sync.data_types() if kind in READS)]
        checks = await check_reads(self.cw, list(dict.fromkeys(readable)))
        # a test writes nothing unless asked to create layouts (then connected fields are added too)
        layouts = await resolve_layouts(self.hudu, self.sync, create_missing=create_missing, dry_run=not create_missing)
        return {
            "hudu_version": info.get("version"),
            "connectwise_version": cw_info.get("version"),
            "layouts": {info.name: info.layout_id for info in layouts.values()},
            "permissions": [
                {"name": c.name, "status": c.status, "detail": c.detail, "fix": c.fix, "endpoint": c.endpoint}
                for c in checks
            ],
        }

    # -- matching --------------------------------------------------------------------------------------------------

    async def companies(self) -> list[Record]:
        """The ConnectWise companies the sync considers (not deleted; skipped types are left out)."""
        return [c for c in await self.live_companies() if self.sync.skips_company_type(company_type_names(c)) is None]

    async def live_companies(self) -> list[Record]:
        """Every ConnectWise company not deleted, skipped types too (a run records why it skips them)."""
        out: list[Record] = []
        live = F("deletedFlag") == False  # noqa: E712 - builds a condition
        async for page in self.cw.stream("company/companies", conditions=live, fields=COMPANY_FIELDS):
            out.extend(page)
        return out

    async def hudu_companies(self) -> dict[int, Record]:
        """Every active Hudu company, by id."""
        return {int(c["id"]): c async for page in self.hudu.stream_companies() for c in page}

    async def suggestions(self) -> list[Suggestion]:
        """A match suggestion (or the decision taken) for every ConnectWise company."""
        companies, hudu = await asyncio.gather(self.companies(), self.hudu_companies())
        return suggest(companies, hudu.values(), await load_decisions(self.store, self.tenant))

    async def decide(self, decisions: Sequence[Decision]) -> list[Decision]:
        """Store match decisions (validated against Hudu's companies)."""
        return await save_decisions(self.store, self.tenant, decisions, await self.hudu_companies())

    async def auto_match(self) -> list[Decision]:
        """Decide every undecided company that has exactly one exact suggestion (identifier or normalised name)."""
        chosen: list[Decision] = []
        for s in await self.suggestions():
            best = s.best_exact
            if s.decision is None and best is not None and best.hudu_id not in {d.hudu_id for d in chosen}:
                chosen.append(Decision(s.cw_id, "match", best.hudu_id, by="auto"))
        return await self.decide(chosen) if chosen else []

    # -- the run ---------------------------------------------------------------------------------------------------

    async def run(
        self,
        *,
        only: Iterable[DataType] | None = None,
        dry_run: bool = False,
        trigger: Trigger = "cli",
        verify: bool = True,
        full: bool = True,
        records: Mapping[DataType, Sequence[str]] | None = None,
    ) -> HuduRunReport:
        """Sync (or with `dry_run` only plan) the enabled data types, or `only` some of them (companies always
        come first: their links decide what else is imported).

        With `records` (data type → ConnectWise ids), only those records are read, planned and written (BY-2
        replay, a callback's record): the companies step plans without writing (unless companies are among the
        records) and the cursors stay where they are.

        With `verify`, the run first lists the assets of the layouts it writes (archived ones too: one read per 100
        assets) and re-creates those deleted in Hudu since they were synced, as Hudu's own integrations do on their
        next re-sync; an archived asset is left archived. Without it (the debounced runs a ConnectWise callback
        starts), only the store's links are trusted and Hudu is read for nothing.

        Without `full` the run is incremental: contacts, configurations and agreements changed in ConnectWise
        since that data type's cursor (`lastUpdated`, 5 s of overlap) are read, instead of every record of the
        matched companies. A data type is read in full anyway on its first run, and when the matched companies or
        the sync's options changed since its cursor was set (the scheduled re-sync every few hours is a full one).

        Raises:
            CwsyncApiError: a fatal error (authentication, permission) stopped the run; it is recorded as failed.
            LayoutError: a configured layout is missing.
        """
        kinds = self._kinds(list(records) if records else only)
        layouts = await resolve_layouts(
            self.hudu, self.sync, create_missing=self.sync.create_missing_layouts, dry_run=dry_run
        )
        report = HuduRunReport(run_id=None, dry_run=dry_run)
        pairs = [pair_name(k) for k in kinds]
        scope = recorded_run(
            self.store,
            self.tenant,
            pairs=pairs,
            kind="record" if records else ("full" if full else "incremental"),
            trigger=trigger,
            counts=lambda: report.counts,
            record=not dry_run,
        )
        try:
            async with scope as run:
                report.run_id = run.run_id
                await self._run(report, kinds, layouts, verify=verify and not records, full=full, records=records)
        finally:
            report.error, report.cancelled = run.error, run.cancelled
        return report

    def _kinds(self, only: Iterable[DataType] | None) -> list[DataType]:
        enabled = self.sync.data_types()
        wanted = set(only) if only else set(enabled)
        unknown = wanted - set(DATA_TYPES)
        if unknown:
            raise ValueError(f"unknown data type(s) {sorted(unknown)}: use {', '.join(DATA_TYPES)}")
        return [k for k in enabled if k in wanted]

    async def _run(
        self,
        report: HuduRunReport,
        kinds: list[DataType],
        layouts: dict[str, LayoutInfo],
        *,
        verify: bool,
        full: bool = True,
        records: Mapping[DataType, Sequence[str]] | None = None,
    ) -> None:
        assets = [kind for kind in kinds if kind != "companies"]
        existing = await self._existing_assets(layouts) if verify and assets else None
        write_companies = "companies" in kinds if records is None else "companies" in records
        company_ids = None if records is None else records.get("companies")
        companies = await self._sync_companies(report, write_companies, company_ids)
        for kind in assets:
            await cancel_point(self.store, report.run_id)
            ids = None if records is None else records.get(kind, ())
            await self._run_pair(report, kind, companies, layouts, existing, full=full, ids=ids)

    async def _run_pair(
        self,
        report: HuduRunReport,
        kind: DataType,
        companies: dict[int, int],
        layouts: dict[str, LayoutInfo],
        existing: set[int] | None,
        *,
        full: bool,
        ids: Sequence[str] | None = None,
    ) -> None:
        """One asset data type through `Engine.run` (within this run, after the companies step); with `ids`, only
        those ConnectWise records (the engine's replay)."""
        type_report = TypeReport(kind)
        report.types.append(type_report)
        pair = pair_name(kind)
        sites = await self._site_assets() if kind in ("contacts", "configurations") else {}
        target = HuduAssetTarget(self.hudu, self.store, self.tenant, pair)
        serials = SerialIndex(self.hudu, self.store, self.tenant, pair) if self.sync.match_assets_on_serial else None
        others = await self._unread_companies(companies) if kind == "sites" else []
        engine_pair = asset_pair(
            kind,
            self.sync,
            self.cw,
            target,
            companies=companies,
            unsynced=self._unsynced,
            layouts=layouts,
            sites=sites,
            existing=existing,
            scope=None if kind == "sites" else self._scope_key(companies),
            in_flight=4,
            serials=serials,
            today=self._today,
            others=others,
        )

        def observe(_pair: str, decision: EngineDecision) -> None:
            type_report.counts.add(decision.action)  # type: ignore[arg-type]
            moved = decision.write is not None and decision.write.replaces is not None
            if moved and decision.action == "create":
                type_report.counts.add("delete")  # the old asset of a move, archived too (a plan says so as well)
            if decision.action != "unchanged":
                type_report.items.append(AssetItem.of(decision))
            self._progress(pair, 1)

        outcome = RunReport[dict[str, Any]](run_id=report.run_id, dry_run=report.dry_run)
        engine = Engine(self.store, self.tenant)
        await engine.run(
            [engine_pair],
            within=outcome,
            dry_run=report.dry_run,
            full=full or kind == "sites",
            records=None if ids is None else {pair: list(ids)},
            observe=observe,
            totals=self._totals,
        )

    async def _unread_companies(self, companies: Mapping[int, int]) -> list[int]:
        """The ConnectWise companies linked to a Hudu company that this run does not read (a skipped type, a company
        deleted in ConnectWise): where a linked site the full read did not find may still be."""
        out: list[int] = []
        async for batch in self.store.iter_link_ids(self.tenant, COMPANIES_PAIR):
            out.extend(int(left_id) for left_id, _ in batch if int(left_id) not in companies)
        return out

    async def _existing_assets(self, layouts: Mapping[str, LayoutInfo]) -> set[int]:
        """Ids of the assets (archived ones too) of the layouts the sync writes to."""
        layout_ids = sorted({info.layout_id for info in layouts.values() if info.layout_id > 0})

        async def ids(layout_id: int, archived: bool) -> list[int]:
            pages = self.hudu.stream_assets(asset_layout_id=layout_id, archived=archived)
            return [int(asset["id"]) async for page in pages for asset in page]

        found = await asyncio.gather(*(ids(layout_id, flag) for layout_id in layout_ids for flag in (False, True)))
        return {asset_id for chunk in found for asset_id in chunk}

    # -- companies ---------------------------------------------------------------------------------------------------

    async def _sync_companies(
        self, report: HuduRunReport, write: bool, ids: Sequence[str] | None = None
    ) -> dict[int, int]:
        """The companies pair through the engine (within this run; with `ids`, only those companies), unless `write`
        is off (a replay of other data types); returns ConnectWise company id → Hudu company id for the linked
        ones."""
        everyone, hudu = await asyncio.gather(self.live_companies(), self.hudu_companies())
        companies = [c for c in everyone if self.sync.skips_company_type(company_type_names(c)) is None]
        decisions = await load_decisions(self.store, self.tenant)
        report.awaiting_decision = sum(1 for c in companies if int(c["id"]) not in decisions)
        cw_ids = [str(c["id"]) for c in companies]
        reasons: dict[int, str] = {}
        """What became of each company this run (the reason a company without a Hudu company gives its assets)."""
        if write:
            links = await self.store.links_by_left(self.tenant, COMPANIES_PAIR, [str(c["id"]) for c in everyone])
            held = {link.right_id for link in links.values()}
            held |= set(await self.store.links_by_right(self.tenant, COMPANIES_PAIR, [str(i) for i in hudu]))
            target = HuduCompanyTarget(self.hudu, hudu, held)
            pair = company_pair(self.sync, self.cw, target, decisions=decisions, links=links, hudu=hudu)
            type_report = TypeReport("companies")
            report.types.append(type_report)
            planned: dict[int, int] = {}

            def observe(_pair: str, decision: EngineDecision) -> None:
                reasons[int(decision.left_id)] = decision.why
                type_report.counts.add(decision.action)  # type: ignore[arg-type]
                if decision.action != "unchanged":
                    type_report.items.append(AssetItem.of(decision))
                if decision.action == "create" and report.dry_run:
                    # A plan shows what the sync would put in the companies it would create too: their records are
                    # planned against a stand-in id (minus the ConnectWise id) that no write ever sees.
                    planned[int(decision.left_id)] = PLANNED - int(decision.left_id)
                elif decision.right_id and decision.action in ("create", "link", "update"):
                    hudu.setdefault(int(decision.right_id), {"id": int(decision.right_id)})
                self._progress("companies", 1)

            totals = self._totals
            outcome = RunReport[dict[str, Any]](run_id=report.run_id, dry_run=report.dry_run)
            await Engine(self.store, self.tenant).run(
                [pair],
                within=outcome,
                dry_run=report.dry_run,
                full=True,
                records=None if ids is None else {COMPANIES_PAIR: list(ids)},
                observe=observe,
                totals=(lambda _pair, n: totals("companies", n)) if totals is not None else None,
            )
        links = await self.store.links_by_left(self.tenant, COMPANIES_PAIR, cw_ids)
        linked = {int(cw_id): int(link.right_id) for cw_id, link in links.items() if int(link.right_id) in hudu}
        if write and report.dry_run:
            linked.update(planned)
        self._unsynced = {cw_id: why for cw_id, why in reasons.items() if cw_id not in linked}
        return linked

    # -- assets ------------------------------------------------------------------------------------------------------

    def _scope_key(self, companies: Mapping[int, int]) -> str:
        """A digest of what decides a data type's records: the matched companies and the sync's options. When it
        changes, the cursor no longer covers what is in Hudu and the next run of that type is a full one."""
        text = json.dumps({"companies": sorted(companies.items()), "sync": self.sync.model_dump(mode="json")})
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    async def _site_assets(self) -> dict[int, int]:
        """ConnectWise site id → its location asset id (for the `Location` asset tag of contacts and devices)."""
        out: dict[int, int] = {}
        async for batch in self.store.iter_links(self.tenant, pair_name("sites")):
            out.update({int(link.left_id): int(link.right_id) for link in batch})
        return out
