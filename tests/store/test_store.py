"""The store on both backends: SQLite (a temporary file) and PostgreSQL (a fresh database per test).

PostgreSQL comes from `CWSYNC_TEST_POSTGRES_URL` (default: local trust auth). When it is unreachable the
PostgreSQL cases are skipped — except in CI (`CI=true`), where they fail: there they must run.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn

import asyncpg  # type: ignore[import-untyped]
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from cwsync.store import ITEM_COLUMNS, Counts, Link, RunItem, RunNotFoundError, Store, async_url
from cwsync.store.models import Base, ConnectionRow, CursorRow, LinkRow
from cwsync.store.store import alembic_config, create_engine

PG_ADMIN_URL = os.environ.get("CWSYNC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
T, P = "default", "companies"
_pg_unreachable: list[str] = []  # the reason, once the first attempt failed (so later tests do not wait again)


# --- fixtures -----------------------------------------------------------------------------------------------------


def _pg_unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL unreachable: {reason}")


async def _admin_connection() -> asyncpg.Connection:
    if _pg_unreachable:
        _pg_unavailable(_pg_unreachable[0])
    dsn = make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        _pg_unreachable.append(f"{type(exc).__name__}: {exc}")
        _pg_unavailable(_pg_unreachable[0])


async def _create_database() -> str:
    """Create an empty database `cwsync_test_<hex>`; returns its URL."""
    name = f"cwsync_test_{secrets.token_hex(6)}"
    admin = await _admin_connection()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


async def _drop_database(url: str) -> None:
    admin = await _admin_connection()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """A new empty database, dropped afterwards; yields its URL."""
    url = await _create_database()
    try:
        yield url
    finally:
        await _drop_database(url)


@asynccontextmanager
async def opened_store(backend: str, folder: Path) -> AsyncIterator[Store]:
    """A migrated store on a new database of `backend` (`sqlite`: a file in `folder`; `postgresql`: a fresh
    database, dropped afterwards): the body of the tests' two-backend `store` fixtures."""
    if backend == "sqlite":
        opened = await Store.open(f"sqlite:///{folder / 'store.db'}")
        try:
            yield opened
        finally:
            await opened.close()
        return
    async with fresh_postgres_database() as url:
        opened = await Store.open(url)
        try:
            yield opened
        finally:
            await opened.close()


@pytest.fixture(scope="module")
def shared_postgres_url() -> Iterator[str]:
    """One fresh database for this module (creating one per test costs ~0.3 s); `store` empties it per test."""
    url = asyncio.run(_create_database())
    yield url
    asyncio.run(_drop_database(url))


