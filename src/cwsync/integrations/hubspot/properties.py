"""HubSpot custom properties cwsync needs (HS-5): find the missing ones and create them. Never ConnectWise fields.

Dropdowns whose options are ConnectWise's own lists (SB-1: company types here, the catalog's categories,
subcategories, manufacturers and product types in `syncs.catalog.engine`) are kept in sync by `sync_options` on
each run's prepare step: new values added, values ConnectWise dropped hidden (records may still hold them).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any

from cwsync.config.model import HubSpotSync
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.http import AmbiguousWriteError, ConflictError, RetriableError
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.mapping import FieldMap, ObjectMapping
from cwsync.core.values import FieldType
from cwsync.integrations.hubspot.defaults import CUSTOM_PROPERTIES, GROUP, CustomProperty

FLAG = "cw_deleted"
"""The property `on_delete: flag` sets on the HubSpot counterpart of a record deleted in ConnectWise."""

# HubSpot (type, fieldType) for a mapped field type.
_HUBSPOT_TYPES = {
    FieldType.TEXT: ("string", "text"),
    FieldType.EMAIL: ("string", "text"),
    FieldType.PHONE: ("string", "phonenumber"),
    FieldType.NUMBER: ("number", "number"),
    FieldType.BOOLEAN: ("bool", "booleancheckbox"),
    FieldType.DATE: ("date", "date"),
    FieldType.DATETIME: ("datetime", "date"),
    FieldType.ENUM: ("enumeration", "select"),
}


def wanted_properties(mappings: Mapping[str, ObjectMapping], sync: HubSpotSync | None = None) -> list[CustomProperty]:
    """cwsync's own properties plus one per mapped HubSpot field, for the enabled pairs; a `fields.add` entry's
    `label` and `group` (in `sync`) name its property and where it goes (HS-5)."""
    wanted = [p for p in CUSTOM_PROPERTIES if p.object_type in {m.right_object for m in mappings.values()}]
    names = {(p.object_type, p.name) for p in wanted}
    for pair, mapping in mappings.items():
        chosen = _chosen(sync, pair)
        for f in mapping.fields:
            if f.name in mapping.references or (mapping.right_object, f.right) in names:
                continue
            kind, field_type = _HUBSPOT_TYPES.get(f.right_type, ("string", "text"))
            label, group = chosen.get(f.right, (None, None))
            label = label or f.right.replace("_", " ").title().replace("Connectwise", "ConnectWise")
            wanted.append(CustomProperty(mapping.right_object, f.right, label, kind, field_type, group=group))
            names.add((mapping.right_object, f.right))
    for pair, mapping in mappings.items():
        config = sync.objects.get(pair) if sync is not None else None  # type: ignore[call-overload]
        if config is not None and config.on_delete == "flag" and (mapping.right_object, FLAG) not in names:
            wanted.append(
                CustomProperty(mapping.right_object, FLAG, "Deleted in ConnectWise", "bool", "booleancheckbox")
            )
            names.add((mapping.right_object, FLAG))
    return wanted


def property_group(sync: HubSpotSync | None) -> tuple[str, str]:
    """The group cwsync's properties go in: `syncs.hubspot.property_group` (name, label), else `GROUP`."""
    return (sync.property_group.name, sync.property_group.label) if sync is not None else GROUP


def _chosen(sync: HubSpotSync | None, pair: str) -> dict[str, tuple[str | None, str | None]]:
    """HubSpot property → (label, group) as a pair's `fields.add` entries name them."""
    if sync is None:
        return {}
    config = sync.objects.get(pair)  # type: ignore[call-overload]
    if config is None:
        return {}
    return {change.other: (change.label, change.group) for change in config.fields.add}


async def missing_properties(
    hs: HubSpotClient,
    mappings: Mapping[str, ObjectMapping],
    definitions: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    sync: HubSpotSync | None = None,
) -> list[CustomProperty]:
    """The wanted properties HubSpot does not have yet (each object type's properties read at the same time, unless
    the caller read them: `definitions`)."""
    wanted = wanted_properties(mappings, sync)
    types = [t for t in dict.fromkeys(p.object_type for p in wanted) if definitions is None or t not in definitions]
    fetched = await asyncio.gather(*(hs.properties(object_type) for object_type in types))
    read: dict[str, Sequence[Mapping[str, Any]]] = {**dict(zip(types, fetched, strict=True)), **(definitions or {})}
    existing = {object_type: {p["name"] for p in props} for object_type, props in read.items()}
    return [prop for prop in wanted if prop.name not in existing[prop.object_type]]


