"""`cwsync serve`: webhook receivers, the job runner, the scheduler and a REST API in one FastAPI process (PL-3).

Callbacks and webhooks are hints (architecture rule 6): each is authenticated, de-duplicated, turned into a
record job (coalesced per record) and answered at once; the job re-reads the record and syncs it with the same
engine `cwsync sync --record` uses. The scheduler's incremental and full runs stay on as the backstop.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import httpx
import structlog
from fastapi import FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.routing import Route

from cwsync import __version__
from cwsync.config import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.http import CwsyncApiError
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.values import as_utc
from cwsync.engine.runs import close_interrupted
from cwsync.integrations import explain as explained
from cwsync.integrations import root, systems
from cwsync.runtime.accept import AcceptingJobStore
from cwsync.runtime.intake import (
    CLOUD_KEY_HOSTS,
    Deduper,
    IntakeError,
    SigningKeys,
    allow_origins,
    callback_keys,
    connectwise_cloud,
    hubspot_object_id,
    verify_connectwise,
    verify_hubspot_v3,
)
from cwsync.runtime.jobs import InProcessRunner, JobQueue, JobSpec
from cwsync.runtime.scheduler import Schedule, Scheduler
from cwsync.server.auth import api_guard
from cwsync.server.limits import MAX_ID
from cwsync.server.observability import add_observability
from cwsync.server.registry import REGISTRY, Integration
from cwsync.server.runs_api import add_run_routes
from cwsync.server.security import harden
from cwsync.store import RunRecord, Store
from cwsync.store.records import JobRecord

log = structlog.get_logger("cwsync.server")

HS_TYPES = {"company": "companies", "contact": "contacts", "deal": "deals"}
RECORD_BATCH_GAP = 0.3
"""Seconds between the starts of a pair's record batches at least, less the share of a full batch the last one
filled (issue 19): at 50 callbacks/s batches of ~8 records took 3 HubSpot calls each, 17.6 of its 19 calls/s, and
bursts waited on its pacer (p95 1.4 s); with the gap batches grow to ~17, the calls halve, p95 0.5-0.8 s, at ~0.15 s
more p50 (`benchmarks/realtime_latency.py`)."""

__all__ = ["CLOUD_KEY_HOSTS", "Server", "create_app"]


@dataclass
class Server:
    """Everything `cwsync serve` runs, wired together; `start`/`stop` bracket its life."""

    config: Config
    store: Store
    cw: ConnectWiseClient
    hs: HubSpotClient | None
    key_http: httpx.AsyncClient
    workers: int = 4
    parts: dict[str, Any] = field(init=False)
    """Each integration's state on this server by registry name (what its entry's `configure` built: the HubSpot
    sync's engine, the quote workflow ...); `reload` builds them again."""
    jobs: AcceptingJobStore = field(init=False)
    runner: JobQueue = field(init=False)
    queue: JobQueue | None = None
    """A queue shared by a deployment's tenants (procrastinate, with PostgreSQL: `server/deployment.py`); None:
    this server runs its tenant's jobs itself, with an in-process runner."""
    keys: SigningKeys = field(init=False)
    deduper: Deduper = field(default_factory=Deduper)
    scheduler: Scheduler | None = None
    callback_debounce: float = 5.0
    """Seconds a callback's debounced re-sync (an integration's whole run, not a record) waits, so a burst of changes
    becomes one run."""
    clients: dict[str, Callable[[], Any]] = field(default_factory=dict)
    """Client factories by integration name, each opening a client per run (an entry builds its own from the
    configuration when it has none here; tests swap them)."""
    _scheduler_task: asyncio.Task[None] | None = None
    _reopened: list[AsyncExitStack] = field(default_factory=list)
    """Clients opened by `reload` for changed connections (closed by `stop`)."""

    def __post_init__(self) -> None:
        self.parts = self._configure()
        self.jobs = AcceptingJobStore(self.store)  # callbacks' jobs group-committed off the event loop (issue 19)
        self.runner = self.queue or InProcessRunner(
            self.jobs,
            self.handle,
            workers=self.workers,
            batch_handler=self.handle_records,
            tenants=[self.tenant],
            batch_gap=RECORD_BATCH_GAP,
        )
        allowed = self.config.server.allow_http_key_urls
        rule = connectwise_cloud if not allowed else _either(connectwise_cloud, allow_origins(*allowed))
        self.keys = SigningKeys(http=self.key_http, allowed_hosts=rule)

    async def start(self, *, schedule: bool = True) -> None:
        """Close the runs a killed process left "running" (whatever is configured), prepare the enabled integrations
        (the HubSpot engine's properties and owners ...), start jobs and the scheduler."""
        self.keys.home = asyncio.get_running_loop()  # key_http's loop: webhooks on another loop fetch keys here
        if self.queue is None:  # this process runs the tenant's jobs: runs left "running" are a dead process's
            await close_interrupted(self.store, self.config.tenant, force=True)
            for entry in self.integrations():  # workers prepare on their first run of the tenant
                await entry.prepare(self)
        await self.runner.start()
        if schedule:
            self.scheduler = Scheduler(self.runner, self.schedules())
            self._scheduler_task = asyncio.create_task(self.scheduler.run())

    async def stop(self, *, grace: float | None = None) -> None:
        """Stop the scheduler, let running jobs finish (within `grace` seconds, then they are released), leave
        queued ones for the next start; a shared queue (`queue`) is its deployment's to stop."""
        await self._stop_scheduler()
        if self.queue is None:
            await self.runner.stop(grace=grace)
        await self.jobs.close()
        while self._reopened:
            await self._reopened.pop().aclose()

    async def _stop_scheduler(self) -> None:
        if self._scheduler_task is not None:
            self._scheduler_task.cancel()
            await asyncio.gather(self._scheduler_task, return_exceptions=True)
            self._scheduler_task = None

    def _configure(self) -> dict[str, Any]:
        return {entry.name: entry.configure(self) for entry in REGISTRY}

    async def reload(self, config: Config) -> list[str]:
        """Run the next jobs with `config` (the configuration file as the console just saved it), without a restart:
        its stored secrets resolved, the clients reopened when a connection changed, each integration's state rebuilt
        (`parts`: the HubSpot engine's mappings, filters, objects ...), and the in-process scheduler restarted on the
        new schedules. A job running now finishes with what it started with. What needs a restart still (the tenant,
        the server section: API token, webhook secrets, public URL) is answered, to be shown; nothing is changed for
        those."""
        if config.tenant != self.config.tenant:
            return ["the tenant name changes at the next restart of cwsync serve"]
        resolved = await root.resolve_secrets(config, self.store, missing="placeholder")
        if resolved.connections != self.config.connections:  # secrets compare by value
            stack = AsyncExitStack()
            try:
                opened = await stack.enter_async_context(
                    root.opened(config, hubspot="optional", store=self.store, missing_secrets="placeholder")
                )
            except BaseException:
                await stack.aclose()
                raise
            self._reopened.append(stack)
            self.cw, self.hs, resolved = opened.cw, opened.hubspot, opened.config
        later = resolved.server != self.config.server
        before = self.schedules()
        self.config = resolved
        self.parts = self._configure()
        if self._scheduler_task is not None and self.schedules() != before:  # else its rhythm goes on untouched
            await self._stop_scheduler()
            self.scheduler = Scheduler(self.runner, self.schedules())
            self._scheduler_task = asyncio.create_task(self.scheduler.run())
        log.info("server.reloaded", tenant=self.tenant, source=config.source)
        return ["the server section (API token, webhooks) changes at the next restart of cwsync serve"] if later else []

    def schedules(self) -> list[Schedule]:
        """Every enabled integration's periodic runs (from the registry)."""
        return [schedule for entry in self.integrations() for schedule in entry.schedules(self)]

    def integrations(self) -> list[Integration]:
        """The registry's integrations this configuration switches on."""
        return [entry for entry in REGISTRY if entry.enabled(self)]

    def owner(self, pair: str) -> Integration:
        """The integration a job of `pair` belongs to."""
        for entry in self.integrations():
            if entry.owns(self, pair):
                return entry
        raise RuntimeError(f"no enabled integration runs jobs of {pair!r} (check syncs in the configuration)")

    async def handle(self, job: JobRecord) -> None:
        """Run one job with the integration that owns its pair (refused when it is another tenant's)."""
        self._own(job)
        await self.owner(job.pair).run_job(self, job)

    async def handle_records(self, jobs: list[JobRecord]) -> None:
        """Run a batch of record jobs (callbacks and webhooks of one pair) as one run of its integration."""
        if jobs:
            for job in jobs:
                self._own(job)
            await self.owner(jobs[0].pair).run_records(self, jobs)

    @property
    def tenant(self) -> str:
        """The tenant this server runs."""
        return self.config.tenant

    def _own(self, job: JobRecord) -> None:
        if job.tenant != self.config.tenant:  # the runner claims only this tenant's jobs: this is a bug, say so
            raise RuntimeError(f"job {job.job_id} is tenant {job.tenant!r}'s, not {self.config.tenant!r}'s")

    async def record_job(self, system: str, pair: str, record_id: str, trigger: str) -> int | None:
        """Queue a sync of one record (coalesced with one already waiting)."""
        ref = f"{system}:{pair}:{record_id}"
        spec = JobSpec(
            tenant=self.config.tenant,
            pair=pair,
            kind="record",
            record=ref,
            queueing_key=f"record:{self.config.tenant}:{ref}",
            payload={"trigger": trigger},
        )
        return await self.runner.enqueue(spec)


