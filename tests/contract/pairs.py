"""Every pair the guarantees hold for, described once: its data, configuration, command, target and natural key.

A pair knows how to read its target as content keyed by what identifies a record across runs and sandboxes
(`snapshot`: ids differ between two sandboxes and between a killed and an uninterrupted run), how to count a
natural key's records (`keys`: a count above one that a clean run does not have is a duplicate), how far a run
got (`progress`, polled to kill a run mid-way), and how to run one sync in this process (`run_once`).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cwsync.engine.engine import Engine
from cwsync.integrations.catalog.engine import CatalogEngine
from cwsync.integrations.hubspot.run import HubSpotSync, RecordRef
from cwsync.integrations.hudu.matching import Decision
from cwsync.integrations.hudu.run import HuduSyncEngine
from cwsync.integrations.mirror import mirror_pairs, pair_name
from cwsync.store import Store
from cwsync.workflows.changes.devices import sync_of
from cwsync.workflows.changes.workflow import ChangeWorkflow
from tests.catalog.conftest import CATALOG_SECTION
from tests.changes.conftest import changes_config
from tests.contract.rig import Data, World
from tests.syncs_hudu.conftest import hudu_sync_section

DEVICE_TYPES = {
    "Managed Server": "Server",
    "Managed Workstation": "Workstation",
    "Laptop": "Laptop",
    "Firewall": "Firewall",
    "Switch": "Switch",
    "Wireless AP": "Access point",
    "Printer": "Printer",
    "Virtual Machine": "Server",
}


@dataclass(frozen=True)
class Pair:
    """One integration's sync: what it reads, the command that runs it, and how to read its target."""

    name: str
    data: Data
    syncs: dict[str, Any]
    command: tuple[str, ...]
    target: str
    """The emulator the pair writes to (`hubspot`, `hudu`; `connectwise` when the target is the store)."""
    slow: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Faults that make a run slow enough for a kill to land mid-way (system → fault settings)."""
    spread: bool = True
    """Kill at about a quarter, half and three quarters of the way; False: as soon as the target grew (a target
    written in a few large batches, where a quarter of the way is already most of it)."""

    def __str__(self) -> str:
        return self.name

    def prepare(self, w: World) -> None:
        """What a user does once before the first sync (nothing, for most pairs)."""

    def progress(self, w: World) -> int:
        """How many records the target holds (grows while a sync runs)."""
        raise NotImplementedError

    def snapshot(self, w: World) -> Any:
        """The target's content, keyed by natural keys (comparable across sandboxes)."""
        raise NotImplementedError

    def keys(self, w: World) -> Counter[Hashable]:
        """How many target records each natural key has."""
        raise NotImplementedError

    def timeless(self, w: World) -> Any:
        """The snapshot without the source's change times (to compare worlds whose changes were made at different
        moments)."""
        return self.snapshot(w)

    def failures(self, report: dict[str, Any]) -> int:
        """Failed records in a `--json` report of `command`."""
        return int(report["counts"]["failed"])

    plans: ClassVar[bool] = True
    """The pair has a dry run (`plan`); False: it only syncs (the device table)."""

    async def run_once(self, w: World) -> int:
        """One sync in this process (clients that retry without waiting); its failed records."""
        return (await self.run_counts(w))["failed"]

    async def run_counts(self, w: World, *, dry_run: bool = False) -> dict[str, int]:
        """One sync (or its plan) in this process: its counts (`Counts.as_dict()`: created, updated, ...)."""
        raise NotImplementedError

    replay_entity: ClassVar[str | None] = None
    """The ConnectWise entity whose records the pair's one-record path (replay, callback jobs) takes; None: it has
    none."""
    replay_change: ClassVar[tuple[str, str]] = ("", "")
    """The ConnectWise path and a text field of that entity the property changes before replaying the record."""

    async def replay(self, w: World, record_id: int) -> dict[str, int]:
        """The one-record path for one ConnectWise record: its counts."""
        raise NotImplementedError

    def replay_pick(self, w: World) -> int:
        """The record the one-record property changes and replays (one the first sync wrote)."""
        assert self.replay_entity is not None
        ids = sorted(w.cw_ids(self.replay_entity))
        return ids[len(ids) // 2]


@asynccontextmanager
async def _store(w: World) -> AsyncIterator[Store]:
    """The world's store, opened for one run and closed after it."""
    store = await Store.open(w.config.store)
    try:
        yield store
    finally:
        await store.close()


def duplicates(pair: Pair, w: World, reference: World) -> dict[Hashable, int]:
    """Natural keys with more records in `w` than in a clean run's `reference`, and how many more."""
    got, expected = pair.keys(w), pair.keys(reference)
    return {key: n - expected[key] for key, n in got.items() if n > expected[key]}


# -- HubSpot -------------------------------------------------------------------------------------------------------


class HubSpotPair(Pair):
    """ConnectWise companies, contacts and opportunities → HubSpot companies, contacts and deals (`cwsync sync`)."""

    TYPES = ("companies", "contacts", "deals")

    def progress(self, w: World) -> int:
        return sum(len(w.hubspot.state.records[t]) for t in self.TYPES)

    def _read(self, w: World) -> dict[str, Any]:
        async def read() -> dict[str, Any]:
            async with w.hubspot_client() as hs:
                companies = [
                    c async for p in hs.stream("companies", properties=["connectwise_company_id", "name"]) for c in p
                ]
                contacts = [c async for p in hs.stream("contacts", properties=["email", "firstname"]) for c in p]
                deals = [d async for p in hs.stream("deals", properties=["connectwise_opportunity_id"]) for d in p]
                assoc = await hs.batch_read_associations("contacts", "companies", [c["id"] for c in contacts])
            return {"companies": companies, "contacts": contacts, "deals": deals, "assoc": assoc}

        return asyncio.run(read())

    def snapshot(self, w: World) -> Any:
        got = self._read(w)
        company_key = {c["id"]: c["properties"]["connectwise_company_id"] for c in got["companies"]}
        assoc = got["assoc"]
        return {
            "companies": sorted(
                (c["properties"]["connectwise_company_id"], c["properties"]["name"]) for c in got["companies"]
            ),
            "contacts": sorted(
                (c["properties"]["email"], c["properties"]["firstname"], tuple(company_key[x] for x in assoc[c["id"]]))
                for c in got["contacts"]
            ),
            "deals": sorted(d["properties"]["connectwise_opportunity_id"] for d in got["deals"]),
        }

    def keys(self, w: World) -> Counter[Hashable]:
        state = w.hubspot.state
        return Counter(
            [("company", p.get("connectwise_company_id")) for p in state.records["companies"].values()]
            + [("contact", (p.get("email") or "").lower()) for p in state.records["contacts"].values()]
            + [("deal", p.get("connectwise_opportunity_id")) for p in state.records["deals"].values()]
        )

    async def run_counts(self, w: World, *, dry_run: bool = False) -> dict[str, int]:
        async with _store(w) as store, w.cw_client() as cw, w.hubspot_client() as hs:
            report = await HubSpotSync(w.config, store, cw, hs).run(dry_run=dry_run)
        return report.counts.as_dict()

    replay_entity = "contacts"
    replay_change = ("company/contacts", "firstName")  # the snapshot holds firstname

    async def replay(self, w: World, record_id: int) -> dict[str, int]:
        async with _store(w) as store, w.cw_client() as cw, w.hubspot_client() as hs:
            ref = RecordRef("connectwise", "contacts", str(record_id))
            report = await HubSpotSync(w.config, store, cw, hs).run(record=ref)
        return report.counts.as_dict()


# -- Hudu ----------------------------------------------------------------------------------------------------------


class HuduPair(Pair):
    """ConnectWise companies, sites, contacts, configurations, agreements → Hudu companies and assets."""

    def prepare(self, w: World) -> None:
        """`cwsync hudu match --auto`, then `--set ID=create` for every company still undecided."""
        code, out = w.cli("hudu", "match", "--auto", "--json")
        assert code == 0, out
        undecided = [s["connectwise_id"] for s in json.loads(out) if s["decision"] is None]
        assert undecided, "every company matched: nothing would be created in Hudu"
        sets = [arg for cw_id in undecided for arg in ("--set", f"{cw_id}=create")]
        code, out = w.cli("hudu", "match", *sets, "--json")
        assert code == 0, out

    def progress(self, w: World) -> int:
        state = w.hudu.state
        return len(state.companies) + len(state.assets)

    def snapshot(self, w: World) -> Any:
        state = w.hudu.state
        companies = {i: c["name"] for i, c in state.companies.items()}
        layouts = {i: layout["name"] for i, layout in state.layouts.items()}
        names = {i: (layouts[a["asset_layout_id"]], a["name"]) for i, a in state.assets.items()}

        def fields(asset: dict[str, Any]) -> tuple[Any, ...]:
            layout = state.layouts[asset["asset_layout_id"]]
            out = []
            for f in layout["fields"]:
                value = asset["values"].get(f["id"])
                if f["field_type"] == "AssetTag" and isinstance(value, list):
                    value = sorted(names.get(i, ("?", str(i))) for i in value)
                out.append((f["label"], json.dumps(value, sort_keys=True, default=str)))
            return tuple(out)

        return {
            "companies": sorted((c["name"], c["archived"]) for c in state.companies.values()),
            "assets": sorted(
                (companies[a["company_id"]], layouts[a["asset_layout_id"]], a["name"], a["archived"], fields(a))
                for a in state.assets.values()
            ),
        }

    def keys(self, w: World) -> Counter[Hashable]:
        state = w.hudu.state
        company = {i: c["name"].lower() for i, c in state.companies.items()}
        layout = {i: lay["name"] for i, lay in state.layouts.items()}
        return Counter(
            [("company", name) for name in company.values()]
            + [
                ("asset", company[a["company_id"]], layout[a["asset_layout_id"]], a["name"].lower())
                for a in state.assets.values()
                if not a["archived"]
            ]
        )

    async def run_counts(self, w: World, *, dry_run: bool = False) -> dict[str, int]:
        async with _store(w) as store, w.cw_client() as cw, w.hudu_client() as hudu:
            report = await HuduSyncEngine(w.config, store, cw, hudu).run(dry_run=dry_run)
        return report.counts.as_dict()

    replay_entity = "configurations"
    replay_change = ("company/configurations", "ipAddress")

    def replay_pick(self, w: World) -> int:
        with sqlite3.connect(w.db, timeout=5) as conn:
            row = conn.execute(
                "SELECT left_id FROM links WHERE pair = 'hudu:configurations' ORDER BY left_id LIMIT 1"
            ).fetchone()
        assert row is not None, "the first sync linked no configuration"
        return int(row[0])

    async def replay(self, w: World, record_id: int) -> dict[str, int]:
        async with _store(w) as store, w.cw_client() as cw, w.hudu_client() as hudu:
            engine = HuduSyncEngine(w.config, store, cw, hudu)
            report = await engine.run(records={"configurations": [str(record_id)]})
        return report.counts.as_dict()


async def decide_all(w: World) -> None:
    """The Hudu decisions of `HuduPair.prepare`, made through the engine (for a sandbox with faults on)."""
    store = await Store.open(w.config.store)
    try:
        async with w.cw_client() as cw, w.hudu_client() as hudu:
            engine = HuduSyncEngine(w.config, store, cw, hudu)
            await engine.auto_match()
            undecided = [s.cw_id for s in await engine.suggestions() if s.decision is None]
            await engine.decide([Decision(cw_id, "create") for cw_id in undecided])
    finally:
        await store.close()


# -- catalog -------------------------------------------------------------------------------------------------------


class CatalogPair(Pair):
    """The ConnectWise procurement catalog → HubSpot products (`cwsync catalog sync`)."""

    VOLATILE = ("hs_createdate", "hs_lastmodifieddate", "hs_object_id", "createdate", "hs_updated_by_user_id")

    def progress(self, w: World) -> int:
        return len(w.hubspot.state.records["products"])

    def snapshot(self, w: World) -> Any:
        products = list(w.hubspot.state.records["products"].values())
        archived = [props for props, _ in w.hubspot.state.archived["products"].values()]
        plain = [
            tuple(sorted((k, v) for k, v in props.items() if k not in self.VOLATILE and "date" not in k))
            for props in products
        ]
        return {"products": sorted(plain), "archived": sorted(p.get("connectwise_catalog_id", "") for p in archived)}

    def keys(self, w: World) -> Counter[Hashable]:
        return Counter(p.get("connectwise_catalog_id") for p in w.hubspot.state.records["products"].values())

    async def run_counts(self, w: World, *, dry_run: bool = False) -> dict[str, int]:
        async with _store(w) as store, w.cw_client() as cw, w.hubspot_client() as hs:
            report = await CatalogEngine(w.config, store, cw, hs).run(dry_run=dry_run)
        return report.counts.as_dict()

    replay_entity = "catalog_items"
    replay_change = ("procurement/catalog", "description")

    async def replay(self, w: World, record_id: int) -> dict[str, int]:
        async with _store(w) as store, w.cw_client() as cw, w.hubspot_client() as hs:
            report = await CatalogEngine(w.config, store, cw, hs).sync_products([record_id])
        return report.counts.as_dict()


# -- devices -------------------------------------------------------------------------------------------------------


class DevicePair(Pair):
    """ConnectWise configurations → the store's device table (`cwsync changes devices sync`)."""

    COLUMNS = ("cw_id", "name", "hostname", "device_type", "cw_type", "company", "serial", "status")

    def _rows(self, w: World, sql: str) -> list[tuple[Any, ...]]:
        if not w.db.exists():
            return []
        with sqlite3.connect(w.db, timeout=5) as conn:
            try:
                return conn.execute(sql).fetchall()
            except sqlite3.OperationalError:  # no table yet, or a writer holds it: nothing to count yet
                return []

    def progress(self, w: World) -> int:
        rows = self._rows(w, "SELECT count(*) FROM devices")
        return int(rows[0][0]) if rows else 0

    def snapshot(self, w: World) -> Any:
        columns = [c[1] for c in self._rows(w, "PRAGMA table_info(devices)")]
        wanted = [c for c in columns if c not in ("id", "tenant", "updated_at", "created_at")]
        assert "cw_id" in wanted, columns
        return sorted(self._rows(w, f"SELECT {', '.join(wanted)} FROM devices"))

    def keys(self, w: World) -> Counter[Hashable]:
        return Counter(row[0] for row in self._rows(w, "SELECT cw_id FROM devices"))

    def failures(self, report: dict[str, Any]) -> int:
        return 0  # a device run either completes or fails as a whole (exit code 1)

    plans: ClassVar[bool] = False

    async def run_counts(self, w: World, *, dry_run: bool = False) -> dict[str, int]:
        assert not dry_run, "the device sync has no dry run"
        changes = w.config.syncs.changes
        assert changes is not None
        async with _store(w) as store, w.cw_client() as cw:
            workflow = await ChangeWorkflow.start(client=cw, store=store, config=changes, tenant=w.config.tenant)
            r = await sync_of(workflow.device_sync).run(full=True)
        return {"created": r.created, "updated": r.updated, "deleted": r.deleted, "failed": 0}

    replay_entity = "configurations"
    replay_change = ("company/configurations", "name")

    def timeless(self, w: World) -> Any:
        columns = [c[1] for c in self._rows(w, "PRAGMA table_info(devices)")]
        wanted = [c for c in columns if c not in ("id", "tenant", "updated_at", "created_at", "cw_last_updated")]
        return sorted(self._rows(w, f"SELECT {', '.join(wanted)} FROM devices"))

    def replay_pick(self, w: World) -> int:
        rows = self._rows(w, "SELECT cw_id FROM devices ORDER BY cw_id")
        assert rows, "the first sync imported no device"
        return int(rows[len(rows) // 2][0])

    async def replay(self, w: World, record_id: int) -> dict[str, int]:
        changes = w.config.syncs.changes
        assert changes is not None
        async with _store(w) as store, w.cw_client() as cw:
            workflow = await ChangeWorkflow.start(client=cw, store=store, config=changes, tenant=w.config.tenant)
            r = await sync_of(workflow.device_sync).run(records=[record_id])
        return {"created": r.created, "updated": r.updated, "deleted": r.deleted, "failed": 0}


# -- the SQL mirror ------------------------------------------------------------------------------------------------


class MirrorPair(DevicePair):
    """ConnectWise companies, contacts and tickets → the store's `cw_*` tables (`cwsync mirror sync`)."""

    TABLES = ("cw_companies", "cw_contacts", "cw_tickets")

    def progress(self, w: World) -> int:
        counts = [self._rows(w, f"SELECT count(*) FROM {table}") for table in self.TABLES]
        return sum(int(rows[0][0]) for rows in counts if rows)

    def snapshot(self, w: World, *, skip: tuple[str, ...] = ()) -> Any:
        out = {}
        for table in self.TABLES:
            columns = [c[1] for c in self._rows(w, f"PRAGMA table_info({table})")]
            left_out = ("tenant", "synced_at", "raw", *skip)  # raw holds the sandbox URL
            wanted = [c for c in columns if c not in left_out]
            out[table] = sorted(self._rows(w, f"SELECT {', '.join(wanted)} FROM {table}"))
        return out

    def timeless(self, w: World) -> Any:
        return self.snapshot(w, skip=("last_updated",))

    def keys(self, w: World) -> Counter[Hashable]:
        return Counter((table, row[0]) for table in self.TABLES for row in self._rows(w, f"SELECT id FROM {table}"))

    def failures(self, report: dict[str, Any]) -> int:
        return int(report["counts"]["failed"])

    plans: ClassVar[bool] = True

    async def run_counts(self, w: World, *, dry_run: bool = False) -> dict[str, int]:
        mirror = w.config.syncs.mirror
        assert mirror is not None
        async with _store(w) as store, w.cw_client() as cw:
            pairs = mirror_pairs(mirror, cw, store, w.config.tenant)
            report = await Engine(store, w.config.tenant).run(pairs, dry_run=dry_run)
        return report.counts.as_dict()

    replay_entity = "tickets"
    replay_change = ("service/tickets", "summary")

    def replay_pick(self, w: World) -> int:
        return Pair.replay_pick(self, w)

    async def replay(self, w: World, record_id: int) -> dict[str, int]:
        mirror = w.config.syncs.mirror
        assert mirror is not None
        async with _store(w) as store, w.cw_client() as cw:
            pairs = mirror_pairs(mirror, cw, store, w.config.tenant)
            records = {pair_name("tickets"): [str(record_id)]}
            report = await Engine(store, w.config.tenant).run(pairs, records=records)
        return report.counts.as_dict()


HUBSPOT = HubSpotPair(
    "hubspot",
    Data(records=1500, seed=11),
    {"hubspot": {}},
    ("sync", "--json"),
    "hubspot",
    slow={"connectwise": {"latency_ms": 40}},
    spread=False,
)
HUDU = HuduPair(
    "hudu",
    Data(records=300, seed=3),
    {"hudu": hudu_sync_section()},
    ("hudu", "sync", "--json"),
    "hudu",
    slow={"hudu": {"latency_ms": 15}},
)
CATALOG = CatalogPair(
    "catalog",
    Data(records=300, seed=3, counts={"catalog_items": 1200}),
    {"catalog": CATALOG_SECTION},
    ("catalog", "sync", "--json"),
    "hubspot",
    slow={"hubspot": {"latency_ms": 200}},
)
DEVICES = DevicePair(
    "devices",
    Data(records=600, seed=7, counts={"configurations": 4000}),
    {"changes": changes_config(devices={"types": DEVICE_TYPES})},
    ("changes", "devices", "sync", "--json"),
    "connectwise",
    slow={"connectwise": {"latency_ms": 150}},
)
MIRROR = MirrorPair(
    "mirror",
    Data(records=300, seed=5, counts={"tickets": 1500}),
    {"mirror": {"objects": ["companies", "contacts", "tickets"], "batch": 100}},
    ("mirror", "sync", "--json"),
    "connectwise",
    slow={"connectwise": {"latency_ms": 150}},
)
PAIRS = (HUBSPOT, HUDU, CATALOG, DEVICES, MIRROR)
