"""The job queue in the store (`JobStore`) on SQLite and PostgreSQL: coalescing, the lock rule, retries, recovery.

PostgreSQL follows the rule of `test_store.py`: skipped when unreachable, a failure in CI (`CI=true`).
The helpers `backend_url` and `open_job_store` are shared with the runtime tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from alembic import command
from sqlalchemy import text

from cwsync.store import JobNotRunningError, JobRecord, JobStore, NewJob, Store, async_url
from cwsync.store.store import alembic_config, create_engine
from tests.store.test_store import fresh_postgres_database

BACKENDS = ("sqlite", "postgresql")
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new SQLite file, or the module's PostgreSQL database (fixture `postgres_url`), by `request.param`.

    Call it from a sync fixture: setting up the async module fixture is refused inside a running event loop.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@asynccontextmanager
async def open_job_store(url: str) -> AsyncIterator[JobStore]:
    """A migrated store at `url` with an empty `jobs` table, closed afterwards."""
    store = await Store.open(url)
    try:
        if store.dialect == "postgresql":
            engine = create_engine(async_url(url))
            async with engine.begin() as conn:
                await conn.execute(text("TRUNCATE jobs RESTART IDENTITY"))
            await engine.dispose()
        yield JobStore(store)
    finally:
        await store.close()


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


def new_job(record: str | None = None, *, tenant: str = "acme", pair: str = "companies", **overrides: Any) -> NewJob:
    """A job with the runtime's default lock key: `tenant:pair:record`, or `tenant:pair:*` without a record."""
    values: dict[str, Any] = {
        "tenant": tenant,
        "pair": pair,
        "kind": "record" if record else "incremental",
        "record": record,
        "lock_key": f"{tenant}:{pair}:{record or '*'}",
    }
    return NewJob(**(values | overrides))


async def put(jobs: JobStore, job: NewJob, *, now: datetime = T0) -> int:
    """Enqueue a job that must not be coalesced; its id."""
    job_id = await jobs.enqueue(job, now=now)
    assert job_id is not None, "unexpectedly coalesced"
    return job_id


async def fetch(jobs: JobStore, job_id: int) -> JobRecord:
    """The job with this id, which must exist."""
    job = await jobs.get(job_id)
    assert job is not None, f"no job {job_id}"
    return job


async def claim_all(jobs: JobStore, *, now: datetime = T0, worker: str = "w1") -> list[JobRecord]:
    """Claim until nothing more may start; the claimed jobs in claim order."""
    claimed: list[JobRecord] = []
    while (job := await jobs.claim(worker=worker, now=now)) is not None:
        claimed.append(job)
    return claimed


def ids(records: list[JobRecord]) -> list[int]:
    return [r.job_id for r in records]


# --- enqueue, claim, complete -------------------------------------------------------------------------------------


async def test_enqueue_claim_complete_oldest_first_with_all_fields(jobs: JobStore) -> None:
    """Jobs are claimed oldest first, carry what was enqueued plus the claim, and end `done`."""
    first = await put(jobs, new_job("connectwise:contacts:1", payload={"ids": [1]}))
    second = await put(jobs, new_job(pair="contacts"), now=T0 + timedelta(seconds=1))
    job = await jobs.claim(worker="w1", now=T0 + timedelta(seconds=2))
    assert job is not None
    assert (job.job_id, job.status, job.worker, job.attempts) == (first, "running", "w1", 0)
    assert (job.kind, job.record, job.lock_key, job.payload) == (
        "record",
        "connectwise:contacts:1",
        "acme:companies:connectwise:contacts:1",
        {"ids": [1]},
    )
    assert (job.created_at, job.run_after, job.started_at) == (T0, T0, T0 + timedelta(seconds=2))
    await jobs.complete(first, worker="w1", now=T0 + timedelta(seconds=3))
    done = await fetch(jobs, first)
    assert (done.status, done.finished_at) == ("done", T0 + timedelta(seconds=3))
    assert ids(await claim_all(jobs, now=T0 + timedelta(seconds=4))) == [second]


async def test_claim_waits_for_run_after(jobs: JobStore) -> None:
    """A job is not claimed before its `run_after`, and is from then on."""
    await jobs.enqueue(new_job(run_after=T0 + timedelta(minutes=5)), now=T0)
    assert await jobs.claim(worker="w1", now=T0 + timedelta(minutes=4)) is None
    assert await jobs.claim(worker="w1", now=T0 + timedelta(minutes=5)) is not None


