"""When to try a request again, and how long to wait first.

`compute_delay` is the whole policy as a pure function (randomness comes in as an argument); `retrying` runs it
through tenacity with an injectable `sleep`, so tests pass a `SleepRecorder` and never wait.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from cwsync.connectors.http.errors import RateLimitedError, RetriableError, TransportError

__all__ = [
    "RetryPolicy",
    "Sleep",
    "SleepRecorder",
    "compute_delay",
    "is_safe_to_resend",
    "parse_retry_after",
    "retrying",
]

Sleep = Callable[[float], Awaitable[None]]
"""An `asyncio.sleep`-like coroutine function."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often to try (in total, first attempt included) and how the waits grow."""

    attempts: int = 6
    base: float = 0.25
    cap: float = 30.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        if not (self.base > 0 and self.cap >= self.base):
            raise ValueError(f"need 0 < base <= cap, got base={self.base}, cap={self.cap}")


def backoff(policy: RetryPolicy, attempt: int, random_fraction: float) -> float:
    """Exponential backoff capped at `policy.cap`; with jitter, a uniform pick below it ("full jitter")."""
    ceiling = min(policy.cap, policy.base * 2.0 ** min(attempt - 1, 64))
    return ceiling * random_fraction if policy.jitter else ceiling


def compute_delay(policy: RetryPolicy, attempt: int, error: BaseException, random_fraction: float) -> float | None:
    """Seconds to wait before the next attempt, or None to give up.

    Args:
        attempt: the 1-based number of the attempt that just failed with `error`.
        random_fraction: a number in [0, 1) (the only source of randomness).

    Only `RetriableError`s are retried. A 429's `Retry-After` is a floor: the wait is never shorter than the
    server asked for, even when that is above `cap` (the cap bounds our own backoff, not the server's demand).
    """
    if attempt >= policy.attempts or not isinstance(error, RetriableError):
        return None
    delay = backoff(policy, attempt, random_fraction)
    if isinstance(error, RateLimitedError) and error.retry_after is not None:
        return max(error.retry_after, delay)
    return delay


def is_safe_to_resend(error: BaseException) -> bool:
    """True when a non-idempotent request certainly was not processed: a 429, or it never left."""
    if isinstance(error, RateLimitedError):
        return True
    return isinstance(error, TransportError) and not error.reached_server


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds (it may be a number of seconds or an HTTP date); None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until(text, now or datetime.now(UTC))
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def _seconds_until(http_date: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def retrying(
    policy: RetryPolicy,
    *,
    sleep: Sleep,
    random: Callable[[], float],
    should_retry: Callable[[BaseException], bool],
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> AsyncRetrying:
    """A tenacity loop that asks `compute_delay` when to stop and how long to wait; re-raises the last error."""

    def stop(state: RetryCallState) -> bool:
        return compute_delay(policy, state.attempt_number, _error_of(state), 0.0) is None

    def wait(state: RetryCallState) -> float:
        return compute_delay(policy, state.attempt_number, _error_of(state), random()) or 0.0

    return AsyncRetrying(
        stop=stop,
        wait=wait,
        retry=retry_if_exception(should_retry),
        sleep=sleep,
        reraise=True,
        before_sleep=before_sleep,
    )


def _error_of(state: RetryCallState) -> BaseException:
    error = state.outcome.exception() if state.outcome else None
    return error if error is not None else RuntimeError("no error recorded")


@dataclass
class SleepRecorder:
    """A `sleep` for tests: records each requested delay and returns at once."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
