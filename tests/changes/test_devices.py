"""Configuration → device sync (CB-7) on the ConnectWise sandbox served on loopback, and `@hostname` mentions."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.config.changes import ChangesConfig, DevicesConfig
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.http import RetryPolicy
from cwsync.integrations.devices.sync import SKIPPED, DeviceSync
from cwsync.store import Store
from cwsync.workflows.changes.devices import device_view
from cwsync.workflows.changes.errors import SetupError
from cwsync.workflows.changes.models import FullyApprovedEvent, LinkRequest, ScheduledEvent
from cwsync.workflows.changes.workflow import ChangeWorkflow
from cwsync_sandbox.server import RunningSandbox
from tests.changes.conftest import World, changes_config

TYPES = {"Managed Server": "Server", "Firewall": "Firewall", "Switch": "Network Switch"}
CONFIGURATIONS = "/company/configurations"


@dataclass
class Calls:
    """ConnectWise requests seen by the client's transport, by method and path."""

    seen: list[tuple[str, str]] = field(default_factory=list)

    async def hook(self, request: httpx.Request) -> None:
        """Count one request."""
        self.seen.append((request.method, request.url.path))

    def to(self, method: str, suffix: str) -> int:
        """How many `method` requests went to a path ending in `suffix`."""
        return sum(1 for m, path in self.seen if m == method and path.endswith(suffix))


@dataclass
class Devices:
    """A counted client on the served sandbox, a store, and a device sync over them."""

    served: RunningSandbox
    cw: ConnectWiseClient
    store: Store
    calls: Calls

    def sync(self, **config: Any) -> DeviceSync:
        """A device sync with the test mapping (and `config` over it), pages of 50 so a run has several pages."""
        devices = DevicesConfig.model_validate({"types": TYPES} | config)
        return DeviceSync(client=self.cw, store=self.store, config=devices, tenant="default", page_size=50)

    async def configurations(self) -> list[dict[str, Any]]:
        """Every configuration as ConnectWise has it (through the same client)."""
        return [r async for r in self.cw.stream_records("company/configurations", fields="id,name,type/name")]


async def _no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def env(served_cw: RunningSandbox, tmp_path: Path) -> AsyncIterator[Devices]:
    """The served seed-7 sandbox (240 configurations), a client whose requests are counted, a fresh store."""
    s = served_cw.sandbox.settings
    settings = ConnectWiseSettings(
        site=served_cw.base_url,
        company_id=s.company_id,
        public_key=s.public_key,
        private_key=s.private_key,
        client_id=s.client_id,
        requests_per_minute=None,
    )
    calls = Calls()
    http = httpx.AsyncClient(event_hooks={"request": [calls.hook]}, timeout=30)
    retry = RetryPolicy(attempts=4, base=0.01, cap=0.05)
    async with http, ConnectWiseClient(settings, http=http, sleep=_no_sleep, retry=retry) as cw:
        store = await Store.open(f"sqlite:///{tmp_path / 'devices.db'}")
        try:
            yield Devices(served_cw, cw, store, calls)
        finally:
            await store.close()


async def test_first_sync_imports_mapped_types_and_skips_the_rest(env: Devices) -> None:
    """The first run is full: each configuration of a mapped type is created, every other one is skipped by type."""
    everything = await env.configurations()
    by_type = Counter(r["type"]["name"] for r in everything)
    mapped = sum(n for name, n in by_type.items() if name in TYPES)
    assert 0 < mapped < len(everything)

    report = await env.sync().run()

    assert (report.kind, report.read) == ("full", len(everything))
    assert (report.created, report.updated, report.unchanged, report.deleted) == (mapped, 0, 0, 0)
    assert report.skipped == len(everything) - mapped
    assert report.skipped_types == {name: n for name, n in sorted(by_type.items()) if name not in TYPES}
    sync = env.sync()
    assert await sync.devices.count() == mapped
    run = await env.store.run(report.run_id)
    assert run is not None
    assert (run.status, run.kind, run.counts.created, run.counts.skipped) == (
        "succeeded",
        "full",
        mapped,
        report.skipped,
    )
    items = await env.store.run_items(report.run_id, action="skip", limit=1000)
    assert Counter(i.source_values[SKIPPED] for i in items) == report.skipped_types  # one item per configuration
    assert all("is not mapped" in i.reason and i.left_id for i in items)


