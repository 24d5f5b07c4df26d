"""The engine's generic hooks on a list source and an in-memory target over a real store (SQLite): retire,
tombstones, notes, skip of linked records, prepare, batches of one kind filled across pages, reconciliation off and
confirmed by id, the target's call count, record-level failures, and links recorded before right values were kept."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cwsync.config.vocabulary import Direction
from cwsync.core.mapping import FieldMap, ObjectMapping
from cwsync.engine.engine import Engine
from cwsync.engine.oneway import Decision
from cwsync.engine.pair import Pair, Raw, Write, WriteResult
from cwsync.engine.record import Recorder
from cwsync.engine.report import RunReport
from cwsync.engine.runs import recorded_run
from cwsync.store import Link, Store

T, PAIR = "default", "test:things"
MAPPING = ObjectMapping(
    PAIR,
    "things",
    "things",
    tuple(FieldMap(name=f, left=f, right=f, direction=Direction.TO_RIGHT) for f in ("name", "note")),
    (),
    Direction.TO_RIGHT,
)


class ListSource:
    """Records in memory, read in pages of `page` records."""

    def __init__(self, records: Sequence[Raw], page: int = 1000) -> None:
        self.records = {str(r["id"]): dict(r) for r in records}
        self.page = page

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        values = list(self.records.values())
        for start in range(0, len(values), self.page):
            yield values[start : start + self.page]

    async def get_many(self, ids: Sequence[str]) -> list[Raw]:
        return [self.records[i] for i in ids if i in self.records]

    def updated_at(self, raw: Raw) -> datetime | None:
        return None


class MemoryTarget:
    """Rows by target id; every `apply` is one call and remembers the kinds it carried."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.calls = 0
        self.batches: list[tuple[str, ...]] = []
        self.failing: set[str] = set()

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        return {}

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        self.calls += 1
        self.batches.append(tuple(w.action for w in writes))
        out = []
        for w in writes:
            if w.left_id in self.failing:
                out.append(WriteResult(w, error=ValueError("refused")))
                continue
            right = w.right_id or f"r{w.left_id}"
            if w.action == "delete":
                self.rows.pop(right)
            else:
                self.rows[right] = dict(w.values)
            out.append(WriteResult(w, right_id=right))
        return out


def things(n: int, **extra: Any) -> list[Raw]:
    return [{"id": i, "name": f"thing {i}", "note": "", **extra} for i in range(1, n + 1)]


def pair(source: ListSource, target: MemoryTarget, **kw: Any) -> Pair:
    base = Pair(
        name=PAIR,
        mapping=MAPPING,
        source=source,
        target=target,
        flatten=lambda raw: raw,
        retire=lambda flat: "inactive" if flat.get("inactive") else None,
        skip=lambda flat: "held" if flat.get("held") else None,
        on_delete="delete",
    )
    return replace(base, **kw)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path / 'engine.db'}")
    yield opened
    await opened.close()


async def link_of(store: Store, left_id: str) -> Link | None:
    return (await store.links_by_left(T, PAIR, [left_id])).get(left_id)


async def test_retire_deletes_a_linked_counterpart_and_skips_an_unlinked_record(store: Store) -> None:
    source, target = ListSource(things(3)), MemoryTarget()
    await Engine(store, T).run([pair(source, target)])
    source.records["1"]["inactive"] = True
    source.records["4"] = {"id": 4, "name": "never synced", "note": "", "inactive": True}
    outcome = await Engine(store, T).run([pair(source, target)], full=True)
    assert (outcome.counts.deleted, outcome.counts.skipped, outcome.counts.unchanged) == (1, 1, 2)
    assert "r1" not in target.rows
    assert await link_of(store, "1") is None
    [skipped] = await store.items_for_record(T, PAIR, left_id="4")
    assert skipped.reason == "inactive (not in the target)"
    [deleted, _created] = await store.items_for_record(T, PAIR, left_id="1")
    assert (deleted.action, deleted.reason) == ("delete", "inactive: deleted in the target")