def _either(*rules: Any) -> Any:
    return lambda origin: any(rule(origin) for rule in rules)


def create_app(server: Server) -> FastAPI:
    """The FastAPI app over `server` (its caller starts and stops it)."""
    # Swagger UI and ReDoc from the fastapi-offline wheel, not a CDN: /docs works offline and behind strict proxies.
    app = FastAPIOffline(title="cwsync", version=__version__)
    harden(app, server.config)  # limits, safe JSON, security headers: before any route (docs/security.md)
    add_observability(app, server)
    _hooks(app, server)
    _api(app, server)
    for entry in REGISTRY:  # every integration's routes, enabled or not (off: 404 with what to configure)
        entry.routes(app, server)
    add_run_routes(app, server)
    return app


def _hooks(app: FastAPI, server: Server) -> None:
    """The webhook routes: plain Starlette routes, not FastAPI's (no dependencies to solve, no parameters to validate:
    a third of a callback's CPU in a storm went to that machinery), behind the same middleware (limits, security
    headers, request id, metrics); out of the OpenAPI schema as before."""
    config = server.config

    async def legacy_connectwise_callback(request: Request) -> Response:
        """The URL callbacks installed before 0.2 post to (`cwsync callbacks install` moves them to the one below)."""
        tenant, token = request.path_params["tenant"], request.path_params["token"]
        expected = config.server.callback_token.get_secret_value() if config.server.callback_token else ""
        given = token.encode("utf-8", errors="replace")
        if tenant != config.tenant or not expected or not hmac.compare_digest(given, expected.encode("utf-8")):
            log.warning("intake.refused", source="connectwise", reason="unknown tenant or token")
            raise HTTPException(404)
        return await connectwise_callback(request)

    async def connectwise_callback(request: Request) -> Response:
        """A ConnectWise callback: authentic by its signature (no secret in the URL), for this tenant's company."""
        if request.path_params["tenant"] != config.tenant:
            log.warning("intake.refused", source="connectwise", reason="unknown tenant")
            raise HTTPException(404)
        body = await request.body()
        try:
            event = await verify_connectwise(body, request.headers.get("x-content-signature"), server.keys)
        except IntakeError as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        company = config.connections.connectwise.company_id
        if event.company_id and event.company_id.lower() != company.lower():
            log.warning("intake.refused", source="connectwise", reason="other company", company=event.company_id)
            return JSONResponse({"error": "callback for another company"}, status_code=401)
        keys = callback_keys(event)
        if server.deduper.seen(*keys):
            return Response(status_code=204)
        try:  # every integration's job at once: they commit together (one group commit), not one after another
            await asyncio.gather(*(entry.on_callback(server, event) for entry in server.integrations()))
        except BaseException:
            server.deduper.forget(*keys)  # not queued: the sender's next try must not be taken for a repeat
            raise
        return Response(status_code=204)

    async def hubspot_webhook(request: Request) -> Response:
        secret = config.server.hubspot_client_secret
        if secret is None or not secret.get_secret_value():
            raise HTTPException(404)
        body = await request.body()
        try:
            events = verify_hubspot_v3(
                method="POST",
                uri=str(request.url),
                body=body,
                timestamp=request.headers.get("x-hubspot-request-timestamp"),
                signature=request.headers.get("x-hubspot-signature-v3"),
                client_secret=secret.get_secret_value(),
                now_ms=int(time.time() * 1000),
            )
        except IntakeError as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        # the events' jobs, committed together (one transaction for the whole delivery)
        queued: list[Awaitable[int | None]] = []
        seen: list[str] = []
        entries = server.integrations()
        for event in events:
            kind = str(event.get("subscriptionType", "")).split(".", 1)[0]
            pair = HS_TYPES.get(kind)
            if pair is None:
                continue
            wanted = [job for entry in entries if (job := entry.on_webhook(server, pair, event)) is not None]
            if not wanted:  # no enabled integration asks anything of it
                continue
            object_id = hubspot_object_id(event)
            if object_id is None:  # a signed event can still name no object: queue nothing that cannot run
                log.warning("intake.refused", source="hubspot", reason="bad_object_id")
                continue
            keys = (f"hs:{event.get('eventId')}", f"hs:{pair}:{object_id}:{event.get('occurredAt')}")
            if server.deduper.seen(*keys):
                continue
            seen.extend(keys)
            queued.extend(job(str(object_id)) for job in wanted)
        try:
            await asyncio.gather(*queued)
        except BaseException:
            server.deduper.forget(*seen)  # not queued: HubSpot's retry must not be taken for a repeat
            raise
        return Response(status_code=204)

    app.router.routes.extend(
        [
            Route("/hooks/connectwise/{tenant}/{token}", legacy_connectwise_callback, methods=["POST"]),
            Route("/hooks/connectwise/{tenant}", connectwise_callback, methods=["POST"]),
            Route("/hooks/hubspot", hubspot_webhook, methods=["POST"]),
        ]
    )