async def test_configurations_are_read_with_only_the_needed_fields(env: Devices) -> None:
    """A run asks ConnectWise for the device fields only, 50 (here) per page."""
    seen: list[httpx.URL] = []

    async def url_hook(request: httpx.Request) -> None:
        seen.append(request.url)

    env.cw._http.event_hooks["request"].append(url_hook)
    await env.sync().run()
    pages = [u for u in seen if u.path.endswith(CONFIGURATIONS)]
    assert pages
    assert {u.params["fields"] for u in pages} == {
        "id,name,type/name,company/id,company/identifier,serialNumber,status/name,_info/lastUpdated"
    }
    assert {u.params["pageSize"] for u in pages} == {"50"}


async def test_a_full_re_sync_is_all_unchanged_with_one_call_per_page(env: Devices) -> None:
    """Syncing again with nothing changed writes nothing, reports every device unchanged, one GET per page."""
    sync = env.sync()
    first = await sync.run()
    before = env.calls.to("GET", CONFIGURATIONS)

    again = await sync.run(full=True)

    assert (again.created, again.updated, again.deleted) == (0, 0, 0)
    assert again.unchanged == first.created
    assert again.skipped == first.skipped
    pages = math.ceil(first.read / 50) + (1 if first.read % 50 == 0 else 0)
    assert again.pages == math.ceil(first.read / 50)
    assert env.calls.to("GET", CONFIGURATIONS) - before == pages


async def test_an_incremental_run_reads_only_what_changed_since_the_cursor(env: Devices) -> None:
    """After a run, the next one asks for configurations updated since its cursor (minus the overlap) only."""
    sync = env.sync(overlap_seconds=0)
    first = await sync.run()
    again = await sync.run()
    assert again.kind == "incremental"
    assert again.since is not None
    assert again.read < first.read
    assert (again.created, again.updated, again.deleted) == (0, 0, 0)


async def test_a_changed_configuration_updates_its_device(env: Devices) -> None:
    """A renamed server with a new serial is updated by the next incremental run and found by its new name."""
    sync = env.sync()
    await sync.run()
    server = next(r for r in await env.configurations() if r["type"]["name"] == "Managed Server")
    patch = [{"op": "replace", "path": "name", "value": "NEW-SRV-01"}]
    patch.append({"op": "replace", "path": "serialNumber", "value": "SN-NEW-1"})
    await env.cw.patch("company/configurations", server["id"], patch)

    report = await sync.run()

    assert (report.kind, report.created, report.updated, report.deleted) == ("incremental", 0, 1, 0)
    found = await sync.devices.by_hostname("new-srv-01")
    assert [(d.cw_id, d.name, d.serial, d.device_type) for d in found] == [
        (server["id"], "NEW-SRV-01", "SN-NEW-1", "Server")
    ]
    assert await sync.devices.by_hostname(server["name"]) == []


async def test_a_configuration_whose_type_is_no_longer_mapped_is_removed(env: Devices) -> None:
    """A switch turned into a printer is skipped by the next run and leaves the inventory."""
    sync = env.sync()
    await sync.run()
    switch = next(r for r in await env.configurations() if r["type"]["name"] == "Switch")
    await env.cw.patch("company/configurations", switch["id"], [{"op": "replace", "path": "type", "value": {"id": 7}}])

    report = await sync.run()

    assert (report.updated, report.deleted) == (0, 1)
    assert report.skipped_types.get("Printer", 0) >= 1
    assert await sync.devices.by_hostname(switch["name"]) == []


async def test_a_new_mapping_makes_the_next_run_full(env: Devices) -> None:
    """Mapping one more type re-reads everything (the cursor covered the old mapping) and imports that type."""
    await env.sync().run()
    wider = env.sync(types=TYPES | {"Printer": "Printer"})
    report = await wider.run()
    printers = sum(1 for r in await env.configurations() if r["type"]["name"] == "Printer")
    assert (report.kind, report.created, report.updated) == ("full", printers, 0)


