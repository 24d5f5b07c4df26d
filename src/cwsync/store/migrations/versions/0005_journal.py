"""Journal: what a run or a workflow is about to write, and what it wrote, per record and step.

The engine notes an intent before it creates a record in a system that has no idempotency key (Hudu assets,
HubSpot products, ConnectWise opportunities and forecast lines); the entry is cleared in the same transaction that
records the link. An intent still there at the next run means the write may have happened with its answer lost (a
killed process, a dropped response): the engine looks the record up before it creates it again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Create `journal`."""
    op.create_table(
        "journal",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(128), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(255), nullable=True),
        sa.Column("data", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_journal"),
        sa.UniqueConstraint("tenant", "scope", "key", "step", name="uq_journal_tenant_scope_key_step"),
    )


def downgrade() -> None:
    """Drop `journal`."""
    op.drop_table("journal")
