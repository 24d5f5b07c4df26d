"""Placeholders for the configuration screens still to come; a screen with the same key replaces one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from cwsync.console.nav import SCREENS, Screen, add_screen
from cwsync.console.web import Ctx, require_user

router = APIRouter()

SLOTS = (
    Screen("mappings", "/mappings", "Mappings", "Configure", ("hubspot",), 20, placeholder=True),
    Screen("filters", "/filters", "Filters", "Configure", ("hubspot",), 30, placeholder=True),
    Screen("hudu", "/hudu", "Hudu", "Configure", ("hudu",), 40, placeholder=True),
    Screen("catalog", "/catalog", "Catalog", "Configure", ("catalog",), 50, placeholder=True),
    Screen("changes", "/changes", "Changes", "Configure", ("devices",), 60, placeholder=True),
)
for _slot in SLOTS:
    add_screen(_slot)


def _placeholder(slot: Screen) -> None:
    @router.get(slot.path)
    async def page(ctx: Annotated[Ctx, Depends(require_user())]) -> Response:
        if not SCREENS[slot.key].placeholder:  # a real screen took the slot: its own route answers first
            return ctx.redirect(SCREENS[slot.key].path)
        return ctx.render("placeholder.html", title=slot.label, section=f"syncs ({slot.label.lower()})")


for _slot in SLOTS:
    _placeholder(_slot)
