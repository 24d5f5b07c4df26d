"""kill -9 at several points, then a run to the end: the target equals an uninterrupted sync's, with no duplicates.

For every pair: a sync in a child process (`python -m cwsync ...`) is SIGKILLed as soon as the target grew, three
times, against sandboxes slowed down so a kill lands mid-run; a last run goes to the end. The target is then
compared with what one uninterrupted sync made in a second sandbox with the same data, and the store's history
shows no run still "running" (the killed ones are marked interrupted by the next run).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from cwsync.store import Store
from tests.contract.pairs import PAIRS, Pair, duplicates
from tests.contract.rig import World, world

pytestmark = pytest.mark.loopback
KILLS = 3


def sync_to_end(pair: Pair, w: World) -> dict[str, Any]:
    """One run of the pair's command in this process, expected to succeed; its `--json` report."""
    code, out = w.cli(*pair.command)
    assert code == 0, out
    report: dict[str, Any] = json.loads(out)
    return report


async def statuses(w: World) -> list[str]:
    """The status of every run in the store, newest first."""
    store = await Store.open(w.config.store)
    try:
        return [run.status for run in await store.runs(w.config.tenant, limit=100)]
    finally:
        await store.close()


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_sigkill_at_several_points_then_resume_equals_uninterrupted(pair: Pair, tmp_path: Path) -> None:
    """Three kills mid-run, then a run to the end: no duplicates, the clean run's target, no run left running."""
    with world(pair.data, tmp_path, pair.syncs, "reference") as reference:
        pair.prepare(reference)
        assert pair.failures(sync_to_end(pair, reference)) == 0
        expected, total = pair.snapshot(reference), pair.progress(reference)
        with world(pair.data, tmp_path, pair.syncs, "killed") as w:
            pair.prepare(w)
            for system, faults in pair.slow.items():
                w.faults(system, **faults)
            start, partial = pair.progress(w), []
            for n in range(1, KILLS + 1):  # at about a quarter, half and three quarters of the way
                above = start + (total - start) * n // (KILLS + 1) if pair.spread else 0
                at = w.kill_on_progress(pair.command, lambda: pair.progress(w), above=above)
                partial.append(at is not None and at < total)
            assert sum(partial) >= 2, f"too few kills left the target half-written: {partial}"
            for system in pair.slow:
                w.faults(system)
            resumed = sync_to_end(pair, w)
            extra = duplicates(pair, w, reference)
            assert extra == {}, f"{sum(extra.values())} duplicates of {len(extra)} records"
            assert pair.failures(resumed) == 0, resumed
            assert pair.snapshot(w) == expected
        runs = asyncio.run(statuses(w))
        assert runs[0] == "succeeded"
        assert "running" not in runs, runs
        assert "interrupted" in runs, runs
