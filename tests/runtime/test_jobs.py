"""The in-process job runner on SQLite and PostgreSQL: wake-ups, locks, retries, restarts, two runners at once.

No test sleeps for a fixed time: handlers meet on asyncio events (each wait bounded by a timeout) and
`wait_idle` polls the store with a deadline. PostgreSQL follows the CI rule of `tests/store/test_store.py`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
import structlog

from cwsync.runtime.jobs import InProcessRunner, JobSpec, backoff, utc_now
from cwsync.store import JobRecord, JobStore, Store
from tests.store.test_store import fresh_postgres_database
from tests.store.test_store_jobs import BACKENDS, T0, backend_url, fetch, open_job_store, put

WAIT = 5.0  # seconds any single wait in a test may take before the test fails


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """One fresh PostgreSQL database for this module (emptied per test by `open_job_store`)."""
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL of each backend."""
    return backend_url(request, tmp_path)


@pytest.fixture
async def jobs(db_url: str) -> AsyncIterator[JobStore]:
    """An empty job queue on each backend."""
    async with open_job_store(db_url) as opened:
        yield opened


@asynccontextmanager
async def started(*runners: InProcessRunner) -> AsyncIterator[None]:
    """Runners started for the block and stopped after it, whatever happens."""
    try:
        for runner in runners:
            await runner.start()
        yield
    finally:
        for runner in runners:
            await runner.stop()


def spec(record: str | None = None, *, tenant: str = "acme", pair: str = "companies") -> JobSpec:
    return JobSpec(tenant=tenant, pair=pair, kind="record" if record else "incremental", record=record)


def conflict(a: str, b: str) -> bool:
    """The lock rule, restated as the oracle the tests check against."""
    return a == b or (a.endswith("*") and b.startswith(a[:-1])) or (b.endswith("*") and a.startswith(b[:-1]))


async def queue(jobs: JobStore, job_spec: JobSpec) -> int:
    """Enqueue straight into the store, due now by the real clock (as a runner without an injected clock sees it)."""
    return await put(jobs, job_spec.to_new_job(), now=utc_now())


async def nothing(_job: JobRecord) -> None:
    """A handler with nothing to do."""


# --- values -------------------------------------------------------------------------------------------------------


def test_jobspec_lock_key_defaults_to_the_record_or_the_whole_pair() -> None:
    """No lock key given: `tenant:pair:record`, or `tenant:pair:*` without a record; a given one is kept."""
    assert spec("cw:contacts:7").effective_lock_key == "acme:companies:cw:contacts:7"
    assert spec().effective_lock_key == "acme:companies:*"
    keyed = JobSpec(tenant="acme", pair="companies", kind="full", lock_key="acme:*")
    assert keyed.to_new_job().lock_key == "acme:*"


def test_backoff_grows_up_to_the_cap_then_gives_up() -> None:
    """The retry policy maps failed attempts to delays, capped, and to None once attempts run out."""
    assert [backoff()(n) for n in range(1, 6)] == [5.0, 20.0, 80.0, 320.0, None]
    assert [backoff(base=1, factor=10, cap=50, max_attempts=4)(n) for n in range(1, 5)] == [1.0, 10.0, 50.0, None]


# --- running ------------------------------------------------------------------------------------------------------


class IdleSpy(JobStore):
    """A `JobStore` that signals each claim finding nothing (the worker goes to sleep right after)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.found_nothing = asyncio.Event()

    async def claim(self, *, worker: str, now: datetime) -> JobRecord | None:
        job = await super().claim(worker=worker, now=now)
        if job is None:
            self.found_nothing.set()
        return job


async def test_enqueue_wakes_a_sleeping_worker_at_once_and_jobs_run_in_order(jobs: JobStore) -> None:
    """With a one-minute poll interval, a worker gone to sleep still starts new jobs at once, oldest first."""
    order: list[str | None] = []

    async def handler(job: JobRecord) -> None:
        order.append(job.record)

    spy = IdleSpy(jobs.store)
    runner = InProcessRunner(spy, handler, workers=1, poll_interval=60)
    async with started(runner):
        async with asyncio.timeout(WAIT):
            await spy.found_nothing.wait()  # the worker is asleep now
        for record in ("a", "b", "c"):
            await runner.enqueue(spec(record))
        await runner.wait_idle(WAIT)
    assert order == ["a", "b", "c"]
    assert (await jobs.counts())["done"] == 3


class ClaimCounter(JobStore):
    """A `JobStore` that counts claims."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.claims = 0

    async def claim(self, *, worker: str, now: datetime) -> JobRecord | None:
        self.claims += 1
        return await super().claim(worker=worker, now=now)


