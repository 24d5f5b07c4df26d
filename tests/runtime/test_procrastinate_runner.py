"""The procrastinate runner on real PostgreSQL: drains per tenant, batches, one tick per slot, released on stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from cwsync.runtime.jobs import JobSpec
from cwsync.runtime.procrastinate_runner import ProcrastinateRunner, apply_schema
from cwsync.store import JobRecord, JobStore, Store
from tests.store.test_store import fresh_postgres_database


class Recorder:
    """A tenant's job runner that notes what it ran (and can be held to simulate a long job)."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.batches: list[list[str]] = []
        self.jobs: list[str] = []
        self.hold: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def handle(self, job: JobRecord) -> None:
        assert job.tenant == self.tenant
        self.jobs.append(job.pair)

    async def handle_records(self, jobs: list[JobRecord]) -> None:
        assert {job.tenant for job in jobs} == {self.tenant}
        self.entered.set()
        if self.hold is not None:
            await self.hold.wait()
        self.batches.append([str(job.record) for job in jobs])


@pytest.fixture
async def jobs() -> AsyncIterator[JobStore]:
    """A JobStore on a fresh PostgreSQL database with procrastinate's schema."""
    async with fresh_postgres_database() as url:
        store = await Store.open(url)
        try:
            store_jobs = JobStore(store)
            assert await apply_schema(store_jobs) is True
            assert await apply_schema(store_jobs) is False  # idempotent
            store_jobs.url = url  # type: ignore[attr-defined]
            yield store_jobs
        finally:
            await store.close()


async def _until(check: object, seconds: float = 20) -> None:
    async with asyncio.timeout(seconds):
        while not await check():  # type: ignore[operator]  # noqa: ASYNC110 - the store is polled, not an event
            await asyncio.sleep(0.05)


def _record(tenant: str, n: int) -> JobSpec:
    ref = f"connectwise:contacts:{n}"
    return JobSpec(tenant=tenant, pair="contacts", kind="record", record=ref, queueing_key=f"record:{tenant}:{ref}")


async def test_each_tenant_runs_its_own_jobs_in_batches(jobs: JobStore) -> None:
    """A storm for two tenants: every job runs once, by its tenant's runner, record jobs batched, none left."""
    runners = {"a": Recorder("a"), "b": Recorder("b")}
    runner = ProcrastinateRunner(jobs, jobs.url, tenants=runners.get)  # type: ignore[attr-defined]
    async with runner.opened():
        runners["a"].hold = asyncio.Event()
        await runner.enqueue(_record("a", 0))
        for n in range(1, 30):
            for tenant in runners:
                await runner.enqueue(_record(tenant, n))
        await runner.enqueue(_record("a", 5))  # coalesced into the waiting one
        worker = asyncio.create_task(runner.work(list(runners), concurrency=2, install_signal_handlers=False))
        await asyncio.wait_for(runners["a"].entered.wait(), 20)
        for n in range(30, 40):
            await runner.enqueue(_record("a", n))  # arrive while a's first batch runs: the next batch
        runners["a"].hold.set()
        await _until(lambda: _none_outstanding(jobs))
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    a, b = runners["a"].batches, runners["b"].batches
    assert sorted(r for batch in a for r in batch) == sorted(f"connectwise:contacts:{n}" for n in range(40))
    assert sorted(r for batch in b for r in batch) == sorted(f"connectwise:contacts:{n}" for n in range(1, 30))
    assert len(a) < 40
    assert any(len(batch) > 1 for batch in a)
    assert (await jobs.counts())["running"] == 0


async def _none_outstanding(jobs: JobStore) -> bool:
    return await jobs.outstanding(now=datetime.now(UTC)) == 0
