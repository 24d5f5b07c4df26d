"""Typed builder for ConnectWise Manage ``conditions`` strings (api-notes §2.2).

Call sites never format condition strings by hand; they build them from field paths::

    from cwsync.connectors.connectwise.conditions import F, all_of

    cond = all_of(
        F("board/id").in_([1, 2]),
        F("lastUpdated") >= since,              # aware datetime -> [2026-01-02T03:04:05Z]
        F("closedFlag") == False,               # -> closedFlag = False
    )
    params = {"conditions": str(cond)}
    # board/id in (1, 2) and lastUpdated >= [2026-01-02T03:04:05Z] and closedFlag = False

    (F("name").like("Acme*") | F("identifier").contains('say "hi"')) & F("deletedFlag").is_null()
    # (name like "Acme*" or identifier contains "say \\"hi\\"") and deletedFlag = null

Python binds ``&`` and ``|`` tighter than ``==``, so parenthesise comparisons you combine:
``(F("a") == 1) | (F("b") == 2)``. A Condition refuses ``bool()``, so the unparenthesised form fails loudly.

Strings are always double-quoted with ``\\``, ``"`` and ``[`` escaped (``[`` as ``[[]``). In ``like``,
``*`` is the caller's wildcard and is kept; the server may also treat ``%`` as one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeAlias

__all__ = ["Condition", "F", "Value", "all_of", "any_of"]

Value: TypeAlias = str | int | float | Decimal | bool | date | datetime | None
"""A value a condition can compare a field with (``datetime`` must be timezone-aware)."""

_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*")


class Condition:
    """An immutable conditions expression; ``str()`` renders it for the ``conditions`` parameter."""

    __slots__ = ()

    def render(self) -> str:
        """Render the condition in the ConnectWise grammar."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.render()

    def __and__(self, other: Condition) -> Condition:
        return all_of(self, other)

    def __or__(self, other: Condition) -> Condition:
        return any_of(self, other)

    def __bool__(self) -> bool:
        raise TypeError(
            "a Condition has no truth value; combine conditions with & and |, and parenthesise "
            "comparisons: (F('a') == 1) | (F('b') == 2)"
        )


@dataclass(frozen=True, slots=True)
class _Comparison(Condition):
    path: str
    operator: str
    operand: str  # already rendered

    def render(self) -> str:
        return f"{self.path} {self.operator} {self.operand}"


@dataclass(frozen=True, slots=True)
class _AllOf(Condition):
    parts: tuple[Condition, ...]

    def render(self) -> str:
        # AND binds tighter than OR, so only an OR inside needs parentheses.
        return " and ".join(f"({p.render()})" if isinstance(p, _AnyOf) else p.render() for p in self.parts)


@dataclass(frozen=True, slots=True)
class _AnyOf(Condition):
    parts: tuple[Condition, ...]

    def render(self) -> str:
        return " or ".join(part.render() for part in self.parts)


def all_of(*conditions: Condition) -> Condition:
    """Combine conditions with ``and``; a single condition is returned as is.

    Raises:
        ValueError: no conditions were given.
        TypeError: an argument is not a Condition.
    """
    return _combine(_AllOf, conditions, "all_of")


def any_of(*conditions: Condition) -> Condition:
    """Combine conditions with ``or``; a single condition is returned as is.

    Raises:
        ValueError: no conditions were given.
        TypeError: an argument is not a Condition.
    """
    return _combine(_AnyOf, conditions, "any_of")


def _combine(kind: type[_AllOf] | type[_AnyOf], conditions: tuple[Condition, ...], name: str) -> Condition:
    if not conditions:
        raise ValueError(f"{name}() needs at least one condition")
    parts: list[Condition] = []
    for condition in conditions:
        if not isinstance(condition, Condition):
            raise TypeError(f"{name}() takes Conditions, not {type(condition).__name__}")
        # Flatten a and (b and c) into one level; the grammar is associative.
        parts.extend(condition.parts if isinstance(condition, kind) else [condition])
    return parts[0] if len(parts) == 1 else kind(tuple(parts))


