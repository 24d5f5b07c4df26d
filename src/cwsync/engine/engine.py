"""`Engine`: runs any pairs, one-way (`oneway`) and two-way (`twoway`), each on the one page loop (`loop`)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cwsync.engine.loop import PairLoop, Progress, RunState
from cwsync.engine.oneway import Observer, OneWayRun
from cwsync.engine.pair import Flow, Pair
from cwsync.engine.report import RunReport
from cwsync.engine.runs import recorded_run
from cwsync.engine.twoway import TwoWayPair, TwoWayRun
from cwsync.store import RunKind, Store, Trigger

__all__ = ["Engine"]


class Engine:
    """Runs pairs for one tenant over one store, one-way `Pair`s and two-way `TwoWayPair`s alike, each on the one
    page loop (`engine.loop`)."""

    def __init__(self, store: Store, tenant: str, *, now: Any = None) -> None:
        self.store, self.tenant = store, tenant
        self._now = now or (lambda: datetime.now(UTC))

    async def run(
        self,
        pairs: Sequence[Pair | TwoWayPair],
        *,
        dry_run: bool = False,
        full: bool = False,
        records: Mapping[str, Sequence[str]] | None = None,
        right_records: Mapping[str, Sequence[str]] | None = None,
        trigger: Trigger = "cli",
        observe: Observer | None = None,
        totals: Progress | None = None,
        progress: Progress | None = None,
        prepare: Callable[[], Awaitable[None]] | None = None,
        flow: Flow | None = None,
        within: RunReport[Any] | None = None,
    ) -> RunReport[Any]:
        """Run `pairs` in order (parents first); a dry run plans and writes nothing (not even its run).

        With `records` (pair → ConnectWise ids) and `right_records` (pair → the other side's ids, two-way pairs),
        only those records are read, planned and applied (replay, real-time record jobs); cursors stay where they
        are. `prepare` is awaited inside the run while the first pair's ConnectWise read is under way. `observe`:
        every one-way decision once final; `progress(pair, n)`: n more two-way records read and planned;
        `totals(pair, n)`: how many records the pair reads (a progress bar's total), when its source counts them.
        `flow`: how two-way writes move (batch size, items held to fill batches, batches applying at once).
        `within`: the report of a run the caller opened (`recorded_run`: an integration with a parent step of its
        own first), which the pairs run inside and add their reports to; no run of their own is recorded.

        Raises:
            CwsyncApiError: a fatal error (authentication, permission, mass delete) stopped the run (recorded).
        """
        state = RunState(
            self.store,
            self.tenant,
            self._now,
            dry_run=dry_run,
            full=full,
            flow=flow or Flow(),
            progress=progress,
            totals=totals,
            observe=observe,
        )
        replay = records is not None or right_records is not None
        if within is not None:
            await self._run_pairs(state, within, pairs, records, right_records, prepare)
            return within
        kind: RunKind = "record" if replay else ("full" if full else "incremental")
        report = RunReport[Any](run_id=None, dry_run=dry_run)
        scope = recorded_run(
            self.store,
            self.tenant,
            pairs=[p.name for p in pairs],
            kind=kind,
            trigger=trigger,
            counts=lambda: report.counts,
            record=not dry_run,  # a plan writes nothing, not even its run
        )
        try:
            async with scope as run:
                report.run_id = run.run_id
                await self._run_pairs(state, report, pairs, records, right_records, prepare)
        finally:
            report.error, report.cancelled = run.error, run.cancelled
        return report

    async def _run_pairs(
        self,
        state: RunState,
        report: RunReport[Any],
        pairs: Sequence[Pair | TwoWayPair],
        records: Mapping[str, Sequence[str]] | None,
        right_records: Mapping[str, Sequence[str]] | None,
        prepare: Callable[[], Awaitable[None]] | None,
    ) -> None:
        """Run `pairs` in order inside the run of `report`, adding their reports to it."""
        run_id = report.run_id
        runs: list[PairLoop[Any]] = [
            TwoWayRun(state, pair, run_id) if isinstance(pair, TwoWayPair) else OneWayRun(state, pair, run_id)
            for pair in pairs
        ]
        for pair_run, next_up in itertools.pairwise(runs):
            pair_run.next_up = next_up  # its ConnectWise read starts once this pair has read its own
        replay = records is not None or right_records is not None
        try:
            if runs and not replay:
                runs[0].read_ahead()  # ConnectWise's first page is read while the run is prepared
            if prepare is not None:
                await prepare()
            for pair_run in runs:
                report.pairs.append(pair_run.report)  # counted as it goes: a cancelled run records what it did
                if replay:
                    left, right = (records or {}).get(pair_run.name, ()), (right_records or {}).get(pair_run.name, ())
                    await pair_run.replay(left, right)
                else:
                    await pair_run.run()
        finally:
            for pair_run in runs:
                await pair_run.close_reader()
