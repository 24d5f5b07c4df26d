"""SQLAlchemy 2 declarative tables of the store. Private to `cwsync.store`: nothing else sees these rows.

The schema itself is owned by the Alembic migrations in `migrations/versions`; these classes must describe the
same tables (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

__all__ = [
    "LINK_VALUE_INDEXES",
    "Base",
    "ConnectionRow",
    "CursorRow",
    "JobRow",
    "JournalRow",
    "LeftValue",
    "LinkRow",
    "RunItemRow",
    "RunRow",
    "UTCDateTime",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")
# Python None is SQL NULL here (not the JSON literal `null`), so "no remote answer" reads back as None.
NullableJson = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; `timestamptz` on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware datetimes")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so constraint names are stable across backends."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: Json, list[Any]: Json}


class LeftValue(FunctionElement[str]):
    """A link's left value `field` as text, lower-cased: the expression of the link value indexes (migration 0012).

    Spelled per dialect, as the indexes were created, with the field as a literal (never a bound parameter): SQLite
    and PostgreSQL use an expression index only for the same expression."""

    type = String()
    inherit_cache = True
    name = "left_value"

    def __init__(self, field: str) -> None:
        if not field.replace("_", "").isalnum():
            raise ValueError(f"not a link value field: {field!r}")
        super().__init__(literal_column(f"'{field}'"))


def _field(element: LeftValue, compiler: SQLCompiler, **kw: Any) -> str:
    """The field named by `element` (its one argument, the literal `'field'`, compiled as it is)."""
    return compiler.process(element.clauses, **kw).strip("'")


@compiles(LeftValue)
def _left_value_sqlite(element: LeftValue, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower(json_extract(left_values, '$.{_field(element, compiler, **kw)}'))"


@compiles(LeftValue, "postgresql")
def _left_value_postgresql(element: LeftValue, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower(left_values ->> '{_field(element, compiler, **kw)}')"


LINK_VALUE_INDEXES: dict[tuple[str, str], str] = {
    ("companies", "connectwise_company_id"): "ix_links_companies_identifier",
    ("contacts", "email"): "ix_links_contacts_email",
    ("catalog:products", "hs_sku"): "ix_links_products_sku",
}
"""(pair, left value) → the partial index that finds a pair's links by that value (the quote workflow's look-ups
of a company by identifier, a contact by e-mail, a product by identifier)."""


def _value_index(pair: str, field: str, name: str) -> Index:
    where = text(f"pair = '{pair}'")
    return Index(name, "tenant", LeftValue(field), sqlite_where=where, postgresql_where=where)


class LinkRow(Base):
    """A left record linked to a right record, with the last-synced projections of both."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("tenant", "pair", "left_id", name="uq_links_tenant_pair_left_id"),
        UniqueConstraint("tenant", "pair", "right_id", name="uq_links_tenant_pair_right_id"),
        Index("ix_links_tenant_pair_id", "tenant", "pair", "id"),
        *(_value_index(pair, field, name) for (pair, field), name in LINK_VALUE_INDEXES.items()),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    pair: Mapped[str] = mapped_column(String(128))
    left_id: Mapped[str] = mapped_column(String(255))
    right_id: Mapped[str] = mapped_column(String(255))
    match_key: Mapped[str | None] = mapped_column(String(128))
    left_values: Mapped[dict[str, Any]]
    right_values: Mapped[dict[str, Any]]
    left_hash: Mapped[str] = mapped_column(String(128))
    right_hash: Mapped[str] = mapped_column(String(128))
    last_writer: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    synced_at: Mapped[datetime]


class CursorRow(Base):
    """A side's watermark for a pair (advanced only after the batch it covers is committed)."""

    __tablename__ = "cursors"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    pair: Mapped[str] = mapped_column(String(128), primary_key=True)
    side: Mapped[str] = mapped_column(String(8), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class RunRow(Base):
    """One run of one or more pairs."""

    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_tenant_status", "tenant", "status"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    pairs: Mapped[list[Any]]
    kind: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    counts: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested_at: Mapped[datetime | None]
    """Set by a cancel request (migration 0007); the run polls it at each page boundary."""


class RunItemRow(Base):
    """One record's decision in a run (the audit trail `explain` reads)."""

    __tablename__ = "run_items"
    __table_args__ = (
        Index("ix_run_items_run_id", "run_id"),
        Index("ix_run_items_tenant_pair_left_id", "tenant", "pair", "left_id"),
        Index("ix_run_items_tenant_pair_right_id", "tenant", "pair", "right_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("runs.id", ondelete="CASCADE"))
    tenant: Mapped[str] = mapped_column(String(64))
    pair: Mapped[str] = mapped_column(String(128))
    direction: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    left_id: Mapped[str | None] = mapped_column(String(255))
    right_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    diff: Mapped[dict[str, Any]]
    source_values: Mapped[dict[str, Any]]
    remote_status: Mapped[int | None] = mapped_column(Integer)
    remote_response: Mapped[Any | None] = mapped_column(NullableJson)
    created_at: Mapped[datetime]


class ConnectionRow(Base):
    """Stored credentials for a connector: `secret_blob` arrives already encrypted by the caller."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("tenant", "name", name="uq_connections_tenant_name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    secret_blob: Mapped[bytes] = mapped_column(LargeBinary)
    public_config: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class JobRow(Base):
    """A job of the in-process queue (the distributed runner keeps its own tables)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_id", "status", "id"),
        # At most one *queued* job per queueing key: enqueue coalesces into it (ON CONFLICT DO NOTHING).
        Index(
            "uq_jobs_queueing_key_queued",
            "queueing_key",
            unique=True,
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    pair: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    record: Mapped[str | None] = mapped_column(String(255))
    queueing_key: Mapped[str | None] = mapped_column(String(512))
    lock_key: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    run_after: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None]


class JournalRow(Base):
    """An intent or a finished step of a run or workflow, per (scope, key, step): see migration 0005."""

    __tablename__ = "journal"
    __table_args__ = (UniqueConstraint("tenant", "scope", "key", "step", name="uq_journal_tenant_scope_key_step"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(255))
    step: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    record_id: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]
