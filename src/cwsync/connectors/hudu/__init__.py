"""Hudu connector: `HuduClient` over the shared HTTP layer, paced under Hudu's 300 requests a minute.

Errors are the shared tree from `cwsync.connectors.http` (re-exported here); `errors.error_from_response` maps
Hudu's bodies onto it (401 → `AuthenticationError` with a hint, 422 → `ValidationError`, 429 → `RateLimitedError`).
"""

from cwsync.connectors.http import (
    AuthenticationError,
    ConfigurationError,
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
)
from cwsync.connectors.hudu.client import HuduClient, custom_fields_body, field_values, label_key
from cwsync.connectors.hudu.settings import HuduSettings

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "CwsyncApiError",
    "FatalError",
    "HuduClient",
    "HuduSettings",
    "NotFoundError",
    "PaginationLoopError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RecordError",
    "RetriableError",
    "ServerError",
    "TransportError",
    "ValidationError",
    "custom_fields_body",
    "field_values",
    "label_key",
]
