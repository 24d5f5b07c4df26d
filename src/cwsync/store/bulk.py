"""Bulk inserts and upserts of whole rows, as one driver-level `executemany` on SQLite.

SQLAlchemy's executemany builds a parameter dictionary per row (`construct_params`) and runs every bind processor
through it: about half of the CPU of recording a 20k-record first sync went there. Here the statement text is
built once per table and kind, each column's own bind processor (the same SQLAlchemy uses: JSON text, SQLite's
datetime format, the UTC rule of `UTCDateTime`) is resolved once per dialect, and the rows go to the driver as
tuples. A value that repeats row after row (a batch's `now`) is converted once. PostgreSQL keeps SQLAlchemy's own
path: asyncpg's executemany already sends the rows in one round trip and its processors are few.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["bulk_insert"]

Processor = Callable[[Any], Any] | None
_Key = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_PLANS: dict[_Key, tuple[str, list[str], list[Processor]]] = {}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plan(
    table: Table, dialect: Dialect, columns: tuple[str, ...], conflict: tuple[str, ...], kept: tuple[str, ...]
) -> tuple[str, list[str], list[Processor]]:
    key = (table.name, dialect.name, columns, conflict, kept)
    plan = _PLANS.get(key)
    if plan is None:
        names = ", ".join(_quote(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        sql = f"INSERT INTO {_quote(table.name)} ({names}) VALUES ({marks})"
        if conflict:
            updated = [c for c in columns if c not in conflict and c not in kept]
            sets = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in updated)
            target = ", ".join(_quote(c) for c in conflict)
            sql += f" ON CONFLICT ({target}) DO " + (f"UPDATE SET {sets}" if sets else "NOTHING")
        processors: list[Processor] = [
            cast(Processor, table.c[c].type.dialect_impl(dialect).bind_processor(dialect)) for c in columns
        ]
        plan = (sql, list(columns), processors)
        _PLANS[key] = plan
    return plan


def _converted(process: Processor) -> Callable[[Any], Any] | None:
    """`process`, remembering its last answer: the rows of one batch often share a value (their timestamp)."""
    if process is None:
        return None
    last: list[Any] = [object(), None]

    def convert(value: Any) -> Any:
        if value is last[0]:
            return last[1]
        result = process(value)
        last[0], last[1] = value, result
        return result

    return convert


async def bulk_insert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] = (),
    kept: Sequence[str] = (),
) -> None:
    """Insert `rows` (every row with the same keys) into `table`; with `conflict` (the columns of a unique index),
    update the existing row instead, every column but `conflict` and `kept` taking the new value.

    On SQLite the rows go to the driver as one executemany of tuples; on PostgreSQL through SQLAlchemy's insert
    (`ON CONFLICT … DO UPDATE` with `conflict`)."""
    if not rows:
        return
    dialect = conn.dialect
    columns = tuple(rows[0])
    if dialect.name != "sqlite":
        await _generic(conn, table, rows, conflict, kept)
        return
    sql, names, processors = _plan(table, dialect, columns, tuple(conflict), tuple(kept))
    converters = [_converted(p) for p in processors]
    pairs = list(zip(names, converters, strict=True))
    params = [tuple(row[n] if c is None else c(row[n]) for n, c in pairs) for row in rows]
    await conn.exec_driver_sql(sql, params)


async def _generic(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], conflict: Sequence[str], kept: Sequence[str]
) -> None:
    if not conflict:
        await conn.execute(insert(table), list(rows))
        return
    statement: Any = pg_insert(table)
    skip = {*conflict, *kept}
    changes = {c: statement.excluded[c] for c in rows[0] if c not in skip}
    upsert = (
        statement.on_conflict_do_update(index_elements=list(conflict), set_=changes)
        if changes
        else statement.on_conflict_do_nothing(index_elements=list(conflict))
    )
    await conn.execute(upsert, list(rows))
