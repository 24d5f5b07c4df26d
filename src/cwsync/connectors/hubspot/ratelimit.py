"""Client-side pacing for HubSpot, so a sync never bursts into 429s (notes A4, A6).

Two sliding windows, both driven by an injectable `clock` and `sleep` (tests pass a fake clock whose sleep
advances it):

* **general**: at most `requests_per_10s` request starts in any 10 s, for every call except search. Each
  response's `X-HubSpot-RateLimit-Max` / `-Remaining` / `-Interval-Milliseconds` headers reconcile it with the
  server's view: a lower `Max` becomes our budget, and requests the server counted that we did not send (another
  process on the same app) are booked as "foreign" starts at the time of the response, so when `Remaining` runs
  out we wait until the window has rolled on instead of sending into a 429.
* **search**: at most `search_per_second` starts per second; search responses carry no rate headers.

A 429 holds its window for `Retry-After` (or the policy's interval). Each request books its start time
synchronously before it sleeps, so concurrent tasks on one event loop cannot overbook a window.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import structlog

from cwsync.connectors.http import Sleep

__all__ = ["Clock", "HubSpotPacer", "Kind", "RateLimitHeaders", "SlidingWindow", "parse_rate_headers"]

Clock = Callable[[], float]
"""A monotonic clock in seconds (`time.monotonic`)."""
Kind = Literal["general", "search"]
"""Which limit a request counts against."""

_LOG = structlog.get_logger("cwsync.hubspot")


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The `X-HubSpot-RateLimit-*` headers of one response (None where absent or unreadable)."""

    max: int | None = None
    remaining: int | None = None
    interval: float | None = None


def parse_rate_headers(headers: Mapping[str, str]) -> RateLimitHeaders | None:
    """The rate-limit headers of a response, or None when it sends none (search, some errors)."""
    prefix = "x-hubspot-ratelimit-"
    values = {name: _int(headers.get(prefix + name)) for name in ("max", "remaining")}
    interval_ms = _int(headers.get(prefix + "interval-milliseconds"))
    if values["remaining"] is None and values["max"] is None:
        return None
    return RateLimitHeaders(
        max=values["max"],
        remaining=values["remaining"],
        interval=interval_ms / 1000 if interval_ms else None,
    )


def _int(value: str | None) -> int | None:
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


