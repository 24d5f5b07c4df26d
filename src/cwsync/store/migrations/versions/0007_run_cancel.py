"""Run cancel: `runs.cancel_requested_at`, set by `cwsync runs cancel` or `POST /api/runs/{id}/cancel`.

A running sync polls it once per page (from any process: it is a column of the shared store) and stops at that
page boundary, ending the run as `cancelled` with what it did so far recorded and its cursor where it was.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `runs.cancel_requested_at` (NULL: no cancel asked)."""
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop `runs.cancel_requested_at`."""
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("cancel_requested_at")
