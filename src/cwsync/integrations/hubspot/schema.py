"""Type checks of the HubSpot mappings against the real schemas, before any record is touched (HS-4, #13.10).

`check_schemas` reads HubSpot's property definitions (type, fieldType, options) and the custom fields ConnectWise
returns with a record of each object (caption and type), and refuses, as configuration problems naming the file,
line and field: a mapped or filtered ConnectWise field that does not exist, a custom-field caption ConnectWise does
not have, a HubSpot filter on a property HubSpot does not have, and a field whose two types cannot hold each other's
values (a date into a number, text into a dropdown without a value map, a value map sending values the dropdown does
not offer) — with what would make it valid. The standard ConnectWise fields are the ones the flatteners produce
(`shapes.FLATTENERS`), with their types from the table below. Run at the start of `plan`, `sync`, `serve` and
`doctor` (`HubSpotSync.prepare`), with the definitions cwsync reads there anyway; it works against the sandbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cwsync.config.model import Config, ObjectSync
from cwsync.config.vocabulary import Side
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.mapping import FieldMap, ObjectMapping
from cwsync.core.values import FieldType as T
from cwsync.integrations.hubspot.defaults import OBJECTS
from cwsync.integrations.hubspot.properties import wanted_properties
from cwsync.integrations.hubspot.shapes import CUSTOM

__all__ = ["CW_FIELDS", "SchemaProblem", "check_schemas", "property_definitions"]

CW_FIELDS: dict[str, dict[str, T]] = {
    "companies": {
        "id": T.NUMBER,
        "identifier": T.TEXT,
        "name": T.TEXT,
        "phoneNumber": T.PHONE,
        "website": T.TEXT,
        "addressLine1": T.TEXT,
        "city": T.TEXT,
        "state": T.TEXT,
        "zip": T.TEXT,
        "country": T.TEXT,
        "types": T.TEXT,
        "company_type": T.TEXT,
        "status": T.TEXT,
        "deletedFlag": T.BOOLEAN,
    },
    "contacts": {
        "id": T.NUMBER,
        "firstName": T.TEXT,
        "lastName": T.TEXT,
        "title": T.TEXT,
        "email": T.EMAIL,
        "phone": T.PHONE,
        "mobile": T.PHONE,
        "company": T.REFERENCE,
        "inactiveFlag": T.BOOLEAN,
    },
    "deals": {
        "id": T.NUMBER,
        "name": T.TEXT,
        "expectedCloseDate": T.DATETIME,
        "status": T.TEXT,
        "notes": T.TEXT,
        "company": T.REFERENCE,
        "contact": T.REFERENCE,
        "primarySalesRep": T.REFERENCE,
        "pipeline": T.TEXT,
        "forecast/revenue": T.NUMBER,  # shapes.FORECAST: the forecast's total, read when mapped
    },
}
"""The flat ConnectWise fields each pair reads (what `shapes.FLATTENERS` produce), with their types."""

CUSTOM_TYPES: dict[str, T] = {
    "Text": T.TEXT,
    "TextArea": T.TEXT,
    "Hyperlink": T.TEXT,
    "Password": T.TEXT,
    "IPAddress": T.TEXT,
    "Button": T.BOOLEAN,
    "Checkbox": T.BOOLEAN,
    "Number": T.NUMBER,
    "Currency": T.NUMBER,
    "Percent": T.NUMBER,
    "Date": T.DATE,
}
"""ConnectWise custom-field types (the `type` a record's `customFields` entries carry). UNCONFIRMED beyond Text,
Date, Hyperlink, Checkbox and Number (what the sandbox and the generated models show): the rest are the types the
Setup Tables screen offers, read as the closest kind; an unknown one counts as text (it fits anywhere)."""

_HUBSPOT_KINDS: dict[str, T] = {
    "string": T.TEXT,
    "phone_number": T.PHONE,
    "number": T.NUMBER,
    "date": T.DATE,
    "datetime": T.DATETIME,
    "bool": T.BOOLEAN,
    "enumeration": T.ENUM,
}
_DATES = {T.DATE, T.DATETIME}


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One mapping or filter the schemas refuse: where in the configuration (a path), and why with the fix."""

    loc: tuple[str | int, ...]
    message: str


async def property_definitions(
    hs: HubSpotClient, mappings: Mapping[str, ObjectMapping]
) -> dict[str, list[dict[str, Any]]]:
    """HubSpot object type → its property definitions, for the pairs' objects (read at the same time)."""
    types = list(dict.fromkeys(m.right_object for m in mappings.values()))
    read = await asyncio.gather(*(hs.properties(object_type) for object_type in types))
    return dict(zip(types, read, strict=True))


async def check_schemas(
    config: Config,
    mappings: Mapping[str, ObjectMapping],
    cw: ConnectWiseClient,
    properties: Mapping[str, Sequence[Mapping[str, Any]]],
) -> list[SchemaProblem]:
    """Every problem of the enabled pairs' mappings and filters (see the module); `properties`: HubSpot object
    type → its property definitions (as `HubSpotClient.properties` reads them)."""
    sync = config.syncs.hubspot
    if sync is None:
        return []
    pairs = [p for p in mappings if p in OBJECTS]
    customs = await asyncio.gather(*(_custom_fields(cw, OBJECTS[p].left_object) for p in pairs))
    created = {(p.object_type, p.name) for p in wanted_properties(mappings)}
    problems: list[SchemaProblem] = []
    for pair, custom in zip(pairs, customs, strict=True):
        mapping = mappings[pair]
        checker = _Checker(pair, sync.objects.get(pair) or ObjectSync(), custom, properties, created, mapping)  # type: ignore[call-overload]
        problems.extend(checker.problems())
    return problems


async def _custom_fields(cw: ConnectWiseClient, path: str) -> dict[str, T] | None:
    """Caption → type of an object's custom fields, from one record (ConnectWise returns every custom field of the
    screen with each record, a value or not); None when there is no record to ask."""
    async for page in cw.stream(path, fields="id,customFields", page_size=1):
        for record in page[:1]:
            return {
                str(item["caption"]): CUSTOM_TYPES.get(str(item.get("type")), T.TEXT)
                for item in record.get("customFields") or []
                if isinstance(item, Mapping) and item.get("caption")
            }
        break
    return None


@dataclass
class _Checker:
    pair: str
    config: ObjectSync
    custom: Mapping[str, T] | None
    properties: Mapping[str, Sequence[Mapping[str, Any]]]
    created: set[tuple[str, str]]
    mapping: ObjectMapping

    def problems(self) -> Iterable[SchemaProblem]:
        defined = {str(p["name"]): p for p in self.properties.get(self.mapping.right_object, ())}
        for f in self.mapping.fields:
            if f.name in self.mapping.references:
                continue
            where = self._where(f)
            left = self._left_type(f.left)
            if not isinstance(left, T):  # a T is a str too (StrEnum): test for the type, not the message
                yield SchemaProblem(where, left)
                continue
            prop = defined.get(f.right)
            if prop is None:
                continue  # cwsync creates it (`create_properties`) with the mapping's type
            problem = _clash(f, left, prop)
            if problem is not None:
                yield SchemaProblem(where, problem)
        base = ("syncs", "hubspot", "objects", self.pair, "filters")
        for n, rule in enumerate(self.config.filters.connectwise):
            found = self._left_type(rule.field)
            if not isinstance(found, T):
                yield SchemaProblem((*base, "connectwise", n, "field"), f"filter: {found}")
        known = set(defined) | {name for obj, name in self.created if obj == self.mapping.right_object} | {"id"}
        for n, rule in enumerate(self.config.filters.other):
            if rule.field not in known:
                yield SchemaProblem(
                    (*base, "hubspot", n, "field"),
                    f"filter: HubSpot {self.mapping.right_object} have no property {rule.field!r}"
                    f"{_close(rule.field, known)}; every record would be filtered out",
                )

    def _where(self, f: FieldMap) -> tuple[str | int, ...]:
        base: tuple[str | int, ...] = ("syncs", "hubspot", "objects", self.pair)
        for n, change in enumerate(self.config.fields.add):
            if change.other == f.name:
                return (*base, "fields", "add", n)
        if f.name in self.config.value_maps:
            return (*base, "value_maps", f.name)
        return (*base, "fields")

    def _left_type(self, name: str) -> T | str:
        """The type of a flat ConnectWise field, or why there is no such field."""
        standard = CW_FIELDS.get(self.pair, {})
        if name in standard:
            return standard[name]
        if name.startswith(CUSTOM):
            caption = name[len(CUSTOM) :]
            if self.custom is None:
                return T.TEXT  # no record to read the custom fields from: nothing to check against
            if caption in self.custom:
                return self.custom[caption]
            known = ", ".join(sorted(self.custom)) or "none"
            return (
                f"ConnectWise {self.mapping.left_object} have no custom field captioned {caption!r}"
                f"{_close(caption, self.custom)} (captions: {known})"
            )
        return (
            f"ConnectWise {self.mapping.left_object} have no field {name!r}{_close(name, standard)}"
            f" (fields: {', '.join(sorted(standard))}, or {CUSTOM}<caption> for a custom field)"
        )


def _clash(f: FieldMap, left: T, prop: Mapping[str, Any]) -> str | None:
    """Why the ConnectWise field and the HubSpot property cannot hold each other's values (in the directions the
    field flows), with the fix; None when they can."""
    kind = _HUBSPOT_KINDS.get(str(prop.get("type")), T.TEXT)
    name = f"{f.left} ({left.value}) ↔ HubSpot {f.right} ({prop.get('type')}/{prop.get('fieldType')})"
    options = [str(o.get("value")) for o in prop.get("options") or [] if isinstance(o, Mapping)]
    external = bool(prop.get("externalOptions"))
    if kind is T.ENUM and f.direction.allows(Side.RIGHT.towards) and not external:
        if not f.value_map and not options:
            return None
        if not f.value_map:
            return (
                f"{name}: a dropdown takes only its options; add a value map (value_maps.{f.name}) from ConnectWise"
                f" values to one of: {', '.join(options[:12])}{' …' if len(options) > 12 else ''}"
            )
        bad = sorted({v for v in f.value_map.values() if v and v not in options})
        if bad and options:
            offered = ", ".join(options)
            return (
                f"{name}: the value map sends {', '.join(bad)}, which the dropdown does not offer (options: {offered})"
            )
        return None
    if f.value_map or f.transform:
        return None  # the value map or transform decides what is written
    if f.direction.allows(Side.RIGHT.towards) and not _holds(kind, left):
        return f"{name}: HubSpot cannot store a {left.value} in a {prop.get('type')} property; {_fix(kind, left)}"
    if f.direction.allows(Side.LEFT.towards) and not _holds(left, kind):
        return f"{name}: ConnectWise cannot store a {kind.value} in a {left.value} field; {_fix(left, kind)}"
    return None


def _holds(target: T, value: T) -> bool:
    """Whether a field of type `target` takes values of type `value`."""
    if target in (T.TEXT, T.EMAIL, T.PHONE, T.REFERENCE):
        return True
    if target in _DATES:
        return value in _DATES
    if target is T.ENUM:
        return True  # checked against the options where it matters (above)
    return target is value


def _fix(target: T, value: T) -> str:
    return (
        f"map it to a {value.value} property instead, or add a value map or transform that turns a {value.value}"
        f" into a {target.value}"
    )


def _close(name: str, known: Iterable[str]) -> str:
    """`; did you mean X?` for the nearest known name, if one is close."""
    import difflib

    match = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f" (did you mean {match[0]!r}?)" if match else ""
