"""The registry of integrations the server runs: schedules, callback types and jobs come from it.

Each entry says which job pairs it owns, what it schedules, which ConnectWise callbacks it turns into jobs, and
how it runs a job (or a batch of record jobs). `Server` iterates `REGISTRY` and names no integration itself, so
adding an integration to `serve` is one entry here (see ARCHITECTURE.md, "Adding an integration").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import structlog

from cwsync.config.hudu import CALLBACK_DATA_TYPES, DataType
from cwsync.connectors.http import CwsyncApiError
from cwsync.connectors.hudu import HuduClient
from cwsync.engine.engine import Engine
from cwsync.integrations.catalog.engine import CatalogEngine
from cwsync.integrations.catalog.products import PRODUCTS_PAIR
from cwsync.integrations.hubspot.run import HubSpotSync, RecordRef, mappings
from cwsync.integrations.hudu.context import hudu_settings
from cwsync.integrations.hudu.run import HuduSyncEngine
from cwsync.integrations.mirror import mirror_pairs, pair_name
from cwsync.runtime.intake import CallbackEvent
from cwsync.runtime.jobs import JobSpec
from cwsync.runtime.scheduler import Schedule
from cwsync.store.records import JobRecord
from cwsync.workflows.changes.devices import sync_of
from cwsync.workflows.changes.workflow import ChangeWorkflow
from cwsync.workflows.quotes.document import QuoteRefused
from cwsync.workflows.quotes.workflow import QuoteWorkflow

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cwsync.config import Config
    from cwsync.server.app import Server

__all__ = [
    "CATALOG",
    "CHANGES",
    "DEVICES",
    "HUBSPOT",
    "HUDU",
    "MIRROR",
    "QUOTES",
    "REGISTRY",
    "Integration",
    "WebhookJob",
]

log = structlog.get_logger("cwsync.server")

CW_TYPES = {"company": "companies", "contact": "contacts", "opportunity": "deals"}

WebhookJob = Callable[[str], Awaitable[int | None]]
"""Queues an integration's job for the id of the object a HubSpot webhook event names (returns the job id)."""


class Integration(Protocol):
    """What the server needs of an integration."""

    name: str

    @property
    def section(self) -> tuple[str, ...]:
        """Where its settings live in the configuration file (what the console's Integrations screen edits)."""
        ...

    def configure(self, server: Server) -> Any:
        """Its state on `server`, built from the configuration when the server is built and at each `reload` (kept
        in `server.parts[name]`; None when it keeps none, or builds it on first use)."""
        ...

    def enabled(self, server: Server) -> bool:
        """Whether the configuration switches it on (with what it needs connected)."""
        ...

    async def prepare(self, server: Server) -> None:
        """What `Server.start` does before jobs run, when this process runs the tenant's jobs (a failure to reach a
        remote is logged, not raised: the server serves anyway)."""
        ...

    def owns(self, server: Server, pair: str) -> bool:
        """Whether a job of `pair` is this integration's."""
        ...

    def schedules(self, server: Server) -> list[Schedule]:
        """Its periodic runs (the backstop for lost callbacks)."""
        ...

    def callback_types(self, config: Config) -> list[str]:
        """The ConnectWise callback types it turns into jobs when `config` enables it (`cwsync callbacks install`)."""
        ...

    async def on_callback(self, server: Server, event: CallbackEvent) -> bool:
        """Queue what a ConnectWise callback asks of it; True when it queued something."""
        ...

    def on_webhook(self, server: Server, pair: str, event: Mapping[str, Any]) -> WebhookJob | None:
        """What a HubSpot webhook event about an object of `pair` (`companies`, `deals` ...) asks of it: a function
        that queues its job for the object's id, or None when it asks nothing (`/hooks/hubspot`)."""
        ...

    async def run_job(self, server: Server, job: JobRecord) -> None:
        """Run one job."""
        ...

    def routes(self, app: FastAPI, server: Server) -> None:
        """Add its REST routes (`server/<name>_api.py`) to `app`; `create_app` adds every entry's whether or not it
        is enabled (a route of one that is off answers 404 saying what to configure)."""
        ...

    async def run_records(self, server: Server, jobs: Sequence[JobRecord]) -> None:
        """Run a batch of record jobs of one pair as one run."""
        ...

    def replayable(self, server: Server, system: str, obj: str) -> bool:
        """Whether `POST /api/records/{system}/{obj}/{id}/replay` is this integration's."""
        ...

    async def replay(self, server: Server, system: str, obj: str, record_id: str) -> int | None:
        """Queue a sync of one record now (BY-2); returns the job id (None: coalesced into a waiting one)."""
        ...

    async def plan(self, server: Server) -> list[dict[str, Any]] | None:
        """A dry run (BY-1): every decision as `{pair, action, connectwise_id, other_id, reason, diff}`, writing
        nothing; None when it has no plan to show (the console's Plan screen)."""
        ...


