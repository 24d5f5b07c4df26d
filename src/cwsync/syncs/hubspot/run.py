"""Running the HubSpot integration: read changes → plan → apply → record, pair by pair, parents first.

Per pair: the HubSpot side's changes since its cursor are read first (they are few in an incremental run), then
ConnectWise's changes page by page; each page is planned with `core.plan.plan_pair`, applied in batches, and its
links and run items committed in one transaction. What is left of HubSpot's changes is planned the same way.
Cursors move only at the end of a completed pair, to the newest change seen, capped by the run's start: a run
killed at any point and run again re-reads from the old cursor, and matching + links make the replay converge.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from cwsync.config import problems_at
from cwsync.config.model import Config, FilterRule, ObjectSync
from cwsync.config.vocabulary import Action, ConflictPolicy, Side
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.http import CwsyncApiError, FatalError, NotFoundError
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.filters import failing_rule
from cwsync.core.mapping import ObjectMapping, build_mapping
from cwsync.core.plan import (
    EXCLUDED,
    GONE,
    LinkBase,
    PairInput,
    PlanItem,
    Snapshot,
    Write,
    match_values,
    plan_pair_cooperatively,
)
from cwsync.core.selection import select_types
from cwsync.engine.applying import Applying
from cwsync.engine.engine import OUT_OF_SCOPE, StoreLinks, present_ids, unread_links
from cwsync.engine.guard import MassDeleteError, check_mass_delete
from cwsync.engine.pair import KEPT_ITEMS, Flow, WriteResult
from cwsync.engine.pair import Write as TargetWrite
from cwsync.engine.reading import Cursors, IdSet, ReadAhead, Watermark
from cwsync.engine.record import Recorder, projection_hash
from cwsync.engine.runs import cancel_point, recorded_run
from cwsync.engine.runs import close_interrupted as close_interrupted_runs
from cwsync.integrations.hubspot import HubSpotTarget
from cwsync.store import Counts, ItemRow, Link, Store
from cwsync.syncs.hubspot import shapes
from cwsync.syncs.hubspot.defaults import OBJECTS, ORDER
from cwsync.syncs.hubspot.properties import (
    FLAG,
    CompanyTypeOptions,
    Options,
    create_properties,
    missing_properties,
    property_group,
    with_options,
)
from cwsync.syncs.hubspot.schema import check_schemas, property_definitions
from cwsync.syncs.hubspot.sides import ConnectWiseSide, HubSpotSide, Raw, opportunity_defaults, right_properties

__all__ = [
    "HubSpotSync",
    "MassDeleteError",
    "PairReport",
    "ReadAhead",
    "RecordRef",
    "RunReport",
    "left_skip",
    "mappings",
]

log = structlog.get_logger("cwsync.sync")
DELETED_IN_CW = "deleted in ConnectWise"

STAMP = "@hs_updated_at"
"""Kept in a link's HubSpot values: the object's last modification when cwsync last wrote or read it. An object
read again with the same stamp is unchanged since (typically cwsync's own write coming back), so its associations
need no read: the link's values stand for it."""


FLOW = Flow(batch=100, hold=2_000, applying=2, page=200)
"""The HubSpot runs' flow (`engine.pair.Flow`): batches of 100 inputs (HubSpot's batch size), two applying at once."""


def left_skip(pair: str, flat: Mapping[str, Any], rules: Iterable[FilterRule]) -> str | None:
    """Why the sync skips a ConnectWise record of `pair` (flattened), or None when it takes it: the built-in rules
    (a deleted company, an inactive contact, a contact without a company: HS-8), then the pair's `filters`. The
    console's live filter count uses this too, so it counts what the sync would actually take."""
    if pair == "companies" and flat.get("deletedFlag"):
        return DELETED_IN_CW
    if pair == "contacts" and flat.get("inactiveFlag"):
        return "inactive in ConnectWise"
    if pair == "contacts" and not flat.get("company"):
        return "has no company in ConnectWise: contacts sync with their company (HS-8)"
    return failing_rule(rules, flat)


@dataclass
class PairReport:
    """What happened to one pair in a run.

    A dry run keeps every planned item (it is what `cwsync plan` shows). A sync keeps its first `KEPT_ITEMS` items
    other than "unchanged" and counts the rest in `items_omitted`: every decision is in the store's run items
    (`cwsync history`, `cwsync explain`), and a first sync of 60,000 records held in memory made the garbage
    collector's full passes take hundreds of milliseconds each.
    """

    pair: str
    counts: Counts = field(default_factory=Counts)
    items: list[PlanItem] = field(default_factory=list)
    items_omitted: int = 0

    def keep(self, items: Iterable[PlanItem], *, everything: bool) -> None:
        """Keep `items` (all of them, or within the limit of a sync)."""
        if everything:
            self.items.extend(items)
            return
        for item in items:
            if item.action is Action.UNCHANGED:
                continue
            if len(self.items) < KEPT_ITEMS:
                self.items.append(item)
            else:
                self.items_omitted += 1


@dataclass
class RunReport:
    """The outcome of a run (or a dry run)."""

    run_id: int | None
    dry_run: bool
    pairs: list[PairReport] = field(default_factory=list)
    error: str | None = None
    cancelled: bool = False
    """Stopped at a page boundary on request (`cwsync runs cancel`); recorded as cancelled."""

    @property
    def counts(self) -> Counts:
        """Counts over every pair."""
        return Counts.sum(pair.counts for pair in self.pairs)


Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class RecordRef:
    """One record to replay: `connectwise:contacts:123` or `hubspot:contacts:456`."""

    system: str
    pair: str
    record_id: str

    @classmethod
    def parse(cls, text: str) -> RecordRef:
        """Parse `SYSTEM:OBJECT:ID`; ValueError with the expected form otherwise."""
        parts = text.split(":")
        if len(parts) != 3 or parts[0] not in ("connectwise", "hubspot") or not parts[2]:
            raise ValueError(f"{text!r}: expected SYSTEM:OBJECT:ID, e.g. connectwise:contacts:123 or hubspot:deals:456")
        return cls(parts[0], parts[1], parts[2])


def mappings(config: Config) -> dict[str, ObjectMapping]:
    """The enabled pairs' mappings, parents first (raises MappingError on a bad mapping)."""
    sync = config.syncs.hubspot
    if sync is None or not sync.enabled:
        return {}
    out = {}
    for pair in ORDER:
        object_config = sync.objects.get(pair)  # type: ignore[call-overload]
        if object_config is None or not object_config.enabled:
            continue
        d = OBJECTS[pair]
        built = build_mapping(
            pair=pair,
            left_object=d.left_object,
            right_object=d.right_object,
            defaults=d.fields,
            match=d.match,
            config=object_config,
            references=d.references,
            default_direction=d.default_direction,
        )
        out[pair] = built
    return out


class HubSpotSync:
    """One run of the HubSpot integration."""

    def __init__(
        self,
        config: Config,
        store: Store,
        cw: ConnectWiseClient,
        hs: HubSpotClient,
        *,
        progress: Progress | None = None,
        total: Progress | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        flow: Flow = FLOW,
    ) -> None:
        """`flow`: how writes move (batch size, items held to fill batches, batches applying at once, ...);
        `progress(pair, n)`: n more ConnectWise records of the pair read and planned; `total(pair, n)`: how many
        the pair reads, by ConnectWise's count (asked alongside the read; not told when the count fails)."""
        self.config = config
        self.tenant = config.tenant
        self.store = store
        self.cw = cw
        self.hs = hs
        self.progress = progress or (lambda pair, n: None)
        self.total = total
        self.now = now
        self.flow = flow
        self.mappings = mappings(config)
        self.missing_properties: set[tuple[str, str]] = set()
        self.options: Options = {}
        """Dropdown options imported from ConnectWise by `prepare` (SB-1)."""
        self.company_types = CompanyTypeOptions()
        """The company-type dropdown: imported by `prepare`, refreshed by each later companies run (SB-1)."""
        self.deal_context: dict[str, Any] = {}
        """Status ids and the default sales rep a HubSpot deal's opportunity is written with (`prepare`)."""
        self.prepared = False
        self.planned_creates: dict[str, set[str]] = {}
        """In a dry run: the ConnectWise ids each pair would create on HubSpot (parents of later pairs)."""
        self.skipped: dict[str, dict[str, str]] = {}
        """Per pair, the ConnectWise records this run skipped or failed and why: a dependent waiting for one of them
        names it (parents not read this run are recalled from their last run item)."""
        self.recalled: set[tuple[str, str]] = set()
        """(pair, ConnectWise id) of the parents already looked up in the store this run."""
        self.planned_links: dict[str, dict[str, str]] = {}
        """In a dry run: ConnectWise id → HubSpot id of the records each pair would link (matched), which later
        pairs' records are planned against as the real run would (plan equals apply, BY-1)."""
        sync = config.syncs.hubspot
        self.policy = ConflictPolicy(sync.conflict_policy) if sync else ConflictPolicy.CONNECTWISE_WINS
        self.mass_delete_share = sync.mass_delete_share if sync else 0.9

    async def run(
        self,
        *,
        dry_run: bool = False,
        full: bool = False,
        objects: Sequence[str] | None = None,
        trigger: str = "cli",
        record: RecordRef | None = None,
        records: Sequence[RecordRef] = (),
    ) -> RunReport:
        """Sync every enabled pair (or `objects`), parents first; a dry run plans and writes nothing.

        With `record` (or several `records`), only those records are read, planned and applied, in one batch per
        pair (BY-2 replay, and the real-time record jobs); cursors stay where they are.
        """
        refs = [*records, *([record] if record is not None else [])]
        for ref in refs:
            if ref.pair not in self.mappings:
                raise ValueError(f"{ref.pair} is not an enabled object (enabled: {', '.join(self.mappings)})")
        if refs:
            objects = [ref.pair for ref in refs]
        pairs = select_types(objects, list(self.mappings), what="HubSpot object") or list(self.mappings)
        kind = "plan" if dry_run else ("record" if refs else ("full" if full else "incremental"))
        preparing = not self.prepared or dry_run
        report = RunReport(run_id=None, dry_run=dry_run)
        scope = recorded_run(
            self.store,
            self.tenant,
            pairs=pairs,
            kind=kind,  # type: ignore[arg-type]
            trigger=trigger,  # type: ignore[arg-type]
            counts=lambda: report.counts,
            record=not dry_run,  # a plan writes nothing, not even its run
        )
        async with scope as run:
            report.run_id = run.run_id
            failing: set[str] = set()
            runs = [_PairRun(self, pair, run.run_id, dry_run=dry_run, full=full, failing=failing) for pair in pairs]
            for pair_run, next_up in itertools.pairwise(runs):
                pair_run.next_up = next_up  # its ConnectWise read starts once this pair has read its own
            try:
                if runs and not refs:
                    runs[0].read_ahead()  # ConnectWise's first page is read while HubSpot is prepared
                if preparing:
                    await self.prepare(dry_run=dry_run, close_interrupted=False)
                elif "companies" in pairs and not refs and (full or trigger in ("schedule", "api")):
                    await self.company_types.refresh(self.cw, self.hs, self.mappings)  # SB-1 under a long-lived serve
                for pair_run in runs:
                    mine = [ref for ref in refs if ref.pair == pair_run.pair]
                    report.pairs.append(await (pair_run.replay(mine) if refs else pair_run.run()))
            except (FatalError, CwsyncApiError) as exc:
                report.error = str(exc)
                raise
            finally:
                for pair_run in runs:
                    await pair_run.close_reader()
        report.cancelled = run.cancelled
        return report

    async def prepare(self, *, dry_run: bool = False, close_interrupted: bool = True) -> None:
        """Once per process (or per CLI run): close runs a killed process left, create missing HubSpot
        properties, and map owners. A long-lived server calls it at start (and again to refresh owners)."""
        if close_interrupted:
            await close_interrupted_runs(self.store, self.tenant, force=True)
        types = CompanyTypeOptions() if dry_run else self.company_types  # a plan leaves the import to come
        self.options, _ = await types.refresh(self.cw, self.hs, self.mappings, dry_run=dry_run)  # SB-1
        await asyncio.gather(self._ensure_properties(dry_run=dry_run), self._map_owners())
        if "deals" in self.mappings and self.mappings["deals"].direction.allows(Side.LEFT.towards):
            self.deal_context = await opportunity_defaults(self.cw, self.config)  # HubSpot deals → opportunities
        self.prepared = not dry_run

    async def _map_owners(self) -> None:
        """Give the owner field its value map for this run: members and HubSpot owners with the same e-mail."""
        mapping = self.mappings.get("deals")
        if mapping is None or "hubspot_owner_id" not in mapping.by_name():
            return
        owners = await owner_map(self.cw, self.hs)
        configured = mapping.by_name()["hubspot_owner_id"].value_map or {}
        value_map = {**owners, **{k: v for k, v in configured.items() if k != "*"}, "*": configured.get("*", "")}
        fields = tuple(replace(f, value_map=value_map) if f.name == "hubspot_owner_id" else f for f in mapping.fields)
        self.mappings["deals"] = replace(mapping, fields=fields)

    async def _ensure_properties(self, *, dry_run: bool) -> None:
        """Check the mappings against HubSpot's property definitions and ConnectWise's custom fields (a
        `ConfigError` naming file and line before any record is touched), then create the HubSpot properties cwsync
        needs (not in a dry run: there they are only noted as missing)."""
        definitions = with_options(await property_definitions(self.hs, self.mappings), self.options)
        problems = await check_schemas(self.config, self.mappings, self.cw, definitions)
        if problems:
            raise problems_at(self.config, [(p.loc, p.message) for p in problems])
        missing = await missing_properties(self.hs, self.mappings, definitions, self.config.syncs.hubspot)
        if dry_run:
            self.missing_properties = {(p.object_type, p.name) for p in missing}
            return
        if missing:
            group = property_group(self.config.syncs.hubspot)
            created = await create_properties(self.hs, missing, self.options, group=group)
            log.info("hs.properties_created", properties=created)
        self.missing_properties = set()


async def owner_map(cw: ConnectWiseClient, hs: HubSpotClient) -> dict[str, str]:
    """ConnectWise member id → HubSpot owner id, for members whose e-mail is a HubSpot owner's."""
    owners = {str(o.get("email", "")).lower(): str(o["id"]) for o in await hs.owners() if o.get("email")}
    out = {}
    async for page in cw.stream("system/members", fields="id,primaryEmail"):
        for member in page:
            owner = owners.get(str(member.get("primaryEmail") or "").lower())
            if owner:
                out[str(member["id"])] = owner
    return out


class _PairRun:
    def __init__(
        self,
        sync: HubSpotSync,
        pair: str,
        run_id: int | None,
        *,
        dry_run: bool,
        full: bool,
        failing: set[str] | None = None,
    ) -> None:
        self.s = sync
        self.pair = pair
        self.failing = failing if failing is not None else set()
        """The pairs of this run that failed a record so far (shared by the run's pairs)."""
        self._keep_right_cursor = False
        self.run_id = run_id
        self.dry_run = dry_run
        self.full = full
        d = OBJECTS[pair]
        catalog = sync.config.syncs.catalog
        priority = tuple(catalog.company_type_priority) if catalog is not None else None
        self.left = ConnectWiseSide(sync.cw, pair, d.left_object, priority, shapes.reads_forecast(self.mapping))
        if pair == "companies" and not dry_run:  # SB-1: a record of a type new since the last import imports it
            self.left.on_types = lambda types: sync.company_types.seen(sync.cw, sync.hs, sync.mappings, types)
        self.right = HubSpotSide(sync.hs, pair, d.right_object, right_properties(self.mapping))
        match = self.mapping.by_name()[self.mapping.match[0]].right if self.mapping.match else None
        self.target = HubSpotTarget(sync.hs, d.right_object, match_property=match, kept=_stamp_of)
        """Where the pair's HubSpot writes go (creates and updates; a link keeps the written object's `STAMP`)."""
        sync_config = sync.config.syncs.hubspot
        self.object_config: ObjectSync = sync_config.objects[pair] if sync_config else ObjectSync()  # type: ignore[index]
        self.policy = ConflictPolicy(self.object_config.conflict_policy or sync.policy)
        filters, on_filtered = self.object_config.filters, self.object_config.on_filtered
        self.scope = (
            projection_hash({"filters": filters.model_dump(mode="json"), "on_filtered": on_filtered})
            if filters.connectwise or filters.other or on_filtered != "keep"
            else None
        )
        """What the cursors are valid for: changing the filters makes the next run read both sides in full, so
        linked records the new filters exclude are found (and marked) even when they did not change."""
        self.cursors = Cursors(sync.store, sync.tenant, pair, self.scope)
        self._store_links = StoreLinks(sync.store, sync.tenant, pair)
        self.report = PairReport(pair)
        self.started = sync.now()
        self.newest = {side: Watermark(self.started) for side in (Side.LEFT, Side.RIGHT)}
        self.recorder = Recorder(sync.store, sync.tenant, pair, run_id, dry_run=dry_run)
        self.right_complete = False
        self.right_read_done = False
        self.right_stamps: dict[str, str] = {}  # HubSpot id → `STAMP` of the object as read in this run
        self._held: list[PlanItem] = []  # planned, not applied yet (see `_apply`)
        self._held_raws: dict[str, Raw] = {}
        """ConnectWise records of held items that update ConnectWise (a patch is built against the record read)."""
        self._held_moments: dict[str, datetime | None] = {}
        """When the ConnectWise records of held items with writes last changed: a failed write holds the cursor
        there. (The records themselves are not kept: a page's thousand records held until their batches went out
        were the first sync's peak memory.)"""
        self.applying = Applying(sync.flow.applying)
        """Batches applying in the background while the next page is read and planned (the flow's `applying`)."""
        self._reader: ReadAhead[list[Raw]] | None = None
        self._linked = IdSet()
        """ConnectWise ids read in this run that have a link (found, or written by it): when the store holds just
        as many links, none is of a record ConnectWise no longer has, and reconciliation need not read them all."""
        self._released = 0  # links the store removed because their HubSpot id went to another record
        self._right_seen: set[str] = set()
        """On a full HubSpot read: every object read (a link to none of them, nor made by this run, is gone there)."""
        self._unconfirmed: set[str] = set()
        """On a full HubSpot read: ConnectWise ids of this run's links (`_linked`) whose counterpart the read did not
        return and this run did not create — the rest are confirmed: when the store holds just as many links as
        those, none is gone in HubSpot and `_reconcile_right` need not read them all. (The few, not the many: a set
        of every confirmed id grew with the data.)"""
        self._echoes: set[str] = set()
        """HubSpot ids this run read unchanged since their link was recorded (`_right_snapshots`): not held nor
        planned. One that a ConnectWise change of this run reaches is planned against its link (the same values);
        the rest count as unchanged."""
        self._parent_ids: dict[str, dict[str, str]] = {}
        """Per parent pair: ConnectWise id → HubSpot id of the parents found linked so far (`_parents`)."""
        self.left_since: datetime | None = None
        self.next_up: _PairRun | None = None
        self._counting: asyncio.Task[None] | None = None
        """The pair that runs after this one: its ConnectWise read starts when this one's ends."""

    @property
    def mapping(self) -> ObjectMapping:
        """The pair's mapping as prepared (the owner field's value map is filled in by `prepare`)."""
        return self.s.mappings[self.pair]

    def read_ahead(self) -> None:
        """Start reading this pair's ConnectWise changes now (from its cursor), ahead of its run."""
        if self._reader is None:
            self._reader = ReadAhead(self._left_changes())

    async def _left_changes(self) -> AsyncIterator[list[Raw]]:
        self.left_since = None if self.full else await self._cursor(Side.LEFT)
        if self.s.total is not None and self._counting is None:
            self._counting = asyncio.create_task(self._count(self.left_since))
        async for page in self.left.changed(self.left_since):
            yield page

    async def _count(self, since: datetime | None) -> None:
        """Tell `total` how many records this pair reads (a progress bar's total; the sync does not need it)."""
        assert self.s.total is not None
        try:
            self.s.total(self.pair, await self.left.count_changed(since))
        except CwsyncApiError as exc:
            log.debug("hubspot.count_failed", pair=self.pair, error=type(exc).__name__)

    async def close_reader(self) -> None:
        """Stop a ConnectWise read still under way (after an error, or a pair that never ran)."""
        if self._counting is not None and not self._counting.done():
            self._counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._counting
        if self._reader is not None:
            await self._reader.close()

    def _take_missing(self) -> None:
        """HubSpot properties a dry run found missing are left out of reads (they do not exist yet)."""
        missing = self.s.missing_properties
        self.right.missing = {name for obj, name in missing if obj == self.right.object_type}

    async def run(self) -> PairReport:
        try:
            return await self._run()
        finally:
            await self.applying.abandon()

    async def _run(self) -> PairReport:
        self._take_missing()
        self.read_ahead()
        assert self._reader is not None
        right_since = None if self.full else await self._cursor(Side.RIGHT)
        rights: dict[str, tuple[Snapshot, Raw]] = {}
        echoes = None if self.dry_run else self._echoes
        async for page in self.right.changed(right_since):
            for snap, raw in await self._right_snapshots(page, echoes=echoes):
                rights[snap.id] = (snap, raw)
        self.right_complete = right_since is None
        self.right_read_done = True
        self._right_seen = set(rights) | self._echoes if self.right_complete else set()
        async for page in self._reader:
            await cancel_point(self.s.store, self.run_id, settle=self._flush)  # cursors stay: not completed
            await self._left_page(page, rights)
            self.s.progress(self.pair, len(page))
        if self.next_up is not None:
            self.next_up.read_ahead()  # while this pair's last writes are in flight
        await self._flush()
        if self.left_since is None:
            await self._reconcile(rights)
        if self.right_complete:
            await self._reconcile_right()
        self.report.counts.unchanged += len(self._echoes)  # what planning them alone would have said
        self._echoes.clear()
        remaining = list(rights.values())
        size = self.s.flow.page
        for start in range(0, len(remaining), size):
            await cancel_point(self.s.store, self.run_id, settle=self._flush)
            await self._right_page(remaining[start : start + size])
        await self._flush()
        if not self.dry_run:
            await self._advance_cursors()
        return self.report

    async def replay(self, refs: Sequence[RecordRef]) -> PairReport:
        self._take_missing()
        try:
            await self._replay(refs)
            await self._flush()
            return self.report
        finally:
            await self.applying.abandon()

    async def _replay(self, refs: Sequence[RecordRef]) -> None:
        """Read, plan and apply these records (and their linked counterparts) now, as one batch.

        ConnectWise records are read in one call per 100 ids, their HubSpot counterparts in one batch read; a
        ConnectWise id that is not found was deleted (CW-6). HubSpot records whose counterpart is in the same batch
        are planned with it (read once); a HubSpot id not found was archived there and is left alone.
        """
        left_ids = list(dict.fromkeys(r.record_id for r in refs if r.system == "connectwise"))
        right_ids = list(dict.fromkeys(r.record_id for r in refs if r.system != "connectwise"))
        handled: set[str] = set()
        if left_ids:
            links = await self._links(Side.LEFT, left_ids)
            linked = [links[i].right_id for i in left_ids if i in links]
            # The three reads need only ids the store already has: one round trip instead of three in a row.
            raws, right_raws, references = await asyncio.gather(
                self.left.get_many(left_ids), self.right.get_many(linked), self._right_references(linked)
            )
            found = {str(raw["id"]) for raw in raws}
            gone = [i for i in left_ids if i not in found]
            if gone:
                await self._deleted_left(gone, links, "deleted in ConnectWise (not found)")
            alive = {links[i].right_id for i in found if i in links}
            rights = {
                snap.id: (snap, right_raw)
                for snap, right_raw in self._right_snapshots_of(
                    [r for r in right_raws if str(r["id"]) in alive], references
                )
            }
            handled.update(linked)
            if raws:
                await self._left_page(raws, rights, links)
        wanted = [i for i in right_ids if i not in handled]
        if wanted:
            raws = await self.right.get_many(wanted)
            if len(raws) < len(wanted):
                missing = set(wanted) - {str(raw["id"]) for raw in raws}
                log.info("sync.replay_not_found", pair=self.pair, system="hubspot", ids=sorted(missing))
            if raws:
                await self._right_page(await self._right_snapshots(raws))

    # -- reading -----------------------------------------------------------------------------------------------

    async def _cursor(self, side: Side) -> datetime | None:
        return await self.cursors.read(_STORE_SIDE[side])

    def _seen(self, side: Side, moment: datetime | None) -> None:
        self.newest[side].seen(moment)

    def _left_snapshot(self, raw: Raw) -> Snapshot:
        flat = self.left.flatten(raw)
        updated = self.left.updated_at(raw)
        self._seen(Side.LEFT, updated)
        values = self.mapping.project_left(flat)
        return Snapshot(str(raw["id"]), values, flat, updated, self._left_skip(flat))

    def _left_skip(self, flat: Mapping[str, Any]) -> str | None:
        return left_skip(self.pair, flat, self.object_config.filters.connectwise)

    async def _right_snapshots(
        self, page: Sequence[Raw], *, echoes: set[str] | None = None
    ) -> list[tuple[Snapshot, Raw]]:
        """Snapshots of HubSpot objects; their references are read, except for objects unchanged since cwsync last
        saw them (same `STAMP`), whose references are the link's.

        With `echoes`: an object unchanged since its link was recorded — same stamp, the same mapped values, not
        excluded — is left out and its id added there instead (typically cwsync's own write read back by the next
        run's incremental read: after a first sync, every object it created). Planned, it would come out unchanged
        against its link, which stands for it; holding every one of them until the end of the ConnectWise read
        made a re-sync's memory and CPU grow with the data (#19)."""
        ids = [str(r["id"]) for r in page]
        unchanged: dict[str, Link] = {}
        if self.mapping.references or echoes is not None:
            links = await self.s.store.links_by_right(self.s.tenant, self.pair, ids)
            for raw in page:
                link = links.get(str(raw["id"]))
                stamp = self.right.stamp(raw)
                if link is not None and link.right_values.get(STAMP) == stamp and (stamp or echoes is None):
                    unchanged[link.right_id] = link
        refs = await self._right_references([i for i in ids if i not in unchanged])
        for right_id, link in unchanged.items():
            refs[right_id] = {name: link.right_values.get(name) for name in self.mapping.references}
        snaps = self._right_snapshots_of(page, refs)
        if echoes is None or not unchanged:
            return snaps
        out = []
        for snap, raw in snaps:
            link = unchanged.get(snap.id)
            if link is not None and self._echo(snap, link):
                echoes.add(snap.id)
                self.right_stamps.pop(snap.id, None)  # the link keeps it
            else:
                out.append((snap, raw))
        return out

    def _echo(self, snap: Snapshot, link: Link) -> bool:
        """A HubSpot object read as its link remembers it: nothing to plan unless its ConnectWise record changed."""
        if snap.skip_reason or link.right_values.get(GONE) or link.left_values.get(EXCLUDED):
            return False
        return all(snap.values.get(f.name) == link.right_values.get(f.name) for f in self.mapping.fields)

    def _right_snapshots_of(
        self, page: Sequence[Raw], refs: Mapping[str, Mapping[str, str | None]]
    ) -> list[tuple[Snapshot, Raw]]:
        out = []
        for raw in page:
            stamp = self.right.stamp(raw)
            if stamp is not None:
                self.right_stamps[str(raw["id"])] = stamp
            flat = shapes.flatten_hubspot(raw, refs.get(str(raw["id"]), {}))
            updated = self.right.updated_at(raw)
            self._seen(Side.RIGHT, updated)
            skip = _rule_skip(self.object_config.filters.other, flat)
            out.append((Snapshot(str(raw["id"]), self.mapping.project_right(flat), flat, updated, skip), raw))
        return out

    async def _right_references(self, ids: list[str]) -> dict[str, dict[str, str | None]]:
        """For each object, its references (company, contact) as ConnectWise ids (or `right:<id>`)."""
        out: dict[str, dict[str, str | None]] = {i: {} for i in ids}
        for name, parent_pair in self.mapping.references.items():
            associated = await self.right.associations(OBJECTS[parent_pair].right_object, ids)
            parent_ids = {p for targets in associated.values() for p in targets[:1]}
            links = await self.s.store.links_by_right(self.s.tenant, parent_pair, parent_ids)
            for object_id in ids:
                targets = associated.get(object_id) or []
                target = targets[0] if targets else None
                link = links.get(target) if target else None
                out[object_id][name] = link.left_id if link else (f"right:{target}" if target else None)
        return out

    # -- planning and applying pages ---------------------------------------------------------------------------

    async def _left_page(
        self, page: Sequence[Raw], rights: dict[str, tuple[Snapshot, Raw]], known: Mapping[str, Link] | None = None
    ) -> None:
        """Plan and apply a page of ConnectWise records; `known`: their links, when the caller has read them."""
        raws = {str(r["id"]): r for r in page}
        lefts = []
        for n, raw in enumerate(page, 1):
            lefts.append(self._left_snapshot(raw))
            if n % self.s.flow.yield_every == 0:
                await asyncio.sleep(0)  # let requests due meanwhile go (see `YIELD_EVERY`)
        if known is None:
            links = await self._links(Side.LEFT, [s.id for s in lefts])
        else:
            links = {s.id: known[s.id] for s in lefts if s.id in known}
        self._linked.update(links)
        if self._echoes:
            self._echoes.difference_update(link.right_id for link in links.values())
        if self.right_complete:
            for k, link in links.items():
                if link.right_id in self._right_seen or link.right_values.get(GONE):
                    self._unconfirmed.discard(k)
                else:
                    self._unconfirmed.add(k)
        gone = [s.id for s in lefts if s.id in links and s.skip_reason == DELETED_IN_CW]
        if gone:
            await self._deleted_left(gone, links, DELETED_IN_CW)
            for left_id in gone:
                rights.pop(links[left_id].right_id, None)
            lefts = [s for s in lefts if s.id not in gone]
            links = {k: v for k, v in links.items() if k not in gone}
        excluded = [s for s in lefts if s.id in links and s.skip_reason]
        if excluded:
            await self._excluded(excluded, links, rights)
            if self.object_config.on_filtered == "archive":
                lefts = [s for s in lefts if s not in excluded]
                links = {k: v for k, v in links.items() if k not in {s.id for s in excluded}}
        linked_rights = [rights.pop(link.right_id)[0] for link in links.values() if link.right_id in rights]
        unlinked = [s for s in lefts if s.id not in links and not s.skip_reason]
        matches = await self._matches(Side.LEFT, unlinked, rights)
        items = await plan_pair_cooperatively(
            PairInput(
                mapping=self.mapping,
                policy=self.policy,
                left=lefts,
                right=linked_rights,
                links_by_left={k: _base(v) for k, v in links.items()},
                links_by_right={v.right_id: _base(v) for v in links.values()},
                right_matches=matches,
                parents=await self._parents(lefts),
            )
        )
        for key_snap in matches.values():
            rights.pop(key_snap.id, None)
        self._hold_waiting(items, lefts)
        await self._apply(items, raws)

    async def _excluded(
        self, lefts: Sequence[Snapshot], links: Mapping[str, Link], rights: dict[str, tuple[Snapshot, Raw]]
    ) -> None:
        """Linked ConnectWise records that filters (or the standard ones: inactive, no company) now exclude: their
        counterparts are archived (`on_filtered: archive`), or kept and no longer synced (`keep`, the default) —
        the link remembers why, so a HubSpot change to the counterpart is left alone too (`core.plan.EXCLUDED`)."""
        if self.object_config.on_filtered == "archive":
            by_reason: dict[str, list[str]] = {}
            for snap in lefts:
                by_reason.setdefault(str(snap.skip_reason), []).append(snap.id)
            for reason, ids in by_reason.items():
                await self._deleted_left(ids, links, reason, archive=True)
                for left_id in ids:
                    rights.pop(links[left_id].right_id, None)
            return
        marked = []
        for snap in lefts:
            link = links[snap.id]
            if link.left_values.get(EXCLUDED) != snap.skip_reason:
                values = {**link.left_values, EXCLUDED: snap.skip_reason}
                marked.append(replace(link, left_values=values, synced_at=self.s.now()))
        if marked and not self.dry_run:
            await self.recorder.commit(links=marked)

    def _hold_waiting(self, items: Sequence[PlanItem], lefts: Sequence[Snapshot]) -> None:
        """ConnectWise records that wait for a parent whose pair failed records in this run are read again by the
        next run (the parent is likely among the failures): the left cursor stays at or before them."""
        if not self.failing & set(self.mapping.references.values()):
            return
        waiting = {i.left_id for i in items if i.action is Action.SKIP and i.reason.startswith("waits for ")}
        for snap in lefts:
            if snap.id in waiting:
                self.newest[Side.LEFT].hold(snap.updated_at)

    async def _right_page(self, page: Sequence[tuple[Snapshot, Raw]]) -> None:
        snaps = [snap for snap, _ in page]
        links = await self._links(Side.RIGHT, [s.id for s in snaps])
        unlinked = [s for s in snaps if s.id not in links and not s.skip_reason]
        matches = await self._matches(Side.RIGHT, unlinked, {})
        snaps = self._from_connectwise(snaps, unlinked, matches)
        items = await plan_pair_cooperatively(
            PairInput(
                mapping=self.mapping,
                policy=self.policy,
                left=[],
                right=snaps,
                links_by_left={v.left_id: _base(v) for v in links.values()},
                links_by_right={k: _base(v) for k, v in links.items()},
                left_matches=matches,
                parents=await self._parents([]),
            )
        )
        await self._apply(items, {})

    def _from_connectwise(
        self, snaps: list[Snapshot], unlinked: Sequence[Snapshot], matches: Mapping[tuple[str, str], Snapshot]
    ) -> list[Snapshot]:
        """Unlinked HubSpot records that carry a ConnectWise id (cwsync wrote them from a ConnectWise record) and
        match no ConnectWise record are not created in ConnectWise: their record was deleted there and the link
        dropped (`on_delete: unlink`, or a store reset), and creating it again would undo the deletion (#13)."""
        id_field = next((f.right for f in self.mapping.fields if f.left == "id"), None)
        if id_field is None:
            return snaps
        orphans: dict[str, str] = {}
        for snap in unlinked:
            cw_id = snap.values.get(id_field)
            if cw_id not in (None, "") and not any(kv in matches for kv in match_values(self.mapping, snap.values)):
                orphans[snap.id] = (
                    f"carries ConnectWise id {cw_id} ({id_field}) but no ConnectWise record matches it: deleted in"
                    " ConnectWise, not created there again"
                )
        if not orphans:
            return snaps
        return [replace(s, skip_reason=orphans[s.id]) if s.id in orphans else s for s in snaps]

    async def _reconcile(self, rights: dict[str, tuple[Snapshot, Raw]]) -> None:
        """After reading every ConnectWise record: linked ones that were not there were deleted (no callback seen).

        Each is first looked up by id (one read per 100): one ConnectWise still has — created or restored while the
        read went by, or outside what it returned — is kept as it is, with a run item saying so, as the engine's
        reconciliation does. A guard stops the run instead when the confirmed deletions would archive more than
        `mass_delete_share` of the links.
        """
        known = None if self._released else len(self._linked)  # every link one of the records read: no scan
        linked = self._linked
        unread, total = await unread_links(self._store_links, lambda left_id, _: left_id not in linked, known=known)
        if not unread:
            return
        missing = {link.left_id: link for link in unread}
        gone = list(missing)
        present = await present_ids(self.left, gone)
        if present:
            await self._kept([missing[i] for i in sorted(present) if i in missing])
            gone = [left_id for left_id in gone if left_id not in present]
            if not gone:
                return
        check_mass_delete(
            self.pair, len(gone), total, self.s.mass_delete_share, setting="syncs.hubspot.mass_delete_share"
        )
        missing = {i: missing[i] for i in gone if i in missing}
        await self._deleted_left(gone, missing, "not found in ConnectWise (reconciliation)")
        for link in missing.values():
            rights.pop(link.right_id, None)
            self._echoes.discard(link.right_id)

    async def _kept(self, links: Sequence[Link]) -> None:
        """Linked records a full read did not return but ConnectWise still has: left as they are, skipped."""
        why = OUT_OF_SCOPE.format(target="HubSpot", deleted="archived")
        items = [self._link_item("skip", link, why) for link in links]
        if not self.dry_run:
            await self.recorder.commit(rows=items)

    def _link_item(self, action: str, link: Link, reason: str, error: Exception | None = None) -> ItemRow:
        """The run item of a decision about a link that writes no record of this run's reads (counted); with
        `error`, its write failed."""
        self.report.counts.add(action)  # type: ignore[arg-type]
        return self.recorder.row(
            action,  # type: ignore[arg-type]
            status="planned" if self.dry_run else "applied",
            left_id=link.left_id,
            right_id=link.right_id,
            reason=reason if error is None else f"{reason}; failed: {error}",
            diff={},
            source_values=link.left_values,
            error=error,
        )

    async def _reconcile_right(self) -> None:
        """After reading every HubSpot object: links whose counterpart was not among them were deleted (archived)
        in HubSpot; the pair's `on_hubspot_delete` applies (behind the mass-delete guard), so no dangling link is
        left for a later update to fail on."""
        seen, linked, unconfirmed = self._right_seen, self._linked, self._unconfirmed
        known = None if self._released else len(linked) - len(unconfirmed)  # every counterpart read or made: no scan
        unread, total = await unread_links(
            self._store_links,
            lambda left_id, right_id: right_id not in seen and (left_id not in linked or left_id in unconfirmed),
            known=known,
        )
        links = [link for link in unread if not link.right_values.get(GONE)]
        if not links:
            return
        setting = "syncs.hubspot.mass_delete_share"
        check_mass_delete(
            self.pair, len(links), total, self.s.mass_delete_share, setting=setting, what="unlinked", side="HubSpot"
        )
        kept, dropped, items = [], [], []
        for link in links:
            marked, why = self.gone_link(link, "deleted in HubSpot (not found by a full read)")
            items.append(self._link_item("skip", link, why))
            if marked is None:
                dropped.append(link.left_id)
            else:
                kept.append(marked)
        await self.recorder.commit(links=kept, rows=items, dropped=dropped)

    def gone_link(self, link: Link, reason: str) -> tuple[Link | None, str]:
        """A link whose HubSpot counterpart is deleted, under the pair's policy: marked (`ignore`: the record is left
        alone until the counterpart is restored) or None (`recreate`: dropped, so the record is created again)."""
        if self.object_config.on_hubspot_delete == "recreate":
            return None, f"{reason}: link dropped, created again when it next syncs (on_hubspot_delete: recreate)"
        marked = replace(link, right_values={**link.right_values, GONE: reason}, synced_at=self.s.now())
        return marked, f"{reason}: no longer synced until it is restored there (on_hubspot_delete: ignore)"

    async def _deleted_left(
        self, left_ids: list[str], links: Mapping[str, Link], reason: str, *, archive: bool | None = None
    ) -> None:
        """A ConnectWise record is gone (or soft-deleted): apply the pair's `on_delete` to its counterpart (CW-6) —
        `archive` it (the link dropped), `flag` it (`cw_deleted` set in HubSpot, the link kept and marked), `unlink`
        (the link dropped, the counterpart left) or `ignore` (the link kept and marked): a marked link is no longer
        synced either way, so no dangling link is left. `archive` given: that instead (a record that left the
        filters, `on_filtered`)."""
        policy = "archive" if archive else self.object_config.on_delete if archive is None else "ignore"
        # a link already marked for this reason was handled by an earlier run: not flagged nor counted again
        linked = [links[i] for i in left_ids if i in links and links[i].left_values.get(EXCLUDED) != reason]
        kind = self.right.object_type
        what = {
            "archive": (f"HubSpot {kind} archived", "delete"),
            "flag": (f"HubSpot {kind} flagged ({FLAG} = true), no longer synced", "update"),
            "unlink": (f"unlinked, the HubSpot {kind} left as it is (on_delete: unlink)", "skip"),
            "ignore": ("on_delete is ignore: its counterpart is kept and no longer synced", "skip"),
        }
        why, action = what[policy]
        if self.dry_run or not linked:
            for link in linked:
                self._link_item(action, link, f"{reason}: {why}")
            return
        failed: dict[str, Exception] = {}
        if policy in ("archive", "flag"):  # through the pair's target: a record HubSpot fails fails alone
            writes = [
                TargetWrite("delete", link.left_id, link.right_id, {})
                if policy == "archive"
                else TargetWrite("update", link.left_id, link.right_id, {FLAG: "true"})
                for link in linked
            ]
            for outcome in await self.target.apply(writes):
                if outcome.error is not None and not isinstance(outcome.error, NotFoundError):  # gone there: done
                    failed[outcome.write.left_id] = outcome.error
        if failed:  # its link stays as it was, and the next run reads it again
            self.failing.add(self.pair)
            self.newest[Side.LEFT].hold(self.left_since or _EARLIEST)
        done = [link for link in linked if link.left_id not in failed]
        items = [self._link_item(action, link, f"{reason}: {why}") for link in done]
        items += [
            self._link_item("fail", link, f"{reason}: {why}", failed[link.left_id])
            for link in linked
            if link.left_id in failed
        ]
        dropped = [link.left_id for link in done] if policy in ("archive", "unlink") else []
        marked = [
            replace(link, left_values={**link.left_values, EXCLUDED: reason}, synced_at=self.s.now())
            for link in done
            if policy in ("flag", "ignore") and link.left_values.get(EXCLUDED) != reason
        ]
        await self.recorder.commit(links=marked, rows=items, dropped=dropped)
        if dropped:
            self._linked.difference_update(dropped)
            self._unconfirmed.difference_update(dropped)

    async def _links(self, side: Side, ids: list[str]) -> dict[str, Link]:
        if side is Side.LEFT:
            return await self.s.store.links_by_left(self.s.tenant, self.pair, ids)
        return await self.s.store.links_by_right(self.s.tenant, self.pair, ids)

    async def _matches(
        self, side: Side, unlinked: Sequence[Snapshot], pending: Mapping[str, tuple[Snapshot, Raw]]
    ) -> dict[tuple[str, str], Snapshot]:
        """Counterparts of unlinked records found by match key: among this run's changes, else by lookup."""
        out: dict[tuple[str, str], Snapshot] = {}
        wanted: dict[str, set[str]] = {}
        spelled: dict[tuple[str, str], set[str]] = {}
        """Each compared (lower-cased) value as the records spell it: a lookup by a unique property is exact."""
        for snap in unlinked:
            for key, value in match_values(self.mapping, snap.values):
                wanted.setdefault(key, set()).add(value)
                spelled.setdefault((key, value), set()).add(str(snap.values.get(key) or value))
        if not wanted:
            return out
        index = {kv: snap for snap, _ in pending.values() for kv in match_values(self.mapping, snap.values)}
        for key, values in wanted.items():
            missing = []
            for value in sorted(values):
                if (key, value) in index:
                    out[(key, value)] = index[(key, value)]
                else:
                    missing.append(value)
            if side.other is Side.RIGHT and self.right_complete:
                continue  # a full run read every HubSpot object already: a lookup cannot find more
            asked = sorted({spelling for value in missing for spelling in spelled[(key, value)]})
            found = await self._lookup(side.other, key, asked)
            out.update({(key, value): snap for value, snap in found.items()})
        return out

    async def _lookup(self, side: Side, key: str, values: list[str]) -> dict[str, Snapshot]:
        if side is Side.RIGHT:
            raws = await self.right.find(key, values)
            pairs = await self._right_snapshots(list(raws.values()))
            by_id = {snap.id: snap for snap, _ in pairs}
            return {value: by_id[str(raw["id"])] for value, raw in raws.items()}
        raws = await self.left.find(key, values)
        found = {value: self._left_snapshot(raw) for value, raw in raws.items()}
        return {value: snap for value, snap in found.items() if snap.skip_reason != DELETED_IN_CW}

    async def _parents(self, lefts: Sequence[Snapshot]) -> dict[str, dict[str, str]]:
        """For each reference field: ConnectWise parent id → HubSpot parent id, for the parents named here.

        The parent pairs ran before this one: a parent found linked is remembered for the rest of this pair's run
        (a page's contacts name the same companies again, and their associations ask once more); one not linked is
        asked for again (another run may link it meanwhile)."""
        out: dict[str, dict[str, str]] = {}
        for name, parent_pair in self.mapping.references.items():
            ids = {str(s.values.get(name)) for s in lefts if s.values.get(name)}
            known = self._parent_ids.setdefault(parent_pair, {})
            if unknown := ids - known.keys():
                known.update(await self.s.store.right_ids(self.s.tenant, parent_pair, unknown))
            planned = {i: f"planned:{i}" for i in ids & self.s.planned_creates.get(parent_pair, set())}
            matched = self.s.planned_links.get(parent_pair, {})
            planned |= {i: matched[i] for i in ids if i in matched}
            out[name] = planned | {i: known[i] for i in ids if i in known}
        return out

    async def _apply(self, items: list[PlanItem], raws: Mapping[str, Raw]) -> None:
        items = await self._name_parents(items)
        self.report.keep(items, everything=self.dry_run)
        if self.dry_run:
            created = self.s.planned_creates.setdefault(self.pair, set())
            created.update(i.left_id for i in items if i.action is Action.CREATE and i.left_id)
            matched = self.s.planned_links.setdefault(self.pair, {})
            matched.update(
                {i.left_id: i.right_id for i in items if i.action is Action.LINK and i.left_id and i.right_id}
            )
            for item in items:
                self.report.counts.add(item.action.value)
                if item.conflicts:
                    self.report.counts.conflicts += 1
            return
        self._held.extend(items)
        updated_at = self.left.updated_at
        for item in items:
            key = item.left_id
            raw = raws.get(key) if key is not None and item.writes else None
            if raw is not None and key is not None:
                self._held_moments[key] = updated_at(raw)
                if _write(item, Side.LEFT, Action.UPDATE):
                    self._held_raws[key] = raw
        ready = self._ready()
        if ready:
            await self._launch(ready)

    async def _name_parents(self, items: list[PlanItem]) -> list[PlanItem]:
        """A record that waits for a parent this run skipped or failed says so, with the parent's reason (it cannot
        sync until the parent does, so "waits for" would mislead); this pair's own skips are noted for the pairs after
        it. A parent this run did not read (an incremental run) is named with the reason of its last run item."""
        skipped = self.s.skipped.setdefault(self.pair, {})
        await self._recall_parents(items)
        out = []
        for item in items:
            if item.action is Action.SKIP:
                waits = _WAITS.match(item.reason)
                why = self.s.skipped.get(waits.group(1), {}).get(waits.group(2)) if waits else None
                if waits and why is not None:
                    parent = f"{_SINGULAR.get(waits.group(1), waits.group(1))} {waits.group(2)}"
                    reason = f"its {parent} does not sync ({why}): this one cannot sync until it does"
                    item = replace(item, reason=reason)
                if item.left_id is not None and item.source is Side.LEFT:
                    skipped[item.left_id] = item.reason
            out.append(item)
        return out

    async def _recall_parents(self, items: Sequence[PlanItem]) -> None:
        """The parents waited for that this run has not seen: their last run item's reason when it was a skip or a
        failure (one store read per such parent, once per run)."""
        wanted = {
            (waits.group(1), waits.group(2))
            for item in items
            if item.action is Action.SKIP and (waits := _WAITS.match(item.reason))
        }
        recalled = self.s.recalled
        for parent_pair, parent_id in wanted - recalled:
            recalled.add((parent_pair, parent_id))
            if parent_id in self.s.skipped.get(parent_pair, {}):
                continue
            last = await self.s.store.items_for_record(self.s.tenant, parent_pair, left_id=parent_id, limit=1)
            if last and (last[0].action == "skip" or last[0].status == "failed"):
                self.s.skipped.setdefault(parent_pair, {})[parent_id] = _as_failure(last[0].action, last[0].reason)

    def _ready(self, *, final: bool = False) -> list[PlanItem]:
        """The held items to apply now: all of them at the end (or past the flow's `hold`), else the longest prefix
        holding a whole number of HubSpot create batches — a page's remainder waits to fill the next page's
        batches instead of going out as a partial batch on every page."""
        if final or len(self._held) >= self.s.flow.hold:
            cut = len(self._held)
        else:
            creates = [n for n, item in enumerate(self._held) if _write(item, Side.RIGHT, Action.CREATE)]
            full = len(creates) // self.s.flow.batch * self.s.flow.batch
            cut = creates[full - 1] + 1 if full else 0
        ready, self._held = self._held[:cut], self._held[cut:]
        return ready

    async def _launch(self, items: list[PlanItem]) -> None:
        """Apply `items` in the background: the next page is read and planned while these writes are in flight
        (at most the flow's `applying` batches at once, so memory stays bounded; each batch holds distinct
        records)."""
        await self.applying.room()
        keys = {str(i.left_id) for i in items if i.left_id}
        raws = {k: self._held_raws.pop(k) for k in keys if k in self._held_raws}
        moments = {k: self._held_moments.pop(k) for k in keys if k in self._held_moments}
        self.applying.start(self._apply_now(items, raws, moments))

    async def _apply_now(
        self, items: list[PlanItem], raws: Mapping[str, Raw], moments: Mapping[str, datetime | None]
    ) -> None:
        results = await _Applier(self, raws).apply(items)
        self._hold_failed(results, moments)
        await self._record(results)

    def _hold_failed(self, results: Sequence[_Result], moments: Mapping[str, datetime | None]) -> None:
        """Records whose writes failed are read again by the next run, even an incremental one: the cursor of the
        side they came from does not move past them (a HubSpot-side failure keeps the HubSpot cursor where it was).
        """
        for result in results:
            if result.error is None:
                continue
            self.failing.add(self.pair)
            if result.left_id and result.item.source is Side.LEFT:
                self.s.skipped.setdefault(self.pair, {})[str(result.left_id)] = _as_failure("fail", result.error)
            if result.item.source is Side.RIGHT:
                self._keep_right_cursor = True
                continue
            moment = moments.get(str(result.left_id))
            self.newest[Side.LEFT].hold(moment or self.left_since or _EARLIEST)

    async def _flush(self) -> None:
        """Apply everything held back and wait for it."""
        ready = self._ready(final=True)
        if ready and not self.dry_run:
            await self._launch(ready)
        await self.applying.settle()

    async def _record(self, results: list[_Result]) -> None:
        links, run_items, dropped = [], [], []
        for n, result in enumerate(results, 1):
            if n % self.s.flow.yield_every == 0:
                await asyncio.sleep(0)
            if result.dropped and result.left_id:
                dropped.append(result.left_id)
            item = result.item
            action = "fail" if result.error else item.action.value
            self.report.counts.add(action)  # type: ignore[arg-type]
            if item.conflicts and not result.error:
                self.report.counts.conflicts += 1
            if result.link is not None:
                links.append(result.link)
            if action != "unchanged":
                run_items.append(self._run_item(result, action))
        self._released += await self.recorder.commit(links=links, rows=run_items, dropped=dropped)
        self._linked.update(link.left_id for link in links)
        self._linked.difference_update(dropped)
        if self.right_complete:
            created = {r.left_id for r in results if _created_right(r)}
            for link in links:
                if link.right_id in self._right_seen or link.left_id in created:
                    self._unconfirmed.discard(link.left_id)
                else:
                    self._unconfirmed.add(link.left_id)
            self._unconfirmed.difference_update(dropped)

    def _run_item(self, result: _Result, action: str) -> ItemRow:
        item = result.item
        to_left = any(w.side is Side.LEFT for w in item.writes)
        return self.recorder.row(
            action,  # type: ignore[arg-type]
            direction="right_to_left" if to_left else "left_to_right",
            status="failed" if result.error else ("applied" if item.writes or result.link else "planned"),
            left_id=result.left_id,
            right_id=result.right_id,
            reason=result.error or item.reason,
            diff=item.diff,
            source_values=item.source_values,
            remote_status=result.remote_status,
            remote_response=result.remote_response,
        )

    async def _advance_cursors(self) -> None:
        # Each side's watermark is the newest change seen (in that side's clock, capped by the run's start). HubSpot's
        # is better known: its `Date` when it answered this run's read, less the overlap (`HubSpotSide.read_mark`) —
        # everything changed before it was read, even when nothing was — so a run with nothing to do moves it on and
        # the next one reads (almost) nothing. Without a `Date`, an empty read counts as read up to the run's start.
        if self.right_read_done and self.right.read_mark is not None:
            self.newest[Side.RIGHT].newest = self.right.read_mark
        elif self.right_read_done and self.newest[Side.RIGHT].newest is None:
            self.newest[Side.RIGHT].newest = self.started
        right = None if self._keep_right_cursor else self.newest[Side.RIGHT].cursor  # a HubSpot-side failure: stays
        await self.cursors.save({"left": self.newest[Side.LEFT].cursor, "right": right})


def _as_failure(action: str, reason: str) -> str:
    """A parent's reason as its dependents quote it: a failure says so."""
    return f"failed: {reason}" if action == "fail" and not reason.startswith("failed") else reason


_WAITS = re.compile(r"^waits for (\w+) (\S+): it has no counterpart on the right yet")
"""The planner's reason for a record whose parent has no HubSpot counterpart (`core.plan._blocked`)."""
_SINGULAR = {"companies": "company", "contacts": "contact", "deals": "deal"}
_STORE_SIDE: dict[Side, Literal["left", "right"]] = {Side.LEFT: "left", Side.RIGHT: "right"}
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""A hold when the failed record's change time is unknown: the next run reads everything again."""


def _rule_skip(rules: Iterable[FilterRule], flat: Mapping[str, Any]) -> str | None:
    return failing_rule(rules, flat)


def _base(link: Link) -> LinkBase:
    return LinkBase(link.left_id, link.right_id, link.left_values, link.right_values)


@dataclass
class _Result:
    item: PlanItem
    left_id: str | None
    right_id: str | None
    link: Link | None = None
    error: str | None = None
    remote_status: int | None = None
    remote_response: Any = None
    right_stamp: str | None = None  # the HubSpot object's `STAMP` after cwsync wrote it
    dropped: bool = False  # the link goes (its HubSpot counterpart was deleted, `on_hubspot_delete: recreate`)


class _Applier:
    """Carries out a page's writes: HubSpot in batches, ConnectWise one by one under the client's cap."""

    def __init__(self, run: _PairRun, raws: Mapping[str, Raw]) -> None:
        self.run = run
        self.raws = raws
        self.mapping = run.mapping

    async def apply(self, items: list[PlanItem]) -> list[_Result]:
        results = [_Result(item, item.left_id, item.right_id) for item in items]
        await self._right_creates([r for r in results if _write(r.item, Side.RIGHT, Action.CREATE)])
        await self._right_updates([r for r in results if _write(r.item, Side.RIGHT, Action.UPDATE)])
        for result in results:
            if _write(result.item, Side.LEFT, Action.CREATE) or _write(result.item, Side.LEFT, Action.UPDATE):
                await self._left_write(result)
        for n, result in enumerate(results, 1):
            if result.item.action is not Action.SKIP and not result.error and result.left_id and result.right_id:
                result.link = self._link(result)
            if n % self.run.s.flow.yield_every == 0:
                await asyncio.sleep(0)
        return results

    def _link(self, result: _Result) -> Link:
        item = result.item
        left_values = dict(item.left_values or {})
        right_values = dict(item.right_values or {})
        wrote_right = any(w.side is Side.RIGHT for w in item.writes)
        stamp = result.right_stamp if wrote_right else self.run.right_stamps.get(str(result.right_id))
        if stamp is not None:
            right_values[STAMP] = stamp
        elif wrote_right:
            right_values.pop(STAMP, None)  # written, but HubSpot did not say when: the next read is a full one
        writers = {w.side for w in item.writes}
        return self.run.recorder.link(
            str(result.left_id),
            str(result.right_id),
            match_key=item.match_key,
            left_values=left_values,
            right_values=right_values,
            last_writer="both" if len(writers) == 2 else ("left" if Side.LEFT in writers else "right"),
        )

    async def _right_creates(self, results: list[_Result]) -> None:
        for result, outcome in zip(results, await self._send(results, Action.CREATE), strict=True):
            if outcome.error is not None:
                _fail(result, outcome.error)
            else:
                result.right_id = outcome.right_id
                result.right_stamp = (outcome.right_values or {}).get(STAMP)
        await self._associate([r for r in results if not r.error])

    async def _right_updates(self, results: list[_Result]) -> None:
        gone: list[_Result] = []
        for result, outcome in zip(results, await self._send(results, Action.UPDATE), strict=True):
            if isinstance(outcome.error, NotFoundError):
                gone.append(result)
            elif outcome.error is not None:
                _fail(result, outcome.error)
            else:
                result.right_stamp = (outcome.right_values or {}).get(STAMP)
        if gone:
            await self._gone(gone)
        await self._associate([r for r in results if not r.error and r.item.action is not Action.SKIP])

    async def _send(self, results: list[_Result], action: Action) -> list[WriteResult]:
        """The results' HubSpot writes of `action`, through the pair's target (`integrations.hubspot`: batches of
        100, a lost create's answer resolved by the match property, "not found" confirmed by a read)."""
        if not results:
            return []
        writes = []
        for result in results:
            write = _write(result.item, Side.RIGHT, action)
            assert write is not None
            values = shapes.hubspot_properties(self.mapping, write.values, create=action is Action.CREATE)
            kind: Literal["create", "update"] = "create" if action is Action.CREATE else "update"
            writes.append(TargetWrite(kind, str(result.left_id or ""), write.record_id, dict(values)))
        return await self.run.target.apply(writes)

    async def _gone(self, results: list[_Result]) -> None:
        """Updates HubSpot answered with "not found": the counterpart was deleted (archived) there since the link
        was made. The pair's `on_hubspot_delete` applies instead of a failure that every later run would repeat."""
        links = await self.run._links(Side.LEFT, [str(r.left_id) for r in results if r.left_id])
        for result in results:
            link = links.get(str(result.left_id))
            if link is None:
                _fail(result, "not found in HubSpot, and no longer linked")
                continue
            marked, why = self.run.gone_link(link, "deleted in HubSpot (an update found it gone)")
            result.item = replace(result.item, action=Action.SKIP, reason=why, writes=())
            result.link, result.dropped = marked, marked is None

    async def _associate(self, results: list[_Result]) -> None:
        """Associations for reference fields written to HubSpot (contact → company, deal → company/contact)."""
        for name, parent_pair in self.mapping.references.items():
            pairs = []
            parents = await self.run._parents([Snapshot("x", {name: _written(r, name)}) for r in results])
            known = parents.get(name, {})
            for result in results:
                value = _written(result, name)
                if value and value in known and result.right_id:
                    pairs.append((result.right_id, known[value]))
            if pairs:
                to_type = OBJECTS[parent_pair].right_object
                await self.run.s.hs.batch_associate_default(self.run.right.object_type, to_type, pairs)

    async def _left_write(self, result: _Result) -> None:
        item = result.item
        side = self.run.left
        try:
            if (write := _write(item, Side.LEFT, Action.CREATE)) is not None:
                context = self.run.s.deal_context
                body = shapes.connectwise_body(self.run.pair, self.mapping, write.values, str(item.right_id), context)
                created = await side.create(body)
                result.left_id = str(created["id"])
                await self._backfill(result, created)
            elif (write := _write(item, Side.LEFT, Action.UPDATE)) is not None:
                current = self.raws.get(str(item.left_id))
                if current is None and shapes.needs_current(write.values, self.mapping):
                    current = await side.get(str(item.left_id))
                ops = shapes.connectwise_patch(
                    self.run.pair, self.mapping, write.values, current, self.run.s.deal_context
                )
                if ops:
                    await side.patch(str(item.left_id), ops)
        except CwsyncApiError as exc:
            if isinstance(exc, FatalError):
                raise
            _fail(result, exc)
        except ValueError as exc:  # a value ConnectWise cannot take (no such custom field, ...): this record only
            _fail(result, exc)

    async def _backfill(self, result: _Result, created: Raw) -> None:
        """After creating in ConnectWise, send HubSpot the fields only ConnectWise knows (its ids)."""
        projection = self.mapping.project_left(self.run.left.flatten(created))
        right_values = dict(result.item.right_values or {})
        updates = {
            f.name: projection.get(f.name)
            for f in self.mapping.fields
            if f.direction.allows(Side.RIGHT.towards)
            and projection.get(f.name) != right_values.get(f.name)
            and f.name not in self.mapping.references
        }
        result.item = _with_values(result.item, projection, {**right_values, **updates})
        if updates and result.right_id:
            properties = shapes.hubspot_properties(self.mapping, updates)
            await self.run.s.hs.batch_update(
                self.run.right.object_type, [{"id": result.right_id, "properties": properties}]
            )


def _stamp_of(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a link keeps of an object HubSpot returned for a write: its last modification (`STAMP`), when given."""
    stamp = HubSpotSide.stamp(record)
    return {} if stamp is None else {STAMP: stamp}


def _with_values(item: PlanItem, left: Mapping[str, str | None], right: Mapping[str, str | None]) -> PlanItem:
    return replace(item, left_values=dict(left), right_values=dict(right))


def _created_right(result: _Result) -> bool:
    """This result's record was created in HubSpot by this run."""
    return result.error is None and _write(result.item, Side.RIGHT, Action.CREATE) is not None


def _write(item: PlanItem, side: Side, action: Action) -> Write | None:
    return next((w for w in item.writes if w.side is side and w.action is action), None)


def _written(result: _Result, name: str) -> str | None:
    for write in result.item.writes:
        if write.side is Side.RIGHT and name in write.values:
            return write.values[name]
    return None


def _fail(result: _Result, error: Any) -> None:
    result.error = getattr(error, "message", None) or str(error)
    result.remote_status = getattr(error, "status", None)
    result.remote_response = {"code": getattr(error, "code", None), "message": result.error}
