"""A workflow run's lifecycle, in one place: started, its items, its end (`cwsync history`, `quotes explain`).

::

    async with workflow_run(store, tenant=t, pair="quotes", trigger="api", refusals=(QuoteRefused,)) as run:
        run.item(action="create", status="applied", left_id="Q-1001", right_id="4711", reason="...")
        async with store.transaction() as tx:
            ...                               # the workflow's outcome (a link, a change's new state)
            await run.write_items(tx)         # its items commit with it

The run is recorded `running` on entry. On exit the items not written yet are, and the run ends `succeeded`; an
exception ends it `failed` with the error and is raised again, except one of `refusals` (a refused input is a
decision, recorded as an item, not a failed run). When the engine's lifecycle lands, this is the one function to
switch over.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog

from cwsync.store import Counts, RunItem, Store, Trigger, Tx
from cwsync.store.records import Action, Direction, ItemStatus, RunStatus

__all__ = ["WorkflowRun", "workflow_run"]

log = structlog.get_logger("cwsync.workflows")


class WorkflowRun:
    """The run being recorded: its id, counts and the items not written yet."""

    def __init__(self, store: Store, run_id: int, *, tenant: str, pair: str) -> None:
        self.store, self.run_id, self.tenant, self.pair = store, run_id, tenant, pair
        self.counts = Counts()
        self._items: list[RunItem] = []

    def item(
        self,
        *,
        action: Action,
        status: ItemStatus,
        left_id: str | None,
        right_id: str | None = None,
        reason: str = "",
        source_values: dict[str, Any] | None = None,
        direction: Direction = "left_to_right",
    ) -> None:
        """Add one decision of the run (counted now, written with `write_items` or at the end)."""
        self.counts.add(action)
        self._items.append(
            RunItem(
                run_id=self.run_id,
                tenant=self.tenant,
                pair=self.pair,
                direction=direction,
                action=action,
                status=status,
                left_id=left_id,
                right_id=right_id,
                reason=reason,
                source_values=source_values or {},
            )
        )

    async def write_items(self, tx: Tx) -> None:
        """Write the items added so far inside the caller's transaction."""
        items, self._items = self._items, []
        await tx.add_run_items(items)


@asynccontextmanager
async def workflow_run(
    store: Store,
    *,
    tenant: str,
    pair: str,
    trigger: Trigger,
    refusals: tuple[type[BaseException], ...] = (),
) -> AsyncIterator[WorkflowRun]:
    """Record a run of `pair` around the block (see the module docstring)."""
    run = WorkflowRun(
        store, await store.start_run(tenant, pairs=[pair], kind="record", trigger=trigger), tenant=tenant, pair=pair
    )
    try:
        yield run
    except Exception as exc:  # a cancelled task leaves the run `running`: `interrupted` at the next start
        refused = isinstance(exc, refusals)
        await _end(run, "succeeded" if refused else "failed", None if refused else f"{type(exc).__name__}: {exc}")
        raise
    await _end(run, "succeeded", None)


async def _end(run: WorkflowRun, status: RunStatus, error: str | None) -> None:
    if run._items:
        async with run.store.transaction() as tx:
            await run.write_items(tx)
    await run.store.finish_run(run.run_id, status=status, counts=run.counts, error=error[:4000] if error else None)