def _trigger(job: JobRecord, default: str = "schedule") -> Any:
    trigger = str(job.payload.get("trigger", default))
    return trigger if trigger in ("cli", "schedule", "callback", "webhook", "api") else default


def _every(tenant: str, pair: str, incremental_s: float | None, full_s: float | None) -> list[Schedule]:
    out = []
    if incremental_s:
        out.append(Schedule(tenant=tenant, pair=pair, kind="incremental", every_seconds=incremental_s))
    if full_s:
        out.append(Schedule(tenant=tenant, pair=pair, kind="full", every_seconds=full_s))
    return out


class _Base:
    name: str
    section: tuple[str, ...]

    def configure(self, server: Server) -> Any:
        return None

    async def prepare(self, server: Server) -> None:
        return None

    def owns(self, server: Server, pair: str) -> bool:
        return pair == self.name

    def callback_types(self, config: Config) -> list[str]:
        return []

    def on_webhook(self, server: Server, pair: str, event: Mapping[str, Any]) -> WebhookJob | None:
        return None

    def schedules(self, server: Server) -> list[Schedule]:
        return []

    async def on_callback(self, server: Server, event: CallbackEvent) -> bool:
        return False

    async def run_records(self, server: Server, jobs: Sequence[JobRecord]) -> None:
        for job in jobs:
            await self.run_job(server, job)

    async def run_job(self, server: Server, job: JobRecord) -> None:
        raise NotImplementedError

    def replayable(self, server: Server, system: str, obj: str) -> bool:
        return False

    async def replay(self, server: Server, system: str, obj: str, record_id: str) -> int | None:
        return await server.runner.enqueue(_record_job(server, obj, record_id, "api"))

    async def plan(self, server: Server) -> list[dict[str, Any]] | None:
        return None

    def routes(self, app: FastAPI, server: Server) -> None:
        return None


def _plan_item(pair: str, action: Any, left: Any, right: Any, reason: str, diff: Any) -> dict[str, Any]:
    diff = {k: list(v) for k, v in (diff or {}).items()}
    return {
        "pair": pair,
        "action": str(getattr(action, "value", action)),
        "connectwise_id": left,
        "other_id": right,
        "reason": reason,
        "diff": diff,
    }


def _record_job(server: Server, pair: str, record: str, trigger: str) -> JobSpec:
    tenant = server.config.tenant
    return JobSpec(
        tenant=tenant,
        pair=pair,
        kind="record",
        record=record,
        queueing_key=f"record:{tenant}:{pair}:{record}",
        payload={"trigger": trigger},
    )


async def _debounced(server: Server, pair: str, queueing_key: str, **payload: Any) -> int | None:
    """Queue an incremental run of `pair` a few seconds out (`callback_debounce`), coalesced with one already waiting
    under `queueing_key`: a burst of callbacks becomes one run."""
    spec = JobSpec(
        tenant=server.config.tenant,
        pair=pair,
        kind="incremental",
        queueing_key=queueing_key,
        run_after=datetime.now(UTC) + timedelta(seconds=server.callback_debounce),
        payload={"trigger": "callback", **payload},
    )
    return await server.runner.enqueue(spec)


def catalog_enabled(server: Server) -> bool:
    """Whether the configuration has an enabled catalog sync (and a HubSpot client to sync into): what the catalog
    sync and quotes need."""
    catalog = server.config.syncs.catalog
    return catalog is not None and catalog.enabled and server.hs is not None


