"""Tests for the typed conditions builder, including a round trip through the emulator's parser."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cwsync.connectors.connectwise.conditions import Condition, F, Value, all_of, any_of
from cwsync.sandbox.connectwise.conditions import parse_conditions

# --- rendering


@pytest.mark.parametrize(
    ("condition", "text"),
    [
        (F("company/id") == 5, "company/id = 5"),
        (F("company/id") != 5, "company/id != 5"),
        (F("id") < 10, "id < 10"),
        (F("id") <= 10, "id <= 10"),
        (F("id") > -3, "id > -3"),
        (F("id") >= 0, "id >= 0"),
        (F("name") == "Acme", 'name = "Acme"'),
        (F("name").like("Acme*"), 'name like "Acme*"'),
        (F("name").not_like("*Inc"), 'name not like "*Inc"'),
        (F("name").contains("corp"), 'name contains "corp"'),
        (F("name").not_contains("test"), 'name not contains "test"'),
        (F("board/id").in_([1, 2, 3]), "board/id in (1, 2, 3)"),
        (F("board/id").not_in((4,)), "board/id not in (4)"),
        (F("status/name").in_(["New", "Open"]), 'status/name in ("New", "Open")'),
        (F("deletedFlag") == False, "deletedFlag = False"),  # noqa: E712
        (F("deletedFlag") == True, "deletedFlag = True"),  # noqa: E712
        (F("site") == None, "site = null"),  # noqa: E711
        (F("site") != None, "site != null"),  # noqa: E711
        (F("site").is_null(), "site = null"),
        (F("site").is_not_null(), "site != null"),
        (F("_info/lastUpdated") > date(2026, 1, 2), "_info/lastUpdated > [2026-01-02]"),
    ],
)
def test_each_operator_renders(condition: Condition, text: str) -> None:
    """Every operator and method renders its documented text."""
    assert condition.render() == text
    assert str(condition) == text


def test_strings_escape_backslash_quote_and_bracket() -> None:
    """Strings are double-quoted with \\ doubled, " escaped and [ written as [[]."""
    assert str(F("name").contains('say "hi"')) == 'name contains "say \\"hi\\""'
    assert str(F("path") == "C:\\temp\\") == 'path = "C:\\\\temp\\\\"'
    assert str(F("name") == "[Draft] it's") == 'name = "[[]Draft] it\'s"'
    assert str(F("name").like("[[*")) == 'name like "[[][[]*"'


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "[2026-01-02T03:04:05Z]"),
        (datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), "[2026-01-02T03:04:05Z]"),
        (datetime(2026, 1, 1, 22, 4, 5, tzinfo=timezone(timedelta(hours=-5))), "[2026-01-02T03:04:05Z]"),
        (datetime(2026, 1, 2, 3, 4, 5, 120, tzinfo=UTC), "[2026-01-02T03:04:05.000120Z]"),
        (date(2026, 1, 2), "[2026-01-02]"),
    ],
)
def test_datetimes_render_in_utc_brackets(value: date, text: str) -> None:
    """Aware datetimes are converted to UTC (microseconds kept when present); dates render date-only."""
    assert str(F("lastUpdated") >= value) == f"lastUpdated >= {text}"


def test_naive_datetime_is_rejected() -> None:
    """A naive datetime is ambiguous and raises ValueError."""
    with pytest.raises(ValueError, match="naive datetime"):
        F("lastUpdated") > datetime(2026, 1, 2)  # noqa: B015


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (-7, "-7"),
        (10**20, "100000000000000000000"),
        (1.5, "1.5"),
        (1e-7, "0.0000001"),
        (1e22, "10000000000000000000000"),
        (-0.25, "-0.25"),
        (Decimal("1E+3"), "1000"),
        (Decimal("12.50"), "12.50"),
        (Decimal("-0.001"), "-0.001"),
    ],
)
def test_numbers_render_without_exponents(value: float | Decimal, text: str) -> None:
    """int, float and Decimal render as plain decimal text, never in exponent notation."""
    assert str(F("amount") == value) == f"amount = {text}"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")])
def test_non_finite_numbers_are_rejected(value: float | Decimal) -> None:
    """NaN and infinities have no condition spelling and raise ValueError."""
    with pytest.raises(ValueError, match="non-finite"):
        F("amount") == value  # noqa: B015


