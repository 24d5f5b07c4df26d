"""Jobs: what to run (`JobSpec`), the queue interface (`JobQueue`) and the embedded runner (`InProcessRunner`).

::

    runner = InProcessRunner(JobStore(store), handler, workers=4)
    await runner.start()                 # also requeues jobs a dead process left running
    await runner.enqueue(JobSpec(tenant="acme", pair="companies", kind="record",
                                 record="connectwise:companies:42", queueing_key="cb:acme:companies:42"))
    await runner.stop()                  # running jobs finish, queued ones stay queued for the next start

The runner keeps its jobs in the store (`cwsync.store.jobs`), so they survive a restart; the lock and coalescing
rules are written down there. A handler that raises fails its attempt; the retry policy turns the number of failed
attempts into a delay before the next one, or None to give up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog
from structlog.contextvars import bound_contextvars

from cwsync.runtime.loops import current_loop, on_loop
from cwsync.store import JobKind, JobNotRunningError, JobRecord, JobStore, NewJob

__all__ = [
    "DEFAULT_RETRY",
    "BatchHandler",
    "Clock",
    "Handler",
    "InProcessRunner",
    "JobQueue",
    "JobSpec",
    "RetryPolicy",
    "backoff",
    "default_worker_id",
    "utc_now",
]

Handler = Callable[[JobRecord], Awaitable[None]]
BatchHandler = Callable[[list[JobRecord]], Awaitable[None]]
RetryPolicy = Callable[[int], float | None]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock)."""
    return datetime.now(UTC)


def default_worker_id() -> str:
    """`host:pid:random`: names this runner in `jobs.worker`, unique even for two runners in one process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def backoff(*, base: float = 5.0, factor: float = 4.0, cap: float = 900.0, max_attempts: int = 5) -> RetryPolicy:
    """A retry policy: `base * factor**(failed - 1)` seconds, at most `cap`; None (give up) after `max_attempts`.

    The defaults retry after 5 s, 20 s, 80 s, 320 s and fail the job at the fifth failure. There is no jitter:
    claims come one at a time out of one table, so retries of many jobs do not stampede the way many clients do.
    """

    def policy(failed: int) -> float | None:
        if failed >= max_attempts:
            return None
        return float(min(cap, base * factor ** (failed - 1)))

    return policy


DEFAULT_RETRY = backoff()
IDLE_POLL = 0.02  # seconds between looks of `wait_idle`


class _Held(Collection[str]):
    """The `tenant:pair` groups whose record jobs a claim passes over, read live inside the claim's transaction."""

    def __init__(self, runner: InProcessRunner) -> None:
        self._runner = runner

    def __contains__(self, group: object) -> bool:
        return isinstance(group, str) and self._runner.held(group)

    def __iter__(self) -> Iterator[str]:
        return iter([g for g in {*self._runner._batching, *self._runner._started_at} if self._runner.held(g)])

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """A job to run: which pair of which tenant, what kind, optionally one record.

    `lock_key` defaults to `tenant:pair:record`, or `tenant:pair:*` (the whole pair) without a record.
    `queueing_key`: while a job with this key waits, enqueueing another is a no-op (a storm of callbacks about
    one record becomes one job). `run_after=None` means now.
    """

    tenant: str
    pair: str
    kind: JobKind
    record: str | None = None
    queueing_key: str | None = None
    lock_key: str | None = None
    run_after: datetime | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_lock_key(self) -> str:
        """The lock key the job runs under (the given one, or the default)."""
        return self.lock_key or f"{self.tenant}:{self.pair}:{self.record or '*'}"

    def to_new_job(self) -> NewJob:
        """The store's form of this job."""
        return NewJob(
            tenant=self.tenant,
            pair=self.pair,
            kind=self.kind,
            record=self.record,
            queueing_key=self.queueing_key,
            lock_key=self.effective_lock_key,
            run_after=self.run_after,
            payload=self.payload,
        )