class SlidingWindow:
    """At most `limit` request starts in any `period` seconds (plus `margin`, for network jitter).

    With `burst` < 1, the same rule holds on a shorter window too: at most `limit × burst` starts in any
    `period × burst`. A steady demand then runs at the full rate without ever filling the long window and stalling
    for seconds while it rolls on; a late caller (a busy event loop) still catches up, a short burst at a time.

    `acquire()` books the earliest start that keeps the window within budget and sleeps until then. Starts are
    booked in order, so the booked times only grow and the check is: the `limit`-th most recent start must be
    at least one period before the new one.
    """

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        clock: Clock,
        sleep: Sleep,
        margin: float = 0.0,
        name: str = "window",
        burst: float = 1.0,
    ) -> None:
        if limit < 1 or period <= 0 or margin < 0 or not 0 < burst <= 1:
            raise ValueError(
                f"need limit >= 1, period > 0, margin >= 0 and 0 < burst <= 1, got {limit}, {period}, {margin}, {burst}"
            )
        self.burst = burst
        self.configured = limit
        self.limit = limit
        self.server_max = limit
        self.period = period
        self.margin = margin
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._foreign = 0
        self._foreign_at = -math.inf
        self._hold_until = -math.inf

    async def acquire(self) -> float:
        """Wait for (and take) the next free start; returns the seconds waited."""
        _, wait = await self.take()
        return wait

    async def take(self) -> tuple[float, float]:
        """Wait for (and take) the next free start; returns (the start as counted, the seconds waited).

        Pass the start to `finish` when the answer arrives: the server counts the request at some moment between
        its start and its answer, which only the answer bounds.
        """
        now = self._clock()
        slot = self._book(now)
        wait = slot - now
        if wait > 0:
            _LOG.debug("hs.rate_wait", limiter=self.name, wait=round(wait, 3), limit=self.limit)
            await self._sleep(wait)
            # A busy event loop wakes a sleeper late: count the start when it really happens, or late starts
            # followed a period later by punctual ones overfill the server's window.
            slot = self._move(slot, self._clock())
        return slot, max(wait, 0.0)

    def finish(self, start: float) -> None:
        """The request that started at `start` has its answer: it counts until a period after now.

        The server stamps a request when it handles it, which may be well after it left here (a busy server, a slow
        network, the event loop); counted from its answer, a request is never forgotten here before the server
        forgets it, so the window stays true without a wide safety margin.
        """
        self._move(start, self._clock())

    def _move(self, start: float, moment: float) -> float:
        """Move one counted start to `moment` (only ever later); returns what it counts as now."""
        if moment <= start:
            return start
        index = bisect.bisect_left(self._starts, start)
        if index < len(self._starts) and self._starts[index] == start:
            del self._starts[index]
            bisect.insort(self._starts, moment)
            return moment
        return start  # already forgotten (the window rolled past it): nothing to move

    def hold(self, seconds: float) -> None:
        """Start nothing for `seconds` from now (after a 429)."""
        self._hold_until = max(self._hold_until, self._clock() + max(seconds, 0.0))

    def reconcile(self, info: RateLimitHeaders) -> None:
        """Adopt the server's view of the window: its budget, its interval, and requests we did not send."""
        now = self._clock()
        if info.interval:
            self.period = info.interval
        if info.max:
            if min(self.configured, info.max) != self.limit:
                _LOG.info("hs.rate_budget", limiter=self.name, configured=self.configured, server_max=info.max)
            self.server_max = info.max
            self.limit = min(self.configured, info.max)
        if info.remaining is None:
            return
        starts = self._starts  # in order: the starts within (now - period, now], counted by bisection
        ours = bisect.bisect_right(starts, now) - bisect.bisect_right(starts, now - self.period)
        foreign = max(0, self.server_max - info.remaining - ours)
        if foreign and foreign != self._foreign:
            _LOG.info("hs.rate_shared", limiter=self.name, remaining=info.remaining, ours=ours, foreign=foreign)
        self._foreign, self._foreign_at = foreign, now

    def _book(self, now: float) -> float:
        self._forget(now)
        span = self.period + self.margin
        slot = max(now, self._hold_until, self._starts[-1] if self._starts else -math.inf)
        if len(self._starts) >= self.limit:
            slot = max(slot, self._starts[-self.limit] + span)
        if self.burst < 1:  # and at most `burst` of the budget in the same share of the period
            short = max(1, int(self.limit * self.burst))
            if len(self._starts) >= short:
                slot = max(slot, self._starts[-short] + span * short / self.limit)
        slot = max(slot, self._server_slot(slot, span))
        self._starts.append(slot)
        return slot

    def _server_slot(self, slot: float, span: float) -> float:
        """The earliest start the server's budget allows, counting the foreign starts it reported."""
        if self._foreign == 0 or slot >= self._foreign_at + span:
            return slot
        booked = sorted([*self._starts, *([self._foreign_at] * self._foreign)])
        if len(booked) < self.server_max:
            return slot
        return booked[-self.server_max] + span

    def _forget(self, now: float) -> None:
        horizon = now - self.period - self.margin
        while self._starts and self._starts[0] <= horizon:
            self._starts.popleft()
        if self._foreign and self._foreign_at <= horizon:
            self._foreign = 0


class HubSpotPacer:
    """The general and the search window of one client, fed by every response it gets."""

    def __init__(self, *, requests_per_10s: int, search_per_second: int, clock: Clock, sleep: Sleep) -> None:
        # Margins absorb network jitter: two starts one period apart can arrive a little closer together.
        # At most a quarter of the budget in any quarter of the window (47 per ~2.5 s). A full burst fills the window,
        # then stalls every request for seconds while it rolls on (what a stream of callbacks feels as latency), and
        # its edge is where a server counting arrivals answers 429; a smaller share leaves a busy event loop too
        # little room to catch up (measured on the first sync: 0.1 → 1.19× the bound, 0.25 → 1.11×, 1.0 → 429s).
        self.general = SlidingWindow(
            requests_per_10s,
            10.0,
            clock=clock,
            sleep=sleep,
            margin=0.05,
            name="general",
            burst=0.5,
        )
        self.search = SlidingWindow(search_per_second, 1.0, clock=clock, sleep=sleep, margin=0.05, name="search")

    def window(self, kind: Kind) -> SlidingWindow:
        """The window a request of this kind counts against."""
        return self.search if kind == "search" else self.general

    async def turn(self, kind: Kind) -> Callable[[], None]:
        """Wait until a request of this kind may start; call what it returns when its answer (or error) arrives."""
        window = self.window(kind)
        start, _ = await window.take()
        return lambda: window.finish(start)

    def observe(self, kind: Kind, headers: Mapping[str, str]) -> None:
        """Feed one response's rate-limit headers (search responses have none)."""
        info = parse_rate_headers(headers)
        if info is not None and kind == "general":
            self.general.reconcile(info)

    def rate_limited(self, kind: Kind, retry_after: float | None, policy_name: str | None) -> None:
        """A 429 arrived: hold the window for `retry_after`, or for its own period when the server gave none."""
        window = self.window(kind)
        pause = retry_after if retry_after is not None else window.period
        _LOG.warning("hs.rate_limited", limiter=window.name, policy=policy_name, pause=round(pause, 3))
        if policy_name != "DAILY":
            window.hold(pause)