def _api(app: FastAPI, server: Server) -> None:
    config = server.config

    guard = api_guard(config)

    @app.get("/api/health")
    async def health() -> dict[str, Any]:
        """Liveness (no token needed)."""
        return {"ok": True, "runner": server.runner.running}

    @app.get("/api/runs", dependencies=guard)
    async def runs(
        limit: int = 20,
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        integration: Annotated[str | None, Query(max_length=64)] = None,
        pair: Annotated[str | None, Query(max_length=128)] = None,
        status: Annotated[str | None, Query(max_length=16)] = None,
        kind: Annotated[str | None, Query(max_length=16)] = None,
        trigger: Annotated[str | None, Query(max_length=16)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The latest runs, filtered and paged (PL-4): by integration or pair, status, kind, trigger, start time."""
        found = await server.store.runs(
            config.tenant,
            limit=min(max(limit, 1), 200),
            offset=offset,
            integration=integration,
            pair=pair,
            status=status,
            kind=kind,
            trigger=trigger,
            since=as_utc(since),
            until=as_utc(until),
        )
        return [_run(r) for r in found]

    @app.get("/api/runs/{run_id}", dependencies=guard)
    async def run_detail(
        run_id: Annotated[int, Path(ge=1, le=MAX_ID)],
        limit: int = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        action: Annotated[str | None, Query(max_length=16)] = None,
        status: Annotated[str | None, Query(max_length=16)] = None,
        pair: Annotated[str | None, Query(max_length=128)] = None,
        record: Annotated[str | None, Query(max_length=255)] = None,
        text: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        """One run and its per-record decisions, paged and filtered (PL-4): by action, status, pair, a record's id
        (either side) or text in the reason."""
        run = await server.store.run(run_id)
        if run is None or run.tenant != config.tenant:
            raise HTTPException(404, "no such run")
        items = await server.store.run_items(
            run_id,
            limit=min(max(limit, 1), 1000),
            offset=offset,
            action=action,
            status=status,
            pair=pair,
            record=record,
            text=text,
        )
        return {**_run(run), "items": [i.summary() for i in items]}

    @app.get("/api/records/{system}/{obj}/{record_id}", dependencies=guard)
    async def explain(system: str, obj: str, record_id: str, live: bool = False) -> dict[str, Any]:
        """Why did this record (not) sync: its link, each field map applied (`live`: to the record read now) with
        the planned diff, and its recorded decisions with the remote answers (`cwsync explain` over HTTP)."""
        try:
            named = systems.resolve(system, obj)
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from exc
        mapping = explained.mapping_for(config, named.pair)
        flat = None
        if live:
            try:
                flat = await explained.read_record(
                    config, named.pair, named.side, record_id, cw=server.cw, hs=server.hs
                )
            except CwsyncApiError as exc:
                raise HTTPException(502, f"{type(exc).__name__}: {exc.summary}") from exc
        return await systems.explain_record(server.store, config.tenant, named, record_id, mapping=mapping, flat=flat)

    @app.post("/api/records/{system}/{obj}/{record_id}/replay", dependencies=guard, status_code=202)
    async def replay(system: str, obj: str, record_id: str) -> dict[str, Any]:
        """Queue a sync of one record now (BY-2): a HubSpot object (`connectwise|hubspot`, `companies`, ...), a
        catalog product (`connectwise`, `products`) or a mirrored object (`connectwise`, `mirror:tickets`, ...)."""
        for entry in server.integrations():
            if entry.replayable(server, system, obj):
                return {"job": await entry.replay(server, system, obj, record_id)}
        raise HTTPException(404, f"{system} {obj} is not an enabled object that can be replayed")


def _run(r: RunRecord) -> dict[str, Any]:
    return r.summary()
