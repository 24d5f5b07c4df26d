"""Jobs: the durable queue of the in-process runner.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here rather than imported from models.py: a migration is frozen in time, the models move on.
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments only INTEGER PKs
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
QUEUED = sa.text("status = 'queued'")


def upgrade() -> None:
    """Create `jobs`, its claim index and the partial unique index that coalesces queued jobs."""
    op.create_table(
        "jobs",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("pair", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("record", sa.String(255), nullable=True),
        sa.Column("queueing_key", sa.String(512), nullable=True),
        sa.Column("lock_key", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", TIMESTAMP, nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("heartbeat_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_status_id", "jobs", ["status", "id"])
    op.create_index(
        "uq_jobs_queueing_key_queued",
        "jobs",
        ["queueing_key"],
        unique=True,
        sqlite_where=QUEUED,
        postgresql_where=QUEUED,
    )


def downgrade() -> None:
    """Drop `jobs` (its indexes go with it)."""
    op.drop_table("jobs")
