"""Properties every pair keeps, written once against the contract and run for each pair (#13).

- **No echo:** a run right after a run writes nothing: what cwsync wrote, read back, plans nothing.
- **Plan equals apply:** on a fresh store, the dry run's counts equal what the real run then does (pairs with a dry
  run; the device table has none).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.contract.pairs import PAIRS, Pair
from tests.contract.rig import world

pytestmark = pytest.mark.loopback
WRITES = ("created", "updated", "deleted", "linked")


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_no_echo_a_second_run_writes_nothing(pair: Pair, tmp_path: Path) -> None:
    """The run after a first sync creates, updates, links and deletes nothing, and the target is unchanged."""
    with world(pair.data, tmp_path, pair.syncs) as w:
        pair.prepare(w)
        first = asyncio.run(pair.run_counts(w))
        assert first["failed"] == 0
        assert sum(first.get(k, 0) for k in WRITES) > 0
        before = pair.snapshot(w)
        second = asyncio.run(pair.run_counts(w))
        assert {k: second.get(k, 0) for k in (*WRITES, "failed")} == dict.fromkeys((*WRITES, "failed"), 0)
        assert pair.snapshot(w) == before


@pytest.mark.parametrize("pair", [p for p in PAIRS if p.plans], ids=str)
def test_plan_equals_apply_on_a_fresh_store(pair: Pair, tmp_path: Path) -> None:
    """The dry run's counts are the real run's, and the dry run wrote nothing to the target."""
    with world(pair.data, tmp_path, pair.syncs) as w:
        pair.prepare(w)
        before = pair.snapshot(w)
        plan = asyncio.run(pair.run_counts(w, dry_run=True))
        assert pair.snapshot(w) == before
        real = asyncio.run(pair.run_counts(w))
        assert real["failed"] == 0
        plan.pop("conflicts", None)
        real.pop("conflicts", None)
        assert plan == real


@pytest.mark.parametrize("pair", [p for p in PAIRS if p.replay_entity], ids=str)
def test_the_one_record_path_ends_where_a_batch_run_does(pair: Pair, tmp_path: Path) -> None:
    """HS-6: after the same ConnectWise change, replaying that one record (the path callback jobs and
    `sync --record` take) leaves the target exactly as an incremental batch run does, having touched only it."""

    def changed(w: Any) -> int:
        pair.prepare(w)
        assert asyncio.run(pair.run_counts(w))["failed"] == 0
        record_id = pair.replay_pick(w)
        path, field = pair.replay_change

        async def patch() -> None:
            async with w.cw_client() as cw:
                await cw.patch(path, record_id, [{"op": "replace", "path": field, "value": "Replayed 42"}])

        asyncio.run(patch())
        return record_id

    with world(pair.data, tmp_path, pair.syncs, "batch") as batch:
        changed(batch)
        assert asyncio.run(pair.run_counts(batch))["updated"] >= 1
        expected = pair.timeless(batch)
    with world(pair.data, tmp_path, pair.syncs, "replayed") as w:
        record_id = changed(w)
        counts = asyncio.run(pair.replay(w, record_id))
        assert counts["failed"] == 0
        assert counts["updated"] == 1
        assert sum(counts.values()) - counts.get("conflicts", 0) == 1
        assert pair.timeless(w) == expected