async def test_queueing_key_coalesces_while_queued_only(jobs: JobStore) -> None:
    """A second enqueue with a waiting job's queueing key is absorbed; once that job runs, a new one may queue."""
    first = await put(jobs, new_job("r1", queueing_key="cb:r1"))
    assert first is not None
    assert await jobs.enqueue(new_job("r1", queueing_key="cb:r1"), now=T0) is None
    assert await jobs.enqueue(new_job("r2", queueing_key="cb:r2"), now=T0) is not None
    assert (await jobs.counts())["queued"] == 2
    assert (await jobs.claim(worker="w1", now=T0)) is not None
    behind = await put(jobs, new_job("r1", queueing_key="cb:r1"))
    assert behind != first
    assert await jobs.enqueue(new_job("r1", queueing_key="cb:r1"), now=T0) is None
    assert await jobs.counts() == {"queued": 2, "running": 1, "done": 0, "failed": 0}


# --- the lock rule ------------------------------------------------------------------------------------------------


async def test_one_job_per_lock_key_at_a_time(jobs: JobStore) -> None:
    """Two jobs of one record never run at once: the second is claimable only after the first ends."""
    first = await put(jobs, new_job("r1"))
    second = await put(jobs, new_job("r1"))
    assert ids(await claim_all(jobs)) == [first]
    await jobs.complete(first)
    assert ids(await claim_all(jobs)) == [second]


async def test_pair_wide_job_and_record_jobs_of_its_pair_exclude_each_other(jobs: JobStore) -> None:
    """`tenant:pair:*` never runs beside a record job of that pair (either way round); other pairs are free."""
    record = await put(jobs, new_job("r1"))
    pair_job = await put(jobs, new_job())
    other_pair = await put(jobs, new_job(pair="contacts"))
    other_tenant = await put(jobs, new_job("r1", tenant="globex"))
    assert ids(await claim_all(jobs)) == [record, other_pair, other_tenant]
    await jobs.complete(record)
    assert ids(await claim_all(jobs)) == [pair_job]
    late_record = await put(jobs, new_job("r2"))
    assert await claim_all(jobs) == []
    await jobs.complete(pair_job)
    assert ids(await claim_all(jobs)) == [late_record]


async def test_due_job_blocked_by_a_lock_keeps_its_place_in_line(jobs: JobStore) -> None:
    """Younger jobs that conflict with an older due job wait behind it, so a pair-wide job is not starved."""
    running = await put(jobs, new_job("r1"))
    assert ids(await claim_all(jobs)) == [running]
    pair_job = await put(jobs, new_job())
    younger_record = await put(jobs, new_job("r2"))
    elsewhere = await put(jobs, new_job("r2", pair="contacts"))
    assert ids(await claim_all(jobs)) == [elsewhere]
    await jobs.complete(running)
    assert ids(await claim_all(jobs)) == [pair_job]
    await jobs.complete(pair_job)
    assert ids(await claim_all(jobs)) == [younger_record]


async def test_job_waiting_for_a_retry_holds_no_place_in_line(jobs: JobStore) -> None:
    """A pair-wide job backing off until later does not stop the pair's record jobs meanwhile."""
    pair_job = await put(jobs, new_job())
    await claim_all(jobs)
    await jobs.fail(pair_job, "boom", retry_at=T0 + timedelta(minutes=10), now=T0)
    record = await put(jobs, new_job("r1"))
    assert ids(await claim_all(jobs)) == [record]


async def test_a_lone_star_locks_everything(jobs: JobStore) -> None:
    """The lock key `*` covers every key: nothing else runs beside it."""
    global_job = await put(jobs, new_job(lock_key="*"))
    await jobs.enqueue(new_job("r1", tenant="globex"), now=T0)
    assert ids(await claim_all(jobs)) == [global_job]


async def test_concurrent_claimers_on_two_engines_never_share_a_job_or_a_lock(db_url: str, jobs: JobStore) -> None:
    """Many simultaneous claims from two stores: each job is claimed once, and no two claimed jobs conflict."""
    for n in range(24):
        await jobs.enqueue(new_job(f"r{n % 6}", pair=f"p{n // 6 % 2}"), now=T0)
    other_store = await Store.open(db_url)
    other = JobStore(other_store)
    try:
        claims = await asyncio.gather(*(q.claim(worker=f"w{n}", now=T0) for n, q in enumerate([jobs, other] * 10)))
    finally:
        await other_store.close()
    claimed = [job for job in claims if job is not None]
    assert len(claimed) == 12  # 2 pairs x 6 records, each lock once
    assert len({job.job_id for job in claimed}) == len(claimed)
    assert len({job.lock_key for job in claimed}) == len(claimed)


# --- failure, retry, recovery -------------------------------------------------------------------------------------


