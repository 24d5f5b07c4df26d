"""Canonical values and type rules."""

from __future__ import annotations

import pytest

from cwsync.core.values import FieldType, canonical, same, type_problem


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (FieldType.TEXT, "  Acme  ", "Acme"),
        (FieldType.TEXT, "   ", None),
        (FieldType.EMAIL, " Ann@X.COM ", "ann@x.com"),
        (FieldType.NUMBER, "1500.00", "1500"),
        (FieldType.NUMBER, 12.5, "12.5"),
        (FieldType.BOOLEAN, True, "true"),
        (FieldType.BOOLEAN, "No", "false"),
        (FieldType.DATE, "2026-01-02T00:00:00Z", "2026-01-02"),
        (FieldType.DATE, "1767312000000", "2026-01-02"),
        (FieldType.DATETIME, "2026-01-02T03:04:05+01:00", "2026-01-02T02:04:05Z"),
    ],
)
def test_canonical_forms(kind: FieldType, raw: object, expected: str | None) -> None:
    """Each type has one canonical spelling."""
    assert canonical(kind, raw) == expected


def test_unparsable_number_falls_back_to_text() -> None:
    """A value that does not parse as its type is kept as text, never raises."""
    assert canonical(FieldType.NUMBER, "n/a") == "n/a"


def test_phone_compares_by_digits() -> None:
    """Phone formatting differences are not changes."""
    assert same(FieldType.PHONE, "+1 (555) 010-0100", "+15550100100")
    assert not same(FieldType.TEXT, "a", "b")


@pytest.mark.parametrize(
    ("left", "right", "value_map", "ok"),
    [
        (FieldType.DATE, FieldType.NUMBER, False, False),
        (FieldType.TEXT, FieldType.ENUM, False, False),
        (FieldType.TEXT, FieldType.ENUM, True, True),
        (FieldType.DATE, FieldType.DATETIME, False, True),
        (FieldType.NUMBER, FieldType.TEXT, False, True),
        (FieldType.REFERENCE, FieldType.TEXT, True, False),
    ],
)
def test_type_rules(left: FieldType, right: FieldType, value_map: bool, ok: bool) -> None:
    """Date→number is refused; text→enum only with a value map (HS-4)."""
    assert (type_problem(left, right, has_value_map=value_map) is None) is ok