async def test_a_tombstone_keeps_the_link_deletes_once_and_creates_again(store: Store) -> None:
    source, target = ListSource(things(2)), MemoryTarget()
    marked = {"tombstone": {"state": "gone"}, "target_label": "Memory", "deleted_as": "archived"}
    await Engine(store, T).run([pair(source, target, **marked)])
    source.records["1"]["inactive"] = True
    first = await Engine(store, T).run([pair(source, target, **marked)], full=True)
    link = await link_of(store, "1")
    assert first.counts.deleted == 1
    assert link is not None
    assert link.left_values["state"] == "gone"
    assert link.right_id == "r1"
    again = await Engine(store, T).run([pair(source, target, **marked)], full=True)
    assert (again.counts.deleted, again.counts.skipped) == (0, 1)
    assert again.pairs[0].items[0]["reason"] == "inactive (already archived)"
    replay = await Engine(store, T).run([pair(source, target, **marked)], records={PAIR: ["1"]})
    assert replay.counts.deleted == 0
    del source.records["1"]["inactive"]
    back = await Engine(store, T).run([pair(source, target, **marked)], full=True)
    assert back.counts.created == 1
    assert back.pairs[0].items[0]["reason"] == "reactivated: created again (Memory keeps the archived one)"
    link = await link_of(store, "1")
    assert link is not None
    assert "state" not in link.left_values


async def test_a_record_deleted_in_connectwise_keeps_a_tombstone_and_is_not_deleted_twice(store: Store) -> None:
    source, target = ListSource(things(2)), MemoryTarget()
    marked = {"tombstone": {"state": "gone"}}
    await Engine(store, T).run([pair(source, target, **marked)])
    del source.records["2"]
    first = await Engine(store, T).run([pair(source, target, **marked)], records={PAIR: ["2"]})
    second = await Engine(store, T).run([pair(source, target, **marked)], records={PAIR: ["2"]})
    assert (first.counts.deleted, second.counts.deleted) == (1, 0)
    assert first.pairs[0].items[0]["reason"] == "deleted in ConnectWise (not found): deleted in the target"
    link = await link_of(store, "2")
    assert link is not None
    assert link.left_values == {"name": "thing 2", "note": None, "state": "gone"}


async def test_notes_join_the_reasons_and_observers_see_every_decision(store: Store) -> None:
    source, target = ListSource(things(2)), MemoryTarget()
    seen: list[tuple[str, Decision]] = []
    notes = pair(source, target, notes=lambda flat: [f"note on {flat['id']}"])
    outcome = await Engine(store, T).run([notes], observe=lambda name, d: seen.append((name, d)))
    assert [(name, d.action, d.notes) for name, d in seen] == [
        (PAIR, "create", ("note on 1",)),
        (PAIR, "create", ("note on 2",)),
    ]
    assert outcome.pairs[0].items[0]["reason"] == "new in ConnectWise: create; note on 1"
    [item] = await store.items_for_record(T, PAIR, left_id="2")
    assert item.reason == "new in ConnectWise: create; note on 2"


async def test_skip_leaves_a_linked_record_alone(store: Store) -> None:
    source, target = ListSource(things(1)), MemoryTarget()
    await Engine(store, T).run([pair(source, target)])
    source.records["1"].update(name="renamed", held=True)
    outcome = await Engine(store, T).run([pair(source, target)], full=True)
    assert (outcome.counts.skipped, outcome.counts.updated) == (1, 0)
    assert target.rows["r1"]["name"] == "thing 1"


async def test_batches_of_one_kind_fill_across_pages(store: Store) -> None:
    source, target = ListSource(things(250), page=90), MemoryTarget()
    outcome = await Engine(store, T).run([pair(source, target, batch=100, in_flight=3)])
    assert sorted(len(b) for b in target.batches) == [50, 100, 100]
    assert outcome.pairs[0].calls == target.calls == 3
    for n in range(1, 121):
        source.records[str(n)]["name"] = f"changed {n}"
    for n in range(251, 331):
        source.records[str(n)] = {"id": n, "name": f"thing {n}", "note": ""}
    target.batches.clear()
    await Engine(store, T).run([pair(source, target, batch=100)], full=True)
    assert sorted((b[0], len(b)) for b in target.batches) == [("create", 80), ("update", 20), ("update", 100)]
    assert all(len(set(b)) == 1 for b in target.batches)


