"""The console's request machinery: its state, the logged-in context of a page, rendering, CSRF, flash, errors.

Every screen takes a `Ctx` from `require_user(role)`; it carries the request, the user's session (tenant, CSRF
token), the running `Server` and `ctx.render(template, **values)`. Unsafe methods (POST, PUT, PATCH, DELETE) are
CSRF-checked before any route runs (`csrf_guard`, a dependency of the console's router): the form field
`csrf_token` or the header `X-CSRF-Token` (htmx sends it from `<body hx-headers>`) must equal the session's token
(before login: the login cookie's, double-submit). A refusal is a `ConsoleError`, rendered as an HTML page with the
status and no traceback.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cwsync.config.tenants import TENANT_PREFIX, TENANT_SCOPE_KEY
from cwsync.integrations.systems import right_system
from cwsync.store.secrets import SecretStore
from cwsync.store.users import ConsoleSession, Role, UserStore

if TYPE_CHECKING:
    from cwsync.server.app import Server

__all__ = [
    "FLASH_COOKIE",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "ConsoleError",
    "ConsoleState",
    "Ctx",
    "LoginLimiter",
    "console_state",
    "csrf_guard",
    "flash",
    "require_user",
]

HERE = Path(__file__).parent
SESSION_COOKIE = "cwsync_session"
LOGIN_CSRF_COOKIE = "cwsync_login_csrf"
FLASH_COOKIE = "cwsync_flash"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ConsoleError(Exception):
    """An expected failure of a console request, shown as an HTML page with this status (never a traceback)."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail


@dataclass
class LoginLimiter:
    """Failed logins per client address and user name in a sliding window (and per address alone, looser)."""

    per_user: int = 5
    per_address: int = 30
    window_s: float = 300.0
    _failures: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        found = self._failures.setdefault(key, deque())
        while found and found[0] <= now - self.window_s:
            found.popleft()
        return found

    def wait(self, address: str, username: str) -> float:
        """Seconds until this address may try this user again (0: it may now)."""
        now = time.monotonic()
        for key, cap in (((address, username.lower()), self.per_user), ((address, ""), self.per_address)):
            recent = self._recent(key, now)
            if len(recent) >= cap:
                return max(0.0, recent[0] + self.window_s - now)
        return 0.0

    def failed(self, address: str, username: str) -> None:
        """Count a failed attempt."""
        now = time.monotonic()
        for key in ((address, username.lower()), (address, "")):
            self._recent(key, now).append(now)
        if len(self._failures) > 10_000:  # bound the memory an attacker can make us spend
            for stale in [k for k, v in self._failures.items() if not v]:
                del self._failures[stale]

    def succeeded(self, address: str, username: str) -> None:
        """Forget this user's failures from this address."""
        self._failures.pop((address, username.lower()), None)


@dataclass
class ConsoleState:
    """What every console request shares: the server, users, secrets, templates, the login limiter."""

    server: Server
    users: UserStore
    vault: SecretStore
    templates: Environment
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    routes: list[tuple[str, frozenset[str]]] = field(default_factory=list)
    """Every console route's path and methods (what the CSRF test walks)."""
    background: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per tenant: work the console started and pages poll (dry runs by id, ...), and what it keeps."""
    servers: dict[str, Server] = field(default_factory=dict)
    """Every tenant's server, by tenant (a deployment of a tenants directory); `server` alone otherwise."""
    many: bool = False
    """A tenants directory's console: pages live under /t/<tenant>/ and users see their tenants only."""

    def __post_init__(self) -> None:
        if not self.servers:
            self.servers = {self.server.config.tenant: self.server}

    @property
    def tenants(self) -> list[str]:
        """The tenants this console shows (every tenant of the deployment), in the deployment's order."""
        return list(self.servers)

    def server_of(self, tenant: str) -> Server:
        """The server of `tenant` (the first tenant's when it is not one of the deployment's any more)."""
        return self.servers.get(tenant, self.server)

    def visible(self, session: ConsoleSession | None) -> list[str]:
        """The tenants a session's user may see (a single file's console: its one tenant, whoever logs in)."""
        if session is None:
            return []
        return session.user.visible(self.tenants) if self.many else self.tenants


