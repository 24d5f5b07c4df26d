"""What every configuration screen shares: the editor and sources of the console, the file as it is now, and one
way to save an edit (checked, versioned, with the outcome shown on the next page).

A screen shows the configuration *file* (read anew on every page: a save, a hand edit or a roll-back shows at once),
not the configuration the server started with. Each form carries the hash of the text it was rendered from
(`base`), so a save over a file changed meanwhile is refused instead of undoing the other change.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Response

from cwsync.config import Config, ConfigError
from cwsync.config.edit import Change, ConfigDocument, EditedConfig, EditError, StaleEditError
from cwsync.console.config.checks import ChangesCheck, PropertyCache, SchemaCheck, mapping_check
from cwsync.console.config.editor import ConfigEditor, Preview, SaveResult
from cwsync.console.config.sources import Sources
from cwsync.console.reload import apply_saved
from cwsync.console.web import ConsoleError, Ctx

__all__ = ["ConfigTools", "FileView", "preview_or_error", "problems", "save", "save_result", "tools", "view"]

CSS = "/static/config.css"
JS = "/static/config.js"


@dataclass
class ConfigTools:
    """The console's configuration helpers, made once per console (kept in `ConsoleState.background`)."""

    editor: ConfigEditor
    sources: Sources
    properties: PropertyCache | None


def tools(ctx: Ctx) -> ConfigTools:
    """The configuration helpers of this console.

    Raises:
        ConsoleError: the server was started without a configuration file (nothing to edit).
    """
    server = ctx.server
    key = f"config_tools:{server.tenant}"
    kept = ctx.background.get(key)
    if isinstance(kept, ConfigTools) and kept.sources.cw is server.cw:  # a reload may have reopened the clients
        return kept
    source = server.config.source
    if source is None:
        raise ConsoleError(409, "No configuration file", "this server was started without one: nothing to edit here")
    properties = PropertyCache(server.hs) if server.hs is not None else None
    checks: list[Any] = [mapping_check, ChangesCheck(server.cw)]
    if properties is not None:
        checks.insert(1, SchemaCheck(server.cw, properties))
    editor = ConfigEditor(Path(source), server.store, server.config.tenant, checks=checks, environ=os.environ)
    made = ConfigTools(editor, Sources(server.cw), properties)
    ctx.background[key] = made
    return made


@dataclass(frozen=True)
class FileView:
    """The configuration file as it is now: its text's hash, the document, and the validated model (or why not)."""

    doc: ConfigDocument
    config: Config | None
    error: ConfigError | None

    @property
    def base(self) -> str:
        """The hash forms send back (see the module)."""
        return self.doc.sha256

    def need(self) -> Config:
        """The validated configuration, or a page saying what is wrong with the file."""
        if self.config is None:
            detail = str(self.error) if self.error else "the file could not be read"
            raise ConsoleError(409, "The configuration file has errors", f"fix it (or roll back a version): {detail}")
        return self.config


def view(ctx: Ctx) -> FileView:
    """The file as it is now (see `FileView`)."""
    editor = tools(ctx).editor
    doc = editor.document()
    try:
        config = EditedConfig(doc, doc.text).validate(environ=editor.environ)
    except ConfigError as exc:
        return FileView(doc, None, exc)
    return FileView(doc, config, None)


async def preview_or_error(ctx: Ctx, changes: Iterable[Change], base: str | None) -> Preview:
    """The checked preview of an edit (for the inline checks); an edit that cannot apply is a 400/409 page."""
    try:
        return await tools(ctx).editor.preview(changes, expected=base or None)
    except StaleEditError as exc:
        raise ConsoleError(409, "The file changed", str(exc)) from exc
    except EditError as exc:
        raise ConsoleError(400, "Cannot make this change", str(exc)) from exc


async def save(ctx: Ctx, changes: Iterable[Change], *, base: str | None, back: str, summary: str = "") -> Response:
    """Check and save an edit, then go `back` with the outcome: "Saved as version N: affects future syncs only…",
    or the problems (field, the reason and the fix) and nothing written."""
    response, _ = await save_result(ctx, changes, base=base, back=back, summary=summary)
    return response


async def save_result(
    ctx: Ctx, changes: Iterable[Change], *, base: str | None, back: str, summary: str = ""
) -> tuple[Response, SaveResult | None]:
    """`save`, also answering the saved version (None: nothing saved)."""
    ctx.require_edit()
    user = ctx.session.user.username if ctx.session is not None else "console"
    try:
        result = await tools(ctx).editor.save(changes, author=user, summary=summary, expected=base or None)
    except StaleEditError as exc:
        return ctx.redirect(back, str(exc), "error"), None
    except EditError as exc:
        return ctx.redirect(back, f"Not saved: {exc}", "error"), None
    except ConfigError as exc:
        return ctx.redirect(back, "Not saved: " + "; ".join(_problem_lines(exc)), "error"), None
    if not result.changed:
        return ctx.redirect(back, "Nothing changed.", "info"), None
    said = [*result.effects, await apply_saved(ctx)]
    return ctx.redirect(back, f"Saved as version {result.version}: {'; '.join(said)}."), result


def _problem_lines(error: ConfigError) -> list[str]:
    return [f"{p.field}: {p.message}" if p.field else p.message for p in error.problems][:5]


def problems(error: ConfigError | None) -> list[dict[str, Any]]:
    """A `ConfigError` as rows for the templates: line, field, message."""
    if error is None:
        return []
    return [{"line": p.line, "field": p.field, "message": p.message} for p in error.problems]
