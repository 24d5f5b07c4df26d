"""CRM search, `POST /crm/v3/objects/{type}/search` (notes A4): filterGroups, sorts, query, paging and caps.

Filters inside a group are ANDed, groups are ORed. Values compare by the property's type: numbers as numbers,
`date`/`datetime` as epoch milliseconds (a filter value may be epoch ms or ISO 8601), everything else as
case-insensitive text. `limit` is at most 200; `after` is the string form of an offset; a query can page through
10,000 results at most (asking for an offset past that is a 400); `total` counts every match.

Choices where the notes are silent or UNCONFIRMED: the group/filter caps come from settings (5 groups, 6 filters per
group, 18 in total by default); only one sort is accepted (a second is a 400); `NEQ`, `NOT_IN` and
`NOT_CONTAINS_TOKEN` also match records without a value; a filter or sort on an unknown property is a 400; without
sorts, results come in id order; the wording of every 400.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cwsync_sandbox.hubspot.state import CrmState, Found, to_ms, validation_error

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
NEGATED = {"NEQ": "EQ", "NOT_IN": "IN", "NOT_CONTAINS_TOKEN": "CONTAINS_TOKEN"}
MAX_LIMIT = 200
DEFAULT_LIMIT = 10
MAX_RESULTS = 10_000
MAX_QUERY = 3000
_TOKEN_SPLIT = re.compile(r"[\s,;@]+")

Typed = float | str


@dataclass(frozen=True)
class SearchCaps:
    """How many filter groups and filters a search may hold (configurable: the sources conflict, A4)."""

    max_groups: int = 5
    max_filters_per_group: int = 6
    max_filters: int = 18


@dataclass(frozen=True)
class Filter:
    """One filter: a property, an operator and its value(s), already typed for the property."""

    property_name: str
    operator: str
    kind: str
    value: Typed | None = None
    high: Typed | None = None
    values: tuple[Typed, ...] = ()
    multi: bool = False


@dataclass(frozen=True)
class SearchRequest:
    """A checked `PublicObjectSearchRequest`."""

    groups: tuple[tuple[Filter, ...], ...]
    sort: tuple[str, str, bool] | None
    properties: list[str] | None
    query: list[str]
    limit: int
    after: int


def _kind(definition: Mapping[str, Any]) -> str:
    kind = str(definition["type"])
    return "number" if kind == "number" else "date" if kind in ("date", "datetime") else "text"


def typed(kind: str, raw: str) -> Typed | None:
    """A stored or filter value in the form it compares in; None if it has no such form."""
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return None
    if kind == "date":
        millis = to_ms(raw)
        return float(millis) if millis is not None else None
    return raw.strip().casefold()


def _filter_value(name: str, kind: str, raw: Any) -> Typed:
    text = "true" if raw is True else "false" if raw is False else str(raw) if raw is not None else None
    value = typed(kind, text) if text is not None else None
    if value is None:
        raise validation_error(
            f"Invalid value {raw!r} for property {name!r} of type {kind}"
            + (" (use epoch milliseconds or ISO 8601)." if kind == "date" else "."),
            subCategory="SearchError.INVALID_FILTER_VALUE",
        )
    return value


def parse_search(body: Any, caps: SearchCaps, state: CrmState, object_type: str) -> SearchRequest:
    """Check a search body against the limits and the object type's properties; 400 on anything wrong."""
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise validation_error("Invalid input JSON: expected a PublicObjectSearchRequest object.")
    groups = _groups(body.get("filterGroups") or [], caps, state, object_type)
    return SearchRequest(
        groups=groups,
        sort=_sort(body.get("sorts") or [], state, object_type),
        properties=_properties(body.get("properties")),
        query=_query(body.get("query")),
        limit=_bounded_int(body.get("limit", DEFAULT_LIMIT), "limit", 0, MAX_LIMIT),
        after=_after(body.get("after")),
    )


def _groups(raw: Any, caps: SearchCaps, state: CrmState, object_type: str) -> tuple[tuple[Filter, ...], ...]:
    if not isinstance(raw, list):
        raise validation_error("Invalid input JSON: `filterGroups` must be an array.")
    if len(raw) > caps.max_groups:
        raise validation_error(
            f"Too many filter groups ({len(raw)}). The maximum number of filter groups is {caps.max_groups}.",
            subCategory="SearchError.TOO_MANY_FILTER_GROUPS",
        )
    groups: list[tuple[Filter, ...]] = []
    total = 0
    for group in raw:
        filters = group.get("filters") if isinstance(group, Mapping) else None
        if not isinstance(filters, list):
            raise validation_error("Invalid input JSON: each filter group needs a `filters` array.")
        if len(filters) > caps.max_filters_per_group:
            raise validation_error(
                f"Too many filters in a filter group ({len(filters)}). The maximum is {caps.max_filters_per_group}.",
                subCategory="SearchError.TOO_MANY_FILTERS",
            )
        total += len(filters)
        groups.append(tuple(_filter(f, state, object_type) for f in filters))
    if total > caps.max_filters:
        raise validation_error(
            f"Too many filters ({total}). The maximum number of filters across all groups is {caps.max_filters}.",
            subCategory="SearchError.TOO_MANY_FILTERS",
        )
    return tuple(groups)


