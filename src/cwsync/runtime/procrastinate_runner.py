"""Jobs on procrastinate (PostgreSQL): the scale-out runner behind the same `JobQueue` interface.

::

    runner = ProcrastinateRunner(JobStore(store), store_url, tenants=servers.get)
    async with runner.opened():
        await runner.enqueue(spec)                      # what `serve` does for a callback
        runner.schedule(schedules)                      # periodic tasks (once per period, whatever the workers)
        await runner.work(concurrency=4, grace=30)      # what `cwsync worker` does, until SIGTERM / SIGINT

**What is where.** A cwsync job is still a row of the store's `jobs` table (`cwsync.store.jobs`: coalescing by
`queueing_key`, lock keys, its attempts, error and outcome, `/metrics`); procrastinate carries *who runs it, and
when*. Every enqueue that is not coalesced defers one procrastinate task, `cwsync.drain(tenant, lane)`.

**Lanes: the unit of serialisation.** A tenant's jobs run in *lanes*, one per API budget a job spends besides
ConnectWise (`lane_of`): `hubspot` (the HubSpot objects, the catalog's products, quotes), `hudu` (every `hudu:*`
pair) and `connectwise` (the SQL mirror, the device inventory: ConnectWise and the store only).

- `lock="tenant:<tenant>:<lane>"`: procrastinate runs the jobs of one lock one at a time, in order, on whichever
  worker. So one lane of a tenant never runs two jobs at once anywhere, and that is what holds a budget: a HubSpot
  run paces itself inside the tenant's whole HubSpot budget (the client's own pacer), and no other run of that
  tenant spends HubSpot elsewhere meanwhile; the same for Hudu. Lanes of one tenant run side by side, and so do
  tenants.
- Why not one lock per tenant (what this was first): a full HubSpot run of a tenant held that tenant's Hudu
  callbacks (and its mirror's) back for minutes, though they spend another budget and touch other records. Why
  not one lock per pair: two HubSpot pairs of one tenant (contacts and deals) running on two machines would each
  pace to the whole HubSpot budget, twice it together. A lane is the finest unit that keeps every budget without
  a budget shared through the database.
- ConnectWise is read by every lane, so its budget is divided: under this runner a tenant's ConnectWise client
  paces at `1/len(budget_lanes(config))` of the configured `requests_per_minute` and `max_concurrency`
  (`connectwise_share`, applied by `server/deployment.py`), so lanes running at once on different machines spend
  at most the whole budget together. ConnectWise reads come 1,000 records a request, so the smaller share rarely
  binds.
- What the lanes do not cover, the jobs table's lock keys do (`JobStore.claim_batch`, under one PostgreSQL
  advisory lock for every claim): a pair-wide run (`tenant:pair:*`) never overlaps a record job of its pair, and
  one record has one job at a time; two runs of the same pair cannot overlap either (same lane, and same key).
- `queueing_lock="drain:<tenant>:<lane>"`: at most one drain waits per lane. A callback storm defers one drain
  (`AlreadyEnqueued` for the rest); the jobs it left in the table are what that drain takes.
- A drain claims its lane's due jobs (`JobStore.claim_batch`, that tenant and the lane's pairs only): a pair's
  waiting record jobs come together and run as one batch (one read and one write per side), then the next batch,
  until none is due or `DRAIN_SECONDS` have passed (then it defers the next drain, so a busy lane does not hold a
  worker forever). Jobs due later (a debounced Hudu re-sync, a retry) defer a lock-free `cwsync.kick` at that
  time, which defers the drain then (procrastinate lets a scheduled job with a lock hold back later jobs of that
  lock).
- A drain holds its lane's lock, so a job of its lane still `running` in the table, or a run of its lane still
  `running`, belongs to a worker that died: the drain puts such jobs back in the queue and marks such runs
  interrupted first (its own lane's only: another lane's run may be in progress on another worker).
- `cwsync.sweep`, a periodic task (every `SWEEP_SECONDS`, one per period for the whole cluster): procrastinate jobs
  of workers that stopped sending heartbeats are retried (`get_stalled_jobs` + `retry_job`; their lock is freed),
  and lanes with due jobs but no drain (a lost defer) get one.
- The scheduler's slots are procrastinate periodic tasks, `cwsync.tick` (one `periodic_id` per tenant, pair and
  kind): procrastinate defers each slot once, however many workers run, as long as each worker's deferrer keeps
  within a period of the others — it keeps the newest slot's record only, so a deferrer that lags a period behind
  (a starved process, a skewed clock) defers an older slot again. The tick queues the scheduled job, unless a newer
  slot of its schedule was deferred already (`schedule.superseded`: a late copy, or a tick that waited past the next
  slot, whose tick queues the same run), or a tick of that slot retried after its worker died finds it queued
  already.
- A drain deferred by an earlier release (`cwsync.drain(tenant)`, no lane) kicks each lane of its tenant with
  due jobs, so an upgrade with drains still queued loses none.

Log lines of a drain, a tick and the jobs they run carry `tenant=` (bound structlog contextvars, so the
integrations' own lines inside a job carry it too).

SIGTERM / SIGINT (`work`): procrastinate's worker stops fetching, waits up to `grace` seconds for the running
drains, then cancels them; a cancelled drain puts its jobs back in the queue (the run it was in is marked failed
by `recorded_run`), so nothing stays `running`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import procrastinate
import structlog
from procrastinate import exceptions as pexc
from procrastinate.jobs import Status
from procrastinate.schema import SchemaManager
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from structlog.contextvars import bound_contextvars

from cwsync.config import Config
from cwsync.engine.runs import close_interrupted, closes_its_own
from cwsync.runtime.jobs import DEFAULT_RETRY, JobSpec, RetryPolicy, default_worker_id
from cwsync.runtime.loops import current_loop, on_loop
from cwsync.runtime.scheduler import Schedule, cron_of
from cwsync.store import JobRecord, JobStore
from cwsync.store.jobs import JOBS

__all__ = [
    "ProcrastinateRunner",
    "TenantJobs",
    "apply_schema",
    "budget_lanes",
    "connectwise_share",
    "conninfo",
    "lane_of",
    "queue_of",
]

LOGGER = "cwsync.jobs.procrastinate"

DRAIN_SECONDS = 30.0
"""How long one drain takes jobs before it hands its tenant to the next drain (fairness between tenants)."""
SHARED_QUEUE = "cwsync"
"""The queue of the cluster's own periodic task (the sweep), which every worker takes."""
SWEEP_SECONDS = 5
"""How often the cluster looks for stalled workers' jobs and tenants without a drain."""
STALLED_AFTER = 10.0
"""Seconds without a worker heartbeat after which its jobs are retried elsewhere (the worker beats every 2 s)."""
HEARTBEAT_SECONDS = 2.0
_LANE_OF_PREFIX = {"hudu": "hudu", "mirror": "connectwise", "devices": "connectwise", "changes": "changes"}


