"""The first hour of a new user: `--version`, `plan` writing nothing, `migrate`, the store next to the config file,
and `--json` errors that are JSON (issue 16)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from alembic import command
from typer.testing import CliRunner

import cwsync
from cwsync.cli.app import app
from cwsync.config import load_config
from cwsync.store.store import alembic_config
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox

runner = CliRunner()


@pytest.fixture
def served_small() -> Iterator[RunningSandbox]:
    """Every sandbox on loopback with a small MSP."""
    with running_sandbox(SandboxSettings(records=200, seed=5, examples=True)) as running:
        yield running


def _init(folder: Path, served: RunningSandbox | None = None) -> Path:
    config = folder / "cwsync.yaml"
    args = ["init", str(config), "--sandbox"]
    if served is not None:
        args += ["--sandbox-url", served.base_url]
    assert runner.invoke(app, args).exit_code == 0
    return config


def test_version_is_the_installed_one() -> None:
    """`cwsync --version` prints the package version (the same as `cwsync.__version__`) and exits 0."""
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"cwsync {version('cwsync')}"
    assert cwsync.__version__ == version("cwsync")


def test_the_sqlite_store_sits_next_to_the_config_file(tmp_path: Path) -> None:
    """`store: sqlite:///cwsync.db` is resolved against the configuration's folder, not the working directory."""
    config = _init(tmp_path / "etc")
    loaded = load_config(config)
    assert loaded.store == f"sqlite:///{(tmp_path / 'etc' / 'cwsync.db').as_posix()}"
    config.write_text(config.read_text().replace("sqlite:///cwsync.db", "sqlite:////var/lib/x.db"))
    assert load_config(config).store == "sqlite:////var/lib/x.db"