@pytest.mark.parametrize("value", [b"bytes", [1], {"a": 1}, object(), timedelta(1)])
def test_unsupported_value_types_raise_type_error(value: Any) -> None:
    """A value of another type raises TypeError naming the type."""
    with pytest.raises(TypeError, match=type(value).__name__):
        F("x") == value  # noqa: B015
    with pytest.raises(TypeError, match=type(value).__name__):
        F("x").in_([1, value])


def test_none_only_with_equality() -> None:
    """None renders as null for == and !=; ordering against None raises ValueError."""
    with pytest.raises(ValueError, match="is_null"):
        F("x") < None  # noqa: B015
    with pytest.raises(ValueError, match="is_null"):
        F("x") >= None  # noqa: B015


def test_text_methods_require_strings() -> None:
    """like/contains and their negations take only str."""
    for method in (F("x").like, F("x").not_like, F("x").contains, F("x").not_contains):
        with pytest.raises(TypeError, match="int"):
            method(5)  # type: ignore[arg-type]


def test_in_requires_a_non_empty_collection() -> None:
    """in_/not_in reject an empty collection (ValueError) and a bare string (TypeError)."""
    with pytest.raises(ValueError, match="board/id"):
        F("board/id").in_([])
    with pytest.raises(ValueError, match="at least one"):
        F("board/id").not_in(iter(()))
    with pytest.raises(TypeError, match="str"):
        F("name").in_("abc")


def test_in_accepts_any_iterable_of_mixed_values() -> None:
    """in_ takes any iterable and renders each value with the usual literal rules."""
    assert str(F("x").in_(n for n in (1, 2))) == "x in (1, 2)"
    assert str(F("x").in_([1.5, "a", True, None, date(2026, 1, 2)])) == 'x in (1.5, "a", True, null, [2026-01-02])'


@pytest.mark.parametrize(
    "path", ["", "company/", "/id", "company//id", "company.id", "1abc", "na-me", "a b", "company/1", "id "]
)
def test_bad_paths_raise_value_error(path: str) -> None:
    """A path outside the field-path grammar raises ValueError naming it."""
    with pytest.raises(ValueError, match="invalid condition field path") as caught:
        F(path)
    assert repr(path) in str(caught.value)


def test_good_paths_are_accepted() -> None:
    """Letters, digits and underscores with / between segments are valid paths."""
    for path in ("id", "_info/lastUpdated", "company/id", "a1/b_2/C3"):
        assert F(path).path == path


# --- combining


def test_or_inside_and_is_parenthesised() -> None:
    """An OR nested in an AND gets parentheses; nothing else does."""
    a, b, c = F("a") == 1, F("b") == 2, F("c") == 3
    assert str((a | b) & c) == "(a = 1 or b = 2) and c = 3"
    assert str(a & (b | c)) == "a = 1 and (b = 2 or c = 3)"
    assert str((a & b) | c) == "a = 1 and b = 2 or c = 3"
    assert str(a | (b & c)) == "a = 1 or b = 2 and c = 3"
    assert str(a & b & c) == "a = 1 and b = 2 and c = 3"
    assert str(a | b | c) == "a = 1 or b = 2 or c = 3"


def test_all_of_and_any_of_flatten() -> None:
    """all_of/any_of flatten nested groups of the same kind and return a single condition as is."""
    a, b, c, d = (F(name) == 1 for name in "abcd")
    assert all_of(a, all_of(b, c), d) == all_of(a, b, c, d)
    assert str(any_of(a, any_of(b, c) & d)) == "a = 1 or (b = 1 or c = 1) and d = 1"
    assert all_of(a) is a
    assert any_of(b) is b


def test_all_of_and_any_of_validate_arguments() -> None:
    """Combining nothing raises ValueError; combining a non-condition raises TypeError."""
    with pytest.raises(ValueError, match="all_of"):
        all_of()
    with pytest.raises(ValueError, match="any_of"):
        any_of()
    with pytest.raises(TypeError, match="str"):
        all_of(F("a") == 1, "b = 2")  # type: ignore[arg-type]


