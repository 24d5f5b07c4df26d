"""Group-committed intake (`AcceptingJobStore`): many concurrent enqueues in few transactions, each committed before
it returns, coalescing kept, and the event loop free while the writer waits on SQLite's lock."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cwsync.runtime import accept
from cwsync.runtime.accept import AcceptingJobStore
from cwsync.store import JobStore, Store
from cwsync.store.records import NewJob

WAIT = 10.0


def _job(key: str) -> NewJob:
    return NewJob(tenant="t", pair="contacts", kind="record", record=key, queueing_key=f"record:t:{key}", lock_key=key)


@pytest.fixture
async def accepting(tmp_path: Path) -> AsyncIterator[tuple[AcceptingJobStore, Path]]:
    path = tmp_path / "jobs.db"
    store = await Store.open(f"sqlite:///{path}")
    jobs = AcceptingJobStore(store)
    try:
        yield jobs, path
    finally:
        await jobs.close()
        await store.close()


async def test_concurrent_enqueues_share_transactions_and_keep_coalescing(
    accepting: tuple[AcceptingJobStore, Path],
) -> None:
    """300 enqueues at once (100 of them repeats of a waiting key) commit in fewer transactions than jobs; each
    distinct key gets one id, each repeat None; every job is in the file when its enqueue returns."""
    jobs, path = accepting
    keys = [f"r{i}" for i in range(200)] + [f"r{i}" for i in range(100)]
    ids = await asyncio.wait_for(asyncio.gather(*(jobs.enqueue(_job(k)) for k in keys)), WAIT)
    made = [i for i in ids if i is not None]
    assert len(made) == len(set(made)) == 200
    assert ids.count(None) == 100
    assert jobs.batches < 200
    with sqlite3.connect(path) as conn:  # a separate connection: committed, not just written
        assert conn.execute("SELECT count(*) FROM jobs WHERE status = 'queued'").fetchone() == (200,)
    assert await jobs.outstanding(now=datetime.now(UTC)) == 200


async def test_the_loop_runs_while_the_writer_waits_for_the_file_lock(
    accepting: tuple[AcceptingJobStore, Path],
) -> None:
    """While another connection holds SQLite's write lock, an enqueue waits (in its thread) and the event loop keeps
    running other tasks; the enqueue commits once the lock is released."""
    jobs, path = accepting
    await jobs.enqueue(_job("warm"))  # the writer thread and its connection exist
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        pending = asyncio.create_task(jobs.enqueue(_job("held")))
        for _ in range(20):
            # The task runs here: an enqueue that wrote on the loop's thread would block in SQLite's busy wait (and
            # never see the COMMIT below); the writer thread waits instead and the loop goes on.
            await asyncio.sleep(0)
        assert not pending.done()  # it waits for the lock: it answers only once committed
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert isinstance(await asyncio.wait_for(pending, WAIT), int)


async def test_an_idle_writer_ends_and_the_next_job_starts_another(
    accepting: tuple[AcceptingJobStore, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `IDLE_SECONDS` without work the writer thread ends (no connection left open); the next enqueue starts a
    new one and commits as before."""
    monkeypatch.setattr(accept, "IDLE_SECONDS", 0.05)
    jobs, _ = accepting
    await jobs.enqueue(_job("first"))
    deadline = asyncio.get_running_loop().time() + WAIT
    while jobs.writer_running:
        assert asyncio.get_running_loop().time() < deadline, "the idle writer did not end"
        await asyncio.sleep(0.01)  # polling with a deadline for the thread to end
    assert isinstance(await asyncio.wait_for(jobs.enqueue(_job("second")), WAIT), int)
    assert await jobs.outstanding(now=datetime.now(UTC)) == 2


async def test_a_write_lock_held_past_the_busy_timeout_delays_the_jobs_but_fails_none(
    accepting: tuple[AcceptingJobStore, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection holds SQLite's write lock longer than the busy timeout: the writer waits on (another round)
    instead of answering an error, and commits once the lock is free."""
    monkeypatch.setattr(accept, "BUSY_MS", 20)
    jobs, path = accepting
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        pending = asyncio.create_task(jobs.enqueue(_job("late")))
        deadline = asyncio.get_running_loop().time() + WAIT
        while not jobs.lock_waits:
            assert asyncio.get_running_loop().time() < deadline, "the writer never ran into the held lock"
            await asyncio.sleep(0.01)  # polling with a deadline for the writer's first busy round to end
        assert not pending.done()
    finally:
        holder.execute("COMMIT")
        holder.close()
    assert isinstance(await asyncio.wait_for(pending, WAIT), int)


async def test_accepted_rows_are_written_as_the_store_writes_them(
    accepting: tuple[AcceptingJobStore, Path],
) -> None:
    """The writer converts values itself (`sqlite3`, not SQLAlchemy's engine): a job it accepts is stored exactly as
    `JobStore.enqueue` stores the same job (datetime text, JSON payload, defaults), and claims the same way."""
    jobs, path = accepting
    now = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=UTC)
    payload = {"trigger": "callback", "nested": {"é": [1, 2.5, None]}}
    made = [
        NewJob(
            tenant="t",
            pair="contacts",
            kind="record",
            record=r,
            queueing_key=k,
            lock_key=f"t:contacts:{r}",
            payload=payload,
        )
        for r, k in (("a", "record:t:a"), ("b", "record:t:b"), ("c", None))
    ]
    await jobs.enqueue(made[0], now=now)  # the writer thread, keyed
    await JobStore.enqueue(jobs, made[1], now=now)  # the store's own path
    await jobs.enqueue(made[2], now=now)  # the writer thread, no key: its own insert
    columns = "tenant, pair, kind, status, attempts, run_after, payload, created_at, worker, error"
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"SELECT record, {columns} FROM jobs ORDER BY record").fetchall()
    assert [row[0] for row in rows] == ["a", "b", "c"]
    by_writer, by_store, unkeyed = (row[1:] for row in rows)
    assert by_writer == by_store == unkeyed
    claimed = await jobs.claim_batch(worker="w", now=now, limit=10, busy=set())
    assert sorted(job.record or "" for job in claimed) == ["a", "b", "c"]
    assert all(job.payload == payload for job in claimed)
