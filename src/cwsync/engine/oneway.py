"""The one-way way of the page loop (`engine.loop`): ConnectWise → a target, over the `pair.Pair` contract.

A one-way pair's page (`OneWayRun`): flatten, project, skip and retire (the pair's hooks) and plan with `core.plan`
against the stored links (`decide`: the echo of an unchanged record plans nothing); note creates as intents, and
first turn the intents an earlier attempt left into updates of what it made (`Target.find`); apply in batches of
`Pair.batch` writes of one kind (a page's remainder waits to fill the next page's batches), `Pair.in_flight` at
once; record links, run items and settled intents of a batch in one transaction. Deletions (a full read's
reconciliation, a replayed id that is gone) get the pair's `on_delete` policy (`_deleted`, behind the mass-delete
guard).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import structlog

from cwsync.config.vocabulary import Action, ConflictPolicy, Side
from cwsync.connectors.http import FatalError, NotFoundError
from cwsync.core.plan import LinkBase, PairInput, PlanItem, Snapshot, plan_pair_cooperatively
from cwsync.engine.guard import check_mass_delete
from cwsync.engine.links import EARLIEST, OUT_OF_SCOPE
from cwsync.engine.loop import PairLoop, RunState
from cwsync.engine.pair import KEPT_ITEMS, Pair, Raw, Write, WriteResult
from cwsync.store import ItemRow, Link

__all__ = ["DELETED", "Decision", "Observer", "OneWayRun", "decide"]

log = structlog.get_logger("cwsync.engine")
DELETED = "cwsync:deleted"
"""The key a link's values get when its record was deleted in ConnectWise and `on_delete` kept the link (`ignore`,
`flag`): the policy. Such a link is not reconciled again; should its record come back, it is written in full."""
_DONE_AS = {"archive": "archived", "delete": "deleted", "flag": "flagged", "ignore": "marked", "unlink": "unlinked"}
"""What the mass-delete guard says was not done, per policy."""


@dataclass(slots=True)
class Decision:
    """What becomes of one record: the action (`create`, `update`, `unchanged`, `skip`, `delete`; `fail` once a
    write failed), why, the field differences, its projection, and the write it needs."""

    action: str
    left_id: str
    right_id: str | None
    reason: str
    notes: tuple[str, ...] = ()
    diff: Mapping[str, tuple[str | None, str | None]] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)
    write: Write | None = None
    right_values: Mapping[str, Any] | None = None
    match_key: str | None = None
    error: Exception | None = None
    settle: Literal["mark", "drop", "gone"] | None = None
    """A deletion that writes nothing to the target: its link is kept marked (`ignore`) or dropped (`unlink`); or
    an update the target answered "not found" (`gone`: deleted there), whose link is dropped or tombstoned."""

    @property
    def why(self) -> str:
        """The reason with the notes and the failure, as run items keep it."""
        text = "; ".join([self.reason, *self.notes])
        return f"{text}; failed: {self.error}" if self.error is not None else text


Observer = Callable[[str, Decision], None]
"""Told of every decision once it is final (pair name, decision): a caller's own report."""