@pytest.mark.loopback
def test_plan_writes_nothing(served_small: RunningSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plan creates no database; on an existing one it records no run, no link and no cursor."""
    monkeypatch.chdir(tmp_path)
    config = _init(tmp_path, served_small)
    db = tmp_path / "cwsync.db"
    planned = runner.invoke(app, ["plan", "-c", str(config), "--json"])
    assert planned.exit_code == 0, planned.output
    assert json.loads(planned.stdout)["counts"]["created"] > 0
    assert not db.exists()
    assert not list(tmp_path.glob("*.db*"))
    for reading in ("status", "history"):  # read-only commands do not create it either
        assert runner.invoke(app, [reading, "-c", str(config), "--json"]).exit_code == 0
    assert not db.exists()
    assert runner.invoke(app, ["sync", "-c", str(config), "--object", "companies"]).exit_code == 0
    history = json.loads(runner.invoke(app, ["history", "-c", str(config), "--json"]).stdout)
    status = json.loads(runner.invoke(app, ["status", "-c", str(config), "--json"]).stdout)
    assert runner.invoke(app, ["plan", "-c", str(config), "--full", "--json"]).exit_code == 0
    assert json.loads(runner.invoke(app, ["history", "-c", str(config), "--json"]).stdout) == history
    assert json.loads(runner.invoke(app, ["status", "-c", str(config), "--json"]).stdout) == status


def test_migrate_current_upgrade_history(tmp_path: Path) -> None:
    """current reads without creating; upgrade migrates to the newest; history marks the current revision."""
    config = _init(tmp_path)
    db = tmp_path / "cwsync.db"
    current = runner.invoke(app, ["migrate", "current", "-c", str(config), "--json"])
    assert current.exit_code == 0, current.output
    state = json.loads(current.stdout)
    assert (state["current"], state["up_to_date"]) == (None, False)
    assert not db.exists()
    upgraded = json.loads(runner.invoke(app, ["migrate", "upgrade", "-c", str(config), "--json"]).stdout)
    assert (upgraded["previous"], upgraded["current"], upgraded["up_to_date"]) == (None, state["head"], True)
    assert db.exists()
    again = runner.invoke(app, ["migrate", "upgrade", "-c", str(config)])
    assert "already at" in again.stdout
    rows = json.loads(runner.invoke(app, ["migrate", "history", "-c", str(config), "--json"]).stdout)
    assert rows[0]["revision"] == "0001"
    assert [r["revision"] for r in rows if r["current"]] == [state["head"]]


def test_a_store_behind_is_refused_by_read_only_commands(tmp_path: Path) -> None:
    """`status` on a store one migration behind exits 2 naming `cwsync migrate upgrade` (it does not migrate)."""
    config = _init(tmp_path)
    assert runner.invoke(app, ["migrate", "upgrade", "-c", str(config)]).exit_code == 0
    command.downgrade(alembic_config(url=f"sqlite:///{tmp_path / 'cwsync.db'}"), "-1")
    result = runner.invoke(app, ["status", "-c", str(config), "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["type"] == "SchemaNotCurrentError"
    assert error["fix"] == "cwsync migrate upgrade"


def test_json_errors_are_json_on_stdout(tmp_path: Path) -> None:
    """With --json, a configuration error, a usage error and an API failure are one JSON object on stdout."""
    missing = runner.invoke(app, ["plan", "-c", str(tmp_path / "nope.yaml"), "--json"])
    assert missing.exit_code == 2
    error = json.loads(missing.stdout)["error"]
    assert error["type"] == "ConfigError"
    assert "cannot read the file" in error["message"]
    assert error["exit_code"] == 2
    assert error["fix"]
    usage = runner.invoke(app, ["sync", "--json", "--no-such-option"])
    assert usage.exit_code == 2
    assert json.loads(usage.stdout)["error"]["type"] == "NoSuchOption"
    config = _init(tmp_path)  # points at 127.0.0.1:8710; nothing listens on a closed port
    config.write_text(config.read_text().replace("http://127.0.0.1:8710", "http://127.0.0.1:9"))
    down = runner.invoke(app, ["sync", "-c", str(config), "--json"])
    assert down.exit_code == 1
    error = json.loads(down.stdout)["error"]
    assert error["type"] == "TransportError"
    assert error["exit_code"] == 1
    assert error["fix"]


def test_json_error_from_a_real_process_has_nothing_else_on_stdout(tmp_path: Path) -> None:
    """The console script itself: stdout is exactly one JSON document, the exit code is the error's."""
    done = subprocess.run(
        [sys.executable, "-m", "cwsync", "hudu", "test", "-c", str(tmp_path / "nope.yaml"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
        check=False,
    )
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"]["exit_code"] == 2


def _leaves(command: Any, path: list[str]) -> Iterator[tuple[list[str], Any]]:
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, [*path, name])


def test_every_command_takes_json() -> None:
    """Every command of the tree has `--json` (the long-running ones print where they listen as one JSON line)."""
    leaves = list(_leaves(typer.main.get_command(app), []))
    assert len(leaves) > 30
    without = [" ".join(path) for path, command in leaves if not any("--json" in p.opts for p in command.params)]
    assert without == []


def test_sandbox_serve_json_prints_one_json_line_first() -> None:
    """`cwsync sandbox serve --json`: the first stdout line is the credentials as JSON; Ctrl+C exits 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cwsync", "sandbox", "serve", "--port", "0", "--records", "100", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["company_id"] == "cwsandbox"
        assert info["hudu"]["api_key"]
        deadline = time.monotonic() + 30
        while not _answers(info["site"] + "/_sandbox"):  # serving (Ctrl+C before that is an interrupted start)
            assert time.monotonic() < deadline, "the sandbox did not serve"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_license_file_is_the_one_the_package_declares() -> None:
    """LICENSE holds the Apache License 2.0 that pyproject.toml names."""
    root = Path(__file__).resolve().parents[2]
    text = (root / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert 'license = { text = "Apache-2.0" }' in (root / "pyproject.toml").read_text(encoding="utf-8")


def test_progress_bars_show_done_total_and_eta_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drawn on a terminal (done/total, ETA); quiet when the console is a pipe or the command runs with --json."""
    from rich.console import Console

    from cwsync.cli import output

    assert not output.ProgressBars().enabled  # the test runner's stdout is no terminal
    screen = io.StringIO()
    monkeypatch.setattr(output, "console", Console(file=screen, force_terminal=True, width=120))
    assert not output.ProgressBars(quiet=True).enabled
    with output.ProgressBars(unit="ConnectWise records") as bars:
        assert bars.enabled
        bars.total("contacts", 10)
        bars.advance("contacts", 3)
        bars.bar.refresh()
        drawn = screen.getvalue()
    assert "contacts" in drawn
    assert "3/10" in drawn
    assert "ETA" in drawn


def test_a_printed_error_class_becomes_the_json_error_type() -> None:
    """A command that printed `LayoutError: ...` (and exited) gives a `--json` error typed `LayoutError`, not the
    generic `Error` (#16)."""
    from cwsync.cli.output import _ERROR_NAME

    assert _ERROR_NAME.match("LayoutError: asset layout(s) 'X' do not exist").group(1) == "LayoutError"  # type: ignore[union-attr]
    assert _ERROR_NAME.match("refused (x): y") is None
