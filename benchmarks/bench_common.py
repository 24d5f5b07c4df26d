"""What every benchmark prints and shares: the machine's load, CPU beside wall, targets with their ratio, a one-core
hog, and percentiles that count what never arrived.

The machines these run on are shared and noisy, so each benchmark measures its baseline in the same run, interleaves
its repeats with the baseline's, and prints the load average when it starts and ends. `--hog` starts a process that
holds one core for the whole run (the "with a one-core hog" targets of issue 19).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

_HOG_CODE = "while True:\n    pass\n"


def load() -> str:
    """The 1, 5 and 15 minute load averages and the CPU count, as one phrase."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} CPUs)"


def cpu() -> float:
    """This process's CPU seconds (user + system, every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu() -> float:
    """CPU seconds of this process's waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident set size in MB: its memory's high-water mark (`VmHWM`), where Linux has it.

    Not `getrusage(...).ru_maxrss` there: Linux carries a process's peak over `fork` + `exec`, so a benchmark's
    fresh child process reported its parent's peak (a 0.1-scale run started from a full-size one "peaked" at the
    full size's 272 MB, hiding the growth the comparison is for). `VmHWM` belongs to the process image.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark takes (`--hog`)."""
    parser.add_argument(
        "--hog", action="store_true", help="run a process that holds one core for the whole benchmark (issue 19)"
    )


@contextmanager
def hog(enabled: bool) -> Iterator[None]:
    """With `enabled`, a child process spinning on one core until the block ends (ended by its own pid)."""
    if not enabled:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", _HOG_CODE])
    try:
        yield
    finally:
        proc.kill()
        proc.wait()


@contextmanager
def session(name: str, enabled_hog: bool) -> Iterator[None]:
    """Print the load when a benchmark starts and ends, with the hog (if asked) running in between."""
    started = time.perf_counter()
    print(f"[{name}] start: {load()}; one-core hog: {'on' if enabled_hog else 'off'}", flush=True)
    with hog(enabled_hog):
        if enabled_hog:
            time.sleep(1.0)  # let the hog show in the scheduler before the first measurement
        yield
    print(f"[{name}] end after {time.perf_counter() - started:.0f} s: {load()}", flush=True)


def target(name: str, value: float, limit: float, *, at_most: bool = True, unit: str = "") -> bool:
    """Print one target line (`TARGET name: value vs limit: met`); True when it is met."""
    met = value <= limit if at_most else value >= limit
    sign = "≤" if at_most else "≥"
    shown = "nan" if math.isnan(value) else f"{value:.3f}{unit}"
    print(f"TARGET {name}: {shown} (target {sign} {limit:g}{unit}): {'met' if met else 'NOT met'}")
    return met


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q`th percentile (NaN for no values); `inf` values (what never arrived) sort last."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def median(values: Sequence[float]) -> float:
    """The median (NaN for no values)."""
    return statistics.median(values) if values else float("nan")
