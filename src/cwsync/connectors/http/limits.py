"""Per-connection limits: how many requests may be in flight, and how many may start per minute."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

__all__ = ["RequestLimits", "Throttle"]


@dataclass(frozen=True, slots=True)
class RequestLimits:
    """`requests_per_minute=None` turns the rate limit off; the concurrency cap always applies."""

    max_concurrency: int = 8
    requests_per_minute: int | None = 900

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {self.max_concurrency}")
        if self.requests_per_minute is not None and self.requests_per_minute < 1:
            raise ValueError(f"requests_per_minute must be at least 1 (or None), got {self.requests_per_minute}")


class Throttle:
    """Admits one request at a time through the concurrency cap and the rate limiter."""

    def __init__(self, limits: RequestLimits) -> None:
        self.limits = limits
        self._slots = asyncio.Semaphore(limits.max_concurrency)
        rate = limits.requests_per_minute
        self._rate = AsyncLimiter(rate, 60.0) if rate is not None else None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a concurrency slot (and, first, a rate-limit token) for the body of the `async with`."""
        if self._rate is not None:
            await self._rate.acquire()
        async with self._slots:
            yield