async def test_fail_with_retry_requeues_and_without_retry_fails_for_good(jobs: JobStore) -> None:
    """`fail` counts the attempt, keeps the error, and either requeues at `retry_at` or ends the job `failed`."""
    job_id = await put(jobs, new_job("r1"))
    await claim_all(jobs)
    await jobs.fail(job_id, "RuntimeError: boom", retry_at=T0 + timedelta(seconds=30), worker="w1", now=T0)
    job = await fetch(jobs, job_id)
    assert (job.status, job.attempts, job.error, job.run_after, job.worker) == (
        "queued",
        1,
        "RuntimeError: boom",
        T0 + timedelta(seconds=30),
        None,
    )
    assert await jobs.claim(worker="w1", now=T0 + timedelta(seconds=29)) is None
    assert ids(await claim_all(jobs, now=T0 + timedelta(seconds=30))) == [job_id]
    await jobs.fail(job_id, "RuntimeError: again", retry_at=None)
    job = await fetch(jobs, job_id)
    assert (job.status, job.attempts, job.error) == ("failed", 2, "RuntimeError: again")


async def test_retry_is_left_to_a_newer_queued_job_with_the_same_queueing_key(jobs: JobStore) -> None:
    """A failing job whose queueing key a newer job already waits under ends failed, pointing at that job."""
    running = await put(jobs, new_job("r1", queueing_key="cb:r1"))
    await claim_all(jobs)
    waiting = await put(jobs, new_job("r1", queueing_key="cb:r1"))
    await jobs.fail(running, "boom", retry_at=T0 + timedelta(seconds=5))
    job = await fetch(jobs, running)
    assert (job.status, job.error) == ("failed", f"boom; its retry is left to queued job {waiting}")
    assert ids(await jobs.list(status="queued")) == [waiting]


async def test_complete_and_fail_refuse_a_job_the_worker_does_not_hold(jobs: JobStore) -> None:
    """Only a running job can end, and with `worker` only under that worker."""
    job_id = await put(jobs, new_job("r1"))
    with pytest.raises(JobNotRunningError):
        await jobs.complete(job_id)
    await claim_all(jobs, worker="w1")
    with pytest.raises(JobNotRunningError, match="under w2"):
        await jobs.complete(job_id, worker="w2")
    with pytest.raises(JobNotRunningError):
        await jobs.fail(job_id, "boom", retry_at=None, worker="w2")
    with pytest.raises(JobNotRunningError):
        await jobs.complete(job_id + 100)
    await jobs.complete(job_id, worker="w1")


async def test_requeue_stale_goes_by_the_last_heartbeat(jobs: JobStore) -> None:
    """Running jobs not stamped alive since the bound go back to the queue; the lost attempt counts."""
    first = await put(jobs, new_job("r1", queueing_key="cb:r1"))
    second = await put(jobs, new_job("r2"))
    await claim_all(jobs, worker="dead")
    newer = await jobs.enqueue(new_job("r1", queueing_key="cb:r1"), now=T0)  # may wait: the first one runs
    assert await jobs.requeue_stale(older_than=T0) == []
    assert await jobs.heartbeat([first, second, 999], worker="dead", now=T0 + timedelta(seconds=20)) == 2
    assert await jobs.heartbeat([first], worker="other", now=T0 + timedelta(seconds=40)) == 0
    assert await jobs.requeue_stale(older_than=T0 + timedelta(seconds=10)) == []
    stale = await jobs.requeue_stale(older_than=T0 + timedelta(seconds=30), now=T0 + timedelta(seconds=31))
    assert stale == [first, second]
    by_id = {job.job_id: job for job in await jobs.list()}
    assert (by_id[second].status, by_id[second].attempts, by_id[second].error, by_id[second].run_after) == (
        "queued",
        1,
        "abandoned by worker dead",
        T0 + timedelta(seconds=31),
    )
    assert (by_id[first].status, by_id[first].error) == (
        "failed",
        f"abandoned by worker dead; its retry is left to queued job {newer}",
    )


async def test_counts_list_and_outstanding(jobs: JobStore) -> None:
    """Counts cover every status; `list` is newest first; `outstanding` counts running and due queued jobs."""
    assert await jobs.counts() == {"queued": 0, "running": 0, "done": 0, "failed": 0}
    done = await put(jobs, new_job("r1"))
    running = await put(jobs, new_job("r2"))
    later = await put(jobs, new_job("r3", run_after=T0 + timedelta(hours=1)))
    await claim_all(jobs)
    await jobs.complete(done)
    assert await jobs.counts() == {"queued": 1, "running": 1, "done": 1, "failed": 0}
    assert ids(await jobs.list()) == [later, running, done]
    assert ids(await jobs.list(status="running", limit=5)) == [running]
    assert ids(await jobs.list(limit=1)) == [later]
    assert await jobs.outstanding(now=T0) == 1
    assert await jobs.outstanding(now=T0 + timedelta(hours=1)) == 2
    assert await jobs.get(12345) is None


