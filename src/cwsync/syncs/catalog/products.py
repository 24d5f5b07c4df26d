"""Catalog items → HubSpot products, as pure data: the projection, the mapping notes, the per-product plan.

A product's projection is the HubSpot properties cwsync owns plus its `state` (`active`, `archived`); the link of
pair `catalog:products` keeps the last projection written, so a re-sync compares against it and never reads HubSpot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from cwsync.store import Link
from cwsync.syncs.catalog.config import STATUS_ACTIONS, CatalogSync, lookup
from cwsync.syncs.hubspot.defaults import CustomProperty

__all__ = [
    "PRODUCTS_PAIR",
    "PRODUCT_PROPERTIES",
    "ProductAction",
    "ProductPlan",
    "Projected",
    "plan_product",
    "product_status",
    "project_product",
]

PRODUCTS_PAIR = "catalog:products"
"""Store pair: left id = ConnectWise catalog item id, right id = HubSpot product id."""

PRODUCT_PROPERTIES = (
    CustomProperty("products", "connectwise_catalog_id", "ConnectWise Catalog ID", "string", "text"),
    CustomProperty("products", "connectwise_category", "ConnectWise Category", "string", "text"),
    CustomProperty("products", "connectwise_subcategory", "ConnectWise Subcategory", "string", "text"),
    CustomProperty("products", "connectwise_product_type", "ConnectWise Product Type", "string", "text"),
    CustomProperty("products", "connectwise_manufacturer", "ConnectWise Manufacturer", "string", "text"),
    CustomProperty("products", "connectwise_product_status", "ConnectWise Product Status", "string", "text"),
)
"""Custom product properties the sync writes (created when missing, like the HubSpot sync's own)."""

ProductAction = Literal["create", "update", "unchanged", "delete", "skip"]


def _ref_name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        name = value.get("name") or value.get("identifier")
        return str(name) if name else None
    return None


def product_status(item: Mapping[str, Any], sync: CatalogSync) -> str:
    """The item's status: the custom status field's value when set, else `Active` / `Inactive`."""
    if sync.status_field:
        for custom in item.get("customFields") or []:
            if isinstance(custom, Mapping) and custom.get("caption") == sync.status_field and custom.get("value"):
                return str(custom["value"])
    return "Inactive" if item.get("inactiveFlag") else "Active"


def _mapped(mapping: Mapping[str, str], value: str | None, default: str | None, what: str, notes: list[str]) -> str:
    """A mapped value; unmapped values get the default (and a note says so). An empty mapping passes names through."""
    if not mapping:
        return value or default or ""
    found = lookup(mapping, value)
    if found is not None:
        return found
    if default is None:
        return value or ""
    notes.append(f"{what} {value!r} unmapped: default {default!r} used")
    return default


@dataclass(frozen=True)
class Projected:
    """What HubSpot should hold for one catalog item, and how the mappings got there."""

    properties: dict[str, str]
    status: str
    target: str
    notes: tuple[str, ...]


def project_product(item: Mapping[str, Any], sync: CatalogSync) -> Projected:
    """The HubSpot product properties of a catalog item under the configured mappings (pure)."""
    notes: list[str] = []
    status = product_status(item, sync)
    target = sync.status_target(status)
    category = _mapped(sync.categories, _ref_name(item.get("category")), sync.default_category, "category", notes)
    subcategory = _mapped(sync.subcategories, _ref_name(item.get("subcategory")), None, "subcategory", notes)
    ptype = _mapped(sync.product_types, _ref_name(item.get("type")), sync.default_product_type, "type", notes)
    props = {
        "name": str(item.get("description") or item.get("identifier") or ""),
        "hs_sku": str(item.get("identifier") or ""),
        "description": str(item.get("customerDescription") or ""),
        "price": _money(item.get("price")),
        "hs_cost_of_goods_sold": _money(item.get("cost")),
        "connectwise_catalog_id": str(item.get("id", "")),
        "connectwise_category": category,
        "connectwise_subcategory": subcategory,
        "connectwise_product_type": ptype,
        "connectwise_manufacturer": _ref_name(item.get("manufacturer")) or "",
        "connectwise_product_status": target if target not in STATUS_ACTIONS else status,
    }
    if item.get("recurringFlag"):
        cycle = str(item.get("recurringCycleType") or "")
        term = lookup(sync.product_terms, cycle)
        if term:
            props["hs_recurring_billing_period"] = term
        elif cycle:
            notes.append(f"term {cycle!r} unmapped: no billing period set")
    return Projected(props, status, target, tuple(notes))


def _money(value: Any) -> str:
    try:
        return f"{float(value):.2f}"
    except (TypeError, ValueError):
        return ""


@dataclass
class ProductPlan:
    """One catalog item's decision: what to do in HubSpot, why, and the field differences."""

    cw_id: str
    identifier: str
    action: ProductAction
    reason: str
    properties: dict[str, str] = field(default_factory=dict)
    state: str = "active"
    hubspot_id: str | None = None
    diff: dict[str, list[Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def projection(self) -> dict[str, Any]:
        """What the link keeps once the plan is applied."""
        return {**self.properties, "state": self.state}

    def as_json(self) -> dict[str, Any]:
        """JSON-ready (CLI `--json`, the API)."""
        return {
            "connectwise_id": self.cw_id,
            "identifier": self.identifier,
            "action": self.action,
            "reason": self.reason,
            "hubspot_id": self.hubspot_id,
            "diff": self.diff,
            "notes": list(self.notes),
        }


def plan_product(item: Mapping[str, Any], sync: CatalogSync, link: Link | None) -> ProductPlan:
    """Create, update, leave, archive or skip one catalog item, against the link of the last sync (pure)."""
    projected = project_product(item, sync)
    cw_id, identifier = str(item["id"]), str(item.get("identifier") or "")
    notes = projected.notes
    archived = link is not None and link.left_values.get("state") == "archived"
    hubspot_id = link.right_id if link is not None and not archived else None
    if projected.target in ("archive", "skip"):
        why = f"status {projected.status!r} maps to {projected.target}"
        if projected.target == "archive" and hubspot_id is not None:
            plan = ProductPlan(cw_id, identifier, "delete", f"{why}: archived in HubSpot", projected.properties)
            plan.state, plan.hubspot_id, plan.notes = "archived", hubspot_id, notes
            return plan
        held = "already archived" if archived else "not in HubSpot"
        return ProductPlan(cw_id, identifier, "skip", f"{why} ({held})", projected.properties, notes=notes)
    if hubspot_id is None:
        reason = "reactivated: created again (HubSpot keeps the archived one)" if archived else "new in the catalog"
        return ProductPlan(cw_id, identifier, "create", reason, projected.properties, notes=notes)
    before = {k: v for k, v in link.left_values.items() if k != "state"} if link else {}
    diff = {k: [before.get(k), v] for k, v in projected.properties.items() if before.get(k) != v}
    action: ProductAction = "update" if diff else "unchanged"
    reason = "changed in ConnectWise or in the mappings" if diff else "as last synced"
    return ProductPlan(cw_id, identifier, action, reason, projected.properties, "active", hubspot_id, diff, notes)
