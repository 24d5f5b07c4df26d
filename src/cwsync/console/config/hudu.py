"""The Hudu screen (HU-2 … HU-5): company matching as a searchable, paged list with suggestions, sort rules and
layouts, options and skip lists, and syncs started from here.

Matching is Hudu's "Match Companies" list: every ConnectWise company with its suggestions (identifier or normalised
name: exact; a similar name: a hint), decided per row — match to a Hudu company, create a new one, leave unmatched —
or all exact ones at once; "sync this company" runs the sync for one company first (as Hudu recommends, to see the
import is right before the rest). Decisions go to the store at once (`syncs.hudu.decisions`), never to the YAML; the
layouts, sort rules and options are configuration and are saved like every edit.

::

    GET  /hudu?q=acme&show=undecided&page=2      matching
    POST /hudu/match                              one row's decision
    POST /hudu/match/auto                         accept every exact suggestion
    POST /hudu/match/{cw_id}/sync                 sync that company now ("match one first")
    POST /hudu/sync                               sync everything now (in the background)   GET /hudu/sync: its state
    GET  /hudu/settings                           layouts, sort rules, options, skip lists
    POST /hudu/layouts | /hudu/options            save them
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Response

from cwsync.config import ConfigError
from cwsync.config.edit import set_value
from cwsync.config.hudu import DATA_TYPES
from cwsync.connectors.http import CwsyncApiError
from cwsync.console.config.common import CSS, JS, save, tools, view
from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import ConsoleError, Ctx, require_user
from cwsync.integrations.hudu.layouts import LayoutError
from cwsync.integrations.hudu.matching import Decision, Suggestion
from cwsync.integrations.hudu.run import HuduSyncEngine

__all__ = ["router"]

router = APIRouter()
add_screen(Screen("hudu", "/hudu", "Hudu", "Configure", ("hudu",), 40))

Admin = Annotated[Ctx, Depends(require_user("admin"))]
Viewer = Annotated[Ctx, Depends(require_user())]
PAGE = 25
KEPT_S = 30.0
OPTIONS = ("auto_update_asset_names", "update_company_details", "match_assets_on_serial", "create_missing_layouts")


@asynccontextmanager
async def engine(ctx: Ctx) -> AsyncIterator[HuduSyncEngine]:
    """The Hudu engine on the configuration *file* (what was saved here), the server's store and ConnectWise client,
    and a Hudu client of the server's factory (closed afterwards)."""
    config = view(ctx).need()
    if config.syncs.hudu is None:
        raise ConsoleError(404, "Hudu is not configured", "add syncs.hudu (and connections.hudu) to the file")
    try:
        client = ctx.request.app.state.hudu.client_factory()
    except ConfigError as exc:
        raise ConsoleError(409, "Hudu cannot be reached", str(exc)) from exc
    async with client:
        yield HuduSyncEngine(config, ctx.server.store, ctx.server.cw, client)


async def _suggestions(ctx: Ctx) -> tuple[list[Suggestion], dict[int, str]]:
    """Every company's suggestion and the Hudu companies (id → name), kept `KEPT_S` seconds (cleared on a decision)."""
    kept = ctx.background.get("hudu_suggestions")
    if isinstance(kept, tuple) and time.monotonic() - kept[0] < KEPT_S:
        return kept[1], kept[2]
    try:
        async with engine(ctx) as hudu:
            found, companies = await asyncio.gather(hudu.suggestions(), hudu.hudu_companies())
    except CwsyncApiError as exc:
        raise ConsoleError(502, "Hudu or ConnectWise did not answer", str(exc)) from exc
    names = {hudu_id: str(c.get("name") or "") for hudu_id, c in companies.items()}
    ctx.background["hudu_suggestions"] = (time.monotonic(), found, names)
    return found, names


def _forget(ctx: Ctx) -> None:
    ctx.background.pop("hudu_suggestions", None)


def _wanted(s: Suggestion, q: str, show: str) -> bool:
    if show == "undecided" and s.decision is not None:
        return False
    if show == "decided" and s.decision is None:
        return False
    if show == "exact" and (s.decision is not None or s.best_exact is None):
        return False
    text = q.strip().lower()
    return not text or text in s.cw_name.lower() or text in s.cw_identifier.lower()


