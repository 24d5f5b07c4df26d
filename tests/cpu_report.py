"""Where the test command's CPU goes: `CWSYNC_TEST_CPU=FILE ./scripts/test` appends, per test file, its wall time
and the CPU of the test process and of the subprocesses it waited for (`cwsync` commands, servers stopped by
their fixtures), one JSON line per file and process; `python -m tests.cpu_report FILE` prints the heaviest.
The suite must fit in 10 minutes on 2 cores: CPU, not wall, is what three test processes share."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

_TOTALS: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    wall, own, children = time.perf_counter(), _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    yield
    totals = _TOTALS[item.nodeid.split("::", 1)[0]]
    totals[0] += time.perf_counter() - wall
    totals[1] += _cpu(resource.RUSAGE_SELF) - own
    totals[2] += _cpu(resource.RUSAGE_CHILDREN) - children


def pytest_sessionfinish(session: pytest.Session) -> None:
    with Path(os.environ["CWSYNC_TEST_CPU"]).open("a", encoding="utf-8") as out:
        for path, (wall, own, children) in _TOTALS.items():
            out.write(json.dumps({"file": path, "wall": wall, "cpu": own, "children_cpu": children}) + "\n")


def main(path: str, top: int = 30) -> None:
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows.sort(key=lambda r: -(r["cpu"] + r["children_cpu"]))
    cpu = sum(r["cpu"] + r["children_cpu"] for r in rows)
    print(f"{len(rows)} files, {sum(r['wall'] for r in rows):.0f} s of test time, {cpu:.0f} s of CPU")
    for r in rows[:top]:
        total, children = r["cpu"] + r["children_cpu"], r["children_cpu"]
        print(f"{total:7.1f} s CPU ({children:6.1f} children) {r['wall']:7.1f} s  {r['file']}")


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
