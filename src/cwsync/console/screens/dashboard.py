"""The dashboard: the last run of each integration, records failing now, callback health, queue depth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from cwsync.connectors.http import CwsyncApiError
from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import Ctx, require_user
from cwsync.runtime.callbacks import CallbackManager
from cwsync.server.registry import REGISTRY
from cwsync.store.console_queries import failing_now
from cwsync.store.records import RunRecord

router = APIRouter()
add_screen(Screen("dashboard", "/", "Dashboard", "Operate", order=0))

RECENT_RUNS = 300


def owner_of(ctx: Ctx, run: RunRecord) -> str | None:
    """The registry integration a run belongs to (the first that owns one of its pairs)."""
    for entry in REGISTRY:
        if any(entry.owns(ctx.server, pair) for pair in run.pairs):
            return entry.name
    return None


@router.get("/")
async def dashboard(ctx: Annotated[Ctx, Depends(require_user())]) -> Response:
    """One look at the state of every integration."""
    server, tenant = ctx.server, ctx.tenant
    recent = await server.store.runs(tenant, limit=RECENT_RUNS)
    last: dict[str, RunRecord] = {}
    for run in recent:
        name = owner_of(ctx, run)
        if name is not None and name not in last:
            last[name] = run
    enabled = {entry.name for entry in server.integrations()}
    integrations = [{"name": e.name, "enabled": e.name in enabled, "run": last.get(e.name)} for e in REGISTRY]
    failing = await failing_now(server.store, tenant, limit=20)
    queue = await server.jobs.counts()
    lag = await server.jobs.oldest_due(now=datetime.now(UTC))
    return ctx.render(
        "dashboard.html",
        title="Dashboard",
        integrations=integrations,
        failing=failing,
        queue=queue,
        lag_s=(datetime.now(UTC) - lag).total_seconds() if lag else None,
    )


@router.get("/dashboard/callbacks")
async def callbacks(ctx: Annotated[Ctx, Depends(require_user())]) -> Response:
    """The ConnectWise callbacks this tenant registered, active or not (loaded after the page: it asks ConnectWise)."""
    entries: list[dict[str, Any]] = []
    error = None
    try:
        entries = await CallbackManager(ctx.server.cw, tenant=ctx.tenant)._ours()
    except (CwsyncApiError, ValueError) as exc:
        error = getattr(exc, "message", str(exc))
    return ctx.render("dashboard_callbacks.html", entries=entries, error=error)
