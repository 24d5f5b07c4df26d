"""Planning (pure): per ConnectWise record, what to do in Hudu and why — create, update, link, skip or unchanged.

A plan compares the projection cwsync would write now with the one stored in the record's link (what it last wrote):
equal hashes mean unchanged, so a re-sync writes nothing and reads no Hudu asset. A name that changed in
ConnectWise is written only with `auto_update_asset_names`. An asset is re-created (the old one archived) when its
layout or company changes — except an asset linked by serial, which stays where the MSP filed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cwsync.config.hudu import DataType
from cwsync.connectors.hudu import label_key
from cwsync.engine.record import projection_hash
from cwsync.store import Link
from cwsync.syncs.hudu.shapes import Source, asset_values

__all__ = ["AssetPlan", "CompanyPlan", "LayoutInfo", "adopt_created", "plan_asset", "plan_company"]

PlanAction = Literal["create", "update", "link", "skip", "unchanged", "fail", "delete"]
SERIAL_MATCH = "primary_serial"


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


@dataclass(slots=True, kw_only=True)
class AssetPlan:
    """What to do with one ConnectWise record in Hudu, with the reason and the field diff (`field: [old, new]`)."""

    kind: DataType
    action: PlanAction
    cw_id: str
    reason: str
    hudu_id: int | None = None
    company_id: int | None = None
    layout_id: int | None = None
    name: str = ""
    builtins: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    diff: dict[str, list[Any]] = field(default_factory=dict)
    projection: dict[str, Any] = field(default_factory=dict)
    match_key: str | None = None
    retire: tuple[int, int] | None = None
    """(company id, asset id) of an asset to archive: the record moved layout or company."""

    @property
    def writes(self) -> bool:
        """Whether applying this plan writes to Hudu."""
        return self.action in ("create", "update", "link", "delete")


def _projection(source: Source, company_id: int, layout: LayoutInfo, extra: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "company": company_id,
        "layout": layout.layout_id,
        "name": source.name,
        "fields": {k: v for k, v in source.builtins.items() if v is not None},
        "custom": asset_values(source, layout.labels, extra),
    }


def _diff(old: Mapping[str, Any], new: Mapping[str, Any], *, rename: bool) -> dict[str, list[Any]]:
    """`name`, `fields.x` and `custom.Label` that differ (a name change only with `rename`)."""
    out: dict[str, list[Any]] = {}
    if rename and old.get("name") != new["name"]:
        out["name"] = [old.get("name"), new["name"]]
    for part in ("fields", "custom"):
        before, after = old.get(part) or {}, new[part]
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                out[f"{part}.{key}"] = [before.get(key), after.get(key)]
    return out


def plan_asset(
    source: Source,
    *,
    link: Link | None,
    company_id: int | None,
    layout: LayoutInfo | None,
    extra: Mapping[str, Any] | None = None,
    rename: bool = False,
    serial_match: Mapping[str, Any] | None = None,
    serial_layout: LayoutInfo | None = None,
) -> AssetPlan:
    """Plan one record.

    Args:
        link: the record's stored link (None: never synced).
        company_id: the Hudu company it belongs in (None: its company is not matched).
        layout: its layout (None: the layout is missing in Hudu).
        extra: values known only at run time (e.g. `Location`: the site's asset id).
        rename: `auto_update_asset_names`.
        serial_match: an unlinked Hudu asset of that company with the same primary serial (`match_assets_on_serial`).
        serial_layout: that asset's layout.
    """
    base = AssetPlan(kind=source.kind, action="skip", cw_id=source.cw_id, reason="", name=source.name)
    if source.skip:
        base.reason = source.skip
        return base
    if company_id is None:
        base.reason = "its company is not matched to a Hudu company"
        return base
    if layout is None:
        base.action, base.reason = "fail", f"asset layout {source.layout!r} does not exist in Hudu"
        return base
    if link is None:
        if serial_match is not None and serial_layout is not None:
            return _link_by_serial(source, company_id, serial_match, serial_layout, extra or {}, rename)
        return _create(source, company_id, layout, extra or {})
    return _update(source, link, company_id, layout, extra or {}, rename)


def _create(source: Source, company_id: int, layout: LayoutInfo, extra: Mapping[str, Any]) -> AssetPlan:
    projection = _projection(source, company_id, layout, extra)
    diff = _diff({}, projection, rename=True)
    return AssetPlan(
        kind=source.kind,
        action="create",
        cw_id=source.cw_id,
        reason=f"new in ConnectWise: create in layout {layout.name!r}",
        company_id=company_id,
        layout_id=layout.layout_id,
        name=source.name,
        builtins=projection["fields"],
        custom=projection["custom"],
        diff=diff,
        projection=projection,
        match_key="created",
    )


def _link_by_serial(
    source: Source,
    company_id: int,
    asset: Mapping[str, Any],
    layout: LayoutInfo,
    extra: Mapping[str, Any],
    rename: bool,
) -> AssetPlan:
    """Adopt an existing asset with the same serial: keep its layout (and its name, unless renaming is on)."""
    projection = _projection(source, company_id, layout, extra)
    current = {
        "name": asset.get("name"),
        "fields": {k: asset.get(k) for k in projection["fields"]},
        "custom": {str(f["label"]): f.get("value") for f in asset.get("fields") or [] if isinstance(f, Mapping)},
    }
    if not rename:
        projection["name"] = current["name"]
    diff = _diff(current, projection, rename=rename)
    return AssetPlan(
        kind=source.kind,
        action="link",
        cw_id=source.cw_id,
        reason=f"matched Hudu asset {asset['id']} on primary serial {source.builtins.get('primary_serial')!r}",
        hudu_id=int(asset["id"]),
        company_id=company_id,
        layout_id=layout.layout_id,
        name=str(projection["name"]),
        builtins=projection["fields"],
        custom=projection["custom"],
        diff=diff,
        projection=projection,
        match_key=SERIAL_MATCH,
    )


def adopt_created(
    source: Source, company_id: int, asset: Mapping[str, Any], layout: LayoutInfo, extra: Mapping[str, Any] | None
) -> AssetPlan:
    """Link an asset an earlier run created but never recorded (its answer was lost, or the process was killed):
    found in the company by layout and name, it is linked (and brought up to date) instead of created again."""
    plan = _link_by_serial(source, company_id, asset, layout, extra or {}, rename=True)
    plan.match_key = "created"
    plan.reason = f"created in Hudu by an earlier run that did not record it (asset {asset['id']}): linked"
    return plan


def _update(
    source: Source, link: Link, company_id: int, layout: LayoutInfo, extra: Mapping[str, Any], rename: bool
) -> AssetPlan:
    stored = link.left_values
    by_serial = link.match_key == SERIAL_MATCH
    if by_serial:
        layout = LayoutInfo(int(stored.get("layout", layout.layout_id)), layout.name, layout.labels)
    projection = _projection(source, company_id, layout, extra)
    plan = AssetPlan(
        kind=source.kind,
        action="unchanged",
        cw_id=source.cw_id,
        reason="unchanged since the last sync",
        hudu_id=int(link.right_id),
        company_id=company_id,
        layout_id=layout.layout_id,
        name=source.name,
        projection=projection,
        match_key=link.match_key,
    )
    if projection_hash(projection) == link.left_hash:
        return plan
    moved = [k for k in ("company", "layout") if stored.get(k) != projection[k]]
    if moved and not by_serial:
        recreated = _create(source, company_id, layout, extra)
        recreated.reason = f"{' and '.join(moved)} changed: create it anew, archive asset {link.right_id}"
        recreated.retire = (int(stored.get("company", company_id)), int(link.right_id))
        return recreated
    if not rename:
        projection["name"] = stored.get("name", source.name)
    plan.diff = _diff(stored, projection, rename=rename)
    if not plan.diff:
        plan.action, plan.reason = "skip", "renamed in ConnectWise; auto_update_asset_names is off"
        plan.name = str(projection["name"])
        return plan
    plan.action, plan.reason = "update", "changed in ConnectWise"
    plan.name = str(projection["name"])
    plan.builtins = {k[len("fields.") :]: new for k, (_, new) in plan.diff.items() if k.startswith("fields.")}
    plan.custom = {k[len("custom.") :]: new for k, (_, new) in plan.diff.items() if k.startswith("custom.")}
    return plan


@dataclass(slots=True, kw_only=True)
class CompanyPlan:
    """What to do with one ConnectWise company in Hudu."""

    cw_id: str
    action: PlanAction
    reason: str
    hudu_id: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    diff: dict[str, list[Any]] = field(default_factory=dict)
    projection: dict[str, Any] = field(default_factory=dict)
    match_key: str | None = None

    @property
    def writes(self) -> bool:
        """Whether applying this plan writes to Hudu."""
        return self.action in ("create", "update")


def plan_company(
    cw_id: str,
    details: Mapping[str, Any],
    *,
    decision: str | None,
    link: Link | None,
    hudu_company: Mapping[str, Any] | None,
    update_details: bool,
    skipped_type: str | None = None,
) -> CompanyPlan:
    """Plan one ConnectWise company from its match decision, its link and the Hudu company it is linked to."""
    plan = CompanyPlan(cw_id=cw_id, action="skip", reason="", projection=dict(details))
    if skipped_type is not None:
        plan.reason = f"company type {skipped_type!r} is skipped (skip_company_types)"
    elif link is None and decision == "create":
        plan.action, plan.reason, plan.details = "create", "create a new Hudu company (match decision)", dict(details)
        plan.diff, plan.match_key = {k: [None, v] for k, v in details.items() if v is not None}, "created"
    elif link is None:
        plan.reason = "left unmatched" if decision == "unmatched" else "no match decision yet (cwsync hudu match)"
    elif hudu_company is None:
        plan.action, plan.hudu_id = "fail", int(link.right_id)
        plan.reason = f"the linked Hudu company {link.right_id} no longer exists (or is archived): match it again"
    else:
        _plan_linked_company(plan, details, link, hudu_company, update_details)
    return plan


def _plan_linked_company(
    plan: CompanyPlan,
    details: Mapping[str, Any],
    link: Link,
    hudu_company: Mapping[str, Any],
    update_details: bool,
) -> None:
    plan.hudu_id, plan.match_key = int(link.right_id), link.match_key
    if projection_hash(details) == link.left_hash:
        plan.action, plan.reason = "unchanged", "unchanged since the last sync"
        return
    base = link.left_values or {k: hudu_company.get(k) for k in details}
    plan.diff = {k: [base.get(k), v] for k, v in details.items() if base.get(k) != v and v is not None}
    if not plan.diff:
        plan.action, plan.reason = "unchanged", "the Hudu company already has these details"
    elif not update_details:
        plan.action, plan.reason = "skip", "details changed in ConnectWise; update_company_details is off"
        plan.projection = dict(link.left_values)
    else:
        plan.action, plan.reason = "update", "details changed in ConnectWise"
        plan.details = {k: new for k, (_, new) in plan.diff.items()}
