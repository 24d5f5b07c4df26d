"""HubSpot pacing: sliding windows on a fake clock, header reconciliation, 429 holds; nothing really sleeps."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from cwsync.connectors.http import RetryPolicy
from cwsync.connectors.hubspot import HubSpotClient, HubSpotPacer, HubSpotSettings, SlidingWindow
from cwsync.connectors.hubspot.ratelimit import RateLimitHeaders, parse_rate_headers


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)  # let other tasks run, as a real sleep would


def most_in_any_window(starts: list[float], period: float) -> int:
    """The largest number of starts inside any half-open window of `period` seconds."""
    ordered = sorted(starts)
    best, low = 0, 0
    for high, start in enumerate(ordered):
        while ordered[low] <= start - period:
            low += 1
        best = max(best, high - low + 1)
    return best


def window(limit: int = 10, period: float = 10.0, clock: FakeClock | None = None) -> tuple[SlidingWindow, FakeClock]:
    clock = clock or FakeClock()
    return SlidingWindow(limit, period, clock=clock, sleep=clock.sleep, name="test"), clock


async def test_a_burst_within_budget_starts_at_once() -> None:
    """Up to `limit` requests in a window start without any wait."""
    pacer, clock = window(limit=10)
    for _ in range(10):
        await pacer.acquire()
    assert clock.sleeps == []


async def test_a_long_burst_never_exceeds_the_budget_in_any_window() -> None:
    """450 back-to-back requests on a 190/10 s budget: no 10 s window ever holds more than 190 starts."""
    pacer, clock = window(limit=190)
    starts = []
    for _ in range(450):
        await pacer.acquire()
        starts.append(clock())
    assert most_in_any_window(starts, 10.0) == 190
    assert starts[-1] - starts[0] == pytest.approx(20.0)  # 450 starts need three windows, not more


async def test_concurrent_callers_cannot_overbook() -> None:
    """Slots are booked before sleeping, so 30 simultaneous callers on a 10-per-window budget spread out."""
    pacer, clock = window(limit=10, period=1.0)

    async def booked_start() -> float:
        asked = clock()
        return asked + await pacer.acquire()

    slots = await asyncio.gather(*(booked_start() for _ in range(30)))
    assert most_in_any_window(slots, 1.0) == 10
    assert max(slots) - min(slots) == pytest.approx(2.0)


async def test_a_late_wake_up_is_counted_when_it_really_started() -> None:
    """A sleeper the event loop wakes late starts later than booked; the window counts its real start, so the
    starts after it still never put more than `limit` in any period (as the server counts them)."""
    clock = FakeClock()
    late = iter([0.9])

    async def oversleeping(seconds: float) -> None:
        await clock.sleep(seconds + next(late, 0.0))  # the first sleep ends 0.9 s late: a blocked event loop

    pacer = SlidingWindow(2, 1.0, clock=clock, sleep=oversleeping)
    starts = []
    for _ in range(6):
        await pacer.acquire()
        starts.append(clock())
    assert starts[2] == pytest.approx(1001.9)  # booked for 1001.0
    assert most_in_any_window(starts, 1.0) == 2


async def test_a_request_counts_until_a_period_after_its_answer() -> None:
    """The server counts a request somewhere between its start and its answer: a slow answer keeps it in the
    window longer, so the next start that would need its place waits for it."""
    clock = FakeClock()
    pacer = SlidingWindow(2, 1.0, clock=clock, sleep=clock.sleep)
    first, _ = await pacer.take()
    await pacer.take()
    clock.now += 0.5  # the first request's answer arrives half a second later
    pacer.finish(first)
    starts = []
    for _ in range(2):
        start, _ = await pacer.take()
        starts.append(start)
    assert starts == [pytest.approx(1001.0), pytest.approx(1001.5)]  # not 1001.0 twice


async def test_margin_widens_the_window() -> None:
    """A margin makes the (limit+1)-th start wait a period plus the margin."""
    clock = FakeClock()
    pacer = SlidingWindow(2, 1.0, clock=clock, sleep=clock.sleep, margin=0.05)
    for _ in range(3):
        await pacer.acquire()
    assert clock.sleeps == [pytest.approx(1.05)]


def test_rate_headers_are_parsed_and_absent_ones_give_none() -> None:
    """The X-HubSpot-RateLimit-* headers are read case-insensitively; a response without them gives None."""
    headers = httpx.Headers(
        {
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Remaining": "12",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Daily": "625000",
            "X-HubSpot-RateLimit-Daily-Remaining": "600000",
        }
    )
    assert parse_rate_headers(headers) == RateLimitHeaders(190, 12, 10.0)
    assert parse_rate_headers(httpx.Headers({"content-type": "application/json"})) is None
    assert parse_rate_headers(httpx.Headers({"X-HubSpot-RateLimit-Remaining": "lots"})) is None


async def test_a_lower_server_max_becomes_the_budget() -> None:
    """A Free/Starter account (Max 100) lowers a configured 190 to 100."""
    pacer, _ = window(limit=190)
    with capture_logs() as logs:
        pacer.reconcile(RateLimitHeaders(max=100, remaining=99, interval=10.0))
    assert pacer.limit == 100
    assert any(entry["event"] == "hs.rate_budget" for entry in logs)


async def test_remaining_spent_by_others_waits_for_the_window_to_roll() -> None:
    """One request of ours, yet the server says 0 remain: the next request waits until the window has rolled."""
    pacer, clock = window(limit=190)
    await pacer.acquire()
    pacer.reconcile(RateLimitHeaders(max=190, remaining=0, interval=10.0))
    await pacer.acquire()
    assert clock.sleeps == [pytest.approx(10.0)]


async def test_remaining_that_matches_our_own_count_adds_no_wait() -> None:
    """When the server's count is ours alone, reconciliation changes nothing."""
    pacer, clock = window(limit=5)
    for _ in range(3):
        await pacer.acquire()
    pacer.reconcile(RateLimitHeaders(max=5, remaining=2, interval=10.0))
    await pacer.acquire()
    await pacer.acquire()
    assert clock.sleeps == []
    await pacer.acquire()
    assert clock.sleeps == [pytest.approx(10.0)]


