"""The `/api/devices` routes of `cwsync serve` (in-process ASGI) against the sandbox served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.server.app import Server, create_app
from tests.changes.conftest import World
from tests.changes.test_api import API_TOKEN, ME, server_config

TYPES = {"Managed Server": "Server", "Firewall": "Firewall", "Switch": "Network Switch"}


async def _client(world: World, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    hs = HubSpotClient(HubSpotSettings(token="unused", base_url="http://hs.invalid"))
    key_http = httpx.AsyncClient()
    server = Server(server_config(world, **changes), world.store, world.cw, hs, key_http)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    transport = httpx.ASGITransport(app=create_app(server))
    async with httpx.AsyncClient(transport=transport, base_url=ME, headers=headers) as http:
        yield http
    await key_http.aclose()
    await hs.aclose()


@pytest.fixture
async def http(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The API with device sync configured for every company."""
    async for client in _client(world, devices={"types": TYPES}):
        yield client


async def test_sync_list_and_show_devices(http: httpx.AsyncClient, world: World) -> None:
    """A sync reports its counts; devices are listed by hostname and company, and shown with their changes."""
    first = await http.post("/api/devices/sync")
    assert first.status_code == 200, first.text
    report = first.json()
    assert report["kind"] == "full"
    assert report["created"] > 0
    assert report["read"] == report["created"] + report["skipped"]
    again = await http.post("/api/devices/sync", params={"full": "true"})
    assert again.json()["unchanged"] == report["created"]
    assert (again.json()["created"], again.json()["updated"]) == (0, 0)

    listed = await http.get("/api/devices", params={"hostname": "lls-", "company": "LighthouseLegal5"})
    assert listed.status_code == 200
    names = [d["hostname"] for d in listed.json()]
    assert "lls-fw01" in names
    assert all(n.startswith("lls-") for n in names)
    assert {d["company"] for d in listed.json()} == {"LighthouseLegal5"}
    by_id = await http.get("/api/devices", params={"company": "5", "limit": 1000})
    assert {d["hostname"] for d in by_id.json()} == {d["hostname"] for d in listed.json()}

    link = {"change_id": "CHG-A1", "company": "lighthouse", "ticket_id": world.tickets["help_desk"]}
    linked = await http.post("/api/changes/link", json=link | {"description": "Reboot @LLS-FW01 and @ghost"})
    assert linked.status_code == 200, linked.text
    assert (linked.json()["devices"], linked.json()["unknown_devices"]) == (["lls-fw01"], ["ghost"])
    shown = await http.get("/api/devices/LLS-FW01")
    assert shown.status_code == 200
    assert shown.json()["device"]["device_type"] == "Firewall"
    assert shown.json()["changes"] == ["CHG-A1"]
    change = (await http.get("/api/changes/CHG-A1")).json()
    assert [d["hostname"] for d in change["devices"]] == ["lls-fw01"]


async def test_device_errors_have_codes(http: httpx.AsyncClient) -> None:
    """An unknown hostname answers 404 unknown_device; routes need the token."""
    await http.post("/api/devices/sync")
    missing = await http.get("/api/devices/no-such-host")
    assert missing.status_code == 404
    assert missing.json()["error"] == "unknown_device"
    other = await http.get("/api/devices/lls-fw01", params={"company": "MesaRealty8"})
    assert other.status_code == 404
    async with httpx.AsyncClient(transport=http._transport, base_url=ME) as anonymous:
        assert (await anonymous.get("/api/devices")).status_code == 401
        assert (await anonymous.post("/api/devices/sync")).status_code == 401


async def test_sync_without_a_device_section_is_refused(world: World) -> None:
    """Without `devices:` the sync route answers 404 devices_not_configured and says what to add."""
    async for http in _client(world):
        refused = await http.post("/api/devices/sync")
        assert refused.status_code == 404
        assert refused.json()["error"] == "devices_not_configured"
        assert "devices:" in refused.json()["reason"]


async def test_serve_schedules_device_syncs_and_runs_them_as_jobs(world: World) -> None:
    """With a `devices` section, `cwsync serve` schedules incremental and full device runs; a queued one syncs."""
    from cwsync.runtime.jobs import JobSpec
    from cwsync.server.registry import DEVICES

    key_http = httpx.AsyncClient()
    config = server_config(world, devices={"types": TYPES, "schedule": {"incremental_minutes": 30, "full_hours": 12}})
    server = Server(config, world.store, world.cw, None, key_http)
    schedules = {(s.pair, s.kind): s.every_seconds for s in server.schedules()}
    assert schedules == {(DEVICES.name, "incremental"): 1800, (DEVICES.name, "full"): 12 * 3600}
    await server.start(schedule=False)
    try:
        spec = JobSpec(tenant=config.tenant, pair=DEVICES.name, kind="full", payload={"trigger": "schedule"})
        await server.runner.enqueue(spec)
        await server.runner.wait_idle(timeout=30)
    finally:
        await server.stop()
        await key_http.aclose()
    [run] = await world.store.runs(config.tenant, limit=1)
    assert (run.trigger, run.status, run.kind) == ("schedule", "succeeded", "full")
    assert run.counts.created > 0
    assert (await server.jobs.counts())["done"] == 1


async def test_the_api_replays_one_configuration_into_the_inventory(world: World) -> None:
    """`POST /api/records/connectwise/devices/{id}/replay` queues a record job that re-reads that configuration."""
    key_http = httpx.AsyncClient()
    config = server_config(world, devices={"types": TYPES})
    server = Server(config, world.store, world.cw, None, key_http)
    transport = httpx.ASGITransport(app=create_app(server))
    api = httpx.AsyncClient(transport=transport, base_url=ME, headers={"Authorization": f"Bearer {API_TOKEN}"})
    await server.start(schedule=False)
    try:
        assert (await api.post("/api/devices/sync")).status_code == 200
        everything = [r async for r in world.cw.stream_records("company/configurations", fields="id,name,type/name")]
        device = next(r for r in everything if r["type"]["name"] == "Managed Server")
        rename = [{"op": "replace", "path": "name", "value": "API-1"}]
        await world.cw.patch("company/configurations", device["id"], rename)

        answer = await api.post(f"/api/records/connectwise/devices/{device['id']}/replay")

        assert answer.status_code == 202, answer.text
        await server.runner.wait_idle(timeout=30)
        found = (await api.get("/api/devices", params={"hostname": "api-1"})).json()
    finally:
        await server.stop()
        await api.aclose()
        await key_http.aclose()
    assert [d["name"] for d in found] == ["API-1"]
    [run] = await world.store.runs(config.tenant, limit=1)
    assert (run.kind, run.trigger, run.pairs) == ("record", "api", ("devices",))
