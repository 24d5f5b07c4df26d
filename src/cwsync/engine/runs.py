"""A run's lifecycle, written once: start it in the store, finish it once, close the runs a killed process left.

::

    async with recorded_run(store, tenant, pairs=["hudu:contacts"], kind="full", trigger="cli", counts=total) as run:
        ...                                # run.run_id is the store's id (None when `record=False`)
    # succeeded; an exception inside marks it failed (with the message in run.error) and is raised again

Every kind of run (syncs, replays, workflows) goes through `recorded_run`, which first marks runs left "running" by
a process that died as interrupted (once per store and process: `close_interrupted`), so history never shows a
run as running forever, whatever is configured.

A run stops early when asked (`cwsync runs cancel ID`, `POST /api/runs/{id}/cancel`, from any process): its loop
calls `cancel_point` at each page boundary (one read by primary key), which finishes the writes in flight and raises
`RunCancelled`; `recorded_run` ends the run as `cancelled` (what it did so far is recorded; the cursor of the pair
it was on stays where it was, since cursors move only at the end of a completed pair) and does not raise it again.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog

from cwsync.engine.metrics import observe_run
from cwsync.store import Counts, RunKind, RunRecord, Store, Trigger, Tx

__all__ = [
    "RunCancelled",
    "RunHandle",
    "cancel_point",
    "close_interrupted",
    "closes_its_own",
    "recorded_run",
    "request_cancel",
]

log = structlog.get_logger("cwsync.engine.runs")
_swept: weakref.WeakSet[Store] = weakref.WeakSet()


async def close_interrupted(
    store: Store, tenant: str, *, force: bool = False, only: Callable[[RunRecord], bool] | None = None
) -> list[RunRecord]:
    """Mark the tenant's runs left "running" as interrupted (their committed work stands); returns them.

    Done once per store object (a process opens its store once), so a long-lived process does not close its own
    runs in progress; `force` does it again (a server at start, a test). `only` picks the runs (a scale-out
    worker closes those of its own lane).
    """
    if store in _swept and not force:
        return []
    _swept.add(store)
    stale = [run for run in await store.interrupted_runs(tenant) if only is None or only(run)]
    for run in stale:
        log.warning("run.interrupted", run_id=run.run_id, started_at=str(run.started_at), pairs=list(run.pairs))
        await store.finish_run(run.run_id, status="interrupted", counts=run.counts)
    return stale


def closes_its_own(store: Store) -> None:
    """Leave the runs left "running" to the caller: `recorded_run` no longer closes them on this store.

    For the scale-out workers, whose drains close the interrupted runs of their own lane only: a run of another
    lane of the tenant may be in progress on another worker, and is not interrupted.
    """
    _swept.add(store)


class RunCancelled(Exception):
    """A cancel was requested for the run: it stopped at a page boundary (`recorded_run` ends it as cancelled)."""

    def __init__(self, run_id: int) -> None:
        super().__init__(f"run {run_id} cancelled on request")
        self.run_id = run_id


async def cancel_point(
    store: Store, run_id: int | None, *, settle: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Raise `RunCancelled` when a cancel was requested for this run (nothing for an unrecorded run).

    Called by a run's loop at a page boundary; `settle` (the writes already sent, or planned) runs first, so what
    the run did is recorded before it stops.
    """
    if run_id is None or not await store.cancel_requested(run_id):
        return
    if settle is not None:
        await settle()
    log.info("run.cancel_honoured", run_id=run_id)
    raise RunCancelled(run_id)


async def request_cancel(store: Store, tenant: str, run_id: int) -> RunRecord | None:
    """Ask the tenant's run `run_id` to stop at its next page boundary; the run as it is now (None: no such run).

    A run that is not running is returned as it is (nothing to cancel); asking twice is harmless.
    """
    run = await store.run(run_id)
    if run is None or run.tenant != tenant:
        return None
    if run.status != "running":
        return run
    log.info("run.cancel_requested", run_id=run_id)
    return await store.request_cancel(run_id)


