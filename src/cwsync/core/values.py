"""Field types, canonical values and the type rules of mappings (HS-4). Pure functions, no I/O.

A mapped field is compared and hashed in its *canonical* form: text stripped, e-mail lower-cased, numbers as
normalised decimals, dates as `YYYY-MM-DD`, datetimes as UTC `YYYY-MM-DDTHH:MM:SSZ`, booleans as `true`/`false`.
Both sides' values are brought to that form, so `1500` and `"1500.00"` or `2026-01-02T00:00:00Z` and the epoch
millis HubSpot uses for the same date are equal, and a change is a change of meaning, not of spelling.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import partial
from typing import Any


class FieldType(StrEnum):
    """What kind of value a field holds."""

    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    ENUM = "enum"
    REFERENCE = "reference"


# Pairs that map without a value map (either order). Text into an enum needs a value map (HS-4).
_COMPATIBLE = {
    frozenset({FieldType.TEXT}),
    frozenset({FieldType.TEXT, FieldType.EMAIL}),
    frozenset({FieldType.TEXT, FieldType.PHONE}),
    frozenset({FieldType.EMAIL}),
    frozenset({FieldType.PHONE}),
    frozenset({FieldType.NUMBER}),
    frozenset({FieldType.NUMBER, FieldType.TEXT}),
    frozenset({FieldType.BOOLEAN}),
    frozenset({FieldType.DATE}),
    frozenset({FieldType.DATETIME}),
    frozenset({FieldType.DATE, FieldType.DATETIME}),
    frozenset({FieldType.ENUM}),
    frozenset({FieldType.REFERENCE}),
}


def as_utc(moment: datetime | None) -> datetime | None:
    """A moment as an aware datetime: UTC when it names no zone (a date or time typed by a person)."""
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def type_problem(left: FieldType, right: FieldType, *, has_value_map: bool) -> str | None:
    """Why `left` cannot map to `right`, or None when it can."""
    if frozenset({left, right}) in _COMPATIBLE:
        return None
    if has_value_map and FieldType.REFERENCE not in (left, right):
        return None
    if FieldType.ENUM in (left, right):
        return f"{left.value} cannot map to {right.value} without a value map"
    return f"a {left.value} field cannot map to a {right.value} field"


def canonical(kind: FieldType, value: Any) -> str | None:
    """The canonical form of a value (None for empty)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    converter = _CANONICAL.get(kind, _text)
    try:
        return converter(value)
    except (ValueError, InvalidOperation, OverflowError):
        return _text(value)


def canonical_of(kind: FieldType) -> Callable[[Any], str | None]:
    """`canonical` for one kind, as a function of the value alone: a mapping projects every field of every record
    it reads, and a text (what ConnectWise and HubSpot send for most fields) takes the short way — stripped, None
    when empty; an e-mail lower-cased too; a number of plain digits (an id) as it is. Any other value goes through
    `canonical`, so each gives what `canonical(kind, value)` gives."""
    if kind not in _CANONICAL:

        def text(value: Any) -> str | None:
            if type(value) is str:
                return value.strip() or None
            return canonical(kind, value)

        return text
    if kind is FieldType.EMAIL:

        def email(value: Any) -> str | None:
            if type(value) is str:
                return value.strip().lower() or None
            return canonical(kind, value)

        return email
    if kind is FieldType.NUMBER:

        def number(value: Any) -> str | None:
            if type(value) is str and _plain_digits(value):
                return value
            return canonical(kind, value)

        return number
    return partial(canonical, kind)


def keeps_canonical_text(kind: FieldType) -> bool:
    """Whether `canonical(kind, t)` is `t` for any canonical value `t` of any type (a stripped, non-empty text):
    true for the kinds canonicalised as plain stripped text."""
    return kind not in _CANONICAL


def compare_key(kind: FieldType, value: str | None) -> str | None:
    """What equality is decided on: phone numbers by their digits, everything else by the canonical value."""
    if value is not None and kind is FieldType.PHONE:
        return re.sub(r"[^0-9]", "", value) or value
    return value


def same(kind: FieldType, a: str | None, b: str | None) -> bool:
    """Whether two canonical values mean the same."""
    return compare_key(kind, a) == compare_key(kind, b)


def _text(value: Any) -> str:
    return str(value).strip()


def _email(value: Any) -> str:
    return str(value).strip().lower()


_PLAIN_DIGITS = 18
"""Up to this many digits a text of plain digits is its own canonical number (the decimal context rounds past 28)."""


def _plain_digits(text: str) -> bool:
    """ASCII digits, no leading zero, at most `_PLAIN_DIGITS` of them."""
    return len(text) <= _PLAIN_DIGITS and text.isdigit() and text.isascii() and (text[0] != "0" or len(text) == 1)


def _number(value: Any) -> str:
    if type(value) is str and _plain_digits(value):  # a ConnectWise id: what the normalised decimal gives
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    number = Decimal(str(value).strip().replace(",", ""))
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _boolean(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip().lower()
    if text in ("true", "yes", "1", "on"):
        return "true"
    if text in ("false", "no", "0", "off", ""):
        return "false"
    raise ValueError(text)


def _parse_moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        try:
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)  # HubSpot: epoch milliseconds
        except (OSError, OverflowError) as exc:  # past what the platform's time functions hold
            raise ValueError(f"{value!r} is not a moment") from exc
    moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _date(value: Any) -> str:
    return _parse_moment(value).astimezone(UTC).date().isoformat()


def _datetime(value: Any) -> str:
    return _parse_moment(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_CANONICAL = {
    FieldType.EMAIL: _email,
    FieldType.NUMBER: _number,
    FieldType.BOOLEAN: _boolean,
    FieldType.DATE: _date,
    FieldType.DATETIME: _datetime,
}
