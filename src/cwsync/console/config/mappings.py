"""Field mappings per object pair (HS-2 … HS-5): the defaults listed, fields added, removed and turned, value maps
with the target's real options, the type check shown inline before saving, and new custom HubSpot properties.

::

    GET  /mappings?pair=companies                    the pair's fields: default / added, direction, types, value map
    POST /mappings/{pair}/check                      the add form checked as it is typed (htmx fragment)
    POST /mappings/{pair}/add                        map a ConnectWise field to a HubSpot property (new: label, group)
    POST /mappings/{pair}/direction                  one field's direction
    POST /mappings/{pair}/remove | /restore          stop mapping a field / bring a removed default back
    GET  /mappings/{pair}/values/{field}             the value map editor: ConnectWise values → the dropdown's options
    POST /mappings/{pair}/values/{field}/check       the value map checked (htmx fragment)
    POST /mappings/{pair}/values/{field}             save it
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Response

from cwsync.config.edit import Change, ConfigDocument, add_field, remove_field, set_field_direction, set_value_map
from cwsync.config.edit import discard as discard_change
from cwsync.config.model import Config, ObjectSync
from cwsync.connectors.http import CwsyncApiError
from cwsync.console.config.common import CSS, JS, preview_or_error, problems, save, save_result, tools, view
from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import ConsoleError, Ctx, require_user
from cwsync.core.mapping import FieldMap, MappingError, build_mapping
from cwsync.core.values import FieldType
from cwsync.integrations.hubspot.defaults import OBJECTS, ORDER
from cwsync.integrations.hubspot.schema import CW_FIELDS
from cwsync.integrations.hubspot.shapes import CUSTOM

__all__ = ["router"]

router = APIRouter()
add_screen(Screen("mappings", "/mappings", "Mappings", "Configure", ("hubspot",), 20))

DIRECTIONS = (("->", "ConnectWise → HubSpot"), ("<-", "HubSpot → ConnectWise"), ("<->", "both ways"))
TYPES = tuple(t.value for t in FieldType)
Admin = Annotated[Ctx, Depends(require_user("admin"))]
Viewer = Annotated[Ctx, Depends(require_user())]
Text = Annotated[str, Form(max_length=200)]


def _pair(pair: str) -> str:
    if pair not in OBJECTS:
        raise ConsoleError(404, "No such object pair", f"{pair!r}: use one of {', '.join(ORDER)}")
    return pair


def _object(config: Config, pair: str) -> ObjectSync:
    sync = config.syncs.hubspot
    found = sync.objects.get(pair) if sync is not None else None  # type: ignore[call-overload]
    return found if isinstance(found, ObjectSync) else ObjectSync()


def _fields(config: Config, pair: str) -> tuple[list[FieldMap], str | None]:
    """The pair's effective fields (defaults with the file's changes), or the mapping error."""
    d = OBJECTS[pair]
    try:
        mapping = build_mapping(
            pair=pair,
            left_object=d.left_object,
            right_object=d.right_object,
            defaults=d.fields,
            match=d.match,
            config=_object(config, pair),
            references=d.references,
            default_direction=d.default_direction,
        )
    except MappingError as exc:
        return list(d.fields), str(exc)
    return list(mapping.fields), None


async def _properties(ctx: Ctx, pair: str) -> list[dict[str, Any]]:
    """HubSpot's property definitions of the pair's object (none when HubSpot cannot be read)."""
    cache = tools(ctx).properties
    if cache is None:
        return []
    try:
        return await cache.of(OBJECTS[pair].right_object)
    except CwsyncApiError:
        return []


async def _cw_fields(ctx: Ctx, pair: str) -> list[tuple[str, str]]:
    """(flat ConnectWise field, its type) the pair can map: the standard ones and every custom field by caption."""
    fields = [(name, kind.value) for name, kind in CW_FIELDS.get(pair, {}).items()]
    try:
        custom = await tools(ctx).sources.custom_fields(pair)
    except CwsyncApiError:
        custom = {}
    return fields + [(f"{CUSTOM}{caption}", kind) for caption, kind in sorted(custom.items())]


@router.get("/mappings")
async def page(ctx: Viewer, pair: str = "companies") -> Response:
    """The pair's field mappings."""
    pair = _pair(pair)
    file = view(ctx)
    config = file.need()
    obj = _object(config, pair)
    fields, error = _fields(config, pair)
    added = {c.other for c in obj.fields.add}
    defaults = {f.name for f in OBJECTS[pair].fields}
    props = await _properties(ctx, pair)
    return ctx.render(
        "config/mappings.html",
        title="Field mappings",
        css=CSS,
        js=JS,
        pair=pair,
        pairs=ORDER,
        enabled={p: _object(config, p).enabled for p in ORDER},
        fields=[
            {
                "f": f,
                "origin": "added" if f.name in added else "default",
                "reference": f.name in OBJECTS[pair].references,
                "value_count": len(f.value_map or {}),
                "dropdown": _is_dropdown(props, f.right) or f.right_type is FieldType.ENUM,
            }
            for f in fields
        ],
        removed=[name for name in obj.fields.remove if name in defaults],
        mapping_error=error,
        cw_fields=await _cw_fields(ctx, pair),
        properties=sorted(props, key=lambda p: str(p.get("label") or p.get("name"))),
        directions=DIRECTIONS,
        types=TYPES,
        group=config.syncs.hubspot.property_group.name if config.syncs.hubspot else "cwsync",
        base=file.base,
    )


