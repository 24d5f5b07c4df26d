"""Convergence: kill -9 during a sync, and ~20% faults on every call, for every pair (issue 13's setup).

For each pair of the contract suite (`tests/contract/pairs.py`: HubSpot, Hudu, catalog, devices, mirror) this
serves the emulators on loopback (`tests/contract/rig.py`), makes one uninterrupted run in a sandbox of its own (the
reference), then measures in fresh sandboxes with the same data:

- **kill -9**: per trial, the pair's command in a child process (`python -m cwsync ...`) SIGKILLed twice mid-run
  (at different points per trial: a share of the reference's target written), then one clean run to the end;
- **faults**: every emulator the run calls answers a share of all requests (setup writes included: HubSpot
  properties and property groups, Hudu layouts and the match decisions) with a 429, a 5xx, a dropped connection
  (the request never arrived: a timeout) or a lost answer (done, then the connection dropped), until a run reports no
  failed record (at most `--runs` runs), in this process, the client retrying as often as its default policy does
  (6 attempts) without waiting.

Then it compares each target with the reference's: duplicates (natural keys with more records), missing (fewer),
other differences (records whose content differs), records still failing, and runs left `running` in the store.

    .venv/bin/python benchmarks/convergence.py                         # the issue's sizes, every pair
    .venv/bin/python benchmarks/convergence.py --pairs catalog --quick # small data, one trial
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Hashable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the contract suite's rig and pairs

from cwsync.connectors.http import RetryPolicy
from cwsync.store import Store
from tests.contract import rig
from tests.contract.pairs import CATALOG, DEVICES, HUBSPOT, HUDU, MIRROR, HuduPair, Pair, decide_all
from tests.contract.rig import Data, World, settled, world

FAULTS = {"rate_limit_share": 0.05, "error_share": 0.05, "drop_share": 0.05, "lost_response_share": 0.05}
"""A fifth of all requests fail: a 429, a 5xx, no answer before processing, no answer after it."""
KILL_POINTS = ((0.15, 0.55), (0.3, 0.7), (0.45, 0.85), (0.1, 0.4), (0.6, 0.9))
"""Per trial, the shares of the reference's target written at which the two kills land."""
KILL_AFTER_S = (1.5, 2.5, 3.5)
"""A kill once everything is written (the killed run's writes in flight all landed): this long after the start, in
the next run's look-ups of what the killed one made, before it recorded them."""
SIZES = {
    "hubspot": Data(records=6000, seed=11),
    "hudu": Data(records=4625, seed=3, counts={"companies": 150}),
    "catalog": Data(records=300, seed=3, counts={"catalog_items": 292}),
}
"""The issue's sizes: Hudu 150 ConnectWise companies with their sites, contacts, configurations and agreements
(about 2,570 assets), the catalog 278 products; HubSpot about 1,000 companies, contacts and deals; devices and the
mirror keep the contract suite's data."""
FAULT_SEEDS = {"hudu": 3}
"""Fault trials per pair (`--seeds` for the others): a Hudu run makes ~5,000 requests, the others tens to hundreds,
so they get more seeds for as many faults."""


def diff_size(got: Any, expected: Any) -> int:
    """Entries of two snapshots that differ (per section, a multiset difference both ways)."""
    if isinstance(expected, dict):
        return sum(diff_size(got.get(k, []), v) for k, v in expected.items())
    a, b = Counter(map(repr, got)), Counter(map(repr, expected))
    return sum(((a - b) + (b - a)).values())


@dataclasses.dataclass
class Outcome:
    """One trial's result against the reference."""

    duplicates: int
    missing: int
    differing: int
    failing: int
    running: int
    note: str = ""

    def cells(self) -> list[str]:
        """The table cells of the figures."""
        return [str(v) for v in (self.duplicates, self.missing, self.differing, self.failing, self.running)]


@dataclasses.dataclass
class Reference:
    """What an uninterrupted run made."""

    keys: Counter[Hashable]
    snapshot: Any
    total: int
    seconds: float


