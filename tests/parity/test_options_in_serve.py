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
