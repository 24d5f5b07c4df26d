"""The async store: SQLite by default, PostgreSQL by URL, schema by Alembic.

Reads go through `Store`; every write that must land together goes through one `Tx` (`Store.transaction()`), so a
crash or an exception leaves the database as it was before the batch (links, cursors and run items alike).

SQLite is tuned for one process with many coroutines and the odd second process: WAL (readers never block the
writer), foreign keys on, a busy timeout, and write transactions opened with `BEGIN IMMEDIATE` so two writers queue
on the lock instead of failing half-way with "database is locked".
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    String,
    Table,
    bindparam,
    delete,
    event,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Connection, Row, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from cwsync.store import mirror
from cwsync.store.bulk import bulk_insert
from cwsync.store.models import LINK_VALUE_INDEXES, CursorRow, JournalRow, LeftValue, LinkRow, RunItemRow, RunRow
from cwsync.store.reader import SqliteReader
from cwsync.store.records import (
    ITEM_COLUMNS,
    Counts,
    ItemRow,
    JournalEntry,
    Link,
    RunItem,
    RunKind,
    RunRecord,
    RunStatus,
    Side,
    Trigger,
)
from cwsync.store.writer import SqliteWriter

__all__ = [
    "Reads",
    "RunNotFoundError",
    "Store",
    "StoreUnavailableError",
    "Tx",
    "alembic_config",
    "async_url",
    "create_engine",
]

STORE_FIX = (
    "check `store:` in the configuration: for PostgreSQL that the server runs, is reachable from here and accepts "
    "this user and database (e.g. `psql <url>`); for SQLite that the file's folder is writable"
)


class StoreUnavailableError(Exception):
    """The store cannot be opened (bad URL, server down, refused login, unwritable file); `fix` says what to do."""

    def __init__(self, url: str, reason: str, fix: str = STORE_FIX) -> None:
        super().__init__(f"cannot open the store {url}: {reason}")
        self.url = url
        self.reason = reason
        self.fix = fix


IN_CHUNK = 500  # ids per IN (...) list: far below SQLite's and asyncpg's bind-parameter limits
SQLITE_BUSY_MS = 30_000
MIGRATION_LOCK_KEY = 0x63777379_6E630001  # PostgreSQL advisory lock: one migrator at a time across processes
MIGRATIONS_DIR = Path(__file__).parent / "migrations"

LINKS: Table = LinkRow.__table__  # type: ignore[assignment]
CURSORS: Table = CursorRow.__table__  # type: ignore[assignment]
RUNS: Table = RunRow.__table__  # type: ignore[assignment]
RUN_ITEMS: Table = RunItemRow.__table__  # type: ignore[assignment]
JOURNAL: Table = JournalRow.__table__  # type: ignore[assignment]

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}

T = TypeVar("T")


class RunNotFoundError(LookupError):
    """No run has this id (in this database)."""


def _reason(exc: BaseException) -> str:
    """The database's own words, without SQLAlchemy's boilerplate (and never the password: it is not in them)."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).split("\n", 1)[0].strip()
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


# --- engine -----------------------------------------------------------------------------------------------------


def async_url(url: str | URL) -> URL:
    """The async-driver form of a user-friendly URL: `sqlite:///x.db` → aiosqlite, `postgresql://` → asyncpg.

    Raises `ValueError` for other databases and for in-memory SQLite (each pooled connection would see its own
    empty database; use a file, e.g. under a temporary directory).
    """
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:///path.db or postgresql://user@host/db"
        )
    if driver.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise ValueError("in-memory SQLite is not supported: give a file path, e.g. sqlite:///cwsync.db")
    return parsed.set(drivername=driver)


def create_engine(url: URL) -> AsyncEngine:
    """An async engine for an `async_url`; SQLite gets WAL, foreign keys, a busy timeout and explicit BEGINs."""
    if url.get_backend_name() != "sqlite":  # a server that does not answer fails the connect in 10 s, not 60
        return create_async_engine(url, pool_pre_ping=True, connect_args={"timeout": 10})
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_MS / 1000})
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take BEGIN away from the sqlite3 driver (it skips it before DDL and SELECT); `_sqlite_on_begin` emits it.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (f"busy_timeout={SQLITE_BUSY_MS}", "journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL"):
        _pragma(cursor, pragma)
    cursor.close()


def _pragma(cursor: Any, pragma: str) -> None:
    # Turning a fresh file to WAL needs an exclusive lock, and SQLite may answer "database is locked" at once,
    # without its busy handler, while another connection is opening the same file: try again for a while.
    deadline = time.monotonic() + SQLITE_BUSY_MS / 1000
    while True:
        try:
            cursor.execute(f"PRAGMA {pragma}")
            return
        except Exception as exc:  # the driver's OperationalError (sqlite3's, or aiosqlite's adaptation of it)
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # a connect-time wait, rare (two openers of one fresh file), so a blocking one


def _sqlite_on_begin(conn: Connection) -> None:
    # Writers ask for IMMEDIATE: the write lock is taken (or waited for) up front, never upgraded mid-transaction.
    # Sent on the driver's connection: one round trip to aiosqlite's thread instead of three (a cursor, its
    # execute, its close through SQLAlchemy's cursor), in every transaction and read.
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.connection.dbapi_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]


