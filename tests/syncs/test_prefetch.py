"""`prefetched`: pages in order, one read ahead, errors propagate, nothing left running when abandoned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cwsync.syncs.hubspot.run import prefetched


async def test_order_and_one_page_ahead() -> None:
    """Pages come in order, and the next is requested before the current one is handed over."""
    requested: list[int] = []

    async def pages() -> AsyncIterator[int]:
        for n in range(4):
            requested.append(n)
            yield n

    seen = []
    async for page in prefetched(pages()):
        await asyncio.sleep(0)
        seen.append((page, list(requested)))
    assert [p for p, _ in seen] == [0, 1, 2, 3]
    assert seen[0][1] == [0, 1]


async def test_error_propagates() -> None:
    """A failing read surfaces to the consumer at the page where it happened."""

    async def pages() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("read failed")

    got: list[int] = []

    async def consume() -> None:
        async for page in prefetched(pages()):
            got.append(page)

    with pytest.raises(RuntimeError, match="read failed"):
        await consume()
    assert got == [1]


async def test_abandoning_cancels_the_read_ahead() -> None:
    """Breaking out leaves no read running."""
    gate = asyncio.Event()

    async def pages() -> AsyncIterator[int]:
        yield 1
        await gate.wait()
        yield 2

    stream = prefetched(pages())
    async for _ in stream:
        break
    await stream.aclose()
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
