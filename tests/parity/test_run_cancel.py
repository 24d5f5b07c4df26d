"""Stopping a run (`POST /api/runs/{id}/cancel`, `cwsync runs cancel ID`): the answers, and a run in this server's
process stopping at a page boundary with what it did recorded and its cursor unmoved.

The cross-process case (a CLI sync cancelled from another shell) for every loop is `tests/contract/test_cancel.py`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync.engine.engine import Engine
from cwsync.engine.pair import Raw
from cwsync.store import Counts, Store
from tests.engine.test_engine_hooks import PAIR, ListSource, MemoryTarget, pair, things
from tests.server.test_server import API, System, system

__all__ = ["system"]  # the fixture, imported for its use here

AUTH = {"Authorization": f"Bearer {API}"}
PAGE = 50


class CancellingSource(ListSource):
    """Pages of records; before the third it asks the server's API to cancel the run reading them."""

    def __init__(self, system: System, records: list[Raw]) -> None:
        super().__init__(records, page=PAGE)
        self.system = system
        self.answer: int | None = None

    async def changed(self, since: datetime | None) -> AsyncIterator[list[Raw]]:
        async for n, page in _numbered(super().changed(since)):
            if n == 3:
                [run] = await self.system.server.store.runs("default", status="running")
                reply = await self.system.app.post(f"/api/runs/{run.run_id}/cancel", headers=AUTH)
                self.answer = reply.status_code
            yield page


async def _numbered(pages: AsyncIterator[list[Raw]]) -> AsyncIterator[tuple[int, list[Raw]]]:
    n = 0
    async for page in pages:
        n += 1
        yield n, page


async def test_the_cancel_route_answers_404_409_and_needs_its_token(system: System) -> None:
    """No token 401, an unknown run 404, a run that ended 409; a running one 202 with the request's time."""
    [done] = await system.server.store.runs("default", limit=1)
    assert (await system.app.post(f"/api/runs/{done.run_id}/cancel")).status_code == 401
    assert (await system.app.post("/api/runs/999999/cancel", headers=AUTH)).status_code == 404
    ended = await system.app.post(f"/api/runs/{done.run_id}/cancel", headers=AUTH)
    assert (ended.status_code, "succeeded") == (409, done.status)
    running = await system.server.store.start_run("default", pairs=["x"], kind="full", trigger="cli")
    asked = await system.app.post(f"/api/runs/{running}/cancel", headers=AUTH)
    assert asked.status_code == 202
    assert (asked.json()["status"], asked.json()["cancel_requested_at"] is not None) == ("running", True)
    assert (await system.app.post(f"/api/runs/{running}/cancel", headers=AUTH)).status_code == 202  # again: same


async def test_a_run_cancelled_over_the_api_stops_at_a_page_boundary_and_the_next_converges(system: System) -> None:
    """Cancelled before its third page: the run is cancelled, its writes recorded, its cursor unset; a re-run
    writes the rest and nothing twice."""
    store, records = system.server.store, things(5 * PAGE)
    target = MemoryTarget()
    source = CancellingSource(system, records)
    outcome = await Engine(store, "default").run([pair(source, target, batch=PAGE)])
    assert (outcome.cancelled, source.answer) == (True, 202)
    run = await store.run(outcome.run_id or 0)
    assert run is not None
    assert run.status == "cancelled"
    assert run.counts.created == len(target.rows) in (PAGE, 2 * PAGE)  # the pages before the request, all recorded
    items = await store.run_items(run.run_id, limit=1000)
    assert len(items) == len(target.rows)
    assert await store.link_count("default", PAIR) == len(target.rows)
    assert await store.cursor("default", PAIR, "left") is None  # not completed: the next run reads it all again
    again = await Engine(store, "default").run([pair(ListSource(records, page=PAGE), target, batch=PAGE)])
    assert (again.cancelled, again.counts.created, len(target.rows)) == (False, len(records) - run.counts.created, 250)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"CWSYNC_LOG_LEVEL": "error"})
    return result.exit_code, result.stdout if "--json" in args else result.output


def test_runs_cancel_on_the_command_line(tmp_path: Path) -> None:
    """`cwsync runs cancel`: exit 2 for no such run, 1 for one that ended or --wait that timed out, 0 asked."""
    config = tmp_path / "cwsync.yaml"
    assert _cli("init", str(config), "--sandbox", "--store", f"sqlite:///{tmp_path / 'c.db'}")[0] == 0

    async def runs() -> tuple[int, int]:
        store = await Store.open(f"sqlite:///{tmp_path / 'c.db'}")
        try:
            ended = await store.start_run("default", pairs=["contacts"], kind="full", trigger="cli")
            await store.finish_run(ended, status="succeeded", counts=Counts(created=2))
            return ended, await store.start_run("default", pairs=["contacts"], kind="full", trigger="cli")
        finally:
            await store.close()

    ended, running = asyncio.run(runs())
    code, out = _cli("runs", "cancel", "999", "-c", str(config))
    assert (code, "no run 999" in out) == (2, True)
    code, out = _cli("runs", "cancel", str(ended), "-c", str(config), "--json")
    assert (code, json.loads(out)["error"]["type"]) == (1, "RunNotRunning")
    code, out = _cli("runs", "cancel", str(running), "-c", str(config))
    assert (code, "stops at its next page boundary" in out) == (0, True)
    code, out = _cli("runs", "cancel", str(running), "--wait", "--timeout", "0", "-c", str(config), "--json")
    assert (code, json.loads(out)["error"]["type"]) == (1, "CancelTimeout")  # nobody runs it: it cannot stop
