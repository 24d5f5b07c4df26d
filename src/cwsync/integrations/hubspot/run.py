"""Running the HubSpot integration: its pairs (companies, contacts, deals) on the engine's two-way loop.

`HubSpotSync` builds one `engine.twoway.TwoWayPair` per enabled object — the ConnectWise and HubSpot sides
(`sides.py`), the HubSpot target of `integrations/hubspot.py`, the mapping, the filters and delete policies of the
object's configuration — and runs them, parents first, through `Engine.run`, preparing HubSpot (custom
properties, dropdown options, owners, the opportunity defaults) while the first ConnectWise page is read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from cwsync.config import problems_at
from cwsync.config.model import Config, FilterRule, ObjectSync
from cwsync.config.vocabulary import ConflictPolicy, Side
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.filters import failing_rule
from cwsync.core.mapping import ObjectMapping, build_mapping
from cwsync.core.plan import PlanItem
from cwsync.core.selection import select_types
from cwsync.engine.engine import Engine
from cwsync.engine.guard import MassDeleteError
from cwsync.engine.loop import Progress
from cwsync.engine.pair import Flow
from cwsync.engine.reading import ReadAhead
from cwsync.engine.record import projection_hash
from cwsync.engine.report import PairReport, RunReport
from cwsync.engine.runs import close_interrupted as close_interrupted_runs
from cwsync.engine.twoway import STAMP, TwoWayPair
from cwsync.integrations.hubspot import shapes
from cwsync.integrations.hubspot.defaults import OBJECTS, ORDER
from cwsync.integrations.hubspot.properties import (
    FLAG,
    CompanyTypeOptions,
    Options,
    create_properties,
    missing_properties,
    property_group,
    with_options,
)
from cwsync.integrations.hubspot.schema import check_schemas, property_definitions
from cwsync.integrations.hubspot.sides import ConnectWiseSide, HubSpotSide, opportunity_defaults, right_properties
from cwsync.integrations.hubspot.target import HubSpotTarget
from cwsync.store import Store

__all__ = [
    "STAMP",
    "HubSpotSync",
    "MassDeleteError",
    "PairReport",
    "ReadAhead",
    "RecordRef",
    "RunReport",
    "SyncReport",
    "left_skip",
    "mappings",
]

SyncReport = RunReport[PlanItem]
"""What a HubSpot run reports: per pair its counts and planned items (`Engine.run`)."""

log = structlog.get_logger("cwsync.sync")
DELETED_IN_CW = "deleted in ConnectWise"

FLOW = Flow(batch=100, hold=2_000, applying=2, page=200)
"""The HubSpot runs' flow (`engine.pair.Flow`): batches of 100 inputs (HubSpot's batch size), two applying at once."""
_SINGULAR = {"companies": "company", "contacts": "contact", "deals": "deal"}


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
    ) -> SyncReport:
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
        names = select_types(objects, list(self.mappings), what="HubSpot object") or list(self.mappings)
        pairs = [self._pair(name, dry_run=dry_run) for name in names]
        preparing = not self.prepared or dry_run

        async def prepare() -> None:
            if preparing:
                await self.prepare(dry_run=dry_run, close_interrupted=False)
            elif "companies" in names and not refs and (full or trigger in ("schedule", "api")):
                await self.company_types.refresh(self.cw, self.hs, self.mappings)  # SB-1 under a long-lived serve
            for pair in pairs:  # properties a dry run found missing are not read (they do not exist yet)
                assert isinstance(pair.right, HubSpotSide)
                pair.right.missing = {n for obj, n in self.missing_properties if obj == pair.right.object_type}

        chosen: dict[str, tuple[list[str], list[str]]] = {name: ([], []) for name in names}
        for ref in refs:
            chosen[ref.pair][0 if ref.system == "connectwise" else 1].append(ref.record_id)
        report: SyncReport = await Engine(self.store, self.tenant, now=self.now).run(
            pairs,
            dry_run=dry_run,
            full=full,
            records={name: ids for name, (ids, _) in chosen.items()} if refs else None,
            right_records={name: ids for name, (_, ids) in chosen.items()} if refs else None,
            trigger=trigger,  # type: ignore[arg-type]
            prepare=prepare,
            progress=self.progress,
            totals=self.total,
            flow=self.flow,
        )
        return report

    def _pair(self, name: str, *, dry_run: bool) -> TwoWayPair:
        """One object's pair: its sides, its HubSpot target, its filters and its delete policies."""
        d, mapping = OBJECTS[name], self.mappings[name]
        catalog = self.config.syncs.catalog
        priority = tuple(catalog.company_type_priority) if catalog is not None else None
        left = ConnectWiseSide(
            self.cw, name, d.left_object, priority, shapes.reads_forecast(mapping), context=lambda: self.deal_context
        )
        if name == "companies" and not dry_run:  # SB-1: a record of a type new since the last import imports it
            left.on_types = lambda types: self.company_types.seen(self.cw, self.hs, self.mappings, types)
        match = mapping.by_name()[mapping.match[0]].right if mapping.match else None
        sync = self.config.syncs.hubspot
        config: ObjectSync = sync.objects[name] if sync else ObjectSync()  # type: ignore[index]
        filters, on_filtered = config.filters, config.on_filtered
        scope = (
            projection_hash({"filters": filters.model_dump(mode="json"), "on_filtered": on_filtered})
            if filters.connectwise or filters.other or on_filtered != "keep"
            else None
        )  # changing the filters makes the next run read both sides in full: linked records they now exclude are found
        return TwoWayPair(
            name=name,
            mapping=lambda: self.mappings[name],  # as prepared: the owner field's value map is filled in by `prepare`
            left=left,
            right=HubSpotSide(self.hs, name, d.right_object, right_properties(mapping)),
            target=HubSpotTarget(self.hs, d.right_object, match_property=match, kept=_stamp_of),
            policy=ConflictPolicy(config.conflict_policy or self.policy),
            left_skip=lambda flat: left_skip(name, flat, filters.connectwise),
            right_skip=lambda flat: _rule_skip(filters.other, flat),
            deleted_as=DELETED_IN_CW,
            on_delete=config.on_delete,
            flag={FLAG: "true"},
            on_filtered=on_filtered,
            on_right_delete=config.on_hubspot_delete,
            parent_labels={parent: _SINGULAR.get(parent, parent) for parent in mapping.references.values()},
            scope=scope,
            mass_delete_share=self.mass_delete_share,
            mass_delete_setting="syncs.hubspot.mass_delete_share",
            label="HubSpot",
            right_delete_setting="on_hubspot_delete",
        )

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


def _stamp_of(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """What a link keeps of an object HubSpot returned for a write: its last modification (`STAMP`), when given."""
    stamp = HubSpotSide.stamp(record)
    return {} if stamp is None else {STAMP: stamp}


def _rule_skip(rules: Iterable[FilterRule], flat: Mapping[str, Any]) -> str | None:
    return failing_rule(rules, flat)
