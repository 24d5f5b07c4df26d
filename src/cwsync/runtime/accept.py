"""Group-committed job intake: callbacks answered at once, never lost, whatever the engine is doing (issue 19).

A webhook handler authenticates and de-duplicates a callback in memory, then queues its job and answers 2xx once
the job is *committed*, so a 2xx is never lost, a crash included (before the commit the sender gets no 2xx and
sends again). What made that slow under load was where the commit waited: one write transaction per callback, queued
on the store's in-process SQLite writer lock behind the engine's transactions, each statement a round trip through
a busy event loop. `AcceptingJobStore.enqueue` instead hands the job to one writer thread with its own SQLite
connection, which takes every job waiting at that moment into one transaction (a storm of callbacks costs one
commit per batch, not per callback) and wakes the waiting handlers with one call into the loop. It speaks to
`sqlite3` directly, the statement text prebuilt and each column converted by SQLAlchemy's own bind processor: a batch
through SQLAlchemy's engine cost ~0.6 ms of CPU (one job), now ~0.07 ms, and a thread that needs the GIL less often
waits less for the engine's thread to give it up. That connection
never takes the store's asyncio writer lock: it waits only on SQLite's own file lock (WAL; an engine transaction
holds it for milliseconds), in its thread, so the event loop never waits on a write.

::

    jobs = AcceptingJobStore(store)        # a JobStore; enqueue() is group-committed on file SQLite
    job_id = await jobs.enqueue(new_job)   # returns after the commit, like JobStore.enqueue
    await jobs.close()                     # stop the writer thread (jobs still waiting are written first)

PostgreSQL (no single writer) and in-memory SQLite (one connection only) keep `JobStore.enqueue` as it is.

`enqueue` may be awaited from any thread's event loop (`accepts_anywhere`): the writer answers each waiter on its own
loop, which is how webhooks served on a thread of their own (`cwsync.server.intake`) are committed without waiting
for the engine's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite as sqlite_dialect

from cwsync.store.jobs import JOBS, JobStore, job_row
from cwsync.store.records import NewJob
from cwsync.store.store import Store

__all__ = ["IDLE_SECONDS", "MAX_BATCH", "AcceptingJobStore"]

MAX_BATCH = 1000
"""Jobs written in one transaction at most."""
BUSY_MS = 1
"""SQLite's busy timeout on the writer's connection: short, the writer retries on its own (`RETRY_SECONDS`)."""
RETRY_SECONDS = 0.001
"""How often a writer that found the write lock taken looks again."""
LOCKED_PATIENCE = 600.0
"""Seconds a batch keeps waiting for SQLite's write lock before its handlers get an error."""
IDLE_SECONDS = 30.0
"""A writer with nothing to write for this long closes its connection and ends (the next job starts another)."""

_log = structlog.get_logger("cwsync.runtime.accept")


