"""An unreachable store is named with the fix at `cwsync doctor` and at start, never a traceback (issue 20)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync.diagnostics.store import check_store
from cwsync.store import Store, StoreUnavailableError

runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nobody listens once the socket is closed


def _unreachable() -> str:
    return f"postgresql://cwsync:s3cret@127.0.0.1:{_closed_port()}/cwsync"


async def test_open_names_the_store_and_the_fix() -> None:
    """Opening an unreachable PostgreSQL used to be a raw OSError from asyncpg."""
    with pytest.raises(StoreUnavailableError) as info:
        await Store.open(_unreachable())
    assert "cannot open the store postgresql+asyncpg://cwsync:***@127.0.0.1" in str(info.value)
    assert "ConnectionRefusedError" in str(info.value)
    assert "s3cret" not in str(info.value)
    assert "psql" in info.value.fix


async def test_doctor_check_fails_with_the_fix() -> None:
    """The doctor's store check fails with the reason and the fix."""
    result = await check_store(_unreachable())
    assert result.status == "fail"
    assert result.fix is not None
    assert "s3cret" not in result.detail


def test_sync_at_start_reports_an_unreachable_store(tmp_path: Path) -> None:
    """`cwsync sync` with an unreachable store exits 2 with the message and the fix, no traceback."""
    config = tmp_path / "cwsync.yaml"
    assert runner.invoke(app, ["init", str(config), "--sandbox", "--store", _unreachable()]).exit_code == 0
    result = runner.invoke(app, ["sync", "-c", str(config)])
    assert result.exit_code == 2, result.stdout
    assert "StoreUnavailableError: cannot open the store" in " ".join(result.stdout.split())
    assert "fix:" in result.stdout
    assert "Traceback" not in result.stdout
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_doctor_json_lists_the_store(tmp_path: Path) -> None:
    """`cwsync doctor --config` lists the store check in its report (here a SQLite store, which it does not create)."""
    config = tmp_path / "cwsync.yaml"
    store = tmp_path / "sub" / "c.db"
    assert runner.invoke(app, ["init", str(config), "--sandbox", "--store", f"sqlite:///{store}"]).exit_code == 0
    result = runner.invoke(app, ["doctor", "--config", str(config), "--json"])
    names = [c["name"] for c in json.loads(result.stdout)["checks"]]
    assert names[-1] == "Store reachable"
    assert not store.exists()
