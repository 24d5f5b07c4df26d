"""Devices: ConnectWise configurations held as a device inventory, and the devices a change mentions (CB-7).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# As in 0003: the tables are declared in `cwsync.store.changes_tables`; the schema below is spelled out.

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments only INTEGER PKs
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create `devices` and `change_devices`."""
    op.create_table(
        "devices",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("cw_id", sa.BigInteger(), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("device_type", sa.String(100), nullable=False),
        sa.Column("cw_type", sa.String(100), nullable=False),
        sa.Column("company_id", sa.BigInteger(), nullable=True),
        sa.Column("company", sa.String(255), nullable=True),
        sa.Column("serial", sa.String(255), nullable=True),
        sa.Column("status", sa.String(100), nullable=True),
        sa.Column("cw_last_updated", TIMESTAMP, nullable=True),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("tenant", "cw_id", name="uq_devices_tenant_cw_id"),
    )
    op.create_index("ix_devices_tenant_hostname", "devices", ["tenant", "hostname"])
    op.create_table(
        "change_devices",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("change_id", sa.String(100), nullable=False),
        sa.Column("cw_id", sa.BigInteger(), nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("linked_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_devices"),
        sa.UniqueConstraint("tenant", "change_id", "cw_id", name="uq_change_devices_tenant_change_id_cw_id"),
    )
    op.create_index("ix_change_devices_tenant_cw_id", "change_devices", ["tenant", "cw_id"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("change_devices")
    op.drop_index("ix_devices_tenant_hostname", table_name="devices")
    op.drop_table("devices")
