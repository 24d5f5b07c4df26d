"""The SQL mirror: ConnectWise companies, contacts, configurations, opportunities and tickets as tables.

One table per object with its mapped columns (text, canonical values), the record's `last_updated` and its whole
JSON as `raw`, keyed by (tenant, id), so an MSP can report on ConnectWise data with plain SQL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from cwsync.store.mirror import MIRROR_COLUMNS

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create one `cw_<object>` table per mirrored object."""
    for table, columns in MIRROR_COLUMNS.items():
        op.create_table(
            table,
            sa.Column("tenant", sa.String(64), nullable=False),
            sa.Column("id", sa.BigInteger(), nullable=False),
            *(sa.Column(name, sa.Text(), nullable=True) for name in columns),
            sa.Column("last_updated", TIMESTAMP, nullable=True),
            sa.Column("raw", JSON, nullable=False),
            sa.Column("synced_at", TIMESTAMP, nullable=False),
            sa.PrimaryKeyConstraint("tenant", "id", name=f"pk_{table}"),
        )


def downgrade() -> None:
    """Drop the mirror tables."""
    for table in MIRROR_COLUMNS:
        op.drop_table(table)