async def test_without_reconcile_only_a_replay_finds_a_deletion(store: Store) -> None:
    source, target = ListSource(things(3)), MemoryTarget()
    await Engine(store, T).run([pair(source, target, reconcile=False)])
    del source.records["3"]
    full = await Engine(store, T).run([pair(source, target, reconcile=False)], full=True)
    assert full.counts.deleted == 0
    assert "r3" in target.rows
    replay = await Engine(store, T).run([pair(source, target, reconcile=False)], records={PAIR: ["3"]})
    assert replay.counts.deleted == 1
    assert "r3" not in target.rows


class ScopedSource(ListSource):
    """A source whose full read leaves out the `hidden` records (out of its scope) that it still has by id;
    `confirms` (when not None) is its `confirm`, which records every call."""

    def __init__(self, records: Sequence[Raw], *, confirming: bool) -> None:
        super().__init__(records)
        self.hidden: set[str] = set()
        self.confirmed: list[list[str]] = []
        if confirming:
            self.confirm = self._confirm

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        async for page in super().changed(since):
            yield [r for r in page if str(r["id"]) not in self.hidden]

    async def _confirm(self, ids: Sequence[str]) -> set[str]:
        self.confirmed.append(sorted(ids))
        return {i for i in ids if i in self.records}


@pytest.mark.parametrize("confirming", [True, False], ids=["confirm", "get_many"])
async def test_reconciliation_confirms_by_id_and_keeps_what_is_only_out_of_scope(
    store: Store, confirming: bool
) -> None:
    """A linked record the full read missed but the source still has (its `confirm`, else `get_many`) is skipped
    with the reason, its counterpart kept; one the source no longer has gets the policy."""
    source, target = ScopedSource(things(4), confirming=confirming), MemoryTarget()
    await Engine(store, T).run([pair(source, target)])
    source.hidden = {"2", "3"}
    del source.records["3"]
    outcome = await Engine(store, T).run([pair(source, target)], full=True)
    assert (outcome.counts.deleted, outcome.counts.skipped) == (1, 1)
    assert "r2" in target.rows
    assert "r3" not in target.rows
    assert await link_of(store, "2") is not None
    [item] = [i for i in outcome.pairs[0].items if i["connectwise_id"] == "2"]
    assert (item["action"], item["reason"]) == (
        "skip",
        "not read by this full run but still in ConnectWise (outside the run's scope): kept in the target as it is,"
        " not deleted",
    )
    assert source.confirmed == ([["2", "3"]] if confirming else [])


async def test_the_mass_delete_guard_counts_only_confirmed_deletions(store: Store) -> None:
    """Most records out of the read's scope but still there: nothing is deleted and the guard does not stop the
    run; most of them really gone: it does."""
    from cwsync.engine.guard import MassDeleteError

    source, target = ScopedSource(things(10), confirming=True), MemoryTarget()
    await Engine(store, T).run([pair(source, target)])
    source.hidden = {str(i) for i in range(1, 11)}
    kept = await Engine(store, T).run([pair(source, target)], full=True)
    assert (kept.counts.deleted, kept.counts.skipped, len(target.rows)) == (0, 10, 10)
    for i in range(1, 11):
        del source.records[str(i)]
    with pytest.raises(MassDeleteError):
        await Engine(store, T).run([pair(source, target)], full=True)
    assert len(target.rows) == 10