async def test_mapped_company_scope_reads_only_those_companies(env: Devices) -> None:
    """With company ids in scope, only their configurations are read (filtered by ConnectWise)."""
    sync = DeviceSync(
        client=env.cw,
        store=env.store,
        config=DevicesConfig(types=TYPES, companies="mapped"),
        tenant="default",
        company_ids=[5],
    )
    report = await sync.run()
    devices = await sync.devices.find(limit=1000)
    assert report.created == len(devices) > 0
    assert {d.company_id for d in devices} == {5}
    assert {"lls-fw01", "lls-dc01", "lls-sw01"} <= {d.hostname for d in devices}


async def test_a_failed_run_is_recorded_and_keeps_the_cursor(env: Devices) -> None:
    """ConnectWise failing mid-run marks the run failed; the next run is still a full one."""
    sync = env.sync()
    box = env.served.sandbox
    box.faults.update(box.faults.settings.model_copy(update={"error_share": 1.0, "error_statuses": [500]}))
    with pytest.raises(Exception):  # noqa: B017,PT011 (the client's API error for a 500)
        await sync.run()
    box.faults.update(box.faults.settings.model_copy(update={"error_share": 0.0}))
    failed = (await env.store.runs("default", pair="devices"))[0]
    assert failed.status == "failed"
    assert (await sync.run()).kind == "full"


# -- mentions, through the change workflow ---------------------------------------------------------------------------


async def _workflow(world: World, **devices: Any) -> ChangeWorkflow:
    config = ChangesConfig.model_validate(changes_config(devices={"types": TYPES} | devices))
    return await ChangeWorkflow.start(client=world.cw, store=world.store, config=config, tenant="default")


async def test_mentions_link_devices_and_unknown_names_are_reported(world: World) -> None:
    """@hostnames of the change's company are linked and listed in the note; unknown or foreign ones are reported."""
    workflow = await _workflow(world)
    assert workflow.device_sync is not None
    await workflow.device_sync.run()
    request = LinkRequest(
        change_id="CHG-D1",
        company="lighthouse",
        ticket_id=world.tickets["help_desk"],
        title="Firmware on @LLS-FW01",
        description="Also @lls-dc01 and @nosuch-01; mail bob@msp.example. Not @IMS-FW01.",
    )

    result = await workflow.link(request)

    assert result.devices == ["lls-fw01", "lls-dc01"]
    assert result.unknown_devices == ["nosuch-01", "ims-fw01"]
    assert any("@nosuch-01: no device" in w for w in result.warnings)
    assert any("@ims-fw01: a device of IronwoodMontessori2" in w for w in result.warnings)
    notes = await world.notes(world.tickets["help_desk"])
    assert any("Devices: lls-fw01, lls-dc01" in n["text"] for n in notes)
    view = await workflow.show("CHG-D1")
    assert [d.hostname for d in view.devices] == ["lls-dc01", "lls-fw01"]

    replay = await workflow.link(request)
    assert replay.replayed
    assert replay.devices == ["lls-fw01", "lls-dc01"]
    assert len((await workflow.show("CHG-D1")).devices) == 2


async def test_a_scheduled_plan_mentioning_devices_links_them_and_lists_them(world: World) -> None:
    """The implementation plan's @hostnames join the change's devices and appear in the detailed description."""
    workflow = await _workflow(world)
    assert workflow.device_sync is not None
    await workflow.device_sync.run()
    ticket = world.tickets["help_desk"]
    await workflow.link(LinkRequest(change_id="CHG-D2", company="lighthouse", ticket_id=ticket, title="@LLS-FW01"))
    await workflow.apply("CHG-D2", FullyApprovedEvent(kind="fully_approved", event_id="a"))
    start = datetime(2026, 12, 1, 22, tzinfo=UTC)
    event = ScheduledEvent(
        kind="scheduled", event_id="s", start=start, end=start + timedelta(hours=2), plan="Swap @LLS-SW01, then test."
    )

    result = await workflow.apply("CHG-D2", event)

    assert result.devices == ["lls-sw01"]
    description = [n for n in await world.notes(ticket) if n.get("detailDescriptionFlag")]
    assert any("Devices: lls-sw01" in n["text"] for n in description)
    assert [d.hostname for d in (await workflow.show("CHG-D2")).devices] == ["lls-fw01", "lls-sw01"]
    view = await device_view(workflow.devices, "LLS-SW01")
    assert view.changes == ["CHG-D2"]


