"""Tests for the emulator's conditions parser and evaluator (api-notes §2.2)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cwsync_sandbox.connectwise.conditions import (
    ConditionError,
    matches_child,
    matches_custom_fields,
    parse_conditions,
    parse_order_by,
    project_fields,
    resolve_path,
    sort_key,
)

COMPANY: dict[str, Any] = {
    "id": 250,
    "identifier": "AcmeCorp",
    "name": "Acme Corporation",
    "status": {"id": 1, "name": "Active"},
    "types": [{"id": 1, "name": "Customer"}, {"id": 5, "name": "Partner"}],
    "deletedFlag": False,
    "annualRevenue": 1250000.5,
    "numberOfEmployees": 40,
    "site": None,
    "_info": {"lastUpdated": "2026-01-02T03:04:05Z", "updatedBy": "jdoe", "dateEntered": "2020-05-06T00:00:00Z"},
}


def holds(text: str, record: dict[str, Any] | None = None) -> bool:
    return parse_conditions(text).matches(COMPANY if record is None else record)


def error_for(text: str) -> ConditionError:
    with pytest.raises(ConditionError) as caught:
        parse_conditions(text)
    return caught.value


# --- comparison operators


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "acme corporation"', True),
        ('name = "Acme"', False),
        ('name != "ACME CORPORATION"', False),
        ('name != "Other"', True),
        ("id = 250", True),
        ("id != 250", False),
        ("id < 251", True),
        ("id < 250", False),
        ("id <= 250", True),
        ("id > 249", True),
        ("id > 250", False),
        ("id >= 250", True),
        ("id >= 251", False),
    ],
)
def test_symbol_operators(text: str, expected: bool) -> None:
    """Each of =, !=, <, <=, >, >= compares numbers numerically and strings case-insensitively."""
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name < "b"', True),
        ('name < "ACME"', False),
        ('name > "ACME"', True),
        ('name >= "acme corporation"', True),
        ('name <= "ACME CORPORATION"', True),
    ],
)
def test_string_ordering_is_case_insensitive(text: str, expected: bool) -> None:
    """Ordering operators on strings ignore case."""
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name contains "CORP"', True),
        ('name contains "me co"', True),
        ('name contains "Inc"', False),
        ('name not contains "inc"', True),
        ('name NOT CONTAINS "corp"', False),
    ],
)
def test_contains_and_not_contains(text: str, expected: bool) -> None:
    """contains is a case-insensitive substring test; not contains is its negation."""
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("acme*", True),
        ("*CORPORATION", True),
        ("*me co*", True),
        ("a*c*n", True),
        ("ACME CORPORATION", True),
        ("acme", False),
        ("%corporation", True),
        ("acme%", True),
        ("*", True),
        ("a*z", False),
        ("corp*", False),
        ("*acme", False),
        ("a.*", False),
    ],
)
def test_like_wildcards(pattern: str, expected: bool) -> None:
    """like matches the whole value case-insensitively, with * and % as wildcards and nothing else special."""
    assert holds(f'name like "{pattern}"') is expected


def test_not_like() -> None:
    """not like is the negation of like on a non-null value."""
    assert holds('name not like "acme*"') is False
    assert holds('name not like "globex*"') is True


def test_like_and_contains_apply_to_numbers_as_text() -> None:
    """like and contains see a number field as its text, as SQL Server's implicit conversion does."""
    assert holds('id like "25*"') is True
    assert holds('id contains "50"') is True
    assert holds('deletedFlag like "f*"') is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id in (1, 250, 3)", True),
        ("id in (1, 2)", False),
        ('name in ("ACME CORPORATION", "x")', True),
        ('id in ("250")', True),
        ("id not in (1, 2)", True),
        ("id not in (250)", False),
        ('name NOT IN ("acme corporation")', False),
        ("site in (null, 1)", True),
        ("id in (1.5, 250.0)", True),
    ],
)
def test_in_and_not_in(text: str, expected: bool) -> None:
    """in matches any literal of the list; not in requires every one to be a definite mismatch."""
    assert holds(text) is expected


