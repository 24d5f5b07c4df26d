"""Per-user tenant access (console, #14): `console_users.all_tenants` and `console_user_tenants`, the tenants a user
not granted every tenant may see. Users that exist keep every tenant (the column's default), so nothing changes
for them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add `console_users.all_tenants` (true for every user that exists) and create `console_user_tenants`."""
    op.add_column("console_users", sa.Column("all_tenants", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.create_table(
        "console_user_tenants",
        sa.Column("user_id", BIGINT_ID, nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "tenant", name="pk_console_user_tenants"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["console_users.id"], name="fk_console_user_tenants_user_id_console_users", ondelete="CASCADE"
        ),
    )


def downgrade() -> None:
    """Drop `console_user_tenants` and `console_users.all_tenants` (every user sees every tenant again)."""
    op.drop_table("console_user_tenants")
    with op.batch_alter_table("console_users") as batch:
        batch.drop_column("all_tenants")
