"""The engine's shared parts: one run lifecycle, the recorder and its journal, watermarks, the mass-delete guard."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwsync.connectors.http import CwsyncApiError
from cwsync.engine.guard import MassDeleteError, check_mass_delete
from cwsync.engine.reading import IdSet, ReadAhead, Watermark, last_updated, parse_moment
from cwsync.engine.record import Recorder, projection_hash
from cwsync.engine.runs import close_interrupted, recorded_run
from cwsync.store import Counts, JournalEntry, Store, Tx

T = "t1"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path / 'engine.db'}")
    yield opened
    await opened.close()


async def test_a_run_succeeds_or_fails_once_with_its_counts_and_error(store: Store) -> None:
    counts = Counts(created=3)
    async with recorded_run(store, T, pairs=["p"], kind="full", trigger="cli", counts=lambda: counts) as run:
        assert run.run_id is not None
    ok = await store.run(run.run_id)
    assert ok is not None
    assert (ok.status, ok.counts.created, ok.error) == ("succeeded", 3, None)
    with pytest.raises(CwsyncApiError):
        async with recorded_run(store, T, pairs=["p"], kind="full", trigger="cli", counts=Counts) as failed:
            raise CwsyncApiError("HubSpot said no", status=403)
    bad = await store.run(failed.run_id or 0)
    assert bad is not None
    assert (bad.status, bad.error) == ("failed", "HubSpot said no (HTTP 403)")
    assert failed.error == bad.error


async def test_a_cancelled_run_is_recorded_failed_and_a_dry_run_records_nothing(store: Store) -> None:
    started = asyncio.Event()

    async def work() -> None:
        async with recorded_run(store, T, pairs=["p"], kind="full", trigger="cli", counts=Counts):
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(work())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [run] = await store.runs(T)
    assert (run.status, run.error) == ("failed", "CancelledError")
    async with recorded_run(store, T, pairs=["p"], kind="plan", trigger="cli", counts=Counts, record=False) as dry:
        assert dry.run_id is None
    assert len(await store.runs(T)) == 1


async def test_a_lazy_run_starts_and_ends_in_the_blocks_own_transactions(store: Store) -> None:
    counts = Counts(updated=2)
    async with recorded_run(
        store, T, pairs=["p"], kind="record", trigger="api", counts=lambda: counts, lazy=True
    ) as run:
        assert run.run_id is None  # nothing written yet
        assert await store.runs(T) == []

        async def first(tx: Tx) -> None:
            await run.start_in(tx)
            await tx.write_journal([_intent()])

        await store.write(first)
        run.settle(committed=True)
        assert run.run_id is not None
        [running] = await store.runs(T)
        assert running.status == "running"
        await store.write(run.finish_in)
        run.settle(committed=True)
    [done] = await store.runs(T)
    assert (done.run_id, done.status, done.counts.updated) == (run.run_id, "succeeded", 2)


async def test_a_lazy_run_whose_start_rolled_back_is_recorded_once_when_the_block_fails(store: Store) -> None:
    async def attempt() -> None:
        async with recorded_run(store, T, pairs=["p"], kind="record", trigger="api", counts=Counts, lazy=True) as run:

            async def refused(tx: Tx) -> None:
                await run.start_in(tx)
                raise CwsyncApiError("ConnectWise said no", status=400)

            try:
                await store.write(refused)
            except CwsyncApiError:
                run.settle(committed=False)
                raise

    with pytest.raises(CwsyncApiError):
        await attempt()
    [failed] = await store.runs(T)  # one run, not an orphan `running` one beside it
    assert (failed.status, failed.error) == ("failed", "ConnectWise said no (HTTP 400)")


async def test_a_lazy_run_that_wrote_nothing_is_still_recorded(store: Store) -> None:
    async with recorded_run(store, T, pairs=["p"], kind="record", trigger="api", counts=Counts, lazy=True):
        pass
    [run] = await store.runs(T)
    assert run.status == "succeeded"


def _intent() -> JournalEntry:
    return JournalEntry(
        tenant=T, scope="quotes", key="Q-1", step="opportunity", status="intent", record_id=None, data={}
    )


async def test_runs_a_killed_process_left_are_closed_once_per_store(store: Store, tmp_path: Path) -> None:
    """A run left `running` (by another process: another Store object) is closed by the next run's start; the
    process's own runs in progress are not closed by its later runs."""
    other = await Store.open(f"sqlite:///{tmp_path / 'engine.db'}")
    stale = await other.start_run(T, pairs=["p"], kind="full", trigger="schedule")
    await other.close()
    async with recorded_run(store, T, pairs=["p"], kind="full", trigger="cli", counts=Counts) as outer:
        async with recorded_run(store, T, pairs=["q"], kind="record", trigger="api", counts=Counts):
            pass
        mine = await store.run(outer.run_id or 0)
        assert mine is not None
        assert mine.status == "running"  # not closed by the inner run of the same process
    closed = await store.run(stale)
    assert closed is not None
    assert closed.status == "interrupted"
    assert await close_interrupted(store, T) == []  # done once; `force` does it again
    assert await close_interrupted(store, T, force=True) == []


