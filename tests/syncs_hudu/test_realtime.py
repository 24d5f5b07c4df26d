"""The Hudu sync under `cwsync serve`: a ConnectWise change reaches Hudu through its callback, and the schedule."""

from __future__ import annotations

from typing import Any

import httpx

from cwsync.config.model import ServerConfig
from cwsync.connectors.connectwise import replace_ops
from cwsync.connectors.hudu import HuduClient
from cwsync.integrations.hudu.context import hudu_settings
from cwsync.runtime.callbacks import CallbackManager, desired_callbacks
from cwsync.runtime.jobs import JobSpec
from cwsync.server.app import Server, create_app
from cwsync.server.registry import HUBSPOT, HUDU
from cwsync_sandbox.connectwise.app import create_app as create_cw_app
from cwsync_sandbox.hudu import create_hudu_app
from tests.syncs_hudu.conftest import World, cw_record, no_sleep

ME, TOKEN = "http://cwsync.test", "callback-token-hudu-1"


def _server(world: World) -> tuple[Server, httpx.AsyncClient]:
    """`cwsync serve` for a Hudu-only configuration (no HubSpot), wired to both emulators in-process."""
    server_config = ServerConfig(
        public_url=ME,
        callback_token=TOKEN,
        api_token="api-token-456",
        allow_http_key_urls=[world.cw_box.settings.base_url],
    )
    world.config = world.config.model_copy(update={"server": server_config})
    key_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cw_app(world.cw_box)))
    server = Server(world.config, world.store, world.cw, None, key_http, workers=2, callback_debounce=0)
    hudu_app = create_hudu_app(world.hudu_box)

    def hudu_client() -> HuduClient:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=hudu_app))
        return HuduClient(hudu_settings(world.config), http=http, sleep=no_sleep)

    server.clients[HUDU.name] = hudu_client
    return server, key_http


def _synced_configuration(world: World) -> tuple[int, dict[str, Any]]:
    """Company 7's Hudu company id, and one of its configurations that the sync made an asset of."""
    hudu_id = world.hudu_company_id(cw_record(world.cw_box, "companies", 7)["name"])
    names = {a["name"] for a in world.assets(hudu_id)}
    config = next(
        record
        for i in world.cw_box.store.ids("configurations")
        if (record := cw_record(world.cw_box, "configurations", i))["company"]["id"] == 7 and record["name"] in names
    )
    return hudu_id, config


async def test_a_configuration_change_reaches_hudu_through_its_callback(world: World) -> None:
    """A changed configuration → signed callback → Hudu re-sync job of configurations → the asset is updated."""
    await world.match(7)
    await world.sync()
    server, key_http = _server(world)
    assert HUBSPOT.engine(server) is None  # no HubSpot sync configured: the server runs the Hudu side alone
    schedules = [(s.pair, s.kind, s.every_seconds) for s in server.schedules()]
    assert schedules == [(HUDU.name, "incremental", 15 * 60), (HUDU.name, "full", 3 * 3600)]
    app = create_app(server)
    world.cw_box.callbacks.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    specs = desired_callbacks(types=["configuration"], public_url=ME, tenant=world.config.tenant)
    await CallbackManager(world.cw, tenant=world.config.tenant).install(specs)
    await server.start(schedule=False)
    try:
        hudu_id = world.hudu_company_id(cw_record(world.cw_box, "companies", 7)["name"])
        names = {a["name"] for a in world.assets(hudu_id)}
        config = next(
            record
            for i in world.cw_box.store.ids("configurations")
            if (record := cw_record(world.cw_box, "configurations", i))["company"]["id"] == 7
            and record["name"] in names
            and record["type"]["name"] in ("Managed Server", "Legacy Server", "Virtual Machine", "Firewall", "Switch")
        )
        await world.cw.patch("company/configurations", config["id"], replace_ops({"ipAddress": "10.77.0.9"}))
        await world.cw_box.callbacks.drain()
        assert [d.status for d in world.cw_box.callbacks.deliveries][-1] == 204
        await server.runner.wait_idle(timeout=30)
    finally:
        await server.stop()
        await world.cw_box.callbacks.http.aclose()
        await key_http.aclose()
    [asset] = [a for a in world.assets(hudu_id) if a["name"] == config["name"]]
    assert next(f["value"] for f in asset["fields"] if f["label"] == "IP Address") == "10.77.0.9"
    [run] = await world.store.runs(world.config.tenant, limit=1)
    assert (run.trigger, run.status) == ("callback", "succeeded")


async def test_the_scheduled_incremental_resync_reads_what_changed_and_the_full_one_everything(world: World) -> None:
    """Between the 3-hourly full re-syncs, the scheduled incremental one (`schedule.incremental_minutes`) reads only
    what changed in ConnectWise since the cursor and trusts the links; the full one reads every record."""
    await world.match(7)
    await world.sync()
    server, key_http = _server(world)
    await server.start(schedule=False)
    try:
        hudu_id, config = _synced_configuration(world)
        await world.cw.patch("company/configurations", config["id"], replace_ops({"ipAddress": "10.77.0.11"}))
        for kind in ("incremental", "full"):
            spec = JobSpec(tenant=world.config.tenant, pair=HUDU.name, kind=kind, queueing_key=f"t:{kind}", payload={})
            await server.runner.enqueue(spec)
            await server.runner.wait_idle(timeout=30)
    finally:
        await server.stop()
        await key_http.aclose()
    [asset] = [a for a in world.assets(hudu_id) if a["name"] == config["name"]]
    assert next(f["value"] for f in asset["fields"] if f["label"] == "IP Address") == "10.77.0.11"
    full, quick = await world.store.runs(world.config.tenant, limit=2)
    assert (quick.kind, quick.trigger, quick.status) == ("incremental", "schedule", "succeeded")
    assert (full.kind, full.trigger, full.status) == ("full", "schedule", "succeeded")
    assert quick.counts.updated >= 1
    read_quick = sum(quick.counts.as_dict().values())
    read_full = sum(full.counts.as_dict().values())
    assert read_quick < read_full  # the quick one decided about what changed only; the full one about every record


async def test_the_api_replays_one_configuration_into_hudu(world: World) -> None:
    """BY-2 for Hudu: `POST /api/records/connectwise/hudu:configurations/{id}/replay` queues a record job that
    re-syncs that configuration alone (a run of kind `record`, one decision), and an unknown data type is a 404."""
    await world.match(7)
    await world.sync()
    server, key_http = _server(world)
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(server)),
        base_url=ME,
        headers={"Authorization": "Bearer api-token-456"},
    )
    await server.start(schedule=False)
    try:
        hudu_id, config = _synced_configuration(world)
        await world.cw.patch("company/configurations", config["id"], replace_ops({"ipAddress": "10.77.0.10"}))
        answer = await api.post(f"/api/records/connectwise/hudu:configurations/{config['id']}/replay")
        assert answer.status_code == 202, answer.text
        await server.runner.wait_idle(timeout=30)
        unknown = await api.post("/api/records/connectwise/hudu:tickets/1/replay")
        assert unknown.status_code == 404
    finally:
        await server.stop()
        await api.aclose()
        await key_http.aclose()
    [asset] = [a for a in world.assets(hudu_id) if a["name"] == config["name"]]
    assert next(f["value"] for f in asset["fields"] if f["label"] == "IP Address") == "10.77.0.10"
    [run] = await world.store.runs(world.config.tenant, limit=1)
    assert (run.kind, run.trigger, run.status) == ("record", "api", "succeeded")
    assert (run.counts.updated, run.counts.total) == (1, 1)
