"""A workflow run's lifecycle, in one place: started, its items, its end (`cwsync history`, `quotes explain`).

::

    async with workflow_run(store, tenant=t, pair="quotes", trigger="api", refusals=(QuoteRefused,)) as run:
        await run.write(intents)              # the run is recorded `running` in the block's first write
                                              # (e.g. the journal's intents: `StepRunner(..., write=run.write)`)
        run.item(action="create", status="applied", left_id="Q-1001", right_id="4711", reason="...")

        async def outcome(tx: Tx) -> None:
            ...                               # the workflow's outcome (a link, a change's new state)
            await run.finish_in(tx)           # its items, and the run `succeeded`, commit with it

        await run.write(outcome)              # (a store call that commits `finish_in` itself: `run.settle(...)`)

The run is recorded `running` inside the workflow's first write transaction, not in one of its own, and ends
`succeeded` inside the transaction that records the outcome (SQLite has one writer: two fewer small transactions
per unit of work, the run's row appearing and ending together with what it records). Whatever the block did not
record (it wrote nothing, raised, or was refused) is recorded on exit: the items not written yet, the run's start,
its end — `failed` with the error when it raised (which is raised again), `succeeded` for one of `refusals` (a
refused input is a decision, recorded as an item, not a failed run). With `quiet_refusals`, a refusal that added
no item and committed nothing records no run at all: the refusal is answered to its caller (a REST 4xx), and a
refused request writes nothing (issue 20). The lifecycle itself is the engine's
(`engine.runs.recorded_run`, `lazy=True`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from cwsync.engine.record import Recorder
from cwsync.engine.runs import RunHandle, recorded_run
from cwsync.store import Counts, RunItem, Store, Trigger, Tx
from cwsync.store.records import Action, Flow, ItemStatus

__all__ = ["WorkflowRun", "workflow_run"]

T = TypeVar("T")


class WorkflowRun:
    """The run being recorded: its id (once started), counts and the items not written yet."""

    def __init__(self, store: Store, handle: RunHandle, *, tenant: str, pair: str) -> None:
        self.store, self.handle, self.tenant, self.pair = store, handle, tenant, pair
        self.counts = Counts()
        self.recorder = Recorder(store, tenant, pair, None)
        """Builds the outcome's links (items are built by `item`, which needs no run id yet)."""
        self._items: list[dict[str, Any]] = []

    @property
    def run_id(self) -> int | None:
        """The run's id in the store, once a transaction that started it committed (or is under way)."""
        return self.handle.run_id

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
        """Add one decision of the run (counted now, written with `write_items`, `finish_in` or at the end)."""
        self.counts.add(action)
        self._items.append(
            {
                "action": action,
                "status": status,
                "left_id": left_id,
                "right_id": right_id,
                "reason": reason,
                "direction": direction,
                "source_values": source_values,
            }
        )

    async def start_in(self, tx: Tx) -> None:
        """Record the run as started inside `tx` (if it is not yet); `settle` once `tx` has ended."""
        await self.handle.start_in(tx)

    async def write_items(self, tx: Tx) -> None:
        """Write the items added so far inside the caller's transaction (starting the run in it if need be)."""
        if not self._items:
            return
        run_id = await self.handle.start_in(tx)
        recorder = Recorder(self.store, self.tenant, self.pair, run_id)
        items: list[RunItem] = [recorder.item(**kwargs) for kwargs in self._items]
        await recorder.record_in(tx, items=items)
        self._items = []  # kept until written: a rolled-back transaction leaves them to the end of the run

    async def finish_in(self, tx: Tx) -> None:
        """Write the items and record the run as succeeded inside the outcome's transaction; `settle` after it."""
        await self.write_items(tx)
        await self.handle.finish_in(tx)

    def settle(self, *, committed: bool) -> None:
        """After a transaction given to `start_in` / `write_items` / `finish_in`: keep what it recorded, or not."""
        self.handle.settle(committed=committed)

    async def write(self, body: Callable[[Tx], Awaitable[T]]) -> T:
        """`store.write(body)` with the run started in the same transaction (when it is not yet), then settled."""

        async def started(tx: Tx) -> T:
            await self.start_in(tx)
            return await body(tx)

        try:
            result = await self.store.write(started)
        except BaseException:
            self.settle(committed=False)
            raise
        self.settle(committed=True)
        return result


@asynccontextmanager
async def workflow_run(
    store: Store,
    *,
    tenant: str,
    pair: str,
    trigger: Trigger,
    refusals: tuple[type[BaseException], ...] = (),
    quiet_refusals: bool = False,
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
        lazy=True,
    )
    async with scope as handle:
        run = WorkflowRun(store, handle, tenant=tenant, pair=pair)
        holder.append(run)
        try:
            yield run
        except refusals as exc:  # a refused input is a decision: the run succeeds, the refusal is raised after it
            refused = exc
            handle.settle(committed=False)  # a transaction it interrupted did not commit
        except BaseException:
            handle.settle(committed=False)
            if run._items:
                await run.write(run.write_items)
            raise
        if refused is not None and quiet_refusals and handle.run_id is None and not run._items:
            handle.finished = True  # nothing to record: no run started, no decision kept
        elif not handle.ended_in_block:  # its items, its start and its end in one transaction
            await run.write(run.finish_in)
    if refused is not None:
        raise refused
