"""The errors every connector raises, grouped by what the caller should do next.

::

    CwsyncApiError                      status, code, message, field, request_id, method, url, hint, attempts
     ├── FatalError                     stop the run; the hint says how to fix it
     │    ├── ConfigurationError        bad site URL, unknown company, wrong host ...
     │    ├── AuthenticationError       401: keys, company id or client id refused
     │    ├── PermissionDeniedError     403: the API user's role lacks access
     │    └── PaginationLoopError       the server handed out the same page twice
     ├── RetriableError                 back off and try again
     │    ├── RateLimitedError          429 (retry_after: seconds or None)
     │    ├── ServerError               5xx
     │    └── TransportError            timeouts, refused/reset/dropped connections, incomplete bodies
     └── RecordError                    this record failed: record it and go on
          ├── ValidationError           400 (errors: the remote field errors)
          ├── NotFoundError             404
          ├── ConflictError             409
          └── AmbiguousWriteError       a create whose outcome is unknown and could not be resolved

Other 4xx statuses (405, 415, 422 ...) are raised as a plain `RecordError`. `url` never carries credentials.
"""

from __future__ import annotations

import copy
from typing import Any, Self

import httpx

__all__ = [
    "AmbiguousWriteError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "CwsyncApiError",
    "FatalError",
    "NotFoundError",
    "PaginationLoopError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RecordError",
    "RetriableError",
    "ServerError",
    "TransportError",
    "ValidationError",
    "error_for_status",
    "redact_url",
    "status_line",
]


class CwsyncApiError(Exception):
    """Base of every API error: what went wrong, where, and what to do next."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
        request_id: str | None = None,
        method: str | None = None,
        url: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.field = field
        self.request_id = request_id
        self.method = method
        self.url = url
        self.hint = hint
        self.attempts = 1

    def __str__(self) -> str:
        return f"{self.summary}. {self.hint}" if self.hint else self.summary

    @property
    def summary(self) -> str:
        """What went wrong, where, and the details (status, code, field, request id), without the hint."""
        details = [f"HTTP {self.status}" if self.status is not None else None, self.code]
        details += [f"field {self.field}" if self.field else None]
        details += [f"request id {self.request_id}" if self.request_id else None]
        text = self.message
        if self.method and self.url:
            text = f"{self.method} {self.url}: {text}"
        shown = ", ".join(d for d in details if d)
        return f"{text} ({shown})" if shown else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, code={self.code!r})"

    def with_details(self, **changes: Any) -> Self:
        """A copy with some attributes replaced (e.g. a hint added by a caller that knows more)."""
        clone = copy.copy(self)
        for name, value in changes.items():
            if not hasattr(clone, name):
                raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")
            setattr(clone, name, value)
        clone.args = (clone.message,)
        return clone


class FatalError(CwsyncApiError):
    """Stop the run: nothing will work until the user fixes the setup."""


class ConfigurationError(FatalError):
    """The settings point at something that is not there (bad site, unknown company ...)."""


class AuthenticationError(FatalError):
    """401: the credentials were refused."""


class PermissionDeniedError(FatalError):
    """403: authenticated, but not allowed to do this."""


class PaginationLoopError(FatalError):
    """The server handed out a page (or page token) that was already read."""


class RetriableError(CwsyncApiError):
    """A transient fault: back off and try again."""


class RateLimitedError(RetriableError):
    """429: too many requests; `retry_after` is the server's hint in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ServerError(RetriableError):
    """5xx: the server failed."""


class TransportError(RetriableError):
    """No usable response: timeout, refused/reset/dropped connection or an incomplete body.

    `reached_server` is False only when the request certainly never left (connect failed or timed out,
    no pooled connection): then even a non-idempotent request is safe to send again.
    """

    def __init__(self, message: str, *, reached_server: bool = True, **details: Any) -> None:
        super().__init__(message, **details)
        self.reached_server = reached_server


class RecordError(CwsyncApiError):
    """This record (or request) failed; record it and go on with the rest."""


class ValidationError(RecordError):
    """400: the server refused the data; `errors` holds its field errors."""

    def __init__(self, message: str, *, errors: list[dict[str, Any]] | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.errors: list[dict[str, Any]] = errors or []


class NotFoundError(RecordError):
    """404: no such record (or resource)."""


class ConflictError(RecordError):
    """409: the record is in use or changed underneath us."""


class AmbiguousWriteError(RecordError):
    """A create may or may not have happened, and cwsync could not find out which."""


def error_for_status(
    status: int,
    message: str,
    *,
    errors: list[dict[str, Any]] | None = None,
    retry_after: float | None = None,
    **details: Any,
) -> CwsyncApiError:
    """The error class for an HTTP status ≥ 400, built with the details a connector parsed from the body."""
    if status == 400:
        return ValidationError(message, status=status, errors=errors, **details)
    if status == 429:
        return RateLimitedError(message, status=status, retry_after=retry_after, **details)
    if status >= 500:
        return ServerError(message, status=status, **details)
    return _class_for(status)(message, status=status, **details)


def _class_for(status: int) -> type[CwsyncApiError]:
    match status:
        case 401:
            return AuthenticationError
        case 403:
            return PermissionDeniedError
        case 404:
            return NotFoundError
        case 409:
            return ConflictError
        case _:
            return RecordError


def status_line(response: httpx.Response) -> str:
    """`HTTP 502 Bad Gateway`: what an answer without a usable error body is reported as."""
    return f"HTTP {response.status_code} {response.reason_phrase}".rstrip()


def redact_url(url: httpx.URL | str) -> str:
    """The URL as text without any user:password part."""
    if isinstance(url, httpx.URL) and not url.userinfo:
        return str(url)  # nothing to remove (parsing it again costs ~30 µs a request)
    parsed = httpx.URL(str(url))
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return str(parsed)
