"""The catalog and quotes screen (SB-1 … SB-6): category / subcategory / type / status / terms mappings, the
defaults and the shipping product, opportunity statuses, and company-type priority ordered by drag and drop (SB-2).

Each mapping is a table of ConnectWise names (read from ConnectWise, plus the ones already mapped) → the value
HubSpot gets; an empty value leaves the name unmapped (the default applies). The priority list is plain HTML5 drag
and drop over the types (`static/config.js`) writing the order into one hidden input; without scripts, each type
has up/down buttons that post a move.

::

    GET  /catalog
    POST /catalog/mappings      every mapping table and the defaults
    POST /catalog/priority      the order (hidden input `order`, one type per line) or `move` + `type`
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from cwsync.config.catalog import CatalogSync
from cwsync.config.edit import Change, set_value
from cwsync.connectors.http import CwsyncApiError
from cwsync.console.config.common import CSS, JS, save, tools, view
from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import ConsoleError, Ctx, require_user

__all__ = ["router"]

router = APIRouter()
add_screen(Screen("catalog", "/catalog", "Catalog", "Configure", ("catalog",), 50))

Admin = Annotated[Ctx, Depends(require_user("admin"))]
Viewer = Annotated[Ctx, Depends(require_user())]
SECTION = ("syncs", "catalog")
TABLES = (
    ("categories", "Categories", "ConnectWise category → HubSpot category"),
    ("subcategories", "Subcategories", "ConnectWise subcategory → HubSpot value"),
    ("product_types", "Product types", "ConnectWise product type → HubSpot product type"),
    ("product_statuses", "Product statuses", "active, archive, skip, or a custom status"),
    ("product_terms", "Billing terms", "recurring bill cycle → HubSpot billing period (P1M, P12M…)"),
    ("opportunity_statuses", "Opportunity statuses", "quote-side status → ConnectWise opportunity status"),
)
DEFAULTS = (
    "default_product_type",
    "default_category",
    "shipping_product",
    "status_field",
    "quote_opportunity_status",
    "quote_deal_stage",
    "primary_sales_rep",
)


def _catalog(ctx: Ctx) -> tuple[CatalogSync, str]:
    file = view(ctx)
    catalog = file.need().syncs.catalog
    if catalog is None:
        raise ConsoleError(404, "The catalog is not configured", "add syncs.catalog to the configuration file")
    return catalog, file.base


async def _names(ctx: Ctx) -> dict[str, list[str]]:
    sources = tools(ctx).sources
    try:
        names = await sources.catalog_names()
        names["opportunity_statuses"] = await sources.opportunity_statuses()
        names["company_types"] = await sources.company_types()
    except CwsyncApiError:
        return {}
    return names


@router.get("/catalog")
async def page(ctx: Viewer) -> Response:
    """Every catalog mapping, the defaults, and the company-type priority."""
    catalog, base = _catalog(ctx)
    known = await _names(ctx)
    tables = []
    for key, label, help_text in TABLES:
        current: dict[str, str] = getattr(catalog, key)
        rows = [*current.items(), *((n, "") for n in known.get(key, []) if n not in current), ("", ""), ("", "")]
        tables.append({"key": key, "label": label, "help": help_text, "rows": rows})
    priority = list(catalog.company_type_priority)
    others = [t for t in known.get("company_types", []) if t.lower() not in {p.lower() for p in priority}]
    return ctx.render(
        "config/catalog.html",
        title="Catalog and quotes",
        css=CSS,
        js=JS,
        tables=tables,
        defaults=[(key, getattr(catalog, key)) for key in DEFAULTS],
        priority=priority,
        others=others,
        base=base,
    )


@router.post("/catalog/mappings")
async def mappings(ctx: Admin) -> Response:
    """Save every mapping table and the defaults."""
    catalog, _ = _catalog(ctx)
    form = await ctx.request.form()
    changes: list[Change] = []
    for key, _, _ in TABLES:
        lefts, rights = form.getlist(f"{key}:from"), form.getlist(f"{key}:to")
        wanted = {str(a).strip(): str(b).strip() for a, b in zip(lefts, rights, strict=False)}
        wanted = {a: b for a, b in wanted.items() if a and b}
        if wanted != getattr(catalog, key):
            changes.append(set_value((*SECTION, key), wanted))
    for key in DEFAULTS:
        text = str(form.get(key) or "").strip()
        value: Any = text or None
        if value != getattr(catalog, key) and not (
            value is None and key in ("default_product_type", "default_category")
        ):
            changes.append(set_value((*SECTION, key), value))
    return await save(ctx, changes, base=str(form.get("base") or ""), back="/catalog")


def _moved(order: list[str], name: str, move: str) -> list[str]:
    if name not in order:
        return [*order, name] if move == "add" else order
    if move == "remove":
        return [t for t in order if t != name]
    i = order.index(name)
    j = i - 1 if move == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
    return order


@router.post("/catalog/priority")
async def priority(ctx: Admin) -> Response:
    """Save the company-type priority: the dragged order, or one move (up, down, add, remove) without scripts."""
    catalog, _ = _catalog(ctx)
    form = await ctx.request.form()
    current = list(catalog.company_type_priority)
    move = str(form.get("move") or "")
    name = str(form.get("type") or ctx.request.query_params.get("type") or "").strip()
    if move and name:
        order = _moved(current, name, move)
    else:
        order = [line.strip() for line in str(form.get("order") or "").splitlines() if line.strip()]
        if sorted(t.lower() for t in order) != sorted(t.lower() for t in current):
            raise ConsoleError(400, "The order does not list the same types", "reload the page and drag again")
    changes = [set_value((*SECTION, "company_type_priority"), order)]
    return await save(ctx, changes, base=str(form.get("base") or ""), back="/catalog")
