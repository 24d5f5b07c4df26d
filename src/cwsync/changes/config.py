"""The `changes:` section of the configuration: moved to `cwsync.config.changes`, as the config layer holds every
section of the file. Re-exported here, so existing imports keep working.
"""

from cwsync.config.changes import (
    LIFECYCLE_EVENTS,
    ChangeCompany,
    ChangesConfig,
    DeviceSchedule,
    DevicesConfig,
    LifecycleEvent,
    NoteOptions,
    StatusMap,
    TimeOptions,
)

__all__ = [
    "LIFECYCLE_EVENTS",
    "ChangeCompany",
    "ChangesConfig",
    "DeviceSchedule",
    "DevicesConfig",
    "LifecycleEvent",
    "NoteOptions",
    "StatusMap",
    "TimeOptions",
]
