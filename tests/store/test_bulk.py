"""`store.bulk`'s own converters bind what SQLAlchemy's processors of the same columns bind (JSON text, SQLite's
datetime text), and refuse what they refuse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, create_engine, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from cwsync.store import bulk
from cwsync.store.changes_tables import DEVICES
from cwsync.store.store import LINKS, RUN_ITEMS
from cwsync.store.writer import Immediate, run_to_end

DIALECT = sqlite.dialect()


def converters(table: Table, *columns: str) -> list[Any]:
    _, processors = bulk._plan(table, DIALECT, columns, (), ())
    return [process for process, _ in processors]


def sqlalchemy_processor(table: Table, column: str) -> Any:
    return table.c[column].type.dialect_impl(DIALECT).bind_processor(DIALECT)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 10, 31, 4, 9, 26, tzinfo=UTC),
        datetime(2026, 10, 31, 4, 9, 26, 123, tzinfo=timezone(timedelta(hours=2))),
        datetime(5, 1, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
        None,
    ],
)
def test_datetimes_are_bound_as_sqlalchemy_binds_them(moment: datetime | None) -> None:
    [convert] = converters(DEVICES, "cw_last_updated")
    assert convert(moment) == sqlalchemy_processor(DEVICES, "cw_last_updated")(moment)


def test_a_naive_datetime_is_refused_as_the_store_refuses_it() -> None:
    [convert] = converters(RUN_ITEMS, "created_at")
    with pytest.raises(ValueError, match="naive datetime"):
        convert(datetime(2026, 1, 2))


@pytest.mark.parametrize(
    "value",
    [{}, {"name": "Müller", "n": None, "diff": ["a", 1], "x": 1.5}, {1: "int key"}, {"big": 2**70}, [1, "x"], None],
)
def test_json_is_bound_as_the_same_data_sqlalchemy_binds(value: Any) -> None:
    """The same JSON data (a dict is encoded by orjson, compact and UTF-8; anything else as SQLAlchemy does)."""
    diff, response = converters(RUN_ITEMS, "diff", "remote_response")
    for convert, column in ((diff, "diff"), (response, "remote_response")):
        ours, theirs = convert(value), sqlalchemy_processor(RUN_ITEMS, column)(value)
        assert (ours is None) == (theirs is None)
        if theirs is not None:
            assert json.loads(ours) == json.loads(theirs)
        if type(value) is not dict:
            assert ours == theirs


# -- NULL written in the statement for a column that is None in every row --------------------------------------

_ITEM = st.fixed_dictionaries(
    {
        "run_id": st.just(1),
        "tenant": st.just("default"),
        "pair": st.sampled_from(["companies", "contacts"]),
        "direction": st.just("left_to_right"),
        "action": st.sampled_from(["create", "skip"]),
        "status": st.just("applied"),
        "left_id": st.one_of(st.none(), st.text(max_size=4)),
        "right_id": st.one_of(st.none(), st.text(max_size=4)),
        "reason": st.text(max_size=6),
        "diff": st.dictionaries(st.text(max_size=3), st.one_of(st.none(), st.text(max_size=3)), max_size=2),
        "source_values": st.just({}),
        "remote_status": st.one_of(st.none(), st.integers(200, 599)),
        "remote_response": st.one_of(st.none(), st.just({"error": "x"})),
        "created_at": st.datetimes(timezones=st.just(UTC)),
    }
)


def _table_rows(engine: Any, table: Table) -> list[tuple[Any, ...]]:
    """The table's rows, JSON columns as their data (bulk's JSON text is compact, SQLAlchemy's is not)."""
    json_columns = {n for n, c in enumerate(table.c) if c.name in ("diff", "source_values", "remote_response")}
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY id")
        return [
            tuple(json.loads(v) if n in json_columns and v is not None else v for n, v in enumerate(row))
            for row in rows
        ]


def _fresh(table: Table) -> Any:
    engine = create_engine("sqlite://")
    table.create(engine)
    return engine


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(_ITEM, min_size=1, max_size=5), positional=st.booleans())
def test_a_bulk_insert_writes_what_sqlalchemys_insert_writes(rows: list[dict[str, Any]], positional: bool) -> None:
    """Columns that bind None in every row (written as NULL in the statement) or only in some (bound): the table
    holds the same rows as after SQLAlchemy's own executemany of the same rows."""
    ours, theirs = _fresh(RUN_ITEMS), _fresh(RUN_ITEMS)
    columns = tuple(rows[0])
    with ours.begin() as conn:
        immediate = cast(AsyncConnection, Immediate(conn))
        if positional:
            batch = [tuple(row[c] for c in columns) for row in rows]
            run_to_end(bulk.bulk_insert(immediate, RUN_ITEMS, batch, columns=columns))
        else:
            run_to_end(bulk.bulk_insert(immediate, RUN_ITEMS, rows))
    with theirs.begin() as conn:
        conn.execute(insert(RUN_ITEMS), rows)
    assert _table_rows(ours, RUN_ITEMS) == _table_rows(theirs, RUN_ITEMS)


def test_an_upsert_with_a_column_null_in_every_row_updates_it_to_null() -> None:
    """The upsert of a batch whose `match_key` is None in every row sets it to NULL on the rows it updates (`SET
    match_key = excluded.match_key`), as binding None did."""
    engine = _fresh(LINKS)
    moment = datetime(2026, 1, 2, tzinfo=UTC)
    row = {
        "tenant": "t",
        "pair": "p",
        "left_id": "1",
        "right_id": "r1",
        "match_key": "email",
        "left_values": {"a": "1"},
        "right_values": {},
        "left_hash": "h",
        "right_hash": "",
        "last_writer": "left",
        "created_at": moment,
        "synced_at": moment,
    }
    upsert = {"conflict": ("tenant", "pair", "left_id"), "kept": ("created_at",)}
    with engine.begin() as conn:
        run_to_end(bulk.bulk_insert(cast(AsyncConnection, Immediate(conn)), LINKS, [row], **upsert))
        run_to_end(
            bulk.bulk_insert(cast(AsyncConnection, Immediate(conn)), LINKS, [{**row, "match_key": None}], **upsert)
        )
    [stored] = _table_rows(engine, LINKS)
    assert stored[LINKS.c.keys().index("match_key")] is None


@given(
    moment=st.datetimes(
        timezones=st.one_of(st.just(UTC), st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))))
    )
)
def test_any_aware_datetime_is_bound_as_sqlalchemy_binds_it(moment: datetime) -> None:
    """UTC's shortcut (the text less its `+00:00`) and the conversion of other zones give SQLAlchemy's text."""
    [convert] = converters(RUN_ITEMS, "created_at")
    assert convert(moment) == sqlalchemy_processor(RUN_ITEMS, "created_at")(moment)