async def test_prepare_runs_inside_the_run(store: Store) -> None:
    source, target = ListSource(things(1)), MemoryTarget()
    calls: list[bool] = []

    async def prepare(dry_run: bool) -> None:
        calls.append(dry_run)
        if len(calls) == 3:
            raise RuntimeError("no properties")

    await Engine(store, T).run([pair(source, target, prepare=prepare)], dry_run=True)
    await Engine(store, T).run([pair(source, target, prepare=prepare)])
    with pytest.raises(RuntimeError, match="no properties"):
        await Engine(store, T).run([pair(source, target, prepare=prepare)], full=True)
    assert calls == [True, False, False]
    assert [r.status for r in await store.runs(T)] == ["failed", "succeeded"]


async def test_a_refused_write_fails_alone_and_keeps_its_intent(store: Store) -> None:
    source, target = ListSource(things(3)), MemoryTarget()
    target.failing.add("2")
    outcome = await Engine(store, T).run([pair(source, target)])
    assert (outcome.counts.created, outcome.counts.failed) == (2, 1)
    [item] = await store.items_for_record(T, PAIR, left_id="2")
    assert (item.action, item.status) == ("fail", "failed")
    assert item.reason.endswith("failed: refused")
    assert await link_of(store, "2") is None
    assert await store.has_journal(T, PAIR)


async def test_a_link_without_right_values_and_with_empty_text_is_unchanged(store: Store) -> None:
    """Links recorded by a one-way recorder before the engine: right values empty, empty text as ``, a key that is
    not mapped; a change then writes the mapped fields only."""
    source, target = ListSource(things(1)), MemoryTarget()
    kept = {"name": "thing 1", "note": "", "state": "active"}
    old = Link(tenant=T, pair=PAIR, left_id="1", right_id="r1", left_values=kept)
    async with store.transaction() as tx:
        await tx.upsert_links([old])
    outcome = await Engine(store, T).run([pair(source, target)], full=True)
    assert (outcome.counts.unchanged, target.calls) == (1, 0)
    source.records["1"]["name"] = "renamed"
    changed = await Engine(store, T).run([pair(source, target)], full=True)
    assert changed.counts.updated == 1
    assert target.rows["r1"] == {"name": "renamed", "note": None}


async def test_a_projection_hook_replaces_the_mappings(store: Store) -> None:
    """An integration that computes canonical values itself hands them over as they are (the mapping is not run)."""
    source, target = ListSource(things(1)), MemoryTarget()
    shouted = pair(source, target, project=lambda flat: {"name": str(flat["name"]).upper(), "note": None})
    await Engine(store, T).run([shouted])
    assert target.rows["r1"] == {"name": "THING 1", "note": None}
    link = await link_of(store, "1")
    assert link is not None
    assert link.left_values == {"name": "THING 1", "note": None}


class StampedSource(ListSource):
    """A source that filters by `lastUpdated` as ConnectWise does (each record carries `at`)."""

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        yield [r for r in self.records.values() if since is None or r["at"] >= since]

    def updated_at(self, raw: Raw) -> datetime | None:
        moment: datetime = raw["at"]
        return moment


async def test_a_failed_write_holds_the_cursor_so_the_next_incremental_run_reads_it_again(tmp_path: Path) -> None:
    """Record 2 fails on the first run; the cursor stays at its change, so the incremental run writes it."""
    from datetime import UTC, timedelta

    store = await Store.open(f"sqlite:///{tmp_path / 'held.db'}")
    try:
        base = datetime(2026, 11, 1, tzinfo=UTC)
        source = StampedSource([{**r, "at": base + timedelta(hours=int(r["id"]))} for r in things(3)])
        target = MemoryTarget()
        target.failing = {"2"}
        first = await Engine(store, T).run([pair(source, target)])
        assert (first.counts.created, first.counts.failed) == (2, 1)
        cursor = await store.cursor(T, PAIR, "left")
        assert cursor is not None
        assert datetime.fromisoformat(cursor) == base + timedelta(hours=2)  # not hour 3: record 2 is read again
        target.failing = set()
        second = await Engine(store, T).run([pair(source, target)])
        assert second.counts.created == 1
        assert "r2" in target.rows
    finally:
        await store.close()


# -- frozen, moves, lost, stored, scope, within --------------------------------------------------------------------