def alembic_config(connection: Connection | None = None, *, url: str | None = None) -> Config:
    """An Alembic config for the store's migrations, built in code (no alembic.ini).

    `connection` is used as is (the migration runs inside its transaction); otherwise `url` is connected to.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def _upgrade_to_head(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _now() -> datetime:
    return datetime.now(UTC)


@functools.cache
def _holders_sql(size: int) -> str:
    """On SQLite: the links of one pair holding any of `size` right ids (parameters: tenant, pair, the ids)."""
    marks = ", ".join("?" * size)
    return (
        f"SELECT id, tenant, pair, left_id, right_id FROM links WHERE tenant = ? AND pair = ? AND right_id IN ({marks})"
    )


# The engine's look-ups of a page's links on SQLite, as statement texts made once per size of chunk: SQLAlchemy's
# compilation and expansion of an IN list of a thousand ids cost about 1 ms per look-up, three times SQLite's own
# work (a first sync makes two or three per page of a thousand records). The rows' JSON and datetime columns go
# through the same result processors SQLAlchemy applies (`_link_processors`).


@functools.cache
def _links_sql(column: str, size: int) -> str:
    """The links of one pair whose `column` (`left_id`, `right_id`) is one of `size` values (parameters: tenant,
    pair, the values)."""
    names = ", ".join(_LINK_SELECTED)  # defined below, with the columns it adds the id to
    marks = ", ".join("?" * size)
    return f"SELECT {names} FROM links WHERE tenant = ? AND pair = ? AND {column} IN ({marks})"


@functools.cache
def _right_ids_sql(size: int) -> str:
    """Left id and right id of the links of one pair holding any of `size` left ids (parameters: tenant, pair, ids)."""
    marks = ", ".join("?" * size)
    return f"SELECT left_id, right_id FROM links WHERE tenant = ? AND pair = ? AND left_id IN ({marks})"


_PROCESSORS: dict[str, list[Callable[[Any], Any] | None]] = {}


def _link_processors(dialect: Any) -> list[Callable[[Any], Any] | None]:
    """Per column of `_LINK_SELECTED`, SQLAlchemy's result processor on `dialect` (None: taken as the driver gives
    it), resolved once per dialect."""
    found = _PROCESSORS.get(dialect.name)
    if found is None:
        found = [LINKS.c[name].type.dialect_impl(dialect).result_processor(dialect, None) for name in _LINK_SELECTED]
        _PROCESSORS[dialect.name] = found
    return found


def _sqlite_links(
    tenant: str, pair: str, column: str, wanted: Sequence[str]
) -> Callable[[AsyncConnection], Awaitable[list[Link]]]:
    """The read body of `Store._links_where` on SQLite."""

    async def body(conn: AsyncConnection) -> list[Link]:
        processors = _link_processors(conn.dialect)
        found: list[Link] = []
        for chunk in _chunks(wanted):
            for row in await conn.exec_driver_sql(_links_sql(column, len(chunk)), (tenant, pair, *chunk)):
                v = [value if p is None else p(value) for p, value in zip(processors, row, strict=True)]
                found.append(
                    Link(
                        link_id=v[0],
                        tenant=v[1],
                        pair=v[2],
                        left_id=v[3],
                        right_id=v[4],
                        match_key=v[5],
                        left_values=v[6],
                        right_values=v[7],
                        left_hash=v[8],
                        right_hash=v[9],
                        last_writer=v[10],
                        created_at=v[11],
                        synced_at=v[12],
                    )
                )
        return found

    return body


def _sqlite_right_ids(
    tenant: str, pair: str, wanted: Sequence[str]
) -> Callable[[AsyncConnection], Awaitable[dict[str, str]]]:
    """The read body of `Store.right_ids` on SQLite."""

    async def body(conn: AsyncConnection) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(wanted):
            rows: Any = await conn.exec_driver_sql(_right_ids_sql(len(chunk)), (tenant, pair, *chunk))
            out.update((left_id, right_id) for left_id, right_id in rows)
        return out

    return body


# --- rows ↔ records ---------------------------------------------------------------------------------------------


def _link_of(row: Row[Any]) -> Link:
    return Link(
        link_id=row.id,
        tenant=row.tenant,
        pair=row.pair,
        left_id=row.left_id,
        right_id=row.right_id,
        match_key=row.match_key,
        left_values=row.left_values,
        right_values=row.right_values,
        left_hash=row.left_hash,
        right_hash=row.right_hash,
        last_writer=row.last_writer,
        created_at=row.created_at,
        synced_at=row.synced_at,
    )


_LINK_COLUMNS = (
    "tenant",
    "pair",
    "left_id",
    "right_id",
    "match_key",
    "left_values",
    "right_values",
    "left_hash",
    "right_hash",
    "last_writer",
    "created_at",
    "synced_at",
)
"""The columns of a link's row as `_link_row` gives them."""
_LINK_SELECTED = ("id", *_LINK_COLUMNS)
"""The columns a link look-up selects (`_links_sql`), in its rows' order."""


def _link_row(link: Link, now: datetime) -> tuple[Any, ...]:
    """A link's row, its values in `_LINK_COLUMNS` order (a tuple: what a bulk insert takes most cheaply)."""
    return (
        link.tenant,
        link.pair,
        link.left_id,
        link.right_id,
        link.match_key,
        link.left_values,
        link.right_values,
        link.left_hash,
        link.right_hash,
        link.last_writer,
        link.created_at or now,
        link.synced_at or now,
    )


def _entry_of(row: Row[Any]) -> JournalEntry:
    return JournalEntry(
        tenant=row.tenant,
        scope=row.scope,
        key=row.key,
        step=row.step,
        status=row.status,
        record_id=row.record_id,
        data=row.data,
        updated_at=row.updated_at,
    )


def _run_of(row: Row[Any]) -> RunRecord:
    return RunRecord(
        run_id=row.id,
        tenant=row.tenant,
        pairs=tuple(row.pairs),
        kind=row.kind,
        trigger=row.trigger,
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        counts=Counts.from_dict(row.counts),
        error=row.error,
        cancel_requested_at=row.cancel_requested_at,
    )


def _item_of(row: Row[Any]) -> RunItem:
    return RunItem(
        item_id=row.id,
        run_id=row.run_id,
        tenant=row.tenant,
        pair=row.pair,
        direction=row.direction,
        action=row.action,
        status=row.status,
        left_id=row.left_id,
        right_id=row.right_id,
        reason=row.reason,
        diff=row.diff,
        source_values=row.source_values,
        remote_status=row.remote_status,
        remote_response=row.remote_response,
        created_at=row.created_at,
    )


