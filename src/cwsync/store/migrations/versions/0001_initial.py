"""Initial store: links, cursors, runs, run_items, connections.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out here rather than imported from models.py: a migration is frozen in time, the models move on.
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite auto-increments only INTEGER PKs
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def _id() -> sa.Column[int]:
    return sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True)


def _tenant_pair() -> list[sa.Column[str]]:
    return [sa.Column("tenant", sa.String(64), nullable=False), sa.Column("pair", sa.String(128), nullable=False)]


def upgrade() -> None:
    """Create the five tables and their indexes."""
    _create_links()
    _create_cursors()
    _create_runs()
    _create_run_items()
    _create_connections()


def downgrade() -> None:
    """Drop everything this revision created."""
    for table in ("connections", "run_items", "runs", "cursors", "links"):
        op.drop_table(table)


def _create_links() -> None:
    op.create_table(
        "links",
        _id(),
        *_tenant_pair(),
        sa.Column("left_id", sa.String(255), nullable=False),
        sa.Column("right_id", sa.String(255), nullable=False),
        sa.Column("match_key", sa.String(128), nullable=True),
        sa.Column("left_values", JSON, nullable=False),
        sa.Column("right_values", JSON, nullable=False),
        sa.Column("left_hash", sa.String(128), nullable=False),
        sa.Column("right_hash", sa.String(128), nullable=False),
        sa.Column("last_writer", sa.String(8), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("synced_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_links"),
        sa.UniqueConstraint("tenant", "pair", "left_id", name="uq_links_tenant_pair_left_id"),
        sa.UniqueConstraint("tenant", "pair", "right_id", name="uq_links_tenant_pair_right_id"),
    )
    op.create_index("ix_links_tenant_pair_id", "links", ["tenant", "pair", "id"])


def _create_cursors() -> None:
    op.create_table(
        "cursors",
        *_tenant_pair(),
        sa.Column("side", sa.String(8), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant", "pair", "side", name="pk_cursors"),
    )


def _create_runs() -> None:
    op.create_table(
        "runs",
        _id(),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("pairs", JSON, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_tenant_status", "runs", ["tenant", "status"])


def _create_run_items() -> None:
    op.create_table(
        "run_items",
        _id(),
        sa.Column("run_id", BIGINT_ID, nullable=False),
        *_tenant_pair(),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("left_id", sa.String(255), nullable=True),
        sa.Column("right_id", sa.String(255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("diff", JSON, nullable=False),
        sa.Column("source_values", JSON, nullable=False),
        sa.Column("remote_status", sa.Integer(), nullable=True),
        sa.Column("remote_response", JSON, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_run_items"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_items_run_id_runs", ondelete="CASCADE"),
    )
    op.create_index("ix_run_items_run_id", "run_items", ["run_id"])
    op.create_index("ix_run_items_tenant_pair_left_id", "run_items", ["tenant", "pair", "left_id"])
    op.create_index("ix_run_items_tenant_pair_right_id", "run_items", ["tenant", "pair", "right_id"])


def _create_connections() -> None:
    op.create_table(
        "connections",
        _id(),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("secret_blob", sa.LargeBinary(), nullable=False),
        sa.Column("public_config", JSON, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_connections"),
        sa.UniqueConstraint("tenant", "name", name="uq_connections_tenant_name"),
    )
