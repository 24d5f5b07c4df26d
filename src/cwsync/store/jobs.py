"""The durable job queue of the in-process runner, kept in the store's `jobs` table.

::

    jobs = JobStore(store)
    job_id = await jobs.enqueue(NewJob(tenant="acme", pair="companies", kind="full", lock_key="acme:companies:*"))
    job = await jobs.claim(worker="host:42", now=datetime.now(UTC))   # None when nothing may run now
    await jobs.complete(job.job_id, worker="host:42")                  # or fail(..., retry_at=...)

**Coalescing.** At most one *queued* job per `queueing_key` (a partial unique index): enqueueing while one waits
returns None and leaves the waiting job as it is. Once that job runs, a new one may queue behind it.

**Locks.** Two lock keys conflict when they are equal, or when one ends in `*` and the other starts with what comes
before that `*` (`acme:companies:*` covers `acme:companies:connectwise:contacts:7` and itself; `*` alone covers
everything). The runtime's default keys are `tenant:pair:record` and `tenant:pair:*` for pair-wide jobs, so: one job
per record at a time, a pair-wide job never overlaps any job of its pair, and different pairs or tenants never wait
for each other. A queued job is claimable when it conflicts with no running job *and* with no older queued job that
is already due — conflicting jobs start in queue order, so a pair-wide job is not starved by a stream of record
jobs. A job waiting for a retry (`run_after` in the future) holds no place in line.

**Concurrency.** Every claim is one transaction. On SQLite it is `BEGIN IMMEDIATE` (writers queue on the database
lock). On PostgreSQL the claim first takes a transaction-scoped advisory lock: `FOR UPDATE SKIP LOCKED` alone keeps
two claimers off the *same row*, but not off two rows whose locks conflict, so the lock check must see every
earlier claim's commit. Lock keys begin with their tenant (`tenant:pair:…`, and a tenant's name has no `:`), so
jobs of different tenants never conflict: a claim limited to some tenants takes one advisory lock per tenant (and
the cluster-wide one shared), and sees only those tenants' running keys, so claims of different tenants — the
scale-out drains — do not queue behind each other; a claim over every tenant takes the cluster-wide lock
exclusively. A claim is a few indexed statements; the chosen row is still taken `FOR UPDATE SKIP LOCKED`, so a
claim never waits on a row some other statement holds. `complete`, `fail`, `heartbeat` and `enqueue` take no claim
lock.

**Dead workers.** A claim stamps `worker` and `heartbeat_at`; a live runner refreshes `heartbeat_at`
(`heartbeat`). `requeue_stale` puts running jobs whose heartbeat is older than a bound back in the queue, counting
the abandoned attempt.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any, TypeVar, cast, get_args

from sqlalchemy import ColumnElement, Table, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from cwsync.store.models import JobRow
from cwsync.store.records import JobRecord, JobStatus, NewJob
from cwsync.store.store import Store, Tx

__all__ = ["JobNotRunningError", "JobStore"]

T = TypeVar("T")

JOBS: Table = JobRow.__table__  # type: ignore[assignment]
CLAIM_LOCK_KEY = 0x63777379_6E630002  # PostgreSQL advisory lock: exclusive for a claim over every tenant
TENANT_CLAIM_SPACE = 0x63770003  # with a tenant's hash: the advisory lock of claims of that tenant
SCAN_PAGE = 200  # due jobs read per round trip while looking for a claimable one
WRITE_TRIES = 3  # tries of a requeue that races an enqueue for the same queueing key (see `_write`)
STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)


class JobNotRunningError(LookupError):
    """The job is not running (under this worker): it finished, or was requeued after its worker went quiet."""


def job_row(job: NewJob, now: datetime) -> dict[str, Any]:
    """The `jobs` row of a new job, queued now (`JobStore.enqueue`, and the accepting writer of callbacks)."""
    return {
        "tenant": job.tenant,
        "pair": job.pair,
        "kind": job.kind,
        "record": job.record,
        "queueing_key": job.queueing_key,
        "lock_key": job.lock_key,
        "status": "queued",
        "attempts": 0,
        "run_after": job.run_after or now,
        "payload": job.payload,
        "created_at": now,
    }


def _now() -> datetime:
    return datetime.now(UTC)


def _job_of(row: Row[Any]) -> JobRecord:
    return JobRecord(
        job_id=row.id,
        tenant=row.tenant,
        pair=row.pair,
        kind=row.kind,
        record=row.record,
        queueing_key=row.queueing_key,
        lock_key=row.lock_key,
        status=row.status,
        attempts=row.attempts,
        run_after=row.run_after,
        payload=row.payload,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        worker=row.worker,
        heartbeat_at=row.heartbeat_at,
    )


def _scope(tenants: Collection[str] | None, pairs: Collection[str] | None) -> builtins.list[ColumnElement[bool]]:
    """The WHERE terms that keep a query to some tenants' (and pairs') jobs; none for None."""
    where: builtins.list[ColumnElement[bool]] = [] if tenants is None else [JOBS.c.tenant.in_(sorted(tenants))]
    return where if pairs is None else [*where, JOBS.c.pair.in_(sorted(pairs))]


async def _claim_locks(conn: AsyncConnection, tenants: Collection[str] | None) -> None:
    """PostgreSQL: the advisory locks of a claim (module doc, "Concurrency"): the cluster-wide one, exclusive for a
    claim over every tenant, else shared plus one per tenant, taken in name order (no deadlock between claims)."""
    if tenants is None:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
        return
    await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": CLAIM_LOCK_KEY})
    for tenant in sorted(set(tenants)):
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:tenant))"),
            {"space": TENANT_CLAIM_SPACE, "tenant": tenant},
        )


class _HeldLocks:
    """A set of lock keys that answers "does this key conflict with any of them?" (the rule in the module doc)."""

    def __init__(self, keys: builtins.list[str]) -> None:
        self._exact: set[str] = set()
        self._prefixes: set[str] = set()  # of wildcard keys, without the `*`
        for key in keys:
            self.add(key)

    def add(self, key: str) -> None:
        if key.endswith("*"):
            self._prefixes.add(key[:-1])
        else:
            self._exact.add(key)

    def conflicts(self, key: str) -> bool:
        if key.endswith("*"):
            prefix = key[:-1]
            return any(p.startswith(prefix) or prefix.startswith(p) for p in self._prefixes) or any(
                e.startswith(prefix) for e in self._exact
            )
        return key in self._exact or any(key.startswith(p) for p in self._prefixes)


class JobStore:
    """Jobs in the store: enqueue, claim, finish, recover; safe for many workers in many processes.

    Every method takes an optional `now` (timezone-aware) so a runner with an injected clock stays consistent;
    None means the current UTC time.
    """

    def __init__(self, store: Store) -> None:
        """Use `store`'s engine; the store must be migrated to revision 0002 or later."""
        self._store = store

    @property
    def store(self) -> Store:
        """The store these jobs live in."""
        return self._store

    # --- writes -------------------------------------------------------------------------------------------------

    async def enqueue(self, job: NewJob, *, now: datetime | None = None) -> int | None:
        """Queue `job`; returns its id, or None when a queued job with the same `queueing_key` absorbed it."""
        now = now or _now()
        values = job_row(job, now)
        async with self._store._connect(write=True) as conn, conn.begin():
            insert: Any = pg_insert(JOBS) if conn.dialect.name == "postgresql" else sqlite_insert(JOBS)
            statement = (
                insert.values(values)
                .on_conflict_do_nothing(index_elements=["queueing_key"], index_where=text("status = 'queued'"))
                .returning(JOBS.c.id)
            )
            return cast(int | None, (await conn.execute(statement)).scalar_one_or_none())

    async def claim(self, *, worker: str, now: datetime, tenants: Collection[str] | None = None) -> JobRecord | None:
        """Mark the oldest claimable job running for `worker` and return it; None when no job may start now.

        Claimable: queued, `run_after <= now`, and no conflicting lock among running jobs or older due queued jobs.
        `tenants` (None: every tenant) limits the claim to those tenants' jobs: a runner serving one tenant never
        takes another's.
        """
        claimed = await self.claim_batch(worker=worker, now=now, limit=1, tenants=tenants)
        return claimed[0] if claimed else None

    async def claim_batch(
        self,
        *,
        worker: str,
        now: datetime,
        limit: int,
        busy: Collection[str] = (),
        tenants: Collection[str] | None = None,
        pairs: Collection[str] | None = None,
    ) -> builtins.list[JobRecord]:
        """Claim the oldest claimable job and, when it is a record job, up to `limit - 1` more of its pair.

        The companions are the next claimable `record` jobs of the same tenant and pair, in queue order, so a pair's
        waiting record jobs run as one batch (one read and one write per side instead of one per record). `busy`
        names `tenant:pair` groups whose record jobs the caller is already running as a batch: their record jobs are
        passed over (they keep their place and form the next batch). `tenants` and `pairs` (None: all) limit the
        claim to those tenants' (pairs') jobs. An empty list when nothing may start now.
        """

        async def claim(conn: AsyncConnection) -> builtins.list[JobRecord]:
            taken: builtins.list[JobRecord] = []
            if conn.dialect.name == "postgresql":
                await _claim_locks(conn, tenants)
            running = select(JOBS.c.lock_key).where(JOBS.c.status == "running", *_scope(tenants, None))
            held = _HeldLocks(list((await conn.execute(running)).scalars()))
            group: str | None = None
            async with contextlib.aclosing(self._due(conn, now, tenants, pairs)) as due:
                async for job_id, lock_key, kind, job_group in due:
                    if len(taken) >= limit:
                        break
                    eligible = not held.conflicts(lock_key) and (
                        job_group == group and kind == "record"
                        if group is not None
                        else not (kind == "record" and job_group in busy)
                    )
                    row = await self._take(conn, job_id, worker, now) if eligible else None
                    held.add(lock_key)  # taken, or keeping its place: younger conflicting jobs wait behind it
                    if row is None:
                        continue
                    taken.append(_job_of(row))
                    if kind != "record":
                        break
                    group = job_group
            return taken

        return await self._at_once(claim)

    @staticmethod
    async def _due(
        conn: AsyncConnection, now: datetime, tenants: Collection[str] | None, pairs: Collection[str] | None
    ) -> AsyncGenerator[tuple[int, str, str, str], None]:
        """(id, lock key, kind, `tenant:pair`) of the due queued jobs (of `tenants`, `pairs`), oldest first, a page
        at a time."""
        after = 0
        columns = (JOBS.c.id, JOBS.c.lock_key, JOBS.c.kind, JOBS.c.tenant, JOBS.c.pair)
        scope = _scope(tenants, pairs)
        while True:
            page = (
                await conn.execute(
                    select(*columns)
                    .where(JOBS.c.status == "queued", JOBS.c.run_after <= now, JOBS.c.id > after, *scope)
                    .order_by(JOBS.c.id)
                    .limit(SCAN_PAGE)
                )
            ).all()
            for job_id, lock_key, kind, tenant, pair in page:
                yield job_id, lock_key, kind, f"{tenant}:{pair}"
            if len(page) < SCAN_PAGE:
                return
            after = page[-1][0]

    @staticmethod
    async def _take(conn: AsyncConnection, job_id: int, worker: str, now: datetime) -> Row[Any] | None:
        """Mark one queued job running; None if it is no longer queued (or another transaction holds its row)."""
        still_queued = (
            select(JOBS.c.id)
            .where(JOBS.c.id == job_id, JOBS.c.status == "queued")
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        statement = (
            update(JOBS)
            .where(JOBS.c.id == still_queued)
            .values(status="running", worker=worker, started_at=now, heartbeat_at=now, finished_at=None)
            .returning(*JOBS.c)
        )
        return (await conn.execute(statement)).one_or_none()

    async def heartbeat(self, job_ids: Collection[int], *, worker: str, now: datetime | None = None) -> int:
        """Stamp these running jobs of `worker` as alive; returns how many it still holds.

        The caller names the jobs it is really working on, so a job it lost track of is not kept alive.
        """
        if not job_ids:
            return 0
        where = (JOBS.c.id.in_(sorted(job_ids)), JOBS.c.status == "running", JOBS.c.worker == worker)
        return await self._update(update(JOBS).where(*where).values(heartbeat_at=now or _now()))

    async def complete(self, job_id: int, *, worker: str | None = None, now: datetime | None = None) -> None:
        """Mark a running job done (only if `worker` still holds it, when given).

        Raises `JobNotRunningError` when it is not running (under that worker).
        """
        statement = (
            update(JOBS)
            .where(*self._running(job_id, worker))
            .values(status="done", finished_at=now or _now(), error=None)
        )
        async with self._store._connect(write=True) as conn, conn.begin():
            if (await conn.execute(statement)).rowcount == 0:
                raise JobNotRunningError(f"job {job_id} is not running{f' under {worker}' if worker else ''}")

    async def complete_many(
        self, job_ids: Collection[int], *, worker: str | None = None, now: datetime | None = None
    ) -> builtins.list[int]:
        """Mark running jobs done in one transaction (a batch); returns the ids that were not running (lost)."""
        if not job_ids:
            return []
        where = [JOBS.c.id.in_(sorted(job_ids)), JOBS.c.status == "running"]
        if worker is not None:
            where.append(JOBS.c.worker == worker)
        statement = update(JOBS).where(*where).values(status="done", finished_at=now or _now(), error=None)

        async def complete(conn: AsyncConnection) -> set[int]:
            return {row.id for row in await conn.execute(statement.returning(JOBS.c.id))}

        done = await self._at_once(complete)
        return [job_id for job_id in job_ids if job_id not in done]

    async def fail(
        self,
        job_id: int,
        error: str,
        *,
        retry_at: datetime | None,
        worker: str | None = None,
        now: datetime | None = None,
    ) -> None:
        """Record a failed attempt (`attempts` + 1): queued again to run at `retry_at`, or failed for good if None.

        A retry whose `queueing_key` is already taken by a newer queued job is left to that job (coalescing, as on
        enqueue): this one ends `failed` with a note naming it. Raises `JobNotRunningError` as `complete` does.
        """
        if retry_at is not None and retry_at.tzinfo is None:
            raise ValueError(f"retry_at must be timezone-aware, got naive {retry_at!r}")
        stamp = now or _now()

        async def settle(conn: AsyncConnection) -> None:
            select_row = select(JOBS).where(*self._running(job_id, worker)).with_for_update()
            row = (await conn.execute(select_row)).one_or_none()
            if row is None:
                raise JobNotRunningError(f"job {job_id} is not running{f' under {worker}' if worker else ''}")
            if retry_at is None:
                changes = {"status": "failed", "attempts": row.attempts + 1, "error": error, "finished_at": stamp}
                await conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(changes))
            else:
                await self._requeue(conn, row, run_after=retry_at, error=error, now=stamp, taken={})

        await self._write(settle)

    async def requeue_stale(
        self,
        *,
        older_than: datetime,
        now: datetime | None = None,
        tenants: Collection[str] | None = None,
        pairs: Collection[str] | None = None,
    ) -> builtins.list[int]:
        """Put back in the queue the running jobs (of `tenants` and `pairs`; None: all) whose last heartbeat is
        before `older_than`; returns their ids.

        Such a job's worker died or hung: the abandoned attempt counts (`attempts` + 1) and the job may run at once,
        keeping its place in line (its id). As in `fail`, a newer queued job with its queueing key takes over.
        """
        stamp = now or _now()
        stale = (
            select(JOBS)
            .where(JOBS.c.status == "running", JOBS.c.heartbeat_at < older_than, *_scope(tenants, pairs))
            .order_by(JOBS.c.id)
            .with_for_update(skip_locked=True)
        )

        async def recover(conn: AsyncConnection) -> builtins.list[int]:
            taken: dict[str, int] = {}
            rows = (await conn.execute(stale)).all()
            for row in rows:
                error = f"abandoned by worker {row.worker}"
                await self._requeue(conn, row, run_after=stamp, error=error, now=stamp, taken=taken)
            return [row.id for row in rows]

        return await self._write(recover)

    async def release(self, job_ids: Collection[int], *, worker: str, now: datetime | None = None) -> None:
        """Give running jobs of `worker` back to the queue untried (it is stopping): not an attempt, due at once."""
        stamp = now or _now()
        held = (
            select(JOBS)
            .where(JOBS.c.id.in_(sorted(job_ids)), JOBS.c.status == "running", JOBS.c.worker == worker)
            .order_by(JOBS.c.id)
            .with_for_update()
        )

        async def give_back(conn: AsyncConnection) -> None:
            taken: dict[str, int] = {}
            for row in (await conn.execute(held)).all():
                await self._requeue(conn, row, run_after=stamp, error="released", now=stamp, taken=taken, count=False)

        await self._write(give_back)

    async def _requeue(
        self,
        conn: AsyncConnection,
        row: Row[Any],
        *,
        run_after: datetime,
        error: str,
        now: datetime,
        taken: dict[str, int],
        count: bool = True,
    ) -> None:
        """Queue a running job again, unless a queued job holds its queueing key: then fail it in that job's favour.

        `taken` maps queueing keys queued earlier in this transaction to their job ids.
        """
        key = row.queueing_key
        holder = taken.get(key) if key is not None else None
        if key is not None and holder is None:
            holder_query = select(JOBS.c.id).where(JOBS.c.queueing_key == key, JOBS.c.status == "queued")
            holder = (await conn.execute(holder_query)).scalar_one_or_none()
        changes: dict[str, Any] = {"attempts": row.attempts + int(count), "finished_at": now}
        if holder is None:
            changes |= {"status": "queued", "run_after": run_after, "error": error}
            changes |= {"worker": None, "heartbeat_at": None}
            if key is not None:
                taken[key] = row.id
        else:
            changes |= {"status": "failed", "error": f"{error}; its retry is left to queued job {holder}"}
        await conn.execute(update(JOBS).where(JOBS.c.id == row.id).values(changes))

    async def _write(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `work` in one write transaction; again (a few times) when a concurrent enqueue took a queueing key.

        On PostgreSQL an enqueue committed between our look for a queued job with the key and our update makes the
        update violate the partial unique index; the next try sees that job and defers to it.
        """
        for attempt in range(WRITE_TRIES):
            try:
                async with self._store._connect(write=True) as conn, conn.begin():
                    return await work(conn)
            except IntegrityError:
                if attempt == WRITE_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _running(job_id: int, worker: str | None) -> builtins.list[ColumnElement[bool]]:
        where = [JOBS.c.id == job_id, JOBS.c.status == "running"]
        return where if worker is None else [*where, JOBS.c.worker == worker]

    async def _update(self, statement: Any) -> int:
        async def update_rows(conn: AsyncConnection) -> int:
            return int((await conn.execute(statement)).rowcount)

        return await self._at_once(update_rows)

    async def _at_once(self, body: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Run `body` (statements only) in one write transaction: on SQLite at once, on the store's synchronous
        writer (`Store.write`), not a trip through the event loop and aiosqlite's thread per statement. A runner's
        claims, heartbeats and completions are most of what real time costs the loop besides the syncs: a claim of
        a batch is one statement per job it takes (measured under 50 callbacks/s: a third of the main thread's CPU
        through aiosqlite)."""

        async def run(tx: Tx) -> T:
            return await body(tx.connection)

        return await self._store.write(run)

    # --- reads --------------------------------------------------------------------------------------------------

    async def get(self, job_id: int) -> JobRecord | None:
        """The job with this id, or None."""
        rows = await self._rows(select(JOBS).where(JOBS.c.id == job_id))
        return _job_of(rows[0]) if rows else None

    async def list(self, status: JobStatus | None = None, limit: int = 50) -> builtins.list[JobRecord]:
        """The newest jobs first, optionally of one status."""
        statement = select(JOBS).order_by(JOBS.c.id.desc()).limit(limit)
        if status is not None:
            statement = statement.where(JOBS.c.status == status)
        return [_job_of(row) for row in await self._rows(statement)]

    async def counts(self) -> dict[JobStatus, int]:
        """How many jobs have each status (every status is present, zeros included)."""
        statement = select(JOBS.c.status, func.count().label("n")).group_by(JOBS.c.status)
        found = {row.status: int(row.n) for row in await self._rows(statement)}
        return {status: found.get(status, 0) for status in STATUSES}

    async def counts_by_pair(self) -> builtins.list[tuple[str, str, str, int]]:
        """`(tenant, pair, status, count)` of every job (what `/metrics` reports per tenant and integration)."""
        statement = select(JOBS.c.tenant, JOBS.c.pair, JOBS.c.status, func.count().label("n")).group_by(
            JOBS.c.tenant, JOBS.c.pair, JOBS.c.status
        )
        return [(str(r.tenant), str(r.pair), str(r.status), int(r.n)) for r in await self._rows(statement)]

    async def oldest_due(self, *, now: datetime) -> datetime | None:
        """When the longest-waiting queued job became due (None: no queued job is due): the queue's lag."""
        due = (JOBS.c.status == "queued") & (JOBS.c.run_after <= now)
        rows = await self._rows(select(func.min(JOBS.c.run_after)).where(due))
        found = rows[0][0] if rows else None
        if found is not None and found.tzinfo is None:
            found = found.replace(tzinfo=UTC)
        return found

    async def payloads(self, queueing_key: str, *, since: datetime) -> builtins.list[dict[str, Any]]:
        """The payloads of the jobs with this queueing key created at or after `since`, whatever their status
        (the scale-out scheduler's tick checks its slot was not queued already)."""
        where = (JOBS.c.queueing_key == queueing_key, JOBS.c.created_at >= since)
        return [dict(row[0] or {}) for row in await self._rows(select(JOBS.c.payload).where(*where))]

    async def tenants_with_due(self, *, now: datetime) -> builtins.list[str]:
        """The tenants with a queued job due at `now` (the scale-out sweeper kicks their drains)."""
        due = (JOBS.c.status == "queued") & (JOBS.c.run_after <= now)
        return [str(row[0]) for row in await self._rows(select(JOBS.c.tenant).where(due).distinct())]

    async def outstanding(self, *, now: datetime, tenants: Collection[str] | None = None) -> int:
        """How many jobs (of `tenants`; None: all) are running or queued and due at `now` (0: nothing to do yet)."""
        due = (JOBS.c.status == "running") | ((JOBS.c.status == "queued") & (JOBS.c.run_after <= now))
        rows = await self._rows(select(func.count()).select_from(JOBS).where(due, *_scope(tenants, None)))
        return int(rows[0][0])

    async def _rows(self, statement: Any) -> builtins.list[Row[Any]]:
        async with self._store._connect() as conn:
            return builtins.list((await conn.execute(statement)).all())
