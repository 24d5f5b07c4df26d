"""The retry policy as a pure function: which errors are retried, and how long to wait."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cwsync.connectors.http import (
    AmbiguousWriteError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    CwsyncApiError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    ValidationError,
    compute_delay,
    is_safe_to_resend,
    parse_retry_after,
)

FIXED = RetryPolicy(jitter=False)


def test_retry_after_is_the_wait_on_429() -> None:
    """A 429's Retry-After is waited out exactly when it exceeds our own backoff."""
    error = RateLimitedError("slow down", status=429, retry_after=12.0)
    assert compute_delay(FIXED, 1, error, 0.5) == 12.0


def test_retry_after_above_cap_is_still_honoured() -> None:
    """The cap bounds our backoff, never the server's hint: a 120 s Retry-After is waited in full."""
    error = RateLimitedError("slow down", status=429, retry_after=120.0)
    assert compute_delay(RetryPolicy(cap=30.0), 1, error, 0.9) == 120.0


def test_retry_after_is_a_floor_not_a_replacement() -> None:
    """When our backoff is already longer than Retry-After, the longer wait wins."""
    error = RateLimitedError("slow down", status=429, retry_after=1.0)
    assert compute_delay(FIXED, 5, error, 0.0) == 4.0  # 0.25 * 2**4


def test_429_without_retry_after_backs_off() -> None:
    """A 429 without a hint falls back to exponential backoff."""
    error = RateLimitedError("slow down", status=429)
    assert compute_delay(FIXED, 3, error, 0.0) == 1.0


@pytest.mark.parametrize(
    "error",
    [
        ValidationError("bad", status=400),
        AuthenticationError("who", status=401),
        PermissionDeniedError("no", status=403),
        NotFoundError("gone", status=404),
        ConflictError("busy", status=409),
        AmbiguousWriteError("maybe"),
        ConfigurationError("bad site"),
        CwsyncApiError("base"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_other_errors_are_never_retried(error: CwsyncApiError) -> None:
    """Client errors (4xx other than 429) and fatal errors give up at once."""
    assert compute_delay(FIXED, 1, error, 0.5) is None


def test_foreign_exceptions_are_not_retried() -> None:
    """Bugs (non-API exceptions) are not retried."""
    assert compute_delay(FIXED, 1, ValueError("bug"), 0.5) is None


@pytest.mark.parametrize(
    "error", [ServerError("boom", status=503), TransportError("reset")], ids=lambda e: type(e).__name__
)
def test_server_and_transport_errors_back_off_exponentially(error: CwsyncApiError) -> None:
    """5xx and transport errors wait base * 2**(attempt-1) without jitter."""
    delays = [compute_delay(FIXED, attempt, error, 0.0) for attempt in range(1, 7)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, None]


def test_gives_up_after_the_last_attempt() -> None:
    """`attempts` counts every try: after attempt N of N there is no next one."""
    policy = RetryPolicy(attempts=3, jitter=False)
    error = ServerError("boom", status=500)
    assert compute_delay(policy, 2, error, 0.0) == 0.5
    assert compute_delay(policy, 3, error, 0.0) is None


def test_backoff_is_capped() -> None:
    """However many attempts, our own wait never exceeds `cap` (no overflow at huge attempt numbers)."""
    policy = RetryPolicy(attempts=10_000, cap=30.0, jitter=False)
    assert compute_delay(policy, 20, ServerError("boom"), 0.0) == 30.0
    assert compute_delay(policy, 5_000, ServerError("boom"), 0.0) == 30.0


@given(attempt=st.integers(min_value=1, max_value=5), fraction=st.floats(min_value=0.0, max_value=0.999999))
def test_full_jitter_stays_between_zero_and_the_ceiling(attempt: int, fraction: float) -> None:
    """With jitter the wait is fraction × min(cap, base·2^(attempt-1)), so it lies in [0, ceiling)."""
    policy = RetryPolicy()
    delay = compute_delay(policy, attempt, ServerError("boom"), fraction)
    ceiling = min(policy.cap, policy.base * 2 ** (attempt - 1))
    assert delay is not None
    assert 0.0 <= delay <= ceiling
    assert delay == pytest.approx(ceiling * fraction)


def test_safe_to_resend_only_when_surely_unprocessed() -> None:
    """A POST may be resent after a 429 or a failed connect, never after a 5xx or a dropped response."""
    assert is_safe_to_resend(RateLimitedError("slow", status=429))
    assert is_safe_to_resend(TransportError("refused", reached_server=False))
    assert not is_safe_to_resend(TransportError("reset after sending"))
    assert not is_safe_to_resend(ServerError("boom", status=500))
    assert not is_safe_to_resend(ValidationError("bad", status=400))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("30", 30.0),
        (" 2.5 ", 2.5),
        ("-4", 0.0),
        ("Wed, 25 Nov 2026 10:00:30 GMT", 30.0),
        ("Wed, 25 Nov 2026 09:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after_reads_seconds_and_dates(header: str | None, expected: float | None) -> None:
    """Retry-After may be seconds or an HTTP date; unreadable values are ignored, past dates mean now."""
    now = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == expected


@pytest.mark.parametrize("kwargs", [{"attempts": 0}, {"base": 0}, {"base": 5.0, "cap": 1.0}])
def test_policy_rejects_nonsense(kwargs: dict[str, float]) -> None:
    """A policy that could never run (no attempts, zero base, cap below base) is refused at construction."""
    with pytest.raises(ValueError, match=r"attempts|base"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
