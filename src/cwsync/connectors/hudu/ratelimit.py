"""Client-side pacing for Hudu, so a sync never bursts into 429s (notes B1: 300 requests a minute).

One sliding window: at most `limit` request starts in any `period` seconds (plus a small margin for network
jitter). Each request books its start synchronously before it sleeps, so concurrent tasks on one event loop cannot
overbook the window. A 429 holds the window for the server's Retry-After (or the configured pause). The clock and
the sleep are injectable: tests pass a fake clock whose sleep advances it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import structlog

from cwsync.connectors.http import Sleep

__all__ = ["Clock", "HuduPacer"]

Clock = Callable[[], float]
"""A monotonic clock in seconds (`time.monotonic`)."""

_LOG = structlog.get_logger("cwsync.hudu")


class HuduPacer:
    """At most `limit` request starts in any `period` seconds; `hold` pauses every start after a 429."""

    def __init__(self, limit: int, *, clock: Clock, sleep: Sleep, period: float = 60.0, margin: float = 0.5) -> None:
        if limit < 1 or period <= 0 or margin < 0:
            raise ValueError(f"need limit >= 1, period > 0 and margin >= 0, got {limit}, {period}, {margin}")
        self.limit = limit
        self.period = period
        self.margin = margin
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._hold_until = -math.inf

    async def wait_turn(self) -> float:
        """Wait for (and take) the next free start; returns the seconds waited."""
        now = self._clock()
        wait = self._book(now) - now
        if wait > 0:
            _LOG.debug("hudu.rate_wait", wait=round(wait, 3), limit=self.limit)
            await self._sleep(wait)
        return max(wait, 0.0)

    def hold(self, seconds: float) -> None:
        """Start nothing for `seconds` from now (after a 429)."""
        self._hold_until = max(self._hold_until, self._clock() + max(seconds, 0.0))

    def _book(self, now: float) -> float:
        horizon = now - self.period - self.margin
        while self._starts and self._starts[0] <= horizon:
            self._starts.popleft()
        slot = max(now, self._hold_until, self._starts[-1] if self._starts else -math.inf)
        if len(self._starts) >= self.limit:
            slot = max(slot, self._starts[-self.limit] + self.period + self.margin)
        self._starts.append(slot)
        return slot
