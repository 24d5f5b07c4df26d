"""SB-1 under `cwsync serve`: a company type added in ConnectWise while the server runs becomes an option of HubSpot's
`connectwise_company_type` dropdown with the next scheduled companies run — no restart — or at once when a callback
brings a company of that type; a run whose ConnectWise list did not change sends HubSpot nothing about the dropdown;
the catalog's lists (a manufacturer) follow with each scheduled catalog run. The server, its job runner and
scheduler in-process against both sandboxes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cwsync.config.model import ServerConfig
from cwsync.integrations.hubspot.properties import COMPANY_TYPE_PROPERTY
from cwsync.runtime.scheduler import Scheduler
from cwsync.server.app import Server
from cwsync.server.registry import CATALOG
from cwsync_sandbox.connectwise.app import create_app as create_cw_app
from tests.catalog.conftest import World as CatalogWorld
from tests.catalog.conftest import world
from tests.server.test_server import System, system

__all__ = ["system", "world"]  # the fixtures, used here


def options(system: System) -> list[str]:
    """The dropdown's visible options, as the HubSpot sandbox holds them."""
    prop = system.hs_box.state.properties["companies"][COMPANY_TYPE_PROPERTY]
    return [str(o["value"]) for o in prop["options"] if not o.get("hidden")]


async def scheduled_runs(system: System, scheduler: Scheduler, at: datetime) -> None:
    """The scheduler's slot at `at`: its jobs enqueued, then run by the server's runner."""
    assert await scheduler.tick(at)
    await system.server.runner.wait_idle(timeout=60)


def counting(system: System, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls the server's HubSpot client makes to read property definitions and to update one."""
    calls: Counter[str] = Counter()
    for name in ("properties", "update_property"):
        method = getattr(system.server.hs, name)

        async def counted(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls[_name] += 1
            return await _method(*args, **kwargs)

        monkeypatch.setattr(system.server.hs, name, counted)
    return calls


async def test_a_type_added_in_connectwise_reaches_the_dropdown_with_the_next_scheduled_run(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No record has the new type yet: the next scheduled run imports it (one dropdown update); the run after
    that, the list unchanged, sends HubSpot nothing about it."""
    server = system.server
    assert "Managed Partner" not in options(system)
    await server.cw.create("company/companies/types", {"name": "Managed Partner"})
    calls = counting(system, monkeypatch)
    scheduler = Scheduler(server.runner, server.schedules())
    start = datetime.now(UTC)
    await scheduler.tick(start)  # the first tick notes the current slots
    minutes = server.config.syncs.hubspot.schedule.incremental_minutes  # type: ignore[union-attr]
    await scheduled_runs(system, scheduler, start + timedelta(minutes=minutes))
    assert "Managed Partner" in options(system)
    assert calls["update_property"] == 1

    calls.clear()
    await scheduled_runs(system, scheduler, start + timedelta(minutes=2 * minutes))
    assert (calls["properties"], calls["update_property"]) == (0, 0)  # the list is as it was: one ConnectWise read


async def test_a_callback_for_a_company_of_a_new_type_imports_it_first(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A company given a type added in ConnectWise since the last import: its callback's record job imports the
    type into the dropdown before writing the company, which holds it — no scheduled run needed; a later callback
    for a company of known types reads no list."""
    server = system.server
    created = await server.cw.create("company/companies/types", {"name": "Co-managed"})
    first, second = list(system.cw_box.store.ids("companies"))[:2]
    await server.cw.patch("company/companies", first, [{"op": "replace", "path": "types", "value": [created]}])
    await system.cw_box.callbacks.drain()
    await server.runner.wait_idle(timeout=60)
    assert "Co-managed" in options(system)
    link = (await server.store.links_by_left("default", "companies", [str(first)]))[str(first)]
    held = await server.hs.get("companies", link.right_id, properties=[COMPANY_TYPE_PROPERTY])
    assert held["properties"][COMPANY_TYPE_PROPERTY] == "Co-managed"

    calls = counting(system, monkeypatch)
    await server.cw.patch("company/companies", second, [{"op": "replace", "path": "name", "value": "Renamed Co"}])
    await system.cw_box.callbacks.drain()
    await server.runner.wait_idle(timeout=60)
    assert (calls["properties"], calls["update_property"]) == (0, 0)


async def test_a_manufacturer_added_in_connectwise_reaches_the_product_dropdown_under_serve(
    world: CatalogWorld,
) -> None:
    """The catalog's lists under `serve`: each scheduled catalog run is a run of its own with the import step, so a
    manufacturer added in ConnectWise while the server runs is an option after the next scheduled run."""
    await world.engine().run()
    prop = world.hs_box.state.properties["products"]["connectwise_manufacturer"]
    assert "Ubiquiti Labs" not in [o["value"] for o in prop["options"]]
    config = world.config.model_copy(update={"server": ServerConfig(public_url="http://cwsync.test")})
    key_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cw_app(world.cw_box)))
    server = Server(config, world.store, world.cw, world.hs, key_http, workers=1)
    await server.start(schedule=False)
    try:
        await world.cw.create("procurement/manufacturers", {"name": "Ubiquiti Labs"})
        scheduler = Scheduler(server.runner, [s for s in server.schedules() if s.pair == CATALOG.name])
        start = datetime.now(UTC)
        await scheduler.tick(start)
        assert config.syncs.catalog is not None
        assert await scheduler.tick(start + timedelta(minutes=config.syncs.catalog.schedule.every_minutes))
        await server.runner.wait_idle(timeout=60)
    finally:
        await server.stop()
        await key_http.aclose()
    prop = world.hs_box.state.properties["products"]["connectwise_manufacturer"]
    assert "Ubiquiti Labs" in [o["value"] for o in prop["options"] if not o.get("hidden")]
