"""Log in, log out, and switch tenants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response

from cwsync.config.tenants import TENANT_PREFIX
from cwsync.console.web import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    ConsoleError,
    Ctx,
    anonymous,
    console_state,
    current_session,
    require_user,
    set_cookie,
)
from cwsync.store.users import SESSION_HOURS

router = APIRouter()


def _next(target: str | None) -> str:
    """Only a local path (never another site, never `//host`)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/login")
async def login_page(
    ctx: Annotated[Ctx, Depends(anonymous)], target: Annotated[str, Query(alias="next", max_length=2048)] = "/"
) -> Response:
    """The login form (and, before any user exists, how to add the first one)."""
    if await current_session(ctx.request) is not None:
        return ctx.redirect(_next(target))
    no_users = await ctx.state.users.count() == 0
    return ctx.render("login.html", next=_next(target), no_users=no_users, error=None, username="")


@router.post("/login")
async def login(
    ctx: Annotated[Ctx, Depends(anonymous)],
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    target: Annotated[str, Form(alias="next", max_length=2048)] = "/",
) -> Response:
    """Check the password (rate-limited per address and user); a session cookie on success."""
    state, address = ctx.state, _address(ctx.request)
    wait = state.limiter.wait(address, username)
    if wait > 0:
        raise ConsoleError(429, "Too many attempts", f"wait {int(wait) + 1} seconds before trying this user again")
    user = await state.users.verify(username.strip(), password)
    if user is None:
        state.limiter.failed(address, username)
        page = ctx.render(
            "login.html",
            status=401,
            next=_next(target),
            no_users=False,
            username=username,
            error="wrong user name or password",
        )
        return page
    state.limiter.succeeded(address, username)
    visible = user.visible(state.tenants) if state.many else state.tenants
    token, _ = await state.users.open_session(user, tenant=visible[0] if visible else state.server.config.tenant)
    response = ctx.redirect(_next(target))
    set_cookie(ctx.request, response, SESSION_COOKIE, token, max_age=SESSION_HOURS * 3600)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (CSRF-checked like every POST)."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        await console_state(request).users.close_session(token)
    ctx = Ctx(console_state(request), request, None)
    response = ctx.redirect("/login", "logged out", "info")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/tenant")
async def switch_tenant(
    ctx: Annotated[Ctx, Depends(require_user(viewer_may_post=True))],
    tenant: Annotated[str, Form(max_length=64)],
) -> Response:
    """Look at another tenant (one of those this server serves that the user may see): its dashboard, at
    `/t/<tenant>/` (a tenants directory), and `/` goes there from now on."""
    assert ctx.session is not None
    visible = ctx.state.visible(ctx.session)
    if tenant not in visible:
        raise ConsoleError(404, "Unknown tenant", f"pick one of {', '.join(visible) or 'your tenants'}")
    await ctx.state.users.set_tenant(ctx.session, tenant)
    target = f"{TENANT_PREFIX}/{tenant}/" if ctx.state.many else "/"
    return ctx.redirect(target, f"now showing tenant {tenant}", "info")