def test_not_in_on_null_field_is_false() -> None:
    """A null field is neither in nor not in a list of values (SQL semantics)."""
    assert holds("site in (1, 2)") is False
    assert holds("site not in (1, 2)") is False


# --- logic


def test_keywords_are_case_insensitive() -> None:
    """Operators and logic keywords are accepted in any case."""
    assert holds('NAME Like "acme*" AnD id IN (250) oR id = 1')


def test_and_binds_tighter_than_or() -> None:
    """a or b and c parses as a or (b and c)."""
    assert holds("id = 250 or id = 1 and id = 2") is True
    assert holds("id = 1 and id = 2 or id = 250") is True
    assert holds("id = 1 and id = 2 or id = 3") is False


def test_parentheses_override_precedence() -> None:
    """Parentheses group an OR inside an AND."""
    assert holds("(id = 250 or id = 1) and id = 2") is False
    assert holds("(id = 250 or id = 1) and deletedFlag = false") is True


def test_nested_parentheses() -> None:
    """Parentheses nest to any depth."""
    assert holds('((id = 1 or (name like "acme*" and ((status/id = 1))))) and (types/name = "partner")')


def test_leading_not_negates_a_group() -> None:
    """A leading not before a group is boolean negation."""
    assert holds("not (id = 1 or id = 2)") is True
    assert holds("not (id = 250) or id = 1") is False
    assert holds("id = 250 and not id = 1") is True


def test_and_or_chains_flatten_and_still_evaluate() -> None:
    """Long and/or chains evaluate left to right with short-circuiting not changing the answer."""
    assert holds(" or ".join(f"id = {n}" for n in range(200)) + " or id = 250")
    assert not holds(" and ".join(["id = 250"] * 50 + ["id = 1"]))


# --- literals


def test_double_quoted_escapes() -> None:
    """Inside double quotes, \\" is a quote and \\\\ a backslash."""
    record = {"name": 'say "hi" \\ now'}
    assert holds(r'name = "say \"hi\" \\ now"', record)


def test_single_quoted_strings() -> None:
    """Single-quoted strings (as in ConnectWise's own hrefs) work, with \\' as an escaped quote."""
    assert holds("(status/name='active' OR id=1) AND name='Acme Corporation'")
    assert holds(r"name = 'O\'Brien'", {"name": "O'Brien"})


def test_backslash_before_other_characters_is_kept() -> None:
    """A backslash that escapes nothing stays in the value (e.g. Windows paths)."""
    assert holds(r'path = "C:\temp"', {"path": "C:\\temp"})


def test_bracket_escape_inside_strings() -> None:
    """[[] inside a string stands for a literal [, in =, contains and like alike."""
    record = {"name": "[Draft] plan [v2]"}
    assert holds('name = "[[]Draft] plan [[]v2]"', record)
    assert holds('name contains "[[]v2"', record)
    assert holds('name like "[[]draft]*"', record)
    assert holds('name = "[Draft] plan [v2]"', record)  # a lone [ is taken literally too


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("[2026-01-02T03:04:05Z]", True),
        ("[2026-01-02T03:04:06Z]", False),
        ("[2026-01-02T05:04:05+02:00]", True),
        ("[2026-01-01T22:04:05-05:00]", True),
        ("[2026-01-02T03:04:05.000000Z]", True),
        ("[2026-01-02T03:04:05.5Z]", False),
        ("[2026-01-02T03:04:05]", True),
        ("[ 2026-01-02T03:04:05Z ]", True),
    ],
)
def test_datetime_literal_equality(literal: str, expected: bool) -> None:
    """Bracketed datetimes compare as instants: Z, offsets, microseconds; a naive one is UTC."""
    assert holds(f"lastUpdated = {literal}") is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("lastUpdated > [2026-01-02]", True),
        ("lastUpdated < [2026-01-03]", True),
        ("lastUpdated >= [2026-01-02T03:04:05.000001Z]", False),
        ("lastUpdated <= [2026-01-02T03:04:05.000001Z]", True),
        ("lastUpdated > [2026-01-02T04:00:00+01:00]", True),
        ("dateEntered = [2020-05-06]", True),
    ],
)
def test_datetime_ordering(text: str, expected: bool) -> None:
    """Date-only literals mean midnight UTC; ordering works across offsets and fractions."""
    assert holds(text) is expected


