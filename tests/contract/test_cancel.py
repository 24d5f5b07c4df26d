"""`cwsync runs cancel ID` from another process: a run stops at a page boundary and the next run converges.

For each loop that honours a cancel (the engine's, alone in the mirror and after Hudu's companies step; HubSpot's;
the device sync's; the catalog takes the mirror's path): its sync runs in a child process (`python -m cwsync ...`)
against slowed sandboxes; once its target grew, `cwsync runs cancel ID --wait` (this process, its own store
connection) stops it. The child exits 0 with
`cancelled` in its report, the run is recorded as cancelled with what it wrote counted (created = what the target
gained), and a run to the end then gives what one uninterrupted sync gave in a second sandbox, with no duplicate:
the cancelled run did not move a cursor past what it applied.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from tests.contract.pairs import DEVICES, HUBSPOT, HUDU, MIRROR, Pair, duplicates
from tests.contract.rig import World, settled, world
from tests.contract.test_kill_resume import sync_to_end

pytestmark = pytest.mark.loopback


def running_run(w: World, *, deadline_s: float = 60) -> int:
    """The id of the run the child process started (polled under a deadline)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if w.db.exists():
            with sqlite3.connect(w.db, timeout=5) as conn:
                try:
                    row = conn.execute("SELECT id FROM runs WHERE status = 'running' ORDER BY id DESC").fetchone()
                except sqlite3.OperationalError:  # the store is being created
                    row = None
            if row is not None:
                return int(row[0])
        time.sleep(0.01)
    raise AssertionError("the child process started no run")


def grew(pair: Pair, w: World, start: int, *, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while pair.progress(w) <= start:
        assert time.monotonic() < deadline, "the sync wrote nothing"
        time.sleep(0.002)


@pytest.mark.parametrize("pair", [HUBSPOT, HUDU, DEVICES, MIRROR], ids=str)
def test_a_cancelled_run_records_what_it_did_and_the_next_run_converges(pair: Pair, tmp_path: Path) -> None:
    """Cancelled mid-run from another process: status cancelled, its writes counted, then the clean run's target."""
    with world(pair.data, tmp_path, pair.syncs, "reference") as reference:
        pair.prepare(reference)
        assert pair.failures(sync_to_end(pair, reference)) == 0
        expected = pair.snapshot(reference)
        with world(pair.data, tmp_path, pair.syncs, "cancelled") as w:
            pair.prepare(w)
            for system, faults in pair.slow.items():
                w.faults(system, **faults)
            start = pair.progress(w)
            child = w.spawn(*pair.command)
            try:
                run_id = running_run(w)
                grew(pair, w, start)
                code, out = w.cli("runs", "cancel", str(run_id), "--wait", "--json")
                assert code == 0, out
                assert child.wait(timeout=60) == 0
                report = (w.config_path.parent / "child.log").read_text(encoding="utf-8")
                assert '"cancelled": true' in report, report
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait(timeout=30)
            run = json.loads(out)
            assert (run["status"], run["cancel_requested_at"] is not None) == ("cancelled", True)
            done = settled(lambda: pair.progress(w)) - start
            assert 0 < run["counts"]["created"] == done
            again, _ = w.cli("runs", "cancel", str(run_id))  # asking again is harmless
            assert again == 0
            for system in pair.slow:
                w.faults(system)
            assert pair.failures(sync_to_end(pair, w)) == 0
            assert duplicates(pair, w, reference) == {}
            assert pair.snapshot(w) == expected
