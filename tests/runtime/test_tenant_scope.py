"""The job queue scoped by tenant (SQLite and PostgreSQL), giving jobs back, and the cron form of a period."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from cwsync.runtime.scheduler import Schedule, cron_of
from cwsync.store import JobStore
from cwsync.store.jobs import CLAIM_LOCK_KEY, TENANT_CLAIM_SPACE
from tests.store.test_store_jobs import BACKENDS, backend_url, new_job, open_job_store, postgres_url  # noqa: F401

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL of each backend."""
    return backend_url(request, tmp_path)


@pytest.fixture
async def jobs(db_url: str) -> AsyncIterator[JobStore]:
    """An empty job queue on each backend."""
    async with open_job_store(db_url) as opened:
        yield opened


async def test_a_claim_for_one_tenant_never_takes_anothers(jobs: JobStore) -> None:
    """The older job of beta waits; acme's runner takes acme's; outstanding counts per tenant."""
    await jobs.enqueue(new_job("connectwise:companies:1", tenant="beta"), now=T0)
    acme = await jobs.enqueue(new_job("connectwise:companies:1", tenant="acme"), now=T0)
    claimed = await jobs.claim_batch(worker="w", now=T0, limit=10, tenants=["acme"])
    assert [job.job_id for job in claimed] == [acme]
    assert await jobs.claim_batch(worker="w", now=T0, limit=10, tenants=["acme"]) == []
    assert await jobs.outstanding(now=T0, tenants=["beta"]) == 1
    assert await jobs.tenants_with_due(now=T0) == ["beta"]


async def test_release_gives_jobs_back_untried_and_requeue_is_per_tenant(jobs: JobStore) -> None:
    """A released job is queued again with no attempt counted; requeueing acme's running jobs leaves beta's."""
    first = await jobs.enqueue(new_job("connectwise:companies:1"), now=T0)
    await jobs.enqueue(new_job("connectwise:companies:2", tenant="beta"), now=T0)
    [taken] = await jobs.claim_batch(worker="w", now=T0, limit=1, tenants=["acme"])
    await jobs.release([taken.job_id], worker="w", now=T0)
    released = await jobs.get(first)
    assert released is not None
    assert (released.status, released.attempts) == ("queued", 0)
    await jobs.claim_batch(worker="w", now=T0, limit=1, tenants=["acme"])
    await jobs.claim_batch(worker="w", now=T0, limit=1, tenants=["beta"])
    requeued = await jobs.requeue_stale(older_than=T0 + timedelta(days=1), now=T0, tenants=["acme"])
    assert requeued == [first]
    assert (await jobs.counts())["running"] == 1  # beta's


@pytest.mark.parametrize(
    ("seconds", "cron"),
    [
        (5, "* * * * * */5"),
        (45, "* * * * * */30"),
        (60, "* * * * *"),
        (300, "*/5 * * * *"),
        (420, "*/6 * * * *"),
        (6 * 3600, "0 */6 * * *"),
        (86400, "0 0 * * *"),
    ],
)
def test_cron_of_a_period(seconds: int, cron: str) -> None:
    """A period runs on the largest cron step of its unit that divides the unit and is no longer than it."""
    assert cron_of(seconds) == cron


def test_cron_slots_match_the_schedules_slots() -> None:
    """For a period that divides its unit, the cron ticks are the in-process scheduler's slots."""
    import croniter

    schedule = Schedule(tenant="a", pair="companies", kind="incremental", every_seconds=300)
    ticks = croniter.croniter(cron_of(300), T0 + timedelta(seconds=1)).get_next(datetime)
    assert ticks == schedule.next_slot(T0 + timedelta(seconds=1))


async def test_claims_of_different_tenants_do_not_wait_for_each_other(jobs: JobStore) -> None:
    """PostgreSQL: while a claim of acme holds acme's claim lock, a claim of beta goes through; another claim of
    acme, and a claim over every tenant, wait for it."""
    if jobs.store.dialect != "postgresql":
        pytest.skip("SQLite claims queue on the database's one write lock")
    await jobs.enqueue(new_job("connectwise:companies:1", tenant="acme"), now=T0)
    beta = await jobs.enqueue(new_job("connectwise:companies:1", tenant="beta"), now=T0)
    async with jobs.store._connect(write=True) as conn, conn.begin():  # acme's claim, in progress
        await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": CLAIM_LOCK_KEY})
        lock = "SELECT pg_advisory_xact_lock(:s, hashtext('acme'))"
        await conn.execute(text(lock), {"s": TENANT_CLAIM_SPACE})
        claimed = await asyncio.wait_for(jobs.claim_batch(worker="w", now=T0, limit=10, tenants=["beta"]), 10)
        assert [job.job_id for job in claimed] == [beta]
        for waiting in (
            jobs.claim_batch(worker="w", now=T0, limit=10, tenants=["acme"]),
            jobs.claim_batch(worker="w", now=T0, limit=10),
        ):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(waiting, 0.5)
