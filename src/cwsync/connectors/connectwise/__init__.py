"""ConnectWise Manage (PSA) connector: `ConnectWiseClient` over the shared HTTP layer.

Errors are the shared tree from `cwsync.connectors.http` (re-exported here for convenience).
"""

from cwsync.connectors.connectwise.client import ConnectWiseClient, PatchOp, replace_ops
from cwsync.connectors.connectwise.discovery import CompanyInfo
from cwsync.connectors.connectwise.errors import (
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
)
from cwsync.connectors.connectwise.settings import ConnectWiseSettings, normalize_site

__all__ = [
    "AmbiguousWriteError",
    "AuthenticationError",
    "CompanyInfo",
    "ConfigurationError",
    "ConflictError",
    "ConnectWiseClient",
    "ConnectWiseSettings",
    "CwsyncApiError",
    "FatalError",
    "NotFoundError",
    "PaginationLoopError",
    "PatchOp",
    "PermissionDeniedError",
    "RateLimitedError",
    "RecordError",
    "RetriableError",
    "ServerError",
    "TransportError",
    "ValidationError",
    "normalize_site",
    "replace_ops",
]