class MovingTarget(MemoryTarget):
    """A MemoryTarget whose creates get fresh ids and that remembers the counterparts a create replaced."""

    def __init__(self) -> None:
        super().__init__()
        self.replaced: list[tuple[str, str]] = []
        self.previous: dict[str, dict[str, Any]] = {}

    async def apply(self, writes: Sequence[Write]) -> list[WriteResult]:
        out = []
        for w in writes:
            self.previous[w.left_id] = dict(w.previous)
            right = w.right_id or f"r{w.left_id}-{len(self.rows) + len(self.replaced)}"
            self.rows[right] = dict(w.values)
            if w.replaces is not None:
                self.replaced.append((w.left_id, w.replaces))
                self.rows.pop(w.replaces)
            out.append(WriteResult(w, right_id=right))
        return out


async def test_a_frozen_field_is_written_on_create_only_and_a_change_of_it_alone_is_a_skip(store: Store) -> None:
    source, target = ListSource(things(2)), MemoryTarget()
    frozen = {"frozen": {"name": "renamed; renames are off"}}
    await Engine(store, T).run([pair(source, target, **frozen)])
    source.records["1"]["name"] = "renamed"
    source.records["2"].update(name="renamed too", note="changed")
    outcome = await Engine(store, T).run([pair(source, target, **frozen)], full=True)
    assert (outcome.counts.skipped, outcome.counts.updated) == (1, 1)
    [skipped] = [i for i in outcome.pairs[0].items if i["connectwise_id"] == "1"]
    assert (skipped["action"], skipped["reason"]) == ("skip", "renamed; renames are off")
    assert target.rows["r1"]["name"] == "thing 1"
    assert target.rows["r2"] == {"name": "thing 2", "note": "changed"}  # the note only: the name stays
    link = await link_of(store, "2")
    assert link is not None
    assert link.left_values["name"] == "thing 2"
    thawed = await Engine(store, T).run([pair(source, target)], full=True)
    assert thawed.counts.updated == 2
    assert target.rows["r1"]["name"] == "renamed"


async def test_a_change_of_a_moves_field_creates_anew_replacing_the_old_counterpart(store: Store) -> None:
    source, target = ListSource(things(2)), MovingTarget()
    moves = {"moves": frozenset({"note"})}
    await Engine(store, T).run([pair(source, target, **moves)])
    old = await link_of(store, "1")
    assert old is not None
    source.records["1"]["note"] = "elsewhere"
    outcome = await Engine(store, T).run([pair(source, target, **moves)], full=True)
    assert (outcome.counts.created, outcome.counts.unchanged) == (1, 1)
    assert target.replaced == [("1", old.right_id)]
    assert target.previous["1"] == {"name": "thing 1", "note": None}
    new = await link_of(store, "1")
    assert new is not None
    assert new.right_id != old.right_id
    assert new.right_id in target.rows
    assert outcome.pairs[0].items[0]["reason"] == f"note changed: created anew, the old one ({old.right_id}) deleted"
    source.records["2"]["note"] = "elsewhere too"
    plan = await Engine(store, T).run([pair(source, target, **moves)], full=True, dry_run=True)
    assert (plan.counts.created, plan.counts.deleted) == (1, 1)  # a plan counts the move's delete as the run does
    source.records["2"]["note"] = None
    source.records["2"]["name"] = "renamed"  # not a moves field: an update in place
    again = await Engine(store, T).run([pair(source, target, **moves)], full=True)
    assert (again.counts.updated, len(target.replaced)) == (1, 1)


