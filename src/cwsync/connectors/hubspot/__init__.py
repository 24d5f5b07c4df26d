"""HubSpot CRM connector: `HubSpotClient` over the shared HTTP layer, with header-driven pacing.

Errors are the shared tree from `cwsync.connectors.http` (re-exported here), plus HubSpot subclasses that carry
`missing_scopes`, `existing_id` and `policy_name`.
"""

from cwsync.connectors.http import (
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
from cwsync.connectors.hubspot.client import BatchResult, HubSpotClient, association_spec
from cwsync.connectors.hubspot.errors import (
    AmbiguousBatchWriteError,
    HubSpotConflictError,
    HubSpotPermissionDeniedError,
    HubSpotRateLimitedError,
)
from cwsync.connectors.hubspot.ratelimit import HubSpotPacer, SlidingWindow
from cwsync.connectors.hubspot.settings import HubSpotSettings

__all__ = [
    "AmbiguousBatchWriteError",
    "AmbiguousWriteError",
    "AuthenticationError",
    "BatchResult",
    "ConfigurationError",
    "ConflictError",
    "CwsyncApiError",
    "FatalError",
    "HubSpotClient",
    "HubSpotConflictError",
    "HubSpotPacer",
    "HubSpotPermissionDeniedError",
    "HubSpotRateLimitedError",
    "HubSpotSettings",
    "NotFoundError",
    "PaginationLoopError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RecordError",
    "RetriableError",
    "ServerError",
    "SlidingWindow",
    "TransportError",
    "ValidationError",
    "association_spec",
]
