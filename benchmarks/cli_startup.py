"""Benchmark: how long `cwsync --help` and one shell-completion call take, each in a fresh process.

Each command runs N times in a new subprocess; the figures are wall time (`perf_counter` around the child) and CPU
time (user + sys of the child, from `resource.getrusage(RUSAGE_CHILDREN)` deltas). The baseline, measured in the same
run the same way, is the interpreter's own start (`python -c pass`); the ratio says how many interpreter starts the
command costs. Target: `cwsync --help` under 0.5 s.

    .venv/bin/python benchmarks/cli_startup.py              # 20 runs each
    .venv/bin/python benchmarks/cli_startup.py --runs 50
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import bench_common

TARGET_S = 0.5


def cwsync_command() -> list[str]:
    """The console script next to this interpreter (as a user runs it), else `python -m cwsync`."""
    script = Path(sys.executable).parent / "cwsync"
    if script.exists():
        return [str(script)]
    found = shutil.which("cwsync")
    return [found] if found else [sys.executable, "-m", "cwsync"]


def measure(argv: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of `runs` fresh runs of `argv` (output discarded; a failing run stops the benchmark)."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return walls, cpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="fresh processes per command")
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("_CWSYNC_COMPLETE")}
    complete = {**env, "_CWSYNC_COMPLETE": "complete_bash", "COMP_WORDS": "cwsync sy", "COMP_CWORD": "1"}
    cwsync = cwsync_command()
    cases = [
        ("python -c pass (baseline)", [sys.executable, "-c", "pass"], env),
        ("cwsync --help", [*cwsync, "--help"], env),
        ("completion: cwsync sy<TAB>", cwsync, complete),
    ]
    print(f"start: {bench_common.load()}, {args.runs} runs each")
    print(f"{'command':<30} {'wall min':>9} {'median':>8} {'CPU min':>8} {'median':>8} {'x baseline':>11}")
    baseline = 0.0
    medians: dict[str, float] = {}
    for name, argv, case_env in cases:
        measure(argv, case_env, 1)  # warm the file cache and the bytecode
        walls, cpus = measure(argv, case_env, args.runs)
        median = statistics.median(walls)
        baseline = baseline or median
        medians[name] = median
        print(
            f"{name:<30} {min(walls):>8.3f}s {median:>7.3f}s {min(cpus):>7.3f}s {statistics.median(cpus):>7.3f}s"
            f" {median / baseline:>10.1f}x"
        )
    help_median = medians["cwsync --help"]
    print(f"ratio cwsync --help / python -c pass (median): {help_median / baseline:.1f}")
    bench_common.target("cwsync --help median wall", help_median, TARGET_S, unit=" s")
    print(f"end: {bench_common.load()}")


if __name__ == "__main__":
    main()
