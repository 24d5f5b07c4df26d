"""The SQL mirror's tables (`cw_companies`, ...): written by the mirror integration, read by anyone with SQL.

The columns are declared once here (`MIRROR_COLUMNS`): the migration creates them and the tables below describe
them. Every mapped column is text holding the canonical value; `raw` keeps the whole ConnectWise record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON as SA_JSON
from sqlalchemy import BigInteger, Column, PrimaryKeyConstraint, String, Table, Text, delete, select
from sqlalchemy.dialects.postgresql import JSONB

from cwsync.store.models import Base, UTCDateTime

__all__ = ["MIRROR_COLUMNS", "MIRROR_TABLES", "mirror_table"]

MIRROR_COLUMNS: dict[str, tuple[str, ...]] = {
    "cw_companies": (
        "identifier", "name", "status", "type", "phone", "website", "address", "city", "state", "zip", "country",
        "deleted",
    ),
    "cw_contacts": ("first_name", "last_name", "title", "email", "phone", "company_id", "inactive"),
    "cw_configurations": ("name", "type", "status", "company_id", "serial_number", "model_number", "contact_id"),
    "cw_opportunities": ("name", "status", "stage", "type", "company_id", "contact_id", "sales_rep", "close_date"),
    "cw_tickets": ("summary", "board", "status", "priority", "type", "company_id", "contact_id", "closed"),
}  # fmt: skip

_json = SA_JSON().with_variant(JSONB(), "postgresql")
MIRROR_TABLES: dict[str, Table] = {
    name: Table(
        name,
        Base.metadata,
        Column("tenant", String(64), nullable=False),
        Column("id", BigInteger(), nullable=False),
        *(Column(column, Text(), nullable=True) for column in columns),
        Column("last_updated", UTCDateTime(), nullable=True),
        Column("raw", _json, nullable=False),
        Column("synced_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("tenant", "id", name=f"pk_{name}"),
    )
    for name, columns in MIRROR_COLUMNS.items()
}


def mirror_table(name: str) -> Table:
    """The table `name` (KeyError for an unknown one)."""
    return MIRROR_TABLES[name]


def row_values(
    table: Table, tenant: str, record_id: str, values: Mapping[str, Any], raw: Mapping[str, Any], updated: Any
) -> dict[str, Any]:
    """A row for an upsert: the table's mapped columns from `values`, the rest as given."""
    row: dict[str, Any] = {c: values.get(c) for c in MIRROR_COLUMNS[table.name]}
    row.update(tenant=tenant, id=int(record_id), raw=dict(raw), last_updated=updated, synced_at=datetime.now(UTC))
    return row


def existing_ids(table: Table, tenant: str, ids: Iterable[str]) -> Any:
    """SELECT the ids among `ids` that have a row."""
    return select(table.c.id).where(table.c.tenant == tenant, table.c.id.in_([int(i) for i in ids]))


def delete_rows(table: Table, tenant: str, ids: Sequence[str]) -> Any:
    """DELETE the rows of these ids."""
    return delete(table).where(table.c.tenant == tenant, table.c.id.in_([int(i) for i in ids]))
