"""The pure parts of the device sync: mentions, projecting a configuration, planning a page (the engine's `decide`
with the device pair), the config section."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cwsync.config.changes import ChangesConfig, DevicesConfig
from cwsync.engine.oneway import decide
from cwsync.integrations.devices.sync import DeviceTable, canonical, device_pair, mentions, project, scope_key
from cwsync.integrations.devices.table import DeviceStore
from tests.changes.conftest import changes_config

TYPES = {"Managed Server": "Server"}


def test_mentions_find_hostnames_not_emails() -> None:
    """@names are found in any case and order of first mention; e-mails, @ alone and trailing dots are not names."""
    text = "Patch @SRV-01, then @fw.main. Ask bob@msp.example (or @) about @srv-01 and @sw_02!"
    assert mentions(text, None, "@Core01\n@x") == ["srv-01", "fw.main", "sw_02", "core01", "x"]
    assert mentions("mail:a@b.c, (@host1)") == ["host1"]
    assert mentions("") == []


def test_project_keeps_what_a_device_needs() -> None:
    """A mapped configuration becomes a device's values; an unmapped type or a missing name is a skip reason."""
    raw = {
        "id": 7,
        "name": " SRV-01 ",
        "type": {"name": "Managed Server"},
        "company": {"id": 5, "identifier": "ACME"},
        "serialNumber": "S1",
        "status": {"name": "Active"},
        "_info": {"lastUpdated": "2026-11-01T10:00:00Z"},
    }
    values = project(raw, TYPES)
    assert isinstance(values, dict)
    assert (values["hostname"], values["name"], values["device_type"], values["company"]) == (
        "srv-01",
        "SRV-01",
        "Server",
        "ACME",
    )
    assert values["cw_last_updated"].isoformat() == "2026-11-01T10:00:00+00:00"
    assert project(raw | {"type": {"name": "Printer"}}, TYPES) == "Printer"
    assert project(raw | {"name": ""}, TYPES) == "(no name)"
    assert project({"id": 1, "name": "x"}, TYPES) == "(no type)"


async def test_a_page_is_planned_against_every_stored_field() -> None:
    """Identical values are unchanged; a different status updates; a new id creates; an unmapped type held is
    removed, one not held is skipped, each with its reason."""
    pair = device_pair(None, DeviceStore(None, tenant="t"), DevicesConfig(types=TYPES))  # type: ignore[arg-type]
    table = pair.links
    assert isinstance(table, DeviceTable)
    raw = {"id": 1, "name": "A", "type": {"name": "Managed Server"}, "status": {"name": "Active"}}
    held = project(raw, TYPES)
    assert isinstance(held, dict)
    links = {"1": table._link(1, held), "3": table._link(3, held)}
    printer = {"type": {"name": "Printer"}}
    page = [raw, raw | {"id": 2}, raw | {"id": 3} | printer, raw | {"id": 4} | printer]
    decided = {d.left_id: d for d in await decide(pair, page, links)}
    assert {k: d.action for k, d in decided.items()} == {"1": "unchanged", "2": "create", "3": "delete", "4": "skip"}
    assert "'Printer' is not mapped" in decided["3"].reason
    assert "removed" in decided["3"].reason
    changed = await decide(pair, [raw | {"status": {"name": "Retired"}}], links)
    assert [(d.action, d.diff) for d in changed] == [("update", {"status": ("Active", "Retired")})]
    assert canonical(held)["status"] == "Active"


def test_scope_key_changes_with_the_mapping_and_companies() -> None:
    """The cursor's key differs when the type mapping or the company scope differs, not with order."""
    assert scope_key({"a": "x", "b": "y"}, [2, 1]) == scope_key({"b": "y", "a": "x"}, [1, 2])
    assert scope_key({"a": "x"}, None) != scope_key({"a": "z"}, None)
    assert scope_key({"a": "x"}, None) != scope_key({"a": "x"}, [1])


def test_devices_section_is_validated() -> None:
    """`devices.types` needs at least one non-blank mapping; `companies` is all or mapped."""
    section = ChangesConfig.model_validate(changes_config(devices={"types": {" Firewall ": "Firewall"}}))
    assert section.devices is not None
    assert section.devices.types == {"Firewall": "Firewall"}
    assert section.devices.companies == "all"
    bad_sections: list[dict[str, object]] = [
        {"types": {}},
        {"types": {"Firewall": " "}},
        {"types": {"A": "B"}, "companies": "some"},
    ]
    for bad in bad_sections:
        with pytest.raises(ValidationError):
            ChangesConfig.model_validate(changes_config(devices=bad))