class HuduEntry(_Base):
    """ConnectWise → Hudu: a full re-sync every few hours and a quick incremental one between them; a callback
    re-syncs its data type (debounced, incremental)."""

    name = "hudu"
    section = ("syncs", "hudu")

    def routes(self, app: FastAPI, server: Server) -> None:
        from cwsync.server.hudu_api import add_hudu_routes

        add_hudu_routes(app, server)

    def callback_types(self, config: Config) -> list[str]:
        hudu = config.syncs.hudu
        if hudu is None or not hudu.enabled:
            return []
        return [t for t, kind in CALLBACK_DATA_TYPES.items() if kind not in hudu.skip]

    def enabled(self, server: Server) -> bool:
        hudu = server.config.syncs.hudu
        return hudu is not None and hudu.enabled

    def schedules(self, server: Server) -> list[Schedule]:
        hudu = server.config.syncs.hudu
        assert hudu is not None
        quick = hudu.schedule.incremental_minutes
        return _every(server.config.tenant, self.name, quick * 60 if quick else None, hudu.schedule.every_hours * 3600)

    async def on_callback(self, server: Server, event: CallbackEvent) -> bool:
        data_type = CALLBACK_DATA_TYPES.get(event.type)
        if data_type is None:
            return False
        await self.job(server, data_type)
        return True

    async def job(self, server: Server, data_type: DataType) -> int | None:
        """Queue a Hudu re-sync of one data type, a few seconds out (coalesced with one already waiting)."""
        return await _debounced(server, self.name, f"hudu:{server.config.tenant}:{data_type}", only=[data_type])

    def client(self, server: Server) -> HuduClient:
        """A Hudu client for one run: from `server.clients["hudu"]` when set (tests swap it), else from
        `connections.hudu`."""
        factory = server.clients.get(self.name)
        return factory() if factory is not None else HuduClient(hudu_settings(server.config))

    async def run(
        self,
        server: Server,
        only: list[DataType] | None,
        trigger: str,
        records: Mapping[DataType, Sequence[str]] | None = None,
        *,
        quick: bool = False,
    ) -> None:
        """One Hudu sync (of some data types, or of `records`: data type → ConnectWise ids), with a fresh Hudu
        client; `quick`: incremental, trusting the links (a callback's and the scheduled incremental re-sync)."""
        async with self.client(server) as client:
            engine = HuduSyncEngine(server.config, server.store, server.cw, client)
            known = trigger if trigger in ("schedule", "callback", "api") else "schedule"
            if records:
                await engine.run(records=records, trigger=known)  # type: ignore[arg-type]
                return
            # A quick re-sync trusts the links and reads what changed since the cursor; the full one reads everything
            # and also re-creates assets deleted in Hudu.
            await engine.run(only=only, trigger=known, verify=not quick, full=not quick)  # type: ignore[arg-type]

    def owns(self, server: Server, pair: str) -> bool:
        return pair == self.name or pair.startswith(f"{self.name}:")

    def replayable(self, server: Server, system: str, obj: str) -> bool:
        hudu = server.config.syncs.hudu
        kinds = [f"hudu:{kind}" for kind in (hudu.data_types() if hudu else []) if kind != "companies"]
        return system == "connectwise" and obj in kinds

    async def run_job(self, server: Server, job: JobRecord) -> None:
        if job.kind == "record":
            await self.run_records(server, [job])
            return
        trigger = str(job.payload.get("trigger", "schedule"))
        await self.run(server, job.payload.get("only"), trigger, quick=job.kind == "incremental")

    async def plan(self, server: Server) -> list[dict[str, Any]] | None:
        async with self.client(server) as client:
            report = await HuduSyncEngine(server.config, server.store, server.cw, client).run(
                dry_run=True, trigger="api"
            )
        return [
            _plan_item(f"hudu:{kind}", i["action"], i["connectwise_id"], i["hudu_id"], i["reason"], i["diff"])
            for kind, found in report.as_json()["types"].items()
            for i in found["items"]
        ]

    async def run_records(self, server: Server, jobs: Sequence[JobRecord]) -> None:
        """Record jobs of Hudu data types (`hudu:configurations` ...) as one run of just those records."""
        records: dict[Any, list[str]] = {}
        for job in jobs:
            if job.record and job.pair.startswith("hudu:"):
                records.setdefault(job.pair.removeprefix("hudu:"), []).append(str(job.record))
        if records:
            await self.run(server, None, _trigger(jobs[0], "api"), records=records)


