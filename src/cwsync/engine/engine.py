"""The one read → plan → apply → record loop for one-way pairs (ConnectWise → a target).

Per pair, in order: read the records changed since the pair's cursor (less its overlap; every record on a full run
or the first one), a page at a time with the next page read ahead; flatten, project and skip (the pair's hooks);
plan with `core.plan` against the stored links (the echo of an unchanged record plans nothing); note creates as
intents, and first turn the intents an earlier attempt left into updates of what it made (`Target.find`); apply in
batches of `Pair.batch`, `Pair.in_flight` at once; record links, run items and settled intents of a batch in one
transaction. A full read then reconciles deletions: linked records not read were deleted in ConnectWise (behind the
mass-delete guard). The cursor moves at the end of a completed pair to the newest change seen, capped by the run's
start, so a killed run re-reads from the old cursor and converges.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from cwsync.config.vocabulary import Action, ConflictPolicy, Side
from cwsync.connectors.http import FatalError
from cwsync.core.plan import LinkBase, PairInput, PlanItem, Snapshot, plan_pair_cooperatively
from cwsync.engine.guard import check_mass_delete
from cwsync.engine.pair import Pair, Raw, Write, WriteResult
from cwsync.engine.reading import ReadAhead, Watermark
from cwsync.engine.record import Recorder
from cwsync.engine.runs import recorded_run
from cwsync.store import Counts, Link, RunItem, RunKind, Store, Trigger

__all__ = ["Engine", "PairOutcome", "RunOutcome"]

log = structlog.get_logger("cwsync.engine")
KEPT_ITEMS = 1_000


@dataclass
class PairOutcome:
    """What happened to one pair: counts and the first `KEPT_ITEMS` decisions other than unchanged."""

    pair: str
    counts: Counts = field(default_factory=Counts)
    items: list[dict[str, Any]] = field(default_factory=list)
    items_omitted: int = 0
    read: int = 0

    def keep(self, item: dict[str, Any]) -> None:
        if len(self.items) < KEPT_ITEMS:
            self.items.append(item)
        else:
            self.items_omitted += 1


@dataclass
class RunOutcome:
    """A run's outcome (`as_json` for the CLI and the API)."""

    run_id: int | None
    dry_run: bool
    pairs: list[PairOutcome] = field(default_factory=list)
    error: str | None = None

    @property
    def counts(self) -> Counts:
        total = Counts()
        for pair in self.pairs:
            for name, value in pair.counts.as_dict().items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "dry_run": self.dry_run,
            "error": self.error,
            "counts": self.counts.as_dict(),
            "pairs": {
                p.pair: {
                    "read": p.read,
                    "counts": p.counts.as_dict(),
                    "items": p.items,
                    "items_omitted": p.items_omitted,
                }
                for p in self.pairs
            },
        }


class Engine:
    """Runs pairs for one tenant over one store."""

    def __init__(self, store: Store, tenant: str, *, now: Any = None) -> None:
        self.store, self.tenant = store, tenant
        self._now = now or (lambda: datetime.now(UTC))

    async def run(
        self,
        pairs: Sequence[Pair],
        *,
        dry_run: bool = False,
        full: bool = False,
        records: Mapping[str, Sequence[str]] | None = None,
        trigger: Trigger = "cli",
    ) -> RunOutcome:
        """Run `pairs` in order; with `records` (pair → ConnectWise ids) only those records (replay, callbacks).

        Raises:
            CwsyncApiError: a fatal error (authentication, permission, mass delete) stopped the run (recorded).
        """
        kind: RunKind = "record" if records else ("full" if full else "incremental")
        outcome = RunOutcome(run_id=None, dry_run=dry_run)
        scope = recorded_run(
            self.store,
            self.tenant,
            pairs=[p.name for p in pairs],
            kind=kind,
            trigger=trigger,
            counts=lambda: outcome.counts,
            record=not dry_run,
        )
        try:
            async with scope as run:
                outcome.run_id = run.run_id
                for pair in pairs:
                    one = _PairRun(self, pair, run.run_id, dry_run=dry_run)
                    outcome.pairs.append(one.outcome)
                    if records is not None:
                        await one.replay(records.get(pair.name, ()))
                    else:
                        await one.run(full=full)
        finally:
            outcome.error = run.error
        return outcome


