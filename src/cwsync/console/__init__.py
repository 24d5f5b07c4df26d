"""The web console (issue 14): server-rendered pages on `cwsync serve` at `/` — FastAPI routes, Jinja2 templates,
htmx (served from `static/`, no CDN).

How to add a screen
-------------------
1. Add a module to `cwsync/console/screens/` (it is found and imported by `cwsync.console.app`; nothing else to
   edit). Give it a `router = APIRouter()` and register its navigation entry::

       from typing import Annotated
       from fastapi import APIRouter, Depends, Form, Response
       from cwsync.console.nav import Screen, add_screen
       from cwsync.console.web import ConsoleError, Ctx, require_user

       router = APIRouter()
       add_screen(Screen(key="mappings", path="/mappings", label="Mappings", section="Configure",
                         integrations=("hubspot",), order=20))    # the key replaces the "mappings" placeholder

       @router.get("/mappings")
       async def mappings(ctx: Annotated[Ctx, Depends(require_user())]) -> Response:    # any logged-in user
           return ctx.render("mappings.html", title="Mappings", pairs=HUBSPOT.mappings(ctx.server))

       @router.post("/mappings")
       async def save(ctx: Annotated[Ctx, Depends(require_user("admin"))],           # viewers get 403
                      field: Annotated[str, Form(max_length=200)]) -> Response:
           if not field:
               raise ConsoleError(400, "Nothing to save", "pick a field first")        # an HTML error page
           ...
           return ctx.redirect("/mappings", "saved")                                   # 303 + flash message

2. Put its template in `cwsync/console/templates/` and start it with `{% extends "base.html" %}` and
   `{% block content %}…{% endblock %}`. Every form that POSTs carries the CSRF token:
   `<input type="hidden" name="csrf_token" value="{{ csrf_token }}">` (htmx requests send it as a header from
   `<body hx-headers>`, nothing to add). The layout gives every template `user`, `tenant`, `tenants` (those the
   user may see), `prefix`, `can_edit`, `csrf_token`, `nav`, `flash`, `path`. Every link, form action and htmx
   URL of a page starts with `{{ prefix }}` (`href="{{ prefix }}/runs"`): with a tenants directory the pages live
   under `/t/<tenant>/` (`prefix` is `/t/acme`), with one file at `/` (`prefix` is empty). `ctx.redirect("/runs")`
   adds it itself.
3. No inline `<script>`: the page's Content-Security-Policy allows scripts from this server only. Behaviour goes in
   `static/console.js` (or htmx attributes); styles in `static/console.css`.

What the framework does for every screen: the CSRF check of every POST/PUT/PATCH/DELETE (a missing or wrong token is
a 403 page, before the route runs); `require_user(role)` (not logged in: GET → the login page, others 401; a
viewer's POST → 403 everywhere, whatever the route asks); `ConsoleError(status, title, detail)` → an HTML page
with that status and no traceback; `ctx.redirect(url, message)` → 303 with a flash message; `ctx.server` is the
running `Server` (store, clients, runner, configuration, `integrations()`), `ctx.tenant` the page's tenant (the
address's `/t/<tenant>/`, else the session's), `ctx.state.vault` the encrypted secrets. A page of a tenant the user
may not see is refused (403) and an unknown tenant is a 404 before the route runs (`web.check_tenant`, in
`require_user`). Integrations are never named by hand: iterate `cwsync.server.registry.REGISTRY` (or
`ctx.server.integrations()`, those switched on).

Navigation slots held for the configuration screens (`screens/slots.py`): `mappings`, `filters`, `hudu`,
`catalog`, `changes`.
"""

from cwsync.console.app import add_console, announce_first_run, mount
from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import ConsoleError, Ctx, require_user

__all__ = ["ConsoleError", "Ctx", "Screen", "add_console", "add_screen", "announce_first_run", "mount", "require_user"]