@dataclass(frozen=True, slots=True, eq=False)
class F:
    """A field path such as ``company/id``; comparison operators and methods build Conditions."""

    path: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not _PATH.fullmatch(self.path):
            raise ValueError(f"invalid condition field path {self.path!r}: use names like 'company/id'")

    def _compare(self, operator: str, value: Value) -> Condition:
        if value is None and operator not in ("=", "!="):
            raise ValueError(f"{self.path} {operator} None is always false; use is_null()/is_not_null()")
        return _Comparison(self.path, operator, _render_value(value))

    def __eq__(self, value: Value) -> Condition:  # type: ignore[override]
        return self._compare("=", value)

    def __ne__(self, value: Value) -> Condition:  # type: ignore[override]
        return self._compare("!=", value)

    def __lt__(self, value: Value) -> Condition:
        return self._compare("<", value)

    def __le__(self, value: Value) -> Condition:
        return self._compare("<=", value)

    def __gt__(self, value: Value) -> Condition:
        return self._compare(">", value)

    def __ge__(self, value: Value) -> Condition:
        return self._compare(">=", value)

    __hash__ = None  # type: ignore[assignment]  # __eq__ builds conditions, so F is unhashable

    def is_null(self) -> Condition:
        """``path = null``: the field is missing or null."""
        return self._compare("=", None)

    def is_not_null(self) -> Condition:
        """``path != null``."""
        return self._compare("!=", None)

    def like(self, pattern: str) -> Condition:
        """``path like "pattern"``, with ``*`` as the wildcard (case-insensitive, whole value)."""
        return _Comparison(self.path, "like", _render_text(pattern, "like"))

    def not_like(self, pattern: str) -> Condition:
        """``path not like "pattern"``."""
        return _Comparison(self.path, "not like", _render_text(pattern, "not_like"))

    def contains(self, text: str) -> Condition:
        """``path contains "text"`` (case-insensitive substring)."""
        return _Comparison(self.path, "contains", _render_text(text, "contains"))

    def not_contains(self, text: str) -> Condition:
        """``path not contains "text"``."""
        return _Comparison(self.path, "not contains", _render_text(text, "not_contains"))

    def in_(self, values: Iterable[Value]) -> Condition:
        """``path in (v1, v2, ...)``; raises ValueError for an empty collection."""
        return _Comparison(self.path, "in", _render_list(self.path, values))

    def not_in(self, values: Iterable[Value]) -> Condition:
        """``path not in (v1, v2, ...)``; raises ValueError for an empty collection."""
        return _Comparison(self.path, "not in", _render_list(self.path, values))


def _render_list(path: str, values: Iterable[Value]) -> str:
    if isinstance(values, str | bytes):
        raise TypeError(f"in_/not_in on {path} takes a collection of values, not a single {type(values).__name__}")
    rendered = [_render_value(value) for value in values]
    if not rendered:
        raise ValueError(f"in_/not_in on {path} needs at least one value")
    return "(" + ", ".join(rendered) + ")"


def _render_text(text: object, method: str) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{method}() takes a str, not {type(text).__name__}")
    return _quote(text)


def _render_value(value: object) -> str:
    """Render a literal: null, True/False, plain decimal numbers, quoted strings or [datetimes]."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _render_number(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, datetime):
        return f"[{_utc_text(value)}]"
    if isinstance(value, date):
        return f"[{value.isoformat()}]"
    raise TypeError(f"cannot use a {type(value).__name__} value in a condition")


def _render_number(value: float | Decimal) -> str:
    # repr() gives the shortest float text that round-trips; format "f" drops the exponent.
    exact = Decimal(repr(value)) if isinstance(value, float) else value
    if not exact.is_finite():
        raise ValueError(f"cannot use the non-finite number {value!r} in a condition")
    return format(exact, "f")


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("[", "[[]")
    return f'"{escaped}"'


def _utc_text(value: datetime) -> str:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} in a condition; pass a timezone-aware datetime")
    utc = value.astimezone(UTC)
    text = f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    return f"{text}.{utc.microsecond:06d}Z" if utc.microsecond else f"{text}Z"