def _is_dropdown(props: list[dict[str, Any]], name: str) -> bool:
    return any(p.get("name") == name and p.get("type") == "enumeration" for p in props)


def _add_changes(
    doc: ConfigDocument, pair: str, form: Mapping[str, str], properties: list[dict[str, Any]]
) -> list[Change]:
    connectwise, hubspot = form.get("connectwise", "").strip(), form.get("hubspot", "").strip()
    if not connectwise or not hubspot:
        raise ConsoleError(400, "Pick both fields", "choose a ConnectWise field and a HubSpot property")
    new = form.get("new_property") == "on" or not any(p.get("name") == hubspot for p in properties)
    return add_field(
        doc,
        pair,
        connectwise=connectwise,
        hubspot=hubspot,
        direction=form.get("direction") or "->",
        left_type=form.get("type") or None,
        right_type=form.get("other_type") or None,
        label=(form.get("label") or "").strip() or None if new else None,
        group=(form.get("group") or "").strip() or None if new else None,
    )


async def _form(ctx: Ctx) -> dict[str, str]:
    form = await ctx.request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/mappings/{pair}/check")
async def check_add(ctx: Admin, pair: str) -> Response:
    """The add form checked with every check a save runs (an htmx fragment)."""
    pair = _pair(pair)
    form = await _form(ctx)
    if not form.get("connectwise") or not form.get("hubspot"):
        return ctx.render("config/_check.html", problems=[], ok=None, note="pick a ConnectWise field and a property")
    doc = tools(ctx).editor.document()
    preview = await preview_or_error(ctx, _add_changes(doc, pair, form, await _properties(ctx, pair)), form.get("base"))
    return ctx.render("config/_check.html", problems=problems(preview.error), ok=preview.ok, diff=preview.edited.diff())


@router.post("/mappings/{pair}/add")
async def add(ctx: Admin, pair: str) -> Response:
    """Map a ConnectWise field to a HubSpot property; a new property is created in HubSpot once saved (HS-5)."""
    pair = _pair(pair)
    form = await _form(ctx)
    doc = tools(ctx).editor.document()
    props = await _properties(ctx, pair)
    changes = _add_changes(doc, pair, form, props)
    response, saved = await save_result(ctx, changes, base=form.get("base"), back=f"/mappings?pair={pair}")
    if saved is not None and form.get("new_property") == "on":
        await _create_properties(ctx, pair)
    return response


async def _create_properties(ctx: Ctx, pair: str) -> None:
    """Create in HubSpot the properties the saved mappings need and it lacks (cwsync's group, the chosen labels)."""
    from cwsync.integrations.hubspot.properties import create_properties, missing_properties, property_group
    from cwsync.integrations.hubspot.run import mappings

    server, cache = ctx.server, tools(ctx).properties
    config = view(ctx).config
    if server.hs is None or config is None or config.syncs.hubspot is None:
        return
    try:
        maps = mappings(config)
        wanted = await missing_properties(server.hs, maps, sync=config.syncs.hubspot)
        # A dropdown whose options come from ConnectWise (SB-1: company types, ...) is made by the next sync, which
        # imports its options; HubSpot refuses one without them.
        wanted = [p for p in wanted if p.type != "enumeration"]
        await create_properties(server.hs, wanted, group=property_group(config.syncs.hubspot))
    except (MappingError, CwsyncApiError):
        return  # the next sync creates them (and says why it cannot)
    if cache is not None:
        cache.forget(OBJECTS[pair].right_object)


