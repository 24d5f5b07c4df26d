"""The sync commands as a user runs them, over real HTTP against the served sandboxes (PL-2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox

runner = CliRunner()


@pytest.fixture
def served_small() -> Iterator[RunningSandbox]:
    """Both sandboxes on loopback with a small MSP."""
    with running_sandbox(SandboxSettings(records=200, seed=5)) as running:
        yield running


def cli(*args: str) -> tuple[int, str]:
    """Run a cwsync command; returns exit code and stdout."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout


def test_init_plan_sync_status_history_explain(served_small: RunningSandbox, tmp_path: Path) -> None:
    """init --sandbox, plan (writes nothing), sync, a no-op re-sync, status, history and explain all work."""
    config = tmp_path / "cwsync.yaml"
    store = f"sqlite:///{tmp_path / 'c.db'}"
    code, out = cli("init", str(config), "--sandbox", "--sandbox-url", served_small.base_url, "--store", store)
    assert code == 0, out
    code, out = cli("plan", "-c", str(config), "--json")
    assert code == 0, out
    planned = json.loads(out)
    assert planned["dry_run"] is True
    assert planned["counts"]["created"] > 0
    assert served_small.hubspot is not None
    code, out = cli("sync", "-c", str(config), "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["counts"]["created"] == planned["counts"]["created"]
    assert first["counts"]["failed"] == 0
    code, out = cli("sync", "-c", str(config), "--json")
    again = json.loads(out)
    assert (again["counts"]["created"], again["counts"]["updated"]) == (0, 0)
    code, out = cli("status", "-c", str(config), "--json")
    status = json.loads(out)
    assert status["objects"]["companies"]["links"] > 0
    assert status["objects"]["companies"]["connectwise_cursor"]
    code, out = cli("history", "-c", str(config), "--json")
    runs = json.loads(out)
    assert [r["kind"] for r in runs[:2]] == ["incremental", "incremental"]
    contact_id = next(
        item["left_id"]
        for item in first["pairs"]["contacts"]["items"]
        if item["action"] == "create" and item["left_id"]
    )
    code, out = cli("explain", "connectwise", "contacts", contact_id, "-c", str(config), "--json")
    explained = json.loads(out)
    assert explained["link"]["connectwise_id"] == contact_id
    assert explained["decisions"][-1]["action"] == "create"
    code, out = cli("explain", "connectwise", "contacts", contact_id, "-c", str(config))
    assert "linked: ConnectWise" in out


def test_bad_config_names_file_line_and_field(tmp_path: Path) -> None:
    """A mapping that cannot work is refused when the config loads, naming the field pair (HS-4); exit 2."""
    config = tmp_path / "cwsync.yaml"
    cli("init", str(config), "--sandbox")
    text = config.read_text().replace(
        "      contacts:\n        direction: two-way",
        "      contacts:\n        direction: two-way\n        fields:\n          add:\n"
        "            - {connectwise: birthDay, hubspot: age, type: date, other_type: number}",
    )
    config.write_text(text)
    code, out = cli("plan", "-c", str(config))
    assert code == 2
    assert "birthDay (date) → age (number)" in out
    config.write_text(text.replace("version: 1", "version: 1\nbogus: true"))
    code, out = cli("plan", "-c", str(config))
    assert code == 2
    assert f"{config}:3: bogus: unknown field" in out.replace("\n", "")


def test_a_wrong_hubspot_token_is_a_clear_error_and_a_failed_run(served_small: RunningSandbox, tmp_path: Path) -> None:
    """HubSpot refuses the token while the engine prepares (the first ConnectWise page is already being read): the
    command exits 1 naming HubSpot and the fix (once), shows no traceback, and history records the run as failed."""
    config = tmp_path / "cwsync.yaml"
    store = f"sqlite:///{tmp_path / 'c.db'}"
    cli("init", str(config), "--sandbox", "--sandbox-url", served_small.base_url, "--store", store)
    assert served_small.hubspot is not None
    text = config.read_text()
    token = served_small.hubspot.settings.token
    assert token in text
    config.write_text(text.replace(token, "pat-na1-wrong"))
    result = runner.invoke(app, ["sync", "-c", str(config)])
    assert result.exit_code == 1, result.output
    assert "HubSpot" in result.output
    assert "Traceback" not in result.output
    assert " ".join(result.output.split()).count("Check the private app token") == 1  # the fix, said once
    code, out = cli("history", "-c", str(config), "--json")
    assert code == 0, out
    [run] = json.loads(out)
    assert run["status"] == "failed"
