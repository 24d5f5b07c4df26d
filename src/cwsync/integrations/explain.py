"""Explain shows the mapping (BY-2): for a record, each field map applied to its source values.

`trace` is pure: a pair's `ObjectMapping` over a flattened record of one side gives, per field, the source path
and value, the target field, the direction and value map, the transformed value, the value last synced (the link's
projection) and whether the next run would write it; the changed ones are the planned diff. With `--live` the
record is read from its system now (`read_record`); without, the values the latest decision recorded are shown
(transformed values only: a run item keeps the projection, not the raw record).

Mappings come from the configuration: the HubSpot objects' (`syncs.hubspot`, defaults and `fields:` changes), the
SQL mirror's columns and the catalog's product properties. Hudu builds its mapping from the layouts in Hudu at run
time, so its records show the recorded values without paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cwsync.config import Config
from cwsync.config.vocabulary import Direction
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.http import NotFoundError
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.mapping import FieldMap, ObjectMapping
from cwsync.integrations import mirror
from cwsync.integrations.catalog.products import MAPPING as PRODUCT_MAPPING
from cwsync.integrations.catalog.products import PRODUCTS_PAIR, project_product
from cwsync.integrations.devices.sync import MAPPING as DEVICE_MAPPING
from cwsync.integrations.devices.sync import canonical as device_values
from cwsync.integrations.devices.sync import flatten as device_raw_flat
from cwsync.integrations.hubspot import shapes
from cwsync.integrations.hubspot.defaults import OBJECTS
from cwsync.integrations.hubspot.sides import ConnectWiseSide, right_properties
from cwsync.store import Link

__all__ = ["mapping_for", "read_record", "trace"]
DEVICES_PAIR = "devices"


def mapping_for(config: Config, pair: str) -> ObjectMapping | None:
    """The mapping a pair runs with under this configuration (None: built at run time, as Hudu's)."""
    from cwsync.integrations.hubspot.run import mappings  # the run module imports much; only explain needs this here

    if pair in OBJECTS:
        return mappings(config).get(pair)
    if pair == PRODUCTS_PAIR:
        return PRODUCT_MAPPING
    if pair == DEVICES_PAIR:
        return DEVICE_MAPPING
    kind = pair.removeprefix("mirror:")
    if pair.startswith("mirror:") and kind in mirror.OBJECTS:
        return mirror.mapping(kind)
    return None


def device_flat(raw: Mapping[str, Any], types: Mapping[str, str]) -> dict[str, Any]:
    """A configuration as the device pair plans it (its device's values, or why it is no device)."""
    flat = device_raw_flat(dict(raw), types)
    return flat if "@skipped" in flat else dict(device_values(flat))


async def read_record(
    config: Config,
    pair: str,
    side: str,
    record_id: str,
    *,
    cw: ConnectWiseClient,
    hs: HubSpotClient | None,
) -> dict[str, Any] | None:
    """The record as its system holds it now, flattened as the pair flattens it (None: not found there)."""
    mapping = mapping_for(config, pair)
    if mapping is None or (side == "right" and (hs is None or pair not in OBJECTS)):
        return None
    try:
        if side == "right":
            assert hs is not None
            raw = await hs.get(mapping.right_object, record_id, properties=list(right_properties(mapping)))
            return shapes.flatten_hubspot(raw)
        if pair in OBJECTS:
            catalog = config.syncs.catalog
            priority = tuple(catalog.company_type_priority) if catalog is not None else None
            left = ConnectWiseSide(cw, pair, mapping.left_object, priority, shapes.reads_forecast(mapping))
            return left.flatten(await left.get(record_id))  # with its forecast when that is mapped
        raw = await cw.get(mapping.left_object, record_id)
    except NotFoundError:
        return None
    if pair == PRODUCTS_PAIR and config.syncs.catalog is not None:
        return dict(project_product(raw, config.syncs.catalog).properties)
    if pair == DEVICES_PAIR:
        changes = config.syncs.changes
        types = changes.devices.types if changes is not None and changes.devices is not None else {}
        return device_flat(raw, types)
    return mirror.flatten(raw)


def trace(
    mapping: ObjectMapping | None,
    side: str,
    *,
    flat: Mapping[str, Any] | None = None,
    recorded: Mapping[str, Any] | None = None,
    link: Link | None = None,
) -> dict[str, Any]:
    """Each field map applied to a record of `side` (`left`: ConnectWise), and the planned diff.

    `flat` is the record read now (raw source values); without it, `recorded` holds the transformed values of the
    latest decision. A field is planned when its value differs from the one last synced (every valued field when
    there is no link yet) and its direction lets it flow away from `side`.
    """
    base = (link.left_values if side == "left" else link.right_values or link.left_values) if link else {}
    towards = Direction.TO_RIGHT if side == "left" else Direction.TO_LEFT
    fields = []
    if mapping is None:
        for name, value in (recorded or {}).items():
            fields.append(_entry(None, name, None, value, base, towards, link is not None))
    else:
        for f in mapping.fields:
            source = _source_value(f, side, flat) if flat is not None else None
            value = _value(f, side, source) if flat is not None else (recorded or {}).get(f.name)
            fields.append(_entry(f, f.name, source, value, base, towards, link is not None))
    return {
        "source": "live" if flat is not None else "recorded",
        "fields": fields,
        "planned_diff": {e["field"]: [e["last_synced"], e["value"]] for e in fields if e["planned"]},
    }


def _source_value(f: FieldMap, side: str, flat: Mapping[str, Any]) -> Any:
    return flat.get(f.left if side == "left" else f.right)


def _value(f: FieldMap, side: str, source: Any) -> str | None:
    return f.from_left(source) if side == "left" else f.from_right(source)


def _entry(
    f: FieldMap | None,
    name: str,
    source: Any,
    value: Any,
    base: Mapping[str, Any],
    towards: Direction,
    linked: bool,
) -> dict[str, Any]:
    last = base.get(name)
    changed = (value or None) != (last or None) if linked else value not in (None, "")
    flows = f is None or f.direction.allows(towards)
    return {
        "field": name,
        "connectwise": f.left if f is not None else None,
        "other": f.right if f is not None else None,
        "direction": f.direction.value if f is not None else None,
        "value_map": dict(f.value_map) if f is not None and f.value_map else None,
        "transform": f.transform if f is not None else None,
        "source_value": source,
        "value": value,
        "last_synced": last,
        "planned": bool(changed and flows),
    }
