"""The request executor every connector shares: limits, retries and error mapping over one `httpx.AsyncClient`.

The `httpx.AsyncClient` is the I/O seam: production passes a real one, tests pass one built on
`httpx.MockTransport` or `httpx.ASGITransport`. Connectors add only what is theirs: URLs, headers and
`error_from_response`, which turns a response ≥ 400 into the right `CwsyncApiError`.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import structlog
from tenacity import RetryCallState

from cwsync.connectors.http.bodies import json_body
from cwsync.connectors.http.errors import ConfigurationError, CwsyncApiError, TransportError, redact_url
from cwsync.connectors.http.limits import RequestLimits, Throttle
from cwsync.connectors.http.metrics import API_RATE_LIMITED, API_REQUESTS, API_RETRIES, system_of
from cwsync.connectors.http.retry import RetryPolicy, Sleep, is_safe_to_resend, retrying

__all__ = ["ErrorFromResponse", "HttpApi", "transport_error"]

ErrorFromResponse = Callable[[httpx.Response], CwsyncApiError]
"""Turns a response with status ≥ 400 into an error; connector-specific (it knows the error body)."""

_UNSAFE_METHODS = frozenset({"POST"})
"""Methods whose repeat may do the work twice. PATCH is safe here: cwsync only sends add/replace/remove ops."""

# Failures where the request certainly never reached the server.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class HttpApi:
    """Sends requests through a concurrency cap and rate limit, retries what is safe, raises typed errors."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        error_from_response: ErrorFromResponse,
        retry: RetryPolicy | None = None,
        limits: RequestLimits | None = None,
        timeout: float | None = None,
        sleep: Sleep = asyncio.sleep,
        random: Callable[[], float] = _random.random,
        name: str = "http",
        before_send: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        """`before_send` runs before each attempt, inside its concurrency slot: a pacer that books the start time
        there books when the request really leaves (booked before the slot, requests queued behind the cap would
        leave later than booked and could crowd the server's window). When it returns a callable, that is called
        once the attempt has its answer (or failed), e.g. to count the request from then on."""
        self.client = client
        self._before_send = before_send
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.random = random
        self._error_from_response = error_from_response
        self._throttle = Throttle(limits or RequestLimits())
        self._timeout = timeout
        self._log = structlog.get_logger("cwsync.http").bind(connector=name)
        self._system = system_of(name)

    async def send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_unsafe: bool = False,
    ) -> httpx.Response:
        """Send one request (retrying as the policy allows) and return the successful response.

        Idempotent methods are retried on every `RetriableError`. A POST is retried only when it surely was
        not processed (429, or the connection was never made), unless `retry_unsafe=True` says repeating it
        is harmless (e.g. a search). The error from the last attempt carries `attempts`.

        Raises:
            CwsyncApiError: the subclass for what went wrong (see `cwsync.connectors.http.errors`).
        """
        verb = method.upper()
        resend_anything = retry_unsafe or verb not in _UNSAFE_METHODS
        loop = retrying(
            self.retry,
            sleep=self.sleep,
            random=self.random,
            should_retry=lambda error: resend_anything or is_safe_to_resend(error),
            before_sleep=self._log_retry,
        )
        async for attempt in loop:
            with attempt:
                try:
                    return await self._attempt(verb, url, params=params, json=json, headers=headers)
                except CwsyncApiError as error:
                    error.attempts = attempt.retry_state.attempt_number
                    raise
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def _attempt(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        extra: dict[str, Any] = {} if self._timeout is None else {"timeout": self._timeout}
        started = time.monotonic()
        async with self._throttle.slot():
            answered = await self._before_send() if self._before_send is not None else None
            try:
                if json is not None:  # encoded here (orjson), as httpx's `json=` would, with its content type
                    extra["content"] = json_body(json)
                    if not any(name.lower() == "content-type" for name in headers or {}):
                        headers = {**(headers or {}), "Content-Type": "application/json"}
                response = await self.client.request(method, url, params=params, headers=headers, **extra)
            except httpx.HTTPError as exc:
                API_REQUESTS.labels(self._system, "error").inc()
                raise transport_error(exc, method, url) from exc
            finally:
                if callable(answered):
                    answered()
        _release(response)
        API_REQUESTS.labels(self._system, str(response.status_code)).inc()
        if response.status_code == 429:
            API_RATE_LIMITED.labels(self._system).inc()
        self._log.debug(
            "http.response",
            method=method,
            url=redact_url(response.request.url),
            status=response.status_code,
            elapsed_ms=round((time.monotonic() - started) * 1000, 1),
        )
        if response.status_code >= 400:
            raise self._error_from_response(response)
        return response

    def _log_retry(self, state: RetryCallState) -> None:
        API_RETRIES.labels(self._system).inc()
        error = state.outcome.exception() if state.outcome else None
        self._log.warning(
            "http.retry",
            attempt=state.attempt_number,
            delay=round(state.next_action.sleep, 3) if state.next_action else None,
            status=getattr(error, "status", None),
            error=type(error).__name__,
            method=getattr(error, "method", None),
            url=getattr(error, "url", None),
        )


def _release(response: httpx.Response) -> None:
    """Let a read response be freed as soon as nobody uses it.

    httpx's response and its stream refer to each other (the stream keeps the response to record its elapsed time),
    so a response, its whole body included, was freed only by the cyclic garbage collector, some time later: pages
    of 2 MB waited for it (measured: 15 MB held after 20 pages of configurations, freed by `gc.collect()`). Once the
    body is read and the stream closed (every request here reads its whole answer), the stream is not needed: an
    empty one takes its place, and reference counting frees the response with its last user."""
    if response.is_closed:
        response.stream = httpx.ByteStream(b"")


def transport_error(exc: httpx.HTTPError, method: str, url: str | httpx.URL) -> CwsyncApiError:
    """The `CwsyncApiError` for an httpx exception (no response, or an unusable one)."""
    shown = redact_url(_full_url(exc, url))
    if isinstance(exc, httpx.UnsupportedProtocol):
        hint = "Use an http:// or https:// address."
        return ConfigurationError(f"unsupported URL: {exc}", hint=hint, method=method, url=shown)
    message = f"{type(exc).__name__}: {str(exc) or 'no details'}"
    reached = not isinstance(exc, _NEVER_SENT)
    return TransportError(message, reached_server=reached, method=method, url=shown)


def _full_url(exc: httpx.HTTPError, fallback: str | httpx.URL) -> str | httpx.URL:
    try:
        return exc.request.url
    except RuntimeError:  # the exception was raised without a request attached
        return fallback
