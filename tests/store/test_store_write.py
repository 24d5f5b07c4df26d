"""`Store.write`: a write transaction run at once on SQLite (`cwsync.store.writer`), on the async connection on
PostgreSQL — committed or rolled back as a whole, never waiting on another process's lock inside the event loop."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from cwsync.store import JournalEntry, Link, Store, Tx, async_url
from cwsync.store.store import IN_CHUNK, _sqlite_on_connect
from cwsync.store.writer import SqliteWriter

T = "default"


def entry(step: str) -> JournalEntry:
    return JournalEntry(tenant=T, scope="quotes", key="Q-1", step=step, status="intent", record_id=None, data={})


async def test_a_write_commits_its_body_and_answers_its_result(store: Store) -> None:
    async def body(tx: Tx) -> int:
        await tx.write_journal([entry("opportunity"), entry("line:1")])
        return await tx.start_run(T, pairs=["quotes"], kind="record", trigger="api")

    run_id = await store.write(body)

    assert sorted(e.step for e in await store.journal(T, "quotes")) == ["line:1", "opportunity"]
    run = await store.run(run_id)
    assert run is not None
    assert run.status == "running"


async def test_a_body_that_raises_writes_nothing(store: Store) -> None:
    async def body(tx: Tx) -> None:
        await tx.write_journal([entry("opportunity")])
        await tx.start_run(T, pairs=["quotes"], kind="record", trigger="api")
        raise ValueError("the outcome was refused")

    with pytest.raises(ValueError, match="refused"):
        await store.write(body)

    assert await store.journal(T, "quotes") == []
    assert await store.runs(T) == []


async def test_a_sqlite_body_that_awaits_anything_else_is_refused_and_rolled_back(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'w.db'}")
    try:

        async def body(tx: Tx) -> None:
            await tx.write_journal([entry("opportunity")])
            await asyncio.sleep(0)  # would let other coroutines run inside the transaction

        with pytest.raises(RuntimeError, match="awaited something other than its connection"):
            await store.write(body)
        assert await store.journal(T, "quotes") == []
        await store.write(lambda tx: tx.write_journal([entry("line:1")]))  # the connection is usable again
        assert [e.step for e in await store.journal(T, "quotes")] == ["line:1"]
    finally:
        await store.close()


async def test_a_write_waits_for_another_writers_lock_without_holding_up_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = await Store.open(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, holding SQLite's write lock
    other.execute("BEGIN IMMEDIATE")
    ticks = 0
    try:
        write = asyncio.create_task(store.write(lambda tx: tx.write_journal([entry("opportunity")])))
        while ticks < 50:  # the loop keeps running other coroutines while the write waits
            await asyncio.sleep(0.001)
            ticks += 1
        assert not write.done()
        other.execute("COMMIT")
        await asyncio.wait_for(write, timeout=10)
        assert [e.step for e in await store.journal(T, "quotes")] == ["opportunity"]
    finally:
        other.close()
        await store.close()


async def test_a_write_gives_up_with_database_is_locked_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = await Store.open(f"sqlite:///{path}")  # migrated: the journal table exists
    writer = SqliteWriter(async_url(f"sqlite:///{path}"), busy_ms=50, on_connect=_sqlite_on_connect)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:

        async def body(conn: object) -> None:
            raise AssertionError("never run: the lock was never free")

        with pytest.raises(OperationalError, match="locked"):
            await writer.run(body)  # type: ignore[arg-type]
    finally:
        other.execute("ROLLBACK")
        other.close()
        writer.close()
        await store.close()


async def test_one_pairs_stale_holders_are_found_as_the_generic_query_finds_them(tmp_path: Path) -> None:
    """The SQLite statement for one pair's batch (`_stale_holders_of_one_pair`) finds the same links holding a
    right id for another left id as the generic query, over random links of two tenants and pairs (more right ids
    than one IN chunk holds)."""
    rng = random.Random(19)
    store = await Store.open(f"sqlite:///{tmp_path / 'h.db'}")
    try:
        scopes = [(tenant, pair) for tenant in ("a", "b") for pair in ("companies", "contacts")]
        seeded = [
            Link(tenant=tenant, pair=pair, left_id=f"L{n}", right_id=f"R{n}")
            for tenant, pair in scopes
            for n in rng.sample(range(3 * IN_CHUNK), IN_CHUNK + 50)
        ]
        async with store.transaction() as tx:
            await tx.upsert_links(seeded)
        for _ in range(20):
            tenant, pair = rng.choice(scopes)
            wanted = {
                (tenant, pair, f"R{rng.randrange(3 * IN_CHUNK)}"): f"L{rng.randrange(3 * IN_CHUNK)}"
                for _ in range(rng.randrange(1, 2 * IN_CHUNK))
            }
            for right_id in rng.sample(sorted(wanted), min(5, len(wanted))):  # some keep their holder
                wanted[right_id] = "L" + right_id[2][1:]

            async def both(tx: Tx, wanted: dict[tuple[str, str, str], str] = wanted) -> tuple[list[int], list[int]]:
                return await tx._stale_holders(wanted), await tx._stale_holders_of_one_pair(wanted)

            generic, one_pair = await store.write(both)
            assert sorted(one_pair) == sorted(generic)
            assert generic  # the random batch does take right ids over
    finally:
        await store.close()
