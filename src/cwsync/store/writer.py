"""SQLite write transactions without a trip through the event loop per statement (issue 19: `Store.write`).

Through aiosqlite every statement of a transaction is a round trip to the driver's thread and back through the event
loop, and the store's in-process writer lock (SQLite has one writer) is held across all of them. With ten workflow
events in flight each round trip waits its turn on a busy loop, so a three-statement transaction held the lock for
tens of milliseconds and the events queued on it. `SqliteWriter` runs the whole transaction — BEGIN IMMEDIATE, the
body's statements, COMMIT — at once, on its own synchronous connection to the same file (WAL, the same pragmas):
a workflow's few small statements and a WAL commit (no fsync with `synchronous=NORMAL`) take well under a
millisecond, less than the loop round trips they replace. (In a thread instead, the writer and the busy loop took
turns on the GIL, a switch interval each time: no better.)

The loop must never wait on another process's lock, so that connection's busy timeout is zero: when SQLite's write
lock is taken (another process, the intake writer), BEGIN fails at once, nothing has been written, and the writer
looks again every millisecond (`asyncio.sleep`) until the store's busy timeout has passed, then raises SQLite's
"database is locked" as an aiosqlite writer would.

The body is the same `async def body(tx)` a PostgreSQL store runs on its async connection: it is handed a connection
whose `execute` is an `async` method that never suspends (it runs the statement at once), so the coroutine runs to
its end in one step. A body that awaits anything else (a lock, a sleep, an HTTP call) is a programming error, raised
as such (its transaction rolled back).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import StaticPool

__all__ = ["RETRY_SECONDS", "Immediate", "SqliteWriter", "locked", "run_to_end"]

T = TypeVar("T")
Body = Callable[[AsyncConnection], Awaitable[T]]
RETRY_SECONDS = 0.001
"""How often a writer that found SQLite's write lock taken looks again."""


class Immediate:
    """The part of `AsyncConnection` a write (or read) body uses (`execute`, `dialect`), over a synchronous connection:
    awaiting `execute` runs the statement and returns without ever suspending."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.dialect = conn.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        """Run the statement now (the same result object as the async connection's)."""
        return self._conn.execute(statement, parameters)

    async def exec_driver_sql(self, statement: str, parameters: Any = None) -> Any:
        """Run a statement's text now, with the driver's own parameters (a list of tuples: an executemany)."""
        return self._conn.exec_driver_sql(statement, parameters)


def run_to_end(step: Awaitable[T]) -> T:
    """Drive a coroutine that never suspends to its result (its exception is raised)."""
    coroutine = cast(Coroutine[Any, Any, T], step)
    try:
        coroutine.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coroutine.close()
    raise RuntimeError("a store write (or read) awaited something other than its connection (see cwsync.store.writer)")


class _Busy(Exception):
    """BEGIN IMMEDIATE found SQLite's write lock taken (nothing was written)."""


def locked(exc: BaseException) -> bool:
    """Whether a SQLite error says another connection holds the lock it needed ("database is locked", busy)."""
    return "locked" in str(exc) or "busy" in str(exc)


def _begin_immediate(conn: Connection) -> None:
    try:
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE")  # type: ignore[union-attr]
    except sqlite3.OperationalError as exc:
        if locked(exc):
            raise _Busy(str(exc)) from None
        raise


class SqliteWriter:
    """One synchronous connection that runs a file SQLite store's write transactions, each at once."""

    def __init__(self, url: URL, *, busy_ms: int, on_connect: Callable[[Any, Any], None]) -> None:
        self._patience = busy_ms / 1000

        def connect(dbapi_connection: Any, record: Any) -> None:
            on_connect(dbapi_connection, record)  # the store's pragmas (WAL, foreign keys, ...), then no waiting
            dbapi_connection.execute("PRAGMA busy_timeout=0")

        self._engine: Engine = create_sync_engine(
            url.set(drivername="sqlite"),  # pysqlite: the same file, the same SQLite library
            poolclass=StaticPool,  # one connection, used by one writer at a time (the store's writer lock)
            connect_args={"timeout": 0, "check_same_thread": False},
        )
        event.listen(self._engine, "connect", connect)
        event.listen(self._engine, "begin", _begin_immediate)

    async def run(self, body: Body[T]) -> T:
        """Run `body` in one write transaction: committed, or rolled back on its exception.

        Raises:
            sqlalchemy.exc.OperationalError: SQLite's write lock stayed taken for the store's busy timeout.
        """
        deadline = time.monotonic() + self._patience
        while True:
            try:
                return self._transaction(body)
            except _Busy as exc:
                if time.monotonic() > deadline:
                    raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(str(exc))) from None
            await asyncio.sleep(RETRY_SECONDS)

    def _transaction(self, body: Body[T]) -> T:
        with self._engine.connect() as conn, conn.begin():
            return run_to_end(body(cast(AsyncConnection, Immediate(conn))))

    def close(self) -> None:
        """Close the connection."""
        self._engine.dispose()