async def test_a_new_job_wakes_one_idle_worker_not_all(jobs: JobStore) -> None:
    """Eight idle workers, one new job: one worker claims it and one more looks (the nudge a successful claim passes
    on), and when it ends one looks again besides the worker itself, so four claims at most, not the eight of
    waking every worker (and eight more at its end). Each claim is a write transaction."""
    ran: list[str | None] = []

    async def handler(job: JobRecord) -> None:
        ran.append(job.record)

    counter = ClaimCounter(jobs.store)
    runner = InProcessRunner(counter, handler, workers=8, poll_interval=60)
    async with started(runner):
        async with asyncio.timeout(WAIT):
            while runner.idle_workers < 8:  # noqa: ASYNC110 - polled under a deadline: all workers asleep
                await asyncio.sleep(0.01)
            before = counter.claims
            await runner.enqueue(spec("a"))
            await runner.wait_idle(WAIT)
            while runner.idle_workers < 8:  # noqa: ASYNC110 - the claims the job.s end set off are over
                await asyncio.sleep(0.01)
    assert ran == ["a"]
    assert counter.claims - before <= 4


async def test_jobs_of_one_record_never_overlap(jobs: JobStore) -> None:
    """Two workers: the second job of a record waits for the first, while another record's job runs beside it."""
    active: Counter[str] = Counter()
    overlaps: list[str] = []
    timeline: list[tuple[str, int]] = []
    other_record_started = asyncio.Event()
    first = await queue(jobs, spec("r1"))
    second = await queue(jobs, spec("r1"))
    other = await queue(jobs, spec("r2"))

    async def handler(job: JobRecord) -> None:
        if any(n and conflict(key, job.lock_key) for key, n in active.items()):
            overlaps.append(job.lock_key)
        active[job.lock_key] += 1
        timeline.append(("start", job.job_id))
        try:
            if job.job_id == other:
                other_record_started.set()
            elif job.job_id == first:
                async with asyncio.timeout(WAIT):  # the second worker must be free: it gets r2, not the second r1
                    await other_record_started.wait()
        finally:
            active[job.lock_key] -= 1
            timeline.append(("end", job.job_id))

    runner = InProcessRunner(jobs, handler, workers=2, poll_interval=0.05)
    async with started(runner):
        await runner.wait_idle(WAIT)
    assert overlaps == []
    assert timeline.index(("start", other)) < timeline.index(("end", first)) < timeline.index(("start", second))
    assert (await jobs.counts())["done"] == 3


async def test_different_pairs_and_tenants_run_at_the_same_time(jobs: JobStore) -> None:
    """Pair-wide jobs of different pairs and tenants all run at once (each waits until all three are in)."""
    arrived: list[str] = []
    all_in = asyncio.Event()

    async def handler(job: JobRecord) -> None:
        arrived.append(job.lock_key)
        if len(arrived) == 3:
            all_in.set()
        async with asyncio.timeout(WAIT):
            await all_in.wait()

    runner = InProcessRunner(jobs, handler, workers=3, poll_interval=0.05, retry=lambda _failed: None)
    async with started(runner):
        await runner.enqueue(spec(tenant="acme", pair="companies"))
        await runner.enqueue(spec(tenant="acme", pair="contacts"))
        await runner.enqueue(spec(tenant="globex", pair="companies"))
        await runner.wait_idle(WAIT)
    assert await jobs.counts() == {"queued": 0, "running": 0, "done": 3, "failed": 0}


async def test_stop_lets_running_jobs_finish_and_leaves_queued_ones(jobs: JobStore) -> None:
    """`stop` waits for the running handler, takes nothing new, and leaves the queue for the next start."""
    first_started, release = asyncio.Event(), asyncio.Event()
    handled: list[int] = []

    async def handler(job: JobRecord) -> None:
        first_started.set()
        async with asyncio.timeout(WAIT):
            await release.wait()
        handled.append(job.job_id)

    runner = InProcessRunner(jobs, handler, workers=1, poll_interval=0.05)
    await runner.start()
    first = await runner.enqueue(spec("r1"))
    second = await runner.enqueue(spec("r2"))
    async with asyncio.timeout(WAIT):
        await first_started.wait()
    stopping = asyncio.create_task(runner.stop())
    await asyncio.sleep(0)  # one turn of the loop: `stop` runs up to waiting for the workers
    assert not runner.running  # so no new claims from here on
    release.set()
    await stopping
    assert handled == [first]
    assert second is not None
    assert (await fetch(jobs, second)).status == "queued"


