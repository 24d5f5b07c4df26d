"""The device inventory in the store, on SQLite and PostgreSQL (skipped without it, required in CI)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cwsync.config.changes import DevicesConfig
from cwsync.engine.oneway import Decision, decide
from cwsync.integrations.devices.sync import DeviceTable, device_pair
from cwsync.integrations.devices.table import DeviceStore
from cwsync.store import Store
from cwsync.workflows.changes.devices import device_view
from cwsync.workflows.changes.errors import ChangeRefused
from cwsync.workflows.changes.store import ChangeStore
from tests.changes.test_change_store import record, store  # noqa: F401  (the two-backend fixture)

TYPES = {"Managed Server": "Server", "Firewall": "Firewall"}


def config(cw_id: int, name: str, cw_type: str = "Managed Server", company: int = 5, **extra: Any) -> dict[str, Any]:
    """A configuration as ConnectWise answers it (with the fields a device sync asks for)."""
    raw: dict[str, Any] = {
        "id": cw_id,
        "name": name,
        "type": {"name": cw_type},
        "company": {"id": company, "identifier": f"CO{company}"},
        "status": {"name": "Active"},
        "_info": {"lastUpdated": "2026-11-01T10:00:00Z"},
    }
    return raw | extra


async def sync_page(devices: DeviceStore, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Plan a page against the store with the device pair and apply its writes, as a run does: the configuration
    ids by action."""
    pair = device_pair(None, devices, DevicesConfig(types=TYPES))  # type: ignore[arg-type]
    assert isinstance(pair.links, DeviceTable)
    decided: list[Decision] = await decide(pair, rows, await pair.links.by_left([str(r["id"]) for r in rows]))
    await pair.target.apply([d.write for d in decided if d.write is not None])
    out: dict[str, list[str]] = {}
    for d in decided:
        out.setdefault(d.action, []).append(d.left_id)
    return out


async def test_pages_create_update_skip_and_remove(store: Store) -> None:  # noqa: F811
    """New configurations are created, changed ones updated, unmapped ones skipped (and removed when held)."""
    devices = DeviceStore(store, tenant="t1")
    first = await sync_page(devices, [config(1, "SRV-01"), config(2, "FW-01", "Firewall"), config(3, "PRN", "Printer")])
    assert first == {"create": ["1", "2"], "skip": ["3"]}
    again = await sync_page(devices, [config(1, "SRV-01"), config(2, "FW-01", "Firewall", serialNumber="S9")])
    assert again == {"unchanged": ["1"], "update": ["2"]}
    [fw] = await devices.by_hostname("fw-01")
    assert (fw.serial, fw.device_type, fw.company, fw.cw_last_updated) == (
        "S9",
        "Firewall",
        "CO5",
        datetime(2026, 11, 1, 10, tzinfo=UTC),
    )
    gone = await sync_page(devices, [config(1, "SRV-01", "Printer")])
    assert gone == {"delete": ["1"]}
    assert await devices.cw_ids() == {2}
    assert await DeviceStore(store, tenant="t2").count() == 0


async def test_a_page_of_consecutive_ids_finds_its_devices_by_range_and_others_by_id(store: Store) -> None:  # noqa: F811
    """`existing` of a forward-only page (ids about consecutive) reads their range, of scattered ids the ids: the
    same devices either way, only the tenant's and only those asked for."""
    devices, other = DeviceStore(store, tenant="t1"), DeviceStore(store, tenant="t2")
    await sync_page(devices, [config(i, f"SRV-{i}") for i in range(1, 1500) if i % 7])
    await sync_page(other, [config(i, f"OTHER-{i}") for i in range(1, 1500, 3)])
    held = {i for i in range(1, 1500) if i % 7}
    page = [i for i in range(200, 1300) if i % 11]  # dense: a range read
    scattered = list(range(1, 1500, 5))  # sparse: read by id
    for wanted in (page, scattered, [3, 5, 14], []):
        found = await devices.existing(wanted)
        assert set(found) == held & set(wanted)
        assert all(row["hostname"] == f"srv-{cw_id}" for cw_id, row in found.items())


