"""The collector settings the CLI applies before a command runs."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from cwsync.runtime.memory import YOUNG_THRESHOLD, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_tuning_freezes_what_is_loaded_and_raises_the_young_threshold(restored_gc: None) -> None:
    """Loaded modules leave the collector's scans; young collections wait for 10,000 allocations; a second call
    changes nothing more than the first."""
    _, middle, old = gc.get_threshold()
    tune_gc()
    frozen = gc.get_freeze_count()
    assert frozen > 1_000  # at least the test run's modules and classes
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    tune_gc()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, old)
    assert gc.get_freeze_count() >= frozen
