"""Processes of one deployment for the scale-out tests: tenants on sandboxes, `serve` and `worker` processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync.store.store import async_url
from cwsync_sandbox.server import RunningSandbox
from tests.loopback import free_port as free_port  # re-exported: the scale-out tests import both from here
from tests.loopback import wait_for as wait_for

cli = CliRunner()
API_TOKEN = "sandbox-api-token-0001"


@dataclass
class Tenant:
    """A tenant's config file, on its own sandbox."""

    name: str
    path: Path
    sandbox: RunningSandbox
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def hubspot_only(data: Any) -> None:
    """Keep only the HubSpot sync of an `init --sandbox` configuration."""
    for name in list(data["syncs"]):
        if name != "hubspot":
            del data["syncs"][name]


def write_tenant(
    directory: Path, name: str, sandbox: RunningSandbox, store: str, *, edit: Callable[[Any], None] = hubspot_only
) -> Tenant:
    """`cwsync init --sandbox` for `sandbox`, renamed to tenant `name` and changed by `edit` (HubSpot only)."""
    path = directory / f"{name}.yaml"
    port = free_port()
    args = ["init", str(path), "--sandbox", "--sandbox-url", sandbox.base_url, "--store", store]
    result = cli.invoke(app, [*args, "--server-port", str(port)])
    assert result.exit_code == 0, result.stdout
    yaml = YAML()
    data = yaml.load(path.read_text())
    data["tenant"] = name
    edit(data)
    with path.open("w") as out:
        yaml.dump(data, out)
    return Tenant(name, path, sandbox, port)


@dataclass
class Processes:
    """cwsync processes started by a test, stopped (SIGINT, then kill) at the end."""

    env: dict[str, str] = field(default_factory=lambda: {**os.environ, "CWSYNC_LOG_LEVEL": "warning"})
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    logs: dict[int, Path] = field(default_factory=dict)

    def start(self, *args: str, log: Path, level: str = "warning") -> subprocess.Popen[str]:
        """`python -m cwsync *args`, its output (both streams, events from `level` up) in the file `log`."""
        env = {**self.env, "CWSYNC_LOG_LEVEL": level}
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "cwsync", *args], stdout=out, stderr=subprocess.STDOUT, text=True, env=env
            )
        self.started.append(proc)
        self.logs[proc.pid] = log
        return proc

    def output(self, proc: subprocess.Popen[str]) -> str:
        """The end of what `proc` printed."""
        return self.logs[proc.pid].read_text()[-3000:]

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def processes() -> Iterator[Processes]:
    """A `Processes` whose survivors are stopped afterwards."""
    running = Processes()
    try:
        yield running
    finally:
        running.stop_all()


def healthy(base: str, proc: subprocess.Popen[str], log: Path, path: str = "/livez") -> bool:
    """Whether the process answers on `base` (fails at once when it exited, with the end of its `log`)."""
    if proc.poll() is not None:
        raise AssertionError(f"exited {proc.returncode}: {log.read_text()[-3000:]}")
    try:
        return httpx.get(f"{base}{path}", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def query(url: str, sql: str, **params: Any) -> list[Any]:
    """Rows of one SQL statement on the store at `url`."""

    async def run() -> list[Any]:
        engine = create_async_engine(async_url(url))
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(text(sql), params)).all())
        finally:
            await engine.dispose()

    return asyncio.run(run())


def contact_ids(sandbox: RunningSandbox, count: int) -> list[int]:
    """Ids of `count` active contacts with a company in the sandbox."""
    from tests.conftest import auth_headers

    api = sandbox.sandbox.api_root
    headers = auth_headers(sandbox.sandbox.settings)
    contacts = httpx.get(f"{api}/company/contacts", params={"pageSize": 200}, headers=headers).json()
    return [c["id"] for c in contacts if c.get("company") and not c.get("inactiveFlag")][:count]