async def create_properties(
    hs: HubSpotClient,
    props: list[CustomProperty],
    options: Mapping[tuple[str, str], list[str]] | None = None,
    group: tuple[str, str] = GROUP,
) -> list[str]:
    """Create properties (and cwsync's property group where needed); returns `object.name` of each created.

    Object types go at the same time, and so do one type's properties once its group exists.
    """
    by_type: dict[str, list[CustomProperty]] = {}
    for prop in props:
        by_type.setdefault(prop.object_type, []).append(prop)

    async def _group_made(object_type: str, name: str, label: str) -> None:
        async def exists() -> bool:
            return name in {g["name"] for g in await hs.property_groups(object_type)}

        await _made(lambda: hs.create_property_group(object_type, name=name, label=label), exists)

    async def create_one(prop: CustomProperty) -> None:
        choices = (options or {}).get((prop.object_type, prop.name))

        async def exists() -> bool:
            return prop.name in {p["name"] for p in await hs.properties(prop.object_type)}

        await _made(lambda: _create(prop, choices), exists)

    async def _create(prop: CustomProperty, choices: list[str] | None) -> None:
        await hs.create_property(
            prop.object_type,
            name=prop.name,
            label=prop.label,
            type=prop.type,
            field_type=prop.field_type,
            group_name=prop.group or group[0],
            options=[{"label": c, "value": c, "hidden": False, "displayOrder": i} for i, c in enumerate(choices or [])]
            or None,
            has_unique_value=prop.unique,
        )

    async def create_for(object_type: str, mine: list[CustomProperty]) -> None:
        present = {g["name"] for g in await hs.property_groups(object_type)}
        for name in dict.fromkeys(prop.group or group[0] for prop in mine):
            if name not in present:
                label = group[1] if name == group[0] else name.replace("_", " ").title()
                await _group_made(object_type, name, label)
        await asyncio.gather(*(create_one(prop) for prop in mine))

    await asyncio.gather(*(create_for(object_type, mine) for object_type, mine in by_type.items()))
    return [f"{prop.object_type}.{prop.name}" for prop in props]


SETUP_ATTEMPTS = 4


async def _made(create: Callable[[], Awaitable[object]], exists: Callable[[], Awaitable[bool]]) -> None:
    """A setup write that survives lost answers and faults: after a failed attempt, look up whether it was made
    (the answer was lost, or a concurrent run made it: 409) before sending it again, up to `SETUP_ATTEMPTS` times.
    A POST is not safe to resend blindly, so the HTTP layer does not; this is what makes it safe here."""
    for attempt in range(1, SETUP_ATTEMPTS + 1):
        try:
            await create()
            return
        except (RetriableError, AmbiguousWriteError, ConflictError) as exc:
            if await exists():
                return
            if attempt == SETUP_ATTEMPTS or isinstance(exc, ConflictError):
                raise


# -- dropdown options imported from ConnectWise (SB-1) ---------------------------------------------------------------

COMPANY_TYPE_PROPERTY = "connectwise_company_type"
"""The HubSpot company dropdown whose options are ConnectWise's company types (mapped from the priority type)."""
Options = dict[tuple[str, str], list[str]]
"""(HubSpot object type, property name) → the option values a dropdown should offer."""


def merged_options(current: Sequence[Mapping[str, Any]], wanted: Sequence[str]) -> list[dict[str, Any]] | None:
    """The options a dropdown should have for `wanted` values: its current ones in their order (one ConnectWise no
    longer has is hidden, not removed — records may hold it; one that came back is shown again), then the new ones;
    None when nothing changes."""
    want = list(dict.fromkeys(w for w in wanted if w))
    out = [dict(o) for o in current if isinstance(o, Mapping)]
    held = {str(o.get("value")) for o in out}
    changed = False
    for option in out:
        hidden = str(option.get("value")) not in want
        if bool(option.get("hidden", False)) != hidden:
            option["hidden"], changed = hidden, True
    for value in want:
        if value not in held:
            out.append({"label": value, "value": value, "hidden": False, "displayOrder": len(out)})
            changed = True
    return out if changed else None


async def sync_options(
    hs: HubSpotClient,
    object_type: str,
    name: str,
    wanted: Sequence[str],
    *,
    definition: Mapping[str, Any] | None,
    dry_run: bool = False,
) -> list[dict[str, Any]] | None:
    """Make an existing property a dropdown offering `wanted` (a text property becomes a select); the options it
    has then (None: no change, or no such property yet — it is created with its options). Idempotent: a lost answer
    is looked up (the options are read back) before the update is sent again."""
    if definition is None:
        return None
    is_dropdown = definition.get("type") == "enumeration"
    options = merged_options(definition.get("options") or [] if is_dropdown else [], wanted)
    if options is None or dry_run:
        return options
    changes: dict[str, Any] = {"options": options}
    if not is_dropdown:
        changes.update(type="enumeration", fieldType="select")

    async def offered() -> bool:
        now = {p["name"]: p for p in await hs.properties(object_type)}.get(name) or {}
        visible = {str(o.get("value")) for o in now.get("options") or [] if not o.get("hidden")}
        return now.get("type") == "enumeration" and set(wanted) - {""} <= visible

    await _made(lambda: hs.update_property(object_type, name, changes), offered)
    return options


