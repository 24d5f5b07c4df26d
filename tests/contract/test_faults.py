"""Lost answers, 429s and 5xx: syncs run again until one has no failures end with a clean run's target, no duplicates.

`lost_response_share` makes the emulator do the write and then drop the answer: the client cannot know whether a
create happened, so a create retried blindly makes a duplicate. Each pair runs (in this process, clients retrying
without waits) against its target emulator and ConnectWise with a fifth of the answers lost and a tenth each
answered 429 or 5xx, until a run reports no failed record (a bounded number of runs).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cwsync.connectors.http import CwsyncApiError
from tests.contract.pairs import PAIRS, Pair, duplicates
from tests.contract.rig import World, world

pytestmark = pytest.mark.loopback
FAULTS = {"lost_response_share": 0.2, "rate_limit_share": 0.1, "error_share": 0.1, "retry_after": 0}
RUNS = 10
SEED = 21
"""With these draws a HubSpot run loses the answer of a company batch create and skips the contacts and deals
waiting for those companies: the next, incremental run must read them again (the cursor holds before them)."""


def run_once(pair: Pair, w: World) -> int | str:
    """One run's failed records, or the error that failed the whole run."""
    try:
        return asyncio.run(pair.run_once(w))
    except CwsyncApiError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("pair", PAIRS, ids=str)
def test_runs_under_lost_answers_429_and_5xx_converge_to_the_clean_target(pair: Pair, tmp_path: Path) -> None:
    """Runs under faults until one has no failures: no duplicates, and the target a clean run makes."""
    with world(pair.data, tmp_path, pair.syncs, "reference") as reference:
        pair.prepare(reference)
        assert asyncio.run(pair.run_once(reference)) == 0
        expected = pair.snapshot(reference)
        with world(pair.data, tmp_path, pair.syncs, "faulty") as w:
            pair.prepare(w)
            for n, system in enumerate(dict.fromkeys(["connectwise", pair.target])):
                w.faults(system, **FAULTS, seed=SEED + n)
            outcomes: list[int | str] = []
            while len(outcomes) < RUNS and (not outcomes or outcomes[-1] != 0):
                outcomes.append(run_once(pair, w))
            lost = w.fault_counters(pair.target)["lost_responses"]
            for system in ("connectwise", pair.target):
                w.faults(system)
            assert outcomes[-1] == 0, f"no run without failures in {RUNS}: {outcomes}"
            assert lost > 0
            extra = duplicates(pair, w, reference)
            assert extra == {}, f"{sum(extra.values())} duplicates of {len(extra)} records after runs {outcomes}"
            assert pair.snapshot(w) == expected


LOST = {"lost_response_share": 0.3}
"""Only lost answers, on the target alone: every write's outcome is in doubt, none is refused."""


NO_ANSWER = "its writes are store transactions: there is no answer to lose"
REMOTE = [
    *[pytest.param(p, id=p.name) for p in PAIRS if p.target != "connectwise"],
    *[
        pytest.param(p, id=f"{p.name}-excluded-writes-are-store-transactions", marks=pytest.mark.skip(reason=NO_ANSWER))
        for p in PAIRS
        if p.target == "connectwise"
    ],
]
"""Pairs whose writes go to a remote API; the device table and the mirror write in the store's transactions, whose
outcome is never in doubt (a kill mid-commit is the kill -9 property's case)."""


@pytest.mark.parametrize("pair", REMOTE)
def test_a_lost_answer_fails_records_at_most_never_the_run(pair: Pair, tmp_path: Path) -> None:
    """A write whose answer is lost (the create happened) is resolved or fails that record alone: the run goes on to
    the end, and the next run, without faults, ends with no record failing and no duplicate."""
    with world(pair.data, tmp_path, pair.syncs) as w:
        pair.prepare(w)
        w.faults(pair.target, **LOST, seed=SEED)
        outcome = run_once(pair, w)
        lost = w.fault_counters(pair.target)["lost_responses"]
        w.faults(pair.target)
        assert lost > 0
        assert isinstance(outcome, int), outcome
        assert run_once(pair, w) == 0
        counts = pair.keys(w)
        assert max(counts.values()) == 1, [k for k, n in counts.items() if n > 1]
