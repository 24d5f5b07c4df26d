"""Config versions: every saved text of the configuration file, listed, compared and rolled back (#14, PL-1).

::

    GET  /config/versions?page=2                  newest first (the file's current text recorded first if new)
    GET  /config/versions/{n}?against=current     a version's diff against the current file, or `against=previous`
    POST /config/versions/{n}/rollback             write version n back (checked like any edit) as a new version
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Response

from cwsync.config import ConfigError
from cwsync.config.edit import StaleEditError, diff_text
from cwsync.console.config.common import CSS, JS, tools
from cwsync.console.nav import Screen, add_screen
from cwsync.console.reload import apply_saved
from cwsync.console.web import ConsoleError, Ctx, require_user

__all__ = ["router"]

router = APIRouter()
add_screen(Screen("versions", "/config/versions", "Config versions", "Configure", (), 90))

Admin = Annotated[Ctx, Depends(require_user("admin"))]
Viewer = Annotated[Ctx, Depends(require_user())]
PAGE = 30


@router.get("/config/versions")
async def listing(ctx: Viewer, page: int = 1) -> Response:
    """The saved versions, newest first."""
    editor = tools(ctx).editor
    page = max(page, 1)
    versions = await editor.history(limit=PAGE, offset=(page - 1) * PAGE)
    total = await editor.versions.count()
    current = editor.document().sha256
    return ctx.render(
        "config/versions.html",
        title="Config versions",
        css=CSS,
        js=JS,
        versions=versions,
        current=current,
        page=page,
        pages=max(1, -(-total // PAGE)),
        file_path=str(editor.path),
    )


@router.get("/config/versions/{number}")
async def one(ctx: Viewer, number: int, against: str = "current") -> Response:
    """One version: its diff against the current file (or the version before it), and its text."""
    editor = tools(ctx).editor
    version = await editor.versions.get(number)
    if version is None:
        raise ConsoleError(404, "No such version", f"there is no configuration version {number}")
    if against == "previous":
        older = [v for v in await editor.versions.list(limit=1000) if v.number < number]
        base = await editor.versions.get(older[0].number) if older else None
        old_text, label = (base.text, f"version {base.number}") if base else ("", "(nothing)")
        diff = diff_text(old_text, version.text, label, f"version {number}")
    else:
        diff = diff_text(editor.document().text, version.text, "the file now", f"version {number}")
    return ctx.render(
        "config/version.html",
        title=f"Config version {number}",
        css=CSS,
        js=JS,
        version=version,
        diff=diff,
        against=against,
        base=editor.document().sha256,
    )


@router.post("/config/versions/{number}/rollback")
async def rollback(ctx: Admin, number: int, base: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Write version `number` back as a new version (refused when it no longer passes the checks)."""
    ctx.require_edit()
    user = ctx.session.user.username if ctx.session is not None else "console"
    try:
        result = await tools(ctx).editor.rollback(number, author=user, expected=base or None)
    except LookupError as exc:
        raise ConsoleError(404, "No such version", str(exc)) from exc
    except StaleEditError as exc:
        return ctx.redirect(f"/config/versions/{number}", str(exc), "error")
    except ConfigError as exc:
        lines = "; ".join(f"{p.field}: {p.message}" if p.field else p.message for p in exc.problems[:5])
        return ctx.redirect(f"/config/versions/{number}", f"Not rolled back: {lines}", "error")
    if not result.changed:
        return ctx.redirect("/config/versions", f"The file already is version {number}.", "info")
    applied = await apply_saved(ctx)
    return ctx.redirect(
        "/config/versions", f"Rolled back to version {number} (saved as version {result.version}): {applied}."
    )
