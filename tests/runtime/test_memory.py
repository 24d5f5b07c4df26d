"""The collector settings the CLI applies before a command runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from cwsync.runtime import memory


@pytest.fixture
def fresh_gc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A process as if never tuned (the CLI tests tune this one); put back as it was afterwards."""
    thresholds = gc.get_threshold()
    monkeypatch.setattr(memory, "_frozen", False)
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tuning_freezes_what_is_loaded_once_and_raises_the_young_threshold(fresh_gc: None) -> None:
    """Loaded modules leave the collector's scans; young collections wait for 10,000 allocations; a second call
    freezes nothing more (objects made since may become garbage cycles, which frozen would never be freed)."""
    _, middle, old = gc.get_threshold()
    memory.tune_gc()
    frozen = gc.get_freeze_count()
    assert frozen > 1_000  # at least the test run's modules and classes
    assert gc.get_threshold() == (memory.YOUNG_THRESHOLD, middle, old)
    made_since = [[] for _ in range(100)]
    memory.tune_gc()
    assert gc.get_threshold() == (memory.YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() == frozen
    assert made_since