async def test_low_remaining_allows_only_what_is_left() -> None:
    """Remaining 3 (others used the rest): three more start at once, the fourth waits for the window."""
    pacer, clock = window(limit=100)
    pacer.reconcile(RateLimitHeaders(max=100, remaining=3, interval=10.0))
    for _ in range(3):
        await pacer.acquire()
    assert clock.sleeps == []
    await pacer.acquire()
    assert clock.sleeps == [pytest.approx(10.0)]


async def test_foreign_usage_expires_with_its_window() -> None:
    """Requests counted for others stop mattering once their window is over."""
    pacer, clock = window(limit=10)
    pacer.reconcile(RateLimitHeaders(max=10, remaining=0, interval=10.0))
    clock.now += 10.5
    await pacer.acquire()
    assert clock.sleeps == []


async def test_hold_after_a_429_delays_the_next_start() -> None:
    """`hold(seconds)` keeps every start back for that long."""
    pacer, clock = window(limit=10)
    pacer.hold(3.0)
    await pacer.acquire()
    assert clock.sleeps == [pytest.approx(3.0)]


async def test_daily_429_does_not_hold_the_window() -> None:
    """A DAILY 429 is not paced away (it resets at midnight): no hold, a warning instead."""
    clock = FakeClock()
    pacer = HubSpotPacer(requests_per_10s=10, search_per_second=5, clock=clock, sleep=clock.sleep)
    with capture_logs() as logs:
        pacer.rate_limited("general", None, "DAILY")
    await pacer.turn("general")
    assert clock.sleeps == []
    assert logs[0]["event"] == "hs.rate_limited"