def with_options(
    definitions: Mapping[str, Sequence[Mapping[str, Any]]], options: Options
) -> dict[str, list[dict[str, Any]]]:
    """Property definitions as they are once `options` are imported (what a dry run checks the mappings against)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for object_type, props in definitions.items():
        out[object_type] = []
        for prop in props:
            wanted = options.get((object_type, str(prop.get("name"))))
            if wanted is not None:
                current = prop.get("options") or [] if prop.get("type") == "enumeration" else []
                merged = merged_options(current, wanted)
                prop = {**prop, "type": "enumeration", "fieldType": "select", "options": merged or current}
            out[object_type].append(dict(prop))
    return out


async def import_company_types(
    cw: ConnectWiseClient, hs: HubSpotClient, mappings: dict[str, ObjectMapping], *, dry_run: bool = False
) -> Options:
    """ConnectWise's company types as the options of `connectwise_company_type` (SB-1), when companies map it: its
    options are brought up to date (not in a dry run) and its value map filled with them (a type maps to itself;
    the value map is the dropdown's list, so the type checks pass). Returns the options wanted."""
    options, _ = await CompanyTypeOptions().refresh(cw, hs, mappings, dry_run=dry_run)
    return options


def _company_type_field(mappings: Mapping[str, ObjectMapping]) -> FieldMap | None:
    mapping = mappings.get("companies")
    return next((f for f in mapping.fields if f.right == COMPANY_TYPE_PROPERTY), None) if mapping else None


@dataclass
class CompanyTypeOptions:
    """The company-type dropdown of one long-lived engine (SB-1 under `cwsync serve`): `refresh` reads
    ConnectWise's company types (one request) and touches HubSpot only when they differ from the last import —
    so each scheduled, API or full run picks up a type added or removed in ConnectWise without a restart, and an
    unchanged list costs no HubSpot call; `seen` does it in a record job when a record carries a type the last
    import did not have."""

    digest: str | None = None
    """The company types last imported (a digest of their names in ConnectWise's order); None: none yet."""
    configured: dict[str, str] | None = None
    """The field's value map as configured, before any import (what each import's value map is built on)."""
    types: frozenset[str] = frozenset()
    """The company types of the last import (what `seen` compares a record's types with)."""
    checked: set[str] = dataclass_field(default_factory=set)
    """Types records carried that the list did not have when `seen` re-read it (not read again for them)."""
    lock: asyncio.Lock = dataclass_field(default_factory=asyncio.Lock)
    """One import at a time (a run's own refresh and its read-ahead's `seen` may ask at once)."""

    async def seen(
        self, cw: ConnectWiseClient, hs: HubSpotClient, mappings: dict[str, ObjectMapping], types: Iterable[str]
    ) -> bool:
        """Company types read on records (a callback's company, in a record job): one the last import did not have
        re-imports the list now, before the record is planned, so it is written with its new type rather than
        waiting for the next scheduled run. Free when every type is known; a type still missing from ConnectWise's
        list is not asked about again. Returns whether the list was imported."""
        new = set(types) - self.types - self.checked
        if not new or self.digest is None or _company_type_field(mappings) is None:
            return False
        _, changed = await self.refresh(cw, hs, mappings)
        self.checked |= new - self.types
        return changed

    async def refresh(
        self,
        cw: ConnectWiseClient,
        hs: HubSpotClient,
        mappings: dict[str, ObjectMapping],
        *,
        dry_run: bool = False,
    ) -> tuple[Options, bool]:
        """Import the company types when they changed since the last import (always on the first): the dropdown's
        options updated (not in a dry run) and the field's value map rebuilt. Returns the options wanted and
        whether anything was imported (False: the list is as it was, nothing sent to HubSpot)."""
        async with self.lock:
            return await self._refresh(cw, hs, mappings, dry_run=dry_run)

    async def _refresh(
        self, cw: ConnectWiseClient, hs: HubSpotClient, mappings: dict[str, ObjectMapping], *, dry_run: bool
    ) -> tuple[Options, bool]:
        field = _company_type_field(mappings)
        if field is None:
            return {}, False
        types = [str(t["name"]) async for t in cw.stream_records("company/companies/types", fields="id,name")]
        digest = hashlib.sha256(json.dumps(types).encode()).hexdigest()
        options: Options = {("companies", COMPANY_TYPE_PROPERTY): types}
        if digest == self.digest:
            return options, False
        current = {p["name"]: p for p in await hs.properties("companies")}.get(COMPANY_TYPE_PROPERTY)
        await sync_options(hs, "companies", COMPANY_TYPE_PROPERTY, types, definition=current, dry_run=dry_run)
        if self.configured is None:
            self.configured = dict(field.value_map or {})
        value_map = {**{t: t for t in types}, **{k: v for k, v in self.configured.items() if k not in types}}
        mapping = mappings["companies"]
        fields = tuple(replace(f, value_map=value_map) if f is field else f for f in mapping.fields)
        mappings["companies"] = replace(mapping, fields=fields)
        if not dry_run:
            self.digest, self.types = digest, frozenset(types)
        return options, True
