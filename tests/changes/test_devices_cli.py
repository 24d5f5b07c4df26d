"""`cwsync changes devices sync | list | show` through the Typer runner, against the sandbox served on loopback."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from cwsync.cli.app import app
from cwsync_sandbox.server import RunningSandbox
from tests.changes.test_cli import write_config

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