def test_record_datetimes_with_offsets_and_fractions() -> None:
    """Record values with offsets or fractional seconds are parsed, not compared as text."""
    record = {"due": "2026-01-02T05:04:05.250+02:00"}
    assert holds("due > [2026-01-02T03:04:05Z]", record)
    assert holds("due < [2026-01-02T03:04:05.3Z]", record)


@pytest.mark.parametrize("value", ["not a date", "", 20260102, None, True, {"a": 1}])
def test_datetime_against_non_datetime_value_is_false(value: Any) -> None:
    """A record value that is not a datetime makes every datetime comparison false, without raising."""
    record = {"due": value}
    for op in ("=", "!=", "<", ">="):
        assert holds(f"due {op} [2026-01-02]", record) is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deletedFlag = False", True),
        ("deletedFlag = false", True),
        ("deletedFlag = FALSE", True),
        ("deletedFlag = True", False),
        ("deletedFlag != true", True),
        ("deletedFlag = 0", False),
        ('deletedFlag = "false"', False),
        ("id = true", False),
    ],
)
def test_booleans(text: str, expected: bool) -> None:
    """True/False literals in any case match only boolean values."""
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("site = null", True),
        ("site = NULL", True),
        ("site != null", False),
        ("missingField = null", True),
        ("missingField != Null", False),
        ("name = null", False),
        ("name != null", True),
        ("deletedFlag != null", True),
        ("site < null", False),
        ("site >= null", False),
        ("id > null", False),
    ],
)
def test_null_literal(text: str, expected: bool) -> None:
    """null equals only a None or missing value; ordering against null is always false."""
    assert holds(text) is expected


@pytest.mark.parametrize(
    "operator_and_value",
    ["= 1", "!= 1", "< 1", ">= 1", '= "x"', '!= "x"', 'contains "x"', 'not contains "x"', 'like "*"', 'not like "x"'],
)
def test_null_field_fails_every_non_null_comparison(operator_and_value: str) -> None:
    """SQL three-valued logic: a null field makes any comparison with a non-null value false, even !=."""
    assert holds(f"site {operator_and_value}") is False
    assert holds(f"nothingHere {operator_and_value}") is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('id = "250"', True),
        ('id > "249.5"', True),
        ('id = "abc"', False),
        ('id != "abc"', False),
        ("identifier = 5", False),
        ("zip = 1234", True),
        ("zip > 999", True),
        ("zip = 1234.0", True),
    ],
)
def test_numbers_against_strings(text: str, expected: bool) -> None:
    """A number and a string compare numerically when the string is a number, and are unequal-but-false otherwise."""
    record = {**COMPANY, "zip": "1234"}
    assert holds(text, record) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("annualRevenue = 1250000.5", True),
        ("annualRevenue = 1250000.50", True),
        ("annualRevenue > 1250000", True),
        ("price = 1.1", True),
        ("price < 1.10000001", True),
        ("exact = 0.3", True),
        ("delta = -2.5", True),
        ("delta > -3", True),
        ("delta < -2", True),
    ],
)
def test_decimal_and_negative_numbers(text: str, expected: bool) -> None:
    """Decimal literals compare with JSON floats as floats and with Decimals exactly; negatives are allowed."""
    record = {**COMPANY, "price": 1.1, "exact": Decimal("0.30"), "delta": -2.5}
    assert holds(text, record) is expected


