"""Settings of the Hudu emulator, and its rate limiter (notes B1, B10).

Hudu documents "300 requests per minute" and answers 429 with `Retry later` (B1). The limiter here is one sliding
60-second window per instance, counted before authentication. The clock is injectable (`time.monotonic` by default)
so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cwsync_sandbox.faults import FaultSettings

SANDBOX_HUDU_API_KEY = "hudu-sandbox-api-key-0000000000000001"
"""The API key a fresh Hudu emulator accepts (`x-api-key`)."""
WINDOW_SECONDS = 60.0
TUNABLE_FIELDS = frozenset(
    {"rate_limit_per_minute", "retry_after_header", "latency_ms", "accept_unwrapped", "strict_custom_fields", "answers"}
)
"""Settings `PUT /_sandbox/settings` may change while the emulator runs."""


class HuduSandboxSettings(BaseModel):
    """How the emulated Hudu instance is set up."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(SANDBOX_HUDU_API_KEY, min_length=1)
    base_url: str = Field("http://127.0.0.1:8710/hudu", description="the instance URL; the API is at /api/v1")
    dataset: Literal["seeded", "empty"] = Field("seeded", description="a few companies and layouts, or nothing")
    seed: int = 1
    assets: int = Field(0, ge=0, description="extra generated configuration assets (seeded dataset only)")
    rate_limit_per_minute: int = Field(300, ge=1, description="B1: 300 requests per minute")
    retry_after_header: bool = Field(True, description="send Retry-After with a 429 (UNCONFIRMED that Hudu does)")
    latency_ms: float = Field(0, ge=0, le=60_000, description="added to every API request")
    accept_unwrapped: bool = Field(True, description="B10: accept write bodies without the resource wrapper")
    strict_custom_fields: bool = Field(False, description="422 for a custom_fields key no layout field matches")
    max_page_size: int = Field(1000, ge=1, description="largest page_size honoured (UNCONFIRMED in B1)")
    answers: Literal["spec", "observed"] = Field(
        "spec",
        description="spec: creates answer as the Swagger (v2.44.0) says (201; a bare Company or Asset, a wrapped"
        " asset_layout or relation), asset GET/PUT bare; observed: 200 and wrapped, as B1 reports real instances do",
    )
    version: str = "2.44.0"
    faults: FaultSettings = Field(default_factory=FaultSettings)


@dataclass(frozen=True)
class Verdict:
    """One request counted: allowed or not, and (if not) the seconds until the window has room."""

    allowed: bool
    retry_after: int = 0


@dataclass
class RateLimiter:
    """A sliding one-minute window against the current settings' `rate_limit_per_minute`."""

    settings: Callable[[], HuduSandboxSettings]
    clock: Callable[[], float] = time.monotonic
    window: deque[float] = field(default_factory=deque)
    refused: int = 0

    def count(self) -> Verdict:
        """Count one request; refused when the last minute already holds the limit."""
        now, limit = self.clock(), self.settings().rate_limit_per_minute
        self._trim(now)
        if len(self.window) >= limit:
            self.refused += 1
            wait = self.window[len(self.window) - limit] + WINDOW_SECONDS - now
            return Verdict(False, max(1, math.ceil(wait)))
        self.window.append(now)
        return Verdict(True)

    def reset(self) -> None:
        """Forget all usage."""
        self.window.clear()
        self.refused = 0

    def usage(self) -> dict[str, int]:
        """Requests in the current window, and how many were refused so far."""
        self._trim(self.clock())
        return {"window_used": len(self.window), "refused": self.refused}

    def _trim(self, now: float) -> None:
        while self.window and self.window[0] <= now - WINDOW_SECONDS:
            self.window.popleft()
