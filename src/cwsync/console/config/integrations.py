"""The Integrations screen: the registry's integrations with on/off, per-object on/off and direction, schedules.

Nothing here names an integration: each registry entry says where its settings live (`Integration.section`), and
the form is drawn from the configuration model's own fields at that place — `enabled`, `objects` (a mapping of
object pairs with `enabled` and `direction`, or a list of objects to choose from) and `schedule` (its numbers).

::

    GET  /integrations
    POST /integrations/{name}/enabled     on / off
    POST /integrations/{name}/objects     per-object on/off and direction
    POST /integrations/{name}/schedule    the schedule's numbers
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Response
from pydantic import BaseModel

from cwsync.config.edit import Change, set_value
from cwsync.config.model import Config
from cwsync.config.vocabulary import Direction
from cwsync.console.config.common import CSS, JS, save, view
from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import ConsoleError, Ctx, require_user
from cwsync.server.registry import REGISTRY, Integration

__all__ = ["router"]

router = APIRouter()
add_screen(Screen("integrations", "/integrations", "Integrations", "Configure", (), 10))

Admin = Annotated[Ctx, Depends(require_user("admin"))]
Viewer = Annotated[Ctx, Depends(require_user())]
DIRECTIONS = (("->", "ConnectWise → other"), ("<-", "other → ConnectWise"), ("<->", "both ways"))


def model_at(section: tuple[str, ...]) -> type[BaseModel] | None:
    """The configuration model class at a path of the file (`("syncs", "hubspot")` → `HubSpotSync`)."""
    model: type[BaseModel] = Config
    for part in section:
        info = model.model_fields.get(part)
        found = _model_in(info.annotation) if info is not None else None
        if found is None:
            return None
        model = found
    return model


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next((m for a in typing.get_args(annotation) if (m := _model_in(a)) is not None), None)
    return None


@dataclass
class ObjectRow:
    """One object of an integration: on or off, and its direction (None: the object has no direction)."""

    name: str
    enabled: bool
    direction: str | None


@dataclass
class IntegrationView:
    """What the screen shows of one registry entry."""

    name: str
    section: tuple[str, ...]
    configured: bool
    enabled: bool
    running: bool
    shared_with: str | None
    objects_kind: Literal["pairs", "choices", "none"] = "none"
    objects: list[ObjectRow] = field(default_factory=list)
    schedule: list[tuple[str, float, str]] = field(default_factory=list)

    @property
    def dotted(self) -> str:
        """`syncs.hubspot`."""
        return ".".join(self.section)


def _value(config: Config, section: tuple[str, ...]) -> Any:
    node: Any = config
    for part in section:
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


def _objects(model: type[BaseModel], current: Any) -> tuple[Literal["pairs", "choices", "none"], list[ObjectRow]]:
    info = model.model_fields.get("objects")
    if info is None:
        return "none", []
    annotation = info.annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict:
        names = typing.get_args(args[0]) or tuple(getattr(current, "objects", {}) or ())
        objects = getattr(current, "objects", None) or {}
        rows = []
        for name in names:
            obj = objects.get(name)
            direction = getattr(obj, "direction", None) or "<->"
            rows.append(ObjectRow(str(name), obj is not None and bool(getattr(obj, "enabled", True)), direction))
        return "pairs", rows
    if origin is list:
        names = typing.get_args(args[0])
        chosen = set(getattr(current, "objects", None) or ())
        return "choices", [ObjectRow(str(name), name in chosen, None) for name in names]
    return "none", []


def _schedule(model: type[BaseModel], current: Any) -> list[tuple[str, float, str]]:
    info = model.model_fields.get("schedule")
    schedule_model = _model_in(info.annotation) if info is not None else None
    if schedule_model is None:
        return []
    values = getattr(current, "schedule", None) or schedule_model()
    return [
        (name, float(getattr(values, name)), name.replace("_", " "))
        for name, item in schedule_model.model_fields.items()
        if item.annotation in (int, float)
    ]


def describe(
    entry: Integration, config: Config, running: set[str], seen: dict[tuple[str, ...], str]
) -> IntegrationView:
    """One registry entry as the screen shows it."""
    section = tuple(entry.section)
    current = _value(config, section)
    model = model_at(section)
    shared = seen.get(section)
    seen.setdefault(section, entry.name)
    out = IntegrationView(
        entry.name,
        section,
        configured=current is not None,
        enabled=current is not None and bool(getattr(current, "enabled", True)),
        running=entry.name in running,
        shared_with=shared,
    )
    if model is not None and current is not None and shared is None:
        out.objects_kind, out.objects = _objects(model, current)
        out.schedule = _schedule(model, current)
    return out


def _entry(name: str) -> Integration:
    found = next((e for e in REGISTRY if e.name == name), None)
    if found is None:
        raise ConsoleError(
            404, "No such integration", f"{name!r}: the registry has {', '.join(e.name for e in REGISTRY)}"
        )
    return found


@router.get("/integrations")
async def page(ctx: Viewer) -> Response:
    """Every integration of the registry, as the configuration file sets it."""
    file = view(ctx)
    config = file.need()
    running = {e.name for e in ctx.server.integrations()}
    seen: dict[tuple[str, ...], str] = {}
    views = [describe(entry, config, running, seen) for entry in REGISTRY]
    return ctx.render(
        "config/integrations.html",
        title="Integrations",
        css=CSS,
        js=JS,
        integrations=views,
        directions=DIRECTIONS,
        base=file.base,
    )


@router.post("/integrations/{name}/enabled")
async def enabled(
    ctx: Admin, name: str, value: Annotated[str, Form(max_length=8)], base: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    """Switch an integration on or off (it must be configured: the section's other settings are the docs')."""
    entry = _entry(name)
    changes = [set_value((*entry.section, "enabled"), value == "on")]
    return await save(ctx, changes, base=base, back="/integrations")


@router.post("/integrations/{name}/objects")
async def objects(ctx: Admin, name: str) -> Response:
    """Per-object on/off (and direction) of an integration."""
    entry = _entry(name)
    form = await ctx.request.form()
    base = str(form.get("base") or "")
    model = model_at(tuple(entry.section))
    file = view(ctx)
    current = _value(file.need(), tuple(entry.section))
    if model is None or current is None:
        raise ConsoleError(409, "Not configured", f"{'.'.join(entry.section)} is not in the configuration file")
    kind, rows = _objects(model, current)
    changes: list[Change] = []
    if kind == "pairs":
        for row in rows:
            on = form.get(f"enabled:{row.name}") == "on"
            wanted = str(form.get(f"direction:{row.name}") or row.direction or "<->")
            Direction.parse(wanted)
            changes.append(set_value((*entry.section, "objects", row.name, "enabled"), on))
            if wanted != row.direction:
                changes.append(set_value((*entry.section, "objects", row.name, "direction"), wanted))
    elif kind == "choices":
        chosen = [row.name for row in rows if form.get(f"enabled:{row.name}") == "on"]
        changes.append(set_value((*entry.section, "objects"), chosen))
    return await save(ctx, changes, base=base, back="/integrations")


@router.post("/integrations/{name}/schedule")
async def schedule(ctx: Admin, name: str) -> Response:
    """The schedule's numbers (minutes, hours) of an integration."""
    entry = _entry(name)
    form = await ctx.request.form()
    model = model_at(tuple(entry.section))
    config = view(ctx).need()
    current = _value(config, tuple(entry.section))
    if model is None or current is None:
        raise ConsoleError(409, "Not configured", f"{'.'.join(entry.section)} is not in the configuration file")
    changes: list[Change] = []
    for key, value, _ in _schedule(model, current):
        text = str(form.get(key) or "").strip()
        if not text:
            continue
        try:
            number = float(text)
        except ValueError as exc:
            raise ConsoleError(400, "Not a number", f"{key}: {text!r}") from exc
        if number != value:
            changes.append(set_value((*entry.section, "schedule", key), int(number) if number.is_integer() else number))
    return await save(ctx, changes, base=str(form.get("base") or ""), back="/integrations")