async def decide(pair: Pair, page: Sequence[Raw], links: Mapping[str, Link]) -> list[Decision]:
    """The decisions for a page of records against their stored links (pure, apart from yielding to the loop).

    A record `retire` names is deleted in the target when linked, else skipped; one `skip` names is left alone,
    linked or not; a tombstoned or lost link counts as none (the record is created again); `frozen` fields of a
    linked record keep the link's values; the rest is planned by `core.plan`, one way, ConnectWise winning.
    """
    decided: list[Decision] = []
    snaps: list[Snapshot] = []
    planned: dict[str, Link] = {}
    extra: dict[str, _Extra] = {}
    project = pair.project or pair.mapping.project_left
    flatten, notes_of, retire_of, skip_of, stored = pair.flatten, pair.notes, pair.retire, pair.skip, pair.stored
    every = pair.yield_every
    noted = notes_of is not _NO_NOTES  # the default hook: no call per record
    for n, raw in enumerate(page, 1):
        flat = flatten(raw)
        record_id = str(raw["id"])
        values = project(flat)
        notes = tuple(notes_of(flat)) if noted else ()
        link = links.get(record_id) if links else None
        marked: str | None = None
        dead, lost = False, None
        if link is not None:
            if stored is not None:
                link = stored(link)
            marked = _marked(link)
            if marked is not None:  # back after a deletion that kept the link: write it in full
                link = replace(link, left_values={}, right_values={})
            dead = _tombstoned(pair, link)
            lost = pair.lost(link) if not dead else None
        retire = retire_of(flat)
        if retire is not None and link is not None and not dead and lost is None:
            write = Write("delete", record_id, link.right_id, dict(values), previous=link.left_values)
            why = f"{retire}: {pair.deleted_as} in {pair.target_label}"
            decided.append(Decision("delete", record_id, link.right_id, why, notes, values=values, write=write))
        elif retire is not None:
            why = f"{retire} (already {pair.deleted_as})" if dead else f"{retire} (not in {pair.target_label})"
            decided.append(Decision("skip", record_id, None, why, notes, values=values))
        else:
            skip = skip_of(flat)
            usable = link is not None and not dead and lost is None and skip is None
            held: tuple[str, ...] = ()
            pins: tuple[str, ...] = ()
            if usable and link is not None:
                pins = tuple(pair.pinned(link))
                if pins:
                    if pair.placed is not None:
                        values = pair.placed(flat, link)
                    values = {**values, **{k: _blank(link.left_values.get(k)) for k in pins if k in values}}
                if pair.frozen:
                    values, kept = _hold_frozen(pair, values, link)
                    held = tuple(kept)
            snaps.append(Snapshot(record_id, values, flat, None, skip))
            extra[record_id] = _Extra(
                raw, notes, dead, lost, held, link if usable else None, bool(pins), marked if usable else None
            )
            if usable and link is not None:
                planned[record_id] = link
        if n % every == 0:
            await asyncio.sleep(0)
    bases = {k: _base(v) for k, v in planned.items()}
    items = await plan_pair_cooperatively(
        PairInput(
            mapping=pair.mapping,
            policy=ConflictPolicy.CONNECTWISE_WINS,
            left=snaps,
            right=[],
            links_by_left=bases,
            links_by_right={v.right_id: v for v in bases.values()},
            create_diffs=False,  # a create's run item and report are its values
        ),
        every=pair.yield_every,
    )
    names = tuple(f.name for f in pair.mapping.fields)
    known = frozenset(names)
    decided.extend(
        [_planned(pair, item, extra[str(item.left_id)], names, known) for item in items if item.left_id is not None]
    )
    return decided


_NO_NOTES = Pair.__dataclass_fields__["notes"].default
"""`Pair.notes` when a pair gives none."""


@dataclass(slots=True)
class _Extra:
    """What `decide` knows of a record beyond its snapshot (not frozen: one is made per record, and a frozen
    dataclass's `__init__` costs a call of `object.__setattr__` per field)."""

    raw: Raw
    notes: tuple[str, ...]
    dead: bool
    lost: str | None
    held: tuple[str, ...]
    link: Link | None
    pinned: bool
    marked: str | None = None
    """The `on_delete` policy that kept the link of this record, deleted in ConnectWise earlier (it came back)."""


def _blank(value: Any) -> Any:
    return None if value == "" else value


def _hold_frozen(pair: Pair, values: Mapping[str, str | None], link: Link) -> tuple[dict[str, str | None], list[str]]:
    """`values` with the link's values for the frozen fields that changed, and the names of those fields."""
    out, held = dict(values), []
    for name in pair.frozen:
        if name in out and name in link.left_values:
            kept = _blank(link.left_values[name])
            if out[name] != kept:
                out[name] = kept
                held.append(name)
    return out, held