@pytest.fixture(params=["sqlite", "postgresql"])
async def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of a brand-new empty database on each backend (for schema tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a test database on each backend: a new SQLite file, or the module's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("shared_postgres_url")
    return url


@pytest.fixture
async def raw(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A second engine on the same database, for checks below the API."""
    engine = create_engine(async_url(db_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def store(db_url: str, raw: AsyncEngine) -> AsyncIterator[Store]:
    """A migrated store on an empty database."""
    opened = await Store.open(db_url)
    if opened.dialect == "postgresql":
        async with raw.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(Base.metadata.tables)} RESTART IDENTITY CASCADE"))
    yield opened
    await opened.close()


# --- helpers ------------------------------------------------------------------------------------------------------


def link(left: str, right: str, **overrides: Any) -> Link:
    values: dict[str, Any] = {"tenant": T, "pair": P, "left_id": left, "right_id": right}
    return Link(**(values | overrides))


def item(run_id: int, n: int, **overrides: Any) -> RunItem:
    values: dict[str, Any] = {
        "run_id": run_id,
        "tenant": T,
        "pair": P,
        "direction": "left_to_right",
        "action": "update",
        "status": "applied",
        "left_id": f"L{n}",
        "right_id": f"R{n}",
        "reason": f"item {n}",
        "diff": {"name": ["old", f"new {n}"]},
    }
    return RunItem(**(values | overrides))


async def seed_links(store: Store, count: int, *, pair: str = P) -> None:
    async with store.transaction() as tx:
        await tx.upsert_links([link(f"L{i}", f"R{i}", pair=pair) for i in range(count)])


class Boom(Exception):
    """Raised inside a transaction to abort it."""


# --- schema -------------------------------------------------------------------------------------------------------


async def test_open_migrates_fresh_database_and_reopen_is_idempotent(fresh_url: str) -> None:
    """A fresh database is migrated to head on open; opening again keeps the data and the revision."""
    first = await Store.open(fresh_url)
    await seed_links(first, 3)
    await first.close()
    again = await Store.open(fresh_url)
    try:
        assert await again.link_count(T, P) == 3
        engine = create_engine(async_url(fresh_url))
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
            if conn.dialect.name == "sqlite":
                assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        await engine.dispose()
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert versions == [head]
    finally:
        await again.close()


async def test_concurrent_opens_of_a_fresh_database_both_succeed(fresh_url: str) -> None:
    """Two stores migrating the same fresh database at once do not trip over each other."""
    stores = await asyncio.gather(Store.open(fresh_url), Store.open(fresh_url))
    try:
        assert [await s.link_count(T, P) for s in stores] == [0, 0]
    finally:
        for opened in stores:
            await opened.close()


async def test_open_without_migrate_leaves_the_database_empty(fresh_url: str) -> None:
    """`migrate=False` creates no tables."""
    bare = await Store.open(fresh_url, migrate=False)
    await bare.close()
    engine = create_engine(async_url(fresh_url))
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: sync.dialect.get_table_names(sync))
    await engine.dispose()
    assert tables == []


# SQLite's reflection skips expression indexes (the link value indexes of 0012): PostgreSQL compares them.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
async def test_models_describe_exactly_the_migrated_schema(store: Store, raw: AsyncEngine) -> None:
    """Alembic autogenerate finds no difference between the models and the migrated database."""

    def diff(sync: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(sync), Base.metadata))

    async with raw.connect() as conn:
        assert await conn.run_sync(diff) == []


# --- links --------------------------------------------------------------------------------------------------------


async def test_upsert_inserts_a_link_with_all_fields(store: Store) -> None:
    """A new link round-trips every field, with aware UTC timestamps filled in."""
    async with store.transaction() as tx:
        await tx.upsert_links(
            [
                link(
                    "L1",
                    "R1",
                    match_key="email",
                    left_values={"name": "Acme"},
                    right_values={"name": "Acme"},
                    left_hash="lh",
                    right_hash="rh",
                    last_writer="right",
                )
            ]
        )
    got = (await store.links_by_left(T, P, ["L1"]))["L1"]
    assert (got.right_id, got.match_key, got.left_values, got.right_values) == (
        "R1",
        "email",
        {"name": "Acme"},
        {"name": "Acme"},
    )
    assert (got.left_hash, got.right_hash, got.last_writer) == ("lh", "rh", "right")
    assert got.created_at is not None
    assert got.created_at.tzinfo is UTC
    assert got.synced_at is not None
    assert got.synced_at.tzinfo is UTC
    assert got.link_id is not None


async def test_upsert_updates_by_left_id_and_keeps_created_at(store: Store) -> None:
    """A second upsert of a left id updates it in place: same id and created_at, new values and synced_at."""
    created = datetime(2024, 1, 1, tzinfo=UTC)
    async with store.transaction() as tx:
        await tx.upsert_links([link("L1", "R1", left_hash="a", created_at=created, synced_at=created)])
    before = (await store.links_by_left(T, P, ["L1"]))["L1"]
    later = created + timedelta(days=1)
    async with store.transaction() as tx:
        await tx.upsert_links(
            [link("L1", "R1", left_hash="b", left_values={"x": 1}, created_at=later, synced_at=later)]
        )
    after = (await store.links_by_left(T, P, ["L1"]))["L1"]
    assert (after.link_id, after.created_at) == (before.link_id, created)
    assert (after.left_hash, after.left_values, after.synced_at) == ("b", {"x": 1}, later)
    assert await store.link_count(T, P) == 1


async def test_upsert_moves_a_link_to_a_changed_right_id(store: Store) -> None:
    """When a left record's right id changes, the link follows: the old right id is no longer linked."""
    await seed_links(store, 1)
    async with store.transaction() as tx:
        await tx.upsert_links([link("L0", "R-new")])
    assert await store.links_by_right(T, P, ["R0"]) == {}
    assert (await store.links_by_right(T, P, ["R-new"]))["R-new"].left_id == "L0"
    assert await store.link_count(T, P) == 1


async def test_upsert_takes_over_a_right_id_and_handles_swaps(store: Store) -> None:
    """A right id given to another left id drops the old holder; a swap within one batch succeeds."""
    await seed_links(store, 3)
    async with store.transaction() as tx:
        await tx.upsert_links([link("L1", "R0")])  # L0 held R0
        await tx.upsert_links([link("L2", "R9"), link("L9", "R2")])  # L2's R2 goes to L9 in the same batch
    by_left = await store.links_by_left(T, P, ["L0", "L1", "L2", "L9"])
    assert {k: v.right_id for k, v in by_left.items()} == {"L1": "R0", "L2": "R9", "L9": "R2"}
    async with store.transaction() as tx:
        await tx.upsert_links([link("L1", "R9"), link("L2", "R0")])
    by_left = await store.links_by_left(T, P, ["L1", "L2"])
    assert {k: v.right_id for k, v in by_left.items()} == {"L1": "R9", "L2": "R0"}


async def test_upsert_rejects_one_right_id_for_two_left_ids_in_a_batch(store: Store) -> None:
    """A batch linking one right id to two left ids is refused before anything is written."""
    with pytest.raises(ValueError, match="R1"):
        async with store.transaction() as tx:
            await tx.upsert_links([link("L1", "R1"), link("L2", "R1")])
    assert await store.link_count(T, P) == 0


async def test_links_by_left_and_right_chunk_long_id_lists(store: Store) -> None:
    """Lookups of 1,300 ids (more than one IN list) find every linked id and ignore unknown ones."""
    await seed_links(store, 1200)
    by_left = await store.links_by_left(T, P, [f"L{i}" for i in range(1300)])
    by_right = await store.links_by_right(T, P, (f"R{i}" for i in range(1300)))
    assert sorted(by_left) == sorted(f"L{i}" for i in range(1200))
    assert all(by_right[f"R{i}"].left_id == f"L{i}" for i in range(1200))
    assert len(by_right) == 1200


async def test_links_looked_up_by_id_read_as_every_other_read_of_them(store: Store) -> None:
    """The look-ups by id (statement texts of their own on SQLite) give each link as `iter_links` (SQLAlchemy's
    select) does: JSON values nested and non-ASCII, an empty match key, aware datetimes to the microsecond; and
    `right_ids` the same pairs of ids."""
    moment = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    links = [
        link("L1", "R1", match_key="email", left_values={"n": "Zoë", "x": [1, {"y": None}]}, right_values={"@s": "t"}),
        link("L2", "R2", left_hash="h", last_writer="both", created_at=moment, synced_at=moment),
    ]
    async with store.transaction() as tx:
        await tx.upsert_links(links)
    [read] = [page async for page in store.iter_links(T, P)]
    by_left = await store.links_by_left(T, P, ["L1", "L2", "L3"])
    by_right = await store.links_by_right(T, P, ["R2", "R1"])
    assert by_left == {one.left_id: one for one in read} == {one.left_id: one for one in by_right.values()}
    assert by_left["L2"].synced_at == moment
    assert (by_left["L1"].match_key, by_left["L2"].match_key) == ("email", None)
    assert await store.right_ids(T, P, ["L2", "L1", "L3"]) == {"L1": "R1", "L2": "R2"}


async def test_iter_links_pages_in_id_order_within_the_pair(store: Store) -> None:
    """iter_links yields pages of `batch` links of that pair only, every link once, in id order."""
    await seed_links(store, 25)
    await seed_links(store, 4, pair="contacts")
    pages = [page async for page in store.iter_links(T, P, batch=10)]
    assert [len(page) for page in pages] == [10, 10, 5]
    ids = [lk.link_id or 0 for page in pages for lk in page]
    assert ids == sorted(ids)
    assert len(set(ids)) == 25
    assert {lk.pair for page in pages for lk in page} == {P}


async def test_delete_links_removes_only_the_named_left_ids(store: Store) -> None:
    """delete_links removes the named links of the pair and ignores unknown ids."""
    await seed_links(store, 5)
    await seed_links(store, 5, pair="contacts")
    async with store.transaction() as tx:
        await tx.delete_links(T, P, ["L1", "L3", "nope"])
    assert sorted(await store.links_by_left(T, P, [f"L{i}" for i in range(5)])) == ["L0", "L2", "L4"]
    assert await store.link_count(T, "contacts") == 5


async def test_unique_constraints_are_enforced_by_the_database(store: Store, raw: AsyncEngine) -> None:
    """The database itself refuses duplicate left ids, right ids, cursors and connection names."""
    now = datetime.now(UTC)
    row = {
        "tenant": T,
        "pair": P,
        "left_values": {},
        "right_values": {},
        "left_hash": "",
        "right_hash": "",
        "created_at": now,
        "synced_at": now,
    }
    cursor = {"tenant": T, "pair": P, "side": "left", "value": "v", "updated_at": now}
    conn_row = {
        "tenant": T,
        "name": "cw",
        "kind": "connectwise",
        "secret_blob": b"\x00",
        "public_config": {},
        "updated_at": now,
    }
    duplicates = [
        (LinkRow, [row | {"left_id": "L", "right_id": "R1"}, row | {"left_id": "L", "right_id": "R2"}]),
        (LinkRow, [row | {"left_id": "L1", "right_id": "R"}, row | {"left_id": "L2", "right_id": "R"}]),
        (CursorRow, [cursor, cursor]),
        (ConnectionRow, [conn_row, conn_row]),
    ]
    for model, rows in duplicates:
        with pytest.raises(IntegrityError):
            async with raw.begin() as conn:
                await conn.execute(insert(model), rows)


# --- transactions -------------------------------------------------------------------------------------------------


async def test_transaction_that_raises_writes_nothing(store: Store) -> None:
    """An exception inside the block rolls back links, deletes, cursors and run items together."""
    await seed_links(store, 2)
    run_id = await store.start_run(T, pairs=[P], kind="full", trigger="cli")

    async def write_then_fail() -> None:
        async with store.transaction() as tx:
            await tx.upsert_links([link("L0", "R0", left_hash="changed"), link("L5", "R5")])
            await tx.delete_links(T, P, ["L1"])
            await tx.set_cursor(T, P, "left", "2025-01-01T00:00:00Z")
            await tx.add_run_items([item(run_id, n) for n in range(50)])
            raise Boom

    with pytest.raises(Boom):
        await write_then_fail()
    assert sorted(await store.links_by_left(T, P, ["L0", "L1", "L5"])) == ["L0", "L1"]
    assert (await store.links_by_left(T, P, ["L0"]))["L0"].left_hash == ""
    assert await store.cursor(T, P, "left") is None
    assert await store.run_items(run_id) == []


async def test_transaction_writes_are_invisible_until_commit(store: Store) -> None:
    """Readers outside the transaction see nothing of it until the block exits, then everything."""
    async with store.transaction() as tx:
        await tx.upsert_links([link("L1", "R1")])
        await tx.set_cursor(T, P, "right", "w1")
        assert (await store.link_count(T, P), await store.cursor(T, P, "right")) == (0, None)
    assert (await store.link_count(T, P), await store.cursor(T, P, "right")) == (1, "w1")


async def test_tx_cannot_be_used_after_its_block(store: Store) -> None:
    """Writing through a Tx after its block ended raises instead of writing outside any unit of work."""
    async with store.transaction() as tx:
        pass
    with pytest.raises(RuntimeError, match="transaction is over"):
        await tx.set_cursor(T, P, "left", "late")


async def test_concurrent_writers_from_two_stores_all_commit(db_url: str, store: Store) -> None:
    """Many concurrent transactions from two stores on one database all commit (writers wait, never fail)."""
    other = await Store.open(db_url)

    async def write(target: Store, n: int) -> None:
        async with target.transaction() as tx:
            await tx.upsert_links([link(f"L{n}-{i}", f"R{n}-{i}") for i in range(20)])
            await tx.set_cursor(T, f"pair{n}", "left", str(n))

    try:
        await asyncio.gather(*(write(store if n % 2 else other, n) for n in range(16)))
    finally:
        await other.close()
    assert await store.link_count(T, P) == 16 * 20
    assert [await store.cursor(T, f"pair{n}", "left") for n in range(16)] == [str(n) for n in range(16)]


# --- cursors ------------------------------------------------------------------------------------------------------


async def test_cursors_are_kept_per_tenant_pair_and_side(store: Store) -> None:
    """A cursor starts unset, is overwritten in place, and is separate per tenant, pair and side."""
    assert await store.cursor(T, P, "left") is None
    async with store.transaction() as tx:
        await tx.set_cursor(T, P, "left", "a")
        await tx.set_cursor(T, P, "right", "b")
        await tx.set_cursor("other", P, "left", "c")
    async with store.transaction() as tx:
        await tx.set_cursor(T, P, "left", "a2")
    got = [await store.cursor(T, P, "left"), await store.cursor(T, P, "right"), await store.cursor("other", P, "left")]
    assert got == ["a2", "b", "c"]
    assert await store.cursor(T, "contacts", "left") is None


# --- runs ---------------------------------------------------------------------------------------------------------


async def test_run_lifecycle_records_status_counts_and_times(store: Store) -> None:
    """start_run records a running run with zero counts; finish_run stores status, counts, error and end time."""
    run_id = await store.start_run(T, pairs=[P, "contacts"], kind="incremental", trigger="schedule")
    started = await store.run(run_id)
    assert started is not None
    assert (started.status, started.counts, started.finished_at) == ("running", Counts(), None)
    assert (started.pairs, started.kind, started.trigger) == ((P, "contacts"), "incremental", "schedule")
    counts = Counts()
    for action in ["create", "create", "update", "link", "unchanged", "skip", "fail", "conflict", "delete"]:
        counts.add(action)  # type: ignore[arg-type]
    await store.finish_run(run_id, status="failed", counts=counts, error="HubSpot said 500")
    done = await store.run(run_id)
    assert done is not None
    assert (done.status, done.error, done.counts) == ("failed", "HubSpot said 500", counts)
    assert done.counts.as_dict() == {
        "created": 2,
        "updated": 1,
        "linked": 1,
        "unchanged": 1,
        "skipped": 1,
        "failed": 1,
        "conflicts": 1,
        "deleted": 1,
    }
    assert done.finished_at is not None
    assert done.finished_at >= done.started_at
    assert done.started_at.tzinfo is UTC
    assert done.finished_at.tzinfo is UTC
    assert await store.run(run_id + 1000) is None


async def test_finish_run_refuses_unknown_runs_and_running_status(store: Store) -> None:
    """finish_run raises for an unknown run id and for a non-final status."""
    with pytest.raises(RunNotFoundError):
        await store.finish_run(424242, status="succeeded", counts=Counts())
    run_id = await store.start_run(T, pairs=[P], kind="full", trigger="cli")
    with pytest.raises(ValueError, match="final status"):
        await store.finish_run(run_id, status="running", counts=Counts())


async def test_runs_lists_newest_first_with_limit_pair_and_tenant(store: Store) -> None:
    """runs() returns the tenant's runs newest first, limited, and filtered to runs covering a pair."""
    ids = [await store.start_run(T, pairs=pairs, kind="full", trigger="cli") for pairs in ([P], ["contacts"], [P, "x"])]
    await store.start_run("other", pairs=[P], kind="full", trigger="api")
    assert [r.run_id for r in await store.runs(T)] == ids[::-1]
    assert [r.run_id for r in await store.runs(T, limit=2)] == ids[:0:-1]
    assert [r.run_id for r in await store.runs(T, pair=P)] == [ids[2], ids[0]]
    assert [r.run_id for r in await store.runs(T, pair="contact")] == []


async def test_interrupted_runs_are_the_ones_still_running(store: Store) -> None:
    """interrupted_runs lists the tenant's runs left "running", oldest first."""
    first = await store.start_run(T, pairs=[P], kind="full", trigger="cli")
    done = await store.start_run(T, pairs=[P], kind="full", trigger="cli")
    last = await store.start_run(T, pairs=[P], kind="record", trigger="webhook")
    await store.start_run("other", pairs=[P], kind="full", trigger="cli")
    await store.finish_run(done, status="succeeded", counts=Counts())
    assert [r.run_id for r in await store.interrupted_runs(T)] == [first, last]


# --- run items ----------------------------------------------------------------------------------------------------


async def test_run_items_bulk_insert_of_10k_and_paging(store: Store) -> None:
    """10,000 items insert in one call and page back in insertion order, filterable by action."""
    run_id = await store.start_run(T, pairs=[P], kind="full", trigger="cli")
    items = [item(run_id, n, action="fail" if n % 100 == 0 else "update") for n in range(10_000)]
    async with store.transaction() as tx:
        await tx.add_run_items(items)
    page = await store.run_items(run_id, limit=100, offset=9_950)
    assert [i.left_id for i in page] == [f"L{n}" for n in range(9_950, 10_000)]
    assert page[0].diff == {"name": ["old", "new 9950"]}
    assert page[0].created_at is not None
    failed = await store.run_items(run_id, action="fail", limit=1000)
    assert [i.left_id for i in failed] == [f"L{n}" for n in range(0, 10_000, 100)]
    assert len(await store.run_items(run_id)) == 100


async def test_run_item_fields_round_trip(store: Store) -> None:
    """Every item field comes back as written, with SQL NULL for a missing remote answer."""
    run_id = await store.start_run(T, pairs=[P], kind="plan", trigger="api")
    full = item(
        run_id,
        1,
        action="create",
        status="failed",
        source_values={"a": [1, {"b": None}]},
        remote_status=400,
        remote_response={"code": "InvalidObject", "errors": [{"field": "name"}]},
    )
    bare = item(run_id, 2, direction="right_to_left", action="skip", status="planned", right_id=None)
    async with store.transaction() as tx:
        await tx.add_run_items([full, bare])
    got = await store.run_items(run_id)
    assert [(g.item_id is not None, g.created_at is not None) for g in got] == [(True, True)] * 2
    assert [replace(g, item_id=None, created_at=None) for g in got] == [full, bare]


async def test_item_rows_are_stored_as_the_run_items_they_stand_for(store: Store) -> None:
    """`add_item_rows` (tuples in `ITEM_COLUMNS` order) stores what `add_run_items` stores, an empty diff and a
    missing remote answer included; a row of the wrong length is refused."""
    run_id = await store.start_run(T, pairs=[P], kind="full", trigger="cli")
    items = [
        item(run_id, 1, action="create", diff={}, source_values={"name": "Müller", "n": None}),
        item(run_id, 2, status="failed", remote_status=400, remote_response={"error": "no"}),
    ]
    async with store.transaction() as tx:
        await tx.add_item_rows([tuple(getattr(i, name) for name in ITEM_COLUMNS) for i in items])
    got = await store.run_items(run_id)
    assert [replace(g, item_id=None, created_at=None) for g in got] == items
    with pytest.raises(ValueError, match="columns"):
        async with store.transaction() as tx:
            await tx.add_item_rows([(run_id, T)])


async def test_run_items_need_an_existing_run(store: Store) -> None:
    """The foreign key to runs is enforced (SQLite included)."""
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await tx.add_run_items([item(987654, 1)])


async def test_items_for_record_newest_first_by_left_right_or_either(store: Store) -> None:
    """items_for_record finds a record's items across runs by left id, right id or either, newest first."""
    runs = [await store.start_run(T, pairs=[P], kind="incremental", trigger="schedule") for _ in range(3)]
    async with store.transaction() as tx:
        for n, run_id in enumerate(runs):
            await tx.add_run_items([item(run_id, 1, reason=f"run {n}"), item(run_id, 2)])
            await tx.add_run_items([item(run_id, 3, left_id=None, right_id="R1", reason=f"orphan {n}")])
    by_left = await store.items_for_record(T, P, left_id="L1")
    assert [i.reason for i in by_left] == ["run 2", "run 1", "run 0"]
    by_right = await store.items_for_record(T, P, right_id="R1", limit=2)
    assert [i.reason for i in by_right] == ["orphan 2", "run 2"]
    either = await store.items_for_record(T, P, left_id="L1", right_id="R1")
    assert len(either) == 6
    assert either[0].reason == "orphan 2"
    assert await store.items_for_record(T, "contacts", left_id="L1") == []
    with pytest.raises(ValueError, match="left_id or right_id"):
        await store.items_for_record(T, P)


# --- values -------------------------------------------------------------------------------------------------------


async def test_datetimes_come_out_aware_utc_and_naive_ones_are_refused(store: Store) -> None:
    """An aware non-UTC time comes back as the same instant in UTC; a naive one is refused up front."""
    plus_two = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    async with store.transaction() as tx:
        await tx.upsert_links([link("L1", "R1", synced_at=plus_two, created_at=plus_two)])
    got = (await store.links_by_left(T, P, ["L1"]))["L1"]
    assert got.synced_at == plus_two
    assert got.synced_at is not None
    assert got.synced_at.tzinfo is UTC
    assert got.synced_at.hour == 10
    with pytest.raises(ValueError, match="timezone-aware"):
        link("L2", "R2", synced_at=datetime(2025, 6, 1))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("sqlite:///var/cwsync.db", "sqlite+aiosqlite:///var/cwsync.db"),
        ("sqlite:////abs/cwsync.db", "sqlite+aiosqlite:////abs/cwsync.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://u:p@db:5432/cwsync", "postgresql+asyncpg://u:p@db:5432/cwsync"),
        ("postgres://u@db/cwsync", "postgresql+asyncpg://u@db/cwsync"),
        ("postgresql+asyncpg://u@db/cwsync", "postgresql+asyncpg://u@db/cwsync"),
    ],
)
def test_user_friendly_urls_get_the_async_driver(given: str, expected: str) -> None:
    """sqlite:/// and postgresql:// URLs are converted to their async drivers; async ones pass through."""
    assert async_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("given", ["sqlite://", "sqlite:///:memory:", "mysql://u@db/x", "postgresql+psycopg2://x/y"])