@pytest.mark.parametrize(
    "value", [None, True, 1, 1.5, float("nan"), Decimal("NaN"), Decimal("sNaN"), "x", [], {}, [1, "a"], object()]
)
@pytest.mark.parametrize(
    "text",
    ["v = 1", "v < 1.5", 'v = "x"', 'v > "a"', "v = true", "v >= [2026-01-01]", 'v like "x*"', "v in (1, 'x')"],
)
def test_type_mismatches_never_raise(value: Any, text: str) -> None:
    """Evaluation never raises, whatever the record holds."""
    assert isinstance(holds(text, {"v": value}), bool)


# --- paths


def test_paths_match_keys_case_insensitively() -> None:
    """Every path segment matches the record's keys case-insensitively."""
    assert holds('STATUS/NAME = "active" and Id = 250 and DeletedFlag = false')


def test_metadata_names_resolve_inside_info() -> None:
    """Bare lastUpdated/dateEntered/enteredBy/updatedBy fall back to _info; _info/lastUpdated works too."""
    assert holds('updatedBy = "JDOE" and lastupdated > [2026-01-01]')
    assert holds("_info/lastUpdated = [2026-01-02T03:04:05Z]")
    assert holds("enteredBy = null")


def test_top_level_metadata_key_wins_over_info() -> None:
    """A top-level key named like a metadata field is used instead of _info."""
    record = {"lastUpdated": "2020-01-01T00:00:00Z", "_info": {"lastUpdated": "2026-01-01T00:00:00Z"}}
    assert holds("lastUpdated < [2021-01-01]", record)


def test_path_through_a_list_holds_for_any_element() -> None:
    """A path that walks into a list holds if the comparison holds for some element."""
    assert holds('types/name = "partner"')
    assert holds("types/id in (5)")
    assert not holds('types/name = "vendor"')
    assert holds('types/name != "customer"')  # Partner differs from it


def test_list_walk_over_empty_or_scalar_lists() -> None:
    """An empty list has no element to satisfy anything; a list of scalars is compared element-wise."""
    assert not holds('types/name = "x"', {"types": []})
    assert not holds("types/name = null", {"types": []})
    assert holds('tags = "blue"', {"tags": ["red", "Blue"]})
    assert holds("types/name = null", {"types": [{"id": 1}]})


def test_path_into_a_scalar_is_null() -> None:
    """Walking past a scalar value resolves to null rather than failing."""
    assert holds("name/id = null")
    assert not holds("name/id = 1")


def test_fields_lists_lowercase_first_segments() -> None:
    """fields() gives the lower-cased first segments of every referenced path."""
    cond = parse_conditions('Company/ID = 1 and (Board/Name = "x" or lastUpdated > [2026-01-01]) and not id = 2')
    assert cond.fields() == {"company", "board", "lastupdated", "id"}


def test_condition_keeps_its_text_and_reuses_across_records() -> None:
    """A parsed condition keeps its source text and can be evaluated many times."""
    cond = parse_conditions("id > 10")
    assert cond.text == "id > 10"
    assert [cond.matches({"id": n}) for n in (5, 11, 50)] == [False, True, True]


def test_resolve_path_collects_list_values() -> None:
    """resolve_path returns the value, None when missing, and a list when it walks through a list."""
    assert resolve_path(COMPANY, "status/NAME") == "Active"
    assert resolve_path(COMPANY, "lastUpdated") == "2026-01-02T03:04:05Z"
    assert resolve_path(COMPANY, "types/name") == ["Customer", "Partner"]
    assert resolve_path(COMPANY, "nope/deeper") is None


# --- childConditions and customFieldConditions

CONTACT: dict[str, Any] = {
    "id": 7,
    "firstName": "John",
    "communicationItems": [
        {"type": {"id": 1}, "value": "john@outlook.com", "communicationType": "Email"},
        {"type": {"id": 2}, "value": "555-0100", "communicationType": "Phone"},
    ],
    "customFields": [
        {"id": 4, "caption": "TomNumber", "type": "Text", "value": "T-12"},
        {"id": 5, "caption": "Billing Code", "type": "Text"},
        {"id": 6, "caption": "VIP", "type": "Checkbox", "value": True},
    ],
}


