"""Plan before you enable (BY-1): a dry run of the enabled integrations from the console, its items browsable —
create / update / link / skip with field diffs and reasons, filterable — before a sync is switched on.

A plan writes nothing (not even a run in the store): its items are kept in this server's memory (the latest
`KEPT` plans) and shown while it runs, with htmx polling the page.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Form, Path, Query, Response

from cwsync.console.nav import Screen, add_screen
from cwsync.console.web import ConsoleError, Ctx, require_user
from cwsync.server.limits import MAX_ID

router = APIRouter()
add_screen(Screen("plan", "/plans", "Plan", "Operate", order=20))
log = structlog.get_logger("cwsync.console")

KEPT = 5
PAGE = 100
_IDS = itertools.count(1)


@dataclass
class PlanRun:
    """A dry run the console started."""

    plan_id: int
    integrations: list[str]
    started_at: datetime
    status: str = "running"
    items: list[dict[str, Any]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    unplanned: list[str] = field(default_factory=list)
    """Integrations without a dry run (their CLI `--plan` shows one)."""
    task: asyncio.Task[None] | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Items per action."""
        return dict(Counter(item["action"] for item in self.items))


def _plans(ctx: Ctx) -> dict[int, PlanRun]:
    plans: dict[int, PlanRun] = ctx.background.setdefault("plans", {})
    return plans


async def _run(ctx: Ctx, plan: PlanRun, chosen: list[Any]) -> None:
    for entry in chosen:
        try:
            found = await entry.plan(ctx.server)
        except Exception as exc:  # a fatal API error of one integration: shown with its reason, the others go on
            log.warning("console.plan_failed", integration=entry.name, error=str(exc))
            plan.errors[entry.name] = str(exc) or type(exc).__name__
            continue
        if found is None:
            plan.unplanned.append(entry.name)
            continue
        plan.items.extend({**item, "integration": entry.name} for item in found)
    plan.status = "failed" if plan.errors and not plan.items else "done"


@router.get("/plans")
async def plans(ctx: Annotated[Ctx, Depends(require_user())]) -> Response:
    """The integrations that can plan, and the latest plans."""
    ready = [entry.name for entry in ctx.server.integrations()]
    return ctx.render(
        "plans.html", title="Plan", ready=ready, plans=sorted(_plans(ctx).values(), key=lambda p: -p.plan_id)
    )


@router.post("/plans")
async def start(
    ctx: Annotated[Ctx, Depends(require_user(viewer_may_post=True))],
    integration: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Start a dry run of one enabled integration (or all): it reads both sides and writes nothing."""
    enabled = ctx.server.integrations()
    chosen = [e for e in enabled if not integration or e.name == integration]
    if not chosen:
        raise ConsoleError(404, "Nothing to plan", f"{integration or 'no integration'} is not enabled")
    plan = PlanRun(next(_IDS), [e.name for e in chosen], datetime.now(UTC))
    kept = _plans(ctx)
    kept[plan.plan_id] = plan
    for old in sorted(kept)[:-KEPT]:
        kept.pop(old)
    plan.task = asyncio.create_task(_run(ctx, plan, chosen))
    return ctx.redirect(f"/plans/{plan.plan_id}", "planning: nothing is written")


@router.get("/plans/{plan_id}")
async def plan_page(
    ctx: Annotated[Ctx, Depends(require_user())],
    plan_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    action: Annotated[str | None, Query(max_length=16)] = None,
    pair: Annotated[str | None, Query(max_length=128)] = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> Response:
    """A plan's items, filtered by action, object and text (a record id or words of the reason)."""
    plan = _plans(ctx).get(plan_id)
    if plan is None:
        raise ConsoleError(404, "No such plan", "plans are kept in memory: start a new one")
    needle = (text or "").strip().lower()
    items = [
        item
        for item in plan.items
        if (not action or item["action"] == action)
        and (not pair or item["pair"] == pair)
        and (
            not needle
            or needle in str(item["reason"]).lower()
            or needle == str(item["connectwise_id"] or "").lower()
            or needle == str(item["other_id"] or "").lower()
        )
    ]
    template = "plan_body.html" if ctx.request.headers.get("hx-request") else "plan.html"
    return ctx.render(
        template,
        title=f"Plan {plan_id}",
        plan=plan,
        items=items[offset : offset + PAGE],
        matched=len(items),
        offset=offset,
        page=PAGE,
        filters={"action": action or "", "pair": pair or "", "text": text or ""},
        pairs=sorted({item["pair"] for item in plan.items}),
        actions=sorted({item["action"] for item in plan.items}),
    )