def test_unsupported_urls_are_refused_with_a_hint(given: str) -> None:
    """In-memory SQLite and other databases or drivers are refused with what to use instead."""
    with pytest.raises(ValueError, match=r"sqlite:///"):
        async_url(given)


def test_counts_add_refuses_unknown_actions() -> None:
    """Counts.add names the valid actions when given an unknown one; from_dict tolerates old/extra keys."""
    with pytest.raises(ValueError, match="unknown action"):
        Counts().add("explode")  # type: ignore[arg-type]
    assert Counts.from_dict({"created": 3, "future": 9}) == Counts(created=3)
    assert Counts.from_dict(None).total == 0


async def test_journal_entries_are_upserted_by_step_read_by_key_and_cleared(store: Store) -> None:
    """An intent becomes done with its record id; clearing a key removes its steps only; scopes are apart."""
    from cwsync.store import JournalEntry

    def entry(key: str, step: str, **kw: Any) -> JournalEntry:
        return JournalEntry(tenant="t", scope="hudu:contacts", key=key, step=step, **kw)

    assert not await store.has_journal("t", "hudu:contacts")
    async with store.transaction() as tx:
        await tx.write_journal([entry("1", "create", data={"company": 5}), entry("2", "create")])
        await tx.write_journal([JournalEntry(tenant="t", scope="other", key="1", step="create")])
    async with store.transaction() as tx:
        await tx.write_journal([entry("1", "create", status="done", record_id="77")])
    found = await store.journal("t", "hudu:contacts", ["1"])
    assert [(e.key, e.status, e.record_id, e.data) for e in found] == [("1", "done", "77", {})]
    assert await store.has_journal("t", "hudu:contacts")
    async with store.transaction() as tx:
        await tx.clear_journal("t", "hudu:contacts", ["1", "2"])
    assert await store.journal("t", "hudu:contacts") == []
    assert [e.key for e in await store.journal("t", "other")] == ["1"]
