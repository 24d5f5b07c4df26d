"""Mounting the console on `cwsync serve`'s FastAPI app (`add_console`), and its first-run message."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from cwsync.console import screens
from cwsync.console.web import (
    HERE,
    ConsoleError,
    ConsoleState,
    _Elsewhere,
    _LoginFirst,
    csrf_guard,
    current_session,
    error_page,
    login_redirect,
    make_templates,
)
from cwsync.store.secrets import KeyRing, SecretStore, key_file_for
from cwsync.store.users import UserStore

if TYPE_CHECKING:
    from cwsync.server.app import Server

__all__ = ["add_console", "announce_first_run", "console_router", "mount", "screen_modules"]

FIRST_RUN = (
    "cwsync console: no user can log in yet. Add the first one (the password is asked for, hidden):\n"
    "    cwsync users add <name> --role admin{config}\n"
    "then open {url}/ in a browser."
)


MACHINE_PATHS = ("/api/", "/hooks/", "/docs", "/redoc", "/openapi.json", "/livez", "/readyz", "/metrics", "/static/")
"""Paths for programs, not people: their errors stay JSON (FastAPI's `{"detail": ...}`)."""


def wants_page(request: Request) -> bool:
    """Whether an error should be the console's HTML page: not a machine path, and not a client asking for JSON
    only."""
    path = request.url.path
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :] or "/"
    if path.startswith(MACHINE_PATHS) or path in ("/api", "/hooks", "/static"):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or "application/json" not in accept


async def not_found(request: Request, exc: Exception) -> Response:
    """An unknown page is the console's "not found" page (with the navigation, when logged in); a machine path,
    or any other HTTP error, keeps FastAPI's JSON answer."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code != 404 or not wants_page(request):
        return await http_exception_handler(request, exc)
    await current_session(request)  # so the page shows the navigation of a logged-in user
    detail = "there is no page at this address: use the navigation, or go back to the dashboard"
    return error_page(request, ConsoleError(404, "Page not found", detail))


def screen_modules() -> list[Any]:
    """Every module of `cwsync.console.screens`, imported (each adds its routes to `router` and its nav entries)."""
    found = []
    for info in sorted(pkgutil.iter_modules(screens.__path__), key=lambda m: m.name):
        found.append(importlib.import_module(f"{screens.__name__}.{info.name}"))
    return found


def console_router() -> APIRouter:
    """One router holding every screen's routes, each unsafe request CSRF-checked first."""
    router = APIRouter(dependencies=[Depends(csrf_guard)], include_in_schema=False)
    for module in screen_modules():
        screen_router = getattr(module, "router", None)
        if isinstance(screen_router, APIRouter):
            router.include_router(screen_router)
    return router


def add_console(
    app: FastAPI, server: Server, *, keys: KeyRing | None = None, tenants: Mapping[str, Server] | None = None
) -> ConsoleState:
    """Serve the console at `/` (pages), `/static` (its CSS and htmx), with HTML error pages for its refusals.

    `tenants`: every tenant's server of a deployment (one store; tenants added to or removed from the dict later are
    served or not from the next request), between which a user switches (the top bar) among those they may see;
    each page lives under `/t/<tenant>/` (`server.deployment.TenantRoutes` routes it). Without it, the console shows
    `server`'s tenant only, at `/`."""
    ring = keys if keys is not None else KeyRing.load(key_file_for(server.config.store))
    state = ConsoleState(
        server=server,
        users=UserStore(server.store),
        vault=SecretStore(server.store, ring),
        templates=make_templates(),
        servers=tenants if isinstance(tenants, dict) else dict(tenants or {}),  # the deployment's own: it follows
        many=tenants is not None,
    )
    app.state.console = state

    async def console_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ConsoleError)
        return error_page(request, exc)

    async def login_first(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, _LoginFirst)
        return login_redirect(exc)

    async def elsewhere(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, _Elsewhere)
        return RedirectResponse(exc.url, status_code=303)

    app.add_exception_handler(ConsoleError, console_error)
    app.add_exception_handler(_LoginFirst, login_first)
    app.add_exception_handler(_Elsewhere, elsewhere)
    app.add_exception_handler(StarletteHTTPException, not_found)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
    router = console_router()
    state.routes = [
        (route.path, frozenset(route.methods or ()))
        for module in screen_modules()
        for route in getattr(module, "router", APIRouter()).routes
        if isinstance(route, APIRoute)
    ]
    app.include_router(router, include_in_schema=False)  # pages, not API: /docs does not list them
    return state


async def announce_first_run(app: FastAPI) -> bool:
    """Print how to add the first user when none exists (at `serve` start); True when it printed."""
    state: ConsoleState = app.state.console
    if await state.users.count():
        return False
    config = state.server.config
    where = f" -c {config.source}" if config.source else ""
    url = config.server.public_url.rstrip("/")
    sys.stderr.write(FIRST_RUN.format(config=where, url=url) + "\n")
    return True


async def mount(app: FastAPI, server: Server, *, tenants: Mapping[str, Server] | None = None) -> None:
    """What `cwsync serve` calls: the console on the app (for every tenant of `tenants`, when given), and the
    first-run message when nobody can log in."""
    add_console(app, server, tenants=tenants)
    await announce_first_run(app)
