"""Runs and audit (BY-2, PL-4): runs filtered by integration, status and time; a run's items searchable, with live
progress while it runs; a record's page (its history, source values, the mapping, the diff, the remote answer) with
**Replay**."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Response

from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import ConsoleError, Ctx, require_user
from cwsync.integrations import systems
from cwsync.runtime.jobs import JobSpec
from cwsync.server.limits import MAX_ID
from cwsync.server.registry import HUBSPOT, REGISTRY
from cwsync.store.console_queries import item_counts, record_items_in_run

router = APIRouter()
add_screen(Screen("runs", "/runs", "Runs", "Operate", order=10))

PAGE = 50
STATUSES = ("running", "succeeded", "failed", "interrupted")
ACTIONS = ("create", "update", "link", "skip", "delete", "unchanged", "conflict")
ITEM_STATUSES = ("applied", "failed", "planned", "skipped")


def _day(text: str | None, *, end: bool = False) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ConsoleError(400, "Bad date", f"{text!r}: use YYYY-MM-DD") from None
    moment = datetime.combine(day, time(), tzinfo=UTC)
    return moment + timedelta(days=1) if end else moment


def _blank(value: str | None) -> str | None:
    return value or None


@router.get("/runs")
async def runs(
    ctx: Annotated[Ctx, Depends(require_user())],
    integration: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    """The tenant's runs, newest first, a page at a time."""
    names = [entry.name for entry in REGISTRY]
    if integration and integration not in names:
        raise ConsoleError(404, "Unknown integration", f"one of {', '.join(names)}")
    entry = next((e for e in REGISTRY if e.name == integration), None)
    # Pairs named by their integration (`hudu:…`, `mirror:…`) are filtered by the store; an integration whose pairs
    # are bare object names (HubSpot's `companies` ...) by the registry's `owns`, over the latest runs.
    bare = entry is not None and any(entry.owns(ctx.server, p) for p in HUBSPOT.mappings(ctx.server))
    found = await ctx.server.store.runs(
        ctx.tenant,
        limit=(offset + PAGE) * 4 + 200 if bare else PAGE + 1,
        offset=0 if bare else offset,
        integration=None if bare else _blank(integration),
        status=_blank(status),
        since=_day(since),
        until=_day(until, end=True),
    )
    if bare and entry is not None:
        found = [run for run in found if any(entry.owns(ctx.server, p) for p in run.pairs)][offset : offset + PAGE + 1]
    more = len(found) > PAGE
    found = found[:PAGE]
    return ctx.render(
        "runs.html",
        title="Runs",
        runs=found,
        counts=await item_counts(ctx.server.store, [r.run_id for r in found if r.status == "running"]),
        integrations=names,
        statuses=STATUSES,
        filters={"integration": integration or "", "status": status or "", "since": since or "", "until": until or ""},
        offset=offset,
        more=more,
        page=PAGE,
    )


async def _run_or_404(ctx: Ctx, run_id: int) -> Any:
    run = await ctx.server.store.run(run_id)
    if run is None or run.tenant != ctx.tenant:
        raise ConsoleError(404, "No such run", f"run {run_id} is not one of tenant {ctx.tenant}'s")
    return run


