"""`FieldMap.from_left` skips the second canonical pass only where it changes nothing (issue 19's CPU work)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from cwsync.core.mapping import FieldMap
from cwsync.core.values import FieldType, canonical, type_problem

PAIRS = [
    (left, right) for left in FieldType for right in FieldType if type_problem(left, right, has_value_map=False) is None
]
VALUES = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
    st.sampled_from([" 1,500.00 ", "2026-01-02", "2026-01-02T03:04:05Z", "1767312000000", " Yes ", "A@B.example "]),
)


@given(pair=st.sampled_from(PAIRS), value=VALUES)
def test_the_fast_path_equals_both_canonical_passes(pair: tuple[FieldType, FieldType], value: Any) -> None:
    """Without a value map or transform, the projection is `canonical(right, canonical(left, v))` for every pair of
    types that map and every kind of value."""
    left, right = pair
    field = FieldMap(name="f", left="a", right="b", left_type=left, right_type=right)
    assert field.from_left(value) == canonical(right, canonical(left, value))


def test_a_value_map_is_looked_up_case_blind_with_its_default() -> None:
    """The value map (kept lower-cased once) still maps case-blind, with `*` as the default."""
    field = FieldMap(
        name="t", left="a", right="b", right_type=FieldType.ENUM, value_map={"Customer": "customer", "*": "other"}
    )
    assert field.from_left(" CUSTOMER ") == "customer"
    assert field.from_left("Vendor") == "other"
    assert field.from_left(date(2026, 1, 2)) == "other"
    assert field.from_left(datetime(2026, 1, 2, tzinfo=UTC)) == "other"


def _number_through_decimal(value: Any) -> str:
    """`values._number` without its plain-digits shortcut (what every number went through before)."""
    number = Decimal(str(value).strip().replace(",", ""))
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


DIGITS = st.one_of(
    st.text(alphabet="0123456789", min_size=1, max_size=40),
    st.text(alphabet="0123456789 ,.-+e٣²", min_size=1, max_size=8),
    st.integers(0, 10**30).map(str),
)


@given(text=DIGITS)
def test_a_number_of_plain_digits_is_canonical_as_the_decimal_makes_it(text: str) -> None:
    """The shortcut for plain ASCII digits (a ConnectWise id) gives what the normalised decimal gives, or the
    text as it is where the decimal refuses it, as before."""
    try:
        expected = _number_through_decimal(text)
    except (ValueError, InvalidOperation, OverflowError):
        expected = text.strip()
    assert canonical(FieldType.NUMBER, text) == (expected if text.strip() else None)


def test_an_epoch_past_the_platforms_clock_is_text_not_an_error() -> None:
    """A date property holding a number too large for a moment (found by the property above) is kept as its text
    on both paths, as any value that is not a date is, rather than raising the platform's OSError."""
    field = FieldMap(name="d", left="a", right="b", left_type=FieldType.DATE, right_type=FieldType.DATE)
    huge = 6.77680361916768e19
    assert field.from_left(huge) == canonical(FieldType.DATE, canonical(FieldType.DATE, huge))
    assert canonical(FieldType.DATETIME, huge) == canonical(FieldType.TEXT, huge)