async def test_the_recorder_builds_links_with_one_hash_and_settles_intents_with_them(store: Store) -> None:
    recorder = Recorder(store, T, "mirror:tickets", None)
    await recorder.intend({"7": {"company": 1}, "8": {}})
    assert await recorder.pending(["7"]) == {"7": {"company": 1}}
    link = recorder.link("7", "70", left_values={"b": 2, "a": 1}, right_values={"x": None})
    assert link.left_hash == projection_hash({"a": 1, "b": 2})
    assert link.right_hash == projection_hash({"x": None})
    await recorder.commit(links=[link], settled=["7"])
    assert set(await recorder.pending()) == {"8"}
    assert (await store.links_by_left(T, "mirror:tickets", ["7"]))["7"].right_id == "70"
    dry = Recorder(store, T, "mirror:tickets", None, dry_run=True)
    await dry.intend({"9": {}})
    assert await dry.commit(links=[recorder.link("9", "90", left_values={})]) == 0
    assert "9" not in await recorder.pending()


async def test_a_recorders_rows_are_stored_as_its_items_are(store: Store) -> None:
    """`Recorder.row` (the engine's run items, made without a `RunItem`) stores what `Recorder.item` stores: an
    applied item and a failed one with its error's status and text."""
    run_id = await store.start_run(T, pairs=["devices"], kind="full", trigger="cli")
    recorder = Recorder(store, T, "devices", run_id)
    error = CwsyncApiError("refused", status=400)
    cases: list[dict[str, Any]] = [
        {"left_id": "1", "right_id": "1", "reason": "new", "diff": {}, "source_values": {"name": "a", "x": None}},
        {"left_id": "2", "right_id": None, "reason": "bad", "diff": {"name": ("a", "b")}, "source_values": {}},
    ]
    items = [recorder.item("create", **cases[0]), recorder.item("update", **cases[1], error=error)]
    rows = [recorder.row("create", **cases[0]), recorder.row("update", **cases[1], error=error)]
    await recorder.commit(items=items)
    await recorder.commit(rows=rows)
    got = await store.run_items(run_id)
    assert [replace(i, item_id=None, created_at=None) for i in got] == items + items
    assert got[3].remote_status == 400
    assert got[3].remote_response == {"error": str(error)}


def test_the_projection_hash_is_pinned() -> None:
    """Links keep this hash: an upgrade that changed it would make every stored link look changed."""
    values = {"name": "Müller AG", "b": None, "a": "1", "when": datetime(2026, 1, 2, tzinfo=UTC)}
    assert projection_hash(values) == "817e918d540fc768caeeba8b74b402b3"  # as json.dumps(sort_keys, compact) made it
    assert projection_hash(dict(reversed(values.items()))) == projection_hash(values)
    assert projection_hash({"name": "Acme", "n": 3, "on": True, "x": None}) == _json_hash(
        {"name": "Acme", "n": 3, "on": True, "x": None}
    )


def _json_hash(values: dict[str, Any]) -> str:
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.none(), st.text(max_size=12), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70)),
        max_size=6,
    )
)
def test_the_fast_projection_hash_is_the_json_one(values: dict[str, Any]) -> None:
    """The orjson path makes exactly the bytes `json.dumps(sort_keys, compact, ensure_ascii)` made: any text
    (control characters, DEL, non-ASCII), numbers past 64 bits."""
    assert projection_hash(values) == _json_hash(values)


def test_a_watermark_never_passes_the_run_start() -> None:
    start = datetime(2026, 12, 1, 12, tzinfo=UTC)
    mark = Watermark(start)
    mark.seen(None)
    assert mark.newest is None
    mark.seen(start - timedelta(hours=1))
    mark.seen(start + timedelta(hours=1))  # a clock ahead of ours: capped
    mark.seen(start - timedelta(hours=2))
    assert mark.newest == start
    assert last_updated({"_info": {"lastUpdated": "2026-11-30T10:00:00Z"}}) == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert parse_moment("not a date") is None
    assert parse_moment("2026-11-30T10:00:00") == datetime(2026, 11, 30, 10, tzinfo=UTC)


def test_the_mass_delete_guard_names_the_setting_and_leaves_small_tables_alone() -> None:
    check_mass_delete("p", 9, 9, 0.9, setting="x.share")  # under 10 linked records: not guarded
    check_mass_delete("p", 9, 10, 0.9, setting="x.share")  # 90% is not more than 90%
    with pytest.raises(MassDeleteError, match=r"10 of 10 .*raise x\.share"):
        check_mass_delete("p", 10, 10, 0.9, setting="x.share")


async def test_read_ahead_reads_the_next_page_while_the_current_one_is_used() -> None:
    reads: list[int] = []

    async def pages() -> AsyncIterator[int]:
        for n in range(3):
            reads.append(n)
            yield n

    ahead = ReadAhead(pages())
    first = await anext(ahead)
    await asyncio.sleep(0)
    assert first == 0
    assert reads == [0, 1]  # page 1 was asked for as soon as page 0 was handed over
    assert [page async for page in ahead] == [1, 2]
    await ahead.close()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.one_of(
                st.integers(min_value=0, max_value=5_000).map(str),
                st.sampled_from(["0", "00", "007", "16777216", "99999999999", "abc", "", "１２", "-3"]),
            ),
        ),
        max_size=60,
    )
)
def test_an_id_set_behaves_as_a_set_of_texts(ops: list[tuple[bool, str]]) -> None:
    """Numbers as bits, the rest (leading zeros, past the bitmap's limit, not decimal) as texts: the same answers as
    a set for membership and size, whatever the order of adds and discards."""
    ids, expected = IdSet(), set()
    for add, text in ops:
        if add:
            ids.add(text)
            expected.add(text)
        else:
            ids.discard(text)
            expected.discard(text)
        assert len(ids) == len(expected)
    for _, text in ops:
        assert (text in ids) == (text in expected)
    seven = IdSet(["7"])
    assert "7" in seven
    assert "07" not in seven
    assert 7 not in seven