def _definition(state: CrmState, object_type: str, name: Any) -> Mapping[str, Any]:
    definition = state.definition(object_type, str(name)) if isinstance(name, str) else None
    if definition is None:
        raise validation_error(
            f"Property {name!r} does not exist for {object_type}.", subCategory="SearchError.PROPERTY_NOT_FOUND"
        )
    return definition


def _filter(raw: Any, state: CrmState, object_type: str) -> Filter:
    if not isinstance(raw, Mapping):
        raise validation_error("Invalid input JSON: each filter must be an object.")
    operator = raw.get("operator")
    if operator not in OPERATORS:
        raise validation_error(
            f"Invalid input JSON: {operator!r} is not a valid operator; use one of {sorted(OPERATORS)}."
        )
    definition = _definition(state, object_type, raw.get("propertyName"))
    name, kind = str(definition["name"]), _kind(definition)
    multi = definition.get("fieldType") == "checkbox"
    if operator in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        return Filter(name, operator, kind, multi=multi)
    if operator in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise validation_error(f"The {operator} operator needs a non-empty `values` array.")
        return Filter(name, operator, kind, values=tuple(_filter_value(name, kind, v) for v in values), multi=multi)
    if raw.get("value") is None:
        raise validation_error(f"The {operator} operator needs a `value`.")
    if operator in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        return Filter(name, operator, "text", value=str(raw["value"]).strip().casefold(), multi=multi)
    value = _filter_value(name, kind, raw["value"])
    high = None
    if operator == "BETWEEN":
        if raw.get("highValue") is None:
            raise validation_error("The BETWEEN operator needs a `highValue`.")
        high = _filter_value(name, kind, raw["highValue"])
    return Filter(name, operator, kind, value=value, high=high, multi=multi)


def _sort(raw: Any, state: CrmState, object_type: str) -> tuple[str, str, bool] | None:
    if not isinstance(raw, list):
        raise validation_error("Invalid input JSON: `sorts` must be an array.")
    if not raw:
        return None
    if len(raw) > 1:
        raise validation_error("Only one sort is supported per search request.")
    item = raw[0]
    name: Any
    if isinstance(item, str):  # the spec's string form: "createdate" or "-createdate"
        name, descending = item.lstrip("-"), item.startswith("-")
    elif isinstance(item, Mapping):
        name = item.get("propertyName")
        direction = str(item.get("direction", "ASCENDING")).upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise validation_error(f"Invalid sort direction {direction!r}; use ASCENDING or DESCENDING.")
        descending = direction == "DESCENDING"
    else:
        raise validation_error("Invalid input JSON: each sort must be a string or {propertyName, direction}.")
    definition = _definition(state, object_type, name)
    return str(definition["name"]), _kind(definition), descending


def _properties(raw: Any) -> list[str] | None:
    if raw is None or raw == []:
        return None
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise validation_error("Invalid input JSON: `properties` must be an array of property names.")
    return [p for p in raw if p]


def _query(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, str):
        raise validation_error("Invalid input JSON: `query` must be a string.")
    if len(raw) > MAX_QUERY:
        raise validation_error(f"The query is {len(raw)} characters long; the maximum is {MAX_QUERY}.")
    return [t for t in _TOKEN_SPLIT.split(raw.casefold()) if t]


