"""Planning companies (pure): per ConnectWise company, what to do in Hudu and why — create, update, skip or
unchanged — from its match decision, its link and the Hudu company it is linked to. A plan compares the details
cwsync would write now with the ones stored in the link: equal hashes mean unchanged. (The asset data types are
planned by the engine: `assets.py`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cwsync.connectors.hudu import label_key
from cwsync.engine.record import projection_hash
from cwsync.store import Link

__all__ = ["CompanyPlan", "LayoutInfo", "plan_company"]

PlanAction = Literal["create", "update", "link", "skip", "unchanged", "fail", "delete"]


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
