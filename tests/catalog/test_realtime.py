"""The catalog under `cwsync serve`: a `productcatalog` callback brings a changed product to HubSpot, and the
schedule runs the catalog sync."""

from __future__ import annotations

import httpx

from cwsync.config.model import ServerConfig
from cwsync.runtime.callbacks import CallbackManager, desired_callbacks
from cwsync.server.app import Server, create_app
from cwsync.server.registry import CATALOG
from cwsync_sandbox.connectwise.app import create_app as create_cw_app
from tests.catalog.conftest import CW_BASE, World

ME, TOKEN = "http://cwsync.test", "callback-token-catalog-1"


async def test_a_product_change_reaches_hubspot_through_its_callback(world: World) -> None:
    """Change a price in ConnectWise → signed `productcatalog` callback → catalog job → the HubSpot product."""
    await world.engine().run()
    item = next(i for i in world.cw_all("catalog_items") if not i.get("inactiveFlag"))
    server_config = ServerConfig(
        public_url=ME, callback_token=TOKEN, api_token="api-token-456", allow_http_key_urls=[CW_BASE]
    )
    config = world.config.model_copy(update={"server": server_config})
    key_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cw_app(world.cw_box)))
    server = Server(config, world.store, world.cw, world.hs, key_http, workers=2, callback_debounce=0)
    assert (CATALOG.name, "incremental") in [(s.pair, s.kind) for s in server.schedules()]
    world.cw_box.callbacks.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(server)))
    specs = desired_callbacks(types=["productcatalog"], public_url=ME, tenant=config.tenant)
    await CallbackManager(world.cw, tenant=config.tenant).install(specs)
    await server.start(schedule=False)
    try:
        ops = [{"op": "replace", "path": "price", "value": 777.25}]
        await world.cw.patch("procurement/catalog", item["id"], ops)
        await world.cw_box.callbacks.drain()
        assert [d.status for d in world.cw_box.callbacks.deliveries][-1] == 204
        await server.runner.wait_idle(timeout=30)
    finally:
        await server.stop()
        await world.cw_box.callbacks.http.aclose()
        await key_http.aclose()
    assert world.products()[str(item["identifier"])]["price"] == "777.25"
    [run] = await world.store.runs(config.tenant, limit=1)
    assert (run.trigger, run.status) == ("callback", "succeeded")


async def test_the_api_replays_one_catalog_product(world: World) -> None:
    """`POST /api/records/connectwise/products/{id}/replay`: the changed product reaches HubSpot at once."""
    await world.engine().run()
    item = next(i for i in world.cw_all("catalog_items") if not i.get("inactiveFlag"))
    server_config = ServerConfig(public_url=ME, api_token="api-token-456")
    config = world.config.model_copy(update={"server": server_config})
    key_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cw_app(world.cw_box)))
    server = Server(config, world.store, world.cw, world.hs, key_http, workers=1, callback_debounce=0)
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(server)),
        base_url=ME,
        headers={"Authorization": "Bearer api-token-456"},
    )
    await server.start(schedule=False)
    try:
        await world.cw.patch("procurement/catalog", item["id"], [{"op": "replace", "path": "price", "value": 12.5}])
        answer = await api.post(f"/api/records/connectwise/products/{item['id']}/replay")
        assert answer.status_code == 202, answer.text
        await server.runner.wait_idle(timeout=30)
    finally:
        await server.stop()
        await api.aclose()
        await key_http.aclose()
    assert world.products()[str(item["identifier"])]["price"] == "12.50"
    [run] = await world.store.runs(config.tenant, limit=1)
    assert (run.kind, run.trigger, run.status) == ("record", "api", "succeeded")
