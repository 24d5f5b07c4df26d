"""The deployment files parse, and every cwsync command they run is one the CLI accepts (no docker compose here)."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from ruamel.yaml import YAML

from cwsync.cli.app import app

ROOT = Path(__file__).resolve().parents[2]


def _accepts(args: list[str]) -> None:
    """Parse `cwsync *args` as the CLI would, without running it (an unknown command or option raises)."""
    group: Any = typer.main.get_command(app)  # typer's own click: groups are told by `get_command`
    ctx = group.make_context("cwsync", [*args[:1]], resilient_parsing=True)
    command = group.get_command(ctx, args[0])
    rest = args[1:]
    while hasattr(command, "get_command"):
        ctx = command.make_context(args[0], rest[:1], parent=ctx, resilient_parsing=True)
        command, rest = command.get_command(ctx, rest[0]), rest[1:]
    assert command is not None, args
    command.make_context(args[0], rest, parent=ctx)


def test_compose_runs_postgres_serve_and_two_workers() -> None:
    """compose.yaml: PostgreSQL, a migration, serve and two workers, stopped with more time than their grace."""
    compose = YAML(typ="safe").load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"db", "migrate", "serve", "worker-1", "worker-2"} <= set(services)
    anchor = compose["x-cwsync"]
    for name in ("serve", "worker-1", "worker-2"):
        service = {**anchor, **services[name]}
        _accepts(service["command"])
        grace = float(service["command"][service["command"].index("--grace") + 1])
        assert float(service["stop_grace_period"].rstrip("s")) > grace
    assert services["serve"]["command"][0] == "serve"
    assert [services[w]["command"][0] for w in ("worker-1", "worker-2")] == ["worker", "worker"]


def test_dockerfile_is_slim_non_root_with_a_healthcheck() -> None:
    """The image: a slim Python base, a non-root user, a HEALTHCHECK on /livez."""
    text = (ROOT / "Dockerfile").read_text()
    assert all(line.split()[1].endswith("-slim") for line in text.splitlines() if line.startswith("FROM "))
    users = [line.split()[1] for line in text.splitlines() if line.startswith("USER ")]
    assert users
    assert users[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text
    assert "/livez" in text
    _accepts(["serve", "--no-worker"])


@pytest.mark.parametrize("unit", ["cwsync-serve.service", "cwsync-worker@.service"])
def test_systemd_units_run_accepted_commands(unit: str) -> None:
    """Each unit's ExecStart is a cwsync command the CLI accepts; it stops on SIGTERM with time to drain."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(ROOT / "deploy" / "systemd" / unit)
    service = parser["Service"]
    args = shlex.split(service["ExecStart"])
    assert args[0].endswith("/cwsync")
    _accepts(args[1:])
    assert service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > float(args[args.index("--grace") + 1])