def compare(pair: Pair, w: World, ref: Reference, failing: int, note: str) -> Outcome:
    """A target against the reference."""
    got = pair.keys(w)
    dup = sum(n - ref.keys[k] for k, n in got.items() if n > ref.keys[k])
    missing = sum(n - got[k] for k, n in ref.keys.items() if got[k] < n)
    running = asyncio.run(statuses(w)).count("running")
    return Outcome(dup, missing, diff_size(pair.snapshot(w), ref.snapshot), failing, running, note)


async def statuses(w: World) -> list[str]:
    """Every run's status in the world's store."""
    store = await Store.open(w.config.store)
    try:
        return [r.status for r in await store.runs(w.config.tenant, limit=1000)]
    finally:
        await store.close()


def reference(pair: Pair, tmp: Path) -> Reference:
    """One uninterrupted run of the pair's command."""
    with world(pair.data, tmp, pair.syncs, "reference") as w:
        pair.prepare(w)
        started = time.monotonic()
        code, out = w.cli(*pair.command)
        assert code == 0, out
        assert pair.failures(json.loads(out)) == 0, out
        return Reference(pair.keys(w), pair.snapshot(w), pair.progress(w), time.monotonic() - started)


def killed(pair: Pair, tmp: Path, ref: Reference, trial: int) -> Outcome:
    """Two kills mid-run, then a clean run to the end."""
    with world(pair.data, tmp, pair.syncs, f"killed-{trial}") as w:
        pair.prepare(w)
        for system, faults in pair.slow.items():
            w.faults(system, **faults)
        start, landed = pair.progress(w), []
        for n, share in enumerate(KILL_POINTS[trial % len(KILL_POINTS)]):
            above = start + int((ref.total - start) * share) if pair.spread else 0
            late = pair.progress(w) >= ref.total  # all written (a kill's writes in flight landed): kill by time
            after = KILL_AFTER_S[(trial + n) % len(KILL_AFTER_S)] if late else None
            landed.append(kill(w, pair, above, after))
        for system in pair.slow:
            w.faults(system)
        code, out = w.cli(*pair.command)
        failing = pair.failures(json.loads(out)) if code == 0 else -1
        return compare(pair, w, ref, failing, "kills at " + ", ".join(landed) + ("" if code == 0 else f"; exit {code}"))


def kill(w: World, pair: Pair, above: int, after_s: float | None) -> str:
    """Start the pair's command, SIGKILL it once the target grew past `above` (or `after_s` seconds after its start),
    wait until the writes it had in flight landed; where it was killed."""
    proc, started = w.spawn(*pair.command), time.monotonic()
    target = max(pair.progress(w), above)
    try:
        while proc.poll() is None:
            elapsed = time.monotonic() - started
            if (after_s is not None and elapsed >= after_s) or (after_s is None and pair.progress(w) > target):
                break
            assert elapsed < 900, "the sync made no progress"
            time.sleep(0.002)
        if proc.poll() is not None:
            return "ended first"
        at = pair.progress(w)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
        landed = settled(lambda: pair.progress(w))
        when = f"{after_s:.1f} s in" if after_s is not None else f"{at}"
        return f"{when} ({landed} after in-flight writes)"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def faulty(pair: Pair, tmp: Path, ref: Reference, seed: int, runs: int) -> Outcome:
    """Runs under faults until one has no failed record (at most `runs`)."""
    with world(pair.data, tmp, pair.syncs, f"faults-{seed}") as w:
        systems = list(dict.fromkeys(["connectwise", pair.target]))
        for n, system in enumerate(systems):
            w.faults(system, **FAULTS, seed=seed * 10 + n)
        tries = prepare_under_faults(pair, w)
        outcomes: list[str] = []
        while len(outcomes) < runs and (not outcomes or outcomes[-1] != "0"):
            outcomes.append(run_once(pair, w))
        counters = {s: w.fault_counters(s) for s in systems}
        for system in systems:
            w.faults(system)
        failing = int(outcomes[-1]) if outcomes[-1].isdigit() else -1
        injected = sum(c["rate_limited"] + c["errors"] + c["dropped"] + c["lost_responses"] for c in counters.values())
        requests = sum(c["requests"] for c in counters.values())
        lost = sum(c["lost_responses"] for c in counters.values())
        note = f"{injected}/{requests} requests faulted ({lost} answers lost); runs' failed records {outcomes}"
        if tries > 1:
            note += f"; match decisions took {tries} tries"
        return compare(pair, w, ref, failing, note)


