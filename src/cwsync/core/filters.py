"""Filters as configuration (HS-7): rules over a flattened record decide whether it syncs. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from cwsync.config.model import FilterRule


def failing_rule(rules: Iterable[FilterRule], flat: Mapping[str, Any]) -> str | None:
    """The first rule the record fails, described for the run log, or None when it passes all."""
    for rule in rules:
        if not passes(rule, flat.get(rule.field)):
            shown = "" if rule.op in ("exists", "not_exists") else f" {rule.value!r}"
            return f"filtered out: {rule.field} {rule.op}{shown} (value: {flat.get(rule.field)!r})"
    return None


def passes(rule: FilterRule, value: Any) -> bool:
    """Whether one value passes one rule (text compares case-insensitively; lists match on any element)."""
    if rule.op == "exists":
        return not _empty(value)
    if rule.op == "not_exists":
        return _empty(value)
    if isinstance(value, list | tuple) and rule.op in ("eq", "contains", "in"):
        return any(passes(rule, item) for item in value)
    if isinstance(value, list | tuple) and rule.op in ("ne", "not_contains", "not_in"):
        return all(passes(rule, item) for item in value)
    return _compare(rule, value)


def _compare(rule: FilterRule, value: Any) -> bool:
    op, wanted = rule.op, rule.value
    if op in ("in", "not_in"):
        options = wanted if isinstance(wanted, list) else [wanted]
        found = any(_equal(value, option) for option in options)
        return found if op == "in" else not found
    if op in ("contains", "not_contains"):
        found = str(wanted).lower() in str(value or "").lower()
        return found if op == "contains" else not found
    if op in ("gt", "lt"):
        ordered = _order(value, wanted)
        return ordered is not None and (ordered > 0 if op == "gt" else ordered < 0)
    return _equal(value, wanted) if op == "eq" else not _equal(value, wanted)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return str(a).lower() == str(b).lower()
    if _number(a) is not None and _number(b) is not None:
        return _number(a) == _number(b)
    return str(a if a is not None else "").strip().lower() == str(b if b is not None else "").strip().lower()


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _order(a: Any, b: Any) -> int | None:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return (na > nb) - (na < nb)
    if a is None or b is None:
        return None
    sa, sb = str(a), str(b)
    return (sa > sb) - (sa < sb)