def make_templates() -> Environment:
    """The Jinja2 environment of the console's templates (autoescaped)."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.globals["right_system"] = right_system
    return env


def _when(value: Any) -> str:
    if value is None:
        return "—"
    text = value.isoformat(sep=" ", timespec="seconds") if hasattr(value, "isoformat") else str(value)
    return text.replace("+00:00", " UTC")


def console_state(request: Request) -> ConsoleState:
    """The console's state (set by `add_console`)."""
    state: ConsoleState = request.app.state.console
    return state


def is_secure(request: Request) -> bool:
    """Whether the browser reached us over https (directly, or through a proxy that says so)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    """A console cookie: HttpOnly, SameSite=Lax, Secure behind https."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=is_secure(request), path="/"
    )


def flash(request: Request, response: Response, message: str, kind: str = "ok") -> None:
    """Show `message` on the next page rendered for this browser."""
    set_cookie(request, response, FLASH_COOKIE, quote(f"{kind}|{message[:500]}"), max_age=60)


def _take_flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, message = unquote(raw).partition("|")
    return (kind if kind in ("ok", "error", "info") else "info", message)


@dataclass
class Ctx:
    """A console request: the state, the request, and the session (None only on the login pages)."""

    state: ConsoleState
    request: Request
    session: ConsoleSession | None

    @property
    def server(self) -> Server:
        """The running server of the page's tenant (its store, clients, runner, configuration)."""
        return self.state.server_of(self.tenant)

    @property
    def path_tenant(self) -> str | None:
        """The tenant the address names (`/t/<tenant>/...`), whether it exists or not; None for `/...`."""
        named = self.request.scope.get(TENANT_SCOPE_KEY)
        return named if isinstance(named, str) else None

    @property
    def tenant(self) -> str:
        """The tenant this page shows: the address's (when the user may see it), else the session's (when the user
        may see it), else the user's first; a single file's console: its tenant."""
        visible = self.state.visible(self.session)
        for wanted in (self.path_tenant, self.session.tenant if self.session is not None else None):
            if wanted is not None and wanted in visible:
                return wanted
        return visible[0] if visible else self.state.server.config.tenant

    @property
    def prefix(self) -> str:
        """What the console's addresses of this tenant start with: `/t/<tenant>` (a tenants directory), or nothing
        (a single file's console)."""
        return f"{TENANT_PREFIX}/{self.tenant}" if self.state.many else ""

    def url(self, path: str) -> str:
        """A console address (`/runs`) of this page's tenant (`/t/acme/runs`); other addresses are kept."""
        keep = not path.startswith("/") or path.startswith(("//", TENANT_PREFIX + "/", "/login", "/static/"))
        return path if keep or self.session is None else self.prefix + path

    @property
    def background(self) -> dict[str, Any]:
        """What the console keeps for this tenant (plans, syncs it started, cached helpers)."""
        return self.state.background.setdefault(self.tenant, {})

    @property
    def can_edit(self) -> bool:
        """Whether the user may change things (admins)."""
        return self.session is not None and self.session.user.can_edit

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """A page from `templates/`, with the layout's values (user, tenant, CSRF token, nav, flash) added."""
        from cwsync.console.nav import nav_for

        message = _take_flash(self.request)
        csrf = self.session.csrf if self.session is not None else self.request.state.login_csrf
        html = self.state.templates.get_template(template).render(
            request=self.request,
            session=self.session,
            user=self.session.user if self.session else None,
            tenant=self.tenant,
            tenants=self.state.visible(self.session),
            prefix=self.prefix,
            csrf_token=csrf,
            nav=nav_for(self) if self.state.visible(self.session) else [],
            flash=message,
            path=self.request.url.path,
            can_edit=self.can_edit,
            **values,
        )
        response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
        if message is not None:
            response.delete_cookie(FLASH_COOKIE, path="/")
        if self.session is None and self.request.cookies.get(LOGIN_CSRF_COOKIE) != csrf:
            set_cookie(self.request, response, LOGIN_CSRF_COOKIE, csrf)
        return response

    def redirect(self, url: str, message: str | None = None, kind: str = "ok") -> Response:
        """303 to `url` (after a POST; a console address of this tenant: `/runs` is `/t/<tenant>/runs`), with a flash
        message."""
        response = RedirectResponse(self.url(url), status_code=303)
        if message:
            flash(self.request, response, message, kind)
        return response

    def require_edit(self) -> None:
        """Refuse (403) a viewer's attempt to change anything."""
        if not self.can_edit:
            raise ConsoleError(403, "Read-only", "your role is viewer: ask an admin to make this change")