def _item_row(item: RunItem) -> ItemRow:
    return (
        item.run_id,
        item.tenant,
        item.pair,
        item.direction,
        item.action,
        item.status,
        item.left_id,
        item.right_id,
        item.reason,
        item.diff,
        item.source_values,
        item.remote_status,
        item.remote_response,
    )


_ITEM_ROW_COLUMNS = (*ITEM_COLUMNS, "created_at")


def _unique_links(links: Sequence[Link]) -> list[Link]:
    """The batch keyed by left id (a later link for the same left id wins); one left id per right id."""
    by_left = {(link.tenant, link.pair, link.left_id): link for link in links}
    by_right: dict[tuple[str, str, str], str] = {}
    for link in by_left.values():
        owner = by_right.setdefault((link.tenant, link.pair, link.right_id), link.left_id)
        if owner != link.left_id:
            raise ValueError(
                f"right id {link.right_id!r} of pair {link.pair!r} given to left ids {owner!r} and "
                f"{link.left_id!r} in one batch"
            )
    return list(by_left.values())


# --- the store --------------------------------------------------------------------------------------------------


# Statements built once (issue 19): a workflow runs these a few times per unit of work, and building a statement
# and its cache key costs several times what running a prebuilt one does (SQLAlchemy memoizes the key of a
# statement object and finds its compiled form in the engine's cache).
_RUN_START = sa_insert(RUNS).returning(RUNS.c.id)
_RUN_END = (
    update(RUNS)
    .where(RUNS.c.id == bindparam("run_id"))
    .values(
        status=bindparam("new_status", type_=RUNS.c.status.type),
        counts=bindparam("new_counts", type_=RUNS.c.counts.type),
        error=bindparam("new_error", type_=RUNS.c.error.type),
        finished_at=bindparam("new_finished_at", type_=RUNS.c.finished_at.type),
    )
)
_LINK_BY_LEFT = select(LINKS).where(
    LINKS.c.tenant == bindparam("tenant"), LINKS.c.pair == bindparam("pair"), LINKS.c.left_id == bindparam("left_id")
)
_LINKS_BY_VALUE: dict[tuple[str, str], Select[Any]] = {
    # the pair as a literal, as in the partial index's WHERE (a bound parameter would not let SQLite use it)
    (pair, field): select(LINKS).where(
        LINKS.c.tenant == bindparam("tenant"),
        LINKS.c.pair == literal_column(f"'{pair}'"),
        LeftValue(field).in_(bindparam("values", expanding=True)),
    )
    for pair, field in LINK_VALUE_INDEXES
}
"""The look-ups of a pair's links by a left value, by (pair, field): one per link value index (migration 0012)."""
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
"""SQLite's `lower`: ASCII letters only."""
_JOURNAL_OF_KEY = (
    select(JOURNAL)
    .where(
        JOURNAL.c.tenant == bindparam("tenant"),
        JOURNAL.c.scope == bindparam("scope"),
        JOURNAL.c.key == bindparam("key"),
    )
    .order_by(JOURNAL.c.id)
)
_CLEAR_KEY = delete(JOURNAL).where(
    JOURNAL.c.tenant == bindparam("tenant"), JOURNAL.c.scope == bindparam("scope"), JOURNAL.c.key == bindparam("key")
)
_JOURNAL_UPSERTS: dict[str, Any] = {}
"""The journal's upsert, by dialect name (built on first use)."""


def _journal_upsert(dialect: str) -> Any:
    statement = _JOURNAL_UPSERTS.get(dialect)
    if statement is None:
        insert: Any = pg_insert(JOURNAL) if dialect == "postgresql" else sqlite_insert(JOURNAL)
        changes = {name: insert.excluded[name] for name in ("status", "record_id", "data", "updated_at")}
        keys = ["tenant", "scope", "key", "step"]
        statement = _JOURNAL_UPSERTS[dialect] = insert.on_conflict_do_update(index_elements=keys, set_=changes)
    return statement


def _run_start(tenant: str, pairs: Sequence[str], kind: RunKind, trigger: Trigger) -> tuple[Any, dict[str, Any]]:
    """The INSERT of a run as started ("running", zero counts), answering its id; and its parameters."""
    values = {"tenant": tenant, "pairs": list(pairs), "kind": kind, "trigger": trigger, "status": "running"}
    return _RUN_START, values | {"started_at": _now(), "counts": Counts().as_dict()}


def _run_end(run_id: int, status: RunStatus, counts: Counts, error: str | None) -> tuple[Any, dict[str, Any]]:
    """The UPDATE of a run to how it ended (a final status, never "running"); and its parameters."""
    if status == "running":
        raise ValueError("finish_run needs a final status: succeeded, failed, interrupted or cancelled")
    values = {"new_status": status, "new_counts": counts.as_dict(), "new_error": error, "new_finished_at": _now()}
    return _RUN_END, values | {"run_id": run_id}


