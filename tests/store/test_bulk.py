"""`store.bulk`'s own converters bind what SQLAlchemy's processors of the same columns bind (JSON text, SQLite's
datetime text), and refuse what they refuse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Table
from sqlalchemy.dialects import sqlite

from cwsync.store import bulk
from cwsync.store.changes_tables import DEVICES
from cwsync.store.store import RUN_ITEMS

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