class CatalogEntry(_Base):
    """The catalog → HubSpot products: scheduled incremental runs; a `productcatalog` callback runs one soon."""

    name = "catalog"
    section = ("syncs", "catalog")

    def routes(self, app: FastAPI, server: Server) -> None:
        from cwsync.server.quotes_api import add_catalog_routes

        add_catalog_routes(app, server)

    def callback_types(self, config: Config) -> list[str]:
        catalog = config.syncs.catalog
        return ["productcatalog"] if catalog is not None and catalog.enabled else []

    def enabled(self, server: Server) -> bool:
        return catalog_enabled(server)

    def schedules(self, server: Server) -> list[Schedule]:
        catalog = server.config.syncs.catalog
        assert catalog is not None
        return _every(server.config.tenant, self.name, catalog.schedule.every_minutes * 60, None)

    async def on_callback(self, server: Server, event: CallbackEvent) -> bool:
        if event.type != "productcatalog":
            return False
        await self.job(server)
        return True

    async def job(self, server: Server) -> int | None:
        """Queue an incremental catalog run a few seconds out (a `productcatalog` callback; coalesced)."""
        return await _debounced(server, self.name, f"catalog:{server.config.tenant}:callback")

    def owns(self, server: Server, pair: str) -> bool:
        return pair in (self.name, PRODUCTS_PAIR)

    async def run_job(self, server: Server, job: JobRecord) -> None:
        if job.kind == "record":
            await self.run_records(server, [job])
            return
        engine = self._engine(server)
        await engine.run(full=job.kind == "full", trigger=_trigger(job) if _trigger(job) == "callback" else "schedule")

    async def run_records(self, server: Server, jobs: Sequence[JobRecord]) -> None:
        ids = [int(job.record) for job in jobs if job.record and job.record.isdigit()]
        await self._engine(server).sync_products(ids, trigger=_trigger(jobs[0], "api"))

    def _engine(self, server: Server) -> CatalogEngine:
        if server.hs is None:
            raise RuntimeError("the catalog sync needs a HubSpot connection (connections.hubspot)")
        return CatalogEngine(server.config, server.store, server.cw, server.hs)

    def replayable(self, server: Server, system: str, obj: str) -> bool:
        return system == "connectwise" and obj in ("products", PRODUCTS_PAIR)

    async def replay(self, server: Server, system: str, obj: str, record_id: str) -> int | None:
        return await server.runner.enqueue(_record_job(server, PRODUCTS_PAIR, record_id, "api"))


