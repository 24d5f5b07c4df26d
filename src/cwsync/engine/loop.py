"""The one page loop every pair runs on, one-way (`engine.Pair`) or two-way (`twoway.TwoWayPair`).

Per pair: read ConnectWise's changes since the pair's cursor (every record on a full run or the first one), a page at
a time with the next page read ahead (the next pair's first page is read while this pair's last writes are in
flight); a cancel point at each page boundary; each page planned and applied by the pair's way (`_page`), its writes
in batches in the background (`Applying`); then everything held back is applied (`_flush`). A full read reconciles
deletions: the linked records it did not return are looked up by id (`present_ids`); those ConnectWise still has
were outside the read's scope and are kept (`_kept`), those it no longer has were deleted there (`_vanished`: the
pair's `on_delete`, behind the mass-delete guard). The cursors move at the end of a completed pair only, each to the
newest change its side saw, capped by the run's start (`_save_cursors`): a run killed at any point re-reads from the
old cursors and converges.

What the two ways fill in: how a page is planned, applied and recorded (`_page`, `_flush`), what a pair does before
its read (`_begin`: the one-way pair's preparation and journal; the two-way pair reads the other side's changes
first) and after it (`_end`: the two-way pair reconciles the other side and plans its leftovers), and replay
(`_replay`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import structlog

from cwsync.engine.applying import Applying
from cwsync.engine.links import StoreLinks, present_ids, unread_links
from cwsync.engine.pair import Flow, Links, Raw, Source
from cwsync.engine.reading import Cursors, IdSet, ReadAhead, Watermark
from cwsync.engine.record import Recorder
from cwsync.engine.report import PairReport
from cwsync.engine.runs import cancel_point
from cwsync.store import Link, Store

__all__ = ["PairLoop", "Progress", "RunState"]

log = structlog.get_logger("cwsync.engine")
Progress = Callable[[str, int], None]
"""Told of a pair's progress (pair name, count): records read and planned, or the total its read will return."""
P = TypeVar("P")


