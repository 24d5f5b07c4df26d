"""JSON from untrusted bytes, bounded: depth, finite numbers, 64-bit integers (issue 20). Pure.

`json.loads` recurses once per nesting level (a 100,000-deep body is a `RecursionError`), accepts `NaN`,
`Infinity` and `1e999` (which no JSON encoder will write back), and turns 4,000-digit integers into Python ints
that overflow SQLite. `loads` refuses all of these with `JSONRefused` (a `ValueError`) before they reach a caller::

    payload = loads(body)                # bytes (UTF-8) or str
    payload = loads(body, max_depth=32)  # tighter for a small, known shape

The depth is measured by a linear scan of the text (strings skipped) before `json.loads` runs, so the parser is
never handed something deeper than `max_depth`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_INT", "JSONRefused", "loads"]

MAX_DEPTH = 64
"""Nesting levels (objects and arrays) a document may have by default."""

MAX_INT = 2**63 - 1
"""The largest integer magnitude accepted (SQLite's and PostgreSQL's bigint)."""

_MAX_NUMBER_TEXT = 40
"""Digits a number may be written with (a finite double needs at most 17 significant digits plus an exponent)."""


class JSONRefused(ValueError):
    """The text is not JSON this engine takes; `reason` is a short code, `str()` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def loads(data: bytes | bytearray | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text with limits.

    Raises:
        JSONRefused: `not_utf8` (also an unpaired surrogate escape), `too_deep` (over `max_depth`), `not_finite`
            (`NaN`, `Infinity`, a float that overflows), `number_too_large`, or `not_json` (anything else).
    """
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONRefused("not_utf8", f"the JSON text is not valid UTF-8 (byte {exc.start})") from None
    else:
        text = data
    depth = _depth(text)
    if depth > max_depth:
        raise JSONRefused("too_deep", f"the JSON text nests deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except JSONRefused:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digit limit; RecursionError cannot happen
        raise JSONRefused("not_json", f"not valid JSON: {exc}") from None
    if _SURROGATE.search(text) and _lone_surrogate(value):
        raise JSONRefused("not_utf8", "the JSON text has an unpaired surrogate escape (\\ud800-\\udfff)")
    return value


_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")
"""A surrogate escape: paired ones make one character, an unpaired one a string no UTF-8 store can hold."""


def _lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_lone_surrogate(v) for v in value)
    return False


_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
"""A JSON string, quotes included (escapes skipped)."""
_BRACKETS = re.compile(r"[\[\]{}]")


def _depth(text: str) -> int:
    """The deepest nesting of `[`/`{` outside strings (an unbalanced text is left for the parser to refuse).

    The strings are cut out by a regular expression and only the brackets left are walked (a per-character loop
    cost ~0.5 ms per callback body); an unterminated string runs to the end of the text, as the parser reads it.
    """
    structure = _STRINGS.sub("", text)
    unterminated = structure.find('"')
    if unterminated >= 0:
        structure = structure[:unterminated]
    deepest = depth = 0
    for match in _BRACKETS.finditer(structure):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
            if depth < 0:  # invalid from here on: the parser stops at this character
                return deepest
    return deepest


def _constant(name: str) -> Any:
    raise JSONRefused("not_finite", f"{name} is not a JSON number")


def _float(text: str) -> float:
    if len(text) > _MAX_NUMBER_TEXT:
        raise JSONRefused("number_too_large", f"the number {text[:20]}… has too many digits")
    value = float(text)
    if not math.isfinite(value):
        raise JSONRefused("not_finite", f"the number {text} is out of range")
    return value


def _int(text: str) -> int:
    if len(text) > _MAX_NUMBER_TEXT:
        raise JSONRefused("number_too_large", f"the integer {text[:20]}… has too many digits")
    value = int(text)
    if abs(value) > MAX_INT:
        raise JSONRefused("number_too_large", f"the integer {text} is out of range (at most ±{MAX_INT})")
    return value