def test_condition_has_no_truth_value() -> None:
    """Using a condition as a bool (a mistaken `if F(...) == 1`) raises TypeError."""
    with pytest.raises(TypeError, match="truth value"):
        bool(F("a") == 1)
    with pytest.raises(TypeError, match="truth value"):
        0 < F("a") < 5  # noqa: B015  # a chained comparison asks bool() of the first Condition
    with pytest.raises(TypeError, match="truth value"):
        (F("a") == 1) and (F("b") == 2)


def test_conditions_are_immutable_values() -> None:
    """Equal conditions compare and hash equal, and cannot be mutated."""
    first = (F("a") == 1) & F("b").in_([1, 2])
    second = (F("a") == 1) & F("b").in_((1, 2))
    assert first == second
    assert hash(first) == hash(second)
    assert len({first, second}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.parts = ()  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        F("a").path = "b"  # type: ignore[misc]


def test_rendered_conditions_parse_in_the_emulator() -> None:
    """A hand-picked mix of every construct renders text the emulator parses and evaluates as intended."""
    cond = all_of(
        F("name").like("[Acme]*") | F("name").contains('"quoted"'),
        F("board/id").not_in([3, 4]),
        F("lastUpdated") >= datetime(2026, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2))),
        F("deletedFlag") == False,  # noqa: E712
        F("site").is_null(),
    )
    record = {
        "name": "[ACME] Corp",
        "board": {"id": 1},
        "deletedFlag": False,
        "_info": {"lastUpdated": "2026-01-02T03:00:00Z"},
    }
    parsed = parse_conditions(str(cond))
    assert parsed.matches(record)
    assert not parsed.matches({**record, "site": {"id": 1}})
    assert not parsed.matches({**record, "board": {"id": 3}})


# --- round trip: builder -> text -> emulator parser == a plain Python predicate

Predicate = Callable[[dict[str, Any]], bool]
Case = tuple[Condition, Predicate]

_ALPHABET = "aAß*%[]\"'\\ "  # small, so equal values are common; every character the escaping touches
_LIKE_ALPHABET = _ALPHABET.replace("*", "").replace("%", "")
_ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_BUILD: dict[str, Callable[[F, Value], Condition]] = {
    "=": lambda f, v: f == v,
    "!=": lambda f, v: f != v,
    "<": lambda f, v: f < v,
    "<=": lambda f, v: f <= v,
    ">": lambda f, v: f > v,
    ">=": lambda f, v: f >= v,
}
_WINDOW = (datetime(2026, 1, 1, 6), datetime(2026, 1, 1, 18))  # narrow, so offsets decide comparisons
_ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]

texts = st.text(alphabet=_ALPHABET, max_size=2)
record_times = st.datetimes(*_WINDOW).map(lambda d: d.replace(microsecond=0, tzinfo=UTC))
records = st.fixed_dictionaries(
    {
        "count": st.none() | st.integers(-2, 2),
        "amount": st.none() | st.decimals(-1, 1, places=1).map(float),
        "flag": st.none() | st.booleans(),
        "company": st.none() | st.fixed_dictionaries({}, optional={"id": st.integers(0, 2)}),
        "types": st.lists(st.fixed_dictionaries({"name": st.none() | texts}), max_size=3),
        "_info": st.fixed_dictionaries(
            {}, optional={"lastUpdated": record_times.map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))}
        ),
    },
    optional={"name": texts},  # a missing key must behave as null
)


def field_value(record: dict[str, Any], path: str) -> Any:
    """The value at path in a generated record, written out by hand for the shapes generated."""
    if path == "company/id":
        company = record.get("company")
        return company.get("id") if company else None
    if path == "lastUpdated":
        text = record.get("_info", {}).get("lastUpdated")
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if text else None
    return record.get(path)


def like_matches(value: str, chunks: list[str]) -> bool:
    """Whole-value match of value against chunks joined by wildcards, case-folded, found left to right."""
    folded, parts = value.casefold(), [chunk.casefold() for chunk in chunks]
    if len(parts) == 1:
        return folded == parts[0]
    first, *middle, last = parts
    end = len(folded) - len(last)
    if end < len(first) or not folded.startswith(first) or not folded.endswith(last):
        return False
    position = len(first)
    for part in middle:
        found = folded.find(part, position, end)
        if found < 0:
            return False
        position = found + len(part)
    return True


