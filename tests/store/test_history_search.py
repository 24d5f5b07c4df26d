"""Searchable history (PL-4): runs filtered by integration, pair, status, kind, trigger and time, paged; a run's
items by action, status, pair, record and text — in the store, `cwsync history` and `GET /api/runs`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync.engine.record import Recorder
from cwsync.store import Counts, Store
from cwsync.store.store import RUNS

runner = CliRunner()
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


async def _seed(store: Store) -> list[int]:
    """Four runs: HubSpot contacts (cli, succeeded), Hudu sites (schedule, failed), catalog (callback), mirror."""
    ids = []
    plan = [
        (["contacts"], "incremental", "cli", "succeeded"),
        (["hudu:sites", "hudu:contacts"], "full", "schedule", "failed"),
        (["catalog:products"], "record", "callback", "succeeded"),
        (["mirror:tickets"], "full", "schedule", "succeeded"),
    ]
    for n, (pairs, kind, trigger, status) in enumerate(plan):
        run_id = await store.start_run("default", pairs=pairs, kind=kind, trigger=trigger)  # type: ignore[arg-type]
        recorder = Recorder(store, "default", pairs[0], run_id)
        items = [
            recorder.item("create", left_id="11", right_id="a1", reason="new in ConnectWise: create"),
            recorder.item("fail", left_id="12", reason="HubSpot refused: INVALID_DECIMAL", error="bad number"),
            recorder.item("skip", left_id="13", reason="filtered out: customFields/Tier eq 'Gold'"),
        ]
        async with store.transaction() as tx:
            await tx.add_run_items(items)
        await store.finish_run(run_id, status=status, counts=Counts())  # type: ignore[arg-type]
        async with store._connect(write=True) as conn, conn.begin():  # started at a known hour, for the time filters
            await conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(started_at=T0 + timedelta(hours=n)))
        ids.append(run_id)
    return ids


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A fresh store on SQLite and on PostgreSQL (the JSON queries differ by dialect)."""
    from tests.store.test_store import opened_store

    async with opened_store(request.param, tmp_path) as opened:
        yield opened


async def test_runs_filter_and_page(store: Store) -> None:
    ids = await _seed(store)
    assert [r.run_id for r in await store.runs("default", integration="hudu")] == [ids[1]]
    assert [r.run_id for r in await store.runs("default", pair="contacts")] == [ids[0]]
    assert [r.run_id for r in await store.runs("default", status="failed")] == [ids[1]]
    assert [r.run_id for r in await store.runs("default", kind="full")] == [ids[3], ids[1]]
    assert [r.run_id for r in await store.runs("default", trigger="callback")] == [ids[2]]
    window = await store.runs("default", since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
    assert [r.run_id for r in window] == [ids[2], ids[1]]
    assert [r.run_id for r in await store.runs("default", limit=2, offset=1)] == [ids[2], ids[1]]


async def test_run_items_filter_by_action_status_record_and_text(store: Store) -> None:
    ids = await _seed(store)
    run = ids[0]
    assert [i.left_id for i in await store.run_items(run, action="fail")] == ["12"]
    assert [i.left_id for i in await store.run_items(run, status="failed")] == ["12"]
    assert [i.left_id for i in await store.run_items(run, record="a1")] == ["11"]
    assert [i.left_id for i in await store.run_items(run, text="tier EQ")] == ["13"]
    assert [i.left_id for i in await store.run_items(run, text="100%_")] == []  # LIKE wildcards are literal


def test_history_command_filters(tmp_path: Path) -> None:
    import asyncio

    config = tmp_path / "cwsync.yaml"
    assert runner.invoke(app, ["init", str(config), "--sandbox"]).exit_code == 0

    async def seed() -> list[int]:
        from cwsync.config import load_config

        opened = await Store.open(load_config(config).store)
        try:
            return await _seed(opened)
        finally:
            await opened.close()

    ids = asyncio.run(seed())
    result = runner.invoke(app, ["history", "-c", str(config), "--integration", "hudu", "--json"])
    assert result.exit_code == 0, result.stdout
    assert [r["run_id"] for r in json.loads(result.stdout)] == [ids[1]]
    result = runner.invoke(app, ["history", "-c", str(config), "--since", "2026-12-01T10:00", "--json"])
    assert [r["run_id"] for r in json.loads(result.stdout)] == [ids[3], ids[2]]