async def test_find_by_hostname_and_company(store: Store) -> None:  # noqa: F811
    """Hostnames match in any case (contains for lists, exact for one); the company by identifier or id."""
    devices = DeviceStore(store, tenant="t1")
    await sync_page(
        devices, [config(1, "LLS-FW01", "Firewall"), config(2, "LLS-DC01"), config(3, "IMS_FW01", "Firewall", 2)]
    )
    assert [d.hostname for d in await devices.find(hostname="FW")] == ["ims_fw01", "lls-fw01"]
    assert [d.hostname for d in await devices.find(hostname="_")] == ["ims_fw01"]  # no LIKE wildcard
    assert [d.hostname for d in await devices.find(company="co5")] == ["lls-dc01", "lls-fw01"]
    assert [d.hostname for d in await devices.find(company="2")] == ["ims_fw01"]
    assert [d.cw_id for d in await devices.by_hostname("LLS-FW01")] == [1]
    assert await devices.by_hostname("lls-fw01", company_id=2) == []


async def test_a_shared_hostname_needs_the_company(store: Store) -> None:  # noqa: F811
    """Two companies with the same hostname: the lookup is refused as ambiguous unless the company is given."""
    devices = DeviceStore(store, tenant="t1")
    await sync_page(devices, [config(1, "FW01", "Firewall", 5), config(2, "FW01", "Firewall", 8)])
    with pytest.raises(ChangeRefused) as refused:
        await device_view(devices, "@fw01")
    assert refused.value.code == "ambiguous_device"
    assert "CO5, CO8" in refused.value.reason
    assert (await device_view(devices, "fw01", company="CO8")).device.cw_id == 2
    with pytest.raises(ChangeRefused) as missing:
        await device_view(devices, "fw01", company="CO9")
    assert missing.value.code == "unknown_device"


async def test_change_device_links_commit_with_the_event(store: Store) -> None:  # noqa: F811
    """Devices linked by a link and by a later event are the change's; linking one twice keeps one link."""
    devices, changes = DeviceStore(store, tenant="t1"), ChangeStore(store, tenant="t1")
    await sync_page(devices, [config(1, "SRV-01"), config(2, "FW-01", "Firewall")])
    srv, fw = (await devices.by_hostname("srv-01"))[0], (await devices.by_hostname("fw-01"))[0]
    await changes.begin_event("CHG-1", "c", kind="created", payload_hash="h")
    await changes.finish_link(record(), event_id="c", result={}, devices=[srv])
    await changes.begin_event("CHG-1", "s", kind="scheduled", payload_hash="h")
    linked = await changes.get("CHG-1")
    assert linked is not None
    await changes.finish_event(linked, expected_version=1, event_id="s", result={}, devices=[srv, fw])
    assert [d.hostname for d in await devices.of_change("CHG-1")] == ["fw-01", "srv-01"]
    assert await devices.changes_of(1) == ["CHG-1"]
    assert await DeviceStore(store, tenant="t2").of_change("CHG-1") == []


async def test_a_refused_event_links_no_device(store: Store) -> None:  # noqa: F811
    """When finishing an event is refused (stale version), its devices are not linked either."""
    devices, changes = DeviceStore(store, tenant="t1"), ChangeStore(store, tenant="t1")
    await sync_page(devices, [config(1, "SRV-01")])
    [srv] = await devices.by_hostname("srv-01")
    await changes.begin_event("CHG-1", "c", kind="created", payload_hash="h")
    await changes.finish_link(record(), event_id="c", result={})
    await changes.begin_event("CHG-1", "s", kind="scheduled", payload_hash="h")
    with pytest.raises(ChangeRefused):
        await changes.finish_event(record(), expected_version=0, event_id="s", result={}, devices=[srv])
    assert await devices.of_change("CHG-1") == []
