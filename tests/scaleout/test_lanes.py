"""Lanes on real PostgreSQL and sandboxes: a tenant's long HubSpot run does not hold its Hudu callbacks back.

One tenant with the HubSpot and Hudu syncs on a sandbox whose HubSpot answers slowly; a full HubSpot run is queued
and, while it runs, a Hudu record is replayed through the tenant's REST API: its run finishes before the HubSpot
one does (another lane), on a procrastinate worker of the same process.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx

from cwsync.config.tenants import load_tenants
from cwsync.runtime.jobs import JobSpec
from cwsync.server.deployment import deployment
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import running_sandbox
from tests.conftest import auth_headers
from tests.scaleout.harness import write_tenant

ME = "http://testserver"
HUBSPOT_LATENCY_MS = 400  # every HubSpot call: a first full run of the contacts takes several seconds


def _hubspot_and_hudu(data: Any) -> None:
    for name in list(data["syncs"]):
        if name not in ("hubspot", "hudu"):
            del data["syncs"][name]
    data["server"]["public_url"] = f"{ME}/t/acme"
    data["server"]["api_token"] = "token-acme"


async def _until(check: Any, what: str, seconds: float = 60) -> Any:
    """Poll `check()` (a coroutine function) until it returns something truthy, within a deadline."""
    async with asyncio.timeout(seconds):
        while not (found := await check()):  # noqa: ASYNC110 - the store is polled, not an event
            await asyncio.sleep(0.05)
    return found


async def test_a_hudu_replay_completes_during_a_long_hubspot_run(tmp_path: Path, pg_url: str) -> None:
    """The Hudu run of a replay starts and succeeds while the tenant's full HubSpot run is still running."""
    directory = tmp_path / "tenants"
    with running_sandbox(SandboxSettings(records=60, seed=7)) as box:
        write_tenant(directory, "acme", box, pg_url, edit=_hubspot_and_hudu)
        faults = f"{box.hubspot_url}/_sandbox/faults"
        async with deployment(load_tenants(directory), many=True) as dep:
            assert dep.runner is not None
            app = await dep.app()
            await dep.start(schedule=False)
            worker = asyncio.create_task(dep.work(concurrency=2, grace=5, schedule=False))
            try:
                async with (
                    httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ME) as http,
                    httpx.AsyncClient() as sandbox,
                ):
                    assert (await sandbox.put(faults, json={"latency_ms": HUBSPOT_LATENCY_MS})).status_code == 200
                    full = JobSpec(tenant="acme", pair="contacts", kind="full", payload={"trigger": "api"})
                    await dep.runner.enqueue(full)

                    async def hubspot_running() -> Any:
                        runs = await dep.store.runs("acme", limit=10)
                        return next((r for r in runs if r.pairs == ("contacts",) and r.status == "running"), None)

                    hubspot = await _until(hubspot_running, "the HubSpot run to start")
                    configuration = _configuration_id(box)
                    replay = f"/t/acme/api/records/connectwise/hudu:configurations/{configuration}/replay"
                    answer = await http.post(replay, headers={"Authorization": "Bearer token-acme"})
                    assert answer.status_code == 202, answer.text

                    async def hudu_done() -> Any:
                        runs = await dep.store.runs("acme", limit=10)
                        return [r for r in runs if r.pairs and r.pairs[0].startswith("hudu") and r.finished_at]

                    hudu = (await _until(hudu_done, "the Hudu run"))[0]
                    assert hudu.status == "succeeded", hudu
                    now = (await dep.store.run(hubspot.run_id)).status  # type: ignore[union-attr]
                    assert now == "running"  # the HubSpot run is still going: the Hudu one did not wait for it
                    assert (await sandbox.put(faults, json={"latency_ms": 0})).status_code == 200

                    async def hubspot_done() -> Any:
                        run = await dep.store.run(hubspot.run_id)
                        return run if run is not None and run.status != "running" else None

                    assert (await _until(hubspot_done, "the HubSpot run to end")).status == "succeeded"
            finally:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
                await dep.stop(grace=5)


def _configuration_id(box: Any) -> int:
    """A ConnectWise configuration of the sandbox (what the Hudu replay names)."""
    api, headers = box.sandbox.api_root, auth_headers(box.sandbox.settings)
    found = httpx.get(f"{api}/company/configurations", params={"pageSize": 1}, headers=headers).json()
    return int(found[0]["id"])
