"""Indexed link look-ups by value (issue 19): a quote names its company by identifier, its contact by e-mail and its
products by identifier, and the workflow finds them in the links cwsync's syncs keep (pair `companies`:
`connectwise_company_id`, `contacts`: `email`, `catalog:products`: `hs_sku`, in `left_values`). Without an index
each look-up scanned every link of the pair (~23 ms of CPU per quote with 50,000 contacts linked). One partial
expression index per (pair, value): the tenant and the value lower-cased, over that pair's rows only, so the links
of every other pair pay nothing on write. `cwsync.store.models.LINK_VALUE_INDEXES` names them; the look-up
(`Reads.links_by_value`) spells the same expressions, which is what lets SQLite and PostgreSQL use them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index name, pair, left value): kept here as written, not imported, so the migration stays what it was.
INDEXES = (
    ("ix_links_companies_identifier", "companies", "connectwise_company_id"),
    ("ix_links_contacts_email", "contacts", "email"),
    ("ix_links_products_sku", "catalog:products", "hs_sku"),
)


def _value(dialect: str, field: str) -> str:
    """The indexed expression: the left value `field` as text, lower-cased."""
    if dialect == "postgresql":
        return f"lower(left_values ->> '{field}')"
    return f"lower(json_extract(left_values, '$.{field}'))"


def upgrade() -> None:
    """Create the three partial expression indexes."""
    dialect = op.get_bind().dialect.name
    for name, pair, field in INDEXES:
        op.execute(f"CREATE INDEX {name} ON links (tenant, {_value(dialect, field)}) WHERE pair = '{pair}'")


def downgrade() -> None:
    """Drop them (the look-ups scan the pair's links again)."""
    for name, _, _ in INDEXES:
        op.execute(f"DROP INDEX {name}")