async def test_naive_datetimes_are_refused(jobs: JobStore) -> None:
    """Like the rest of the store, the queue takes only timezone-aware times."""
    with pytest.raises(ValueError, match="timezone-aware"):
        new_job(run_after=datetime(2030, 1, 1))
    job_id = await put(jobs, new_job())
    await claim_all(jobs)
    with pytest.raises(ValueError, match="timezone-aware"):
        await jobs.fail(job_id, "boom", retry_at=datetime(2030, 1, 1))


# --- schema -------------------------------------------------------------------------------------------------------


def test_migration_0002_downgrades_to_0001_and_back(db_url: str) -> None:
    """Downgrading to 0001 drops `jobs` (nothing else); upgrading brings it back."""

    def tables() -> set[str]:
        async def names() -> set[str]:
            engine = create_engine(async_url(db_url))
            async with engine.connect() as conn:
                found = await conn.run_sync(lambda sync: sync.dialect.get_table_names(sync))
            await engine.dispose()
            return set(found)

        return asyncio.run(names())

    config = alembic_config(url=db_url)
    command.upgrade(config, "head")
    assert {"jobs", "links", "runs"} <= tables()
    command.downgrade(config, "0001")
    assert tables() >= {"links", "runs"}
    assert "jobs" not in tables()
    command.upgrade(config, "head")
    assert "jobs" in tables()


# --- batches of record jobs ---------------------------------------------------------------------------------------


async def test_claim_batch_takes_the_waiting_record_jobs_of_one_pair_in_queue_order(jobs: JobStore) -> None:
    """The oldest claimable record job comes with the next record jobs of its tenant and pair, up to the limit."""
    a1 = await put(jobs, new_job("cw:companies:1"))
    b1 = await put(jobs, new_job("cw:contacts:1", pair="contacts"))
    a2 = await put(jobs, new_job("cw:companies:2"))
    other_tenant = await put(jobs, new_job("cw:companies:3", tenant="zeta"))
    a3 = await put(jobs, new_job("cw:companies:4"))
    a4 = await put(jobs, new_job("cw:companies:5"))

    first = await jobs.claim_batch(worker="w1", now=T0, limit=3)
    assert [j.job_id for j in first] == [a1, a2, a3]
    assert {(await fetch(jobs, i)).status for i in (a1, a2, a3)} == {"running"}
    second = await jobs.claim_batch(worker="w1", now=T0, limit=3)
    assert [j.job_id for j in second] == [b1]  # the next oldest is another pair: its own batch
    third = await jobs.claim_batch(worker="w1", now=T0, limit=3)
    assert [j.job_id for j in third] == [other_tenant]
    assert [j.job_id for j in await jobs.claim_batch(worker="w1", now=T0, limit=3)] == [a4]
    assert await jobs.claim_batch(worker="w1", now=T0, limit=3) == []


async def test_claim_batch_passes_over_busy_pairs_and_keeps_pair_jobs_alone(jobs: JobStore) -> None:
    """A busy pair's record jobs are left for later; a pair-wide job runs alone and blocks younger record jobs."""
    r1 = await put(jobs, new_job("cw:companies:1"))
    contacts = await put(jobs, new_job("cw:contacts:9", pair="contacts"))
    whole = await put(jobs, new_job(None))  # acme:companies:* (incremental)
    r2 = await put(jobs, new_job("cw:companies:2"))

    busy = await jobs.claim_batch(worker="w1", now=T0, limit=10, busy={"acme:companies"})
    assert [j.job_id for j in busy] == [contacts]
    batch = await jobs.claim_batch(worker="w1", now=T0, limit=10)
    assert [j.job_id for j in batch] == [r1]  # r2 waits behind the pair-wide job queued before it
    assert await jobs.claim_batch(worker="w1", now=T0, limit=10) == []  # the pair-wide job waits for r1
    await jobs.complete(r1, worker="w1", now=T0)
    assert [j.job_id for j in await jobs.claim_batch(worker="w1", now=T0, limit=10)] == [whole]
    await jobs.complete(whole, worker="w1", now=T0)
    assert [j.job_id for j in await jobs.claim_batch(worker="w1", now=T0, limit=10)] == [r2]


async def test_claim_batch_skips_record_jobs_whose_lock_is_held(jobs: JobStore) -> None:
    """A record already running is not taken again in a batch; the others of its pair are."""
    first = await put(jobs, new_job("cw:companies:1"))
    assert [j.job_id for j in await jobs.claim_batch(worker="w1", now=T0, limit=10)] == [first]
    again = await put(jobs, new_job("cw:companies:1"))
    other = await put(jobs, new_job("cw:companies:2"))
    assert [j.job_id for j in await jobs.claim_batch(worker="w2", now=T0, limit=10)] == [other]
    await jobs.complete(first, worker="w1", now=T0)
    assert [j.job_id for j in await jobs.claim_batch(worker="w2", now=T0, limit=10)] == [again]
