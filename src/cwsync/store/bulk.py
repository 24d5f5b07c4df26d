"""Bulk inserts and upserts of whole rows, as one driver-level `executemany` on SQLite.

SQLAlchemy's executemany builds a parameter dictionary per row (`construct_params`) and runs every bind processor
through it: about half of the CPU of recording a 20k-record first sync went there. Here the statement text is
built once per table and kind, each column's own bind processor (the same SQLAlchemy uses: JSON text, SQLite's
datetime format, the UTC rule of `UTCDateTime`) is resolved once per dialect, and the rows go to the driver as
tuples, converted a column at a time. A value that repeats row after row (a batch's `now`) is converted once; a
plain dict bound to a JSON column goes straight to orjson (the same JSON data as SQLAlchemy's `json.dumps`, in
compact form and with text as UTF-8 rather than `\\u` escapes; what orjson cannot encode goes to `json.dumps`), and
an aware datetime to SQLite's text in one
`isoformat` call (each gives what SQLAlchemy's own processor gives: `tests/store/test_bulk.py`). Rows come as
dictionaries, or as tuples in the order of `columns` (what a caller writing thousands of rows builds most
cheaply). PostgreSQL keeps SQLAlchemy's own path: asyncpg's executemany already sends the rows in one round trip
and its processors are few.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import orjson
from sqlalchemy import JSON, String, Table, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from cwsync.store.models import UTCDateTime

__all__ = ["bulk_insert"]

Processor = Callable[[Any], Any] | None
_Key = tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]
_Plan = tuple[str, list[tuple[Processor, bool]]]
"""The statement, and per column its processor and whether to remember its last answer (`_converted`)."""
_PLANS: dict[_Key, _Plan] = {}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plan(
    table: Table, dialect: Dialect, columns: tuple[str, ...], conflict: tuple[str, ...], kept: tuple[str, ...]
) -> _Plan:
    key = (table.name, dialect.name, columns, conflict, kept)
    plan = _PLANS.get(key)
    if plan is None:
        plan = (_statement(table, columns, conflict, kept, ()), [_processor(table, c, dialect) for c in columns])
        _PLANS[key] = plan
    return plan


def _statement(
    table: Table, columns: tuple[str, ...], conflict: tuple[str, ...], kept: tuple[str, ...], nulls: tuple[int, ...]
) -> str:
    """The INSERT (or upsert) of `columns`; those at the positions `nulls` get SQL's NULL written in the statement
    instead of a parameter."""
    names = ", ".join(_quote(c) for c in columns)
    marks = ", ".join("NULL" if n in nulls else "?" for n in range(len(columns)))
    sql = f"INSERT INTO {_quote(table.name)} ({names}) VALUES ({marks})"
    if conflict:
        updated = [c for c in columns if c not in conflict and c not in kept]
        sets = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in updated)
        target = ", ".join(_quote(c) for c in conflict)
        sql += f" ON CONFLICT ({target}) DO " + (f"UPDATE SET {sets}" if sets else "NOTHING")
    return sql


_NULL_STATEMENTS: dict[tuple[_Key, tuple[int, ...]], str] = {}


def _with_nulls(table: Table, key: _Key, nulls: tuple[int, ...]) -> str:
    """`_statement` with NULL written in for the columns at `nulls` (made once per table, kind and such columns)."""
    sql = _NULL_STATEMENTS.get((key, nulls))
    if sql is None:
        _, _, columns, conflict, kept = key
        sql = _NULL_STATEMENTS[(key, nulls)] = _statement(table, columns, conflict, kept, nulls)
    return sql


def _processor(table: Table, column: str, dialect: Dialect) -> tuple[Processor, bool]:
    """The column's bind processor on `dialect`, and whether its values repeat (not JSON's: they differ); for JSON,
    one that hands a plain dict straight to the encoder."""
    impl = table.c[column].type.dialect_impl(dialect)
    process = cast(Processor, impl.bind_processor(dialect))
    if process is not None and isinstance(impl, UTCDateTime) and dialect.name == "sqlite":
        return _sqlite_moment(process), True
    if process is None or not isinstance(impl, JSON):
        return process, True
    if String().bind_processor(dialect) is not None:
        return process, False
    return _json(process, getattr(dialect, "_json_serializer", None) or json.dumps), False


def _json(process: Callable[[Any], Any], dumps: Callable[[Any], str]) -> Callable[[Any], Any]:
    """SQLAlchemy's JSON processor (`process`), without its checks for its NULL markers when the value is a plain
    dict (no marker is one), which orjson encodes (5–10× less CPU than `json.dumps`: four such values per synced
    record); `{}` (every create's diff) is not encoded again and again. A dict orjson refuses (a key that is not
    text, a number past 64 bits, a type it does not know) goes to `dumps`, as before."""

    def convert(value: Any) -> Any:
        if type(value) is dict:
            if not value:
                return "{}"
            try:
                return orjson.dumps(value).decode()
            except TypeError:
                return dumps(value)
        return process(value)

    return convert


def _sqlite_moment(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`UTCDateTime`'s processor on SQLite (UTC, naive, as SQLAlchemy's text: `2026-01-02 03:04:05.000006`) made
    by `datetime.isoformat` in one C call instead of a format string filled from a dict, when the two agree (they
    do for SQLAlchemy's default storage format, checked once); `None` and a naive datetime (refused) go to
    `process`."""
    probe = datetime(2001, 2, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    if process(probe) != _moment_text(probe):
        return process

    def convert(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is not None:
            return _moment_text(value)
        return process(value)

    return convert


def _moment_text(value: datetime) -> str:
    if value.tzinfo is UTC:  # every moment the engine makes (`datetime.now(UTC)`): its text less `+00:00`
        return value.isoformat(" ", "microseconds")[:-6]
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _converted(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`process`, remembering its last answer (within one call, never shared between calls or threads): the rows
    of one batch often share a value (their timestamp)."""
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
    rows: Sequence[Mapping[str, Any]] | Sequence[Sequence[Any]],
    *,
    columns: Sequence[str] | None = None,
    conflict: Sequence[str] = (),
    kept: Sequence[str] = (),
) -> None:
    """Insert `rows` into `table`: dictionaries with the same keys, or (with `columns`) tuples of values in that
    order. With `conflict` (the columns of a unique index), update the existing row instead, every column but
    `conflict` and `kept` taking the new value.

    On SQLite the rows go to the driver as one executemany of tuples; on PostgreSQL through SQLAlchemy's insert
    (`ON CONFLICT … DO UPDATE` with `conflict`)."""
    if not rows:
        return
    if columns is not None and len(rows[0]) != len(columns):
        raise ValueError(f"rows of {len(rows[0])} values for {len(columns)} columns ({', '.join(columns)})")
    if conn.dialect.name != "sqlite":
        if columns is None:
            await _generic(conn, table, cast(Sequence[dict[str, Any]], rows), conflict, kept)
        else:
            await _generic(conn, table, [dict(zip(columns, row, strict=True)) for row in rows], conflict, kept)
        return
    names = tuple(columns) if columns is not None else tuple(cast(Mapping[str, Any], rows[0]))
    sql, processors = _plan(table, conn.dialect, names, tuple(conflict), tuple(kept))
    values = _columns(rows, names, positional=columns is not None)
    for n, (process, repeats) in enumerate(processors):
        if process is not None:
            values[n] = list(map(_converted(process) if repeats else process, values[n]))
    # A column that binds None in every row (a batch's run items without an answer, links without a match key) is
    # written as NULL in the statement: the driver's adaptation of a None parameter (a registry look-up and two
    # attribute look-ups each) was a tenth of a batch's commit.
    count = len(rows)
    nulls = tuple(n for n, column in enumerate(values) if column[0] is None and column.count(None) == count)
    if nulls:
        sql = _with_nulls(table, (table.name, conn.dialect.name, names, tuple(conflict), tuple(kept)), nulls)
        values = [column for n, column in enumerate(values) if n not in nulls]
    await conn.exec_driver_sql(sql, list(zip(*values, strict=True)) if values else [()] * count)


def _columns(rows: Sequence[Any], names: Sequence[str], *, positional: bool) -> list[list[Any]]:
    """The rows' values a column at a time (then each column's processor is mapped over a list: no Python-level
    step per value where a column needs no conversion)."""
    if not positional:
        return [[row[name] for row in rows] for name in names]
    return [list(column) for column in zip(*rows, strict=True)]


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
