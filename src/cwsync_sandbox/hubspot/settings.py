"""Settings of the HubSpot emulator, and the rate limits they set (notes A4, A5, A6).

HubSpot counts requests three ways, each with its own 429 `policyName`:

- a rolling 10-second window per app (private-app token): `TEN_SECONDLY_ROLLING`, default 190 (Professional and
  Enterprise, A6);
- a daily counter per account, shared by all apps: `DAILY`, default 1,000,000 (Enterprise, A6);
- search's own limit, 5 requests a second per account (A4), separate from the burst window: `SECONDLY`.

Normal responses carry `X-HubSpot-RateLimit-*` headers (A6); search responses carry none (A4). The clock is
injectable (`time.monotonic` by default) so tests move time instead of sleeping.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from cwsync_sandbox.faults import FaultSettings

WINDOW_SECONDS = 10.0
DAY_SECONDS = 86_400.0
SEARCH_WINDOW_SECONDS = 1.0


class HubSpotSandboxSettings(BaseModel):
    """How the emulated HubSpot portal is set up; every figure has its source in the API notes."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field("pat-na1-sandbox-0000-0000-000000000001", min_length=1)
    portal_id: int = Field(4_000_001, ge=1)
    app_id: int = Field(5_000_001, ge=1, description="the private app's id (webhook payloads, 429 groupName)")
    client_secret: str = Field("sandbox-app-secret", min_length=1)
    base_url: str = "http://127.0.0.1:8710/hubspot"
    seed: int = 1
    companies: int = Field(0, ge=0)
    contacts: int = Field(0, ge=0)
    deals: int = Field(0, ge=0)
    owners: int = Field(4, ge=1, le=500, description="HubSpot users who can own records")
    rate_limit_per_10s: int = Field(190, ge=1, description="A6: Professional/Enterprise private apps")
    daily_limit: int = Field(1_000_000, ge=1, description="A6: Enterprise")
    search_per_second: int = Field(5, ge=1, description="A4: 5 requests/second per account")
    search_max_groups: int = Field(5, ge=1, description="A4: sources conflict, current docs say 5")
    search_max_filters_per_group: int = Field(6, ge=1, description="A4: current docs say 6")
    search_max_filters: int = Field(18, ge=1, description="A4: current docs say 18 in total")
    webhook_batch_ms: float = Field(100, ge=0, le=60_000, description="how long events gather before a POST")
    webhook_max_concurrent: int = Field(10, ge=1, description="A10: maxConcurrentRequests default")
    faults: FaultSettings = Field(default_factory=FaultSettings)


LIMIT_FIELDS = frozenset(
    {
        "rate_limit_per_10s",
        "daily_limit",
        "search_per_second",
        "search_max_groups",
        "search_max_filters_per_group",
        "search_max_filters",
    }
)


@dataclass(frozen=True)
class Verdict:
    """The outcome of counting one request: allowed or not (and by which policy), and the headers to send."""

    allowed: bool
    policy: str | None
    headers: dict[str, str]


@dataclass
class RateLimiter:
    """Counts API requests against the limits of the current settings (read on every call, so they can change)."""

    settings: Callable[[], HubSpotSandboxSettings]
    clock: Callable[[], float] = time.monotonic
    windows: dict[str, deque[float]] = field(default_factory=dict)
    search_window: deque[float] = field(default_factory=deque)
    daily_used: int = 0
    day_started: float | None = None

    def standard(self, token: str) -> Verdict:
        """Count a request against the 10-second window of its token and the daily counter."""
        now, limits = self.clock(), self.settings()
        window = self._trimmed(self.windows.setdefault(token, deque()), now - WINDOW_SECONDS)
        self._roll_day(now)
        if self.daily_used >= limits.daily_limit:
            return Verdict(False, "DAILY", self._headers(window, limits))
        if len(window) >= limits.rate_limit_per_10s:
            return Verdict(False, "TEN_SECONDLY_ROLLING", self._headers(window, limits))
        window.append(now)
        self.daily_used += 1
        return Verdict(True, None, self._headers(window, limits))

    def search(self) -> Verdict:
        """Count a search against its own per-second limit (and the daily counter); no headers (A4)."""
        now, limits = self.clock(), self.settings()
        window = self._trimmed(self.search_window, now - SEARCH_WINDOW_SECONDS)
        self._roll_day(now)
        if self.daily_used >= limits.daily_limit:
            return Verdict(False, "DAILY", {})
        if len(window) >= limits.search_per_second:
            return Verdict(False, "SECONDLY", {})
        window.append(now)
        self.daily_used += 1
        return Verdict(True, None, {})

    def reset(self) -> None:
        """Forget all usage (a new day, an empty window)."""
        self.windows.clear()
        self.search_window.clear()
        self.daily_used = 0
        self.day_started = None

    def usage(self) -> dict[str, object]:
        """Current usage, for `/_sandbox/limits`."""
        now = self.clock()
        return {
            "daily_used": self.daily_used,
            "window_used": {t: len(self._trimmed(w, now - WINDOW_SECONDS)) for t, w in self.windows.items()},
            "search_window_used": len(self._trimmed(self.search_window, now - SEARCH_WINDOW_SECONDS)),
        }

    def _roll_day(self, now: float) -> None:
        if self.day_started is None or now - self.day_started >= DAY_SECONDS:
            self.day_started = now
            self.daily_used = 0

    @staticmethod
    def _trimmed(window: deque[float], horizon: float) -> deque[float]:
        while window and window[0] <= horizon:
            window.popleft()
        return window

    def _headers(self, window: deque[float], limits: HubSpotSandboxSettings) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Max": str(limits.rate_limit_per_10s),
            "X-HubSpot-RateLimit-Remaining": str(max(0, limits.rate_limit_per_10s - len(window))),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(WINDOW_SECONDS * 1000)),
            "X-HubSpot-RateLimit-Daily": str(limits.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, limits.daily_limit - self.daily_used)),
        }
