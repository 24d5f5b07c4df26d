"""The scheduler: slots aligned to the epoch, nothing at start-up, one job per slot, coalesced while one waits.

The store-backed test runs on SQLite and PostgreSQL (CI rule of `tests/store/test_store.py`); the others drive the
scheduler with a recording queue and an injected clock and sleep.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from cwsync.runtime.jobs import InProcessRunner, JobSpec
from cwsync.runtime.scheduler import Schedule, Scheduler
from cwsync.store import JobRecord, JobStore
from tests.runtime.test_jobs import FakeClock
from tests.store.test_store import fresh_postgres_database
from tests.store.test_store_jobs import BACKENDS, backend_url, open_job_store

NOON = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # a multiple of 5 minutes since the epoch
EVERY_5_MIN = Schedule(tenant="acme", pair="companies", kind="incremental", every_seconds=300)
HOURLY_FULL = Schedule(tenant="acme", pair="companies", kind="full", every_seconds=3600)


class RecordingQueue:
    """A `JobQueue` that keeps what it is given."""

    def __init__(self) -> None:
        self.specs: list[JobSpec] = []

    async def enqueue(self, spec: JobSpec) -> int | None:
        self.specs.append(spec)
        return len(self.specs)

    async def start(self) -> None:
        """Nothing to start."""

    async def stop(self) -> None:
        """Nothing to stop."""


class StopLoop(Exception):
    """Raised by the fake sleep to end `Scheduler.run`."""


def at(minutes: float) -> datetime:
    return NOON + timedelta(minutes=minutes)


async def nothing(_job: JobRecord) -> None:
    """A handler that is never called (the runner is not started)."""


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def postgres_url() -> AsyncIterator[str]:
    """One fresh PostgreSQL database for this module."""
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database URL of each backend (a sync fixture: it may set up the module's PostgreSQL database)."""
    return backend_url(request, tmp_path)


@pytest.fixture
async def jobs(db_url: str) -> AsyncIterator[JobStore]:
    """An empty job queue on each backend."""
    async with open_job_store(db_url) as opened:
        yield opened


def test_slots_are_multiples_of_the_period_since_the_epoch() -> None:
    """A schedule's slots do not depend on when the process started."""
    assert EVERY_5_MIN.slot(at(7.5)) == at(5)
    assert EVERY_5_MIN.slot(at(5)) == at(5)
    assert EVERY_5_MIN.next_slot(at(7.5)) == at(10)
    assert HOURLY_FULL.slot(at(59)) == NOON


def test_bad_schedules_are_refused() -> None:
    """A period must be positive, and a (tenant, pair, kind) scheduled once."""
    with pytest.raises(ValueError, match="positive"):
        Schedule(tenant="acme", pair="companies", kind="full", every_seconds=0)
    with pytest.raises(ValueError, match="scheduled twice: sched:acme:companies:incremental"):
        Scheduler(RecordingQueue(), [EVERY_5_MIN, EVERY_5_MIN])


async def test_first_tick_enqueues_nothing_then_each_slot_once() -> None:
    """Start-up only notes the current slots; each later slot enqueues once, however many ticks fall in it."""
    queue = RecordingQueue()
    scheduler = Scheduler(queue, [EVERY_5_MIN, HOURLY_FULL])
    assert await scheduler.tick(at(7)) == []
    assert await scheduler.tick(at(9.9)) == []
    assert await scheduler.tick(at(10)) == [EVERY_5_MIN]
    assert await scheduler.tick(at(12)) == []
    assert await scheduler.tick(at(60)) == [EVERY_5_MIN, HOURLY_FULL]  # eight missed slots give one job
    assert [(s.kind, s.queueing_key, s.effective_lock_key) for s in queue.specs] == [
        ("incremental", "sched:acme:companies:incremental", "acme:companies:*"),
        ("incremental", "sched:acme:companies:incremental", "acme:companies:*"),
        ("full", "sched:acme:companies:full", "acme:companies:*"),
    ]
    assert queue.specs[0].payload == {"trigger": "schedule", "slot": at(10).isoformat()}


async def test_a_restarted_scheduler_keeps_the_rhythm_without_a_burst() -> None:
    """A new scheduler (a restart) enqueues nothing at once and the next job comes at the next slot."""
    queue = RecordingQueue()
    before = Scheduler(queue, [EVERY_5_MIN])
    await before.tick(at(7))
    await before.tick(at(10))
    after_restart = Scheduler(queue, [EVERY_5_MIN])
    assert await after_restart.tick(at(11)) == []
    assert await after_restart.tick(at(15)) == [EVERY_5_MIN]
    assert [spec.payload["slot"] for spec in queue.specs] == [at(10).isoformat(), at(15).isoformat()]


async def test_run_sleeps_until_the_next_slot_and_ticks_again() -> None:
    """`run` ticks, sleeps exactly until the earliest next slot, and enqueues when it arrives."""
    queue = RecordingQueue()
    clock = FakeClock(at(7))
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise StopLoop
        clock.advance(seconds)

    with pytest.raises(StopLoop):
        await Scheduler(queue, [EVERY_5_MIN], clock=clock, sleep=sleep).run()
    assert sleeps == [180.0, 300.0, 300.0]
    assert [spec.payload["slot"] for spec in queue.specs] == [at(10).isoformat(), at(15).isoformat()]


async def test_a_failing_tick_is_retried_soon_not_a_period_later() -> None:
    """When enqueueing fails, `run` tries again after a few seconds, and the missed schedule is still due."""

    class FailsOnce(RecordingQueue):
        failures_left = 1

        async def enqueue(self, spec: JobSpec) -> int | None:
            if self.failures_left:
                self.failures_left -= 1
                raise ConnectionError("store away")
            return await super().enqueue(spec)

    queue = FailsOnce()
    clock = FakeClock(at(7))
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise StopLoop
        clock.advance(seconds)

    with pytest.raises(StopLoop):
        await Scheduler(queue, [EVERY_5_MIN], clock=clock, sleep=sleep).run()
    assert sleeps == [180.0, 5.0, 295.0]
    assert [spec.payload["slot"] for spec in queue.specs] == [at(10).isoformat()]


async def test_slow_job_coalesces_later_slots_in_the_store(jobs: JobStore) -> None:
    """While a scheduled job still waits, later slots add nothing; once it runs, the next slot queues one more."""
    clock = FakeClock(at(7))
    runner = InProcessRunner(jobs, nothing, clock=clock)  # never started: jobs only pile up in the store
    scheduler = Scheduler(runner, [EVERY_5_MIN], clock=clock)
    for minutes in (7, 10, 15, 20):
        clock.now = at(minutes)
        await scheduler.tick(clock())
    queued = await jobs.list(status="queued")
    assert [(job.queueing_key, job.kind, job.payload["slot"]) for job in queued] == [
        ("sched:acme:companies:incremental", "incremental", at(10).isoformat())
    ]
    assert await jobs.claim(worker="w1", now=clock()) is not None  # the slow job finally runs
    clock.now = at(25)
    assert await scheduler.tick(clock()) == [EVERY_5_MIN]
    assert await jobs.counts() == {"queued": 1, "running": 1, "done": 0, "failed": 0}
