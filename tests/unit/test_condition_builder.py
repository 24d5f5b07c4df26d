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
from cwsync_sandbox.connectwise.conditions import parse_conditions

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
#
# Each example draws a few records first, then a condition whose literals are often taken from those
# records (shifted in case, time zone or into wildcard patterns), so that edge cases such as equality,
# escaping and offsets actually decide outcomes instead of being drowned by random misses.

Predicate = Callable[[dict[str, Any]], bool]
Case = tuple[Condition, Predicate]

_ALPHABET = "aAß*%[]\"'\\ "  # small, so equal values are common; every character the escaping touches
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
_WINDOW = (datetime(2026, 1, 1, 6), datetime(2026, 1, 1, 18))
_ZONES = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
_STAMP = "%Y-%m-%dT%H:%M:%SZ"

texts = st.text(alphabet=_ALPHABET, max_size=3)
records = st.fixed_dictionaries(
    {
        "count": st.none() | st.integers(-2, 2),
        "amount": st.none() | st.decimals(-1, 1, places=1).map(float),
        "flag": st.none() | st.booleans(),
        "company": st.none() | st.fixed_dictionaries({}, optional={"id": st.integers(0, 2)}),
        "types": st.lists(st.fixed_dictionaries({"name": st.none() | texts}), max_size=3),
        "_info": st.fixed_dictionaries(
            {}, optional={"lastUpdated": st.datetimes(*_WINDOW).map(lambda d: d.strftime(_STAMP))}
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
        text = record["_info"].get("lastUpdated")
        return datetime.strptime(text, _STAMP).replace(tzinfo=UTC) if text else None
    if path == "types/name":
        return [element["name"] for element in record["types"]]
    return record.get(path)


def seen(sample: list[dict[str, Any]], path: str) -> list[Any]:
    """The non-null values of path across the sample, flattened."""
    values: list[Any] = []
    for record in sample:
        value = field_value(record, path)
        values.extend(value if isinstance(value, list) else [value])
    return [value for value in values if value is not None]


def pick(draw: st.DrawFn, fresh: st.SearchStrategy[Any], known: list[Any]) -> Any:
    """Half the time a value already in the sample, otherwise a fresh one."""
    if known and draw(st.booleans()):
        return draw(st.sampled_from(known))
    return draw(fresh)


def like_matches(value: str, pattern: str) -> bool:
    """Whole-value, case-folded match of value against pattern with * and % as wildcards."""
    folded, parts = value.casefold(), pattern.casefold().replace("%", "*").split("*")
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


def fold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def as_instant(value: Any) -> Any:
    return value if isinstance(value, datetime) else datetime.combine(value, time(), UTC)


def any_value(record: dict[str, Any], path: str, test: Callable[[Any], bool]) -> bool:
    """The comparison holds for the value, or for any element when the path walks through a list."""
    value = field_value(record, path)
    return any(test(v) for v in (value if isinstance(value, list) else [value]))


def ordering_case(draw: st.DrawFn, sample: list[dict[str, Any]]) -> Case:
    """=, !=, <, <=, >, >= on strings, ints, floats against Decimals, company/id and datetimes or dates."""
    op = draw(st.sampled_from(sorted(_ORDERING)))
    path = draw(st.sampled_from(["name", "types/name", "count", "amount", "company/id", "lastUpdated"]))
    known = seen(sample, path)
    if path in ("name", "types/name"):
        literal: Value = pick(draw, texts, known)
        literal = literal.swapcase() if draw(st.booleans()) else literal
    elif path == "amount":
        literal = Decimal(str(pick(draw, st.decimals(-1, 1, places=1).map(float), known)))
    elif path == "lastUpdated":
        instant = pick(draw, st.datetimes(*_WINDOW, timezones=st.just(UTC)), known)
        literal = instant.astimezone(draw(st.sampled_from(_ZONES)))
        literal = literal.date() if draw(st.integers(0, 4)) == 0 else literal
    else:
        literal = pick(draw, st.integers(-2, 2), known)
    convert: Callable[[Any], Any] = {"lastUpdated": as_instant, "amount": float}.get(path, fold)

    def predicate(record: dict[str, Any]) -> bool:
        return any_value(record, path, lambda v: v is not None and _ORDERING[op](convert(v), convert(literal)))

    return _BUILD[op](F(path), literal), predicate


def equality_case(draw: st.DrawFn, sample: list[dict[str, Any]]) -> Case:
    """Booleans with = and !=, and null checks on every field."""
    path = draw(st.sampled_from(["name", "types/name", "count", "amount", "flag", "company/id", "lastUpdated"]))
    choice = draw(st.sampled_from(["flag", "null", "not null"]))
    if choice == "flag":
        op, flag = draw(st.sampled_from(["=", "!="])), draw(st.booleans())
        return _BUILD[op](F("flag"), flag), lambda r: r["flag"] is not None and _ORDERING[op](r["flag"], flag)
    if choice == "null":
        return F(path).is_null(), lambda r: any_value(r, path, lambda v: v is None)
    return F(path).is_not_null(), lambda r: any_value(r, path, lambda v: v is not None)


def text_case(draw: st.DrawFn, sample: list[dict[str, Any]]) -> Case:
    """contains/like and their negations on name and on types/name; null never matches."""
    path = draw(st.sampled_from(["name", "types/name"]))
    method = draw(st.sampled_from(["contains", "not_contains", "like", "not_like"]))
    base = pick(draw, texts, seen(sample, path))
    base = base.swapcase() if draw(st.booleans()) else base
    if method.endswith("like"):
        keep = draw(st.lists(st.booleans(), min_size=len(base) + 2, max_size=len(base) + 2))
        literal = "".join(char if kept else "*" for char, kept in zip(f"*{base}*", keep, strict=True))

        def test(value: str) -> bool:
            return like_matches(value, literal)
    else:
        start, stop = sorted(draw(st.lists(st.integers(0, len(base)), min_size=2, max_size=2)))
        literal = base[start:stop]

        def test(value: str) -> bool:
            return literal.casefold() in value.casefold()

    negate = method.startswith("not")
    condition = getattr(F(path), method)(literal)
    return condition, lambda r: any_value(r, path, lambda v: v is not None and test(v) != negate)


def membership_case(draw: st.DrawFn, sample: list[dict[str, Any]]) -> Case:
    """in/not in over ints on count and over strings on name; neither holds on null."""
    path, fresh = draw(st.sampled_from([("count", st.integers(-2, 2)), ("name", texts)]))
    known = seen(sample, path)
    literals = [pick(draw, fresh, known) for _ in range(draw(st.integers(1, 3)))]
    folded = {fold(v) for v in literals}
    negate = draw(st.booleans())
    condition = F(path).not_in(literals) if negate else F(path).in_(literals)

    def predicate(record: dict[str, Any]) -> bool:
        value = record.get(path)
        return value is not None and (fold(value) in folded) != negate

    return condition, predicate


def draw_case(draw: st.DrawFn, sample: list[dict[str, Any]], depth: int) -> Case:
    """A leaf comparison, or two sub-cases joined with and/or in both builder and predicate."""
    if depth == 0 or draw(st.booleans()):
        family = draw(st.sampled_from([ordering_case, equality_case, text_case, membership_case]))
        return family(draw, sample)
    (left, left_test), (right, right_test) = draw_case(draw, sample, depth - 1), draw_case(draw, sample, depth - 1)
    if draw(st.booleans()):
        return left & right, lambda r: left_test(r) and right_test(r)
    return left | right, lambda r: left_test(r) or right_test(r)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Case, list[dict[str, Any]]]:
    sample = draw(st.lists(records, min_size=1, max_size=6))
    return draw_case(draw, sample, depth=draw(st.integers(0, 2))), sample


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_round_trip_matches_python_predicate(scenario: tuple[Case, list[dict[str, Any]]]) -> None:
    """Builder text parsed and evaluated by the emulator agrees with a plain Python predicate on random records."""
    (condition, predicate), sample = scenario
    parsed = parse_conditions(str(condition))
    for record in sample:
        assert parsed.matches(record) is predicate(record), (str(condition), record)
