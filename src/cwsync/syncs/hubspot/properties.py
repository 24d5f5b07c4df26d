"""HubSpot custom properties cwsync needs (HS-5): find the missing ones and create them. Never ConnectWise fields."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from cwsync.config.model import HubSpotSync
from cwsync.connectors.http import AmbiguousWriteError, ConflictError, RetriableError
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.mapping import ObjectMapping
from cwsync.core.values import FieldType
from cwsync.syncs.hubspot.defaults import CUSTOM_PROPERTIES, GROUP, CustomProperty

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
            label = label or f.right.replace("_", " ").title()
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
