"""ConnectWise Manage (PSA) connector: `ConnectWiseClient` over the shared HTTP layer.

Errors are the shared tree from `cwsync.connectors.http` (re-exported here for convenience).
"""

from cwsync.connectors.connectwise.client import (
    NATURAL_KEYS,
    Conditions,
    ConnectWiseClient,
    Fields,
    PatchOp,
    replace_ops,
)
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
    error_from_response,
)
from cwsync.connectors.connectwise.settings import ConnectWiseSettings, SiteAddress, normalize_site

__all__ = [
    "NATURAL_KEYS",
    "AmbiguousWriteError",
    "AuthenticationError",
    "CompanyInfo",
    "Conditions",
    "ConfigurationError",
    "ConflictError",
    "ConnectWiseClient",
    "ConnectWiseSettings",
    "CwsyncApiError",
    "FatalError",
    "Fields",
    "NotFoundError",
    "PaginationLoopError",
    "PatchOp",
    "PermissionDeniedError",
    "RateLimitedError",
    "RecordError",
    "RetriableError",
    "ServerError",
    "SiteAddress",
    "TransportError",
    "ValidationError",
    "error_from_response",
    "normalize_site",
    "replace_ops",
]
