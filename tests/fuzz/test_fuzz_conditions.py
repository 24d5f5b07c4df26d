"""Fuzzing the ConnectWise conditions builder and parser (issue 20).

Builder: any path, operator and value either raises its documented `ValueError`/`TypeError` or renders text the
emulator's parser (the grammar ConnectWise speaks) reads back. Parser: any text is a `Condition` or a
`ConditionError`, never another exception (deep parentheses included).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cwsync.connectors.connectwise.conditions import F, all_of, any_of
from cwsync_sandbox.connectwise.conditions import ConditionError, parse_conditions
from tests.fuzz.conftest import FUZZ

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.decimals(),
    st.text(max_size=20),
    st.dates(),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.sampled_from([b"x", [1], {"a": 1}, object()]),
)
paths = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}(/[A-Za-z_][A-Za-z0-9_]{0,8}){0,2}", fullmatch=True), st.text(max_size=10)
)
COMPARE = ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__"]
TEXT = ["like", "not_like", "contains", "not_contains"]


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> Any:
    if depth < 2 and draw(st.booleans()):
        parts = draw(st.lists(conditions(depth + 1), min_size=1, max_size=3))
        return (all_of if draw(st.booleans()) else any_of)(*parts)
    field = F(draw(paths.filter(lambda p: _valid_path(p))))
    kind = draw(st.sampled_from(["compare", "text", "in", "null"]))
    if kind == "compare":
        return getattr(field, draw(st.sampled_from(COMPARE)))(draw(values))
    if kind == "text":
        return getattr(field, draw(st.sampled_from(TEXT)))(draw(values))
    if kind == "in":
        return (field.in_ if draw(st.booleans()) else field.not_in)(draw(st.lists(values, max_size=3)))
    return field.is_null() if draw(st.booleans()) else field.is_not_null()


def _valid_path(path: str) -> bool:
    try:
        F(path)
    except ValueError:
        return False
    return True


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_builder_renders_what_the_parser_reads(data: st.DataObject) -> None:
    """A condition either refuses its input with ValueError/TypeError or renders parseable text."""
    try:
        condition = data.draw(conditions())
    except (ValueError, TypeError):
        return
    parse_conditions(str(condition))


@settings(FUZZ, max_examples=30)
@given(path=st.text(max_size=12))
def test_builder_refuses_bad_paths_with_value_error(path: str) -> None:
    """Any path is accepted or a ValueError (never rendered into the query unchecked)."""
    try:
        F(path)
    except ValueError:
        return
    assert "/" not in path.strip("/") or all(part for part in path.split("/"))


GRAMMAR = [
    "(",
    ")",
    " and ",
    " or ",
    "not ",
    "id",
    " = ",
    " != ",
    " < ",
    " in ",
    " like ",
    '"x"',
    "[2026-01-01T00:00:00Z]",
    "5",
    "-1.5",
    "null",
    "True",
    ",",
    '"\\"',
    "[[]",
    "company/id",
    " contains ",
]


@settings(FUZZ, max_examples=100)
@given(text=st.text(max_size=60) | st.lists(st.sampled_from(GRAMMAR), max_size=30).map("".join))
def test_parser_reads_or_refuses(text: str) -> None:
    """Any text: a Condition or a ConditionError."""
    with contextlib.suppress(ConditionError):
        parse_conditions(text)


def test_parser_refuses_deep_parentheses() -> None:
    """Thousands of nested parentheses are a ConditionError, not a RecursionError."""
    for text in ["(" * 5000 + "id = 1" + ")" * 5000, "not " * 5000 + "id = 1", "(" * 5000]:
        with contextlib.suppress(ConditionError):
            parse_conditions(text)


def test_numbers_round_trip_exactly() -> None:
    """Decimal and date values keep their text through the parser."""
    parse_conditions(str(F("a") == Decimal("1E+30")) + " and " + str(F("b") > date(2026, 1, 2)))
    parse_conditions(str(F("c") >= datetime(2026, 1, 2, tzinfo=UTC)))
