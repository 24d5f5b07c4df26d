"""A run's lifecycle, written once: start it in the store, finish it once, close the runs a killed process left.

::

    async with recorded_run(store, tenant, pairs=["hudu:contacts"], kind="full", trigger="cli", counts=total) as run:
        ...                                # run.run_id is the store's id (None when `record=False`)
    # succeeded; an exception inside marks it failed (with the message in run.error) and is raised again

Every kind of run (syncs, replays, workflows) goes through `recorded_run`, which first marks runs left "running" by
a process that died as interrupted (once per store and process: `close_interrupted`), so history never shows a
run as running forever, whatever is configured.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog

from cwsync.engine.metrics import observe_run
from cwsync.store import Counts, RunKind, RunRecord, Store, Trigger

__all__ = ["RunHandle", "close_interrupted", "recorded_run"]

log = structlog.get_logger("cwsync.engine.runs")
_swept: weakref.WeakSet[Store] = weakref.WeakSet()


async def close_interrupted(store: Store, tenant: str, *, force: bool = False) -> list[RunRecord]:
    """Mark the tenant's runs left "running" as interrupted (their committed work stands); returns them.

    Done once per store object (a process opens its store once), so a long-lived process does not close its own
    runs in progress; `force` does it again (a server at start, a test).
    """
    if store in _swept and not force:
        return []
    _swept.add(store)
    stale = await store.interrupted_runs(tenant)
    for run in stale:
        log.warning("run.interrupted", run_id=run.run_id, started_at=str(run.started_at), pairs=list(run.pairs))
        await store.finish_run(run.run_id, status="interrupted", counts=run.counts)
    return stale


@dataclass
class RunHandle:
    """The run under way: its id in the store (None when not recorded) and, after a failure, the error."""

    run_id: int | None
    error: str | None = None
    finished: bool = False


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
) -> AsyncIterator[RunHandle]:
    """Start a run, and finish it as succeeded, or as failed when the block raises (the error is raised again).

    `counts` is asked for the run's counts when it finishes. With `record=False` (a dry run) nothing is written.
    """
    if not record:
        yield RunHandle(None)
        return
    await close_interrupted(store, tenant)
    handle = RunHandle(await store.start_run(tenant, pairs=pairs, kind=kind, trigger=trigger))
    assert handle.run_id is not None
    started = time.monotonic()

    async def finish(status: str) -> None:
        done = counts()
        await _finish(store, handle, status, done)
        observe_run(tenant, pairs, kind=kind, status=status, seconds=time.monotonic() - started, counts=done.as_dict())

    try:
        yield handle
    except BaseException as exc:
        handle.error = _message(exc)
        await asyncio.shield(finish("failed"))
        raise
    if not handle.finished:
        await finish("succeeded")


async def _finish(store: Store, handle: RunHandle, status: str, counts: Counts) -> None:
    assert handle.run_id is not None
    handle.finished = True
    await store.finish_run(handle.run_id, status=status, counts=counts, error=handle.error)  # type: ignore[arg-type]
    log.info("run.finished", run_id=handle.run_id, status=status, counts=counts.as_dict())


def _message(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__)[:4000]
