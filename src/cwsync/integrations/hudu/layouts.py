"""Resolving the configured layout names against Hudu's asset layouts (checked at connection test and at start)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from cwsync.config.hudu import DataType, HuduSync
from cwsync.connectors.http import CwsyncApiError
from cwsync.connectors.hudu import HuduClient, label_key
from cwsync.integrations.hudu.shapes import DEFAULT_LAYOUT_FIELDS

__all__ = ["LayoutError", "LayoutInfo", "connected_needs", "layout_needs", "resolve_layouts"]

log = structlog.get_logger("cwsync.hudu.layouts")


@dataclass(frozen=True, slots=True)
class LayoutInfo:
    """An asset layout as planning needs it: id, name and its labels (by `label_key`)."""

    layout_id: int
    name: str
    labels: dict[str, str]

    @classmethod
    def of(cls, layout: Mapping[str, Any]) -> LayoutInfo:
        """From a Hudu layout record."""
        fields = [f for f in layout.get("fields") or [] if isinstance(f, Mapping) and not f.get("is_destroyed")]
        labels = {label_key(str(f["label"])): str(f["label"]) for f in fields if f.get("label")}
        return cls(int(layout["id"]), str(layout["name"]), labels)


class LayoutError(Exception):
    """Configured layouts that Hudu lacks (or has inactive); the message lists the valid names."""

    def __init__(self, missing: Sequence[str], valid: Sequence[str], inactive: Sequence[str] = ()) -> None:
        self.missing = list(missing)
        self.valid = list(valid)
        self.inactive = list(inactive)
        """Of `missing`, the ones Hudu has but inactive: creating them again would be refused (422), so the fix is to
        activate them."""
        choices = ", ".join(repr(n) for n in self.valid) or "none"
        parts = []
        if self.inactive:
            names = ", ".join(repr(n) for n in self.inactive)
            parts.append(
                f"asset layout(s) {names} exist in Hudu but are inactive: activate them (Admin → Asset Layouts)"
            )
        absent = [n for n in self.missing if n not in self.inactive]
        if absent:
            names = ", ".join(repr(n) for n in absent)
            parts.append(
                f"asset layout(s) {names} do not exist in Hudu. Valid layouts: {choices}. Fix syncs.hudu.layouts,"
                " create the layout in Hudu (Admin → Asset Layouts), or set syncs.hudu.create_missing_layouts: true"
            )
        super().__init__("; ".join(parts))


def _uses(sync: HuduSync) -> list[tuple[DataType, str]]:
    """(data type, layout name) for every layout an enabled data type writes to."""
    types = set(sync.data_types())
    layouts = sync.layouts
    uses: list[tuple[DataType, str]] = [("contacts", layouts.contacts), ("sites", layouts.locations)]
    uses += [("configurations", name) for name in (layouts.configurations, *(r.layout for r in layouts.sort_rules))]
    uses.append(("agreements", layouts.agreements))
    return [(kind, name) for kind, name in uses if kind in types]


def layout_needs(sync: HuduSync) -> dict[str, DataType]:
    """Each layout name the enabled data types use → the data type whose default fields it would be created with."""
    needs: dict[str, DataType] = {}
    for kind, name in _uses(sync):
        needs.setdefault(name, kind)
    return needs


def connected_needs(sync: HuduSync) -> dict[str, list[dict[str, Any]]]:
    """Each layout (by lowercase name) → the fields its data types' connected fields need (HU-3), as Hudu creates
    them: the label, the type, shown in list views unless configured otherwise."""
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, name in _uses(sync):
        fields = out.setdefault(name.strip().lower(), [])
        for entry in sync.connected_fields.of(kind):
            if all(label_key(f["label"]) != label_key(entry.hudu) for f in fields):
                fields.append({"label": entry.hudu, "field_type": entry.field_type, "show_in_list": entry.show_in_list})
    return out


async def resolve_layouts(
    hudu: HuduClient, sync: HuduSync, *, create_missing: bool, dry_run: bool = False
) -> dict[str, LayoutInfo]:
    """The layouts the sync uses, by lowercase name (one `GET /asset_layouts`); missing ones are created with
    `create_missing` (or, in a `dry_run`, stand-ins are planned with).

    Raises:
        LayoutError: some are missing (and `create_missing` is off).
    """
    every = await hudu.list_asset_layouts()
    active = {str(r["name"]).strip().lower(): r for r in every if r.get("active", True)}
    asleep = {str(r["name"]).strip().lower() for r in every if not r.get("active", True)}
    needs = layout_needs(sync)
    missing = [name for name in needs if name.strip().lower() not in active]
    inactive = [name for name in missing if name.strip().lower() in asleep]
    if (missing and not create_missing) or inactive:
        raise LayoutError(missing, sorted(str(r["name"]) for r in active.values()), inactive)
    connected = connected_needs(sync)
    for name in missing:
        fields = _with(DEFAULT_LAYOUT_FIELDS[needs[name]], connected.get(name.strip().lower(), []))
        if dry_run:  # planned as if created: id 0, cwsync's default fields
            active[name.strip().lower()] = {"id": 0, "name": name, "fields": fields}
        else:
            active[name.strip().lower()] = await hudu.create_asset_layout(name, fields)
    for key, record in list(active.items()):
        absent = _missing(record.get("fields") or [], connected.get(key, []))
        if absent and _used(key, needs):
            active[key] = await _add_fields(hudu, record, absent, dry_run=dry_run)
    return {key: LayoutInfo.of(record) for key, record in active.items() if _used(key, needs)}


def _missing(fields: Sequence[Mapping[str, Any]], wanted: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The wanted fields whose label the layout lacks (compared as Hudu does: `label_key`)."""
    have = {label_key(str(f.get("label"))) for f in fields if isinstance(f, Mapping) and not f.get("is_destroyed")}
    return [f for f in wanted if label_key(str(f["label"])) not in have]


def _with(fields: Sequence[Mapping[str, Any]], extra: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(f) for f in fields] + [dict(f) for f in _missing(fields, extra)]


async def _add_fields(
    hudu: HuduClient, record: Mapping[str, Any], fields: Sequence[Mapping[str, Any]], *, dry_run: bool
) -> dict[str, Any]:
    """The layout with the connected fields it lacks added (appended; Hudu keeps the others by id). A dry run plans
    with them as if added. Idempotent: a layout that has the label gets nothing, and after a failed or lost answer
    the layout is read back before the run gives up (the fields may have been added)."""
    if dry_run or int(record["id"]) <= 0:
        return {**record, "fields": _with(record.get("fields") or [], fields)}
    log.info("hudu.layout_fields_added", layout=record.get("name"), fields=[f["label"] for f in fields])
    try:
        return dict(await hudu.update_asset_layout(int(record["id"]), {"fields": [dict(f) for f in fields]}))
    except CwsyncApiError:
        now = await hudu.get_asset_layout(int(record["id"]))
        if _missing(now.get("fields") or [], fields):
            raise
        return dict(now)


def _used(key: str, needs: Mapping[str, Any]) -> bool:
    return key in {name.strip().lower() for name in needs}