@dataclass
class RunHandle:
    """The run under way: its id in the store (None when not recorded, or not yet started with `lazy`), after a
    failure the error, and whether it was cancelled on request.

    With `recorded_run(..., lazy=True)` the block records the run itself, inside transactions it commits anyway:
    `start_in(tx)` in its first write transaction and `finish_in(tx)` in the one that records its outcome (two
    fewer transactions on SQLite's one writer), then `settle(committed)` once that transaction has committed or
    rolled back. What did not commit is done by `recorded_run` on its own (a run is always recorded, once).
    """

    run_id: int | None
    error: str | None = None
    finished: bool = False
    cancelled: bool = False
    _begin: Callable[[Tx], Awaitable[int]] | None = field(default=None, repr=False)
    _end: Callable[[], Counts] | None = field(default=None, repr=False)
    _started_in: bool = field(default=False, repr=False)
    _finished_in: bool = field(default=False, repr=False)
    _ended_in: bool = field(default=False, repr=False)

    async def start_in(self, tx: Tx) -> int:
        """Record the run as started inside `tx` (when it is not yet); its id. Call `settle` after `tx` ends."""
        if self.run_id is None:
            assert self._begin is not None, "start_in needs recorded_run(..., lazy=True)"
            self.run_id = await self._begin(tx)
            self._started_in = True
        return self.run_id

    async def finish_in(self, tx: Tx) -> None:
        """Record the run as succeeded, with its counts now, inside `tx` (started in it first if need be)."""
        assert self._end is not None, "finish_in needs recorded_run(..., lazy=True)"
        run_id = await self.start_in(tx)
        await tx.finish_run(run_id, status="succeeded", counts=self._end())
        self._finished_in = True

    @property
    def ended_in_block(self) -> bool:
        """Whether a committed transaction of the block recorded the run's end (`finish_in`)."""
        return self._ended_in

    def settle(self, *, committed: bool) -> None:
        """After the transaction given to `start_in` / `finish_in`: keep what it recorded, or forget it."""
        if committed:
            self._ended_in = self._ended_in or self._finished_in
        elif self._started_in:
            self.run_id = None  # its start was rolled back with the rest
        self._started_in = self._finished_in = False


@asynccontextmanager
async def recorded_run(
    store: Store,
    tenant: str,
    *,
    pairs: Sequence[str],
    kind: RunKind,
    trigger: Trigger,
    counts: Callable[[], Counts],
    record: bool = True,
    lazy: bool = False,
) -> AsyncIterator[RunHandle]:
    """Start a run, and finish it as succeeded, or as failed when the block raises (the error is raised again), or
    as cancelled when it raises `RunCancelled` (not raised again: `handle.cancelled` says so).

    `counts` is asked for the run's counts when it finishes. With `record=False` (a dry run) nothing is written.
    With `lazy`, the block starts and finishes the run inside its own transactions (`RunHandle.start_in`,
    `finish_in`); whatever it did not record is recorded here, and a block that raises ends the run failed.
    """
    if not record:
        yield RunHandle(None)
        return
    await close_interrupted(store, tenant)

    async def begin(tx: Tx | None = None) -> int:
        if tx is not None:
            return await tx.start_run(tenant, pairs=pairs, kind=kind, trigger=trigger)
        return await store.start_run(tenant, pairs=pairs, kind=kind, trigger=trigger)

    handle = RunHandle(None if lazy else await begin(), _begin=begin, _end=counts)
    started = time.monotonic()

    async def finish(status: str) -> None:
        done = counts()
        if handle.run_id is None:  # lazy, and its start never committed
            handle.run_id = await begin()
        await _finish(store, handle, status, done)
        observe_run(tenant, pairs, kind=kind, status=status, seconds=time.monotonic() - started, counts=done.as_dict())

    try:
        yield handle
    except RunCancelled:
        handle.cancelled = True
        await asyncio.shield(finish("cancelled"))
        return
    except BaseException as exc:
        handle.error = _message(exc)
        await asyncio.shield(finish("failed"))
        raise
    if handle.ended_in_block:  # finished in the block's outcome transaction, which committed
        handle.finished = True
        done = counts()
        observe_run(
            tenant, pairs, kind=kind, status="succeeded", seconds=time.monotonic() - started, counts=done.as_dict()
        )
        log.info("run.finished", run_id=handle.run_id, status="succeeded", counts=done.as_dict())
    elif not handle.finished:
        await finish("succeeded")


async def _finish(store: Store, handle: RunHandle, status: str, counts: Counts) -> None:
    assert handle.run_id is not None
    handle.finished = True
    await store.finish_run(handle.run_id, status=status, counts=counts, error=handle.error)  # type: ignore[arg-type]
    log.info("run.finished", run_id=handle.run_id, status=status, counts=counts.as_dict())


def _message(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:4000]
