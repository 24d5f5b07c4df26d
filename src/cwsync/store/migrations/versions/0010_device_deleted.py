"""Device deleted: `devices.deleted`, set when a device's configuration is deleted in ConnectWise and the device sync
keeps the row (`syncs.changes.devices.on_delete: ignore`); cleared when the configuration comes back.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `devices.deleted` (false for every device held)."""
    with op.batch_alter_table("devices") as batch:
        batch.add_column(sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    """Drop `devices.deleted`."""
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("deleted")
