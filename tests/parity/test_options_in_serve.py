"""SB-1 under `cwsync serve`: a company type added in ConnectWise while the server runs becomes an option of HubSpot's
`connectwise_company_type` dropdown with the next scheduled companies run — no restart — and a company of that type
holds it; a run whose ConnectWise list did not change sends HubSpot nothing about the dropdown. The server, its job
runner and scheduler in-process against both sandboxes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cwsync.runtime.scheduler import Scheduler
from cwsync.syncs.hubspot.properties import COMPANY_TYPE_PROPERTY
from tests.server.test_server import System, system

__all__ = ["system"]  # the fixture, used here


def options(system: System) -> list[str]:
    """The dropdown's visible options, as the HubSpot sandbox holds them."""
    prop = system.hs_box.state.properties["companies"][COMPANY_TYPE_PROPERTY]
    return [str(o["value"]) for o in prop["options"] if not o.get("hidden")]


async def scheduled_runs(system: System, scheduler: Scheduler, at: datetime) -> None:
    """The scheduler's slot at `at`: its jobs enqueued, then run by the server's runner."""
    assert await scheduler.tick(at)
    await system.server.runner.wait_idle(timeout=60)


async def test_a_type_added_in_connectwise_reaches_the_dropdown_without_a_restart(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = system.server
    assert "Managed Partner" not in options(system)
    created = await server.cw.create("company/companies/types", {"name": "Managed Partner"})
    company = next(iter(system.cw_box.store.ids("companies")))
    await server.cw.patch("company/companies", company, [{"op": "replace", "path": "types", "value": [created]}])
    await system.cw_box.callbacks.drain()
    await server.runner.wait_idle(timeout=60)  # the callback's record job: it does not re-import the list

    calls: Counter[str] = Counter()
    for name in ("properties", "update_property"):
        method = getattr(server.hs, name)

        async def counted(*args: Any, _name: str = name, _method: Any = method, **kwargs: Any) -> Any:
            calls[_name] += 1
            return await _method(*args, **kwargs)

        monkeypatch.setattr(server.hs, name, counted)
    scheduler = Scheduler(server.runner, server.schedules())
    start = datetime.now(UTC)
    await scheduler.tick(start)  # the first tick notes the current slots
    minutes = server.config.syncs.hubspot.schedule.incremental_minutes  # type: ignore[union-attr]
    await scheduled_runs(system, scheduler, start + timedelta(minutes=minutes))
    assert "Managed Partner" in options(system)
    assert calls["update_property"] == 1
    link = (await server.store.links_by_left("default", "companies", [str(company)]))[str(company)]
    held = await server.hs.get("companies", link.right_id, properties=[COMPANY_TYPE_PROPERTY])
    assert held["properties"][COMPANY_TYPE_PROPERTY] == "Managed Partner"

    calls.clear()
    await scheduled_runs(system, scheduler, start + timedelta(minutes=2 * minutes))
    assert (calls["properties"], calls["update_property"]) == (0, 0)  # the list is as it was: one ConnectWise read
