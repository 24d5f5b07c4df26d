"""The Hudu sync's configuration (`connections.hudu`, `syncs.hudu`): moved to `cwsync.config.hudu`, as the config
layer holds every section of the file. Re-exported here, so existing imports keep working.
"""

from cwsync.config.hudu import (
    CALLBACK_DATA_TYPES,
    DATA_TYPES,
    DataType,
    HuduConnection,
    HuduLayouts,
    HuduSchedule,
    HuduSync,
    SortRule,
)

__all__ = [
    "CALLBACK_DATA_TYPES",
    "DATA_TYPES",
    "DataType",
    "HuduConnection",
    "HuduLayouts",
    "HuduSchedule",
    "HuduSync",
    "SortRule",
]
