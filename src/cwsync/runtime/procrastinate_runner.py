"""Jobs on procrastinate (PostgreSQL): the scale-out runner behind the same `JobQueue` interface.

::

    runner = ProcrastinateRunner(JobStore(store), store_url, tenants=servers.get)
    async with runner.opened():
        await runner.enqueue(spec)                      # what `serve` does for a callback
        runner.schedule(schedules)                      # periodic tasks (once per period, whatever the workers)
        await runner.work(concurrency=4, grace=30)      # what `cwsync worker` does, until SIGTERM / SIGINT

**What is where.** A cwsync job is still a row of the store's `jobs` table (`cwsync.store.jobs`: coalescing by
`queueing_key`, its attempts, error and outcome, `/metrics`); procrastinate carries *who runs it, and when*. Every
enqueue that is not coalesced defers one procrastinate task, `cwsync.drain(tenant)`:

- `lock="tenant:<tenant>"`: procrastinate runs the jobs of one lock one at a time, in order, on whichever worker.
  A tenant's jobs therefore never run in parallel, on any number of machines — which is what keeps each tenant's
  HubSpot, Hudu and ConnectWise budgets: a run paces itself inside its own budget (the clients' pacers), and no
  second run of that tenant spends the same budget elsewhere. Tenants run in parallel with each other.
- `queueing_lock="drain:<tenant>"`: at most one drain waits per tenant. A callback storm defers one drain
  (`AlreadyEnqueued` for the rest); the jobs it left in the table are what that drain takes.
- A drain claims its tenant's due jobs (`JobStore.claim_batch`, the tenant only): a pair's waiting record jobs come
  together and run as one batch (one read and one write per side), then the next batch, until none is due or
  `DRAIN_SECONDS` have passed (then it defers the next drain, so a busy tenant does not hold a worker forever).
  Jobs due later (a debounced Hudu re-sync, a retry) defer a lock-free `cwsync.kick(tenant)` at that time, which
  defers the drain then (procrastinate lets a scheduled job with a lock hold back later jobs of that lock).
- A drain holds its tenant's lock, so a job of its tenant still `running` in the table, or a run still `running`,
  belongs to a worker that died: the drain puts such jobs back in the queue and marks such runs interrupted first.
- `cwsync.sweep`, a periodic task (every `SWEEP_SECONDS`, one per period for the whole cluster): procrastinate jobs
  of workers that stopped sending heartbeats are retried (`get_stalled_jobs` + `retry_job`; their lock is freed),
  and tenants with due jobs but no drain (a lost defer) get one.
- The scheduler's slots are procrastinate periodic tasks, `cwsync.tick` (one `periodic_id` per tenant, pair and
  kind): procrastinate defers each slot once, however many workers run; the tick queues the scheduled job (unless a
  tick of that slot retried after its worker died finds it queued already).

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
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cwsync.engine.runs import close_interrupted
from cwsync.runtime.jobs import DEFAULT_RETRY, JobSpec, RetryPolicy, default_worker_id
from cwsync.runtime.scheduler import Schedule, cron_of
from cwsync.store import JobRecord, JobStore

__all__ = ["ProcrastinateRunner", "TenantJobs", "apply_schema", "conninfo", "queue_of"]

log = structlog.get_logger("cwsync.jobs.procrastinate")

DRAIN_SECONDS = 30.0
"""How long one drain takes jobs before it hands its tenant to the next drain (fairness between tenants)."""
SHARED_QUEUE = "cwsync"
"""The queue of the cluster's own periodic task (the sweep), which every worker takes."""
SWEEP_SECONDS = 5
"""How often the cluster looks for stalled workers' jobs and tenants without a drain."""
STALLED_AFTER = 10.0
"""Seconds without a worker heartbeat after which its jobs are retried elsewhere (the worker beats every 2 s)."""
HEARTBEAT_SECONDS = 2.0


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
        self._log = log.bind(worker=self.worker_id)

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
        """Queue a job in the store and defer its tenant's drain (at its `run_after`); None when coalesced."""
        job_id = await self._jobs.enqueue(spec.to_new_job())
        if job_id is None:
            self._log.debug("job.coalesced", queueing_key=spec.queueing_key, tenant=spec.tenant, pair=spec.pair)
            return None
        await self.kick(spec.tenant, at=spec.run_after)
        return job_id

    async def kick(self, tenant: str, *, at: datetime | None = None) -> None:
        """Make sure a drain of `tenant` will run (now, or at `at`)."""
        queue = queue_of(tenant)
        if at is not None and at > datetime.now(UTC):
            await self._kick.configure(schedule_at=at, queue=queue).defer_async(tenant=tenant)
            return
        try:
            lock, waiting = f"tenant:{tenant}", f"drain:{tenant}"
            await self._drain.configure(lock=lock, queueing_lock=waiting, queue=queue).defer_async(tenant=tenant)
        except pexc.AlreadyEnqueued:
            pass  # a drain of this tenant waits already: it will take this job too

    def schedule(self, schedules: Sequence[Schedule]) -> None:
        """Register the schedules as periodic tasks (before `work`); one tick per slot for the whole cluster."""
        for s in schedules:
            task_kwargs: dict[str, Any] = {"tenant": s.tenant, "pair": s.pair, "kind": s.kind}
            configure: Any = {"task_kwargs": task_kwargs, "queue": queue_of(s.tenant)}
            self.app.periodic(cron=cron_of(s.every_seconds), periodic_id=s.queueing_key, **configure)(self._tick)

    async def work(
        self,
        tenants: Sequence[str],
        *,
        concurrency: int = 4,
        grace: float = 30.0,
        install_signal_handlers: bool = True,
    ) -> None:
        """Run the jobs of `tenants` until stopped (SIGTERM / SIGINT with `install_signal_handlers`; else cancel
        the task).

        Running drains get `grace` seconds to finish; then they are cancelled and release their jobs.
        """
        if self._tenants is None:
            raise RuntimeError("this runner only queues jobs: give it `tenants` to run them")
        self._log.info("jobs.worker_started", concurrency=concurrency, grace=grace, tenants=len(tenants))
        await self.app.run_worker_async(
            queues=[SHARED_QUEUE, *(queue_of(t) for t in tenants)],
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

    async def _kick_tenant(self, tenant: str) -> None:
        await self.kick(tenant)

    async def _tick_schedule(self, timestamp: int, tenant: str, pair: str, kind: Any) -> None:
        slot = datetime.fromtimestamp(timestamp, UTC)
        key = f"sched:{tenant}:{pair}:{kind}"
        bound = self._log.bind(tenant=tenant, pair=pair, kind=kind, slot=slot.isoformat())
        # procrastinate defers a slot once; a tick retried after its worker died may have queued it already
        if any(p.get("slot") == slot.isoformat() for p in await self._jobs.payloads(key, since=slot)):
            bound.info("schedule.already_enqueued")
            return
        payload = {"trigger": "schedule", "slot": slot.isoformat()}
        job_id = await self.enqueue(JobSpec(tenant=tenant, pair=pair, kind=kind, queueing_key=key, payload=payload))
        bound.info("schedule.enqueued", job_id=job_id)

    async def _sweep(self, timestamp: int) -> None:
        stalled = await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER)
        for job in stalled:
            await self._recover(job)
        late = datetime.now(UTC) - timedelta(seconds=SWEEP_SECONDS)
        for tenant in await self._jobs.tenants_with_due(now=late):
            await self.kick(tenant)

    async def _recover(self, job: Any) -> None:
        """A dead worker's job: a drain ends as failed and its tenant gets a new one (its work is in the jobs
        table, and a waiting drain may already hold its queueing lock, which a retry would collide with); any other
        task is retried as it was."""
        self._log.warning("job.stalled_retried", procrastinate_job=job.id, task=job.task_name, lock=job.lock)
        if job.task_name == "cwsync.drain":
            await self.app.job_manager.finish_job_by_id_async(job_id=job.id, status=Status.FAILED, delete_job=False)
            await self.kick(str(job.task_kwargs["tenant"]))
        else:
            await self.app.job_manager.retry_job(job)

    async def _drain_tenant(self, tenant: str) -> None:
        assert self._tenants is not None
        runner = self._tenants(tenant)
        bound = self._log.bind(tenant=tenant)
        if runner is None:
            bound.error("jobs.unknown_tenant", reason="no tenant file of this name in this worker")
            return
        requeued = await self._jobs.requeue_stale(older_than=datetime.now(UTC) + timedelta(days=1), tenants=[tenant])
        if requeued:  # the tenant's lock is ours: whatever of it is still running has no worker any more
            bound.warning("jobs.requeued_stale", job_ids=requeued)
        await close_interrupted(self._jobs.store, tenant, force=True)
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            claimed = await self._jobs.claim_batch(
                worker=self.worker_id, now=datetime.now(UTC), limit=self._batch_size, tenants=[tenant]
            )
            if not claimed:
                return
            await self._run(runner, claimed, bound)
        await self.kick(tenant)  # more to do: the next drain (after other tenants' waiting ones)

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
        await self.kick(claimed[0].tenant)

    async def _failed(self, job: JobRecord, exc: Exception, bound: Any) -> None:
        delay = self._retry(job.attempts + 1)
        retry_at = None if delay is None else datetime.now(UTC) + timedelta(seconds=delay)
        error = f"{type(exc).__name__}: {exc}"
        await self._jobs.fail(job.job_id, error, retry_at=retry_at, worker=self.worker_id)
        bound.warning("job.failed", job_id=job.job_id, error=error, retry_in=delay, gave_up=delay is None)
        if retry_at is not None:
            await self.kick(job.tenant, at=retry_at)
