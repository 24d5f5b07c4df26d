"""`cwsync mirror sync | tables` as a user runs them: a real process against the sandbox over loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox


@pytest.fixture
def served() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxSettings(records=200, seed=4)) as running:
        yield running


def _config(tmp_path: Path, served: RunningSandbox) -> Path:
    s = served.sandbox.settings
    path = tmp_path / "cwsync.yaml"
    path.write_text(
        f"""
store: sqlite:///{tmp_path / "cwsync.db"}
connections:
  connectwise:
    site: {served.base_url}
    company_id: {s.company_id}
    public_key: {s.public_key}
    private_key: {s.private_key}
    client_id: {s.client_id}
syncs:
  mirror:
    objects: [companies, tickets]
""",
        encoding="utf-8",
    )
    return path


def _cwsync(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CWSYNC_LOG_LEVEL": "error"}
    return subprocess.run(
        [sys.executable, "-m", "cwsync", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_mirror_sync_then_tables_then_a_record_replay(tmp_path: Path, served: RunningSandbox) -> None:
    config = _config(tmp_path, served)
    first = _cwsync("mirror", "sync", "-c", str(config), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["counts"]["created"] > 0
    assert set(report["pairs"]) == {"mirror:companies", "mirror:tickets"}
    tables = json.loads(_cwsync("mirror", "tables", "-c", str(config), "--json").stdout)
    assert tables["cw_companies"]["rows"] == report["pairs"]["mirror:companies"]["counts"]["created"]
    assert tables["cw_contacts"]["rows"] == 0
    again = _cwsync("mirror", "sync", "-c", str(config), "--record", "tickets:1")
    assert again.returncode == 0, again.stderr
    assert "mirror:tickets" in again.stdout
    bad = _cwsync("mirror", "sync", "-c", str(config), "--record", "contacts:1")
    assert bad.returncode == 2
    assert "companies, tickets" in bad.stderr + bad.stdout


def test_mirror_sync_without_the_section_says_what_to_add(tmp_path: Path, served: RunningSandbox) -> None:
    config = _config(tmp_path, served)
    config.write_text(config.read_text(encoding="utf-8").split("syncs:")[0], encoding="utf-8")
    result = _cwsync("mirror", "sync", "-c", str(config))
    assert result.returncode == 2
    assert "syncs.mirror" in result.stdout
    assert "Traceback" not in result.stderr


def test_cwsync_plan_and_sync_run_the_mirror_when_it_is_configured(tmp_path: Path, served: RunningSandbox) -> None:
    """With only `syncs.mirror`, `cwsync plan` shows what the mirror would write (writing nothing) and
    `cwsync sync` runs it, as the other syncs."""
    config = _config(tmp_path, served)
    planned = _cwsync("plan", "-c", str(config), "--json")
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan["dry_run"] is True
    assert plan["counts"]["created"] > 0
    assert json.loads(_cwsync("mirror", "tables", "-c", str(config), "--json").stdout)["cw_tickets"]["rows"] == 0
    synced = _cwsync("sync", "-c", str(config))
    assert synced.returncode == 0, synced.stderr
    assert "mirror run" in synced.stdout
    tables = json.loads(_cwsync("mirror", "tables", "-c", str(config), "--json").stdout)
    assert tables["cw_tickets"]["rows"] == plan["pairs"]["mirror:tickets"]["counts"]["created"]
