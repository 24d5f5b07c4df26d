"""A workflow run's lifecycle, in one place: started, its items, its end (`cwsync history`, `quotes explain`).

::

    async with workflow_run(store, tenant=t, pair="quotes", trigger="api", refusals=(QuoteRefused,)) as run:
        run.item(action="create", status="applied", left_id="Q-1001", right_id="4711", reason="...")
        async with store.transaction() as tx:
            ...                               # the workflow's outcome (a link, a change's new state)
            await run.write_items(tx)         # its items commit with it

The run is recorded `running` on entry. On exit the items not written yet are, and the run ends `succeeded`; an
exception ends it `failed` with the error and is raised again, except one of `refusals` (a refused input is a
decision, recorded as an item, not a failed run). The lifecycle itself is the engine's (`engine.runs.recorded_run`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog

from cwsync.engine.record import Recorder
from cwsync.engine.runs import recorded_run
from cwsync.store import Counts, RunItem, Store, Trigger, Tx
from cwsync.store.records import Action, Flow, ItemStatus

__all__ = ["WorkflowRun", "workflow_run"]

log = structlog.get_logger("cwsync.workflows")


class WorkflowRun:
    """The run being recorded: its id, counts and the items not written yet."""

    def __init__(self, store: Store, run_id: int, *, tenant: str, pair: str) -> None:
        self.store, self.run_id, self.tenant, self.pair = store, run_id, tenant, pair
        self.counts = Counts()
        self.recorder = Recorder(store, tenant, pair, run_id)
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
        direction: Flow = "left_to_right",
    ) -> None:
        """Add one decision of the run (counted now, written with `write_items` or at the end)."""
        self.counts.add(action)
        self._items.append(
            self.recorder.item(
                action,
                status=status,
                left_id=left_id,
                right_id=right_id,
                reason=reason,
                direction=direction,
                source_values=source_values,
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
    """Record a run of `pair` around the block (see the module docstring), through the engine's one lifecycle."""
    refused: BaseException | None = None
    holder: list[WorkflowRun] = []
    scope = recorded_run(
        store,
        tenant,
        pairs=[pair],
        kind="record",
        trigger=trigger,
        counts=lambda: holder[0].counts if holder else Counts(),
    )
    async with scope as handle:
        assert handle.run_id is not None
        run = WorkflowRun(store, handle.run_id, tenant=tenant, pair=pair)
        holder.append(run)
        try:
            yield run
        except refusals as exc:  # a refused input is a decision: the run succeeds, the refusal is raised after it
            refused = exc
        finally:
            if run._items:
                async with store.transaction() as tx:
                    await run.write_items(tx)
    if refused is not None:
        raise refused
