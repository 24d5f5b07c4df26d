"""Catalog items → HubSpot products as an engine pair: the projection, the mapping notes, the status rules.

A product's projection is the HubSpot properties cwsync owns; the link of pair `catalog:products` keeps the last
projection written, so a re-sync compares against it and never reads HubSpot. The status mapping decides per item:
synced (`active` or a custom status), `archive` (the `retire` hook: archived when in HubSpot, else skipped) or
`skip` (left alone). An archived product's link stays, marked `state: archived` (the pair's tombstone), so the item
is created again if it comes back and `explain` can say where it went.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cwsync.config.catalog import STATUS_ACTIONS, CatalogSync, lookup
from cwsync.core.mapping import one_way
from cwsync.engine.oneway import Decision
from cwsync.engine.pair import Pair, Source, Target
from cwsync.integrations.hubspot.defaults import CustomProperty
from cwsync.integrations.hubspot.properties import FLAG

__all__ = [
    "FLAG_PROPERTY",
    "PRODUCTS_PAIR",
    "PRODUCT_FIELDS",
    "PRODUCT_PROPERTIES",
    "ProductPlan",
    "Projected",
    "product_pair",
    "product_status",
    "project_product",
]

PRODUCTS_PAIR = "catalog:products"
"""Store pair: left id = ConnectWise catalog item id, right id = HubSpot product id."""

PRODUCT_PROPERTIES = (
    CustomProperty("products", "connectwise_catalog_id", "ConnectWise Catalog ID", "string", "text"),
    CustomProperty("products", "connectwise_category", "ConnectWise Category", "enumeration", "select"),
    CustomProperty("products", "connectwise_subcategory", "ConnectWise Subcategory", "enumeration", "select"),
    CustomProperty("products", "connectwise_product_type", "ConnectWise Product Type", "enumeration", "select"),
    CustomProperty("products", "connectwise_manufacturer", "ConnectWise Manufacturer", "enumeration", "select"),
    CustomProperty("products", "connectwise_product_status", "ConnectWise Product Status", "string", "text"),
)
"""Custom product properties the sync writes (created when missing, like the HubSpot sync's own). The dropdowns'
options are ConnectWise's lists (`IMPORTED_LISTS`, SB-1), imported on each run's prepare step."""

FLAG_PROPERTY = CustomProperty("products", FLAG, "Deleted in ConnectWise", "bool", "booleancheckbox")
"""What `on_delete: flag` sets on the product of a catalog item deleted in ConnectWise (created when missing)."""

IMPORTED_LISTS = {
    "connectwise_category": "procurement/categories",
    "connectwise_subcategory": "procurement/subcategories",
    "connectwise_product_type": "procurement/types",
    "connectwise_manufacturer": "procurement/manufacturers",
}
"""Product dropdown → the ConnectWise list whose names (through the configured mapping) are its options."""


def dropdown_options(lists: Mapping[str, list[str]], sync: CatalogSync) -> dict[str, list[str]]:
    """Each product dropdown's options: the values `project_product` can write for ConnectWise's names (`lists`:
    property → names), through the same mappings and defaults (pure)."""
    notes: list[str] = []
    mapped = {
        "connectwise_category": (sync.categories, sync.default_category),
        "connectwise_subcategory": (sync.subcategories, None),
        "connectwise_product_type": (sync.product_types, sync.default_product_type),
        "connectwise_manufacturer": ({}, None),
    }
    out: dict[str, list[str]] = {}
    for prop, names in lists.items():
        mapping, default = mapped[prop]
        values = [_mapped(mapping, name, default, prop, notes) for name in names]
        out[prop] = list(dict.fromkeys(v for v in [*values, *([default] if default else [])] if v))
    return out


PRODUCT_FIELDS = (
    "name",
    "hs_sku",
    "description",
    "price",
    "hs_cost_of_goods_sold",
    *(p.name for p in PRODUCT_PROPERTIES),
    "hs_recurring_billing_period",
)
"""The HubSpot product properties cwsync owns (the mapping, one way: `project_product` computes each)."""
MAPPING = one_way(PRODUCTS_PAIR, "procurement/catalog", "products", PRODUCT_FIELDS)


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
        # The period is the `recurringBillCycle` reference's name (a /finance/billingCycles entry such as "Monthly");
        # `recurringCycleType` (ContractYear | CalendarYear) is only the year basis and names no period.
        cycle = _ref_name(item.get("recurringBillCycle")) or ""
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


def product_pair(
    sync: CatalogSync,
    source: Source,
    target: Target,
    *,
    in_flight: int = 1,
    prepare: Callable[[bool], Awaitable[None]] | None = None,
) -> Pair:
    """The catalog as an engine pair: items projected by `project_product` (its text is the canonical form, empty
    as None), the status mapping as `skip` and `retire`, its notes added to the reasons; 100 products per HubSpot
    call, a deletion archives the product."""

    def flatten(item: Mapping[str, Any]) -> dict[str, Any]:
        projected = project_product(item, sync)
        flat: dict[str, Any] = projected.properties  # made for this call: the extra keys cost no copy
        flat.update({"@status": projected.status, "@target": projected.target, "@notes": projected.notes})
        return flat

    def ruled(action: str) -> Callable[[Mapping[str, Any]], str | None]:
        def rule(flat: Mapping[str, Any]) -> str | None:
            return f"status {flat['@status']!r} maps to {action}" if flat["@target"] == action else None

        return rule

    return Pair(
        name=PRODUCTS_PAIR,
        mapping=MAPPING,
        source=source,
        target=target,
        flatten=flatten,
        project=lambda flat: {name: flat.get(name) or None for name in PRODUCT_FIELDS},  # already canonical text
        skip=ruled("skip"),
        retire=ruled("archive"),
        notes=lambda flat: flat["@notes"],
        prepare=prepare,
        batch=100,
        in_flight=in_flight,
        on_delete=sync.on_delete,
        mass_delete_share=sync.mass_delete_share,
        mass_delete_setting="syncs.catalog.mass_delete_share",
        flag={FLAG: "true"},
        tombstone={"state": "archived"},
        target_label="HubSpot",
        deleted_as="archived",
    )


@dataclass
class ProductPlan:
    """One catalog item's decision as reports show it: what to do in HubSpot, why, and the field differences."""

    cw_id: str
    identifier: str
    action: str
    reason: str
    hubspot_id: str | None = None
    diff: dict[str, list[Any]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @classmethod
    def of(cls, decision: Decision) -> ProductPlan:
        """The engine's decision for an item."""
        reason = decision.reason if decision.error is None else f"{decision.reason}; failed: {decision.error}"
        diff = {} if decision.action == "create" else {k: list(v) for k, v in decision.diff.items()}
        identifier = str(decision.values.get("hs_sku") or "")
        return cls(decision.left_id, identifier, decision.action, reason, decision.right_id, diff, decision.notes)

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
