"""Filters per object pair (HS-7) on any standard or custom field, with a live count from the source.

::

    GET  /filters?pair=companies          the pair's rules, both sides, and "412 of 1,203 companies pass"
    GET  /filters/{pair}/count            the count for the saved rules (htmx fragment, loaded after the page)
    POST /filters/{pair}/check            the rule being added: the checks a save runs, and the count with it
    POST /filters/{pair}/add | /remove    add a rule / remove one by position
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, Form, Response

from cwsync.config import Config
from cwsync.config.edit import add_filter, remove_filter
from cwsync.config.model import FilterOp
from cwsync.connectors.http import CwsyncApiError
from cwsync.console.config.common import CSS, JS, preview_or_error, problems, save, tools, view
from cwsync.console.config.mappings import _cw_fields, _object, _pair, _properties
from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import ConsoleError, Ctx, require_user
from cwsync.integrations.hubspot.defaults import ORDER

__all__ = ["router"]

router = APIRouter()
add_screen(Screen("filters", "/filters", "Filters", "Configure", ("hubspot",), 30))

Admin = Annotated[Ctx, Depends(require_user("admin"))]
Viewer = Annotated[Ctx, Depends(require_user())]
Side = Literal["connectwise", "hubspot"]
OPS: tuple[str, ...] = get_args(FilterOp)
LISTS = ("in", "not_in")
NO_VALUE = ("exists", "not_exists")


def rule_of(field: str, op: str, value: str) -> dict[str, Any]:
    """A rule from the form: a list for `in`/`not_in` (comma-separated), none for `exists`; numbers stay text
    (the filter compares numbers as numbers whatever their spelling)."""
    if op not in OPS:
        raise ConsoleError(400, "Unknown operator", f"{op!r}: use one of {', '.join(OPS)}")
    if not field.strip():
        raise ConsoleError(400, "Pick a field", "choose the field the rule looks at")
    rule: dict[str, Any] = {"field": field.strip(), "op": op}
    if op in LISTS:
        rule["value"] = [v.strip() for v in value.split(",") if v.strip()]
    elif op not in NO_VALUE:
        rule["value"] = value.strip()
    return rule


@router.get("/filters")
async def page(ctx: Viewer, pair: str = "companies") -> Response:
    """The pair's filters."""
    pair = _pair(pair)
    file = view(ctx)
    obj = _object(file.need(), pair)
    return ctx.render(
        "config/filters.html",
        title="Filters",
        css=CSS,
        js=JS,
        pair=pair,
        pairs=ORDER,
        rules={"connectwise": obj.filters.connectwise, "hubspot": obj.filters.other},
        cw_fields=await _cw_fields(ctx, pair),
        properties=sorted(str(p.get("name")) for p in await _properties(ctx, pair)),
        ops=OPS,
        base=file.base,
    )


async def _count(ctx: Ctx, pair: str, config: Config) -> dict[str, Any]:
    """The live count of `config`'s ConnectWise filters of `pair`, with the sync's built-in rules (see Sources)."""
    try:
        counted = await tools(ctx).sources.filter_count(pair, config)
    except CwsyncApiError as exc:
        return {"error": f"ConnectWise could not be counted: {exc.message}"}
    return {"text": counted.text(), "passing": counted.passing, "total": counted.total}


@router.get("/filters/{pair}/count")
async def count(ctx: Viewer, pair: str) -> Response:
    """How many ConnectWise records pass the saved rules (kept a minute)."""
    pair = _pair(pair)
    counted = await _count(ctx, pair, view(ctx).need())
    return ctx.render("config/_count.html", count=counted, label="with the saved filters")


@router.post("/filters/{pair}/check")
async def check(
    ctx: Admin,
    pair: str,
    side: Annotated[Side, Form()],
    field: Annotated[str, Form(max_length=200)] = "",
    op: Annotated[str, Form(max_length=20)] = "eq",
    value: Annotated[str, Form(max_length=2000)] = "",
    base: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The rule being added: every check a save runs, and (ConnectWise side) the count with it."""
    pair = _pair(pair)
    if not field.strip():
        return ctx.render("config/_check.html", problems=[], ok=None, note="pick a field")
    rule = rule_of(field, op, value)
    preview = await preview_or_error(ctx, add_filter(pair, side, rule), base)
    counted = None
    if side == "connectwise" and preview.config is not None:
        counted = await _count(ctx, pair, preview.config)
    return ctx.render(
        "config/_filter_check.html",
        problems=problems(preview.error),
        ok=preview.ok,
        diff=preview.edited.diff(),
        count=counted,
    )


@router.post("/filters/{pair}/add")
async def add(
    ctx: Admin,
    pair: str,
    side: Annotated[Side, Form()],
    field: Annotated[str, Form(max_length=200)],
    op: Annotated[str, Form(max_length=20)] = "eq",
    value: Annotated[str, Form(max_length=2000)] = "",
    base: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Add a rule."""
    pair = _pair(pair)
    return await save(ctx, add_filter(pair, side, rule_of(field, op, value)), base=base, back=f"/filters?pair={pair}")


@router.post("/filters/{pair}/remove")
async def remove(
    ctx: Admin,
    pair: str,
    side: Annotated[Side, Form()],
    index: Annotated[int, Form(ge=0, le=1000)],
    base: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Remove the rule at `index` of one side."""
    pair = _pair(pair)
    return await save(ctx, remove_filter(pair, side, index), base=base, back=f"/filters?pair={pair}")
