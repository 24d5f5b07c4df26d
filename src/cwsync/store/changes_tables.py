"""The change workflow's tables, declared on the store's `Base` (migrations `0003_changes` and `0004_devices`).

`cwsync.store` imports this module, so the tables are in `cwsync.store.models.Base.metadata` whenever anything of the
store is loaded (the store's "models describe the migrated schema" check compares them). `cwsync.store.changes_tables`
re-exports them for the workflow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Table, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from cwsync.store.models import Base, BigIntId, NullableJson

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


class ChangeRow(Base):
    """A change of the change tool, linked to one ConnectWise ticket."""

    __tablename__ = "changes"
    __table_args__ = (
        UniqueConstraint("tenant", "change_id", name="uq_changes_tenant_change_id"),
        Index("ix_changes_tenant_ticket_id", "tenant", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    change_id: Mapped[str] = mapped_column(String(100))
    company: Mapped[str] = mapped_column(String(128))
    cw_company_id: Mapped[int] = mapped_column(BigInteger)
    ticket_id: Mapped[int] = mapped_column(BigInteger)
    board: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ChangeEventRow(Base):
    """An event of a change: `applying` while its writes run (`journal` holds the finished ones), then `applied`."""

    __tablename__ = "change_events"
    __table_args__ = (
        UniqueConstraint("tenant", "change_id", "event_id", name="uq_change_events_tenant_change_id_event_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    change_id: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    payload_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    journal: Mapped[dict[str, Any]]
    result: Mapped[Any | None] = mapped_column(NullableJson)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class DeviceRow(Base):
    """A ConnectWise configuration of a mapped type, held as a device (CB-7); `hostname` is its name lower-cased."""

    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("tenant", "cw_id", name="uq_devices_tenant_cw_id"),
        Index("ix_devices_tenant_hostname", "tenant", "hostname"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    cw_id: Mapped[int] = mapped_column(BigInteger)
    hostname: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    device_type: Mapped[str] = mapped_column(String(100))
    cw_type: Mapped[str] = mapped_column(String(100))
    company_id: Mapped[int | None] = mapped_column(BigInteger)
    company: Mapped[str | None] = mapped_column(String(255))
    serial: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str | None] = mapped_column(String(100))
    cw_last_updated: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    deleted: Mapped[bool] = mapped_column(Boolean, server_default=false())
    """Its configuration was deleted in ConnectWise and `on_delete: ignore` kept the device (migration
    `0010_device_deleted`); cleared when the configuration comes back."""


class ChangeDeviceRow(Base):
    """A device mentioned (`@hostname`) in a change's text."""

    __tablename__ = "change_devices"
    __table_args__ = (
        UniqueConstraint("tenant", "change_id", "cw_id", name="uq_change_devices_tenant_change_id_cw_id"),
        Index("ix_change_devices_tenant_cw_id", "tenant", "cw_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    change_id: Mapped[str] = mapped_column(String(100))
    cw_id: Mapped[int] = mapped_column(BigInteger)
    hostname: Mapped[str] = mapped_column(String(255))
    event_id: Mapped[str] = mapped_column(String(200))
    linked_at: Mapped[datetime]


CHANGES: Table = ChangeRow.__table__  # type: ignore[assignment]
CHANGE_EVENTS: Table = ChangeEventRow.__table__  # type: ignore[assignment]
DEVICES: Table = DeviceRow.__table__  # type: ignore[assignment]
CHANGE_DEVICES: Table = ChangeDeviceRow.__table__  # type: ignore[assignment]
