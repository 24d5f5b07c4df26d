"""The change workflow's tables, declared on the store's `Base` (their schema is migration `0003_changes`).

Importing this module registers the tables in `cwsync.store.models.Base.metadata`; the migration imports it too, so
the store's "models describe the migrated schema" check sees them whenever the store has been migrated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cwsync.store.models import Base, BigIntId, NullableJson

__all__ = ["CHANGES", "CHANGE_EVENTS", "ChangeEventRow", "ChangeRow"]


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


CHANGES: Table = ChangeRow.__table__  # type: ignore[assignment]
CHANGE_EVENTS: Table = ChangeEventRow.__table__  # type: ignore[assignment]