async def test_wait_idle_times_out_while_a_due_job_waits(jobs: JobStore) -> None:
    """`wait_idle` raises `TimeoutError` when a due job is still outstanding at the deadline."""
    runner = InProcessRunner(jobs, nothing)
    await runner.enqueue(spec("r1"))
    with pytest.raises(TimeoutError):
        await runner.wait_idle(0.1)


# --- failures -----------------------------------------------------------------------------------------------------


async def test_failed_job_is_retried_after_the_policy_delay_on_the_clock(jobs: JobStore) -> None:
    """A raising handler fails the attempt; the job runs again only once the clock reaches the backoff delay."""
    clock = FakeClock()
    attempts_seen: list[int] = []

    async def handler(job: JobRecord) -> None:
        attempts_seen.append(job.attempts)
        if job.attempts < 2:
            raise RuntimeError(f"boom {job.attempts}")

    runner = InProcessRunner(
        jobs, handler, workers=1, clock=clock, poll_interval=0.05, retry=backoff(base=10, factor=2)
    )
    async with started(runner):
        job_id = await runner.enqueue(spec("r1"))
        assert job_id is not None
        await runner.wait_idle(WAIT)
        job = await fetch(jobs, job_id)
        assert (job.status, job.attempts, job.error, job.run_after) == (
            "queued",
            1,
            "RuntimeError: boom 0",
            T0 + timedelta(seconds=10),
        )
        clock.advance(9.9)
        runner.wake()
        await runner.wait_idle(WAIT)
        assert attempts_seen == [0]  # not due yet
        clock.advance(0.1)
        runner.wake()
        await runner.wait_idle(WAIT)
        assert (await fetch(jobs, job_id)).run_after == T0 + timedelta(seconds=10 + 20)
        clock.advance(20)
        runner.wake()
        await runner.wait_idle(WAIT)
    assert attempts_seen == [0, 1, 2]
    assert (await fetch(jobs, job_id)).status == "done"


async def test_a_policy_that_gives_up_fails_the_job_for_good(jobs: JobStore) -> None:
    """When the retry policy answers None, the job ends `failed` with the handler's error."""

    async def handler(_job: JobRecord) -> None:
        raise ValueError("bad record")

    runner = InProcessRunner(jobs, handler, workers=1, poll_interval=0.05, retry=lambda _failed: None)
    async with started(runner):
        job_id = await runner.enqueue(spec("r1"))
        assert job_id is not None
        await runner.wait_idle(WAIT)
    job = await fetch(jobs, job_id)
    assert (job.status, job.attempts, job.error) == ("failed", 1, "ValueError: bad record")


async def test_events_name_the_job_kind_pair_and_attempt(jobs: JobStore) -> None:
    """`job.started`, `job.failed` and `job.done` are logged with job id, kind, pair and attempt number."""
    calls: list[int] = []

    async def handler(_job: JobRecord) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("flaky")

    with structlog.testing.capture_logs() as logs:
        runner = InProcessRunner(jobs, handler, workers=1, poll_interval=0.05, retry=lambda _failed: 0.0)
        async with started(runner):
            job_id = await runner.enqueue(spec("r1"))
            await runner.wait_idle(WAIT)
    events = [
        (e["event"], e["job_id"], e["kind"], e["pair"], e["attempt"]) for e in logs if e["event"].startswith("job.")
    ]
    assert events == [
        ("job.started", job_id, "record", "companies", 1),
        ("job.failed", job_id, "record", "companies", 1),
        ("job.started", job_id, "record", "companies", 2),
        ("job.done", job_id, "record", "companies", 2),
    ]
    failed = next(e for e in logs if e["event"] == "job.failed")
    assert (failed["error"], failed["retry_in"], failed["gave_up"]) == ("RuntimeError: flaky", 0.0, False)


# --- restarts and several runners ---------------------------------------------------------------------------------


