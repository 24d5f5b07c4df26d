"""`Watermark`: the cursor a run leaves is the newest change it saw, capped by its start and by a held record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cwsync.engine.reading import Watermark

START = datetime(2026, 1, 10, tzinfo=UTC)


def test_the_cursor_is_the_newest_change_but_never_past_a_held_one() -> None:
    """Held records (failed, or waiting for a parent that failed) keep the cursor at the oldest of them."""
    mark = Watermark(START)
    mark.seen(START - timedelta(days=1))
    assert mark.cursor == START - timedelta(days=1)
    mark.seen(START + timedelta(days=1))  # later than the run's start: capped
    assert mark.cursor == START
    mark.hold(START - timedelta(days=3))
    mark.hold(START - timedelta(days=2))
    mark.hold(None)
    assert mark.cursor == START - timedelta(days=3)
    assert mark.newest == START
