"""The procrastinate runner on real PostgreSQL: drains per tenant, batches, one tick per slot, released on stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from cwsync.config.loader import parse_config
from cwsync.config.template import render_template
from cwsync.runtime.jobs import JobSpec
from cwsync.runtime.procrastinate_runner import (
    ProcrastinateRunner,
    apply_schema,
    budget_lanes,
    connectwise_share,
    lane_of,
)
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


class LongRun(Recorder):
    """A tenant whose pair-wide runs hold until released (a long full run), noting when each job ran."""

    def __init__(self, tenant: str) -> None:
        super().__init__(tenant)
        self.release = asyncio.Event()
        self.run_started = asyncio.Event()
        self.ran: list[str] = []

    async def handle(self, job: JobRecord) -> None:
        assert job.tenant == self.tenant
        self.run_started.set()
        await self.release.wait()
        self.ran.append(f"run:{job.pair}")

    async def handle_records(self, jobs: list[JobRecord]) -> None:
        assert {job.tenant for job in jobs} == {self.tenant}
        self.ran.append(f"records:{jobs[0].pair}")


def _full(tenant: str, pair: str) -> JobSpec:
    return JobSpec(tenant=tenant, pair=pair, kind="full", queueing_key=f"sched:{tenant}:{pair}:full")


def _callback(tenant: str, pair: str, n: int) -> JobSpec:
    ref = f"connectwise:{pair}:{n}"
    return JobSpec(tenant=tenant, pair=pair, kind="record", record=ref, queueing_key=f"record:{tenant}:{ref}")


async def test_a_long_run_holds_its_own_lane_only(jobs: JobStore) -> None:
    """While a tenant's full HubSpot run is in progress, a Hudu callback of the same tenant runs (another lane)
    on another worker slot; a HubSpot callback of the same tenant waits for the run (the same HubSpot budget)."""
    tenant = LongRun("acme")
    runner = ProcrastinateRunner(jobs, jobs.url, tenants={"acme": tenant}.get)  # type: ignore[attr-defined]
    async with runner.opened():
        worker = asyncio.create_task(runner.work(["acme"], concurrency=2, install_signal_handlers=False))
        try:
            await runner.enqueue(_full("acme", "contacts"))
            await asyncio.wait_for(tenant.run_started.wait(), 20)
            await runner.enqueue(_callback("acme", "companies", 1))  # HubSpot: the run's lane
            await runner.enqueue(_callback("acme", "hudu:companies", 1))  # Hudu: a lane of its own
            await _until(lambda: _ran(tenant, "records:hudu:companies"))
            assert tenant.ran == ["records:hudu:companies"]  # the full run still holds; HubSpot's callback waits
            assert not tenant.release.is_set()
            tenant.release.set()
            await _until(lambda: _none_outstanding(jobs))
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
    assert tenant.ran == ["records:hudu:companies", "run:contacts", "records:companies"]
    assert (await jobs.counts())["running"] == 0


async def _ran(tenant: LongRun, what: str) -> bool:
    return what in tenant.ran


def test_lanes_follow_the_budget_a_pair_spends() -> None:
    """HubSpot objects, the catalog and quotes spend HubSpot; every `hudu:*` pair Hudu; the mirror and the device
    inventory ConnectWise only."""
    lanes = {p: lane_of(p) for p in ("contacts", "deals", "catalog:products", "quotes", "hudu", "hudu:configurations")}
    lanes |= {p: lane_of(p) for p in ("mirror", "mirror:companies", "devices")}
    assert lanes == {
        "contacts": "hubspot",
        "deals": "hubspot",
        "catalog:products": "hubspot",
        "quotes": "hubspot",
        "hudu": "hudu",
        "hudu:configurations": "hudu",
        "mirror": "connectwise",
        "mirror:companies": "connectwise",
        "devices": "connectwise",
    }


def test_each_lane_paces_its_share_of_connectwise() -> None:
    """Every lane reads ConnectWise and a tenant's lanes may run at once on different workers, so each tenant's
    ConnectWise client paces its lanes' share: together they stay inside the configured budget."""
    environ = {"CWSYNC_CW_PRIVATE_KEY": "k", "CWSYNC_HUBSPOT_TOKEN": "t", "CWSYNC_HUDU_API_KEY": "h"}
    text = render_template(store="postgresql://u@127.0.0.1/db", hudu_base="http://127.0.0.1:9/hudu")
    config = parse_config(text, environ=environ)  # HubSpot, Hudu and the device inventory switched on
    assert budget_lanes(config) == {"hubspot", "hudu", "connectwise"}
    cw = config.connections.connectwise
    shared = connectwise_share(config).connections.connectwise
    assert shared.requests_per_minute is not None
    assert cw.requests_per_minute is not None
    assert shared.requests_per_minute * 3 <= cw.requests_per_minute
    assert shared.max_concurrency * 3 <= cw.max_concurrency
    assert shared.requests_per_minute > 0
    assert shared.max_concurrency >= 1
    hubspot_only = config.model_copy(update={"syncs": config.syncs.model_copy(update={"hudu": None, "changes": None})})
    assert budget_lanes(hubspot_only) == {"hubspot"}
    assert connectwise_share(hubspot_only).connections.connectwise == cw  # one lane: the whole budget
