"""The emulator's state backend: one HubSpot portal's records, property definitions, associations, pipelines, owners.

Records are plain dicts of strings (HubSpot's wire form, notes A2); system properties (`hs_object_id`,
`createdate`, `hs_lastmodifieddate`, and `lastmodifieddate` for contacts) are kept in step and are read-only (A13).
Ids are numeric strings from one counter per portal, starting at a value drawn from the seed. Every refusal is a
`HubSpotError` carrying the real status and body (A5). Every committed change is handed to listeners as a `Change`
(the webhook dispatcher is one).

Choices where the notes are silent or UNCONFIRMED: emails are stored lower-cased; a duplicate value of a custom
unique property is a 409 like a duplicate email; the text of validation messages (`Property values were not valid:
[...]` with `PROPERTY_DOESNT_EXIST`, `READ_ONLY_VALUE`, `INVALID_OPTION`, `INVALID_EMAIL`, `INVALID_DECIMAL`,
`INVALID_BOOLEAN`, `INVALID_DATE`); DELETE of an unknown id answers 204 as observed by third parties.
"""

from __future__ import annotations

import bisect
import functools
import json
import random
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cwsync_sandbox.hubspot import dataset
from cwsync_sandbox.hubspot.dataset import (
    ASSOCIATION_TYPES,
    EXCLUSIVE_TYPES,
    OBJECT_TYPES,
    SYSTEM_PROPERTIES,
    AssociationType,
    ObjectType,
    iso,
)

