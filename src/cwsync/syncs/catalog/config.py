"""The catalog sync's configuration (`syncs.catalog`): moved to `cwsync.config.catalog`, as the config layer holds
every section of the file. Re-exported here, so existing imports keep working.
"""

from cwsync.config.catalog import (
    DEFAULT_COMPANY_TYPE_PRIORITY,
    STATUS_ACTIONS,
    CatalogSchedule,
    CatalogSync,
    lookup,
)

__all__ = [
    "DEFAULT_COMPANY_TYPE_PRIORITY",
    "STATUS_ACTIONS",
    "CatalogSchedule",
    "CatalogSync",
    "lookup",
]