class DevicesEntry(_Base):
    """ConnectWise configurations → the device inventory: incremental and full runs on a schedule; a configuration
    callback (and a replay) re-reads its configuration."""

    name = "devices"
    section = ("syncs", "changes", "devices")

    def callback_types(self, config: Config) -> list[str]:
        changes = config.syncs.changes
        devices = changes.devices if changes is not None and changes.enabled else None
        return ["configuration"] if devices is not None and devices.enabled else []

    def enabled(self, server: Server) -> bool:
        changes = server.config.syncs.changes
        devices = changes.devices if changes is not None and changes.enabled else None
        return devices is not None and devices.enabled

    def schedules(self, server: Server) -> list[Schedule]:
        changes = server.config.syncs.changes
        assert changes is not None
        assert changes.devices is not None
        schedule = changes.devices.schedule
        return _every(server.config.tenant, self.name, schedule.incremental_minutes * 60, schedule.full_hours * 3600)

    async def on_callback(self, server: Server, event: CallbackEvent) -> bool:
        if event.type != "configuration":
            return False
        await server.runner.enqueue(_record_job(server, self.name, str(event.record_id), "callback"))
        return True

    def replayable(self, server: Server, system: str, obj: str) -> bool:
        return system == "connectwise" and obj in (self.name, "configurations")

    async def replay(self, server: Server, system: str, obj: str, record_id: str) -> int | None:
        return await server.runner.enqueue(_record_job(server, self.name, record_id, "api"))

    async def _sync(self, server: Server) -> Any:
        changes = server.config.syncs.changes
        if changes is None:
            raise RuntimeError("device sync needs syncs.changes.devices")
        workflow = await ChangeWorkflow.start(
            client=server.cw, store=server.store, config=changes, tenant=server.config.tenant
        )
        return sync_of(workflow.device_sync)

    async def run_job(self, server: Server, job: JobRecord) -> None:
        if job.kind == "record":
            await self.run_records(server, [job])
            return
        await (await self._sync(server)).run(full=job.kind == "full", trigger="schedule")

    async def run_records(self, server: Server, jobs: Sequence[JobRecord]) -> None:
        ids = [str(job.record) for job in jobs if job.record and str(job.record).isdigit()]
        if ids:
            await (await self._sync(server)).run(records=ids, trigger=_trigger(jobs[0], "callback"))


class ChangesEntry(_Base):
    """Change management → ConnectWise tickets: the change workflow's REST API (`/api/changes`, `/api/devices`);
    its events come through the API, not jobs, and record runs of pair `changes`."""

    name = "changes"
    section = ("syncs", "changes")

    def enabled(self, server: Server) -> bool:
        changes = server.config.syncs.changes
        return changes is not None and changes.enabled

    def routes(self, app: FastAPI, server: Server) -> None:
        from cwsync.server.changes_api import add_change_routes

        add_change_routes(app, server)


class QuotesEntry(_Base):
    """Quote → opportunity: a HubSpot deal entering the quote stage (its webhook queues the job)."""

    name = "quotes"
    section = ("syncs", "catalog")

    def routes(self, app: FastAPI, server: Server) -> None:
        from cwsync.server.quotes_api import add_quote_routes  # it imports this module

        add_quote_routes(app, server)

    def enabled(self, server: Server) -> bool:
        return catalog_enabled(server)

    def workflow(self, server: Server) -> QuoteWorkflow:
        """The server's one quote workflow, built on first use (shared by the API and webhook jobs: its per-quote
        locks must be one; `reload` drops it)."""
        workflow: QuoteWorkflow | None = server.parts.get(self.name)
        if workflow is None:
            workflow = server.parts[self.name] = QuoteWorkflow(server.config, server.store, server.cw, server.hs)
        return workflow

    def is_quote_stage(self, server: Server, event: Mapping[str, Any]) -> bool:
        """Whether a HubSpot webhook event is a deal entering the stage that submits it as a quote (SB-5)."""
        catalog = server.config.syncs.catalog
        return (
            catalog_enabled(server)
            and catalog is not None
            and event.get("subscriptionType") == "deal.propertyChange"
            and event.get("propertyName") == "dealstage"
            and str(event.get("propertyValue")) == catalog.quote_deal_stage
        )

    def on_webhook(self, server: Server, pair: str, event: Mapping[str, Any]) -> WebhookJob | None:
        if not self.is_quote_stage(server, event):
            return None
        return lambda deal_id: self.job(server, deal_id)

    async def job(self, server: Server, deal_id: str) -> int | None:
        """Queue the quote → opportunity workflow for a HubSpot deal (one job per deal at a time, coalesced)."""
        tenant = server.config.tenant
        spec = JobSpec(
            tenant=tenant,
            pair=self.name,
            kind="incremental",
            queueing_key=f"quote:{tenant}:{deal_id}",
            lock_key=f"{tenant}:{self.name}:deal:{deal_id}",
            payload={"trigger": "webhook", "deal_id": deal_id},
        )
        return await server.runner.enqueue(spec)

    async def run_job(self, server: Server, job: JobRecord) -> None:
        await self.run(server, str(job.payload["deal_id"]))

    async def run(self, server: Server, deal_id: str) -> None:
        """Submit a HubSpot deal as a quote; a refusal (unknown product, ...) is recorded with its reason, not
        retried (the deal has to change first)."""
        try:
            await self.workflow(server).submit_deal(deal_id, trigger="webhook")
        except QuoteRefused as refused:
            log.warning("quote.refused", deal_id=deal_id, reason=str(refused))


