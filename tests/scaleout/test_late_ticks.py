"""A schedule's slot deferred again by a worker whose deferrer lags a period behind queues nothing a second time.

procrastinate keeps the record of a periodic task's newest deferred slot only (deferring a slot prunes the older
ones), so a deferrer that wakes a period late — a starved worker process, a skewed clock — finds no record of the
slot it missed and defers it again. On two busy cores with the scale-out test's 3-second period this happens.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from procrastinate.periodic import PeriodicDeferrer
from sqlalchemy import text
from structlog.testing import capture_logs

from cwsync.runtime.procrastinate_runner import ProcrastinateRunner, apply_schema
from cwsync.runtime.scheduler import Schedule
from cwsync.store import JobStore, Store
from tests.store.test_store import fresh_postgres_database

PERIOD = 60


async def test_a_slot_deferred_again_after_the_next_one_is_superseded() -> None:
    """Slots S0, S1, S2 deferred and ticked in turn (S1's and S2's runs coalesce into S0's, still queued), then S1
    deferred again by a lagging worker (procrastinate lets it): that copy queues nothing and says so."""
    schedule = Schedule(tenant="acme", pair="contacts", kind="incremental", every_seconds=PERIOD)
    s0 = (int(time.time()) // PERIOD - 3) * PERIOD
    async with fresh_postgres_database() as url:
        store = await Store.open(url)
        try:
            jobs = JobStore(store)
            await apply_schema(jobs)
            runner = ProcrastinateRunner(jobs, url)
            runner.schedule([schedule])
            async with runner.opened():
                registry = runner.app.periodic_registry
                [task] = [t for t in registry.periodic_tasks.values() if t.periodic_id == schedule.queueing_key]
                deferrer = PeriodicDeferrer(registry)
                with capture_logs() as events:
                    for slot in (s0, s0 + PERIOD, s0 + 2 * PERIOD, s0 + PERIOD):
                        await deferrer.defer_jobs([(task, slot)])
                        await runner._tick_schedule(slot, tenant="acme", pair="contacts", kind="incremental")
                async with store._connect() as conn:
                    ticks = "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'cwsync.tick'"
                    deferred = (await conn.execute(text(ticks))).scalar()
        finally:
            await store.close()
    assert deferred == 4  # procrastinate deferred S1 twice
    slot_of = {s: datetime.fromtimestamp(s, UTC).isoformat() for s in (s0, s0 + PERIOD, s0 + 2 * PERIOD)}
    said = [(e["event"], e["slot"]) for e in events if str(e["event"]).startswith("schedule.")]
    assert said == [
        ("schedule.enqueued", slot_of[s0]),
        ("schedule.enqueued", slot_of[s0 + PERIOD]),
        ("schedule.enqueued", slot_of[s0 + 2 * PERIOD]),
        ("schedule.superseded", slot_of[s0 + PERIOD]),
    ]