async def test_search_has_its_own_window() -> None:
    """Search starts count against 5/s only; they do not use up the general budget."""
    clock = FakeClock()
    pacer = HubSpotPacer(requests_per_10s=100, search_per_second=5, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(12):
        await pacer.turn("search")
        starts.append(clock())
    assert most_in_any_window(starts, 1.0) == 5
    before = len(clock.sleeps)
    for _ in range(3):
        await pacer.turn("general")
    assert len(clock.sleeps) == before


# -- through the client ---------------------------------------------------------------------------------------------


def rate_headers(remaining: int, maximum: int = 190) -> dict[str, str]:
    return {
        "X-HubSpot-RateLimit-Max": str(maximum),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }


def client_for(handler: Any, clock: FakeClock, **settings: Any) -> HubSpotClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return HubSpotClient(
        HubSpotSettings(token="pat-na1-secret", **settings),
        http=http,
        retry=RetryPolicy(jitter=False),
        sleep=clock.sleep,
        clock=clock,
    )


async def test_client_slows_down_when_the_server_says_the_window_is_spent() -> None:
    """A response with Remaining 0 makes the client's next request wait the interval instead of drawing a 429."""
    clock = FakeClock()
    remaining = iter([150, 0, 189])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "1", "properties": {}}, headers=rate_headers(next(remaining)))

    client = client_for(handler, clock)
    await client.get("contacts", 1)
    assert clock.sleeps == []
    await client.get("contacts", 1)
    await client.get("contacts", 1)
    assert clock.sleeps == [pytest.approx(10.05)]  # the interval plus the general window's margin


async def test_client_burst_stays_inside_the_configured_budget() -> None:
    """60 reads on a 25-per-10s budget are spread so that no 10 s window holds more than 25 requests."""
    clock = FakeClock()
    seen: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(clock())
        return httpx.Response(200, json={"id": "1", "properties": {}})

    client = client_for(handler, clock, requests_per_10s=25)
    for number in range(60):
        await client.get("companies", number + 1)
    assert most_in_any_window(seen, 10.0) == 25


async def test_client_429_holds_the_window_for_other_requests() -> None:
    """After a 429 with Retry-After 4, the retry waits 4 s and the pacer holds that long too."""
    clock = FakeClock()
    answers = iter(
        [
            httpx.Response(429, json={"message": "You have reached your ten_secondly_rolling limit.",
                                      "policyName": "TEN_SECONDLY_ROLLING", "errorType": "RATE_LIMIT"},
                           headers={"Retry-After": "4"}),
            httpx.Response(200, json={"id": "1", "properties": {}}),
        ]
    )  # fmt: skip
    client = client_for(lambda request: next(answers), clock)
    await client.get("deals", 1)
    assert sum(clock.sleeps) == pytest.approx(4.0)


async def test_past_the_burst_starts_are_spaced_instead_of_stalling() -> None:
    """With burst 0.3 on 10 per 10 s, at most 3 start in any 3 s: the same throughput as a full burst, and no
    wait is ever the whole window rolling on."""
    clock = FakeClock()
    pacer = SlidingWindow(10, 10.0, clock=clock, sleep=clock.sleep, burst=0.3)
    starts = []
    for _ in range(40):
        await pacer.acquire()
        starts.append(clock())
    first = starts[0]
    assert starts[:3] == [first] * 3
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert max(gaps) <= 3.0 + 1e-9  # a full burst waits 10 s here
    assert most_in_any_window(starts, 10.0) <= 10
    assert most_in_any_window(starts, 3.0 - 1e-9) <= 3
    assert starts[-1] - first <= 39.0 + 1e-9  # 40 starts at the full rate: about one a second


async def test_a_late_caller_catches_up_a_short_burst_at_a_time() -> None:
    """After a pause (a busy event loop), the missed starts are made up at once, up to the short window's share."""
    clock = FakeClock()
    pacer = SlidingWindow(10, 10.0, clock=clock, sleep=clock.sleep, burst=0.3)
    for _ in range(3):
        await pacer.acquire()
    clock.now += 20.0  # nobody asked for 20 s
    before = len(clock.sleeps)
    for _ in range(3):
        await pacer.acquire()
    assert len(clock.sleeps) == before  # three at once again: no spacing debt from the past