@router.post("/mappings/{pair}/direction")
async def direction(ctx: Admin, pair: str, field: Text, value: Text, base: Text = "") -> Response:
    """Change the direction one field flows."""
    pair = _pair(pair)
    if value not in dict(DIRECTIONS):
        raise ConsoleError(400, "Unknown direction", f"{value!r}: use ->, <- or <->")
    changes = set_field_direction(tools(ctx).editor.document(), pair, field, value)
    return await save(ctx, changes, base=base, back=f"/mappings?pair={pair}")


@router.post("/mappings/{pair}/remove")
async def remove(ctx: Admin, pair: str, field: Text, base: Text = "") -> Response:
    """Stop mapping a field (a default one is listed as removed, to bring back)."""
    pair = _pair(pair)
    defaults = [f.name for f in OBJECTS[pair].fields]
    changes = remove_field(tools(ctx).editor.document(), pair, field, defaults=defaults)
    return await save(ctx, changes, base=base, back=f"/mappings?pair={pair}")


@router.post("/mappings/{pair}/restore")
async def restore(ctx: Admin, pair: str, field: Text, base: Text = "") -> Response:
    """Map a removed default field again."""
    pair = _pair(pair)
    changes = [discard_change(("syncs", "hubspot", "objects", pair, "fields", "remove"), field)]
    return await save(ctx, changes, base=base, back=f"/mappings?pair={pair}")


# --- value maps ----------------------------------------------------------------------------------------------------


async def _left_values(ctx: Ctx, pair: str, left: str) -> list[str]:
    """The ConnectWise values a field can take, when ConnectWise lists them (types, statuses)."""
    sources = tools(ctx).sources
    try:
        if left in ("company_type", "types"):
            return await sources.company_types()
        if pair == "deals" and left == "status":
            return await sources.opportunity_statuses()
        if pair == "companies" and left == "status":
            return await sources.company_statuses()
    except CwsyncApiError:
        return []
    return []


def _field(fields: list[FieldMap], name: str) -> FieldMap:
    found = next((f for f in fields if f.name == name), None)
    if found is None:
        raise ConsoleError(404, "Not a mapped field", f"{name!r} is not mapped in this pair")
    return found


@router.get("/mappings/{pair}/values/{name}")
async def values(ctx: Viewer, pair: str, name: str) -> Response:
    """The value map editor of one field."""
    pair = _pair(pair)
    file = view(ctx)
    fields, _ = _fields(file.need(), pair)
    f = _field(fields, name)
    props = await _properties(ctx, pair)
    prop = next((p for p in props if p.get("name") == f.right), None)
    options = [
        (str(o.get("value")), str(o.get("label") or o.get("value")))
        for o in (prop or {}).get("options") or []
        if isinstance(o, Mapping)
    ]
    current = dict(f.value_map or {})
    known = [v for v in await _left_values(ctx, pair, f.left) if v not in current]
    rows = [*current.items(), *((v, "") for v in known), *(("", "") for _ in range(3))]
    return ctx.render(
        "config/values.html",
        title=f"Value map: {f.name}",
        css=CSS,
        js=JS,
        pair=pair,
        f=f,
        rows=rows,
        options=options,
        prop=prop,
        base=file.base,
    )


def _value_map(form: Mapping[str, list[str]]) -> dict[str, str]:
    keys, targets = form.get("cw_value", []), form.get("hs_value", [])
    return {k.strip(): v.strip() for k, v in zip(keys, targets, strict=False) if k.strip() and v.strip()}


async def _lists(ctx: Ctx) -> tuple[dict[str, list[str]], str]:
    form = await ctx.request.form()
    lists: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if isinstance(value, str):
            lists.setdefault(key, []).append(value)
    return lists, (lists.get("base") or [""])[0]


@router.post("/mappings/{pair}/values/{name}/check")
async def check_values(ctx: Admin, pair: str, name: str) -> Response:
    """The value map checked against the dropdown's options (htmx fragment)."""
    pair = _pair(pair)
    lists, base = await _lists(ctx)
    preview = await preview_or_error(ctx, set_value_map(pair, name, _value_map(lists)), base)
    return ctx.render("config/_check.html", problems=problems(preview.error), ok=preview.ok, diff=preview.edited.diff())


@router.post("/mappings/{pair}/values/{name}")
async def save_values(ctx: Admin, pair: str, name: str) -> Response:
    """Save the value map (an empty one goes back to the default)."""
    pair = _pair(pair)
    lists, base = await _lists(ctx)
    return await save(
        ctx, set_value_map(pair, name, _value_map(lists)), base=base, back=f"/mappings/{pair}/values/{name}"
    )