def test_child_conditions_must_hold_on_one_element() -> None:
    """childConditions over one array require a single element to satisfy every part."""
    same = parse_conditions('communicationItems/value like "john@*" AND communicationItems/communicationType = "email"')
    mixed = parse_conditions('communicationItems/value like "555*" AND communicationItems/communicationType = "Email"')
    assert matches_child(same, CONTACT)
    assert not matches_child(mixed, CONTACT)
    assert mixed.matches(CONTACT)  # plain conditions would accept it: different elements match each part


def test_child_conditions_with_or_and_nested_paths() -> None:
    """The chosen element is the root of the stripped condition, through deeper paths and or."""
    assert matches_child(parse_conditions("communicationItems/type/id = 2"), CONTACT)
    assert not matches_child(parse_conditions("communicationItems/type/id = 3"), CONTACT)
    either = "communicationItems/value = 'x' or communicationItems/communicationType = 'phone'"
    assert matches_child(parse_conditions(f"communicationItems/type/id = 2 and ({either})"), CONTACT)
    assert not matches_child(parse_conditions(f"communicationItems/type/id = 1 and ({either})"), CONTACT)


def test_child_conditions_paths_differing_only_in_case_name_one_array() -> None:
    """Paths into the same array spelt in different case still need one element to satisfy all parts."""
    cond = parse_conditions('CommunicationItems/value like "555*" and communicationitems/communicationType = "Email"')
    assert not matches_child(cond, CONTACT)


def test_child_conditions_without_elements_are_false() -> None:
    """A record whose array is missing, null or empty has no element to satisfy the condition."""
    cond = parse_conditions("communicationItems/value = null")
    for record in ({"id": 1}, {"communicationItems": None}, {"communicationItems": []}):
        assert not matches_child(cond, record)


def test_child_conditions_over_several_arrays_fall_back_to_exists() -> None:
    """With paths into several arrays, each comparison is checked against any element of its own array."""
    record = {**CONTACT, "sites": [{"name": "HQ"}]}
    cond = parse_conditions('communicationItems/value like "555*" and sites/name = "hq"')
    assert matches_child(cond, record)
    assert not matches_child(parse_conditions('communicationItems/value = "x" and sites/name = "hq"'), record)


def test_custom_field_conditions_must_hold_on_one_field() -> None:
    """customFieldConditions require caption and value to match on the same custom field."""
    assert matches_custom_fields(parse_conditions('caption = "TomNumber" AND value != null'), CONTACT)
    assert matches_custom_fields(parse_conditions('caption = "tomnumber" and value like "t-*"'), CONTACT)
    assert matches_custom_fields(parse_conditions('caption = "VIP" and value = true and type = "checkbox"'), CONTACT)
    assert not matches_custom_fields(parse_conditions('caption = "TomNumber" and value = true'), CONTACT)
    assert matches_custom_fields(parse_conditions("id = 5 or id = 99"), CONTACT)


def test_custom_field_without_value_key_is_null() -> None:
    """An empty custom field has no value key, which compares as null."""
    assert matches_custom_fields(parse_conditions('caption = "Billing Code" and value = null'), CONTACT)
    assert not matches_custom_fields(parse_conditions('caption = "Billing Code" and value != null'), CONTACT)


def test_custom_field_conditions_without_custom_fields_are_false() -> None:
    """A record without customFields matches no customFieldConditions."""
    cond = parse_conditions("value = null")
    assert not matches_custom_fields(cond, {"id": 1})
    assert not matches_custom_fields(cond, {"id": 1, "customFields": None})


# --- orderBy


