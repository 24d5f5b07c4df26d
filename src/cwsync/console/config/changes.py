"""The change-management screen (CB-1 … CB-7): company mapping with a searchable ConnectWise company picker and
Filter Boards, the status per lifecycle event chosen from the boards' real statuses, device-type mapping, and "sync
configurations now" with its counts.

The default status of an event applies on every board in scope, so it is offered from the statuses all of them have;
a board's own row overrides it event by event with that board's statuses. A save runs the workflow's own setup check
(`changes.setup.validate_statuses`): an unknown board, status or company is refused with the valid names.

::

    GET  /changes
    GET  /changes/companies?q=acme        the picker's results (htmx fragment)
    POST /changes/companies               add or change a company mapping (key, ConnectWise company, boards)
    POST /changes/companies/remove        remove one
    POST /changes/boards                  the default Filter Boards
    POST /changes/statuses                the status per event, default and per board
    POST /changes/devices                 the configuration type → device type mapping
    POST /changes/devices/sync            sync configurations now: created / updated / unchanged / skipped
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Response

from cwsync.config.changes import LIFECYCLE_EVENTS, ChangesConfig
from cwsync.config.edit import Change, delete, set_value
from cwsync.connectors.http import CwsyncApiError
from cwsync.console.config.common import CSS, JS, save, tools, view
from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import ConsoleError, Ctx, require_user
from cwsync.workflows.changes.devices import sync_of
from cwsync.workflows.changes.errors import ChangeRefused, SetupError
from cwsync.workflows.changes.workflow import ChangeWorkflow

__all__ = ["router"]

router = APIRouter()
add_screen(Screen("changes", "/changes", "Changes", "Configure", ("devices",), 60))

Admin = Annotated[Ctx, Depends(require_user("admin"))]
Viewer = Annotated[Ctx, Depends(require_user())]
SECTION = ("syncs", "changes")
Key = Annotated[str, Form(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")]


def _changes(ctx: Ctx) -> tuple[ChangesConfig, str]:
    file = view(ctx)
    changes = file.need().syncs.changes
    if changes is None:
        raise ConsoleError(404, "Change management is not configured", "add syncs.changes to the configuration file")
    return changes, file.base


@router.get("/changes")
async def page(ctx: Viewer) -> Response:
    """Companies, boards, statuses and devices of the change workflow."""
    changes, base = _changes(ctx)
    sources = tools(ctx).sources
    try:
        boards = list(await sources.boards())
        statuses = {board: await sources.board_statuses(board) for board in changes.boards_in_scope()}
        types = await sources.configuration_types()
    except CwsyncApiError as exc:
        raise ConsoleError(502, "ConnectWise did not answer", str(exc)) from exc
    in_scope = [set(names) for names in statuses.values()]
    shared = sorted(set.intersection(*in_scope), key=str.lower) if in_scope else []
    devices = changes.devices
    device_rows = [
        *(devices.types.items() if devices else []),
        *((t, "") for t in types if not devices or t not in devices.types),
    ]
    return ctx.render(
        "config/changes.html",
        title="Change management",
        css=CSS,
        js=JS,
        changes=changes,
        boards=boards,
        statuses=statuses,
        shared=shared,
        events=LIFECYCLE_EVENTS,
        device_rows=device_rows,
        last=ctx.background.get("devices_sync"),
        base=base,
    )


@router.get("/changes/companies")
async def search(ctx: Viewer, q: str = "") -> Response:
    """ConnectWise companies whose name or identifier contains `q` (the picker)."""
    try:
        found = await tools(ctx).sources.search_companies(q[:100])
    except CwsyncApiError as exc:
        return ctx.render("config/_companies.html", found=[], error=str(exc), q=q)
    return ctx.render("config/_companies.html", found=found, error=None, q=q)


@router.post("/changes/companies")
async def company(ctx: Admin, key: Key, connectwise: Annotated[str, Form(min_length=1, max_length=100)]) -> Response:
    """Add (or change) the mapping of one change-tool company: its ConnectWise company and Filter Boards."""
    form = await ctx.request.form()
    boards = [str(b) for b in form.getlist("boards")]
    entry: dict[str, Any] = {"connectwise": int(connectwise) if connectwise.isdigit() else connectwise.strip()}
    if boards:
        entry["boards"] = boards
    changes: list[Change] = [set_value((*SECTION, "companies", key), entry)]
    if not boards:
        changes.append(delete((*SECTION, "companies", key, "boards")))
    return await save(ctx, changes, base=str(form.get("base") or ""), back="/changes")


@router.post("/changes/companies/remove")
async def remove_company(ctx: Admin, key: Key, base: Annotated[str, Form(max_length=64)] = "") -> Response:
    """Remove a company mapping."""
    return await save(ctx, [delete((*SECTION, "companies", key))], base=base, back="/changes")


@router.post("/changes/boards")
async def boards(ctx: Admin) -> Response:
    """The default Filter Boards (for companies that list none)."""
    form = await ctx.request.form()
    chosen = [str(b) for b in form.getlist("boards")]
    return await save(ctx, [set_value((*SECTION, "boards"), chosen)], base=str(form.get("base") or ""), back="/changes")


@router.post("/changes/statuses")
async def statuses(ctx: Admin) -> Response:
    """The status per lifecycle event: the default row and each board's overrides (empty: not mapped there)."""
    current, _ = _changes(ctx)
    form = await ctx.request.form()
    default = {event: str(form.get(f"default:{event}") or "").strip() for event in LIFECYCLE_EVENTS}
    changes: list[Change] = [set_value((*SECTION, "statuses"), {e: s for e, s in default.items() if s})]
    per_board: dict[str, dict[str, str]] = {}
    for board in current.boards_in_scope():
        chosen = {str(event): str(form.get(f"board:{board}:{event}") or "").strip() for event in LIFECYCLE_EVENTS}
        own = {e: s for e, s in chosen.items() if s}
        if own:
            per_board[board] = own
    changes.append(
        set_value((*SECTION, "board_statuses"), per_board) if per_board else delete((*SECTION, "board_statuses"))
    )
    return await save(ctx, changes, base=str(form.get("base") or ""), back="/changes")


