"""The pure parts of the device sync: mentions, projecting a configuration, planning a page, the config section."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cwsync.changes.devices import mentions, plan_page, project, scope_key
from cwsync.config.changes import ChangesConfig
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


def test_plan_page_compares_every_stored_field() -> None:
    """Identical values are unchanged; a different status updates (with the row id); a new id creates."""
    raw = {"id": 1, "name": "A", "type": {"name": "Managed Server"}, "status": {"name": "Active"}}
    held = project(raw, TYPES)
    assert isinstance(held, dict)
    existing = {1: held | {"id": 99}}
    plan = plan_page([raw, raw | {"id": 2}], existing, TYPES)
    assert (plan.unchanged, [c["cw_id"] for c in plan.creates], plan.updates) == (1, [2], [])
    changed = plan_page([raw | {"status": {"name": "Retired"}}], existing, TYPES)
    assert [(u["row_id"], u["status"]) for u in changed.updates] == [(99, "Retired")]


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