def scalar_case(path: str, op: str, literal: Value, convert: Callable[[Any], Any]) -> Case:
    """A comparison on a scalar field: false on null, else the Python operator on converted values."""

    def predicate(record: dict[str, Any]) -> bool:
        value = field_value(record, path)
        return value is not None and _ORDERING[op](convert(value), convert(literal))

    return _BUILD[op](F(path), literal), predicate


def fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def as_instant(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), UTC)


@st.composite
def ordering_cases(draw: st.DrawFn) -> Case:
    """=, !=, <, <=, >, >= on strings, ints, floats vs Decimals, company/id and datetimes or dates."""
    op = draw(st.sampled_from(sorted(_ORDERING)))
    path, literal, convert = draw(
        st.sampled_from(
            [
                ("name", texts, fold),
                ("count", st.integers(-2, 2), float),
                ("amount", st.decimals(-1, 1, places=1), float),
                ("company/id", st.integers(0, 2), float),
                ("lastUpdated", st.datetimes(*_WINDOW, timezones=st.sampled_from(_ZONES)), as_instant),
                ("lastUpdated", st.dates(_WINDOW[0].date(), _WINDOW[1].date()), as_instant),
            ]
        )
    )
    return scalar_case(path, op, draw(literal), convert)


@st.composite
def equality_cases(draw: st.DrawFn) -> Case:
    """Booleans and null checks, which only support = and !=."""
    path = draw(st.sampled_from(["name", "count", "amount", "flag", "company/id", "lastUpdated"]))
    if draw(st.booleans()):
        op, flag = draw(st.sampled_from(["=", "!="])), draw(st.booleans())
        return scalar_case("flag", op, flag, lambda v: v)
    if draw(st.booleans()):
        return F(path).is_null(), lambda r: field_value(r, path) is None
    return F(path).is_not_null(), lambda r: field_value(r, path) is not None


@st.composite
def text_cases(draw: st.DrawFn) -> Case:
    """contains/like and their negations on name, and on types/name where any element may match."""
    path = draw(st.sampled_from(["name", "types/name"]))
    kind = draw(st.sampled_from(["contains", "not_contains", "like", "not_like"]))
    if kind.endswith("like"):
        chunks = draw(st.lists(st.text(alphabet=_LIKE_ALPHABET, max_size=2), min_size=1, max_size=3))
        literal = "*".join(chunks)

        def test(value: str) -> bool:
            return like_matches(value, chunks)
    else:
        literal = draw(texts)

        def test(value: str) -> bool:
            return literal.casefold() in value.casefold()

    negate = kind.startswith("not")
    condition = getattr(F(path), kind)(literal)

    def predicate(record: dict[str, Any]) -> bool:
        values = [t.get("name") for t in record.get("types", [])] if path == "types/name" else [record.get(path)]
        return any(v is not None and test(v) != negate for v in values)

    return condition, predicate


@st.composite
def membership_cases(draw: st.DrawFn) -> Case:
    """in/not in over ints on count and strings on name; not in is false on null."""
    path, values = draw(st.sampled_from([("count", st.integers(-2, 2)), ("name", texts)]))
    literals = draw(st.lists(values, min_size=1, max_size=4))
    folded = {fold(v) for v in literals}
    negate = draw(st.booleans())
    condition = F(path).not_in(literals) if negate else F(path).in_(literals)

    def predicate(record: dict[str, Any]) -> bool:
        value = record.get(path)
        return value is not None and (fold(value) in folded) != negate

    return condition, predicate


def combine(pair: tuple[Case, Case, bool]) -> Case:
    """Join two cases with and/or, in both the builder and the predicate."""
    (left, left_test), (right, right_test), conjunction = pair
    if conjunction:
        return left & right, lambda r: left_test(r) and right_test(r)
    return left | right, lambda r: left_test(r) or right_test(r)


leaves = ordering_cases() | equality_cases() | text_cases() | membership_cases()
conditions = st.recursive(leaves, lambda inner: st.tuples(inner, inner, st.booleans()).map(combine), max_leaves=6)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=conditions, sample=st.lists(records, min_size=1, max_size=10))
def test_round_trip_matches_python_predicate(case: Case, sample: list[dict[str, Any]]) -> None:
    """Builder text parsed and evaluated by the emulator agrees with a plain Python predicate on random records."""
    condition, predicate = case
    parsed = parse_conditions(str(condition))
    for record in sample:
        assert parsed.matches(record) is predicate(record), (str(condition), record)