class _PairRun:
    def __init__(self, engine: Engine, pair: Pair, run_id: int | None, *, dry_run: bool) -> None:
        self.e, self.pair, self.dry_run = engine, pair, dry_run
        self.store, self.tenant = engine.store, engine.tenant
        self.recorder = Recorder(engine.store, engine.tenant, pair.name, run_id, dry_run=dry_run)
        self.outcome = PairOutcome(pair.name)
        self.started = engine._now()
        self.watermark = Watermark(self.started)
        self.recovering = False
        self._gate = asyncio.Semaphore(max(1, pair.in_flight))
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    # -- the two ways in -----------------------------------------------------------------------------------------

    async def run(self, *, full: bool) -> None:
        cursor = None if full else await self.store.cursor(self.tenant, self.pair.name, "left")
        since = datetime.fromisoformat(cursor) - self.pair.overlap if cursor else None
        self.recovering = not self.dry_run and await self.store.has_journal(self.tenant, self.pair.name)
        seen: set[str] = set()
        reader = ReadAhead(self.pair.source.changed(since))
        try:
            async for page in reader:
                seen.update(str(raw["id"]) for raw in page)
                await self._page(page)
            await self._drain()
        except BaseException:
            await self._abandon()
            raise
        finally:
            await reader.close()
        if since is None:
            await self._reconcile(seen)
        if not self.dry_run:
            moment = self.watermark.newest or (self.started if since is None else None)
            if moment is not None:
                async with self.store.transaction() as tx:
                    await tx.set_cursor(self.tenant, self.pair.name, "left", moment.isoformat())

    async def replay(self, ids: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(str(i) for i in ids))
        if not wanted:
            return
        self.recovering = not self.dry_run and await self.store.has_journal(self.tenant, self.pair.name)
        raws = await self.pair.source.get_many(wanted)
        try:
            if raws:
                await self._page(raws)
            await self._drain()
        except BaseException:
            await self._abandon()
            raise
        found = {str(raw["id"]) for raw in raws}
        gone = [i for i in wanted if i not in found]
        if gone:
            links = await self.store.links_by_left(self.tenant, self.pair.name, gone)
            await self._deleted(list(links.values()), "deleted in ConnectWise (not found)")

    # -- a page ----------------------------------------------------------------------------------------------

    async def _page(self, page: Sequence[Raw]) -> None:
        self.outcome.read += len(page)
        snaps: list[Snapshot] = []
        raws: dict[str, Raw] = {}
        for n, raw in enumerate(page, 1):
            flat = self.pair.flatten(raw)
            updated = self.pair.source.updated_at(raw)
            self.watermark.seen(updated)
            record_id = str(raw["id"])
            raws[record_id] = raw
            snaps.append(Snapshot(record_id, self.pair.mapping.project_left(flat), flat, updated, self.pair.skip(flat)))
            if n % self.pair.yield_every == 0:
                await asyncio.sleep(0)
        links = await self.store.links_by_left(self.tenant, self.pair.name, [s.id for s in snaps])
        items = await plan_pair_cooperatively(
            PairInput(
                mapping=self.pair.mapping,
                policy=ConflictPolicy.CONNECTWISE_WINS,
                left=snaps,
                right=[],
                links_by_left={k: _base(v) for k, v in links.items()},
                links_by_right={v.right_id: _base(v) for v in links.values()},
            ),
            every=self.pair.yield_every,
        )
        writes = [w for w in (self._write(item, raws) for item in items) if w is not None]
        if self.recovering:
            writes = await self._adopt(writes)
        quiet = [item for item in items if not any(w.side is Side.RIGHT for w in item.writes)]
        await self._record_quiet(quiet)
        for start in range(0, len(writes), self.pair.batch):
            await self._launch(writes[start : start + self.pair.batch], {i.left_id: i for i in items if i.left_id})

    def _write(self, item: PlanItem, raws: Mapping[str, Raw]) -> Write | None:
        write = next((w for w in item.writes if w.side is Side.RIGHT), None)
        if write is None or item.left_id is None:
            return None
        values = dict(item.right_values or write.values)
        raw = raws.get(item.left_id, {})
        if write.action is Action.CREATE:
            return Write("create", item.left_id, None, values, raw)
        return Write("update", item.left_id, write.record_id, values, raw)

    async def _adopt(self, writes: list[Write]) -> list[Write]:
        """Creates an earlier attempt noted and never recorded become updates of what the target already has."""
        creates = [w for w in writes if w.action == "create"]
        pending = await self.recorder.pending([w.left_id for w in creates])
        if not pending:
            return writes
        found = await self.pair.target.find([w for w in creates if w.left_id in pending])
        return [
            Write("update", w.left_id, found[w.left_id], w.values, w.raw)
            if w.action == "create" and w.left_id in found
            else w
            for w in writes
        ]

    # -- applying ------------------------------------------------------------------------------------------------

    async def _launch(self, writes: list[Write], items: Mapping[str, PlanItem]) -> None:
        if self._failure is not None:
            raise self._failure
        if self.dry_run:
            await self._record([WriteResult(w) for w in writes], items)
            return
        await self._gate.acquire()
        try:
            await self.recorder.intend({w.left_id: {} for w in writes if w.action == "create"})
        except BaseException:
            self._gate.release()
            raise
        task = asyncio.create_task(self._apply(writes, items))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._gate.release()
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    async def _apply(self, writes: list[Write], items: Mapping[str, PlanItem]) -> None:
        results = await self.pair.target.apply(writes)
        await self._record(results, items)

    async def _drain(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._failure is not None:
            raise self._failure

    async def _abandon(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- recording -----------------------------------------------------------------------------------------------

    async def _record(self, results: Sequence[WriteResult], items: Mapping[str, PlanItem]) -> None:
        links: list[Link] = []
        run_items: list[RunItem] = []
        settled: list[str] = []
        for result in results:
            write, item = result.write, items[result.write.left_id]
            if isinstance(result.error, FatalError):
                raise result.error
            adopted = write.action == "update" and item.action is Action.CREATE
            action = "fail" if result.error is not None else ("update" if adopted else item.action.value)
            self.outcome.counts.add(action)  # type: ignore[arg-type]
            right_id = result.right_id or write.right_id
            reason = item.reason
            if adopted:
                reason = f"created by an earlier attempt that did not record it ({right_id}): updated"
            if result.error is not None:
                reason = f"{reason}; failed: {result.error}"
            self.outcome.keep(_entry(action, write.left_id, right_id, reason))
            if self.dry_run:
                continue
            if result.error is None and right_id:
                links.append(self._link(item, right_id))
                settled.append(write.left_id)
            run_items.append(
                self.recorder.item(
                    action,  # type: ignore[arg-type]
                    left_id=write.left_id,
                    right_id=right_id,
                    reason=reason,
                    diff=item.diff,
                    source_values=item.source_values,
                    error=result.error,
                )
            )
        await self.recorder.commit(links=links, items=run_items, settled=settled)

    def _link(self, item: PlanItem, right_id: str) -> Link:
        return self.recorder.link(
            str(item.left_id),
            right_id,
            left_values=item.left_values or {},
            right_values=item.right_values or {},
            match_key=item.match_key,
        )

    async def _record_quiet(self, items: Sequence[PlanItem]) -> None:
        """Decisions without a write: unchanged records are counted, skips (with their reason) recorded."""
        run_items = []
        for item in items:
            self.outcome.counts.add(item.action.value)
            if item.action is Action.UNCHANGED:
                continue
            self.outcome.keep(_entry(item.action.value, item.left_id, item.right_id, item.reason))
            if not self.dry_run:
                run_items.append(
                    self.recorder.item(
                        item.action.value,  # type: ignore[arg-type]
                        left_id=item.left_id,
                        right_id=item.right_id,
                        reason=item.reason,
                        source_values=item.source_values,
                    )
                )
        await self.recorder.commit(items=run_items)

    # -- deletions -----------------------------------------------------------------------------------------------

    async def _reconcile(self, seen: set[str]) -> None:
        """After a full read: linked records ConnectWise no longer has were deleted there (behind the guard)."""
        total = await self.store.link_count(self.tenant, self.pair.name)
        if total == 0:
            return
        gone: list[str] = []
        async for batch in self.store.iter_link_ids(self.tenant, self.pair.name):
            gone.extend(left_id for left_id, _ in batch if left_id not in seen)
        if not gone:
            return
        what = "deleted" if self.pair.on_delete == "delete" else "changed"
        share, setting = self.pair.mass_delete_share, self.pair.mass_delete_setting
        check_mass_delete(self.pair.name, len(gone), total, share, setting=setting, what=what)
        links = await self.store.links_by_left(self.tenant, self.pair.name, gone)
        await self._deleted(list(links.values()), "not found in ConnectWise (reconciliation)")

    async def _deleted(self, links: Sequence[Link], reason: str) -> None:
        if not links:
            return
        delete = self.pair.on_delete == "delete"
        action = "delete" if delete else "skip"
        why = f"{reason}: deleted in the target" if delete else f"{reason}: on_delete is ignore"
        self.outcome.counts.add(action, len(links))  # type: ignore[arg-type]
        for link in links:
            self.outcome.keep(_entry(action, link.left_id, link.right_id, why))
        if self.dry_run:
            return
        dropped: list[str] = []
        if delete:
            writes = [Write("delete", link.left_id, link.right_id, dict(link.left_values)) for link in links]
            results = await self.pair.target.apply(writes)
            dropped = [r.write.left_id for r in results if r.error is None]
        items = [
            self.recorder.item(
                action,  # type: ignore[arg-type]
                left_id=link.left_id,
                right_id=link.right_id,
                reason=why,
                source_values=link.left_values,
            )
            for link in links
        ]
        await self.recorder.commit(items=items, dropped=dropped)


def _entry(action: str, left_id: str | None, right_id: str | None, reason: str) -> dict[str, Any]:
    return {"action": action, "connectwise_id": left_id, "target_id": right_id, "reason": reason}


def _base(link: Link) -> LinkBase:
    return LinkBase(link.left_id, link.right_id, link.left_values, link.right_values)
