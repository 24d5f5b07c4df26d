"""`ReadAhead`: the read starts when it is made, pages in order, one read ahead, errors propagate, nothing left
running when closed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cwsync.integrations.hubspot.run import ReadAhead


async def test_the_read_starts_before_anyone_asks() -> None:
    """Made ahead of its use (the next pair's first page, while the pair before it finishes), it is already reading."""
    requested: list[int] = []
    first_read = asyncio.Event()

    async def pages() -> AsyncIterator[int]:
        for n in range(2):
            requested.append(n)
            first_read.set()
            yield n

    reader = ReadAhead(pages())
    await asyncio.wait_for(first_read.wait(), timeout=5)  # nobody iterated yet
    assert requested == [0]
    assert [page async for page in reader] == [0, 1]


async def test_order_and_one_page_ahead() -> None:
    """Pages come in order, and the next is requested before the current one is handed over."""
    requested: list[int] = []

    async def pages() -> AsyncIterator[int]:
        for n in range(4):
            requested.append(n)
            yield n

    seen = []
    async for page in ReadAhead(pages()):
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
        async for page in ReadAhead(pages()):
            got.append(page)

    with pytest.raises(RuntimeError, match="read failed"):
        await consume()
    assert got == [1]


async def test_closing_cancels_the_read_ahead() -> None:
    """Closing it (after an error, or a pair that never ran) leaves no read running."""
    gate = asyncio.Event()
    closed = False

    async def pages() -> AsyncIterator[int]:
        nonlocal closed
        try:
            yield 1
            await gate.wait()
            yield 2
        finally:
            closed = True

    reader = ReadAhead(pages())
    async for _ in reader:
        break
    await reader.close()
    assert closed
    assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
    with pytest.raises(StopAsyncIteration):
        await anext(reader)