@router.post("/changes/devices")
async def devices(ctx: Admin) -> Response:
    """Configuration type → device type (only mapped types import), and which companies' configurations."""
    form = await ctx.request.form()
    pairs = zip(form.getlist("type:from"), form.getlist("type:to"), strict=False)
    types = {str(a).strip(): str(b).strip() for a, b in pairs if str(a).strip() and str(b).strip()}
    companies = str(form.get("companies") or "all")
    changes = [
        set_value((*SECTION, "devices", "types"), types),
        set_value((*SECTION, "devices", "companies"), companies),
    ]
    return await save(ctx, changes, base=str(form.get("base") or ""), back="/changes")


@router.post("/changes/devices/sync")
async def sync_devices(ctx: Admin) -> Response:
    """Sync configurations now (a full run), and say what it did."""
    changes, _ = _changes(ctx)
    try:
        workflow = await ChangeWorkflow.start(
            client=ctx.server.cw, store=ctx.server.store, config=changes, tenant=ctx.server.config.tenant
        )
        report = await sync_of(workflow.device_sync).run(full=True, trigger="api")
    except (SetupError, ChangeRefused) as exc:
        return ctx.redirect("/changes", f"Cannot sync configurations: {exc}", "error")
    except CwsyncApiError as exc:
        return ctx.redirect("/changes", f"ConnectWise did not answer: {exc}", "error")
    ctx.background["devices_sync"] = report.model_dump(mode="json")
    said = f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, {report.skipped} skipped"
    return ctx.redirect("/changes", f"Configurations synced (run {report.run_id}): {said}.")
