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
from cwsync.connectors.hubspot.client import (
    BATCH_LIMIT,
    DEFAULT_ASSOCIATION_TYPES,
    OBJECT_TYPES,
    PRIMARY_ASSOCIATION_TYPES,
    PROPERTY_FIELD_TYPES,
    SEARCH_RESULT_CAP,
    BatchError,
    BatchResult,
    HubSpotClient,
    association_spec,
    last_modified_property,
    property_body,
)
from cwsync.connectors.hubspot.errors import (
    AmbiguousBatchWriteError,
    HubSpotConflictError,
    HubSpotPermissionDeniedError,
    HubSpotRateLimitedError,
    error_from_response,
)
from cwsync.connectors.hubspot.ratelimit import HubSpotPacer, SlidingWindow
from cwsync.connectors.hubspot.settings import HubSpotPaths, HubSpotSettings

__all__ = [
    "BATCH_LIMIT",
    "DEFAULT_ASSOCIATION_TYPES",
    "OBJECT_TYPES",
    "PRIMARY_ASSOCIATION_TYPES",
    "PROPERTY_FIELD_TYPES",
    "SEARCH_RESULT_CAP",
    "AmbiguousBatchWriteError",
    "AmbiguousWriteError",
    "AuthenticationError",
    "BatchError",
    "BatchResult",
    "ConfigurationError",
    "ConflictError",
    "CwsyncApiError",
    "FatalError",
    "HubSpotClient",
    "HubSpotConflictError",
    "HubSpotPacer",
    "HubSpotPaths",
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
    "error_from_response",
    "last_modified_property",
    "property_body",
]