class Store:
    """The state of cwsync: links, cursors, runs and their per-record items.

    Open with `await Store.open(url)`; close with `await store.close()` (or `async with await Store.open(url)`).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        """Wrap an engine from `create_engine`; prefer `Store.open`, which also migrates."""
        self._engine = engine
        self._sqlite_writer = asyncio.Lock()
        self._writer: SqliteWriter | None = None
        self._reader: SqliteReader | None = None

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True) -> Self:
        """Connect to `url` (`sqlite:///path.db`, `postgresql://...`) and, by default, migrate to the newest schema.

        Migrating is idempotent and safe when several processes open the same database at once.

        Raises:
            StoreUnavailableError: the URL is not one the store opens, or the database cannot be reached or written.
        """
        try:
            engine_url = async_url(url)
        except ValueError as exc:  # also sqlalchemy's ArgumentError for a URL it cannot parse
            raise StoreUnavailableError(url.split("://", 1)[0] + "://…", str(exc)) from None
        shown = engine_url.render_as_string(hide_password=True)
        try:
            if engine_url.get_backend_name() == "sqlite" and engine_url.database:
                Path(engine_url.database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(shown, exc.strerror or str(exc)) from None
        store = cls(create_engine(engine_url))
        if migrate:
            try:
                await store.migrate()
            except (OSError, TimeoutError, SQLAlchemyError) as exc:
                await store.close()
                raise StoreUnavailableError(shown, _reason(exc)) from None
            except BaseException:
                await store.close()
                raise
        return store

    async def migrate(self) -> None:
        """Run `alembic upgrade head` on this database, one migrator at a time."""
        async with self._connect(write=True) as conn, conn.begin():
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await conn.run_sync(_upgrade_to_head)

    async def revision(self) -> str | None:
        """The database's Alembic revision (None: never migrated); `cwsync.store.schema.head()` is the newest."""
        from alembic.runtime.migration import MigrationContext

        async with self._connect() as conn:
            return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())

    async def close(self) -> None:
        """Close every pooled connection (and the SQLite writer's and reader's, if `write` / `read` opened them)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        await self._engine.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def ping(self) -> None:
        """Connect once and run `SELECT 1` (no schema needed).

        Raises:
            StoreUnavailableError: the database cannot be reached.
        """
        try:
            async with self._engine.connect() as conn:
                await conn.execute(select(1))
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            shown = self._engine.url.render_as_string(hide_password=True)
            raise StoreUnavailableError(shown, _reason(exc)) from None

    @property
    def dialect(self) -> str:
        """`"sqlite"` or `"postgresql"`."""
        return self._engine.dialect.name

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """One unit of work: everything done through the `Tx` commits together, or (on an exception) not at all."""
        async with self._connect(write=True) as conn, conn.begin():
            tx = Tx(conn)
            try:
                yield tx
            finally:
                tx.end()

    async def write(self, body: Callable[[Tx], Awaitable[T]]) -> T:
        """One write transaction running `body(tx)`: committed, or rolled back when it raises; its result.

        Like `transaction()`, for bodies that only write (`Tx` methods; `tx.connection.execute` for other tables):
        on SQLite the whole transaction runs at once on a synchronous connection (`cwsync.store.writer`), so
        this process's writer lock is held for the database's time (well under a millisecond for a workflow's
        writes), not for a trip through a busy event loop per statement. `body` must await nothing but the
        transaction's statements.
        """
        if self.dialect != "sqlite":
            async with self.transaction() as tx:
                return await body(tx)
        if self._writer is None:
            self._writer = SqliteWriter(self._engine.url, busy_ms=SQLITE_BUSY_MS, on_connect=_sqlite_on_connect)

        async def run(conn: AsyncConnection) -> T:
            tx = Tx(conn)
            try:
                return await body(tx)
            finally:
                tx.end()

        async with self._sqlite_writer:
            return await self._writer.run(run)

    async def read(self, body: Callable[[Reads], Awaitable[T]]) -> T:
        """One read transaction running `body(reads)` (a consistent snapshot); its result.

        For the small look-ups of a unit of work (a change and its event, a quote's link and journal): on SQLite
        the body runs at once on a read-only synchronous connection (`cwsync.store.reader`), never queued behind
        the writer nor sent through the event loop statement by statement, so the look-ups of many units of work
        in flight run side by side; on PostgreSQL on a pooled connection of the engine. `body` must await nothing
        but its statements, and only read (on SQLite it may run again after a busy database).
        """
        if self.dialect != "sqlite":
            async with self._engine.connect() as conn:
                return await body(Reads(conn))
        if self._reader is None:
            self._reader = SqliteReader(self._engine.url, busy_ms=SQLITE_BUSY_MS, on_connect=_sqlite_on_connect)

        async def run(conn: AsyncConnection) -> T:
            return await body(Reads(conn))

        return await self._reader.run(run)

    @contextlib.asynccontextmanager
    async def _connect(self, *, write: bool = False) -> AsyncIterator[AsyncConnection]:
        if write and self.dialect == "sqlite":
            # SQLite has one writer at a time anyway: queue this process's writers here, before they take a pooled
            # connection, instead of letting them pile up on the file lock (busy timeouts, pool exhaustion).
            async with self._sqlite_writer, self._engine.connect() as conn:
                await conn.execution_options(sqlite_begin="IMMEDIATE")
                yield conn
            return
        async with self._engine.connect() as conn:
            if write:
                await conn.execution_options(sqlite_begin="IMMEDIATE")
            yield conn

    async def _all(self, statement: Select[Any]) -> list[Row[Any]]:
        async with self._connect() as conn:
            return list((await conn.execute(statement)).all())

    # --- links --------------------------------------------------------------------------------------------------

    async def links_by_left(self, tenant: str, pair: str, left_ids: Iterable[str]) -> dict[str, Link]:
        """The links of these left ids, keyed by left id (ids without a link are absent)."""
        links = await self._links_where(tenant, pair, LINKS.c.left_id, left_ids)
        return {link.left_id: link for link in links}

    async def links_by_right(self, tenant: str, pair: str, right_ids: Iterable[str]) -> dict[str, Link]:
        """The links of these right ids, keyed by right id (ids without a link are absent)."""
        links = await self._links_where(tenant, pair, LINKS.c.right_id, right_ids)
        return {link.right_id: link for link in links}

    async def _links_where(self, tenant: str, pair: str, column: ColumnElement[Any], ids: Iterable[str]) -> list[Link]:
        wanted = sorted(set(ids))
        if self.dialect == "sqlite":
            return await self._look_up(_sqlite_links(tenant, pair, str(column.key), wanted))

        async def body(conn: AsyncConnection) -> list[Link]:
            found: list[Link] = []
            base = select(LINKS).where(LINKS.c.tenant == tenant, LINKS.c.pair == pair)
            for chunk in _chunks(wanted):
                result = await conn.execute(base.where(column.in_(chunk)))
                found.extend(_link_of(row) for row in result)
            return found

        return await self._look_up(body)

    async def right_ids(self, tenant: str, pair: str, left_ids: Iterable[str]) -> dict[str, str]:
        """Left id → right id of the links of these left ids: what a reference to a parent needs, without reading
        (and decoding) each link's values."""
        wanted = sorted(set(left_ids))
        if self.dialect == "sqlite":
            return await self._look_up(_sqlite_right_ids(tenant, pair, wanted))

        async def body(conn: AsyncConnection) -> dict[str, str]:
            out: dict[str, str] = {}
            base = select(LINKS.c.left_id, LINKS.c.right_id).where(LINKS.c.tenant == tenant, LINKS.c.pair == pair)
            for chunk in _chunks(wanted):
                out.update(
                    (row.left_id, row.right_id) for row in await conn.execute(base.where(LINKS.c.left_id.in_(chunk)))
                )
            return out

        return await self._look_up(body)

    async def _look_up(self, body: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run a read-only `body` of the engine's look-ups (links by id, a run's cancel mark): on SQLite at once on
        the store's synchronous reader (`cwsync.store.reader`, like `read`) — through aiosqlite each was a trip to
        the driver's thread and back per statement, ~1 ms of CPU for a one-row read and 5-20 ms for a page's
        thousand ids (measured on a 10,000-link store, load ~2) — else on a pooled connection. `body` reads only and
        awaits nothing but its statements (on SQLite it may run again after a busy database)."""
        if self.dialect != "sqlite":
            async with self._connect() as conn:
                return await body(conn)
        if self._reader is None:
            self._reader = SqliteReader(self._engine.url, busy_ms=SQLITE_BUSY_MS, on_connect=_sqlite_on_connect)
        return await self._reader.run(body)

    async def link_count(self, tenant: str, pair: str) -> int:
        """How many links the pair has."""
        statement = select(func.count()).select_from(LINKS).where(LINKS.c.tenant == tenant, LINKS.c.pair == pair)
        async with self._connect() as conn:
            return int((await conn.execute(statement)).scalar_one())

    async def iter_links(self, tenant: str, pair: str, *, batch: int = 1000) -> AsyncIterator[list[Link]]:
        """Every link of the pair, `batch` at a time in id order (keyset paging: bounded memory, no long reads)."""
        after = 0
        while True:
            rows = await self._all(
                select(LINKS)
                .where(LINKS.c.tenant == tenant, LINKS.c.pair == pair, LINKS.c.id > after)
                .order_by(LINKS.c.id)
                .limit(batch)
            )
            if not rows:
                return
            yield [_link_of(row) for row in rows]
            after = rows[-1].id

    async def iter_link_ids(self, tenant: str, pair: str, *, batch: int = 5000) -> AsyncIterator[list[tuple[str, str]]]:
        """(left id, right id) of every link of the pair, `batch` at a time: `iter_links` without the values (a
        reconciliation compares ids only, and decoding every link's values would be most of its cost)."""
        after = 0
        while True:
            rows = await self._all(
                select(LINKS.c.id, LINKS.c.left_id, LINKS.c.right_id)
                .where(LINKS.c.tenant == tenant, LINKS.c.pair == pair, LINKS.c.id > after)
                .order_by(LINKS.c.id)
                .limit(batch)
            )
            if not rows:
                return
            yield [(row.left_id, row.right_id) for row in rows]
            after = rows[-1].id

    # --- journal ------------------------------------------------------------------------------------------------

    async def journal(self, tenant: str, scope: str, keys: Iterable[str] | None = None) -> list[JournalEntry]:
        """The journal entries of a scope (of these keys only, when given), oldest first."""
        base = select(JOURNAL).where(JOURNAL.c.tenant == tenant, JOURNAL.c.scope == scope).order_by(JOURNAL.c.id)
        if keys is None:
            return [_entry_of(row) for row in await self._all(base)]
        out: list[JournalEntry] = []
        for chunk in _chunks(sorted(set(keys))):
            out.extend(_entry_of(row) for row in await self._all(base.where(JOURNAL.c.key.in_(chunk))))
        return out

    async def has_journal(self, tenant: str, scope: str) -> bool:
        """Whether any entry of the scope is left (a cheap check before reading them)."""
        statement = select(JOURNAL.c.id).where(JOURNAL.c.tenant == tenant, JOURNAL.c.scope == scope).limit(1)
        return bool(await self._all(statement))

    async def mirror_ids(self, table: str, tenant: str, ids: Iterable[str]) -> set[str]:
        """The ids among `ids` that have a row in the mirror table `table` (`cw_companies`, ...)."""
        found: set[str] = set()
        for chunk in _chunks(sorted(set(ids))):
            rows = await self._all(mirror.existing_ids(mirror.mirror_table(table), tenant, chunk))
            found.update(str(row.id) for row in rows)
        return found

    # --- cursors ------------------------------------------------------------------------------------------------

    async def cursor(self, tenant: str, pair: str, side: Side) -> str | None:
        """The side's stored watermark, or None before the first completed run."""
        statement = select(CURSORS.c.value).where(
            CURSORS.c.tenant == tenant, CURSORS.c.pair == pair, CURSORS.c.side == side
        )
        async with self._connect() as conn:
            value: str | None = (await conn.execute(statement)).scalar_one_or_none()
            return value

    # --- runs ---------------------------------------------------------------------------------------------------

    async def start_run(self, tenant: str, *, pairs: Sequence[str], kind: RunKind, trigger: Trigger) -> int:
        """Record a run as started ("running", zero counts); returns its id."""
        async with self._connect(write=True) as conn, conn.begin():
            return int((await conn.execute(*_run_start(tenant, pairs, kind, trigger))).scalar_one())

    async def finish_run(self, run_id: int, *, status: RunStatus, counts: Counts, error: str | None = None) -> None:
        """Record how a run ended; raises `RunNotFoundError` for an unknown id, `ValueError` for status "running"."""
        statement, params = _run_end(run_id, status, counts, error)
        async with self._connect(write=True) as conn, conn.begin():
            if (await conn.execute(statement, params)).rowcount == 0:
                raise RunNotFoundError(f"no run with id {run_id}")

    async def request_cancel(self, run_id: int) -> RunRecord | None:
        """Ask a running run to stop at its next page boundary (any process polls `cancel_requested`); returns the
        run as it is now (None for an unknown id). A run that is not running is left as it is."""
        statement = (
            update(RUNS)
            .where(RUNS.c.id == run_id, RUNS.c.status == "running", RUNS.c.cancel_requested_at.is_(None))
            .values(cancel_requested_at=_now())
        )
        async with self._connect(write=True) as conn, conn.begin():
            await conn.execute(statement)
        return await self.run(run_id)

    async def cancel_requested(self, run_id: int) -> bool:
        """Whether a cancel was asked for this run (one read by primary key: a run polls it once per page)."""
        statement = select(RUNS.c.cancel_requested_at).where(RUNS.c.id == run_id)

        async def body(conn: AsyncConnection) -> bool:
            return (await conn.execute(statement)).scalar_one_or_none() is not None

        return await self._look_up(body)

    async def run(self, run_id: int) -> RunRecord | None:
        """The run with this id, or None."""
        rows = await self._all(select(RUNS).where(RUNS.c.id == run_id))
        return _run_of(rows[0]) if rows else None

    async def runs(
        self,
        tenant: str,
        *,
        limit: int = 20,
        pair: str | None = None,
        integration: str | None = None,
        status: str | None = None,
        kind: str | None = None,
        trigger: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
    ) -> list[RunRecord]:
        """The tenant's latest runs, newest first, a page at a time (PL-4): with `pair`, only runs that covered it;
        with `integration` (`hudu`, `catalog`, `mirror`, ...), runs of its pairs (`hudu` or `hudu:<type>`); with
        `status`, `kind`, `trigger`, only those; `since`/`until` bound the start time."""
        statement = select(RUNS).where(RUNS.c.tenant == tenant)
        if pair is not None:
            statement = statement.where(self._run_covers(pair))
        if integration is not None:
            statement = statement.where(self._run_of_integration(integration))
        for column, value in ((RUNS.c.status, status), (RUNS.c.kind, kind), (RUNS.c.trigger, trigger)):
            if value is not None:
                statement = statement.where(column == value)
        if since is not None:
            statement = statement.where(RUNS.c.started_at >= since)
        if until is not None:
            statement = statement.where(RUNS.c.started_at < until)
        statement = statement.order_by(RUNS.c.id.desc()).limit(limit).offset(offset)
        return [_run_of(row) for row in await self._all(statement)]

    def _run_of_integration(self, name: str) -> ColumnElement[bool]:
        """A run that covered a pair of this integration: the pair `name` or one named `name:<something>`."""
        if self.dialect == "postgresql":
            members = func.jsonb_array_elements_text(RUNS.c.pairs).table_valued("value")
        else:
            members = func.json_each(RUNS.c.pairs).table_valued("value")
        value = members.c.value
        return exists(select(1).select_from(members).where((value == name) | value.like(f"{name}:%")))

    def _run_covers(self, pair: str) -> ColumnElement[bool]:
        if self.dialect == "postgresql":
            return RUNS.c.pairs.bool_op("@>")(func.jsonb_build_array(literal(pair, String)))
        members = func.json_each(RUNS.c.pairs).table_valued("value")
        return exists(select(1).select_from(members).where(members.c.value == pair))

    async def interrupted_runs(self, tenant: str) -> list[RunRecord]:
        """Runs still marked "running": a process that crashed or was killed left them behind (oldest first)."""
        statement = select(RUNS).where(RUNS.c.tenant == tenant, RUNS.c.status == "running").order_by(RUNS.c.id)
        return [_run_of(row) for row in await self._all(statement)]

    # --- run items ----------------------------------------------------------------------------------------------

    async def run_items(
        self,
        run_id: int,
        *,
        action: str | None = None,
        limit: int = 100,
        offset: int = 0,
        status: str | None = None,
        pair: str | None = None,
        record: str | None = None,
        text: str | None = None,
    ) -> list[RunItem]:
        """A page of a run's items in the order they were recorded (PL-4): only one `action`, `status` or `pair`,
        those about a `record` (its ConnectWise or other side's id), or whose reason holds `text` (any case)."""
        statement = select(RUN_ITEMS).where(RUN_ITEMS.c.run_id == run_id)
        for column, value in ((RUN_ITEMS.c.action, action), (RUN_ITEMS.c.status, status), (RUN_ITEMS.c.pair, pair)):
            if value is not None:
                statement = statement.where(column == value)
        if record is not None:
            statement = statement.where((RUN_ITEMS.c.left_id == record) | (RUN_ITEMS.c.right_id == record))
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            statement = statement.where(func.lower(RUN_ITEMS.c.reason).like(f"%{escaped.lower()}%", escape="\\"))
        statement = statement.order_by(RUN_ITEMS.c.id).limit(limit).offset(offset)
        return [_item_of(row) for row in await self._all(statement)]

    async def items_for_record(
        self, tenant: str, pair: str, *, left_id: str | None = None, right_id: str | None = None, limit: int = 20
    ) -> list[RunItem]:
        """The latest items about a record (by left id, right id, or either), newest first — for `explain`."""
        matches = [
            col == value
            for col, value in ((RUN_ITEMS.c.left_id, left_id), (RUN_ITEMS.c.right_id, right_id))
            if value is not None
        ]
        if not matches:
            raise ValueError("items_for_record needs left_id or right_id")
        statement = (
            select(RUN_ITEMS)
            .where(RUN_ITEMS.c.tenant == tenant, RUN_ITEMS.c.pair == pair, or_(*matches))
            .order_by(RUN_ITEMS.c.id.desc())
            .limit(limit)
        )
        return [_item_of(row) for row in await self._all(statement)]


class Reads:
    """The look-ups of one `Store.read` body (a unit of work's links and journal; `connection` for other tables)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    @property
    def connection(self) -> AsyncConnection:
        """The read's connection, for statements on tables these methods do not cover (changes, devices)."""
        return self._conn

    async def links_by_left(self, tenant: str, pair: str, left_ids: Iterable[str]) -> dict[str, Link]:
        """`Store.links_by_left` inside this read."""
        wanted = sorted(set(left_ids))
        if len(wanted) == 1:  # a workflow's unit of work
            params = {"tenant": tenant, "pair": pair, "left_id": wanted[0]}
            return {row.left_id: _link_of(row) for row in await self._conn.execute(_LINK_BY_LEFT, params)}
        base = select(LINKS).where(LINKS.c.tenant == tenant, LINKS.c.pair == pair)
        found: dict[str, Link] = {}
        for chunk in _chunks(wanted):
            for row in await self._conn.execute(base.where(LINKS.c.left_id.in_(chunk))):
                found[row.left_id] = _link_of(row)
        return found

    async def links_by_value(self, tenant: str, pair: str, field: str, values: Iterable[str]) -> list[Link]:
        """The links of `pair` whose left value `field` is one of `values`, case aside, found by the pair's link
        value index (`models.LINK_VALUE_INDEXES`: a company's identifier, a contact's e-mail, a product's SKU).

        The stored values are lower-cased by the database, the given ones here both ways it may do it: all of
        Unicode, as Python and PostgreSQL's `lower` do, and ASCII letters only, as SQLite's does. So the very same
        value is always found, and on SQLite a value whose case differs beyond ASCII letters is not (the caller
        then reads the source system, as for an unlinked record). Callers still compare the field of what was found
        (a value that is not text, a whitespace difference).

        Raises:
            ValueError: no index holds this pair's `field` (a look-up by it would scan the pair's links).
        """
        statement = _LINKS_BY_VALUE.get((pair, field))
        if statement is None:
            raise ValueError(f"no link value index for pair {pair!r}, field {field!r}")
        wanted = sorted({form for value in values for form in (value.lower(), value.translate(_ASCII_LOWER))})
        found: list[Link] = []
        for chunk in _chunks(wanted):
            params = {"tenant": tenant, "values": chunk}
            found.extend(_link_of(row) for row in await self._conn.execute(statement, params))
        return found

    async def journal(self, tenant: str, scope: str, keys: Iterable[str]) -> list[JournalEntry]:
        """`Store.journal` of these keys inside this read, oldest first."""
        wanted = sorted(set(keys))
        if len(wanted) == 1:  # a workflow's unit of work
            params = {"tenant": tenant, "scope": scope, "key": wanted[0]}
            return [_entry_of(row) for row in await self._conn.execute(_JOURNAL_OF_KEY, params)]
        base = select(JOURNAL).where(JOURNAL.c.tenant == tenant, JOURNAL.c.scope == scope).order_by(JOURNAL.c.id)
        out: list[JournalEntry] = []
        for chunk in _chunks(wanted):
            out.extend(_entry_of(row) for row in await self._conn.execute(base.where(JOURNAL.c.key.in_(chunk))))
        return out


class Tx:
    """The writes of one unit of work; get one from `Store.transaction()` and use it only inside that block."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._closed = False

    def end(self) -> None:
        """Refuse further writes (called by `Store.transaction` when its block exits)."""
        self._closed = True

    @property
    def connection(self) -> AsyncConnection:
        """The transaction's connection, for statements on tables the `Tx` methods do not cover (changes, devices)."""
        return self._conn

    async def _execute(self, statement: Any, params: Any = None) -> Any:
        if self._closed:
            raise RuntimeError("this transaction is over: write inside the `async with store.transaction()` block")
        return await self._conn.execute(statement, params)

    def _insert(self, table: Table) -> Insert:
        is_pg = self._conn.dialect.name == "postgresql"
        return pg_insert(table) if is_pg else sqlite_insert(table)

    async def upsert_links(self, links: Sequence[Link]) -> int:
        """Insert links, or update them by (tenant, pair, left id), keeping `created_at` of existing ones.

        A link whose right id changed simply moves. A right id that another left id held is taken over: that older
        link is removed (a right record is linked to one left record at most); returns how many were removed.
        Raises `ValueError` when the batch itself gives one right id to two left ids.
        """
        batch = _unique_links(links)
        if not batch:
            return 0
        released = await self._release_right_ids(batch)
        now = _now()
        rows = [_link_row(link, now) for link in batch]
        await self._bulk(
            LINKS, rows, columns=_LINK_COLUMNS, conflict=("tenant", "pair", "left_id"), kept=("created_at",)
        )
        return released

    async def _bulk(
        self,
        table: Table,
        rows: Sequence[Any],
        *,
        columns: Sequence[str] | None = None,
        conflict: Sequence[str] = (),
        kept: Sequence[str] = (),
    ) -> None:
        if self._closed:
            raise RuntimeError("this transaction is over: write inside the `async with store.transaction()` block")
        await bulk_insert(self._conn, table, rows, columns=columns, conflict=conflict, kept=kept)

    async def _release_right_ids(self, batch: Sequence[Link]) -> int:
        """Delete the links that hold a right id this batch gives to a different left id; returns how many."""
        wanted = {(link.tenant, link.pair, link.right_id): link.left_id for link in batch}
        scopes = {(tenant, pair) for tenant, pair, _ in wanted}
        if self._conn.dialect.name == "sqlite" and len(scopes) == 1:
            stale = await self._stale_holders_of_one_pair(wanted)
        else:
            stale = await self._stale_holders(wanted)
        for ids in _chunks(stale):
            await self._execute(delete(LINKS).where(LINKS.c.id.in_(ids)))
        return len(stale)

    async def _stale_holders(self, wanted: dict[tuple[str, str, str], str]) -> list[int]:
        """The ids of the links holding a right id of `wanted` ((tenant, pair, right id) → left id) for another
        left id."""
        stale: list[int] = []
        for keys in _chunks(sorted(wanted)):
            rows = await self._execute(self._holders_of(keys))
            stale.extend(row.id for row in rows if wanted[(row.tenant, row.pair, row.right_id)] != row.left_id)
        return stale

    async def _stale_holders_of_one_pair(self, wanted: dict[tuple[str, str, str], str]) -> list[int]:
        """`_stale_holders` of one pair's right ids on SQLite (every engine's batch is one pair's): the statement as
        text, made once per size of chunk — SQLAlchemy's compilation of its three IN lists of a thousand values was
        a tenth of a batch's commit."""
        [(tenant, pair)] = {(tenant, pair) for tenant, pair, _ in wanted}
        stale: list[int] = []
        for chunk in _chunks(sorted(right_id for _, _, right_id in wanted)):
            rows = await self._driver_sql(_holders_sql(len(chunk)), (tenant, pair, *chunk))
            stale.extend(row[0] for row in rows if wanted[(tenant, pair, row[4])] != row[3])
        return stale

    async def _driver_sql(self, sql: str, params: tuple[Any, ...]) -> Any:
        if self._closed:
            raise RuntimeError("this transaction is over: write inside the `async with store.transaction()` block")
        return await self._conn.exec_driver_sql(sql, params)

    @staticmethod
    def _holders_of(keys: Sequence[tuple[str, str, str]]) -> Select[Any]:
        columns = (LINKS.c.id, LINKS.c.tenant, LINKS.c.pair, LINKS.c.left_id, LINKS.c.right_id)
        scopes = {(tenant, pair) for tenant, pair, _ in keys}
        right_ids = {right_id for _, _, right_id in keys}
        # Over-selects across scopes when one batch mixes pairs; the caller filters exactly.
        return select(*columns).where(
            LINKS.c.tenant.in_({t for t, _ in scopes}),
            LINKS.c.pair.in_({p for _, p in scopes}),
            LINKS.c.right_id.in_(right_ids),
        )

    async def delete_links(self, tenant: str, pair: str, left_ids: Iterable[str]) -> None:
        """Remove the links of these left ids (unknown ids are ignored)."""
        for chunk in _chunks(sorted(set(left_ids))):
            await self._execute(
                delete(LINKS).where(LINKS.c.tenant == tenant, LINKS.c.pair == pair, LINKS.c.left_id.in_(chunk))
            )

    async def set_cursor(self, tenant: str, pair: str, side: Side, value: str) -> None:
        """Store the side's watermark (it becomes visible when the transaction commits)."""
        statement: Any = self._insert(CURSORS)
        statement = statement.values(tenant=tenant, pair=pair, side=side, value=value, updated_at=_now())
        statement = statement.on_conflict_do_update(
            index_elements=["tenant", "pair", "side"],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
        await self._execute(statement)

    async def start_run(self, tenant: str, *, pairs: Sequence[str], kind: RunKind, trigger: Trigger) -> int:
        """`Store.start_run` inside this transaction: the run appears with the caller's first writes, or not at all."""
        return int((await self._execute(*_run_start(tenant, pairs, kind, trigger))).scalar_one())

    async def finish_run(self, run_id: int, *, status: RunStatus, counts: Counts, error: str | None = None) -> None:
        """`Store.finish_run` inside this transaction: the run ends together with the outcome it records."""
        if (await self._execute(*_run_end(run_id, status, counts, error))).rowcount == 0:
            raise RunNotFoundError(f"no run with id {run_id}")

    async def add_run_items(self, items: Sequence[RunItem]) -> None:
        """Record run items in bulk (one executemany); their run must exist."""
        if items:
            now = _now()
            rows = [(*_item_row(item), item.created_at or now) for item in items]
            await self._bulk(RUN_ITEMS, rows, columns=_ITEM_ROW_COLUMNS)

    async def add_item_rows(self, rows: Sequence[ItemRow]) -> None:
        """`add_run_items` of run items as rows (`ItemRow`, what the engine's recorder makes), created now."""
        if rows:
            now = _now()
            await self._bulk(RUN_ITEMS, [(*row, now) for row in rows], columns=_ITEM_ROW_COLUMNS)

    async def write_journal(self, entries: Sequence[JournalEntry]) -> None:
        """Insert or replace journal entries by (tenant, scope, key, step)."""
        if not entries:
            return
        now = _now()
        rows = {
            (e.tenant, e.scope, e.key, e.step): {
                "tenant": e.tenant,
                "scope": e.scope,
                "key": e.key,
                "step": e.step,
                "status": e.status,
                "record_id": e.record_id,
                "data": e.data,
                "updated_at": now,
            }
            for e in entries
        }
        await self._execute(_journal_upsert(self._conn.dialect.name), list(rows.values()))

    async def clear_journal(self, tenant: str, scope: str, keys: Iterable[str]) -> None:
        """Remove every entry of these keys (their writes are recorded elsewhere now: links, run items)."""
        wanted = sorted(set(keys))
        if len(wanted) == 1:  # a workflow's unit of work
            await self._execute(_CLEAR_KEY, {"tenant": tenant, "scope": scope, "key": wanted[0]})
            return
        for chunk in _chunks(wanted):
            await self._execute(
                delete(JOURNAL).where(JOURNAL.c.tenant == tenant, JOURNAL.c.scope == scope, JOURNAL.c.key.in_(chunk))
            )

    async def mirror_upsert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or replace rows of a mirror table by (tenant, id) (see `cwsync.store.mirror.row_values`)."""
        if not rows:
            return
        target = mirror.mirror_table(table)
        statement: Any = self._insert(target)
        changes = {c.name: statement.excluded[c.name] for c in target.c if c.name not in ("tenant", "id")}
        await self._execute(statement.on_conflict_do_update(index_elements=["tenant", "id"], set_=changes), rows)

    async def mirror_delete(self, table: str, tenant: str, ids: Iterable[str]) -> None:
        """Delete the rows of these ids from a mirror table."""
        for chunk in _chunks(sorted(set(ids))):
            await self._execute(mirror.delete_rows(mirror.mirror_table(table), tenant, chunk))
