"""Resolving the configured layout names against Hudu's asset layouts (checked at connection test and at start)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cwsync.config.hudu import DataType, HuduSync
from cwsync.connectors.hudu import HuduClient, label_key
from cwsync.syncs.hudu.shapes import DEFAULT_LAYOUT_FIELDS

__all__ = ["LayoutError", "LayoutInfo", "layout_needs", "resolve_layouts"]


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


def layout_needs(sync: HuduSync) -> dict[str, DataType]:
    """Each layout name the enabled data types use → the data type whose default fields it would be created with."""
    types = set(sync.data_types())
    needs: dict[str, DataType] = {}
    for kind, name in (("contacts", sync.layouts.contacts), ("sites", sync.layouts.locations)):
        if kind in types:
            needs.setdefault(name, kind)
    if "configurations" in types:
        for name in (sync.layouts.configurations, *(r.layout for r in sync.layouts.sort_rules)):
            needs.setdefault(name, "configurations")
    if "agreements" in types:
        needs.setdefault(sync.layouts.agreements, "agreements")
    return needs


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
    for name in missing:
        fields = DEFAULT_LAYOUT_FIELDS[needs[name]]
        if dry_run:  # planned as if created: id 0, cwsync's default fields
            active[name.strip().lower()] = {"id": 0, "name": name, "fields": fields}
        else:
            active[name.strip().lower()] = await hudu.create_asset_layout(name, fields)
    return {key: LayoutInfo.of(record) for key, record in active.items() if _used(key, needs)}


def _used(key: str, needs: Mapping[str, Any]) -> bool:
    return key in {name.strip().lower() for name in needs}