def test_parse_order_by() -> None:
    """orderBy is a comma list of paths with optional asc/desc in any case."""
    assert parse_order_by("name asc, company/id desc") == [("name", False), ("company/id", True)]
    assert parse_order_by("  name ,id DESC,dateEntered ASC ") == [
        ("name", False),
        ("id", True),
        ("dateEntered", False),
    ]


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "Missing field name"),
        ("name,", 5, "Missing field name"),
        (",name", 0, "Missing field name"),
        ("name sideways", 5, "expected 'asc' or 'desc'"),
        ("name asc id", 9, "expected ',' or end of input"),
        ("na-me desc", 0, "Invalid field path 'na-me'"),
    ],
)
def test_parse_order_by_errors(text: str, position: int, fragment: str) -> None:
    """A malformed orderBy raises ConditionError for the orderBy parameter, naming the position."""
    with pytest.raises(ConditionError) as caught:
        parse_order_by(text)
    assert caught.value.param == "orderBy"
    assert caught.value.position == position
    assert f"position {position}" in caught.value.message
    assert fragment in caught.value.message


def test_sort_key_nulls_first_strings_case_insensitive() -> None:
    """Ascending order puts nulls first and ignores case; descending puts nulls last."""
    records = [{"name": "beta"}, {"name": None}, {"name": "Alpha"}, {}, {"name": "ALPHA2"}]
    ascending = sorted(records, key=lambda r: sort_key(r, "Name"))
    assert [r.get("name") for r in ascending] == [None, None, "Alpha", "ALPHA2", "beta"]
    descending = sorted(records, key=lambda r: sort_key(r, "name"), reverse=True)
    assert [r.get("name") for r in descending][:3] == ["beta", "ALPHA2", "Alpha"]


def test_sort_key_is_total_over_mixed_types() -> None:
    """Mixed value types sort without raising: null < bool < number < string < list < other."""
    values: list[Any] = ["b", 2, None, True, 1.5, Decimal("1.7"), [1], {"a": 1}, "A"]
    ordered = [r["v"] for r in sorted(({"v": v} for v in values), key=lambda r: sort_key(r, "v"))]
    assert ordered == [None, True, 1.5, Decimal("1.7"), 2, "A", "b", [1], {"a": 1}]


def test_sort_key_tolerates_nan() -> None:
    """NaN numbers (even a signalling Decimal NaN) still get a sort key instead of raising."""
    keys = [sort_key({"v": v}, "v") for v in (float("nan"), Decimal("sNaN"), 1)]
    assert sorted(keys)[0] == keys[2]


def test_sort_key_nested_paths_and_metadata() -> None:
    """sort_key follows nested paths and the _info fallback for lastUpdated."""
    records = [
        {"id": 1, "company": {"id": 9}, "_info": {"lastUpdated": "2026-01-03T00:00:00Z"}},
        {"id": 2, "company": {"id": 3}, "_info": {"lastUpdated": "2026-01-01T00:00:00Z"}},
    ]
    assert [r["id"] for r in sorted(records, key=lambda r: sort_key(r, "company/id"))] == [2, 1]
    assert [r["id"] for r in sorted(records, key=lambda r: sort_key(r, "lastUpdated"))] == [2, 1]


# --- fields projection


def test_project_fields_keeps_nested_structure() -> None:
    """fields=id,name,status/id keeps those values and the nesting of status."""
    assert project_fields(COMPANY, "id,name,status/id") == {"id": 250, "name": "Acme Corporation", "status": {"id": 1}}


def test_project_fields_case_insensitive_and_unknown_absent() -> None:
    """Names match case-insensitively, the output keeps the record's key case, unknown names are absent."""
    assert project_fields(COMPANY, " ID , Status/NAME ,nope, status/nope/deeper") == {
        "id": 250,
        "status": {"name": "Active"},
    }


def test_project_fields_info_only_when_asked() -> None:
    """_info is left out unless asked for, whole or in part."""
    assert "_info" not in project_fields(COMPANY, "id")
    assert project_fields(COMPANY, "_info/lastUpdated") == {"_info": {"lastUpdated": "2026-01-02T03:04:05Z"}}
    assert project_fields(COMPANY, "_info")["_info"] == COMPANY["_info"]


def test_project_fields_through_lists_and_nulls() -> None:
    """Sub-fields of a list of references are projected per element; a null reference stays null."""
    assert project_fields(COMPANY, "types/name,site/id") == {
        "types": [{"name": "Customer"}, {"name": "Partner"}],
        "site": None,
    }