def _planned(pair: Pair, item: PlanItem, extra: _Extra, names: tuple[str, ...], known: frozenset[str]) -> Decision:
    """The decision of a planned item; `names` (and `known`, as a set): the mapping's field names."""
    left_id = str(item.left_id)
    raw, dead = extra.raw, extra.dead
    out = Decision(
        item.action.value,
        left_id,
        item.right_id,
        item.reason,
        extra.notes,
        diff=item.diff,
        values=item.source_values,
        right_values=item.right_values,
        match_key=item.match_key,
    )
    write = None
    for planned in item.writes:
        if planned.side is Side.RIGHT:
            write = planned
            break
    if write is None:
        if extra.held and out.action == "unchanged":
            out.action, out.reason = "skip", "; ".join(dict.fromkeys(pair.frozen[name] for name in extra.held))
        return out
    merged = item.right_values or write.values
    if merged.keys() != known:  # mapped fields only (a create's values are the mapped fields already: kept)
        merged = {name: merged.get(name) for name in names}
    values = out.right_values = merged
    if write.action is Action.CREATE:
        out.write = Write("create", left_id, None, values, raw)
        if dead:
            out.reason = f"reactivated: created again ({pair.target_label} keeps the {pair.deleted_as} one)"
        elif not pair.mapping.match:
            out.reason = "new in ConnectWise: create"
        if extra.lost is not None:
            out.reason = f"{extra.lost}: {out.reason}"
        return out
    previous = extra.link.left_values if extra.link is not None else {}
    moved = [f.name for f in pair.mapping.fields if f.name in pair.moves and f.name in item.diff] if pair.moves else []
    if moved and write.record_id is not None and not extra.pinned:
        out.action, out.right_id = "create", None
        out.write = Write("create", left_id, None, values, raw, previous=previous, replaces=write.record_id)
        out.reason = f"{' and '.join(moved)} changed: created anew, the old one ({write.record_id}) {pair.deleted_as}"
    else:
        if extra.marked == "flag" and pair.flag:
            values = {**values, **dict.fromkeys(pair.flag)}  # the flag is cleared
        out.write = Write("update", left_id, write.record_id, values, raw, previous=previous)
    if extra.marked is not None:
        out.reason = f"back in ConnectWise after its deletion (on_delete: {extra.marked}): {out.reason}"
    return out