async def current_session(request: Request) -> ConsoleSession | None:
    """The session of the request's cookie (cached on the request)."""
    if hasattr(request.state, "console_session"):
        cached: ConsoleSession | None = request.state.console_session
        return cached
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await console_state(request).users.session(token) if token else None
    request.state.console_session = session
    return session


async def csrf_guard(request: Request) -> None:
    """Refuse (403) an unsafe request whose CSRF token is missing or wrong (every console POST/PUT/DELETE)."""
    request.state.login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    if request.method not in UNSAFE:
        return
    given = request.headers.get("x-csrf-token", "")
    if not given:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            given = value if isinstance(value, str) else ""
    session = await current_session(request)
    expected = session.csrf if session is not None else request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not given or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise ConsoleError(403, "Form expired", "the form's security token is missing or stale: reload the page")


def require_user(role: Role = "viewer", *, viewer_may_post: bool = False) -> Callable[[Request], Awaitable[Ctx]]:
    """A dependency: the `Ctx` of a logged-in user with at least `role` (viewer: anyone; admin: admins).

    Not logged in: a GET is sent to the login page, anything else refused (401). A viewer on an admin route, or
    a viewer's unsafe request anywhere (every save), is refused with 403 — unless `viewer_may_post` (a POST that
    changes nothing but the session, such as switching tenants).
    """

    async def dependency(request: Request) -> Ctx:
        session = await current_session(request)
        if session is None:
            if request.method == "GET":
                raise _LoginFirst(request.url.path)
            raise ConsoleError(401, "Not logged in", "log in again, then repeat what you did")
        ctx = Ctx(console_state(request), request, session)
        await check_tenant(ctx)
        writes = request.method in UNSAFE and not viewer_may_post
        if (role == "admin" or writes) and not session.user.can_edit:
            raise ConsoleError(403, "Read-only", "your role is viewer: ask an admin to make this change")
        return ctx

    return dependency


async def check_tenant(ctx: Ctx) -> None:
    """A tenants directory's console: refuse a tenant the address names that does not exist (404) or that the user
    may not see (403); send a page read without a tenant in its address (`/runs`) to the tenant's (`/t/acme/runs`).
    The session remembers the last tenant shown, where `/` goes next."""
    state, session = ctx.state, ctx.session
    if not state.many or session is None:
        return
    visible = state.visible(session)
    grant = f"an admin can grant it: `cwsync users grant {session.user.username} --tenant <tenant>`"
    named = ctx.path_tenant
    if named is not None and named not in state.servers:
        raise ConsoleError(404, "Unknown tenant", f"this server serves no tenant {named!r}: pick one in the top bar")
    if named is not None and named not in visible:
        raise ConsoleError(403, "Not your tenant", f"your user may not see tenant {named!r}; {grant}")
    if not visible:
        raise ConsoleError(403, "No tenant", f"your user may not see any tenant of this server; {grant}")
    if named is None and ctx.request.method == "GET":
        query = ctx.request.url.query
        raise _Elsewhere(ctx.url(ctx.request.url.path) + (f"?{query}" if query else ""))
    if named is not None and named != session.tenant:
        await state.users.set_tenant(session, named)


def anonymous(request: Request) -> Ctx:
    """The `Ctx` of the login pages (no session needed)."""
    return Ctx(console_state(request), request, None)


class _LoginFirst(Exception):
    def __init__(self, path: str) -> None:
        self.path = path


class _Elsewhere(Exception):
    """A page of a tenants directory's console read without its tenant: it lives at `url`."""

    def __init__(self, url: str) -> None:
        self.url = url


def error_page(request: Request, exc: ConsoleError) -> HTMLResponse:
    """The HTML page of a `ConsoleError`."""
    state = console_state(request)
    session = getattr(request.state, "console_session", None)
    if not hasattr(request.state, "login_csrf"):
        request.state.login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    ctx = Ctx(state, request, session)
    return ctx.render("error.html", status=exc.status, title=exc.title, detail=exc.detail, status_code=exc.status)


def login_redirect(exc: _LoginFirst) -> Response:
    """Send a browser that is not logged in to the login page (and back afterwards)."""
    target = exc.path if exc.path.startswith("/") and not exc.path.startswith("//") else "/"
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
