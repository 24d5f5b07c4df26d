"""SQLite reads run at once on the loop's thread, beside the writer (issue 19: `Store.read`).

Through aiosqlite a workflow's look-up (a change and its event, a quote's link and journal) is a few round trips to
the driver's thread, each waiting its turn on a busy event loop, and ten events in flight took pooled connections
beyond the pool's size (a new thread and connection each). `SqliteReader` runs a read body — BEGIN, its SELECTs,
COMMIT — at once, on synchronous read-only connections to the same file (`PRAGMA query_only`, the store's WAL
pragmas): WAL readers never wait for the writer (the store's in-process writer lock, nor another process's write
lock), so the reads of many events in flight run side by side with each other and with the writes, and a
one-row read by an index costs tens of microseconds instead of a trip through the loop.

The rare SQLITE_BUSY a WAL reader can meet (another connection recovering the WAL, or changing the journal mode)
is never waited on inside the loop: the busy timeout is zero and the read is run again every millisecond
(`asyncio.sleep`) until the store's busy timeout has passed. A read body may therefore run more than once: it must
only read. Like a write body it awaits nothing but its connection's `execute` (see `cwsync.store.writer`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from cwsync.store.writer import RETRY_SECONDS, Immediate, locked, run_to_end

__all__ = ["SqliteReader"]

T = TypeVar("T")
Body = Callable[[AsyncConnection], Awaitable[T]]


def _begin(conn: Connection) -> None:
    conn.connection.dbapi_connection.execute("BEGIN")  # type: ignore[union-attr]  # one snapshot for the body


class SqliteReader:
    """Read-only synchronous connections (a small pool) that run a file SQLite store's read bodies, each at once."""

    def __init__(self, url: URL, *, busy_ms: int, on_connect: Callable[[Any, Any], None]) -> None:
        self._patience = busy_ms / 1000

        def connect(dbapi_connection: Any, record: Any) -> None:
            on_connect(dbapi_connection, record)  # the store's pragmas (WAL, foreign keys, ...)
            dbapi_connection.execute("PRAGMA busy_timeout=0")
            dbapi_connection.execute("PRAGMA query_only=ON")

        self._engine: Engine = create_sync_engine(
            url.set(drivername="sqlite"),  # pysqlite: the same file, the same SQLite library
            pool_size=2,  # a body runs to its end before the next starts: one connection per thread that reads
            max_overflow=8,
            connect_args={"timeout": 0, "check_same_thread": False},
        )
        event.listen(self._engine, "connect", connect)
        event.listen(self._engine, "begin", _begin)

    async def run(self, body: Body[T]) -> T:
        """Run `body` in one read transaction (a consistent snapshot); its result.

        Raises:
            sqlalchemy.exc.OperationalError: SQLite stayed busy for the store's busy timeout.
        """
        deadline = time.monotonic() + self._patience
        while True:
            try:
                return self._read(body)
            except OperationalError as exc:
                if not locked(exc) or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(RETRY_SECONDS)

    def _read(self, body: Body[T]) -> T:
        with self._engine.connect() as conn:  # begun by its first statement, rolled back at the end (it read)
            return run_to_end(body(cast(AsyncConnection, Immediate(conn))))

    def close(self) -> None:
        """Close the connections."""
        self._engine.dispose()