@dataclass
class _Waiting:
    values: dict[str, Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[int | None]


_STOP = object()


class AcceptingJobStore(JobStore):
    """A `JobStore` whose `enqueue` is group-committed by one writer thread (file SQLite; else `JobStore`'s)."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self._path = _sqlite_file(store)
        self._queue: queue.SimpleQueue[_Waiting | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        """Transactions the writer committed (for tests and diagnostics)."""
        self.lock_waits = 0
        """Batches that found SQLite's write lock taken and waited for it."""

    async def enqueue(self, job: NewJob, *, now: datetime | None = None) -> int | None:
        """Queue `job` and return once it is committed: its id, or None when a queued job with the same
        `queueing_key` absorbed it (as `JobStore.enqueue`)."""
        if self._path is None:
            return await super().enqueue(job, now=now)
        loop = asyncio.get_running_loop()
        waiting = _Waiting(job_row(job, now or datetime.now(UTC)), loop, loop.create_future())
        with self._lock:  # with `_retire`: a job is never left in the queue of a writer that is leaving
            self._queue.put(waiting)
            if self._thread is None:
                self._start()
        return await waiting.future

    @property
    def accepts_anywhere(self) -> bool:
        """Whether `enqueue` may be awaited from any thread's event loop (file SQLite: its writer thread answers
        each waiter on the waiter's own loop), not only from the loop the store was opened on."""
        return self._path is not None

    @property
    def writer_running(self) -> bool:
        """Whether a writer thread is running now (it ends after `IDLE_SECONDS` without work)."""
        return self._thread is not None

    async def close(self) -> None:
        """Write what is waiting, then stop the writer thread."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            await asyncio.to_thread(thread.join)

    def _start(self) -> None:
        """Start a writer thread (the caller holds `_lock`)."""
        assert self._path is not None
        writer = _Writer(self._path, self._queue, self._counted, self._retire, self._waited)
        self._thread = threading.Thread(target=writer.run, name="cwsync-accept", daemon=True)
        self._thread.start()

    def _retire(self) -> bool:
        """The writer was idle for `IDLE_SECONDS`: let it go (True) unless a job arrived meanwhile."""
        with self._lock:
            if not self._queue.empty():
                return False
            self._thread = None
            return True

    def _counted(self) -> None:
        self.batches += 1

    def _waited(self) -> None:
        self.lock_waits += 1


class _Writer:
    """The writer thread: take what waits, write it in one statement (or transaction), answer every waiter."""

    def __init__(
        self,
        path: str,
        waiting: queue.SimpleQueue[_Waiting | object],
        on_commit: Callable[[], None],
        retire: Callable[[], bool],
        on_wait: Callable[[], None],
    ) -> None:
        self._waiting = waiting
        self._on_commit = on_commit
        self._retire = retire
        self._on_wait = on_wait
        self._path = path

    def run(self) -> None:
        conn = _connect(self._path)
        try:
            stop = False
            while not stop:
                batch: list[_Waiting] = []
                try:
                    item = self._waiting.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    if self._retire():
                        return  # an idle server (or a test's) keeps no thread and no connection open
                    continue
                while True:
                    if item is _STOP:
                        stop = True
                    elif isinstance(item, _Waiting):
                        batch.append(item)
                    if len(batch) >= MAX_BATCH:
                        break
                    try:
                        item = self._waiting.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._write(conn, batch)
        finally:
            conn.close()

    def _write(self, conn: sqlite3.Connection, batch: list[_Waiting]) -> None:
        deadline = time.monotonic() + LOCKED_PATIENCE
        waited = False
        while True:
            try:
                ids = _insert_all(conn, [w.values for w in batch])
                break
            except sqlite3.OperationalError as exc:
                # The write lock is taken (an engine transaction). SQLite's own busy handler sleeps up to 100 ms
                # between tries, so a writer polling with it loses to the engine's back-to-back transactions again
                # and again; this one looks again every millisecond instead, and waits as long as it must: the job
                # is committed late, never lost (a sender that gave up finds it de-duplicated when it sends again).
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    _fail(batch, exc)
                    return
                if not waited:
                    waited = True
                    self._on_wait()
                time.sleep(RETRY_SECONDS)
            except Exception as exc:  # the handlers answer an error, so the senders send again: nothing is lost
                _fail(batch, exc)
                return
        self._on_commit()
        _answer(batch, ids)


def _fail(batch: list[_Waiting], exc: Exception) -> None:
    tenants = ",".join(sorted({str(w.values["tenant"]) for w in batch}))  # a thread: no request's contextvars
    _log.warning("accept.write_failed", tenant=tenants, jobs=len(batch), error=repr(exc))
    _answer(batch, [exc] * len(batch))


def _insert_all(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> list[int | None]:
    """Insert the jobs, one id per row (None: coalesced into a queued job with its queueing key).

    The rows with a queueing key go in one multi-row statement, which is its own transaction when every row has a
    key (the usual batch: callbacks' jobs): one call into SQLite, so the thread gives up and takes back the GIL
    once per batch rather than a few times per job — under load each take waits for the busy engine thread's
    switch interval. A key repeated in the batch coalesces into its first row, as one-by-one inserts would. Rows
    without a key (never coalesced) are inserted one by one, so each gets its id, all in one transaction.
    """
    ids: list[int | None] = [None] * len(rows)
    keyed = [i for i, row in enumerate(rows) if row["queueing_key"] is not None]
    single = len(keyed) == len(rows)
    if not single:
        conn.execute("BEGIN IMMEDIATE")
    try:
        if keyed:
            params = [value for i in keyed for value in _values(rows[i])]
            made = {key: int(job_id) for job_id, key in conn.execute(_keyed_sql(len(keyed)), params).fetchall()}
            for i in keyed:
                ids[i] = made.pop(rows[i]["queueing_key"], None)  # a key's first row takes the id, the others None
        for i, row in enumerate(rows):
            if row["queueing_key"] is None:
                ids[i] = int(conn.execute(_INSERT + _ROW + " RETURNING id", _values(row)).fetchone()[0])
        if not single:
            conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return ids


_COLUMNS = (
    *("tenant", "pair", "kind", "record", "queueing_key", "lock_key"),
    *("status", "attempts", "run_after", "payload", "created_at"),
)
_INSERT = f"INSERT INTO {JOBS.name} ({', '.join(_COLUMNS)}) VALUES "
_ROW = "(" + ", ".join("?" for _ in _COLUMNS) + ")"
_DIALECT = sqlite_dialect()
_PROCESSORS = [JOBS.c[name].type.dialect_impl(_DIALECT).bind_processor(_DIALECT) for name in _COLUMNS]
"""Each column's SQLAlchemy bind processor (JSON text, SQLite's datetime format, the UTC rule), as the store's
own inserts convert them (`store/bulk.py` does the same)."""


@functools.lru_cache(maxsize=64)
def _keyed_sql(rows: int) -> str:
    """The insert of `rows` keyed jobs, a repeated queued key skipped (the partial unique index on it)."""
    return (
        _INSERT
        + ", ".join([_ROW] * rows)
        + " ON CONFLICT (queueing_key) WHERE status = 'queued' DO NOTHING RETURNING id, queueing_key"
    )


def _values(row: dict[str, Any]) -> list[Any]:
    return [
        row[name] if process is None else process(row[name])
        for name, process in zip(_COLUMNS, _PROCESSORS, strict=True)
    ]


def _answer(batch: list[_Waiting], results: list[Any]) -> None:
    """Resolve each waiter's future in its loop: one call per loop for the whole batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[int | None], Any]]] = {}
    for waiting, result in zip(batch, results, strict=True):
        by_loop.setdefault(waiting.loop, []).append((waiting.future, result))
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits for these answers any more
            loop.call_soon_threadsafe(_resolve, answers)


def _resolve(answers: list[tuple[asyncio.Future[int | None], Any]]) -> None:
    for future, result in answers:
        if future.done():  # the handler was cancelled (the client went away): the job is queued all the same
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def _sqlite_file(store: Store) -> str | None:
    """The store's SQLite file, or None (PostgreSQL, or an in-memory database a second connection cannot see)."""
    url = store._engine.url  # the store's own URL: the writer opens a second connection to it
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.query.get("mode") == "memory":
        return None
    return url.database


def _connect(path: str) -> sqlite3.Connection:
    """The writer's own connection to `path`, configured as the store's (WAL, foreign keys, NORMAL sync), in
    autocommit mode (a batch's one statement is its transaction; `BEGIN IMMEDIATE` when it needs more)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (f"busy_timeout={BUSY_MS}", "foreign_keys=ON", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    return conn
