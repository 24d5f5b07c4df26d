"""The change workflow's tables moved to `cwsync.store.changes_tables` (the store declares every table; it imported
this module, an import cycle). Re-exported here, so existing imports keep working."""

from cwsync.store.changes_tables import (
    CHANGE_DEVICES,
    CHANGE_EVENTS,
    CHANGES,
    DEVICES,
    ChangeDeviceRow,
    ChangeEventRow,
    ChangeRow,
    DeviceRow,
)

__all__ = [
    "CHANGES",
    "CHANGE_DEVICES",
    "CHANGE_EVENTS",
    "DEVICES",
    "ChangeDeviceRow",
    "ChangeEventRow",
    "ChangeRow",
    "DeviceRow",
]