@router.get("/hudu")
async def matching(ctx: Viewer, q: str = "", show: str = "undecided", page: int = 1) -> Response:
    """The Match Companies list."""
    found, names = await _suggestions(ctx)
    rows = [s for s in found if _wanted(s, q, show)]
    pages = max(1, -(-len(rows) // PAGE))
    page = min(max(page, 1), pages)
    exact = sum(1 for s in found if s.decision is None and s.best_exact is not None)
    return ctx.render(
        "config/hudu.html",
        title="Hudu",
        css=CSS,
        js=JS,
        rows=rows[(page - 1) * PAGE : page * PAGE],
        names=names,
        q=q,
        show=show,
        page=page,
        pages=pages,
        shown=len(rows),
        total=len(found),
        decided=sum(1 for s in found if s.decision is not None),
        exact=exact,
        last=ctx.background.get("hudu_sync"),
    )


def _back(q: str, show: str, page: int) -> str:
    from urllib.parse import urlencode

    return "/hudu?" + urlencode({"q": q, "show": show, "page": page})


@router.post("/hudu/match")
async def decide(
    ctx: Admin,
    cw_id: Annotated[int, Form()],
    kind: Annotated[str, Form(max_length=16)],
    hudu_id: Annotated[str, Form(max_length=20)] = "",
    q: Annotated[str, Form(max_length=200)] = "",
    show: Annotated[str, Form(max_length=16)] = "undecided",
    page: Annotated[int, Form()] = 1,
) -> Response:
    """Decide one company: match (to `hudu_id`), create, or unmatched."""
    back = _back(q, show, page)
    if kind not in ("match", "create", "unmatched"):
        raise ConsoleError(400, "Unknown decision", f"{kind!r}: use match, create or unmatched")
    try:
        chosen = int(hudu_id) if kind == "match" and hudu_id.strip() else None
        decision = Decision(cw_id, kind, chosen, by=_user(ctx))  # type: ignore[arg-type]
    except ValueError:
        return ctx.redirect(back, "Pick the Hudu company to match it to (or create a new one).", "error")
    async with engine(ctx) as hudu:
        try:
            await hudu.decide([decision])
        except ValueError as exc:
            return ctx.redirect(back, f"Not saved: {exc}", "error")
        except CwsyncApiError as exc:
            return ctx.redirect(back, f"Hudu did not answer: {exc}", "error")
    _forget(ctx)
    said = {"match": "matched", "create": "will be created in Hudu", "unmatched": "left unmatched"}[kind]
    return ctx.redirect(back, f"ConnectWise company {cw_id} {said} (saved; the next sync imports it).")


def _user(ctx: Ctx) -> str:
    return f"console:{ctx.session.user.username}" if ctx.session is not None else "console"


@router.post("/hudu/match/auto")
async def auto(ctx: Admin) -> Response:
    """Accept every exact suggestion (identifier or normalised name, exactly one Hudu company)."""
    async with engine(ctx) as hudu:
        try:
            chosen = await hudu.auto_match()
        except CwsyncApiError as exc:
            return ctx.redirect("/hudu", f"Hudu did not answer: {exc}", "error")
    _forget(ctx)
    return ctx.redirect("/hudu", f"Accepted {len(chosen)} exact match{'' if len(chosen) == 1 else 'es'}.")


@router.post("/hudu/match/{cw_id}/sync")
async def sync_one(ctx: Admin, cw_id: int) -> Response:
    """Sync one decided company now ("match one company first to verify the import")."""
    async with engine(ctx) as hudu:
        try:
            report = await hudu.run(records={"companies": [str(cw_id)]}, trigger="api")
        except (CwsyncApiError, LayoutError) as exc:
            return ctx.redirect("/hudu", f"The sync stopped: {exc}", "error")
    _forget(ctx)
    counts = report.counts.as_dict()
    said = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "nothing to write"
    return ctx.redirect(f"/hudu?q={cw_id}&show=all", f"Company {cw_id} synced (run {report.run_id}): {said}.")


async def _run_all(hudu: HuduSyncEngine, state: dict[str, Any]) -> None:
    try:
        async with hudu.hudu:
            report = await hudu.run(trigger="api")
    except (CwsyncApiError, LayoutError) as exc:
        state.update(state="failed", error=str(exc))
        return
    state.update(state="done", run_id=report.run_id, counts=report.counts.as_dict(), error=report.error)


@router.post("/hudu/sync")
async def sync_all(ctx: Admin) -> Response:
    """Sync every data type of the matched companies now, in the background (the page shows its progress)."""
    running = ctx.background.get("hudu_sync")
    if isinstance(running, dict) and running.get("state") == "running":
        return ctx.redirect("/hudu", "A Hudu sync is already running.", "info")
    config = view(ctx).need()
    if config.syncs.hudu is None:
        raise ConsoleError(404, "Hudu is not configured", "add syncs.hudu (and connections.hudu) to the file")
    client = ctx.request.app.state.hudu.client_factory()
    hudu = HuduSyncEngine(config, ctx.server.store, ctx.server.cw, client)
    state: dict[str, Any] = {"state": "running", "started": time.time()}
    ctx.background["hudu_sync"] = state
    state["task"] = asyncio.create_task(_run_all(hudu, state))
    return ctx.redirect("/hudu", "Hudu sync started.", "info")


@router.get("/hudu/sync")
async def sync_state(ctx: Viewer) -> Response:
    """The state of the sync started here (an htmx fragment the page polls while it runs)."""
    return ctx.render("config/_hudu_sync.html", last=ctx.background.get("hudu_sync"))


# --- settings ------------------------------------------------------------------------------------------------------


@router.get("/hudu/settings")
async def settings(ctx: Viewer) -> Response:
    """Layouts and sort rules, options and skip lists."""
    file = view(ctx)
    sync = file.need().syncs.hudu
    if sync is None:
        raise ConsoleError(404, "Hudu is not configured", "add syncs.hudu to the configuration file")
    layouts: list[str] = []
    try:
        async with engine(ctx) as hudu:
            layouts = sorted(str(x.get("name")) for x in await hudu.hudu.list_asset_layouts() if x.get("active", True))
    except (CwsyncApiError, ConsoleError):
        layouts = []
    sources = tools(ctx).sources
    try:
        company_types, configuration_types = await sources.company_types(), await sources.configuration_types()
    except CwsyncApiError:
        company_types, configuration_types = [], []
    return ctx.render(
        "config/hudu_settings.html",
        title="Hudu settings",
        css=CSS,
        js=JS,
        sync=sync,
        rules=[*sync.layouts.sort_rules, None, None],
        layouts=sorted({*layouts, *sync.layouts.names(set(DATA_TYPES))}),
        data_types=DATA_TYPES,
        company_types=sorted({*company_types, *sync.skip_company_types}),
        configuration_types=sorted({*configuration_types, *sync.skip_configuration_types}),
        options=OPTIONS,
        base=file.base,
    )


@router.post("/hudu/layouts")
async def save_layouts(ctx: Admin) -> Response:
    """The layouts per data type, the default layout, and the sort rules (configuration types → layout)."""
    form = await ctx.request.form()
    layouts: dict[str, Any] = {key: str(form.get(key) or "").strip() for key in ("contacts", "locations")}
    layouts |= {key: str(form.get(key) or "").strip() for key in ("configurations", "agreements")}
    rules = []
    for types, layout in zip(form.getlist("rule_types"), form.getlist("rule_layout"), strict=False):
        names = [t.strip() for t in str(types).split(",") if t.strip()]
        if names and str(layout).strip():
            rules.append({"types": names, "layout": str(layout).strip()})
    layouts["sort_rules"] = rules
    changes = [
        set_value(("syncs", "hudu", "layouts", key), value)
        for key, value in layouts.items()
        if value or key == "sort_rules"
    ]
    return await save(ctx, changes, base=str(form.get("base") or ""), back="/hudu/settings")


@router.post("/hudu/options")
async def save_options(ctx: Admin) -> Response:
    """Skip lists (data types, company types, configuration types) and the options."""
    form = await ctx.request.form()
    sync = view(ctx).need().syncs.hudu
    if sync is None:
        raise ConsoleError(404, "Hudu is not configured", "add syncs.hudu to the configuration file")
    wanted: dict[str, Any] = {
        "skip": [t for t in DATA_TYPES if form.get(f"import:{t}") != "on"],
        "skip_company_types": [str(v) for v in form.getlist("skip_company_types")],
        "skip_configuration_types": [str(v) for v in form.getlist("skip_configuration_types")],
        **{key: form.get(key) == "on" for key in OPTIONS},
    }
    changes = [set_value(("syncs", "hudu", k), v) for k, v in wanted.items() if getattr(sync, k) != v]  # only changes
    return await save(ctx, changes, base=str(form.get("base") or ""), back="/hudu/settings")
