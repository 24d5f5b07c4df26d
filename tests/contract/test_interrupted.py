"""A run a killed process left "running" is marked interrupted by the next run of any kind, and by `serve` start.

The stale run is started through a Store object of its own, closed before the next run begins: as a process that
died would leave it (the next run opens the store afresh, in this process through the CLI or the server).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from cwsync.server.app import Server
from cwsync.store import Store
from tests.contract.pairs import CATALOG, DEVICES, HUBSPOT, HUDU, MIRROR, Pair
from tests.contract.rig import World, world

pytestmark = pytest.mark.loopback


async def leave_running(w: World, pairs: list[str]) -> int:
    """Start a run and never finish it (the process "dies": its store is closed)."""
    store = await Store.open(w.config.store)
    try:
        return await store.start_run(w.config.tenant, pairs=pairs, kind="full", trigger="cli")
    finally:
        await store.close()


async def statuses(w: World) -> dict[int, str]:
    """Every run's status in the store, by run id."""
    store = await Store.open(w.config.store)
    try:
        return {run.run_id: run.status for run in await store.runs(w.config.tenant, limit=100)}
    finally:
        await store.close()


def first_company(w: World) -> str:
    """A replay argument: the first ConnectWise company."""
    return f"connectwise:companies:{w.cw_ids('companies')[0]}"


RUNS = [
    pytest.param(HUBSPOT, (), id="hubspot-sync"),
    pytest.param(HUBSPOT, ("--record", "first-company"), id="hubspot-replay"),
    pytest.param(HUDU, (), id="hudu-sync"),
    pytest.param(CATALOG, (), id="catalog-sync"),
    pytest.param(DEVICES, (), id="devices-sync"),
    pytest.param(MIRROR, (), id="mirror-sync"),
]


@pytest.mark.parametrize(("pair", "extra"), RUNS)
def test_the_next_run_of_any_kind_marks_a_dead_run_interrupted(
    pair: Pair, extra: tuple[str, ...], tmp_path: Path
) -> None:
    """A run left "running" (by another pair, too) is interrupted after the next run, which itself succeeds."""
    with world(pair.data, tmp_path, pair.syncs) as w:
        pair.prepare(w)
        stale = asyncio.run(leave_running(w, ["some:other-pair"]))
        args = tuple(first_company(w) if a == "first-company" else a for a in extra)
        code, out = w.cli(*pair.command, *args)
        assert code == 0, out
        runs = asyncio.run(statuses(w))
        assert runs[stale] == "interrupted"
        assert [s for run_id, s in runs.items() if run_id != stale] == ["succeeded"]


SERVE_ONLY = [
    pytest.param(HUDU, id="only-hudu"),
    pytest.param(DEVICES, id="only-change-management"),
]


@pytest.mark.parametrize("pair", SERVE_ONLY)
def test_serve_start_marks_dead_runs_interrupted_with_only_one_integration(pair: Pair, tmp_path: Path) -> None:
    """`Server.start` closes dead runs when the configuration has no HubSpot sync at all (only Hudu, only changes)."""
    with world(pair.data, tmp_path, pair.syncs) as w:
        config = w.config
        assert config.syncs.hubspot is None
        stale = asyncio.run(leave_running(w, [f"{pair.name}:stale"]))

        async def start_and_stop() -> None:
            store = await Store.open(config.store)
            try:
                async with w.cw_client() as cw, httpx.AsyncClient() as key_http:
                    server = Server(config, store, cw, None, key_http, workers=1)
                    await server.start(schedule=False)
                    await server.stop()
            finally:
                await store.close()

        asyncio.run(start_and_stop())
        assert asyncio.run(statuses(w)) == {stale: "interrupted"}