@router.get("/runs/{run_id}")
async def run_page(
    ctx: Annotated[Ctx, Depends(require_user())],
    run_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    action: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    pair: Annotated[str | None, Query(max_length=128)] = None,
    record: Annotated[str | None, Query(max_length=255)] = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    """One run: its counts (live while it runs) and its items, searchable by record id, action, status and text."""
    run = await _run_or_404(ctx, run_id)
    wanted = _blank(record and record.strip())
    if wanted and not text:  # a record's few items, through the per-record indexes
        items = await record_items_in_run(
            ctx.server.store,
            run,
            wanted,
            action=_blank(action),
            status=_blank(status),
            pair=_blank(pair),
            limit=PAGE + 1,
            offset=offset,
        )
    else:
        items = await ctx.server.store.run_items(
            run_id,
            limit=PAGE + 1,
            offset=offset,
            action=_blank(action),
            status=_blank(status),
            pair=_blank(pair),
            record=wanted,
            text=_blank(text and text.strip()),
        )
    filters = {"action": action or "", "status": status or "", "pair": pair or "", "record": record or ""}
    filters["text"] = text or ""
    return ctx.render(
        "run.html",
        title=f"Run {run_id}",
        run=run,
        items=items[:PAGE],
        more=len(items) > PAGE,
        offset=offset,
        page=PAGE,
        filters=filters,
        actions=ACTIONS,
        item_statuses=ITEM_STATUSES,
        live=(await item_counts(ctx.server.store, [run_id]))[run_id] if run.status == "running" else {},
    )


@router.get("/runs/{run_id}/progress")
async def progress(
    ctx: Annotated[Ctx, Depends(require_user())], run_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> Response:
    """The run's live counts (htmx polls this every second while the run is running)."""
    run = await _run_or_404(ctx, run_id)
    live = (await item_counts(ctx.server.store, [run_id]))[run_id]
    return ctx.render("run_progress.html", run=run, live=live)


@router.get("/records")
async def find_record(
    ctx: Annotated[Ctx, Depends(require_user())],
    system: Annotated[str, Query(max_length=16)] = "connectwise",
    obj: Annotated[str, Query(max_length=128)] = "",
    record_id: Annotated[str, Query(max_length=255)] = "",
) -> Response:
    """Look a record up by system, object and id (the form of the runs page)."""
    if not obj or not record_id.strip():
        raise ConsoleError(400, "Which record?", "give the object (e.g. contacts) and the record's id")
    return ctx.redirect(f"/records/{system}/{obj}/{record_id.strip()}")


@router.get("/records/{system}/{obj}/{record_id}")
async def record_page(
    ctx: Annotated[Ctx, Depends(require_user())],
    system: Annotated[str, Path(max_length=16)],
    obj: Annotated[str, Path(max_length=128)],
    record_id: Annotated[str, Path(max_length=255)],
) -> Response:
    """A record's history (its run items, newest first), its link, the mapping applied, and Replay."""
    try:
        named = systems.resolve(system, obj)
    except ValueError as exc:
        raise ConsoleError(404, "Unknown record type", str(exc)) from None
    explained = await systems.explain_record(ctx.server.store, ctx.tenant, named, record_id)
    mapping = HUBSPOT.mappings(ctx.server).get(named.pair)
    fields = (
        [
            {"left": f.left, "right": f.right, "direction": str(getattr(f.direction, "value", f.direction))}
            for f in mapping.fields
        ]
        if mapping is not None
        else []
    )
    replayable = any(entry.replayable(ctx.server, system, obj) for entry in ctx.server.integrations())
    return ctx.render(
        "record.html",
        title=f"{system} {obj} {record_id}",
        system=system,
        obj=obj,
        record_id=record_id,
        explained=explained,
        fields=fields,
        replayable=replayable,
    )


@router.post("/records/{system}/{obj}/{record_id}/replay")
async def replay(
    ctx: Annotated[Ctx, Depends(require_user("admin"))],
    system: Annotated[str, Path(max_length=16)],
    obj: Annotated[str, Path(max_length=128)],
    record_id: Annotated[str, Path(max_length=255)],
) -> Response:
    """Queue a sync of this record now (the registry's replay, as `POST /api/records/.../replay`)."""
    for entry in ctx.server.integrations():
        if entry.replayable(ctx.server, system, obj):
            job = await entry.replay(ctx.server, system, obj, record_id)
            message = f"replay queued (job {job})" if job is not None else "a replay of this record is already queued"
            return ctx.redirect(f"/records/{system}/{obj}/{record_id}", message)
    raise ConsoleError(404, "Cannot replay", f"{system} {obj} is not an enabled object that can be replayed")


@router.post("/runs/sync")
async def sync_now(
    ctx: Annotated[Ctx, Depends(require_user("admin"))],
    integration: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Queue a run now of one enabled integration (or all): one job per pair it schedules, as the scheduler would."""
    chosen = [e for e in ctx.server.integrations() if not integration or e.name == integration]
    if not chosen:
        raise ConsoleError(404, "Nothing to run", f"{integration or 'no integration'} is not enabled")
    queued = []
    for entry in chosen:
        kinds: dict[str, str] = {}
        for schedule in entry.schedules(ctx.server):
            kinds.setdefault(schedule.pair, schedule.kind)  # incremental first when it has both
        for pair, kind in kinds.items():
            spec = JobSpec(
                tenant=ctx.tenant,
                pair=pair,
                kind=kind,  # type: ignore[arg-type]
                queueing_key=f"console:{ctx.tenant}:{pair}:{kind}",
                payload={"trigger": "api"},
            )
            queued.append(await ctx.server.runner.enqueue(spec))
    if not queued:
        raise ConsoleError(409, "Nothing to run", "the enabled integrations schedule no runs")
    return ctx.redirect("/runs", f"queued {len(queued)} run(s): they appear below as they start")
