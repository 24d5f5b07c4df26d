"""`engine.applying.Applying`: the bounded background batches every run's apply loop shares."""

from __future__ import annotations

import asyncio

import pytest

from cwsync.engine.applying import Applying


async def test_at_most_limit_batches_run_at_once_and_all_are_waited_for() -> None:
    applying, running, most, done = Applying(2), 0, 0, []
    gates = [asyncio.Event() for _ in range(5)]

    async def batch(n: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await gates[n].wait()
        running -= 1
        done.append(n)

    for n in range(5):
        if n >= 2:
            gates[n - 2].set()  # the oldest may end: the next batch gets its place
        await asyncio.wait_for(applying.room(), 5)
        applying.start(batch(n))
    for gate in gates:
        gate.set()
    await applying.settle()
    assert most == 2
    assert sorted(done) == [0, 1, 2, 3, 4]


async def test_a_failed_batch_is_raised_by_the_next_room_and_by_settle() -> None:
    applying = Applying(1)

    async def failing() -> None:
        raise RuntimeError("HubSpot said no")

    await applying.room()
    applying.start(failing())
    with pytest.raises(RuntimeError, match="HubSpot said no"):
        await applying.room()
    with pytest.raises(RuntimeError, match="HubSpot said no"):
        await applying.settle()


async def test_a_place_given_back_and_batches_cancelled_on_the_way_out() -> None:
    applying, cancelled = Applying(1), asyncio.Event()
    await applying.room()
    applying.release()  # the batch's preparation failed: its place is free again
    await asyncio.wait_for(applying.room(), 1)

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    applying.start(forever())
    await asyncio.sleep(0)
    await applying.abandon()
    assert cancelled.is_set()
    await applying.settle()  # nothing left, no failure: a cancelled batch is not one