class OneWayRun(PairLoop[Pair]):
    """A one-way pair's run: `decide` plans each page, writes go out in batches of one kind."""

    def __init__(self, state: RunState, pair: Pair, run_id: int | None) -> None:
        super().__init__(state, pair, pair.name, run_id, scope=pair.scope, links=pair.links, applying=pair.in_flight)
        self.source = pair.source
        self.observe = state.observe
        self.recovering = False
        self._queues: dict[str, list[Decision]] = {"create": [], "update": [], "delete": []}
        self._calls = pair.target.calls
        self.held = pair.links is not None
        """The target holds the links: none is written to (or dropped from) the store's links table."""

    def _read_from(self, since: datetime | None) -> datetime | None:
        return None if since is None else since - self.pair.overlap

    def _done(self) -> None:
        self.report.calls = self.pair.target.calls - self._calls

    def _reconciles(self) -> bool:
        return self.pair.reconcile

    async def _replay(self, left_ids: list[str], right_ids: list[str]) -> None:
        if not left_ids:
            return
        await self._begin()
        raws = await self.pair.source.get_many(left_ids)
        if raws:
            await self._page(raws)
        found = {str(raw["id"]) for raw in raws}
        gone = [i for i in left_ids if i not in found]
        if gone:
            links = await self.links.by_left(gone)
            await self._deleted(list(links.values()), "deleted in ConnectWise (not found)")

    async def _begin(self) -> None:
        if self.pair.prepare is not None:
            await self.pair.prepare(self.dry_run)
        self.recovering = (
            not self.dry_run and not self.pair.upserts and await self.store.has_journal(self.tenant, self.pair.name)
        )

    # -- a page ----------------------------------------------------------------------------------------------

    async def _page(self, page: Sequence[Raw]) -> None:
        self.report.read += len(page)
        source = self.pair.source
        newest = getattr(source, "newest", None)  # the page's newest change at once (`ConnectWiseSource.newest`)
        if newest is not None:
            self.left_mark.seen(newest(page))
        else:
            for raw in page:
                self.left_mark.seen(source.updated_at(raw))
        links = await self.links.by_left([str(raw["id"]) for raw in page])
        self.linked.update(links)
        decisions = await decide(self.pair, page, links)
        if self.recovering:
            await self._adopt(decisions)
        if self.pair.adopt is not None:
            creates = [d for d in decisions if d.write and d.write.action == "create" and d.write.replaces is None]
            if creates:
                await self.pair.adopt(creates)
        await self._record([d for d in decisions if d.write is None])
        for decision in decisions:
            if decision.write is not None:
                await self._queue(decision)

    async def _adopt(self, decisions: Sequence[Decision]) -> None:
        """Creates an earlier attempt noted and never recorded become updates of what the target already has."""
        creates = [d for d in decisions if d.write is not None and d.write.action == "create"]
        pending = await self.recorder.pending([d.left_id for d in creates])
        if not pending:
            return
        found = await self.pair.target.find([d.write for d in creates if d.write and d.left_id in pending])
        for d in creates:
            if d.left_id in found and d.write is not None:
                d.action, d.right_id = "update", found[d.left_id]
                d.reason = f"created by an earlier attempt that did not record it ({d.right_id}): updated"
                old = d.write
                d.write = Write("update", d.left_id, d.right_id, old.values, old.raw, replaces=old.replaces)

    # -- applying ------------------------------------------------------------------------------------------------

    async def _queue(self, decision: Decision) -> None:
        """A write waits for a full batch of its kind (creates, updates and deletes go out apart)."""
        assert decision.write is not None
        queue = self._queues[decision.write.action]
        queue.append(decision)
        if len(queue) >= self.pair.batch:
            batch = queue[: self.pair.batch]
            del queue[: self.pair.batch]
            await self._launch(batch)

    async def _launch(self, decisions: list[Decision]) -> None:
        if self.dry_run:
            await self._record(decisions)
            return
        await self.applying.room()
        try:
            if not self.pair.upserts:
                creates: dict[str, dict[str, Any]] = {
                    d.left_id: {} for d in decisions if d.write and d.write.action == "create"
                }
                await self.recorder.intend(creates)
        except BaseException:
            self.applying.release()
            raise
        self.applying.start(self._apply(decisions))

    async def _apply(self, decisions: list[Decision]) -> None:
        results = await self.pair.target.apply([d.write for d in decisions if d.write is not None])
        # The loop's turn between a batch's write and its recording: a target written at once (the device table's
        # transaction) and a thousand decisions recorded were one step of tens of milliseconds, during which the
        # answer of the page read ahead waited, and with it the request of the next page.
        await asyncio.sleep(0)
        await self._record(decisions, {r.write.left_id: r for r in results})

    async def _flush(self) -> None:
        for queue in self._queues.values():
            while queue:
                batch = queue[: self.pair.batch]
                del queue[: self.pair.batch]
                await self._launch(batch)
        await self.applying.settle()

    # -- recording -----------------------------------------------------------------------------------------------

    def _hold(self, d: Decision) -> None:
        """A record whose write failed is read again by the next run, even an incremental one: the cursor does not
        move past its change (past the run's start when its change time is unknown, so everything is read again)."""
        raw = d.write.raw if d.write is not None else None
        moment = self.pair.source.updated_at(raw) if raw else None
        self.left_mark.hold(moment or EARLIEST)

    async def _record(self, decisions: Sequence[Decision], results: Mapping[str, WriteResult] | None = None) -> None:
        """Count, report and record decisions (with the results of their writes, when they were sent)."""
        links: list[Link] = []
        run_items: list[ItemRow] = []
        settled: list[str] = []
        dropped: list[str] = []
        marked: list[str] = []
        linked, pair, outcome, observe, dry_run = self.linked, self.pair, self.report, self.observe, self.dry_run
        count, row = outcome.counts.add, self.recorder.row
        held = self.held  # the target holds the links: none is built (and hashed) here
        for d in decisions:
            result = results.get(d.left_id) if results is not None else None
            if result is not None:
                if isinstance(result.error, FatalError):
                    raise result.error
                d.right_id = result.right_id or d.right_id
                d.error = result.error
                if _gone_there(d):  # deleted in the target: no dangling link, the next run creates it again
                    d.action, d.error, d.settle = "skip", None, "gone"
                    d.reason = (
                        f"{d.reason}; {self.pair.target_label} no longer has it (deleted there): its link"
                        f" {'marked ' + self.pair.deleted_as if self.pair.tombstone else 'dropped'}, created again"
                        " by the next run"
                    )
                    self._hold(d)
                elif d.error is not None:
                    d.action = "fail"
                    self._hold(d)
                elif d.write is not None and d.write.replaces is not None:
                    count("delete")  # the old counterpart of a move, deleted (archived) too
            elif dry_run and d.write is not None and d.write.replaces is not None:
                count("delete")  # a plan counts the move's delete as the run will (#13.8)
            count(d.action)  # type: ignore[arg-type]
            if observe is not None:
                observe(pair.name, d)
            action = d.action
            if action == "unchanged":
                continue
            why = d.why
            if len(outcome.items) < KEPT_ITEMS:
                outcome.keep(_entry(action, d.left_id, d.right_id, why))
            else:  # what `keep` does past its first items, without an entry made to be dropped
                outcome.items_omitted += 1
            if dry_run:
                continue
            written = result is not None and d.error is None and d.right_id and d.write is not None
            if d.settle == "gone" and self.pair.tombstone is not None and d.right_id is not None:
                if not held:
                    values = {**(d.write.previous if d.write else {}), **self.pair.tombstone}
                    links.append(self.recorder.link(d.left_id, d.right_id, left_values=values))
            elif d.settle in ("drop", "gone"):
                dropped.append(d.left_id)
                self.linked.discard(d.left_id)
            elif d.settle == "mark" and d.right_id is not None:
                if not held:
                    right = dict(d.right_values or {})
                    values = {**d.values, DELETED: self.pair.on_delete}
                    mark = self.recorder.link(
                        d.left_id, d.right_id, left_values=values, right_values=right, match_key=d.match_key
                    )
                    links.append(mark)
                marked.append(d.left_id)
            elif written and d.action == "delete":
                if self.pair.tombstone is None:
                    dropped.append(d.left_id)
                    self.linked.discard(d.left_id)
                elif not held:
                    values = {**d.values, **self.pair.tombstone}
                    links.append(self.recorder.link(d.left_id, str(d.right_id), left_values=values))
            elif written:
                if not held:
                    links.append(
                        self.recorder.link(
                            d.left_id,
                            str(d.right_id),
                            left_values=d.values,
                            right_values={**_written(d), **((result.right_values if result else None) or {})},
                            match_key=d.match_key,
                        )
                    )
                settled.append(d.left_id)
                linked.add(d.left_id)
            run_items.append(
                row(
                    action,  # type: ignore[arg-type]
                    left_id=d.left_id,
                    right_id=d.right_id,
                    reason=why,
                    diff={} if action == "create" else d.diff,  # a create's values are its source values
                    source_values=d.values,
                    error=d.error,
                )
            )
        if self.held:
            links, dropped = [], []
            marker = getattr(self.links, "mark", None)
            if marked and marker is not None:  # the target keeps the mark in its rows (the device table)
                await marker(marked)
        if self.pair.upserts:
            settled = []  # no intents were noted
        if len(run_items) > pair.yield_every:
            await asyncio.sleep(0)  # the loop's turn between a batch's bookkeeping and its commit (`_apply`)
        self.released += await self.recorder.commit(links=links, rows=run_items, dropped=dropped, settled=settled)

    # -- deletions -----------------------------------------------------------------------------------------------

    def _reconcilable(self, link: Link) -> bool:
        return not _tombstoned(self.pair, link) and _marked(link) is None  # nothing to confirm

    async def _kept(self, links: Sequence[Link]) -> None:
        """Linked records a full read did not return but ConnectWise still has: skipped with the reason, their
        counterparts left alone."""
        why = OUT_OF_SCOPE.format(target=self.pair.target_label, deleted=self.pair.deleted_as)
        await self._record(
            [Decision("skip", link.left_id, link.right_id, why, values=link.left_values) for link in links]
        )

    async def _vanished(self, links: Sequence[Link], total: int) -> None:
        await self._deleted(links, "not found in ConnectWise (reconciliation)", total=total)

    async def _deleted(self, links: Sequence[Link], reason: str, *, total: int | None = None) -> None:
        """Records deleted in ConnectWise: the pair's `on_delete` applies to their counterparts, behind the
        mass-delete guard (`total`: the pair's links, counted when not given). Links already tombstoned or marked
        are left alone (a second run does nothing)."""
        links = [link for link in links if not _tombstoned(self.pair, link) and _marked(link) is None]
        if not links:
            return
        policy, pair = self.pair.on_delete, self.pair
        if total is None:
            total = await self.links.count()
        what = _DONE_AS[policy]
        check_mass_delete(
            pair.name, len(links), total, pair.mass_delete_share, setting=pair.mass_delete_setting, what=what
        )
        if policy in ("archive", "delete"):
            why = f"{reason}: {pair.deleted_as} in {pair.target_label}"
            for link in links:
                write = Write("delete", link.left_id, link.right_id, dict(link.left_values))
                await self._queue(
                    Decision("delete", link.left_id, link.right_id, why, values=link.left_values, write=write)
                )
            return
        if policy == "flag" and pair.flag is not None:
            why = f"{reason}: flagged in {pair.target_label}, no longer synced (on_delete: flag)"
            for link in links:
                values = {**link.left_values, DELETED: "flag"}
                write = Write(
                    "update", link.left_id, link.right_id, {**link.left_values, **pair.flag}, previous=link.left_values
                )
                await self._queue(
                    Decision(
                        "update", link.left_id, link.right_id, why, values=values, write=write, match_key=link.match_key
                    )
                )
            return
        if policy == "unlink":
            why, settle = f"{reason}: unlinked, left as it is in {pair.target_label} (on_delete: unlink)", "drop"
        else:
            why, settle = f"{reason}: kept in {pair.target_label} and no longer synced (on_delete: {policy})", "mark"
        await self._record(
            [
                Decision(
                    "skip",
                    link.left_id,
                    link.right_id,
                    why,
                    values=link.left_values,
                    right_values=link.right_values,
                    match_key=link.match_key,
                    settle=settle,  # type: ignore[arg-type]
                )
                for link in links
            ]
        )


