"""The console's screens and its navigation, built from the integration registry.

A `Screen` is a nav entry: a path, a label, a section, and optionally the integration it belongs to (a name of
`cwsync.server.registry.REGISTRY`). Screens of an integration are listed under it, in the registry's order, and
only for integrations the registry has; an integration the configuration does not switch on is shown as off.
Placeholders hold the slots of screens still to come (`placeholder=True`); a real screen with the same `key`
replaces its placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cwsync.server.registry import REGISTRY

if TYPE_CHECKING:
    from cwsync.console.web import Ctx

__all__ = ["SCREENS", "NavGroup", "NavItem", "Screen", "add_screen", "nav_for"]


@dataclass(frozen=True)
class Screen:
    """One entry of the navigation."""

    key: str
    path: str
    label: str
    section: str = "Operate"
    """"Operate" (dashboard, runs, plan), "Configure" (connections, mappings ...), "Integrations"."""
    integrations: tuple[str, ...] = ()
    """The registry names it belongs to (listed when any is in the registry); none: always listed."""
    order: int = 100
    placeholder: bool = False


@dataclass
class NavItem:
    """A link of the navigation as rendered."""

    label: str
    path: str
    active: bool
    placeholder: bool
    integrations: list[tuple[str, bool]] = field(default_factory=list)
    """(name, enabled) of the integrations it serves."""


@dataclass
class NavGroup:
    """A section of the navigation."""

    title: str
    items: list[NavItem]


SCREENS: dict[str, Screen] = {}
SECTIONS = ("Operate", "Configure")


def add_screen(screen: Screen) -> Screen:
    """Register a screen in the navigation (a real screen replaces a placeholder of the same key; a placeholder
    never replaces a real screen)."""
    known = SCREENS.get(screen.key)
    if known is None or known.placeholder or not screen.placeholder:
        SCREENS[screen.key] = screen
    return screen


def nav_for(ctx: Ctx) -> list[NavGroup]:
    """The navigation for a request: every screen whose integrations the registry has, grouped by section."""
    names = [entry.name for entry in REGISTRY]
    enabled = {entry.name for entry in ctx.server.integrations()}
    path = ctx.request.url.path
    if ctx.prefix and path.startswith(ctx.prefix + "/"):
        path = path[len(ctx.prefix) :]
    groups: list[NavGroup] = []
    for section in SECTIONS:
        items = []
        screens = [s for s in SCREENS.values() if s.section == section]
        for screen in sorted(screens, key=lambda s: (s.order, s.label)):
            served = [name for name in names if name in screen.integrations]
            if screen.integrations and not served:
                continue
            active = path == screen.path or (screen.path != "/" and path.startswith(screen.path + "/"))
            items.append(
                NavItem(
                    screen.label, ctx.url(screen.path), active, screen.placeholder, [(n, n in enabled) for n in served]
                )
            )
        if items:
            groups.append(NavGroup(section, items))
    groups.append(
        NavGroup(
            "Integrations",
            [
                NavItem(name, ctx.url(f"/runs?integration={name}"), False, False, [(name, name in enabled)])
                for name in names
            ],
        )
    )
    return groups