API_SOURCE = "INTEGRATION"
USER_SOURCE = "CRM_UI"
PROPERTY_TYPES: dict[str, frozenset[str]] = {
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
    "enumeration": frozenset({"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "string": frozenset({"text", "textarea", "html", "phonenumber", "file", "calculation_equation"}),
    "number": frozenset({"number", "calculation_equation"}),
    "phone_number": frozenset({"phonenumber"}),
}
PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_REQUIRED_PROPERTY_FIELDS = ("name", "label", "type", "fieldType", "groupName")
_EDITABLE_PROPERTY_FIELDS = frozenset(
    {"label", "description", "groupName", "options", "displayOrder", "hidden", "formField", "type", "fieldType"}
)


class HubSpotError(Exception):
    """A request HubSpot refuses: the HTTP status and the error body (`status`, `message`, `correlationId`, ...)."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra

    def body(self, correlation_id: str | None = None) -> dict[str, Any]:
        """The JSON error body (with a fresh correlation id unless one is given)."""
        return {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id or str(uuid.uuid4()),
            "category": self.category,
            **self.extra,
        }

    def standard_error(self) -> dict[str, Any]:
        """The error as one `StandardError` of a batch's `errors` array."""
        # StandardError requires status, category, message, context, errors and links (hubspot-api-client 12.0.0
        # `StandardError`, generated from HubSpot's v3 specs); `subCategory` and `id` are optional.
        body: dict[str, Any] = {"status": "error", "category": self.category, "message": self.message}
        body["context"] = self.extra.get("context", {})
        body["errors"] = self.extra.get("errors", [])
        body["links"] = self.extra.get("links", {})
        if "subCategory" in self.extra:
            body["subCategory"] = self.extra["subCategory"]
        return body


def validation_error(message: str, **extra: Any) -> HubSpotError:
    """A 400 `VALIDATION_ERROR`."""
    return HubSpotError(400, "VALIDATION_ERROR", message, **extra)


def object_not_found() -> HubSpotError:
    """The 404 for a record that does not exist (body UNCONFIRMED in A5; this is the commonly observed one)."""
    return HubSpotError(404, "OBJECT_NOT_FOUND", "resource not found")


def unknown_type(name: str) -> HubSpotError:
    """The 400 for an object type HubSpot does not know."""
    return validation_error(f"Unable to infer object type from: {name}")


@dataclass(frozen=True)
class Problem:
    """One invalid property value (an entry of `Property values were not valid: [...]`)."""

    name: str
    code: str
    message: str


def invalid_values(problems: list[Problem], portal_id: int) -> HubSpotError:
    """The 400 for invalid property values, in HubSpot's `Property values were not valid` form."""
    listed = [
        {
            "isValid": False,
            "message": p.message,
            "error": p.code,
            "name": p.name,
            "localizedErrorMessage": p.message,
            "portalId": portal_id,
        }
        for p in problems
    ]
    errors = [{"message": p.message, "code": p.code, "context": {"propertyName": [p.name]}} for p in problems]
    return validation_error(
        "Property values were not valid: " + json.dumps(listed, separators=(",", ":")), errors=errors
    )


@dataclass(frozen=True)
class Change:
    """A committed change, handed to listeners: `creation`, `propertyChange`, `deletion`, `associationChange`,
    `merge`; `properties` holds the changed values, `extra` the kind's own fields."""

    kind: str
    object_type: str
    object_id: int
    source: str
    properties: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Found:
    """A record looked up by id or unique property: its id, properties and (if archived) when."""

    record_id: int
    properties: dict[str, str]
    archived_at: str | None = None


@functools.lru_cache(maxsize=262_144)
def to_ms(value: str) -> int | None:
    """Epoch milliseconds of an epoch-ms string, an ISO date or an ISO datetime (None if neither)."""
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _as_text(raw: Any) -> str | None:
    """A JSON value as HubSpot stores it (a string); None for values that cannot be one."""
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    if isinstance(raw, str):
        return raw
    return None


def normalise_value(definition: Mapping[str, Any], object_type: str, text: str) -> str | Problem:
    """Check a non-empty value against its property's type; the stored form, or the problem."""
    name, kind = definition["name"], definition["type"]
    if name == "email" and object_type == "contacts":
        lowered = text.strip().lower()
        if not EMAIL.match(lowered):
            return Problem(name, "INVALID_EMAIL", f"Email address {text} is invalid")
        return lowered
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            return Problem(name, "INVALID_DECIMAL", f"{text} was not a valid number.")
        return text.strip()
    if kind == "bool":
        if text.strip().lower() not in ("true", "false"):
            return Problem(name, "INVALID_BOOLEAN", f"{text} was not a valid boolean.")
        return text.strip().lower()
    if kind == "enumeration":
        return _enumeration(definition, text)
    if kind in ("date", "datetime"):
        return _date_value(name, kind, text)
    return text


def _enumeration(definition: Mapping[str, Any], text: str) -> str | Problem:
    allowed = [str(o["value"]) for o in definition.get("options") or []]
    values = text.split(";") if definition.get("fieldType") == "checkbox" else [text]
    for value in values:
        if value not in allowed:
            message = f"{value} was not one of the allowed options: [{', '.join(allowed)}]"
            return Problem(definition["name"], "INVALID_OPTION", message)
    return text


def _date_value(name: str, kind: str, text: str) -> str | Problem:
    millis = to_ms(text)
    if millis is None:
        return Problem(name, "INVALID_DATE", f"{text} is not a valid date (use epoch milliseconds or ISO 8601).")
    moment = datetime.fromtimestamp(millis / 1000, tz=UTC)
    if kind == "datetime":
        return iso(moment)
    if text.strip().lstrip("-").isdigit() and millis % 86_400_000 != 0:
        return Problem(name, "INVALID_DATE", f"{text} is at {iso(moment)}, which isn't midnight UTC.")
    return moment.date().isoformat()


# -- the portal --------------------------------------------------------------------------------------------------


class CrmState:
    """One portal's CRM data, with the write rules HubSpot applies."""

    def __init__(
        self,
        *,
        seed: int,
        portal_id: int,
        counts: Mapping[str, int] | None = None,
        owners: int = 4,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.portal_id = portal_id
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        rng = random.Random(f"hubspot-portal:{seed}")
        self.next_id = 10_000_000_000 + rng.randrange(0, 10**9)
        self.owners = dataset.generate_owners(rng, owners)
        self.pipelines = dataset.default_pipelines()
        self.properties = {
            name: dataset.default_properties(t, self.owners, self.pipelines) for name, t in OBJECT_TYPES.items()
        }
        self.groups = {name: dataset.default_groups(t) for name, t in OBJECT_TYPES.items()}
        self.records: dict[str, dict[int, dict[str, str]]] = {name: {} for name in OBJECT_TYPES}
        self.order: dict[str, list[int]] = {name: [] for name in OBJECT_TYPES}
        self.archived: dict[str, dict[int, tuple[dict[str, str], str]]] = {name: {} for name in OBJECT_TYPES}
        self.merged_into: dict[str, dict[int, int]] = {name: {} for name in OBJECT_TYPES}
        self.unique: dict[str, dict[str, dict[str, int]]] = {name: {} for name in OBJECT_TYPES}
        self.links: dict[tuple[str, int], dict[str, dict[int, set[int]]]] = {}
        self.history: dict[tuple[str, int], dict[str, list[dict[str, Any]]]] = {}
        self.listeners: list[Callable[[Change], None]] = []
        self.version = 0  # bumped by every change, so derived data (search results) knows when to recompute
        self.search_cache: dict[Any, list[int]] = {}
        self._seed_records(seed, counts or {})

    # -- seeding -------------------------------------------------------------------------------------------------

    def _ids(self) -> Iterator[int]:
        while True:
            yield self._take_id()

    def _take_id(self) -> int:
        record_id = self.next_id
        self.next_id += 1
        return record_id

    def _seed_records(self, seed: int, counts: Mapping[str, int]) -> None:
        plan = dataset.SeedPlan(seed, counts.get("companies", 0), counts.get("contacts", 0), counts.get("deals", 0))
        owner_ids = [o["id"] for o in self.owners]
        unique = {name: self.unique_properties(name)[1:] for name in OBJECT_TYPES}
        for record_id, record in plan.records(self._ids(), owner_ids):
            props = dict(record.properties, hs_object_id=str(record_id))
            self._store(record.object_type, record_id, props, unique[record.object_type])
            for type_id, to_id in record.links:
                self._link(record.object_type, record_id, ASSOCIATION_TYPES[type_id], to_id)

    def _store(self, object_type: str, record_id: int, props: dict[str, str], unique: list[str] | None = None) -> None:
        self.records[object_type][record_id] = props
        self.order[object_type].append(record_id)
        self._index(object_type, record_id, props, unique)

    # -- definitions ---------------------------------------------------------------------------------------------

    def object_type(self, name: str) -> ObjectType:
        """The object type named in a path; 400 if unknown."""
        found = dataset.resolve_type(name)
        if found is None:
            raise unknown_type(name)
        return found

    def definition(self, object_type: str, name: str) -> dict[str, Any] | None:
        """A live (not archived) property definition."""
        definition = self.properties[object_type].get(name)
        return definition if definition is not None and not definition["archived"] else None

    def unique_properties(self, object_type: str) -> list[str]:
        """Properties whose values are unique (usable as `idProperty`)."""
        return ["hs_object_id"] + [
            name for name, d in self.properties[object_type].items() if d["hasUniqueValue"] and not d["archived"]
        ]

    # -- reads ---------------------------------------------------------------------------------------------------

    def find(self, object_type: str, key: str, *, id_property: str | None = None, archived: bool = False) -> Found:
        """A record by id (following merges) or by a unique property; 404 if there is none."""
        record_id = self.lookup(object_type, key, id_property=id_property, archived=archived)
        if record_id is None:
            raise object_not_found()
        if archived:
            props, archived_at = self.archived[object_type][record_id]
            return Found(record_id, props, archived_at)
        return Found(record_id, self.records[object_type][record_id])

    def lookup(
        self, object_type: str, key: str, *, id_property: str | None = None, archived: bool = False
    ) -> int | None:
        """The id a key names, or None; 400 if `id_property` is not a unique property."""
        if id_property and id_property != "hs_object_id":
            return self._lookup_unique(object_type, id_property, key, archived=archived)
        if not re.fullmatch(r"\d{1,19}", key.strip()):
            return None
        record_id = int(key)
        if archived:
            return record_id if record_id in self.archived[object_type] else None
        record_id = self.merged_into[object_type].get(record_id, record_id)
        return record_id if record_id in self.records[object_type] else None

    def _lookup_unique(self, object_type: str, name: str, key: str, *, archived: bool) -> int | None:
        if name not in self.unique_properties(object_type):
            raise validation_error(f"{name} is not a unique property of {object_type}.")
        wanted = self._unique_key(name, key)
        if not archived:
            return self.unique[object_type].get(name, {}).get(wanted)
        for record_id, (props, _) in self.archived[object_type].items():
            if self._unique_key(name, props.get(name, "")) == wanted:
                return record_id
        return None

    def page(self, object_type: str, *, after: int, limit: int, archived: bool) -> tuple[list[int], int | None]:
        """Ids in id order from `after` (inclusive), at most `limit`, and the id the next page starts at."""
        if archived:
            ids = sorted(i for i in self.archived[object_type] if i >= after)
            return ids[:limit], ids[limit] if len(ids) > limit else None
        order, live = self.order[object_type], self.records[object_type]
        out: list[int] = []
        for record_id in order[bisect.bisect_left(order, after) :]:
            if record_id not in live:
                continue
            if len(out) == limit:
                return out, record_id
            out.append(record_id)
        return out, None

    def live(self, object_type: str) -> Iterator[tuple[int, dict[str, str]]]:
        """Every live record of a type, in id order."""
        live = self.records[object_type]
        for record_id in self.order[object_type]:
            props = live.get(record_id)
            if props is not None:
                yield record_id, props

    def counts(self) -> dict[str, dict[str, int]]:
        """Live and archived records per type."""
        return {t: {"live": len(self.records[t]), "archived": len(self.archived[t])} for t in OBJECT_TYPES}

    def object_json(
        self,
        object_type: str,
        found: Found,
        *,
        select: list[str] | None,
        with_history: list[str] | None = None,
        associations: list[str] | None = None,
    ) -> dict[str, Any]:
        """A record in the `SimplePublicObject(WithAssociations)` shape."""
        t = OBJECT_TYPES[object_type]
        props = found.properties
        body: dict[str, Any] = {
            "id": str(found.record_id),
            "properties": self._selected(t, props, select),
            "createdAt": props.get("createdate", dataset.EPOCH_ISO),
            "updatedAt": props.get(t.modified_property, props.get("createdate", dataset.EPOCH_ISO)),
            "archived": found.archived_at is not None,
        }
        if found.archived_at is not None:
            body["archivedAt"] = found.archived_at
        if with_history:
            body["propertiesWithHistory"] = self._history(object_type, found, with_history)
        if associations:
            shown = self._v3_associations(object_type, found.record_id, associations)
            if shown:
                body["associations"] = shown
        return body

    def _selected(self, t: ObjectType, props: Mapping[str, str], select: list[str] | None) -> dict[str, str | None]:
        if select is None:
            names: Iterable[str] = t.defaults
        else:
            # HubSpot always adds the record id and its timestamps to the requested properties.
            always = ("createdate", t.modified_property, "hs_object_id")
            names = list(dict.fromkeys([*select, *always]))
        return {n: props.get(n) for n in names if n in self.properties[t.name]}

    def _history(self, object_type: str, found: Found, names: list[str]) -> dict[str, list[dict[str, Any]]]:
        kept = self.history.get((object_type, found.record_id), {})
        out: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            if name not in self.properties[object_type]:
                continue
            entries = list(reversed(kept.get(name, [])))
            if not entries and found.properties.get(name) is not None:
                stamp = found.properties.get("createdate", dataset.EPOCH_ISO)
                entries = [{"value": found.properties[name], "timestamp": stamp, "sourceType": "IMPORT"}]
            out[name] = entries
        return out

    def _v3_associations(self, object_type: str, record_id: int, to_types: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in to_types:
            to_type = dataset.resolve_type(name)
            if to_type is None:
                continue
            targets = self.associations_of(object_type, record_id, to_type.name)
            results = [
                {"id": str(to_id), "type": ASSOCIATION_TYPES[type_id].v3_name}
                for to_id, type_ids in sorted(targets.items())
                for type_id in sorted(type_ids)
            ]
            if results:
                out[to_type.name] = {"results": results}
        return out

    # -- writes --------------------------------------------------------------------------------------------------

    def validate(self, object_type: str, raw: Any, *, current: Mapping[str, str] | None = None) -> dict[str, str]:
        """Check properties to write; the values as stored ("" clears), or 400 listing every problem."""
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            raise validation_error("Invalid input JSON: `properties` must be an object of property names to values.")
        clean: dict[str, str] = {}
        problems: list[Problem] = []
        for name, value in raw.items():
            outcome = self._check_value(object_type, str(name), value)
            if isinstance(outcome, Problem):
                problems.append(outcome)
            else:
                clean[str(name)] = outcome
        if problems:
            raise invalid_values(problems, self.portal_id)
        return clean

    def _check_value(self, object_type: str, name: str, value: Any) -> str | Problem:
        definition = self.definition(object_type, name)
        if definition is None:
            return Problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
        if definition["modificationMetadata"]["readOnlyValue"] or definition["calculated"]:
            return Problem(name, "READ_ONLY_VALUE", f'"{name}" is a read only property; its value cannot be set.')
        text = _as_text(value)
        if text is None:
            return Problem(name, "INVALID_OPTION", f"{json.dumps(value)} is not a valid value for {name}.")
        if text == "":
            return ""
        return normalise_value(definition, object_type, text)

    def check_unique(self, object_type: str, values: Mapping[str, str], *, own_id: int | None = None) -> None:
        """409 when a unique value (a contact's email, a custom unique property) belongs to another record."""
        for name, value in values.items():
            if not value or name == "hs_object_id" or name not in self.unique_properties(object_type):
                continue
            holder = self.unique[object_type].get(name, {}).get(self._unique_key(name, value))
            if holder is not None and holder != own_id:
                if object_type == "contacts" and name == "email":
                    raise HubSpotError(409, "CONFLICT", f"Contact already exists. Existing ID: {holder}")
                singular = OBJECT_TYPES[object_type].singular
                message = (
                    f"A {singular} with the unique value {value!r} for property {name!r} already exists. "
                    f"Existing ID: {holder}"
                )
                raise HubSpotError(409, "CONFLICT", message)

    def create(
        self,
        object_type: str,
        raw_properties: Any,
        *,
        source: str,
        associations: Any = None,
        checked: dict[str, str] | None = None,
    ) -> Found:
        """Create a record (validating everything first, so a refusal changes nothing)."""
        clean = checked if checked is not None else self.validate(object_type, raw_properties)
        self.check_unique(object_type, clean)
        links = self.parse_create_associations(object_type, associations)
        record_id = self._take_id()
        stamp = iso(self.now())
        props = {k: v for k, v in clean.items() if v != ""}
        props.update(hs_object_id=str(record_id), createdate=stamp, hs_lastmodifieddate=stamp)
        if object_type == "contacts":
            props["lastmodifieddate"] = stamp
        self._store(object_type, record_id, props)
        self._remember(object_type, record_id, props, stamp, source)
        self._emit(Change("creation", object_type, record_id, source, dict(props)))
        for assoc, to_id in links:
            self.associate(object_type, record_id, assoc.to_type, to_id, [assoc.type_id], source=source)
        return Found(record_id, props)

    def update(
        self,
        object_type: str,
        key: str,
        raw_properties: Any,
        *,
        source: str,
        id_property: str | None = None,
        checked: dict[str, str] | None = None,
    ) -> Found:
        """Update a record's properties; only values that differ count as changes."""
        found = self.find(object_type, key, id_property=id_property)
        clean = checked if checked is not None else self.validate(object_type, raw_properties)
        self.check_unique(object_type, clean, own_id=found.record_id)
        props = found.properties
        changed = {k: v for k, v in clean.items() if props.get(k, "") != v}
        if not changed:
            return found
        self._unindex(object_type, found.record_id, props)
        for name, value in changed.items():
            if value == "":
                props.pop(name, None)
            else:
                props[name] = value
        stamp = self._touch(object_type, props)
        self._index(object_type, found.record_id, props)
        self._remember(object_type, found.record_id, changed, stamp, source)
        self._emit(Change("propertyChange", object_type, found.record_id, source, changed))
        return found

    def archive(self, object_type: str, key: str, *, source: str) -> bool:
        """Archive (soft-delete) a record; False if there was none (HubSpot still answers 204)."""
        record_id = self.lookup(object_type, key)
        if record_id is None:
            return False
        props = self.records[object_type].pop(record_id)
        self._unindex(object_type, record_id, props)
        self.archived[object_type][record_id] = (props, iso(self.now()))
        for to_type, targets in list(self.links.get((object_type, record_id), {}).items()):
            for to_id in list(targets):
                self.unassociate(object_type, record_id, to_type, to_id, None, source=source, emit=False)
        self.links.pop((object_type, record_id), None)
        self._emit(Change("deletion", object_type, record_id, source))
        return True

    def merge(self, object_type: str, primary_key: str, merged_key: str, *, source: str) -> Found:
        """Merge `merged_key` into `primary_key`: empty values filled, associations moved, the other archived."""
        primary, merged = self.find(object_type, primary_key), self.find(object_type, merged_key)
        if primary.record_id == merged.record_id:
            raise validation_error("Cannot merge an object with itself.")
        fills = {
            k: v
            for k, v in merged.properties.items()
            if k not in SYSTEM_PROPERTIES
            and not primary.properties.get(k)
            and k not in self.unique_properties(object_type)
        }
        moved = [
            (to_type, to_id, set(type_ids))
            for to_type, targets in self.links.get((object_type, merged.record_id), {}).items()
            for to_id, type_ids in targets.items()
        ]
        self.archive(object_type, str(merged.record_id), source=source)
        self.merged_into[object_type][merged.record_id] = primary.record_id
        for followed, target in list(self.merged_into[object_type].items()):
            if target == merged.record_id:
                self.merged_into[object_type][followed] = primary.record_id
        previous = [p for p in primary.properties.get("hs_merged_object_ids", "").split(";") if p]
        fills["hs_merged_object_ids"] = ";".join([*previous, str(merged.record_id)])
        self._apply_system(object_type, primary.record_id, fills, source)
        for to_type, to_id, type_ids in moved:
            if to_type == object_type and to_id == primary.record_id:
                continue
            kept = sorted(t for t in type_ids if ASSOCIATION_TYPES[t].label is None)
            self.associate(object_type, primary.record_id, to_type, to_id, kept or sorted(type_ids), source=source)
        extra = {"primaryObjectId": primary.record_id, "mergedObjectIds": [merged.record_id]}
        self._emit(Change("merge", object_type, primary.record_id, source, extra=extra))
        return self.find(object_type, str(primary.record_id))

    def _apply_system(self, object_type: str, record_id: int, values: dict[str, str], source: str) -> None:
        props = self.records[object_type][record_id]
        props.update(values)
        stamp = self._touch(object_type, props)
        self._remember(object_type, record_id, values, stamp, source)

    def _touch(self, object_type: str, props: dict[str, str]) -> str:
        stamp = iso(self.now())
        props["hs_lastmodifieddate"] = stamp
        if object_type == "contacts":
            props["lastmodifieddate"] = stamp
        return stamp

    def _remember(self, object_type: str, record_id: int, values: Mapping[str, str], stamp: str, source: str) -> None:
        kept = self.history.setdefault((object_type, record_id), {})
        for name, value in values.items():
            entry: dict[str, Any] = {"value": value, "timestamp": stamp, "sourceType": source}
            kept.setdefault(name, []).append(entry)

    def _unique_key(self, name: str, value: str) -> str:
        return value.strip().lower() if name == "email" else value

    def _index(
        self, object_type: str, record_id: int, props: Mapping[str, str], names: list[str] | None = None
    ) -> None:
        for name in names if names is not None else self.unique_properties(object_type)[1:]:
            value = props.get(name)
            if value:
                self.unique[object_type].setdefault(name, {})[self._unique_key(name, value)] = record_id

    def _unindex(self, object_type: str, record_id: int, props: Mapping[str, str]) -> None:
        for name in self.unique_properties(object_type)[1:]:
            value = props.get(name)
            index = self.unique[object_type].get(name, {})
            if value and index.get(self._unique_key(name, value)) == record_id:
                del index[self._unique_key(name, value)]

    def _emit(self, change: Change) -> None:
        self.version += 1
        for listener in self.listeners:
            listener(change)

    # -- associations (A7) ---------------------------------------------------------------------------------------

    def association_type(self, from_type: str, to_type: str, spec: Any) -> AssociationType:
        """The association type an `AssociationSpec` names, checked against the pair of object types (400)."""
        if not isinstance(spec, Mapping):
            raise validation_error("Each association type must be an object {associationCategory, associationTypeId}.")
        category = spec.get("associationCategory", spec.get("category"))
        type_id = spec.get("associationTypeId", spec.get("typeId"))
        assoc = ASSOCIATION_TYPES.get(type_id) if isinstance(type_id, int) else None
        if assoc is None or assoc.category != category or (assoc.from_type, assoc.to_type) != (from_type, to_type):
            raise validation_error(
                f"{category} {type_id} is not a valid association type from {from_type} to {to_type}.",
                context={"associationTypeId": [str(type_id)]},
            )
        return assoc

    def parse_create_associations(self, object_type: str, raw: Any) -> list[tuple[AssociationType, int]]:
        """The `associations` of a create body: [{to: {id}, types: [AssociationSpec]}], all checked."""
        if not raw:
            return []
        if not isinstance(raw, list):
            raise validation_error("`associations` must be an array.")
        out: list[tuple[AssociationType, int]] = []
        for item in raw:
            to = item.get("to") if isinstance(item, Mapping) else None
            to_key = str(to.get("id", "")) if isinstance(to, Mapping) else ""
            for spec in (item.get("types") or []) if isinstance(item, Mapping) else []:
                assoc = self._spec_from(object_type, spec)
                to_id = self.lookup(assoc.to_type, to_key)
                if to_id is None:
                    singular = OBJECT_TYPES[assoc.to_type].singular
                    raise validation_error(f"No {singular} with ID {to_key} exists.", context={"id": [to_key]})
                out.append((assoc, to_id))
        return out

    def _spec_from(self, object_type: str, spec: Any) -> AssociationType:
        type_id = spec.get("associationTypeId") if isinstance(spec, Mapping) else None
        assoc = ASSOCIATION_TYPES.get(type_id) if isinstance(type_id, int) else None
        return self.association_type(object_type, assoc.to_type if assoc else "?", spec)

    def associations_of(self, from_type: str, from_id: int, to_type: str) -> dict[int, set[int]]:
        """The records of `to_type` associated with a record, each with its association type ids."""
        return self.links.get((from_type, from_id), {}).get(to_type, {})

    def associate(
        self, from_type: str, from_id: int, to_type: str, to_id: int, type_ids: list[int], *, source: str
    ) -> list[int]:
        """Add association types between two records (and their inverses); the types now between them."""
        added: list[int] = []
        for type_id in type_ids:
            assoc = ASSOCIATION_TYPES[type_id]
            wanted = [assoc]
            default = dataset.default_association(from_type, to_type)
            if assoc.label is not None and default is not None:
                wanted.append(default)  # a labelled association always comes with the unlabelled one
            for item in wanted:
                if item.type_id in EXCLUSIVE_TYPES:
                    self._drop_exclusive(from_type, from_id, to_type, item, keep=to_id)
                if self._link(from_type, from_id, item, to_id):
                    added.append(item.type_id)
        if added:
            self._emit_association(from_type, from_id, to_type, to_id, added, removed=False, source=source)
        return sorted(self.associations_of(from_type, from_id, to_type).get(to_id, set()))

    def _drop_exclusive(self, from_type: str, from_id: int, to_type: str, assoc: AssociationType, keep: int) -> None:
        for other, type_ids in list(self.associations_of(from_type, from_id, to_type).items()):
            if other != keep and assoc.type_id in type_ids:
                self._unlink(from_type, from_id, to_type, other, {assoc.type_id})

    def _link(self, from_type: str, from_id: int, assoc: AssociationType, to_id: int) -> bool:
        forward = self.links.setdefault((from_type, from_id), {}).setdefault(assoc.to_type, {}).setdefault(to_id, set())
        if assoc.type_id in forward:
            return False
        forward.add(assoc.type_id)
        backward = (
            self.links.setdefault((assoc.to_type, to_id), {}).setdefault(from_type, {}).setdefault(from_id, set())
        )
        backward.add(assoc.inverse)
        return True

    def _unlink(self, from_type: str, from_id: int, to_type: str, to_id: int, type_ids: set[int]) -> set[int]:
        forward = self.associations_of(from_type, from_id, to_type).get(to_id, set())
        removed = forward & type_ids
        forward -= removed
        backward = self.associations_of(to_type, to_id, from_type).get(from_id, set())
        backward -= {ASSOCIATION_TYPES[t].inverse for t in removed}
        for a_type, a_id, b_type, b_id, kept in (
            (from_type, from_id, to_type, to_id, forward),
            (to_type, to_id, from_type, from_id, backward),
        ):
            if not kept:
                self.links.get((a_type, a_id), {}).get(b_type, {}).pop(b_id, None)
        return removed

    def unassociate(
        self,
        from_type: str,
        from_id: int,
        to_type: str,
        to_id: int,
        type_ids: list[int] | None,
        *,
        source: str,
        emit: bool = True,
    ) -> None:
        """Remove association types between two records (all of them when `type_ids` is None)."""
        current = set(self.associations_of(from_type, from_id, to_type).get(to_id, set()))
        wanted = current if type_ids is None else set(type_ids)
        default = dataset.default_association(from_type, to_type)
        if default is not None and default.type_id in wanted:
            wanted = current  # without the unlabelled association no label can stay
        removed = self._unlink(from_type, from_id, to_type, to_id, wanted)
        if removed and emit:
            self._emit_association(from_type, from_id, to_type, to_id, sorted(removed), removed=True, source=source)

    def _emit_association(
        self, from_type: str, from_id: int, to_type: str, to_id: int, type_ids: list[int], *, removed: bool, source: str
    ) -> None:
        extra = {
            "fromObjectId": from_id,
            "toObjectId": to_id,
            "toObjectType": to_type,
            "associationTypeIds": type_ids,
            "associationRemoved": removed,
        }
        self._emit(Change("associationChange", from_type, from_id, source, extra=extra))

    # -- properties (A8) -----------------------------------------------------------------------------------------

    def create_property(self, object_type: str, body: Any) -> dict[str, Any]:
        """Create a custom property, checking required fields, the type/fieldType pair, options and the group."""
        self.version += 1
        if not isinstance(body, Mapping):
            raise validation_error("Invalid input JSON: expected a PropertyCreate object.")
        missing = [f for f in _REQUIRED_PROPERTY_FIELDS if not body.get(f)]
        if missing:
            raise validation_error(
                "Invalid input JSON on line 1, column 1: Cannot build PropertyCreate, some of required attributes "
                f"are not set [{', '.join(missing)}]"
            )
        name = str(body["name"])
        if not PROPERTY_NAME.match(name):
            raise validation_error(
                f"Property name {name!r} is invalid: use lowercase letters, digits and underscores, starting with a "
                "letter."
            )
        if name in self.properties[object_type]:
            raise HubSpotError(409, "CONFLICT", f"A property named '{name}' already exists.")
        definition = self._custom_definition(object_type, body)
        self.properties[object_type][name] = definition
        return definition

    def _custom_definition(self, object_type: str, body: Mapping[str, Any]) -> dict[str, Any]:
        kind, field_type = str(body["type"]), str(body["fieldType"])
        self._check_kind(kind, field_type)
        group = str(body["groupName"])
        if group not in self.groups[object_type] or self.groups[object_type][group]["archived"]:
            raise validation_error(f"Property group {group!r} does not exist for {object_type}.")
        options = self._options(kind, field_type, body.get("options"))
        stamp = iso(self.now())
        return {
            "name": str(body["name"]),
            "label": str(body["label"]),
            "type": kind,
            "fieldType": field_type,
            "description": str(body.get("description") or ""),
            "groupName": group,
            "options": options,
            "displayOrder": int(body.get("displayOrder", -1)),
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": bool(body.get("hasUniqueValue", False)),
            "hidden": bool(body.get("hidden", False)),
            "hubspotDefined": False,
            "modificationMetadata": {"archivable": True, "readOnlyDefinition": False, "readOnlyValue": False},
            "formField": bool(body.get("formField", False)),
            "dataSensitivity": str(body.get("dataSensitivity") or "non_sensitive"),
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }

    @staticmethod
    def _check_kind(kind: str, field_type: str) -> None:
        allowed = PROPERTY_TYPES.get(kind)
        if allowed is None:
            raise validation_error(
                f"Invalid input JSON: {kind!r} is not a valid property type; use one of {sorted(PROPERTY_TYPES)}."
            )
        if field_type not in allowed:
            raise validation_error(
                f"The fieldType {field_type!r} is not valid for a property of type {kind!r}; "
                f"allowed: {sorted(allowed)}.",
                subCategory="PropertyValidationError.INVALID_FIELD_TYPE",
            )

    @staticmethod
    def _options(kind: str, field_type: str, raw: Any) -> list[dict[str, Any]]:
        if kind != "enumeration":
            return []
        if field_type == "booleancheckbox" and not raw:
            return [dataset.option("Yes", "true", 0), dataset.option("No", "false", 1)]
        if not isinstance(raw, list) or not raw:
            raise validation_error("Enumeration properties need at least one option in `options`.")
        options: list[dict[str, Any]] = []
        for index, item in enumerate(raw):
            if not isinstance(item, Mapping) or item.get("label") in (None, "") or item.get("value") in (None, ""):
                raise validation_error("Each option needs a `label` and a `value`.")
            entry = dataset.option(str(item["label"]), str(item["value"]), int(item.get("displayOrder", index)))
            entry["hidden"] = bool(item.get("hidden", False))
            if item.get("description"):
                entry["description"] = str(item["description"])
            options.append(entry)
        return options

    def property_definition(self, object_type: str, name: str, *, archived: bool = False) -> dict[str, Any]:
        """A property by name; 404 if unknown (or archived, unless asked for)."""
        definition = self.properties[object_type].get(name)
        if definition is None or definition["archived"] != archived:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find property with name: {name}")
        return definition

    def update_property(self, object_type: str, name: str, body: Any) -> dict[str, Any]:
        """PATCH a custom property (HubSpot-defined ones have a read-only definition)."""
        self.version += 1
        definition = self.property_definition(object_type, name)
        if not isinstance(body, Mapping):
            raise validation_error("Invalid input JSON: expected a PropertyUpdate object.")
        if definition["modificationMetadata"]["readOnlyDefinition"]:
            raise validation_error(f"{name} is a HubSpot defined property; its definition can't be changed.")
        if "hasUniqueValue" in body and bool(body["hasUniqueValue"]) != definition["hasUniqueValue"]:
            raise validation_error("hasUniqueValue can't be changed once the property is created.")
        unknown = set(body) - _EDITABLE_PROPERTY_FIELDS - {"hasUniqueValue"}
        if unknown:
            raise validation_error(f"Invalid input JSON: unknown field(s) {sorted(unknown)} for PropertyUpdate.")
        merged = {**definition, **body}
        self._check_kind(str(merged["type"]), str(merged["fieldType"]))
        if "options" in body or "type" in body:
            merged["options"] = self._options(str(merged["type"]), str(merged["fieldType"]), merged.get("options"))
        if str(merged["groupName"]) not in self.groups[object_type]:
            raise validation_error(f"Property group {merged['groupName']!r} does not exist for {object_type}.")
        merged["updatedAt"] = iso(self.now())
        definition.update(merged)
        return definition

    def archive_property(self, object_type: str, name: str) -> None:
        """Archive a custom property (HubSpot-defined ones cannot be archived)."""
        self.version += 1
        definition = self.property_definition(object_type, name)
        if not definition["modificationMetadata"]["archivable"]:
            raise validation_error(f"{name} is a HubSpot defined property and can't be archived.")
        definition.update(archived=True, archivedAt=iso(self.now()))

    def create_group(self, object_type: str, body: Any) -> dict[str, Any]:
        """Create a property group {name, label, displayOrder?}; 409 if the name is taken."""
        if not isinstance(body, Mapping) or not body.get("name") or not body.get("label"):
            missing = [f for f in ("name", "label") if not (isinstance(body, Mapping) and body.get(f))]
            raise validation_error(
                "Invalid input JSON on line 1, column 1: Cannot build PropertyGroupCreate, some of required "
                f"attributes are not set [{', '.join(missing)}]"
            )
        name = str(body["name"])
        if name in self.groups[object_type]:
            raise HubSpotError(409, "CONFLICT", f"A property group named '{name}' already exists.")
        group = {"name": name, "label": str(body["label"]), "displayOrder": int(body.get("displayOrder", -1))}
        group["archived"] = False
        self.groups[object_type][name] = group
        return group

    def group(self, object_type: str, name: str) -> dict[str, Any]:
        """A live property group; 404 if unknown."""
        group = self.groups[object_type].get(name)
        if group is None or group["archived"]:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find property group with name: {name}")
        return group

    # -- pipelines and owners (A9) -------------------------------------------------------------------------------

    def pipeline(self, pipeline_id: str) -> dict[str, Any]:
        """A deal pipeline by id; 404 if unknown."""
        found = self.pipelines.get(pipeline_id)
        if found is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id}")
        return found

    def owner(self, key: str, *, by_user_id: bool = False) -> dict[str, Any]:
        """An owner by id (or HubSpot user id); 404 if unknown."""
        field_name = "userId" if by_user_id else "id"
        for owner in self.owners:
            if str(owner[field_name]) == key:
                return owner
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find owner {key}")