def _bounded_int(raw: Any, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = low - 1
    if value < low or value > high or isinstance(raw, bool):
        raise validation_error(f"{name} must be between {low} and {high}; got {raw!r}.")
    return value


def _after(raw: Any) -> int:
    if raw in (None, ""):
        return 0
    text = str(raw)
    if not text.isdigit():
        raise validation_error(f"Invalid `after` value {raw!r}: echo back the value of paging.next.after.")
    after = int(text)
    if after >= MAX_RESULTS:
        raise validation_error(
            f"Paging past {MAX_RESULTS:,} results is not supported (after={after}). Narrow the search with filters "
            "(for example on the last-modified date) instead of paging further.",
            subCategory="SearchError.RESULT_LIMIT_EXCEEDED",
        )
    return after


# -- evaluation --------------------------------------------------------------------------------------------------


def _candidates(f: Filter, raw: str) -> list[Typed]:
    parts = raw.split(";") if f.multi else [raw]
    return [v for v in (typed(f.kind, p) for p in parts) if v is not None]


def _tokens(raw: str) -> list[str]:
    lowered = raw.casefold()
    return [lowered, *(t for t in _TOKEN_SPLIT.split(lowered) if t)]


def _positive(f: Filter, operator: str, raw: str) -> bool:
    if operator == "CONTAINS_TOKEN":
        pattern = str(f.value)
        tokens = _tokens(raw)
        if "*" in pattern:
            return any(fnmatch.fnmatchcase(t, pattern) for t in tokens)
        return pattern in tokens
    values = _candidates(f, raw)
    if operator == "IN":
        return any(v in f.values for v in values)
    return any(_compare(operator, v, f) for v in values)


def _compare(operator: str, value: Typed, f: Filter) -> bool:
    target = f.value
    if target is None or type(value) is not type(target):
        return False
    if operator == "EQ":
        return value == target
    if operator == "BETWEEN":
        return f.high is not None and type(f.high) is type(value) and target <= value <= f.high  # type: ignore[operator]
    if operator == "LT":
        return value < target  # type: ignore[operator]
    if operator == "LTE":
        return value <= target  # type: ignore[operator]
    if operator == "GT":
        return value > target  # type: ignore[operator]
    return value >= target  # type: ignore[operator]  # GTE


def matches(f: Filter, props: Mapping[str, str]) -> bool:
    """Whether a record's properties pass one filter."""
    raw = props.get(f.property_name)
    present = raw is not None and raw != ""
    if f.operator == "HAS_PROPERTY":
        return present
    if f.operator == "NOT_HAS_PROPERTY":
        return not present
    if f.operator in NEGATED:
        return not present or not _positive(f, NEGATED[f.operator], str(raw))
    return present and _positive(f, f.operator, str(raw))


def _matches_query(terms: list[str], props: Mapping[str, str], fields: tuple[str, ...]) -> bool:
    tokens = [t for name in fields for t in _tokens(props.get(name) or "")]
    return all(any(token.startswith(term) for token in tokens) for term in terms)


def run_search(state: CrmState, object_type: str, request: SearchRequest) -> dict[str, Any]:
    """The `CollectionResponseWithTotalSimplePublicObject` body for a checked request."""
    hits = _hits(state, object_type, request)
    end = min(request.after + request.limit, len(hits))
    live = state.records[object_type]
    results = [
        state.object_json(object_type, Found(i, live[i]), select=request.properties) for i in hits[request.after : end]
    ]
    body: dict[str, Any] = {"total": len(hits), "results": results}
    if end < len(hits):
        body["paging"] = {"next": {"after": str(end)}}
    return body


def _hits(state: CrmState, object_type: str, request: SearchRequest) -> list[int]:
    """Matching ids in result order, kept until the next change so paging does not re-run the query."""
    key = (object_type, request.groups, request.sort, tuple(request.query), state.version)
    cached = state.search_cache.get(key)
    if cached is not None:
        return cached
    fields = state.object_type(object_type).text_search
    hits = [
        (record_id, props)
        for record_id, props in state.live(object_type)
        if (not request.groups or any(all(matches(f, props) for f in group) for group in request.groups))
        and (not request.query or _matches_query(request.query, props, fields))
    ]
    if request.sort is not None:
        hits = _sorted(hits, request.sort)
    if len(state.search_cache) >= 16 or any(k[-1] != state.version for k in state.search_cache):
        state.search_cache.clear()
    state.search_cache[key] = ids = [record_id for record_id, _ in hits]
    return ids


def _sorted(hits: list[tuple[int, dict[str, str]]], sort: tuple[str, str, bool]) -> list[tuple[int, dict[str, str]]]:
    name, kind, descending = sort
    keyed: list[tuple[Typed, int, dict[str, str]]] = []
    missing: list[tuple[int, dict[str, str]]] = []
    for record_id, props in hits:
        raw = props.get(name)
        value = typed(kind, raw) if raw else None
        if value is None:
            missing.append((record_id, props))
        else:
            keyed.append((value, record_id, props))
    keyed.sort(key=lambda item: (item[0], item[1] if not descending else -item[1]), reverse=descending)
    return [(record_id, props) for _, record_id, props in keyed] + missing