class MirrorEntry(_Base):
    """ConnectWise → SQL tables: scheduled runs of every object; a callback re-reads its record."""

    name = "mirror"
    section = ("syncs", "mirror")

    def routes(self, app: FastAPI, server: Server) -> None:
        from cwsync.server.mirror_api import add_mirror_routes

        add_mirror_routes(app, server)

    TYPES: ClassVar[dict[str, str]] = {
        "company": "companies",
        "contact": "contacts",
        "configuration": "configurations",
        "opportunity": "opportunities",
        "ticket": "tickets",
    }

    def callback_types(self, config: Config) -> list[str]:
        mirror = config.syncs.mirror
        if mirror is None or not mirror.enabled:
            return []
        return [t for t, kind in self.TYPES.items() if kind in mirror.objects]

    def enabled(self, server: Server) -> bool:
        mirror = server.config.syncs.mirror
        return mirror is not None and mirror.enabled

    def owns(self, server: Server, pair: str) -> bool:
        return pair == self.name or pair.startswith(f"{self.name}:")

    def schedules(self, server: Server) -> list[Schedule]:
        mirror = server.config.syncs.mirror
        assert mirror is not None
        schedule = mirror.schedule
        return _every(server.config.tenant, self.name, schedule.incremental_minutes * 60, schedule.full_hours * 3600)

    async def on_callback(self, server: Server, event: CallbackEvent) -> bool:
        mirror = server.config.syncs.mirror
        kind = self.TYPES.get(event.type)
        if mirror is None or kind is None or kind not in mirror.objects:
            return False
        await server.runner.enqueue(_record_job(server, pair_name(kind), str(event.record_id), "callback"))
        return True

    def replayable(self, server: Server, system: str, obj: str) -> bool:
        mirror = server.config.syncs.mirror
        kinds = [pair_name(kind) for kind in (mirror.objects if mirror else [])]
        return system == "connectwise" and obj in kinds

    def _engine_pairs(self, server: Server) -> Any:
        mirror = server.config.syncs.mirror
        assert mirror is not None
        return mirror_pairs(mirror, server.cw, server.store, server.config.tenant)

    async def run_job(self, server: Server, job: JobRecord) -> None:
        if job.kind == "record":
            await self.run_records(server, [job])
            return
        only = {pair_name(kind) for kind in job.payload.get("only") or ()}  # `POST /api/mirror/sync?only=...`
        pairs = [p for p in self._engine_pairs(server) if not only or p.name in only]
        engine = Engine(server.store, server.config.tenant)
        await engine.run(pairs, full=job.kind == "full", trigger=_trigger(job))

    async def run_records(self, server: Server, jobs: Sequence[JobRecord]) -> None:
        pairs = [p for p in self._engine_pairs(server) if any(p.name == job.pair for job in jobs)]
        records = {p.name: [str(job.record) for job in jobs if job.pair == p.name and job.record] for p in pairs}
        engine = Engine(server.store, server.config.tenant)
        await engine.run(pairs, records=records, trigger=_trigger(jobs[0], "callback"))