def lane_of(pair: str) -> str:
    """The lane of a pair's jobs: `hudu` for `hudu` and `hudu:*`, `connectwise` for the mirror and the devices,
    `hubspot` for the rest (HubSpot objects, `catalog:products`, `quotes`: they spend the HubSpot budget)."""
    return _LANE_OF_PREFIX.get(pair.partition(":")[0], "hubspot")


def budget_lanes(config: Config) -> frozenset[str]:
    """The lanes a tenant's enabled integrations run jobs in (at least one)."""
    syncs = config.syncs
    lanes: set[str] = set()
    if any(s is not None and s.enabled for s in (syncs.hubspot, syncs.catalog)):
        lanes.add("hubspot")
    if syncs.hudu is not None and syncs.hudu.enabled:
        lanes.add("hudu")
    devices = syncs.changes.devices if syncs.changes is not None and syncs.changes.enabled else None
    if (syncs.mirror is not None and syncs.mirror.enabled) or (devices is not None and devices.enabled):
        lanes.add("connectwise")
    return frozenset(lanes or {"hubspot"})


def connectwise_share(config: Config) -> Config:
    """The configuration with its ConnectWise pace divided among its lanes (the lanes of a tenant may run at once,
    on different workers, and every one reads ConnectWise): the whole budget holds whatever runs where."""
    lanes = len(budget_lanes(config))
    cw = config.connections.connectwise
    if lanes == 1:
        return config
    rpm = None if cw.requests_per_minute is None else max(1, cw.requests_per_minute // lanes)
    shared = cw.model_copy(update={"requests_per_minute": rpm, "max_concurrency": max(1, cw.max_concurrency // lanes)})
    connections = config.connections.model_copy(update={"connectwise": shared})
    return config.model_copy(update={"connections": connections})


class TenantJobs(Protocol):
    """What runs one tenant's jobs (the server of that tenant)."""

    async def handle(self, job: JobRecord) -> None:
        """Run one job."""
        ...

    async def handle_records(self, jobs: list[JobRecord]) -> None:
        """Run a batch of record jobs of one pair as one run."""
        ...


Lookup = Callable[[str], TenantJobs | None]


def queue_of(tenant: str) -> str:
    """A tenant's procrastinate queue: a worker takes jobs of the tenants it has files of, and only those."""
    return f"tenant.{tenant}"


def conninfo(store_url: str) -> str:
    """The libpq connection string (for psycopg) of a PostgreSQL store URL."""
    return make_url(store_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def apply_schema(jobs: JobStore) -> bool:
    """Create procrastinate's tables in the store's database when missing (`cwsync migrate`, start); True if done.

    Taken under an advisory lock, so processes starting together create them once.
    """
    async with jobs.store._connect(write=True) as conn, conn.begin():
        await conn.execute(text("SELECT pg_advisory_xact_lock(6377737963)"))
        if (await conn.execute(text("SELECT to_regclass('procrastinate_jobs')"))).scalar() is not None:
            return False
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]
        return True


class ProcrastinateRunner:
    """The procrastinate `JobQueue`: defers drains (any process), and runs them (a worker: `work`)."""

    def __init__(
        self,
        jobs: JobStore,
        store_url: str,
        *,
        tenants: Lookup | None = None,
        batch_size: int = 100,
        retry: RetryPolicy = DEFAULT_RETRY,
        worker_id: str | None = None,
    ) -> None:
        """Jobs of `jobs`' store; `tenants` names who runs a tenant's jobs (needed by `work` only)."""
        self._jobs = jobs
        self._tenants = tenants
        self._batch_size = batch_size
        self._retry = retry
        self.worker_id = worker_id or default_worker_id()
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(store_url)))
        self._drain = self.app.task(name="cwsync.drain", pass_context=False)(self._drain_tenant)
        self._kick = self.app.task(name="cwsync.kick", pass_context=False)(self._kick_tenant)
        self._tick = self.app.task(name="cwsync.tick", pass_context=False)(self._tick_schedule)
        sweep = self.app.task(name="cwsync.sweep", pass_context=False, queue=SHARED_QUEUE)(self._sweep)
        self.app.periodic(cron=cron_of(SWEEP_SECONDS), periodic_id="sweep")(sweep)
        self._open = False
        self._home: asyncio.AbstractEventLoop | None = None  # the loop that opened the connections (`start`)
        self._log = structlog.get_logger(LOGGER, worker=self.worker_id)  # lazy: follows logging configured later

    # --- the JobQueue interface ---------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while its connection is open (jobs can be queued)."""
        return self._open

    async def start(self) -> None:
        """Open procrastinate's connection pool (`work` runs jobs; this only queues them)."""
        if not self._open:
            await self.app.open_async()
            self._open = True
            self._home = asyncio.get_running_loop()

    async def stop(self, *, grace: float | None = None) -> None:
        """Close the connection pool (`work`'s own `grace` bounds its running drains)."""
        if self._open:
            self._open = False
            await self.app.close_async()

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[ProcrastinateRunner]:
        """`start`, then `stop` whatever happens."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def enqueue(self, spec: JobSpec) -> int | None:
        """Queue a job in the store and defer its lane's drain (at its `run_after`); None when coalesced.

        From any event loop: the store's and procrastinate's connections are the loop's that started the runner,
        so a caller on another loop (a webhook served on its own thread) has the work done there.
        """
        if self._home is not None and current_loop() is not self._home:
            return await on_loop(self._home, self.enqueue(spec))
        job_id = await self._jobs.enqueue(spec.to_new_job())
        if job_id is None:
            self._log.debug("job.coalesced", queueing_key=spec.queueing_key, tenant=spec.tenant, pair=spec.pair)
            return None
        await self.kick(spec.tenant, lane_of(spec.pair), at=spec.run_after)
        return job_id

    async def kick(self, tenant: str, lane: str | None = None, *, at: datetime | None = None) -> None:
        """Make sure a drain of the tenant's `lane` (None: each of its lanes with due jobs) runs, now or at `at`."""
        queue = queue_of(tenant)
        if at is not None and at > datetime.now(UTC):
            await self._kick.configure(schedule_at=at, queue=queue).defer_async(tenant=tenant, lane=lane)
            return
        for each in [lane] if lane is not None else await self._lanes_due(tenant):
            try:
                lock, waiting = f"tenant:{tenant}:{each}", f"drain:{tenant}:{each}"
                drain = self._drain.configure(lock=lock, queueing_lock=waiting, queue=queue)
                await drain.defer_async(tenant=tenant, lane=each)
            except pexc.AlreadyEnqueued:
                pass  # a drain of this lane waits already: it will take this job too

    async def _lanes_due(self, tenant: str) -> list[str]:
        """The lanes of a tenant with queued jobs."""
        return sorted({lane_of(pair) for pair in await self._pairs(tenant, ("queued",))})

    async def _pairs(self, tenant: str, statuses: Sequence[str]) -> list[str]:
        """The pairs of a tenant's jobs in these statuses."""
        where = (JOBS.c.tenant == tenant, JOBS.c.status.in_(list(statuses)))
        async with self._jobs.store._connect() as conn:
            return [str(pair) for pair in (await conn.execute(select(JOBS.c.pair).where(*where).distinct())).scalars()]

    def schedule(self, schedules: Sequence[Schedule]) -> None:
        """Register the schedules as periodic tasks (before `work`); one tick per slot for the whole cluster."""
        for s in schedules:
            task_kwargs: dict[str, Any] = {"tenant": s.tenant, "pair": s.pair, "kind": s.kind}
            configure: Any = {"task_kwargs": task_kwargs, "queue": queue_of(s.tenant)}
            self.app.periodic(cron=cron_of(s.every_seconds), periodic_id=s.queueing_key, **configure)(self._tick)

    def reschedule(self, tenant: str, schedules: Sequence[Schedule]) -> bool:
        """Replace a tenant's periodic tasks by `schedules` (none: a tenant removed), while `work` runs: the
        periodic deferrer reads procrastinate's registry at each of its ticks (at least every sweep period), so
        the new slots are deferred from its next tick on; the other tenants' tasks are not touched. False (nothing
        done) when the registered tasks are these already."""
        registry = self.app.periodic_registry.periodic_tasks
        mine = [s for s in schedules if s.tenant == tenant]
        have = {(t.periodic_id, t.cron) for t in registry.values() if self.tenant_of(t) == tenant}
        if have == {(s.queueing_key, cron_of(s.every_seconds)) for s in mine}:
            return False
        for key in [k for k, task in registry.items() if self.tenant_of(task) == tenant]:
            del registry[key]
        self.schedule(mine)
        return True

    @staticmethod
    def tenant_of(task: Any) -> str | None:
        """The tenant of a registered periodic task (None: the cluster's own, the sweep)."""
        tenant = (task.configure_kwargs.get("task_kwargs") or {}).get("tenant")
        return tenant if isinstance(tenant, str) else None

    def periodic(self) -> list[tuple[str, str]]:
        """(periodic id, cron) of every registered periodic task, by id (what `reschedule` changes)."""
        return sorted((task.periodic_id, task.cron) for task in self.app.periodic_registry.periodic_tasks.values())

    @staticmethod
    def queues(tenants: Sequence[str]) -> list[str]:
        """The procrastinate queues a worker of `tenants` takes jobs from."""
        return [SHARED_QUEUE, *(queue_of(t) for t in tenants)]

    async def work(
        self,
        tenants: Sequence[str],
        *,
        concurrency: int = 4,
        grace: float = 30.0,
        install_signal_handlers: bool = True,
        queues: list[str] | None = None,
    ) -> None:
        """Run the jobs of `tenants` until stopped (SIGTERM / SIGINT with `install_signal_handlers`; else cancel
        the task). `queues`: the list of `queues(tenants)` to take jobs from, kept by the caller — procrastinate's
        worker reads that very list at every fetch, so a queue appended to it (a tenant added) or removed is taken,
        or not, from then on (within the 1 s polling interval).

        Running drains get `grace` seconds to finish; then they are cancelled and release their jobs.
        """
        if self._tenants is None:
            raise RuntimeError("this runner only queues jobs: give it `tenants` to run them")
        closes_its_own(self._jobs.store)  # each drain closes its lane's interrupted runs, and no other lane's
        self._log.info("jobs.worker_started", concurrency=concurrency, grace=grace, tenants=len(tenants))
        await self.app.run_worker_async(
            queues=queues if queues is not None else self.queues(tenants),
            concurrency=concurrency,
            wait=True,
            shutdown_graceful_timeout=grace,
            install_signal_handlers=install_signal_handlers,
            update_heartbeat_interval=HEARTBEAT_SECONDS,
            stalled_worker_timeout=STALLED_AFTER,
            delete_jobs="successful",
            fetch_job_polling_interval=1.0,
        )
        self._log.info("jobs.worker_stopped")

    # --- tasks --------------------------------------------------------------------------------------------------

    async def _kick_tenant(self, tenant: str, lane: str | None = None) -> None:
        await self.kick(tenant, lane)

    async def _tick_schedule(self, timestamp: int, tenant: str, pair: str, kind: Any) -> None:
        slot = datetime.fromtimestamp(timestamp, UTC)
        key = f"sched:{tenant}:{pair}:{kind}"
        with bound_contextvars(tenant=tenant):
            bound = self._log.bind(pair=pair, kind=kind, slot=slot.isoformat())
            if await self._newest_slot(key) > timestamp:  # the next slot's tick queues this run
                bound.info("schedule.superseded")
                return
            # procrastinate defers a slot once; a tick retried after its worker died may have queued it already
            if any(p.get("slot") == slot.isoformat() for p in await self._jobs.payloads(key, since=slot)):
                bound.info("schedule.already_enqueued")
                return
            payload = {"trigger": "schedule", "slot": slot.isoformat()}
            spec = JobSpec(tenant=tenant, pair=pair, kind=kind, queueing_key=key, payload=payload)
            bound.info("schedule.enqueued", job_id=await self.enqueue(spec))

    async def _newest_slot(self, periodic_id: str) -> int:
        """The newest slot procrastinate has deferred of a schedule (epoch seconds; 0: none recorded)."""
        newest = text(
            "SELECT max(defer_timestamp) FROM procrastinate_periodic_defers"
            " WHERE task_name = :task AND periodic_id = :periodic_id"
        )
        async with self._jobs.store._connect() as conn:
            found = (await conn.execute(newest, {"task": self._tick.name, "periodic_id": periodic_id})).scalar()
        return int(found or 0)

    async def _sweep(self, timestamp: int) -> None:
        stalled = await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER)
        for job in stalled:
            await self._recover(job)
        late = datetime.now(UTC) - timedelta(seconds=SWEEP_SECONDS)
        for tenant in await self._jobs.tenants_with_due(now=late):
            await self.kick(tenant)

    async def _recover(self, job: Any) -> None:
        """A dead worker's job: a drain ends as failed and its lane gets a new one (its work is in the jobs
        table, and a waiting drain may already hold its queueing lock, which a retry would collide with); any other
        task is retried as it was."""
        tenant = job.task_kwargs.get("tenant")
        with bound_contextvars(tenant=tenant):
            self._log.warning("job.stalled_retried", procrastinate_job=job.id, task=job.task_name, lock=job.lock)
            if job.task_name == "cwsync.drain":
                manager = self.app.job_manager
                await manager.finish_job_by_id_async(job_id=job.id, status=Status.FAILED, delete_job=False)
                await self.kick(str(tenant), job.task_kwargs.get("lane"))
            else:
                await self.app.job_manager.retry_job(job)

    async def _drain_tenant(self, tenant: str, lane: str | None = None) -> None:
        assert self._tenants is not None
        with bound_contextvars(tenant=tenant):
            if lane is None:  # deferred before lanes: hand over to the lanes' own drains
                await self.kick(tenant)
                return
            runner = self._tenants(tenant)
            bound = self._log.bind(lane=lane)
            if runner is None:
                bound.error("jobs.unknown_tenant", reason="no tenant file of this name in this worker")
                return
            await self._drain_lane(runner, tenant, lane, bound)

    async def _drain_lane(self, runner: TenantJobs, tenant: str, lane: str, bound: Any) -> None:
        """Recover what a dead worker left of this lane, then run its due jobs for up to `DRAIN_SECONDS`.

        The lane's pairs are looked up once, and again only when a claim finds nothing (a pair new to the lane may
        have queued meanwhile): a claim per batch, plus one read per drain.
        """
        queued, running = await self._lane_pairs(tenant, lane)
        await self._recover_lane(tenant, lane, running, bound)
        pairs = queued | running  # a requeued job is queued now
        deadline = time.monotonic() + DRAIN_SECONDS
        while pairs and time.monotonic() < deadline:
            claimed = await self._jobs.claim_batch(
                worker=self.worker_id, now=datetime.now(UTC), limit=self._batch_size, tenants=[tenant], pairs=pairs
            )
            if claimed:
                await self._run(runner, claimed, bound)
                continue
            fresh, _ = await self._lane_pairs(tenant, lane)
            if fresh <= pairs:
                return  # nothing due now (jobs due later have their kick)
            pairs = fresh
        if pairs:
            await self.kick(tenant, lane)  # more to do: the next drain (after other lanes' and tenants' waiting ones)

    async def _lane_pairs(self, tenant: str, lane: str) -> tuple[frozenset[str], frozenset[str]]:
        """The pairs of the lane with queued jobs, and with running ones (one read)."""
        where = (JOBS.c.tenant == tenant, JOBS.c.status.in_(["queued", "running"]))
        async with self._jobs.store._connect() as conn:
            rows = (await conn.execute(select(JOBS.c.pair, JOBS.c.status).where(*where).distinct())).all()
        mine = [(str(pair), str(status)) for pair, status in rows if lane_of(str(pair)) == lane]
        return frozenset(p for p, st in mine if st == "queued"), frozenset(p for p, st in mine if st == "running")

    async def _recover_lane(self, tenant: str, lane: str, running: frozenset[str], bound: Any) -> None:
        """The lane's lock is ours: its jobs still running and its runs still running have no worker any more."""
        if running:
            later = datetime.now(UTC) + timedelta(days=1)
            requeued = await self._jobs.requeue_stale(older_than=later, tenants=[tenant], pairs=running)
            if requeued:
                bound.warning("jobs.requeued_stale", job_ids=requeued)
        await close_interrupted(
            self._jobs.store, tenant, force=True, only=lambda run: bool(run.pairs) and lane_of(run.pairs[0]) == lane
        )

    async def _run(self, runner: TenantJobs, claimed: list[JobRecord], bound: Any) -> None:
        ids = [job.job_id for job in claimed]
        bound = bound.bind(pair=claimed[0].pair, kind=claimed[0].kind, job_ids=ids)
        started = time.perf_counter()
        try:
            if claimed[0].kind == "record":
                await runner.handle_records(claimed)
            else:
                await runner.handle(claimed[0])
        except asyncio.CancelledError:  # shutdown past its grace period: give the jobs back, untried
            await asyncio.shield(self._release(claimed))
            bound.warning("job.released", reason="worker stopping")
            raise
        except Exception as exc:
            for job in claimed:
                await self._failed(job, exc, bound)
            return
        lost = await self._jobs.complete_many(ids, worker=self.worker_id)
        if lost:
            bound.warning("job.lost", lost=lost)
        bound.info("job.batch_done", size=len(claimed), elapsed_ms=round((time.perf_counter() - started) * 1000, 1))

    async def _release(self, claimed: list[JobRecord]) -> None:
        await self._jobs.release([job.job_id for job in claimed], worker=self.worker_id)
        await self.kick(claimed[0].tenant, lane_of(claimed[0].pair))

    async def _failed(self, job: JobRecord, exc: Exception, bound: Any) -> None:
        delay = self._retry(job.attempts + 1)
        retry_at = None if delay is None else datetime.now(UTC) + timedelta(seconds=delay)
        error = f"{type(exc).__name__}: {exc}"
        await self._jobs.fail(job.job_id, error, retry_at=retry_at, worker=self.worker_id)
        bound.warning("job.failed", job_id=job.job_id, error=error, retry_in=delay, gave_up=delay is None)
        if retry_at is not None:
            await self.kick(job.tenant, lane_of(job.pair), at=retry_at)
