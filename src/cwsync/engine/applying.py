"""Batches of writes applying in the background, a bounded number at once: what every run's apply loop shares.

A run plans its next page while its last batches are still being written; `Applying(limit)` keeps at most `limit`
of them in flight. `room()` waits for a free place (and raises the first failure of a batch started earlier: a run
stops at its first fatal error), the caller may then prepare the batch (note its intents), and `start(work)` runs it
— or `release()` gives the place back when the preparation failed. `settle()` waits for everything started (the
first failure raised), `abandon()` cancels what is still running on the way out of a failed run (a rerun re-plans
whatever they did not record).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["Applying"]


class Applying:
    """At most `limit` background batches at once; the first failure is raised by the next `room` or `settle`."""

    def __init__(self, limit: int) -> None:
        self._places = asyncio.Semaphore(max(1, limit))
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    async def room(self) -> None:
        """Wait for a free place, held until `start` (or `release`); raises a failure of an earlier batch."""
        self._raise()
        await self._places.acquire()
        if self._failure is not None:
            self._places.release()
            self._raise()

    def release(self) -> None:
        """Give back the place `room` gave (the batch was not started)."""
        self._places.release()

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in the background in the place `room` gave."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    async def settle(self) -> None:
        """Wait for every batch started (the first failure is raised)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        self._raise()

    async def abandon(self) -> None:
        """Cancel the batches still running and wait for them to end."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._places.release()
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    def _raise(self) -> None:
        if self._failure is not None:
            raise self._failure