class HubSpotEntry(_Base):
    """Two-way HubSpot: incremental and full runs per object; callbacks and webhooks become record jobs."""

    name = "hubspot"
    section = ("syncs", "hubspot")

    def routes(self, app: FastAPI, server: Server) -> None:
        from cwsync.server.hubspot_api import add_hubspot_routes  # it imports this module

        add_hubspot_routes(app, server)

    def callback_types(self, config: Config) -> list[str]:
        enabled = mappings(config)
        return [t for t, pair in CW_TYPES.items() if pair in enabled]

    def configure(self, server: Server) -> HubSpotSync | None:
        hubspot = server.config.syncs.hubspot
        enabled = server.hs is not None and hubspot is not None and hubspot.enabled
        return HubSpotSync(server.config, server.store, server.cw, server.hs) if enabled and server.hs else None

    def engine(self, server: Server) -> HubSpotSync | None:
        """The HubSpot sync, when the configuration has one (the server may run only change management or Hudu)."""
        engine: HubSpotSync | None = server.parts.get(self.name)
        return engine

    def required(self, server: Server) -> HubSpotSync:
        """The HubSpot sync a job needs (refused when it is not configured)."""
        engine = self.engine(server)
        if engine is None:
            raise RuntimeError("this job needs the HubSpot sync, which is not configured (syncs.hubspot)")
        return engine

    def mappings(self, server: Server) -> dict[str, Any]:
        """The HubSpot sync's enabled objects (none without a HubSpot sync)."""
        engine = self.engine(server)
        return engine.mappings if engine is not None else {}

    def enabled(self, server: Server) -> bool:
        return self.engine(server) is not None

    async def prepare(self, server: Server) -> None:
        """Read HubSpot's properties and owners (workers prepare on their first run of the tenant)."""
        engine = self.engine(server)
        if engine is None:
            return
        try:
            await engine.prepare(close_interrupted=False)
        except CwsyncApiError as exc:  # serve anyway: the console is where a connection is fixed; runs prepare
            log.warning("server.prepare_failed", error=exc.message, fix=exc.hint)

    def owns(self, server: Server, pair: str) -> bool:
        return pair in self.mappings(server)

    def schedules(self, server: Server) -> list[Schedule]:
        sync = server.config.syncs.hubspot
        assert sync is not None
        out: list[Schedule] = []
        for pair in mappings(server.config):
            incremental, full = sync.schedule.incremental_minutes * 60, sync.schedule.full_hours * 3600
            out += _every(server.config.tenant, pair, incremental, full)
        return out

    async def on_callback(self, server: Server, event: CallbackEvent) -> bool:
        pair = CW_TYPES.get(event.type)
        if pair is None or pair not in self.mappings(server):
            return False
        await server.record_job("connectwise", pair, str(event.record_id), "callback")
        return True

    def on_webhook(self, server: Server, pair: str, event: Mapping[str, Any]) -> WebhookJob | None:
        if pair not in self.mappings(server):
            return None
        return lambda object_id: server.record_job("hubspot", pair, object_id, "webhook")

    async def run_job(self, server: Server, job: JobRecord) -> None:
        engine = self.required(server)
        trigger = str(job.payload.get("trigger", "schedule"))
        if job.kind == "record" and job.record:
            await engine.run(record=RecordRef.parse(job.record), trigger=trigger)
        elif job.kind in ("incremental", "full"):
            await engine.run(objects=[job.pair], full=job.kind == "full", trigger=trigger)

    def replayable(self, server: Server, system: str, obj: str) -> bool:
        return system in ("connectwise", "hubspot") and obj in self.mappings(server)

    async def replay(self, server: Server, system: str, obj: str, record_id: str) -> int | None:
        return await server.record_job(system, obj, record_id, "api")

    async def plan(self, server: Server) -> list[dict[str, Any]] | None:
        report = await self.required(server).run(dry_run=True, trigger="api")
        return [
            _plan_item(i.pair, i.action, i.left_id, i.right_id, i.reason, i.diff) for p in report.pairs for i in p.items
        ]

    async def run_records(self, server: Server, jobs: Sequence[JobRecord]) -> None:
        refs = [RecordRef.parse(job.record) for job in jobs if job.record]
        triggers = [str(job.payload.get("trigger", "callback")) for job in jobs]
        await self.required(server).run(records=refs, trigger=max(set(triggers), key=triggers.count))  # the most common


HUBSPOT = HubSpotEntry()
HUDU = HuduEntry()
CATALOG = CatalogEntry()
DEVICES = DevicesEntry()
CHANGES = ChangesEntry()
QUOTES = QuotesEntry()
MIRROR = MirrorEntry()

REGISTRY: tuple[Integration, ...] = (HUBSPOT, HUDU, CATALOG, DEVICES, CHANGES, QUOTES, MIRROR)
"""Every integration `serve` knows, in the order their schedules are listed."""
