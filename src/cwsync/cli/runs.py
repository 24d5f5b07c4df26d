"""`cwsync runs cancel ID`: stop a run under way, from any shell (PL-4; Hudu's "stop the sync"); `cwsync runs show
ID`: one run's per-record decisions, filtered and paged (PL-4, as `GET /api/runs/{id}`).

The request is a flag in the store's runs table: the run (in this process or another, CLI or `cwsync serve`) reads
it at its next page boundary, finishes the writes in flight, records them and ends as `cancelled`, its cursor where
it was. `cwsync history` lists the runs and their ids.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cwsync.cli.output import console, fail, new_table
from cwsync.cli.sync import CONFIG, JSON, load, run_async

if TYPE_CHECKING:
    from cwsync.store import RunItem, RunRecord

app = typer.Typer(
    no_args_is_help=True, help="One run: its decisions (show) or stop it (cancel); `cwsync history` lists the runs."
)

POLL_SECONDS = 0.2
CANCELLED = (
    "[yellow]cancelled on request[/yellow]: stopped at a page boundary, what it did is recorded, its cursors unchanged"
)
"""The line a sync command prints under a report whose run was cancelled (`cwsync runs cancel`)."""


@app.command("cancel")
def cancel(
    run_id: int = typer.Argument(..., metavar="ID", min=1, help="The run's id (`cwsync history --status running`)."),
    wait: bool = typer.Option(False, "--wait", help="Wait until the run has stopped, then show how it ended."),
    timeout: float = typer.Option(120.0, min=0.0, help="With --wait: give up after this many seconds (exit 1)."),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Stop a running sync at its next page boundary: it ends as cancelled, with what it did so far recorded.

    Exit codes: 0 cancel requested (or the run already ended cancelled), 1 the run is not running (or --wait timed
    out), 2 no such run or a bad configuration.
    """
    from cwsync.engine.runs import request_cancel
    from cwsync.store.schema import read_only

    cfg = load(config)

    async def work() -> RunRecord | None:
        async with read_only(cfg.store) as store:  # not migrated: a store holding a run is current already
            run = await request_cancel(store, cfg.tenant, run_id)
            deadline = time.monotonic() + timeout
            while wait and run is not None and run.status == "running" and time.monotonic() < deadline:
                await _pause()
                run = await store.run(run_id)
            return run

    run = run_async(work)
    if run is None:
        fail(2, f"no run {run_id}", kind="RunNotFound", fix="see `cwsync history` for the runs and their ids")
    if run.status not in ("running", "cancelled"):
        fail(1, f"run {run_id} is not running: it {run.status}", kind="RunNotRunning", fix="nothing to cancel")
    if wait and run.status == "running":
        fail(1, f"run {run_id} has not stopped after {timeout:g} s", kind="CancelTimeout", fix=_STUCK)
    _show(run, as_json=as_json)


_STUCK = (
    "a run stops at its next page boundary; a run whose process was killed stays 'running' until the next run of"
    " the tenant marks it interrupted"
)


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(POLL_SECONDS)


def _show(run: RunRecord, *, as_json: bool) -> None:
    data: dict[str, Any] = run.summary()
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    if run.status == "cancelled":
        counts = ", ".join(f"{k} {v}" for k, v in run.counts.as_dict().items() if v) or "nothing done"
        console.print(f"run {run.run_id} cancelled ({counts}); its cursors stay where they were")
    else:
        console.print(f"cancel requested for run {run.run_id}: it stops at its next page boundary")


@app.command("show")
def show(
    run_id: int = typer.Argument(..., metavar="ID", min=1, help="The run's id (`cwsync history`)."),
    action: str | None = typer.Option(
        None, help="Only this action: create, update, link, skip, unchanged, conflict, delete or fail."
    ),
    status: str | None = typer.Option(None, help="Only this outcome: applied, planned or failed."),
    pair: str | None = typer.Option(None, "--object", help="Only this object (contacts, hudu:sites, products)."),
    record: str | None = typer.Option(None, help="Only the decisions about this record id (either side)."),
    text: str | None = typer.Option(None, help="Only decisions whose reason holds this text (any case)."),
    limit: int = typer.Option(50, min=1, max=1000, help="How many decisions."),
    offset: int = typer.Option(0, min=0, help="Skip this many (the next page)."),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """One run and its per-record decisions, filtered and paged (PL-4): what was done to each record and why.

    Exit codes: 0 shown (no decision matching is not an error), 2 no such run or a bad configuration.
    """
    from cwsync.store.schema import read_only

    cfg = load(config)

    async def work() -> tuple[RunRecord | None, list[RunItem]]:
        async with read_only(cfg.store) as store:
            run = await store.run(run_id)
            if run is None or run.tenant != cfg.tenant:
                return None, []
            filters = {"action": action, "status": status, "pair": pair, "record": record, "text": text}
            return run, await store.run_items(run_id, limit=limit, offset=offset, **filters)

    run, items = run_async(work)
    if run is None:
        fail(2, f"no run {run_id}", kind="RunNotFound", fix="see `cwsync history` for the runs and their ids")
    if as_json:
        print(json.dumps({**run.summary(), "items": [i.summary() for i in items]}, indent=2, default=str))
        return
    counts = ", ".join(f"{k} {v}" for k, v in run.counts.as_dict().items() if v) or "nothing done"
    console.print(f"run {run.run_id}: {run.kind} {run.status} ({counts})")
    table = new_table(title=f"Decisions {offset + 1}–{offset + len(items)}" if items else "No decision matches")
    for column in ("object", "action", "status", "ConnectWise", "other side", "reason"):
        table.add_column(column)
    for i in items:
        table.add_row(i.pair, str(i.action), str(i.status), i.left_id or "", i.right_id or "", i.reason)
    console.print(table)