class JobQueue(Protocol):
    """Where triggers (scheduler, callbacks, webhooks, CLI, API) put jobs, and what runs them.

    `InProcessRunner` is the embedded implementation (SQLite, one process). `ProcrastinateRunner`
    (`runtime/procrastinate_runner.py`) is the scale-out one (PostgreSQL, any number of `cwsync worker` processes):
    the same jobs in the same table, run by drains that procrastinate serialises per tenant.
    """

    @property
    def running(self) -> bool:
        """Whether it takes jobs now."""
        ...

    async def enqueue(self, spec: JobSpec) -> int | None:
        """Queue a job; its id, or None when a waiting job with the same queueing key absorbed it."""
        ...

    async def start(self) -> None:
        """Start running jobs."""
        ...

    async def stop(self, *, grace: float | None = None) -> None:
        """Stop taking jobs; the running ones finish first (within `grace` seconds, when given, else released)."""
        ...


class InProcessRunner:
    """N asyncio workers taking jobs from the store, for the embedded (one process, SQLite) mode.

    Several runners on one PostgreSQL database are safe too (claims are atomic), which the tests rely on.
    Workers are woken at once by `enqueue` and when a job finishes (it may release a lock); otherwise they look
    every `poll_interval` seconds (for jobs from other processes and delayed ones coming due). Every
    `stale_after / 3` seconds the runner stamps its running jobs as alive and requeues those of runners that
    stopped stamping for `stale_after` seconds — at start too, which is how a restart resumes a crashed process's
    jobs.

    With a `batch_handler`, record jobs run in batches: a worker claiming a record job takes up to `batch_size`
    waiting record jobs of the same pair with it and hands them to `batch_handler` together, and while a pair has
    a batch running no other worker of this runner starts one for it — the jobs that arrive meanwhile wait and
    form the next batch. Under load the batches grow instead of the calls, which is what keeps a stream of
    callbacks inside an API's rate limit. With `batch_gap`, a pair's next batch also waits until that long after its
    last one started, less the share of `batch_size` that one filled (a batch that takes less than the gap would
    otherwise let a steady stream make many small ones; a full one, as in a storm, holds nothing back). A batch
    succeeds or fails (and is retried) as a whole.
    """

    def __init__(
        self,
        jobs: JobStore,
        handler: Handler,
        *,
        workers: int = 4,
        poll_interval: float = 0.2,
        retry: RetryPolicy = DEFAULT_RETRY,
        clock: Clock = utc_now,
        worker_id: str | None = None,
        stale_after: float = 30.0,
        batch_handler: BatchHandler | None = None,
        batch_size: int = 100,
        batch_gap: float = 0.0,
        tenants: Collection[str] | None = None,
    ) -> None:
        """Run `handler` for each job of `jobs` (record jobs in batches with `batch_handler`, a pair's batches
        starting `batch_gap` seconds apart at least, by `clock`: the jobs that arrive meanwhile join the next batch,
        so a stream of callbacks makes fewer, larger batches and fewer API calls); nothing happens until `start`.
        `tenants` (None: every tenant) are the tenants whose jobs this runner takes: a runner never claims, waits
        for or runs another tenant's jobs."""
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self._jobs = jobs
        self._handler = handler
        self._batch_handler = batch_handler
        self._batch_size = batch_size
        self._batch_gap = timedelta(seconds=batch_gap)
        self._started_at: dict[str, tuple[datetime, timedelta]] = {}  # `tenant:pair` -> its last batch's start, gap
        self._held = _Held(self)
        self._tenants = None if tenants is None else frozenset(tenants)
        self._batching: set[str] = set()  # `tenant:pair` groups with a record batch running in this runner
        self._workers = workers
        self._poll_interval = poll_interval
        self._retry = retry
        self._clock = clock
        self.worker_id = worker_id or default_worker_id()
        self._stale_after = timedelta(seconds=stale_after)
        self._wakes: list[asyncio.Event] = []
        self._stopping = asyncio.Event()  # workers: take no more jobs
        self._halted = asyncio.Event()  # heartbeat: every worker is done
        self._settled = asyncio.Event()  # a job of this runner ended (for `wait_idle`)
        self._active: set[int] = set()  # ids of the jobs whose handlers run now (the ones the heartbeat stamps)
        self._tasks: list[asyncio.Task[None]] = []
        self._heartbeat: asyncio.Task[None] | None = None
        self._home: asyncio.AbstractEventLoop | None = None  # the loop the workers run on (set by `start`)
        self._wake_sent = 0  # a wake from another thread on its way to `_home`: 1 one worker, 2 all
        self._idle: list[asyncio.Event] = []  # the wake events of the workers waiting now, longest waiting first
        scope = {} if self._tenants is None else {"tenant": ",".join(sorted(self._tenants))}
        # a server's runner: its lines name its tenant; a lazy logger, so logging configured later is followed
        self._log = structlog.get_logger("cwsync.jobs", worker=self.worker_id, **scope)

    @property
    def running(self) -> bool:
        """True between `start` and `stop`."""
        return bool(self._tasks)

    @property
    def idle_workers(self) -> int:
        """Workers waiting for a job now (for tests and diagnostics)."""
        return len(self._idle)

    async def enqueue(self, spec: JobSpec) -> int | None:
        """Queue a job (works before `start` too); its id, or None when coalesced into a waiting job.

        From any event loop: a store whose enqueue is safe from anywhere (`AcceptingJobStore` on a SQLite file,
        group-committed by its own thread) is called from the caller's loop, so a webhook served on its own thread
        never waits for the workers' loop; any other store is used on the workers' loop, where its connections are.
        """
        if not getattr(self._jobs, "accepts_anywhere", False) and self._away():
            return await on_loop(self._home, self.enqueue(spec))
        job_id = await self._jobs.enqueue(spec.to_new_job(), now=self._clock())
        if job_id is None:
            key = spec.queueing_key
            self._log.debug("job.coalesced", tenant=spec.tenant, queueing_key=key, pair=spec.pair, kind=spec.kind)
        elif spec.kind == "record" and f"{spec.tenant}:{spec.pair}" in self._held:
            return job_id  # the worker running this pair's batch takes it with the next one: waking others is futile
        self._nudge()
        return job_id

    def wake(self) -> None:
        """Make idle workers look for a job now (e.g. after moving an injected clock forward); from any thread."""
        self._signal(everyone=True)

    def _nudge(self) -> None:
        """Make one idle worker look for a job: a claim takes the oldest job (with its pair's batch), and a worker
        whose claim succeeds nudges the next one, so N idle workers do not run N claims for one new job (each a
        write transaction; under a stream of callbacks most of the runner's CPU went to claims that found
        nothing). From any thread."""
        self._signal(everyone=False)

    def _signal(self, *, everyone: bool) -> None:
        level = 2 if everyone else 1
        if self._home is not None and self._away():
            sent, self._wake_sent = self._wake_sent, max(self._wake_sent, level)
            if not sent:  # one hop at a time: a storm of callbacks' jobs wakes the workers once a turn
                with contextlib.suppress(RuntimeError):  # the workers' loop is closed: nobody to wake
                    self._home.call_soon_threadsafe(self._deliver)
            return
        self._wake(everyone=everyone)

    def _deliver(self) -> None:
        level, self._wake_sent = self._wake_sent, 0  # before waking: a wake asked for from now on is sent again
        self._wake(everyone=level == 2)

    def _wake(self, *, everyone: bool) -> None:
        if not everyone and self._idle:
            self._idle[0].set()  # it leaves `_idle` when it runs
            return
        for event in self._wakes:  # none idle: a worker between its wake and its claim looks once more
            event.set()

    def held(self, group: str) -> bool:
        """Whether the record jobs of `tenant:pair` wait now: a batch of theirs runs, or the last one started less
        than its gap ago (`batch_gap`, shortened by how full that batch was)."""
        if group in self._batching:
            return True
        last = self._started_at.get(group)
        return last is not None and self._clock() - last[0] < last[1]

    def _away(self) -> bool:
        """Whether this code runs off the workers' loop (another thread's loop; not before `start`)."""
        return self._home is not None and current_loop() is not self._home

    async def start(self) -> None:
        """Requeue jobs abandoned by dead runners, then start the workers and the heartbeat."""
        if self._tasks:
            raise RuntimeError("runner already started")
        self._stopping.clear()
        self._halted.clear()
        self._home, self._wake_sent = asyncio.get_running_loop(), 0
        await self._recover()
        self._wakes = [asyncio.Event() for _ in range(self._workers)]
        self._tasks = [
            asyncio.create_task(self._work(wake), name=f"jobs-worker-{n}") for n, wake in enumerate(self._wakes)
        ]
        self._heartbeat = asyncio.create_task(self._keep_alive(), name="jobs-heartbeat")
        self._log.info("jobs.runner_started", workers=self._workers)

    async def stop(self, *, grace: float | None = None) -> None:
        """Take no more jobs, let running handlers finish, and return; queued jobs stay queued.

        With `grace`, handlers still running after that many seconds are cancelled: their jobs go back to the
        queue untried (`JobStore.release`) and their runs end as failed (`recorded_run`), so none stays running.
        """
        if not self._tasks:
            return
        self._stopping.set()
        self.wake()
        tasks, self._tasks = self._tasks, []
        try:
            _done, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                self._log.warning("jobs.stop_grace_over", grace=grace)
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=bool(late))
        finally:
            self._halted.set()  # the heartbeat ran until the last handler returned, so no job looked abandoned
            if self._heartbeat is not None:
                await self._heartbeat
                self._heartbeat = None
        self._log.info("jobs.runner_stopped")

    async def wait_idle(self, timeout: float) -> None:  # noqa: ASYNC109 - a deadline that is part of the contract
        """Return once no job is running or queued and due (by the runner's clock); `TimeoutError` after `timeout`.

        Meant for tests and one-shot commands: it looks at the store, so it sees other runners' jobs too.
        """
        async with asyncio.timeout(timeout):
            while await self._jobs.outstanding(now=self._clock(), tenants=self._tenants) > 0:
                self._settled.clear()
                with contextlib.suppress(TimeoutError):  # a local job ending sets it; others' jobs are polled for
                    await asyncio.wait_for(self._settled.wait(), IDLE_POLL)

    # --- workers ------------------------------------------------------------------------------------------------

    async def _work(self, wake: asyncio.Event) -> None:
        while not self._stopping.is_set():
            wake.clear()  # before claiming: an enqueue from here on sets it again, so no wake-up is lost
            claimed = await self._claim()
            if claimed:
                self._nudge()  # more may be waiting (another pair's, another lock's): the next idle worker looks
                with bound_contextvars(tenant=claimed[0].tenant):  # the handler's own lines name the tenant too
                    if self._batch_handler is not None and claimed[0].kind == "record":
                        await self._run_batch(claimed, self._batch_handler)
                    else:
                        await self._run(claimed[0])
                self._settled.set()
                self._nudge()  # its lock is free now: a job waiting on it may start (and nudges the next)
                continue
            self._idle.append(wake)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._poll_interval)
            finally:
                self._idle.remove(wake)

    async def _claim(self) -> list[JobRecord]:
        try:
            if self._batch_handler is None:
                scope = {} if self._tenants is None else {"tenants": self._tenants}
                job = await self._jobs.claim(worker=self.worker_id, now=self._clock(), **scope)
                return [job] if job is not None else []
            return await self._jobs.claim_batch(
                # the live set, not a copy: it is read inside the claim's transaction, after any claim that
                # was ahead of this one has started its batch (claims queue on the store's write lock)
                worker=self.worker_id,
                now=self._clock(),
                limit=self._batch_size,
                busy=self._held,
                tenants=self._tenants,
            )
        except Exception as exc:  # the database hiccuped: look again at the next poll, do not lose the worker
            self._log.warning("job.claim_failed", error=repr(exc))
            return []

    async def _released(self, ids: list[int], bound: Any) -> None:
        """The runner is stopping past its grace period: give these jobs back to the queue, untried."""
        await asyncio.shield(self._jobs.release(ids, worker=self.worker_id))
        bound.warning("job.released", reason="runner stopping")

    async def _run_batch(self, jobs: list[JobRecord], handler: BatchHandler) -> None:
        group = f"{jobs[0].tenant}:{jobs[0].pair}"
        ids = [job.job_id for job in jobs]
        bound = self._log.bind(kind="record", tenant=jobs[0].tenant, pair=jobs[0].pair, job_ids=ids)
        self._batching.add(group)
        if self._batch_gap:
            # the emptier this batch, the longer the next one waits: a full one (a storm) holds nothing back
            gap = self._batch_gap * (1 - len(jobs) / self._batch_size)
            self._started_at[group] = (self._clock(), gap)
            with contextlib.suppress(RuntimeError):  # its next batch may start then: a worker looks
                asyncio.get_running_loop().call_later(gap.total_seconds(), self._nudge)
        self._active.update(ids)
        started = time.perf_counter()
        try:
            bound.info("job.batch_started", size=len(jobs))
            try:
                await handler(jobs)
            except asyncio.CancelledError:
                await self._released(ids, bound)
                raise
            except Exception as exc:
                for job in jobs:
                    await self._settle(job, exc, bound.bind(job_id=job.job_id, attempt=job.attempts + 1))
            else:
                try:
                    lost = await self._jobs.complete_many(ids, worker=self.worker_id, now=self._clock())
                except Exception as store_exc:  # no more heartbeats for them, so they are recovered as stale
                    bound.error("job.unrecorded", error=repr(store_exc))
                else:
                    if lost:
                        bound.warning("job.lost", lost=lost, reason="requeued while running (missed heartbeats)")
                    elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                    bound.info("job.batch_done", size=len(jobs), elapsed_ms=elapsed_ms)
        finally:
            self._batching.discard(group)
            self._active.difference_update(ids)

    async def _settle(self, job: JobRecord, exc: Exception, bound: Any) -> None:
        """Record one job's failure; a job lost meanwhile (requeued as stale) or a store error is logged."""
        try:
            await self._failed(job, exc, bound)
        except JobNotRunningError:
            bound.warning("job.lost", reason="requeued while running (missed heartbeats)")
        except Exception as store_exc:  # no more heartbeats for it, so it is recovered as stale
            bound.error("job.unrecorded", error=repr(store_exc))

    async def _run(self, job: JobRecord) -> None:
        attempt = job.attempts + 1
        bound = self._log.bind(job_id=job.job_id, kind=job.kind, tenant=job.tenant, pair=job.pair, attempt=attempt)
        self._active.add(job.job_id)
        try:
            bound.info("job.started", record=job.record)
            try:
                await self._handler(job)
            except asyncio.CancelledError:
                await self._released([job.job_id], bound)
                raise
            except Exception as exc:
                await self._failed(job, exc, bound)
            else:
                await self._jobs.complete(job.job_id, worker=self.worker_id, now=self._clock())
                bound.info("job.done")
        except JobNotRunningError:
            bound.warning("job.lost", reason="requeued while running (missed heartbeats)")
        except Exception as exc:  # recording the outcome failed: no more heartbeats, so it is recovered as stale
            bound.error("job.unrecorded", error=repr(exc))
        finally:
            self._active.discard(job.job_id)

    async def _failed(self, job: JobRecord, exc: Exception, bound: Any) -> None:
        delay = self._retry(job.attempts + 1)
        retry_at = None if delay is None else self._clock() + timedelta(seconds=delay)
        error = f"{type(exc).__name__}: {exc}"
        await self._jobs.fail(job.job_id, error, retry_at=retry_at, worker=self.worker_id, now=self._clock())
        bound.warning("job.failed", error=error, retry_in=delay, gave_up=delay is None)

    # --- liveness -----------------------------------------------------------------------------------------------

    async def _keep_alive(self) -> None:
        period = self._stale_after.total_seconds() / 3
        while not self._halted.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._halted.wait(), period)
            if self._halted.is_set():
                return
            try:
                await self._jobs.heartbeat(self._active, worker=self.worker_id, now=self._clock())
                await self._recover()
            except Exception as exc:
                self._log.warning("jobs.heartbeat_failed", error=repr(exc))

    async def _recover(self) -> None:
        now = self._clock()
        requeued = await self._jobs.requeue_stale(older_than=now - self._stale_after, now=now)
        if requeued:
            self._log.warning("jobs.requeued_stale", job_ids=requeued)
            self.wake()