def prepare_under_faults(pair: Pair, w: World) -> int:
    """The pair's one-time preparation with the faults on (Hudu's match decisions, retried until they succeed)."""
    if not isinstance(pair, HuduPair):
        pair.prepare(w)
        return 1
    for n in range(1, 21):
        try:
            asyncio.run(decide_all(w))
            return n
        except Exception:
            continue
    raise AssertionError("the match decisions failed 20 times")


def run_once(pair: Pair, w: World) -> str:
    """One run in this process: its failed records, or the error that failed it as a whole."""
    try:
        return str(asyncio.run(pair.run_once(w)))
    except Exception as exc:
        return f"{type(exc).__name__}"


def load() -> str:
    """The machine's load averages."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def summary(rows: list[list[str]]) -> None:
    """Per pair and kind of trial: how many trials, and the figures summed over them."""
    print("| pair | target | trials | duplicates | missing | differing | failing | left running |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    groups: dict[tuple[str, str, str], list[list[str]]] = {}
    for row in rows:
        groups.setdefault((row[0], row[1], row[2]), []).append(row)
    for (name, total, kind), group in groups.items():
        sums = [sum(int(r[n]) for r in group) for n in range(3, 8)]
        print(f"| {name} | {total} | {len(group)} × {kind} | " + " | ".join(map(str, sums)) + " |")
    print()


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    names = {p.name: p for p in (HUBSPOT, HUDU, CATALOG, DEVICES, MIRROR)}
    parser.add_argument("--pairs", nargs="*", default=list(names), choices=list(names))
    parser.add_argument("--trials", type=int, default=3, help="kill trials per pair")
    parser.add_argument("--seeds", type=int, default=10, help="fault trials per pair (Hudu: 3)")
    parser.add_argument("--runs", type=int, default=10, help="runs under faults at most")
    parser.add_argument("--quick", action="store_true", help="the contract suite's small data for every pair")
    parser.add_argument("--skip", nargs="*", default=[], choices=["kill", "faults"])
    args = parser.parse_args()
    rig.FAST_RETRY = RetryPolicy(attempts=RetryPolicy().attempts, base=0.01, cap=0.02)
    rows: list[list[str]] = []
    print(f"load average at start: {load()} (2 cores; machine shared)", flush=True)
    for name in args.pairs:
        pair = names[name]
        if not args.quick and name in SIZES:
            pair = dataclasses.replace(pair, data=SIZES[name])
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            ref = reference(pair, tmp)
            print(f"{name}: reference target {ref.total} records in {ref.seconds:.1f} s (load {load()})", flush=True)
            trials: list[tuple[str, Outcome]] = []
            for trial in range(args.trials if "kill" not in args.skip else 0):
                trials.append(("kill -9 ×2", killed(pair, tmp, ref, trial)))
                print(f"  {trials[-1][0]}: {trials[-1][1]}", flush=True)
            for seed in range(1, 1 + (FAULT_SEEDS.get(name, args.seeds) if "faults" not in args.skip else 0)):
                trials.append(("20% faults", faulty(pair, tmp, ref, seed, args.runs)))
                print(f"  {trials[-1][0]}: {trials[-1][1]}", flush=True)
            for kind, o in trials:
                rows.append([name, str(ref.total), kind, *o.cells(), o.note])
    print(f"load average at end: {load()}")
    summary(rows)
    header = ["pair", "target", "trial", "duplicates", "missing", "differing", "failing", "left running", "notes"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