async def test_restart_mid_queue_resumes_the_abandoned_job_and_the_rest(jobs: JobStore) -> None:
    """A job left running by a dead runner is requeued when a new runner starts, and runs first, with the rest."""
    clock = FakeClock()
    dead = InProcessRunner(jobs, nothing, clock=clock, worker_id="runner-a")
    abandoned = await dead.enqueue(spec("r1"))
    queued = await dead.enqueue(spec("r2"))
    claimed = await jobs.claim(worker="runner-a", now=clock())  # runner A took it ... and died
    assert claimed is not None
    assert claimed.job_id == abandoned
    clock.advance(31)
    handled: list[int] = []

    async def handler(job: JobRecord) -> None:
        handled.append(job.job_id)

    fresh = InProcessRunner(jobs, handler, workers=1, clock=clock, worker_id="runner-b", stale_after=30)
    async with started(fresh):
        await fresh.wait_idle(WAIT)
    assert handled == [abandoned, queued]
    assert abandoned is not None
    job = await fetch(jobs, abandoned)
    assert (job.status, job.worker, job.attempts) == ("done", "runner-b", 1)


async def test_live_runner_takes_over_a_job_once_its_runner_stops_heartbeating(jobs: JobStore) -> None:
    """A running job is left alone while its heartbeat is fresh and taken over once it is older than `stale_after`."""
    clock = FakeClock()
    taken = await put(jobs, spec("r1").to_new_job(), now=clock())
    await jobs.claim(worker="runner-a", now=clock())
    handled: list[int] = []
    first_done = asyncio.Event()

    async def handler(job: JobRecord) -> None:
        handled.append(job.job_id)
        first_done.set()

    live = InProcessRunner(jobs, handler, workers=1, clock=clock, poll_interval=0.05, stale_after=0.3)
    async with started(live):
        other = await live.enqueue(spec("r2"))
        async with asyncio.timeout(WAIT):
            await first_done.wait()
        still = await fetch(jobs, taken)
        assert (handled, still.status, still.worker) == ([other], "running", "runner-a")
        clock.advance(1)  # runner A's last heartbeat is now older than 0.3 s; the heartbeat loop notices
        await live.wait_idle(WAIT)
    assert handled == [other, taken]


STALE = 1.0


async def test_heartbeats_keep_a_long_job_from_being_taken_as_abandoned(jobs: JobStore) -> None:
    """A job running longer than `stale_after` keeps its claim: the runner stamps it alive while it runs."""

    async def handler(job: JobRecord) -> None:
        assert job.started_at is not None
        async with asyncio.timeout(WAIT):
            while True:  # run until the heartbeat has moved twice the stale bound past the start
                heartbeat = (await fetch(jobs, job.job_id)).heartbeat_at
                if heartbeat is not None and heartbeat - job.started_at > timedelta(seconds=2 * STALE):
                    return
                await asyncio.sleep(0.02)

    # A stale bound of a second: a test process shares 2 cores with others (`pytest -n`), and a tighter one was
    # missed by a stalled loop (the job requeued while it ran, the very thing the heartbeat prevents otherwise).
    runner = InProcessRunner(jobs, handler, workers=1, poll_interval=0.05, stale_after=STALE)
    async with started(runner):
        job_id = await runner.enqueue(spec("r1"))
        assert job_id is not None
        await runner.wait_idle(WAIT)
    job = await fetch(jobs, job_id)
    assert (job.status, job.attempts) == ("done", 0)


async def test_two_runners_on_one_database_never_double_run_a_job(db_url: str, jobs: JobStore) -> None:
    """Two runners with their own engines share one queue: every job runs once, locks hold, and both take part."""
    runs: Counter[int] = Counter()
    active: Counter[str] = Counter()
    overlaps: list[str] = []
    workers_seen: set[str | None] = set()
    both_in = asyncio.Event()

    async def handler(job: JobRecord) -> None:
        runs[job.job_id] += 1
        if any(n and conflict(key, job.lock_key) for key, n in active.items()):
            overlaps.append(job.lock_key)
        active[job.lock_key] += 1
        workers_seen.add(job.worker)
        if len(workers_seen) == 2:
            both_in.set()
        try:
            async with asyncio.timeout(WAIT):  # hold the first jobs until the other runner has one too
                await both_in.wait()
            await asyncio.sleep(0)  # let other handlers interleave
        finally:
            active[job.lock_key] -= 1

    expected: list[int] = []
    for n in range(40):
        expected.append(await queue(jobs, spec(f"r{n % 8}", pair=f"p{n // 8 % 2}")))
    for pair in ("p0", "p1", "p0", "p1"):
        expected.append(await queue(jobs, spec(pair=pair)))
    other_store = await Store.open(db_url)
    try:
        first = InProcessRunner(jobs, handler, workers=4, poll_interval=0.01, worker_id="one")
        second = InProcessRunner(JobStore(other_store), handler, workers=4, poll_interval=0.01, worker_id="two")
        async with started(first, second):
            await first.wait_idle(WAIT * 2)
    finally:
        await other_store.close()
    assert overlaps == []
    assert runs == Counter(dict.fromkeys(expected, 1))
    assert workers_seen == {"one", "two"}
    assert (await jobs.counts())["done"] == len(expected)