def _entry(action: str, left_id: str | None, right_id: str | None, reason: str) -> dict[str, Any]:
    return {"action": action, "connectwise_id": left_id, "target_id": right_id, "reason": reason}


def _written(d: Decision) -> Mapping[str, Any]:
    """The right values a link keeps: none when they are the left ones (one way, what was written; `_base`)."""
    right = d.right_values or {}
    return {} if right == d.values else right


def _gone_there(d: Decision) -> bool:
    """An update of a counterpart the target no longer has (deleted there: HubSpot's OBJECT_NOT_FOUND, a Hudu 404)."""
    return isinstance(d.error, NotFoundError) and d.write is not None and d.write.action == "update"


def _marked(link: Link | None) -> str | None:
    """The `on_delete` policy that kept this link when its record was deleted in ConnectWise (None: not deleted)."""
    mark = link.left_values.get(DELETED) if link is not None else None
    return None if mark is None else str(mark)


def _tombstoned(pair: Pair, link: Link) -> bool:
    mark = pair.tombstone
    return mark is not None and all(link.left_values.get(k) == v for k, v in mark.items())


def _base(link: Link) -> LinkBase:
    """A stored link as the planner's base. Canonical values have no empty text (`canonical("")` is None), and a
    link recorded without right values (a one-way recorder) holds what was written as its left values."""
    left = {k: None if v == "" else v for k, v in link.left_values.items()}
    right = {k: None if v == "" else v for k, v in link.right_values.items()} if link.right_values else left
    return LinkBase(link.left_id, link.right_id, left, right)
