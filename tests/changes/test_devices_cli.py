"""`cwsync changes devices sync | list | show` through the Typer runner, against the sandbox served on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from typer.testing import CliRunner, Result

from cwsync.cli.app import app
from cwsync_sandbox.server import RunningSandbox
from tests.changes.test_cli import write_config
from tests.conftest import auth_headers

runner = CliRunner()
TYPES = {"Managed Server": "Server", "Firewall": "Firewall"}


def run(config: Path, *args: str) -> Result:
    """`cwsync changes devices ...` with this configuration."""
    return runner.invoke(app, ["changes", "devices", *args, "--config", str(config)])


def test_sync_list_and_show(served_cw: RunningSandbox, tmp_path: Path) -> None:
    """A sync prints its counts (JSON too); list filters by hostname and company; show finds one device."""
    config = write_config(
        tmp_path / "cwsync.yaml", served_cw, tmp_path / "cwsync.db", devices={"types": TYPES, "companies": "mapped"}
    )
    first = run(config, "sync", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["kind"] == "full"
    assert report["created"] > 0
    again = run(config, "sync")
    assert again.exit_code == 0
    assert "(incremental since" in again.stdout
    assert "created 0, updated 0" in again.stdout

    listed = run(config, "list", "--hostname", "fw", "--company", "LighthouseLegal5", "--json")
    assert listed.exit_code == 0, listed.output
    assert [d["hostname"] for d in json.loads(listed.stdout)] == ["lls-fw01"]
    shown = run(config, "show", "LLS-FW01")
    assert shown.exit_code == 0
    assert "LLS-FW01: Firewall" in shown.stdout
    missing = run(config, "show", "nope")
    assert missing.exit_code == 1
    assert "unknown_device" in missing.output


def test_sync_needs_a_device_section_and_known_types(served_cw: RunningSandbox, tmp_path: Path) -> None:
    """Without `devices:` sync exits 1 saying what to add; an unknown configuration type exits 2 listing types."""
    plain = write_config(tmp_path / "plain.yaml", served_cw, tmp_path / "cwsync.db")
    refused = run(plain, "sync")
    assert refused.exit_code == 1
    assert "devices_not_configured" in refused.output
    wrong = write_config(
        tmp_path / "wrong.yaml", served_cw, tmp_path / "cwsync.db", devices={"types": {"Toaster": "X"}}
    )
    failed = run(wrong, "sync")
    assert failed.exit_code == 2
    assert "'Toaster'" in failed.output


def test_explain_names_the_device_inventory_and_why(served_cw: RunningSandbox, tmp_path: Path) -> None:
    """`cwsync explain connectwise devices ID`: a device's link is its row in the inventory (not a HubSpot link),
    with the values planned; a configuration of an unmapped type says why it is no device."""
    config = write_config(tmp_path / "cwsync.yaml", served_cw, tmp_path / "cwsync.db", devices={"types": TYPES})
    assert run(config, "sync").exit_code == 0
    listed = json.loads(run(config, "list", "--hostname", "lls-fw01", "--json").stdout)
    device = str(listed[0]["cw_id"])

    def explain(record_id: str, *extra: str) -> Result:
        return runner.invoke(app, ["explain", "connectwise", "devices", record_id, "--config", str(config), *extra])

    shown = explain(device)
    assert shown.exit_code == 0, shown.output
    assert f"linked: ConnectWise {device} ↔ the device inventory {device}" in shown.stdout
    live = explain(device, "--json")
    assert live.exit_code == 0, live.output
    data = json.loads(live.stdout)
    assert data["link"]["connectwise_values"]["hostname"] == "lls-fw01"
    assert data["decisions"][0]["action"] == "create"
    headers = auth_headers(served_cw.sandbox.settings)
    with httpx.Client(base_url=served_cw.sandbox.api_root + "/", headers=headers) as http:
        answer = http.get("company/configurations", params={"pageSize": 1000, "fields": "id,type/name"})
    other = next(c for c in answer.json() if c["type"]["name"] not in TYPES)
    skipped = explain(str(other["id"]))
    assert skipped.exit_code == 0, skipped.output
    assert "not linked" in skipped.stdout
    assert "is not mapped to a device type" in skipped.stdout