# --- batches ------------------------------------------------------------------------------------------------------


async def test_record_jobs_arriving_during_a_batch_form_the_next_batch(jobs: JobStore) -> None:
    """While a pair's batch runs, its new record jobs wait (even with idle workers) and then run together."""
    batches: list[list[str | None]] = []
    singles: list[str] = []
    release = asyncio.Event()
    entered = asyncio.Event()
    single_ran = asyncio.Event()

    async def batch_handler(claimed: list[JobRecord]) -> None:
        batches.append([j.record for j in claimed])
        entered.set()
        if len(batches) == 1:
            async with asyncio.timeout(WAIT):
                await release.wait()

    async def handler(job: JobRecord) -> None:
        singles.append(job.kind)
        single_ran.set()

    runner = InProcessRunner(jobs, handler, workers=4, batch_handler=batch_handler, batch_size=50)
    async with started(runner):
        await runner.enqueue(spec("r0"))
        async with asyncio.timeout(WAIT):
            await entered.wait()
        for n in range(1, 6):
            await runner.enqueue(spec(f"r{n}"))
        await runner.enqueue(spec(pair="contacts"))  # another pair's pair-wide job is not held up
        async with asyncio.timeout(WAIT):
            await single_ran.wait()
        assert len(batches) == 1  # three idle workers, five waiting record jobs: none started a batch
        release.set()
        await runner.wait_idle(WAIT)
    assert batches == [["r0"], ["r1", "r2", "r3", "r4", "r5"]]
    assert singles == ["incremental"]
    assert (await jobs.counts())["done"] == 7


async def test_a_pairs_next_batch_waits_for_the_batch_gap(jobs: JobStore) -> None:
    """With `batch_gap`, record jobs that arrive after a pair's batch ended still wait until the gap since its start
    is over (by the runner's clock), then run as one batch; another pair's jobs are not held."""
    batches: list[list[str | None]] = []
    clock = FakeClock()

    async def batch_handler(claimed: list[JobRecord]) -> None:
        batches.append([j.record for j in claimed])

    runner = InProcessRunner(
        jobs, nothing, workers=3, batch_handler=batch_handler, batch_gap=60, clock=clock, poll_interval=60
    )
    async with started(runner):
        await runner.enqueue(spec("a"))
        await runner.wait_idle(WAIT)
        await runner.enqueue(spec("b"))
        await runner.enqueue(spec("c"))
        await runner.enqueue(spec("x", pair="contacts"))
        runner.wake()
        async with asyncio.timeout(WAIT):
            while len(batches) < 2 or runner.idle_workers < 3:  # noqa: ASYNC110 - polled under a deadline
                await asyncio.sleep(0.01)
        assert batches == [["a"], ["x"]]  # b and c wait: the gap since a's batch started is not over
        clock.advance(60)
        runner.wake()
        await runner.wait_idle(WAIT)
    assert batches == [["a"], ["x"], ["b", "c"]]


async def test_a_failed_batch_fails_each_of_its_jobs_for_a_retry(jobs: JobStore) -> None:
    """A batch handler that raises fails every job of the batch; each is retried on its own schedule."""
    clock = FakeClock()

    async def batch_handler(claimed: list[JobRecord]) -> None:
        raise RuntimeError("HubSpot is down")

    runner = InProcessRunner(jobs, nothing, workers=1, clock=clock, batch_handler=batch_handler, retry=backoff())
    ids = [await runner.enqueue(spec(f"r{n}")) for n in range(3)]
    async with started(runner):
        await runner.wait_idle(WAIT)
    for job_id in ids:
        assert job_id is not None
        job = await fetch(jobs, job_id)
        assert (job.status, job.attempts, job.error) == ("queued", 1, "RuntimeError: HubSpot is down")
        assert job.run_after == T0 + timedelta(seconds=5)