@dataclass
class RunState:
    """What the pairs of one run share: the store, the run's options and callbacks, and what a pair leaves for the
    pairs after it (a two-way child waits for its parents)."""

    store: Store
    tenant: str
    now: Callable[[], datetime]
    dry_run: bool = False
    full: bool = False
    flow: Flow = field(default_factory=Flow)
    progress: Progress | None = None
    totals: Progress | None = None
    observe: Callable[[str, Any], None] | None = None
    """Told of every one-way decision once it is final (pair name, `oneway.Decision`): a caller's own report."""
    failing: set[str] = field(default_factory=set)
    """The pairs of this run that failed a record so far."""
    planned_creates: dict[str, set[str]] = field(default_factory=dict)
    """In a dry run: the ConnectWise ids each two-way pair would create on the right (parents of later pairs)."""
    planned_links: dict[str, dict[str, str]] = field(default_factory=dict)
    """In a dry run: ConnectWise id → right id of the records each two-way pair would link (matched), which later
    pairs' records are planned against as the real run would (plan equals apply, BY-1)."""
    skipped: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per pair, the ConnectWise records this run skipped or failed and why: a dependent waiting for one of them
    names it (parents not read this run are recalled from their last run item)."""
    recalled: set[tuple[str, str]] = field(default_factory=set)
    """(pair, ConnectWise id) of the parents already looked up in the store this run."""


class PairLoop(Generic[P]):
    """One pair's run: the page loop, reconciliation and cursors; the pair's way plans, applies and records."""

    source: Source
    """Where the pair's ConnectWise records come from (read, counted, confirmed)."""

    def __init__(
        self,
        state: RunState,
        pair: P,
        name: str,
        run_id: int | None,
        *,
        scope: str | None,
        links: Links | None = None,
        applying: int = 1,
    ) -> None:
        self.s, self.pair, self.name, self.run_id = state, pair, name, run_id
        self.store, self.tenant, self.dry_run, self.full = state.store, state.tenant, state.dry_run, state.full
        self.recorder = Recorder(state.store, state.tenant, name, run_id, dry_run=state.dry_run)
        self.report: PairReport[Any] = PairReport(name)
        self.started = state.now()
        self.left_mark = Watermark(self.started)
        """The newest ConnectWise change seen (capped by the run's start), held back by failed records."""
        self.cursors = Cursors(state.store, state.tenant, name, scope)
        self.links: Links = links or StoreLinks(state.store, state.tenant, name)
        self.applying = Applying(applying)
        """Batches applying in the background while the next page is read and planned."""
        self.linked = IdSet()
        """The records read whose links exist: found by a page's look-up or written by this run, less those this run
        dropped. When a full read's pair has just as many links, the read missed none (`_reconcile`: no scan)."""
        self.released = 0
        """Links the store removed because their right id went to another record: `linked` no longer counts them."""
        self.since: datetime | None = None
        """The ConnectWise cursor this run read from (None: every record)."""
        self.next_up: PairLoop[Any] | None = None
        """The pair that runs after this one: its ConnectWise read starts when this one's ends."""
        self._reader: ReadAhead[list[Raw]] | None = None
        self._counting: asyncio.Task[None] | None = None

    # -- reading -------------------------------------------------------------------------------------------------

    def read_ahead(self) -> None:
        """Start reading this pair's ConnectWise changes now (from its cursor), ahead of its run."""
        if self._reader is None:
            self._reader = ReadAhead(self._changes())

    async def _changes(self) -> AsyncIterator[list[Raw]]:
        self.since = None if self.full else await self.cursors.read()
        since = self._read_from(self.since)
        count = getattr(self.source, "count_changed", None)
        if self.s.totals is not None and count is not None and self._counting is None:
            self._counting = asyncio.create_task(self._count(count, since))
        async for page in self.source.changed(since):
            yield page

    def _read_from(self, since: datetime | None) -> datetime | None:
        """Where the source's read starts for this cursor (a one-way pair reads from its overlap before it)."""
        return since

    async def _count(self, count: Callable[[datetime | None], Any], since: datetime | None) -> None:
        """Tell `totals` how many records this pair reads (a progress bar's total; a failed count only loses it)."""
        assert self.s.totals is not None
        try:
            self.s.totals(self.name, int(await count(since)))
        except Exception as exc:
            log.debug("engine.count_failed", pair=self.name, error=type(exc).__name__)

    async def close_reader(self) -> None:
        """Stop a ConnectWise read still under way (after an error, or a pair that never ran)."""
        if self._counting is not None and not self._counting.done():
            self._counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._counting
        if self._reader is not None:
            await self._reader.close()

    # -- the two ways in -----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Read, plan and apply the pair's changes (every record on a full run), then move its cursors."""
        try:
            self.read_ahead()
            assert self._reader is not None
            await self._begin()
            async for page in self._reader:
                await cancel_point(self.store, self.run_id, settle=self._flush)  # cursors stay: not completed
                await self._page(page)
            if self.next_up is not None:
                self.next_up.read_ahead()  # while this pair's last writes are in flight
            await self._flush()
            if self.since is None and self._reconciles():
                await self._reconcile()
                await self._flush()
            await self._end()
            if not self.dry_run:
                await self._save_cursors()
        finally:
            await self.applying.abandon()
            self._done()

    async def replay(self, left_ids: Sequence[str], right_ids: Sequence[str] = ()) -> None:
        """Read, plan and apply these records now (replay, real-time record jobs); cursors stay where they are."""
        try:
            await self._replay(list(dict.fromkeys(str(i) for i in left_ids)), list(dict.fromkeys(right_ids)))
            await self._flush()
        finally:
            await self.applying.abandon()
            self._done()

    # -- deletions -----------------------------------------------------------------------------------------------

    async def _reconcile(self) -> None:
        """After a full read: linked records it did not return are confirmed by id; those ConnectWise still has are
        kept (`_kept`), the others were deleted there (`_vanished`)."""
        known = None if self.released else len(self.linked)  # every link one of the records read: no scan
        linked = self.linked
        unread, total = await unread_links(self.links, lambda left_id, _: left_id not in linked, known=known)
        unread = [link for link in unread if self._reconcilable(link)]
        if not unread:
            return
        present = await present_ids(self.source, [link.left_id for link in unread])
        if present:
            await self._kept([link for link in unread if link.left_id in present])
        gone = [link for link in unread if link.left_id not in present]
        if gone:
            await self._vanished(gone, total)

    # -- what each way fills in ----------------------------------------------------------------------------------

    async def _begin(self) -> None:
        """Before the pair's first page (while it is read)."""

    async def _page(self, page: Sequence[Raw]) -> None:
        raise NotImplementedError

    async def _flush(self) -> None:
        """Apply everything held back and wait for it."""
        raise NotImplementedError

    def _reconciles(self) -> bool:
        """Whether a full read looks for deletions."""
        return True

    def _reconcilable(self, link: Link) -> bool:
        """Whether a link a full read missed is looked up (one already marked deleted is not)."""
        return True

    async def _kept(self, links: Sequence[Link]) -> None:
        raise NotImplementedError

    async def _vanished(self, links: Sequence[Link], total: int) -> None:
        raise NotImplementedError

    async def _end(self) -> None:
        """After the pair's ConnectWise records (and their deletions) are done."""

    async def _save_cursors(self) -> None:
        await self.cursors.save({"left": self.left_mark.cursor or (self.started if self.since is None else None)})

    async def _replay(self, left_ids: list[str], right_ids: list[str]) -> None:
        raise NotImplementedError

    def _done(self) -> None:
        """On the way out of the pair's run, whatever happened."""
