"""A page's newest change found at once (`newest_update`): the same as its record-by-record form, whatever the records
hold."""

from __future__ import annotations

import random
from typing import Any

from cwsync.engine.reading import last_updated, newest_update

MOMENTS = ["2026-10-31T04:09:26Z", "2026-01-02T03:04:05Z", "2025-12-31T23:59:59Z", "2026-10-31T04:09:27Z"]
ODD = ["2026-10-31T05:00:00+01:00", "2026-10-31T04:09:26.5Z", "9999-99-99T99:99:99Z", "", None, 7, "2026-10-31"]


def _each(records: list[dict[str, Any]]) -> Any:
    moments = [m for m in (last_updated(r) for r in records) if m is not None]
    return max(moments) if moments else None


def _record(text: Any, n: int) -> dict[str, Any]:
    return {"id": n, "_info": {"lastUpdated": text}} if text != "absent" else {"id": n}


def test_the_newest_of_connectwise_moments_is_the_newest_text() -> None:
    page = [_record(text, n) for n, text in enumerate(MOMENTS)]
    assert newest_update(page) == last_updated(page[3])
    assert newest_update([]) is None


def test_a_page_with_other_forms_is_read_record_by_record() -> None:
    rng = random.Random(19)
    for _ in range(500):
        texts = rng.choices([*MOMENTS, *ODD, "absent"], k=rng.randint(0, 6))
        page = [_record(text, n) for n, text in enumerate(texts)]
        assert newest_update(page) == _each(page), texts


def test_an_unreadable_newest_text_does_not_hide_the_readable_ones() -> None:
    page = [_record("2026-10-31T04:09:26Z", 1), _record("2026-99-31T04:09:26Z", 2)]
    assert newest_update(page) == last_updated(page[0])
