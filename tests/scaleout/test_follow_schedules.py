"""A tenants directory on PostgreSQL (#14): a reloaded tenant's changed schedules are procrastinate's periodic
tasks from then on, an added tenant's jobs and schedules are taken by the running worker, a removed one's no longer
— without restarting `work` (what `cwsync serve --tenants` and `cwsync worker --tenants` do on a file change)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from cwsync.config import load_config
from cwsync.runtime.procrastinate_runner import queue_of
from cwsync.runtime.scheduler import cron_of
from cwsync.server.deployment import deployment
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import running_sandbox
from tests.scaleout.harness import hubspot_only, write_tenant
from tests.server.test_serve_follows_tenants import _set


def _edit(name: str) -> Any:
    def change(data: Any) -> None:
        hubspot_only(data)
        data["server"]["public_url"] = f"http://127.0.0.1:1/t/{name}"
        data["server"]["api_token"] = f"token-{name}"

    return change


async def _until(check: Any, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_schedules_and_queues_follow_reloaded_added_and_removed_tenants(pg_url: str, tmp_path: Path) -> None:
    """acme's incremental period 5 → 10 min changes its periodic task's cron (the others stay), also when the
    console's save reloaded the server first; globex added gets its queue and periodic tasks in the running worker;
    removed, both are gone; the sweep is never touched."""
    directory, spare = tmp_path / "tenants", tmp_path / "spare"
    with running_sandbox(SandboxSettings(records=10, seed=3)) as box:
        acme = write_tenant(directory, "acme", box, pg_url, edit=_edit("acme")).path
        globex = write_tenant(spare, "globex", box, pg_url, edit=_edit("globex")).path
        async with deployment([load_config(acme)], many=True) as dep:
            assert dep.runner is not None
            runner = dep.runner
            await runner.start()
            work = asyncio.create_task(dep.work(concurrency=1, grace=1))
            try:
                await _until(lambda: queue_of("acme") in dep._queues, "the worker to start")
                periodic = dict(runner.periodic())
                incremental = "sched:acme:companies:incremental"
                assert periodic[incremental] == cron_of(5 * 60)
                assert "sweep" in periodic

                _set(acme, lambda d: d["syncs"]["hubspot"]["schedule"].update(incremental_minutes=10))
                await dep.servers["acme"].reload(load_config(acme))  # a console save: the server only
                assert dict(runner.periodic()) == periodic
                await dep.reload("acme", load_config(acme))  # the follower, after it: registered anew
                changed = dict(runner.periodic())
                assert changed[incremental] == cron_of(10 * 60)
                assert changed["sched:acme:companies:full"] == periodic["sched:acme:companies:full"]
                assert len(changed) == len(periodic)

                await dep.add(load_config(globex))
                assert queue_of("globex") in dep._queues
                assert "globex" in dep.servers
                with_globex = dict(runner.periodic())
                assert with_globex["sched:globex:companies:incremental"] == cron_of(5 * 60)
                assert with_globex[incremental] == cron_of(10 * 60)

                await dep.remove("globex")
                assert queue_of("globex") not in dep._queues
                assert "globex" not in dep.servers
                assert dict(runner.periodic()) == changed
                assert not work.done()
            finally:
                work.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await work
                await runner.stop()