def test_project_fields_whole_value_wins_over_sub_path() -> None:
    """Asking for status and status/id keeps the whole status object, in either order."""
    assert project_fields(COMPANY, "status/id,status")["status"] == COMPANY["status"]
    assert project_fields(COMPANY, "status,status/id")["status"] == COMPANY["status"]


# --- malformed input


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("", 0, "Empty condition"),
        ("   ", 0, "Empty condition"),
        ('name = "abc', 7, "Unterminated string"),
        ("name = 'abc", 7, "Unterminated string"),
        ('(name = "a"', 11, "expected ')' to close the '(' at position 0"),
        ('name = "a")', 10, "Unexpected token ')'"),
        ('name "a"', 5, "expected an operator"),
        ("name = ", 7, "Unexpected end of input at position 7, expected a value"),
        ("name", 4, "expected an operator"),
        ('name == "a"', 5, "Unknown operator '=='"),
        ("name <> 1", 5, "Unknown operator '<>'"),
        ('name equals "a"', 5, "Unexpected token 'equals' at position 5, expected an operator"),
        ('name = "a" xyz', 11, "Unexpected token 'xyz' at position 11, expected 'and', 'or' or end of input"),
        ("id in ()", 6, "Empty 'in' list"),
        ("id in 1, 2", 6, "expected '(' to start the 'in' list"),
        ("id in (1 2)", 9, "expected ',' or ')' in the 'in' list"),
        ("id in (1,)", 9, "expected a value"),
        ("lastUpdated > [2026-13-01]", 14, "Invalid datetime '2026-13-01'"),
        ("lastUpdated > [yesterday]", 14, "Invalid datetime"),
        ("lastUpdated > [2026-01-01", 14, "Unterminated datetime"),
        ("company//id = 1", 0, "Invalid field path 'company//id'"),
        ("company/ = 1", 0, "Invalid field path"),
        ("na-me = 1", 0, "Invalid field path 'na-me'"),
        ("1abc = 1", 0, "Invalid field path"),
        ("company.id = 1", 0, "Invalid field path 'company.id'"),
        ("id = 12abc", 5, "expected a value"),
        ("id = abc", 5, "expected a value"),
        ("name like 5", 10, "expected a quoted string after 'like'"),
        ("name not = 1", 9, "expected 'contains', 'like' or 'in' after 'not'"),
        ("id = 1 and", 10, "expected a field name"),
        ("id = 1 or or id = 2", 10, "expected a field name"),
        ("and id = 1", 0, "expected a field name"),
        ("id = 1 ]", 7, "Unexpected character ']'"),
        ("()", 1, "expected a field name"),
    ],
)
def test_malformed_conditions_name_position_and_expectation(text: str, position: int, fragment: str) -> None:
    """Every malformed text raises ConditionError naming the position and what was expected."""
    error = error_for(text)
    assert error.position == position
    assert f"position {position}" in error.message
    assert fragment in error.message
    assert str(error) == error.message
    assert error.param == "conditions"


def test_error_carries_the_parameter_name() -> None:
    """parse_conditions tags its errors with the parameter it was given."""
    with pytest.raises(ConditionError) as caught:
        parse_conditions("value = ", param="customFieldConditions")
    assert caught.value.param == "customFieldConditions"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("id = 7", {7}),
        ("id in (3, 1, 2)", {1, 2, 3}),
        ("id in (1, 2, 3) and name like 'A%'", {1, 2, 3}),
        ("id in (1, 2, 3) and id in (2, 3, 4)", {2, 3}),
        ("id in (1, 2) or name = 'x'", None),
        ("id > 5", None),
        ("company/id = 3", None),
        ("name = 'x'", None),
    ],
)
def test_id_set_names_the_ids_a_condition_is_limited_to(text: str, ids: set[int] | None) -> None:
    """Lists answer `id = n` / `id in (...)` by lookup (as an index would); anything else scans."""
    found = parse_conditions(text).id_set()
    assert (set(found) if found is not None else None) == ids