async def test_without_a_device_section_mentions_are_plain_text(world: World) -> None:
    """With no `devices:` configured, @words are neither linked nor reported."""
    request = LinkRequest(
        change_id="CHG-D3", company="lighthouse", ticket_id=world.tickets["help_desk"], title="@LLS-FW01"
    )
    result = await world.workflow.link(request)
    assert (result.devices, result.unknown_devices) == ([], [])


async def test_an_unknown_configuration_type_is_refused_at_setup(world: World) -> None:
    """A mapped configuration type ConnectWise does not have is refused when the workflow starts, types listed."""
    with pytest.raises(SetupError) as refused:
        await _workflow(world, types={"Toaster": "Appliance"})
    assert "configuration type 'Toaster'" in str(refused.value)
    assert "'Managed Server'" in str(refused.value)


async def test_progress_counts_pages_out_of_connectwise_total(env: Devices) -> None:
    """`changes devices sync` draws its bar from these: ConnectWise's count of what the run reads, and each page."""
    done: list[int] = []
    totals: dict[str, int] = {}
    report = await env.sync().run(
        full=True, progress=lambda _k, n: done.append(n), totals=lambda k, n: totals.update({k: n})
    )
    assert totals == {"devices": report.read}
    assert sum(done) == report.read
    assert len(done) > 1


async def test_replaying_one_configuration_syncs_it_alone_and_keeps_the_cursor(env: Devices) -> None:
    """`run(records=...)` (replay, a callback) reads only those configurations: a changed one is updated, one gone
    from ConnectWise is removed, each with a run item; the incremental cursor stays where it was."""
    sync = env.sync()
    await sync.run()
    cursor = await env.store.cursor("default", "devices", "left")
    servers = [r for r in await env.configurations() if r["type"]["name"] == "Managed Server"]
    changed, deleted = servers[0], servers[1]
    await env.cw.patch("company/configurations", changed["id"], [{"op": "replace", "path": "name", "value": "RE-1"}])
    await env.cw.delete("company/configurations", deleted["id"])
    before = env.calls.to("GET", CONFIGURATIONS)

    report = await sync.run(records=[changed["id"], deleted["id"]])

    assert (report.kind, report.read, report.updated, report.deleted, report.created) == ("record", 1, 1, 1, 0)
    assert env.calls.to("GET", CONFIGURATIONS) - before == 1  # one read by id, not a page loop
    assert [d.name for d in await sync.devices.by_hostname("re-1")] == ["RE-1"]
    assert await sync.devices.by_hostname(deleted["name"].lower()) == []
    assert await env.store.cursor("default", "devices", "left") == cursor
    items = {i.left_id: i for i in await env.store.run_items(report.run_id)}
    assert (items[str(changed["id"])].action, items[str(deleted["id"])].action) == ("update", "delete")
    assert "deleted in ConnectWise (not found)" in items[str(deleted["id"])].reason
    run = await env.store.run(report.run_id)
    assert run is not None
    assert (run.kind, run.status) == ("record", "succeeded")


async def test_a_configuration_deleted_in_connectwise_leaves_the_inventory_on_a_full_run(env: Devices) -> None:
    """A full run accounts for every device by the configurations it read: one whose configuration is gone is
    looked up by id and removed (the count of devices differs from those read), and a second full run removes
    nothing."""
    sync = env.sync()
    first = await sync.run()
    gone = next(r for r in await env.configurations() if r["type"]["name"] == "Managed Server")
    await env.cw.delete("company/configurations", gone["id"])

    report = await sync.run(full=True)

    assert (report.deleted, report.created, report.updated) == (1, 0, 0)
    assert await sync.devices.by_hostname(gone["name"].lower()) == []
    assert await sync.devices.count() == first.created - 1
    again = await sync.run(full=True)
    assert (again.deleted, again.unchanged) == (0, first.created - 1)