async def test_a_lost_counterpart_is_created_again_and_stored_links_are_planned_in_their_new_form(
    store: Store,
) -> None:
    source, target = ListSource(things(3)), MemoryTarget()
    await Engine(store, T).run([pair(source, target)])
    target.rows.pop("r2")
    lost = {"lost": lambda link: "gone from memory" if link.right_id not in target.rows else None}
    outcome = await Engine(store, T).run([pair(source, target, **lost)], full=True)
    assert (outcome.counts.created, outcome.counts.unchanged) == (1, 2)
    assert outcome.pairs[0].items[0]["reason"] == "gone from memory: new in ConnectWise: create"
    assert "r2" in target.rows

    async with store.transaction() as tx:  # links an older version recorded in another form
        old = await link_of(store, "3")
        assert old is not None
        await tx.upsert_links([replace(old, left_values={"old": {"name": "thing 3", "note": None}})])
    as_new = {"stored": lambda link: replace(link, left_values=link.left_values.get("old") or link.left_values)}
    settled = await Engine(store, T).run([pair(source, target, **as_new)], full=True)
    assert (settled.counts.unchanged, target.calls) == (3, 2)
    unread = await Engine(store, T).run([pair(source, target)], full=True)
    assert unread.counts.updated == 1  # without the hook, the old form differs


class SinceSource(ListSource):
    """A ListSource that remembers where each read started."""

    def __init__(self, records: Sequence[Raw]) -> None:
        super().__init__(records)
        self.reads: list[datetime | None] = []

    def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        self.reads.append(since)
        return super().changed(since)


async def test_a_scoped_cursor_is_used_only_under_the_same_scope(store: Store) -> None:
    source, target = SinceSource(things(2)), MemoryTarget()
    await Engine(store, T).run([pair(source, target, scope="a")])
    await Engine(store, T).run([pair(source, target, scope="a")])
    await Engine(store, T).run([pair(source, target, scope="b")])
    await Engine(store, T).run([pair(source, target, scope="b")])
    first, same, other, again = source.reads
    assert first is None
    assert other is None
    assert same is not None
    assert again is not None
    stored = await store.cursor(T, PAIR, "left")
    assert stored is not None
    assert '"key": "b"' in stored


async def test_run_within_a_run_the_caller_opened_records_no_run_of_its_own(store: Store) -> None:
    source, target = ListSource(things(2)), MemoryTarget()
    outcome = RunReport[dict[str, Any]](run_id=None, dry_run=False)
    scope = recorded_run(store, T, pairs=[PAIR], kind="full", trigger="cli", counts=lambda: outcome.counts)
    async with scope as run:
        outcome.run_id = run.run_id
        await Engine(store, T).run([pair(source, target)], within=outcome, full=True)
    assert [p.counts.created for p in outcome.pairs] == [2]
    [recorded] = await store.runs(T, limit=5)  # the caller's run, none of the engine's own
    assert (recorded.run_id, recorded.counts.created) == (run.run_id, 2)
    [item] = await store.items_for_record(T, PAIR, left_id="2")
    assert item.run_id == run.run_id


class FindingTarget(MovingTarget):
    """A MovingTarget that finds what an earlier attempt made (`made`: left id → target id)."""

    def __init__(self) -> None:
        super().__init__()
        self.made: dict[str, str] = {}

    async def find(self, writes: Sequence[Write]) -> dict[str, str]:
        return {w.left_id: self.made[w.left_id] for w in writes if w.left_id in self.made}


async def test_a_re_create_an_earlier_attempt_made_is_adopted_and_still_replaces_the_old_one(store: Store) -> None:
    source, target = ListSource(things(1)), FindingTarget()
    moves = {"moves": frozenset({"note"})}
    await Engine(store, T).run([pair(source, target, **moves)])
    old = await link_of(store, "1")
    assert old is not None
    source.records["1"]["note"] = "elsewhere"
    await Recorder(store, T, PAIR, None).intend({"1": {}})  # an attempt made it, then its answer was lost
    target.rows["made"], target.made["1"] = {"name": "thing 1", "note": "elsewhere"}, "made"
    outcome = await Engine(store, T).run([pair(source, target, **moves)], full=True)
    assert (outcome.counts.updated, outcome.counts.created) == (1, 0)
    assert target.replaced == [("1", old.right_id)]
    link = await link_of(store, "1")
    assert link is not None
    assert link.right_id == "made"
    assert not await store.has_journal(T, PAIR)
