"""Hudu Connected Fields (HU-3): ConnectWise fields (custom by caption, standard by path) into a layout's custom
fields per data type, the fields created in the layouts when missing (shown in list views), written on sync and
left alone by a re-sync; an unknown field is refused at load with file, line and field. Against the served
sandboxes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.contract.pairs import HUDU
from tests.contract.rig import Data, World, world
from tests.syncs_hudu.conftest import hudu_sync_section

pytestmark = pytest.mark.loopback

CONNECTED = {
    "configurations": [
        {"connectwise": "customFields/Monitoring Policy", "hudu": "Monitoring Policy"},
        {"connectwise": "customFields/RMM Agent Installed", "hudu": "RMM Agent", "field_type": "CheckBox"},
        {"connectwise": "manufacturer/name", "hudu": "Maker"},
    ]
}


def fields_of(w: World, layout: str) -> dict[str, dict[str, Any]]:
    [found] = [lay for lay in w.hudu.state.layouts.values() if lay["name"] == layout]
    return {f["label"]: f for f in found["fields"]}


def custom(record: dict[str, Any], caption: str) -> Any:
    return next((c.get("value") for c in record.get("customFields") or [] if c["caption"] == caption), None)


def test_connected_fields_reach_the_layouts_and_the_assets(tmp_path: Path) -> None:
    """Created once in each configuration layout (in list views), filled from ConnectWise, unchanged on re-sync."""
    syncs = {"hudu": hudu_sync_section(connected_fields=CONNECTED)}
    with world(Data(records=200, seed=3), tmp_path, syncs) as w:
        HUDU.prepare(w)
        code, out = w.cli("hudu", "sync", "--json")
        assert code == 0, out
        layout = fields_of(w, "Configurations")
        assert {(layout[k]["field_type"], layout[k]["show_in_list"]) for k in ("Monitoring Policy", "Maker")} == {
            ("Text", True)
        }
        assert layout["RMM Agent"]["field_type"] == "CheckBox"
        for other in ("Computer", "Server", "Network Device"):  # the sort rules' layouts get them too
            assert {"Monitoring Policy", "RMM Agent", "Maker"} <= set(fields_of(w, other))
        by_id = {
            f["id"]: f["label"]
            for lay in w.hudu.state.layouts.values()
            for f in lay["fields"]
            if lay["name"] in ("Configurations", "Computer", "Server", "Network Device")
        }
        with sqlite3.connect(w.db) as conn:
            rows = conn.execute("SELECT right_id FROM links WHERE pair = 'hudu:configurations'").fetchall()
        synced = {int(r[0]) for r in rows}
        checked = 0
        for asset in w.hudu.state.assets.values():
            values = {by_id[k]: v for k, v in asset["values"].items() if k in by_id}
            cw_id = values.get("ConnectWise Configuration ID")
            if cw_id is None:
                continue
            if asset["id"] not in synced:
                continue  # an asset the Hudu sandbox was seeded with, not one this sync wrote
            record = w.cw_record("configurations", int(cw_id))
            assert record is not None
            assert values.get("Monitoring Policy") == custom(record, "Monitoring Policy")
            assert values.get("Maker") == (record.get("manufacturer") or {}).get("name")
            agent = custom(record, "RMM Agent Installed")
            expected = None if agent is None else ("true" if agent else "false")
            assert (None if values.get("RMM Agent") is None else str(values["RMM Agent"]).lower()) == expected
            checked += values.get("Monitoring Policy") is not None
        assert checked > 0
        code, out = w.cli("hudu", "sync", "--json")
        assert code == 0, out
        counts = json.loads(out)["counts"]
        assert (counts["created"], counts["updated"]) == (0, 0)
        assert len(fields_of(w, "Configurations")) == len(layout)  # no field added twice


def test_an_unknown_connectwise_field_is_refused_at_load(tmp_path: Path) -> None:
    """`vendorr/name` names no field of a configuration: exit 2, the file and line, the close match."""
    bad = {"configurations": [{"connectwise": "customFields/Tier", "hudu": "Tier"}, {"connectwise": "vendorr/name",
           "hudu": "Vendor"}]}  # fmt: skip
    with world(Data(records=20, seed=3), tmp_path, {"hudu": hudu_sync_section(connected_fields=bad)}) as w:
        code, out = w.cli("hudu", "sync", "--plan", "--json")
        message = json.loads(out[out.index("{\n") :])["error"]["message"]  # after what went to stderr
        assert code == 2
        assert message.startswith(f"{w.config_path}:")
        assert "connected_fields.configurations[1]" in message
        assert "no field 'vendorr' (did you mean 'vendor'?)" in message
