"""Server-side parser and evaluator for the ConnectWise Manage query grammar (api-notes §2.2).

The emulator stands for the real API, so this module imports nothing from cwsync outside the sandbox.
The real API is SQL Server underneath, and the evaluator follows its habits: strings compare
case-insensitively, and ``null`` only equals ``null`` (any other comparison with a null value is false).

    cond = parse_conditions('board/name = "Integration" and lastUpdated > [2026-01-02T03:04:05Z]')
    rows = [r for r in records if cond.matches(r)]
    rows.sort(key=lambda r: sort_key(r, "name"))
    body = [project_fields(r, "id,name,status/id") for r in rows]

Errors: every malformed text raises ``ConditionError`` (a ``ValueError``) naming the 0-based character
position, what was found and what was expected; ``.param`` names the query parameter for the 400 body.

Grammar::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | comparison
    comparison := path operator value | path ["not"] "in" "(" value ("," value)* ")"
    operator   := = | != | < | <= | > | >= | ["not"] contains | ["not"] like
    value      := "string" | 'string' | number | True | False | null | [datetime]

A leading ``not`` is plain boolean negation (not SQL's three-valued logic); the real API's support for
it is unknown and our client never sends it.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any, NoReturn, TypeAlias

__all__ = [
    "Condition",
    "ConditionError",
    "matches_child",
    "matches_custom_fields",
    "parse_conditions",
    "parse_order_by",
    "project_fields",
    "resolve_path",
    "sort_key",
]


class ConditionError(ValueError):
    """A conditions, orderBy or fields text the API would reject with a 400."""

    def __init__(self, message: str, *, param: str = "conditions", position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.position = position


# --- tokens

_SPACE = re.compile(r"\s+")
_STRING = {'"': re.compile(r'"(?:[^"\\]|\\.)*"', re.S), "'": re.compile(r"'(?:[^'\\]|\\.)*'", re.S)}
_WORD = re.compile(r"[^\s()=!<>,\"'\[\]]+")  # a run up to the next delimiter; validated by the parser
_OPERATOR_CHARS = re.compile(r"[<>=!]+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*([Zz]|[+-]\d{2}(?::?\d{2})?)?)?"
)
_SYMBOL_OPERATORS = frozenset({"=", "!=", "<", "<=", ">", ">="})
_WORD_OPERATORS = frozenset({"contains", "like", "in"})
_OPERATOR_HINT = "an operator (=, !=, <, <=, >, >=, contains, like, in, not contains, not like, not in)"
_VALUE_HINT = "a value (quoted string, number, True, False, null or [datetime])"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "string" | "datetime" | "word" | "op" | "(" | ")" | "," | "end"
    text: str  # the source text, for messages
    pos: int
    value: Any = None

    def describe(self) -> str:
        return "end of input" if self.kind == "end" else f"token {self.text!r}"

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.lower() in words


def _tokenize(text: str, param: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if space := _SPACE.match(text, pos):
            pos = space.end()
            continue
        if char in "(),":
            tokens.append(_Token(char, char, pos))
            pos += 1
        elif char in _STRING:
            pos = _string_token(text, pos, tokens, param)
        elif char == "[":
            pos = _datetime_token(text, pos, tokens, param)
        elif match := _OPERATOR_CHARS.match(text, pos) or _WORD.match(text, pos):
            kind = "op" if char in "<>=!" else "word"
            tokens.append(_Token(kind, match.group(), pos))
            pos = match.end()
        else:
            raise ConditionError(f"Unexpected character {char!r} at position {pos}", param=param, position=pos)
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _string_token(text: str, pos: int, tokens: list[_Token], param: str) -> int:
    match = _STRING[text[pos]].match(text, pos)
    if match is None:
        raise ConditionError(
            f"Unterminated string starting at position {pos}, expected a closing {text[pos]}",
            param=param,
            position=pos,
        )
    tokens.append(_Token("string", match.group(), pos, _unescape(match.group()[1:-1])))
    return match.end()


def _datetime_token(text: str, pos: int, tokens: list[_Token], param: str) -> int:
    end = text.find("]", pos)
    if end < 0:
        raise ConditionError(
            f"Unterminated datetime starting at position {pos}, expected ']'", param=param, position=pos
        )
    body = text[pos + 1 : end]
    value = _parse_datetime(body.strip())
    if value is None:
        raise ConditionError(
            f"Invalid datetime {body!r} at position {pos}, expected [YYYY-MM-DD] or [YYYY-MM-DDTHH:MM:SSZ]",
            param=param,
            position=pos,
        )
    tokens.append(_Token("datetime", text[pos : end + 1], pos, value))
    return end + 1


def _unescape(body: str) -> str:
    """Undo backslash escapes and the ``[[]`` spelling of a literal ``[``, in one left-to-right pass."""
    if "\\" not in body and "[" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(nxt if nxt in "\"'\\" else body[i : i + 2])
            i += 2
        elif body.startswith("[[]", i):
            out.append("[")
            i += 3
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _parse_datetime(text: str) -> datetime | None:
    """Parse an ISO-8601 date or datetime; naive values are UTC. None when it is not one."""
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        return datetime(
            int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micro,
            tzinfo=_timezone(offset),
        )  # fmt: skip
    except ValueError:
        return None


def _timezone(offset: str | None) -> timezone:
    if offset is None or offset in "Zz":
        return UTC
    digits = offset[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(-delta if offset[0] == "-" else delta)


@lru_cache(maxsize=1 << 16)
def _record_datetime(text: str) -> datetime | None:
    return _parse_datetime(text.strip())


# --- paths

_Segments: TypeAlias = tuple[tuple[str, str], ...]  # (name as written, lower-cased)
_MISSING: Any = object()
_INFO_ALIASES = frozenset({"lastupdated", "dateentered", "enteredby", "updatedby"})


class _Many(list[Any]):
    """Values collected by walking through a list in the middle of a path."""


@lru_cache(maxsize=1024)
def _segments(path: str) -> _Segments:
    return tuple((name, name.lower()) for name in path.split("/") if name)


def _lookup(obj: Mapping[str, Any], name: str, lowered: str) -> Any:
    value = obj.get(name, _MISSING)
    if value is _MISSING:
        for key, candidate in obj.items():
            if isinstance(key, str) and key.lower() == lowered:
                return candidate
    return value


def _lookup_top(obj: Mapping[str, Any], name: str, lowered: str) -> Any:
    """Case-insensitive lookup of a first segment, with the ``_info`` fallback for the metadata names."""
    if lowered not in _INFO_ALIASES:
        return _lookup(obj, name, lowered)
    # Exact spellings first: a scan of every key per record is what makes lastUpdated filters slow.
    if (value := obj.get(name, _MISSING)) is not _MISSING:
        return value
    info = obj.get("_info", _MISSING)
    if isinstance(info, Mapping) and (value := info.get(name, _MISSING)) is not _MISSING:
        return value
    value = _lookup(obj, name, lowered)
    if value is _MISSING:
        info = _lookup(obj, "_info", "_info")
        value = _lookup(info, name, lowered) if isinstance(info, Mapping) else _MISSING
    return value


def _resolve(obj: Any, segments: _Segments) -> Any:
    current = obj
    for index, (name, lowered) in enumerate(segments):
        if type(current) is dict:  # the common case, checked first because scans are hot
            value = current.get(name, _MISSING)
        elif isinstance(current, list):
            return _resolve_each(current, segments[index:])
        elif isinstance(current, Mapping):
            value = _MISSING
        else:
            return None
        if value is _MISSING:
            value = _lookup_top(current, name, lowered) if index == 0 else _lookup(current, name, lowered)
        current = None if value is _MISSING else value
    return current


def _resolve_each(items: list[Any], segments: _Segments) -> _Many:
    found = _Many()
    for item in items:
        value = _resolve(item, segments)
        if isinstance(value, list):
            found.extend(value)
        else:
            found.append(value)
    return found


def resolve_path(record: Any, path: str) -> Any:
    """Return the value at a ``/``-separated path, matching keys case-insensitively.

    A missing key gives None. Bare ``lastUpdated``, ``dateEntered``, ``enteredBy`` and ``updatedBy`` fall
    back to ``_info``. Walking through a list collects the values from every element into a list.
    """
    value = _resolve(record, _segments(path))
    return list(value) if isinstance(value, _Many) else value


# --- comparing

_Comparer: TypeAlias = Callable[[Any], "int | None"]  # sign of (record value - literal), None if incomparable
_Test: TypeAlias = Callable[[Any], bool]
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_SIGN_CHECKS: dict[str, Callable[[int], bool]] = {
    "=": lambda sign: sign == 0,
    "!=": lambda sign: sign != 0,
    "<": lambda sign: sign < 0,
    "<=": lambda sign: sign <= 0,
    ">": lambda sign: sign > 0,
    ">=": lambda sign: sign >= 0,
}


def _sign(left: Any, right: Any) -> int:
    return int(left > right) - int(left < right)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _text_number(text: str) -> int | Decimal | None:
    text = text.strip()
    if not _NUMBER.fullmatch(text):
        return None
    return Decimal(text) if "." in text else int(text)


def _is_nan(value: Any) -> bool:
    # Decimal("sNaN") raises on any comparison, so test with is_nan() rather than value != value.
    return (isinstance(value, float) and math.isnan(value)) or (isinstance(value, Decimal) and value.is_nan())


def _number_sign(value: Any, exact: int | Decimal, approx: float) -> int | None:
    if _is_nan(value):
        return None
    # A JSON 1.1 arrives as a float; compare it with float(1.1), not the exact Decimal.
    return _sign(value, approx if isinstance(value, float) else exact)


def _string_comparer(literal: str) -> _Comparer:
    folded = literal.casefold()
    number = _text_number(literal)
    approx = float(number) if number is not None else 0.0

    def compare(value: Any) -> int | None:
        if isinstance(value, str):
            return _sign(value.casefold(), folded)
        if number is not None and _is_number(value):
            return _number_sign(value, number, approx)
        return None

    return compare


def _number_comparer(literal: int | Decimal) -> _Comparer:
    approx = float(literal)

    def compare(value: Any) -> int | None:
        if type(value) is int:
            return int(value > literal) - int(value < literal)
        if _is_number(value):
            return _number_sign(value, literal, approx)
        if isinstance(value, str):
            number = _text_number(value)
            return None if number is None else _sign(number, literal)
        return None

    return compare


def _bool_comparer(literal: bool) -> _Comparer:
    return lambda value: _sign(value, literal) if isinstance(value, bool) else None


def _datetime_comparer(literal: datetime) -> _Comparer:
    def compare(value: Any) -> int | None:
        if isinstance(value, str):
            parsed = _record_datetime(value)
        elif isinstance(value, datetime):
            parsed = value if value.tzinfo else value.replace(tzinfo=UTC)
        elif isinstance(value, date):
            parsed = datetime(value.year, value.month, value.day, tzinfo=UTC)
        else:
            parsed = None
        return None if parsed is None else _sign(parsed, literal)

    return compare


def _null_comparer(value: Any) -> int:
    return 0 if value is None else 1


def _comparer(literal: Any) -> _Comparer:
    if literal is None:
        return _null_comparer
    if isinstance(literal, bool):
        return _bool_comparer(literal)
    if isinstance(literal, str):
        return _string_comparer(literal)
    if isinstance(literal, datetime):
        return _datetime_comparer(literal)
    return _number_comparer(literal)


def _comparison_test(op: str, literal: Any) -> _Test:
    if literal is None:
        return {"=": lambda v: v is None, "!=": lambda v: v is not None}.get(op, lambda v: False)
    compare, check = _comparer(literal), _SIGN_CHECKS[op]
    # Fast path for a record value of the literal's own type; same answer as check(compare(value)).
    fast_type = type(literal) if type(literal) in (str, int, bool) else None
    key = literal.casefold() if isinstance(literal, str) else literal
    direct = _OPERATORS[op]

    def test(value: Any) -> bool:
        if type(value) is fast_type:
            return direct(value.casefold() if fast_type is str else value, key)
        sign = compare(value)
        return sign is not None and check(sign)

    return test


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    return str(value) if _is_number(value) else None


def _like_matcher(pattern: str) -> Callable[[str], bool]:
    folded = pattern.casefold().replace("%", "*")
    inner = folded.strip("*")
    if "*" not in folded:
        return folded.__eq__
    if "*" not in inner:
        starts, ends = folded.startswith("*"), folded.endswith("*")
        if starts and ends:
            return lambda text: inner in text
        return (lambda text: text.endswith(inner)) if starts else (lambda text: text.startswith(inner))
    regex = re.compile(".*".join(re.escape(part) for part in folded.split("*")), re.S)
    return lambda text: regex.fullmatch(text) is not None


def _text_test(op: str, literal: str) -> _Test:
    if op.endswith("like"):
        matcher = _like_matcher(literal)
    else:
        needle = literal.casefold()

        def matcher(text: str) -> bool:
            return needle in text

    negate = op.startswith("not")

    def test(value: Any) -> bool:
        text = _as_text(value)
        return text is not None and matcher(text.casefold()) != negate

    return test


def _membership_test(op: str, literals: tuple[Any, ...]) -> _Test:
    comparers = [_comparer(literal) for literal in literals]
    ints = {x for x in literals if type(x) is int} if all(type(x) is int for x in literals) else None
    strs = {x.casefold() for x in literals} if all(isinstance(x, str) for x in literals) else None

    def found(value: Any) -> bool:
        # Fast paths give the same answer as the comparers: int against ints, str against strs.
        if ints is not None and type(value) is int:
            return value in ints
        if strs is not None and type(value) is str:
            return value.casefold() in strs
        return any(compare(value) == 0 for compare in comparers)

    if op == "in":
        return found

    def excluded(value: Any) -> bool:
        if ints is not None and type(value) is int:
            return value not in ints
        if strs is not None and type(value) is str:
            return value.casefold() not in strs
        # SQL: NOT IN is true only if every comparison is a definite "not equal" (so never on null).
        signs = [compare(value) for compare in comparers]
        return all(sign is not None and sign != 0 for sign in signs)

    return excluded


# --- nodes


@dataclass(frozen=True, slots=True)
class _Compare:
    path: str
    segments: _Segments
    op: str
    operand: Any
    test: _Test = field(compare=False, repr=False)

    def evaluate(self, obj: Any) -> bool:
        value = _resolve(obj, self.segments)
        if isinstance(value, list):
            return _any_value(self.test, value)
        return self.test(value)

    def first_segments(self) -> set[str]:
        return {self.segments[0][1]} if self.segments else set()

    def strip_first(self) -> _Compare:
        return replace(self, segments=self.segments[1:])


def _any_value(test: _Test, values: list[Any]) -> bool:
    for value in values:
        if isinstance(value, list):
            if _any_value(test, value):
                return True
        elif test(value):
            return True
    return False


@dataclass(frozen=True, slots=True)
class _And:
    parts: tuple[_Node, ...]

    def evaluate(self, obj: Any) -> bool:
        for part in self.parts:  # noqa: SIM110 - a plain loop is measurably faster than all() on scans
            if not part.evaluate(obj):
                return False
        return True

    def first_segments(self) -> set[str]:
        return set().union(*(part.first_segments() for part in self.parts))

    def strip_first(self) -> _And:
        return _And(tuple(part.strip_first() for part in self.parts))


@dataclass(frozen=True, slots=True)
class _Or:
    parts: tuple[_Node, ...]

    def evaluate(self, obj: Any) -> bool:
        for part in self.parts:  # noqa: SIM110 - a plain loop is measurably faster than any() on scans
            if part.evaluate(obj):
                return True
        return False

    def first_segments(self) -> set[str]:
        return set().union(*(part.first_segments() for part in self.parts))

    def strip_first(self) -> _Or:
        return _Or(tuple(part.strip_first() for part in self.parts))


@dataclass(frozen=True, slots=True)
class _Not:
    part: _Node

    def evaluate(self, obj: Any) -> bool:
        return not self.part.evaluate(obj)

    def first_segments(self) -> set[str]:
        return self.part.first_segments()

    def strip_first(self) -> _Not:
        return _Not(self.part.strip_first())


_Node: TypeAlias = _Compare | _And | _Or | _Not


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed conditions expression; ``matches`` evaluates it against one record."""

    text: str
    root: _Node
    _array: tuple[str, str] | None = field(init=False, repr=False, compare=False)
    _element_root: _Node | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        firsts = {compare.segments[0][1]: compare.segments[0] for compare in _comparisons(self.root)}
        single = len(firsts) == 1
        object.__setattr__(self, "_array", next(iter(firsts.values())) if single else None)
        object.__setattr__(self, "_element_root", self.root.strip_first() if single else None)

    def matches(self, record: Mapping[str, Any]) -> bool:
        """True when the record satisfies the condition."""
        return self.root.evaluate(record)

    def fields(self) -> set[str]:
        """The lower-cased first path segments referenced, for validation by the caller."""
        return self.root.first_segments()

    def id_set(self) -> frozenset[int] | None:
        """The record ids the condition is limited to (`id = 7`, `id in (1, 2)`, ANDed with anything), or None.

        Lets a list answer such a query by looking the ids up instead of scanning (as the real API's index does);
        the whole condition is still evaluated on each record found.
        """
        return _ids_of(self.root)


def _ids_of(node: _Node) -> frozenset[int] | None:
    if isinstance(node, _Compare):
        if node.path.lower() != "id" or node.op not in ("=", "in"):
            return None
        values = node.operand if node.op == "in" else (node.operand,)
        ids = [int(v) for v in values if _is_number(v) and not isinstance(v, bool) and int(v) == v]
        return frozenset(ids) if len(ids) == len(values) else None
    if isinstance(node, _And):
        found = [part_ids for part in node.parts if (part_ids := _ids_of(part)) is not None]
        return frozenset.intersection(*found) if found else None
    return None


def _comparisons(node: _Node) -> Iterable[_Compare]:
    if isinstance(node, _Compare):
        yield node
    elif isinstance(node, _Not):
        yield from _comparisons(node.part)
    else:
        for part in node.parts:
            yield from _comparisons(part)


def matches_child(cond: Condition, record: Mapping[str, Any]) -> bool:
    """Evaluate ``childConditions``: true when one element of the named array satisfies the whole condition.

    With paths into several arrays, each comparison is checked on its own (any element of its array).
    """
    if cond._array is None or cond._element_root is None:
        return cond.matches(record)
    value = _lookup(record, *cond._array)
    if value is _MISSING or value is None:
        return False
    elements = value if isinstance(value, list) else [value]
    root = cond._element_root
    return any(root.evaluate(element) for element in elements)


def matches_custom_fields(cond: Condition, record: Mapping[str, Any]) -> bool:
    """Evaluate ``customFieldConditions``: true when one element of ``customFields`` satisfies it all."""
    elements = _lookup(record, "customFields", "customfields")
    if not isinstance(elements, list):
        return False
    return any(cond.root.evaluate(element) for element in elements if isinstance(element, Mapping))


# --- parser


MAX_NESTING = 100
"""Parentheses and `not`s a condition may nest (deeper is a ConditionError, not a RecursionError)."""


class _Parser:
    def __init__(self, text: str, param: str) -> None:
        self.param = param
        self.tokens = _tokenize(text, param)
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def fail(self, token: _Token, expected: str) -> NoReturn:
        message = f"Unexpected {token.describe()} at position {token.pos}, expected {expected}"
        raise ConditionError(message, param=self.param, position=token.pos)

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise ConditionError(
                'Empty condition at position 0, expected a comparison such as name = "x"',
                param=self.param,
                position=0,
            )
        node = self.parse_or()
        if self.peek().kind != "end":
            self.fail(self.peek(), "'and', 'or' or end of input")
        return node

    def parse_or(self) -> _Node:
        parts = [self.parse_and()]
        while self.peek().is_keyword("or"):
            self.advance()
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else _Or(tuple(parts))

    def parse_and(self) -> _Node:
        parts = [self.parse_unary()]
        while self.peek().is_keyword("and"):
            self.advance()
            parts.append(self.parse_unary())
        return parts[0] if len(parts) == 1 else _And(tuple(parts))

    def parse_unary(self) -> _Node:
        token = self.peek()
        if token.is_keyword("not") or token.kind == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                message = f"Condition nested deeper than {MAX_NESTING} levels at position {token.pos}"
                raise ConditionError(message, param=self.param, position=token.pos)
            try:
                return self._nested(token)
            finally:
                self.depth -= 1
        return self.parse_comparison()

    def _nested(self, token: _Token) -> _Node:
        self.advance()
        if token.is_keyword("not"):
            return _Not(self.parse_unary())
        node = self.parse_or()
        if self.peek().kind != ")":
            self.fail(self.peek(), f"')' to close the '(' at position {token.pos}")
        self.advance()
        return node

    def parse_comparison(self) -> _Compare:
        token = self.advance()
        if token.kind != "word" or token.is_keyword("and", "or"):
            self.fail(token, "a field name")
        if not _PATH.fullmatch(token.text):
            raise ConditionError(
                f"Invalid field path {token.text!r} at position {token.pos}, expected a field name made of "
                "letters, digits and '_', with '/' between segments",
                param=self.param,
                position=token.pos,
            )
        op = self.parse_operator()
        if op.endswith("in"):
            literals = self.parse_list()
            test, operand = _membership_test(op, literals), literals
        elif op.endswith(("like", "contains")):
            value = self.advance()
            if value.kind != "string":
                self.fail(value, f"a quoted string after '{op}'")
            test, operand = _text_test(op, value.value), value.value
        else:
            operand = self.parse_literal()
            test = _comparison_test(op, operand)
        return _Compare(token.text, _segments(token.text), op, operand, test)

    def parse_operator(self) -> str:
        token = self.advance()
        if token.kind == "op":
            if token.text not in _SYMBOL_OPERATORS:
                raise ConditionError(
                    f"Unknown operator {token.text!r} at position {token.pos}, expected {_OPERATOR_HINT}",
                    param=self.param,
                    position=token.pos,
                )
            return token.text
        if token.is_keyword(*_WORD_OPERATORS):
            return token.text.lower()
        if token.is_keyword("not"):
            following = self.advance()
            if not following.is_keyword(*_WORD_OPERATORS):
                self.fail(following, "'contains', 'like' or 'in' after 'not'")
            return "not " + following.text.lower()
        self.fail(token, _OPERATOR_HINT)

    def parse_list(self) -> tuple[Any, ...]:
        opening = self.advance()
        if opening.kind != "(":
            self.fail(opening, "'(' to start the 'in' list")
        if self.peek().kind == ")":
            raise ConditionError(
                f"Empty 'in' list at position {opening.pos}, expected at least one value",
                param=self.param,
                position=opening.pos,
            )
        literals = [self.parse_literal()]
        while (separator := self.advance()).kind == ",":
            literals.append(self.parse_literal())
        if separator.kind != ")":
            self.fail(separator, "',' or ')' in the 'in' list")
        return tuple(literals)

    def parse_literal(self) -> Any:
        token = self.advance()
        if token.kind in ("string", "datetime"):
            return token.value
        if token.kind == "word":
            lowered = token.text.lower()
            if lowered in ("true", "false"):
                return lowered == "true"
            if lowered == "null":
                return None
            if _NUMBER.fullmatch(token.text):
                return _text_number(token.text)
        self.fail(token, _VALUE_HINT)


def parse_conditions(text: str, *, param: str = "conditions") -> Condition:
    """Parse a conditions text into a Condition.

    Raises:
        ConditionError: the text is empty or malformed; the message names the position and expectation.
    """
    return Condition(text, _Parser(text, param).parse())


# --- orderBy, fields


def parse_order_by(text: str) -> list[tuple[str, bool]]:
    """Parse ``"name asc, company/id desc"`` into ``[("name", False), ("company/id", True)]`` (True = desc).

    Raises:
        ConditionError: with ``param="orderBy"`` for an empty item, a bad path or an unknown direction.
    """
    keys: list[tuple[str, bool]] = []
    offset = 0
    for item in text.split(","):
        words = [(m.group(), offset + m.start()) for m in re.finditer(r"\S+", item)]
        keys.append(_order_key(words, offset))
        offset += len(item) + 1
    return keys


def _order_key(words: list[tuple[str, int]], offset: int) -> tuple[str, bool]:
    def fail(message: str, pos: int) -> NoReturn:
        raise ConditionError(f"{message} at position {pos}", param="orderBy", position=pos)

    if not words:
        fail("Missing field name in orderBy, expected 'field [asc|desc]'", offset)
    path, pos = words[0]
    if not _PATH.fullmatch(path):
        fail(f"Invalid field path {path!r} in orderBy, expected letters, digits, '_' and '/'", pos)
    if len(words) > 1 and words[1][0].lower() not in ("asc", "desc"):
        fail(f"Unexpected token {words[1][0]!r} in orderBy, expected 'asc' or 'desc'", words[1][1])
    if len(words) > 2:
        fail(f"Unexpected token {words[2][0]!r} in orderBy, expected ',' or end of input", words[2][1])
    return path, len(words) > 1 and words[1][0].lower() == "desc"


def sort_key(record: Any, path: str) -> tuple[Any, ...]:
    """A key ordering records by the value at ``path``: nulls first, strings case-insensitively.

    Values of different kinds order as null < bool < number < string < list < other.
    """
    return _value_key(resolve_path(record, path))


def _value_key(value: Any) -> tuple[Any, ...]:
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (1, value)
    if _is_number(value) and not _is_nan(value):
        return (2, value)
    if isinstance(value, str):
        return (3, value.casefold(), value)
    if isinstance(value, list):
        return (4, tuple(_value_key(item) for item in value))
    return (5, repr(value))


_FieldTree: TypeAlias = dict[str, "_FieldTree | None"]  # None: keep the whole value


@lru_cache(maxsize=256)
def _field_tree(fields: str) -> _FieldTree:
    tree: _FieldTree = {}
    for item in fields.split(","):
        names = [name.strip().lower() for name in item.split("/")]
        if not all(names):
            continue
        node = tree
        for name in names[:-1]:
            child = node.setdefault(name, {})
            if child is None:
                break
            node = child
        else:
            node[names[-1]] = None
    return tree


def project_fields(record: Mapping[str, Any], fields: str) -> dict[str, Any]:
    """Keep only the requested ``fields`` (``"id,name,status/id"``), preserving nested structure.

    Names match case-insensitively and the output keeps the record's own key case; unknown names are
    absent. Kept values are shared with the record, not copied.
    """
    return _project(record, _field_tree(fields))


def _project(obj: Mapping[str, Any], tree: _FieldTree) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in obj.items():
        sub = tree.get(key.lower(), _MISSING) if isinstance(key, str) else _MISSING
        if sub is _MISSING:
            continue
        if sub is None or value is None:
            out[key] = value
        elif isinstance(value, Mapping):
            out[key] = _project(value, sub)
        elif isinstance(value, list):
            out[key] = [_project(item, sub) if isinstance(item, Mapping) else item for item in value]
    return out
