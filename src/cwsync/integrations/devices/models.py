"""The device table's values (CB-7): a configuration held as a device, a device with its changes, a sync's report."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Device", "DeviceSyncReport", "DeviceView"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Device(_Model):
    """A ConnectWise configuration held as a device (CB-7)."""

    cw_id: int = Field(description="the ConnectWise configuration id")
    hostname: str = Field(description="the configuration name, lower-cased (how devices are looked up)")
    name: str
    device_type: str
    cw_type: str = Field(description="the ConnectWise configuration type")
    company_id: int | None = None
    company: str | None = Field(None, description="the ConnectWise company identifier")
    serial: str | None = None
    status: str | None = None
    cw_last_updated: datetime | None = None
    updated_at: datetime | None = None
    deleted: bool = Field(
        False, description="its configuration was deleted in ConnectWise; kept by `on_delete: ignore`"
    )


class DeviceView(_Model):
    """A device and the changes that mention it."""

    device: Device
    changes: list[str] = Field(default_factory=list)


class DeviceSyncReport(_Model):
    """What one device sync run did."""

    run_id: int
    kind: Literal["full", "incremental", "record"]
    since: str | None = Field(None, description="incremental: configurations updated at or after this were read")
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0
    pages: int = 0
    skipped_types: dict[str, int] = Field(default_factory=dict, description="unmapped configuration type -> count")
    cancelled: bool = Field(False, description="stopped at a page boundary on request (`cwsync runs cancel`)")
