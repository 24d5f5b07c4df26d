"""The HTTP layer every connector shares: one executor, one error tree, one retry policy, one paginator.

See `errors` for the error tree and `retry` for the policy; `HttpApi` puts them together over an
`httpx.AsyncClient`.
"""

from cwsync.connectors.http.bodies import json_of
from cwsync.connectors.http.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    CwsyncApiError,
    FatalError,
    NotFoundError,
    PaginationLoopError,
    PermissionDeniedError,
    RateLimitedError,
    RecordError,
    RetriableError,
    ServerError,
    TransportError,
    ValidationError,
    error_for_status,
    redact_url,
)
from cwsync.connectors.http.limits import RequestLimits
from cwsync.connectors.http.paging import Paginator, next_link
from cwsync.connectors.http.retry import (
    RetryPolicy,
    Sleep,
    SleepRecorder,
    compute_delay,
    is_safe_to_resend,
    parse_retry_after,
)
from cwsync.connectors.http.transport import HttpApi

__all__ = [
    "AmbiguousWriteError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "CwsyncApiError",
    "FatalError",
    "HttpApi",
    "NotFoundError",
    "PaginationLoopError",
    "Paginator",
    "PermissionDeniedError",
    "RateLimitedError",
    "RecordError",
    "RequestLimits",
    "RetriableError",
    "RetryPolicy",
    "ServerError",
    "Sleep",
    "SleepRecorder",
    "TransportError",
    "ValidationError",
    "compute_delay",
    "error_for_status",
    "is_safe_to_resend",
    "json_of",
    "next_link",
    "parse_retry_after",
    "redact_url",
]
