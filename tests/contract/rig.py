"""The sandboxes as the contract suite uses them: the one module of the suite that imports `cwsync_sandbox`.

A `World` is the three emulators (ConnectWise at the root, HubSpot under `/hubspot`, Hudu under `/hudu`) served
by uvicorn on 127.0.0.1, a SQLite store file and a configuration file pointing at both. Syncs run against it as a
user runs them (`python -m cwsync ...` in a child process, or the Typer app in this one) or through clients made
here (real HTTP, retries that do not wait).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cwsync.cli.app import app
from cwsync.config import Config, load_config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.http import RetryPolicy
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.connectors.hudu import HuduClient
from cwsync.integrations.hudu.context import connectwise_settings, hudu_settings
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings
from cwsync_sandbox.faults import FaultSettings
from cwsync_sandbox.hubspot import HubSpotSandbox, HubSpotSandboxSettings
from cwsync_sandbox.hudu import HuduSandbox, HuduSandboxSettings
from cwsync_sandbox.server import running_sandbox

__all__ = ["FAST_RETRY", "Data", "World", "cli", "world"]

FAST_RETRY = RetryPolicy(attempts=8, base=0.01, cap=0.02)
"""Retries of the in-process clients: as many as a real client makes, without the waits."""
UNLIMITED = 100_000


async def no_sleep(_: float) -> None:
    """Retries in tests never wait."""


@dataclass(frozen=True)
class Data:
    """What the sandboxes hold at the start: same `Data`, same records (ids included)."""

    records: int
    seed: int
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass
class World:
    """Served sandboxes, a store file and a configuration file for them."""

    cw: Sandbox
    hubspot: HubSpotSandbox
    hudu: HuduSandbox
    site: str
    db: Path
    config_path: Path

    _loaded: tuple[bytes, Config] | None = field(default=None, repr=False, compare=False)

    @property
    def config(self) -> Config:
        """The configuration, loaded as the CLI loads it — again only when the file changed (the models are
        frozen; parsing the YAML with its comments took ~40 ms, and a case reads the configuration dozens of
        times)."""
        text = self.config_path.read_bytes()
        if self._loaded is None or self._loaded[0] != text:
            self._loaded = (text, load_config(self.config_path))
        return self._loaded[1]

    # -- faults ---------------------------------------------------------------------------------------------------

    def faults(self, system: str, **settings: Any) -> None:
        """Set the faults of one emulator (`connectwise`, `hubspot`, `hudu`); no arguments turns them off."""
        box = {"connectwise": self.cw, "hubspot": self.hubspot, "hudu": self.hudu}[system]
        box.faults.update(FaultSettings(**settings))

    def fault_counters(self, system: str) -> dict[str, int]:
        """How many faults an emulator injected so far."""
        box = {"connectwise": self.cw, "hubspot": self.hubspot, "hudu": self.hudu}[system]
        return box.faults.counters.as_dict()

    # -- ConnectWise records --------------------------------------------------------------------------------------

    def cw_ids(self, entity: str) -> list[int]:
        """Ids of the live ConnectWise records of an entity."""
        return list(self.cw.store.ids(entity))

    def cw_record(self, entity: str, record_id: int) -> dict[str, Any] | None:
        """A live ConnectWise record (None when deleted)."""
        record = self.cw.store.get(entity, record_id)
        return None if record is None else dict(record)

    def delete_cw(self, entity: str, ids: Sequence[int]) -> None:
        """Delete ConnectWise records behind the API's back (no callback): what a broken read or a purge looks like."""
        overlay = self.cw.store.overlay.setdefault(entity, {})
        for record_id in ids:
            overlay[record_id] = None

    # -- clients on the sandboxes (real HTTP, retries without waits) -----------------------------------------------

    def cw_client(self) -> ConnectWiseClient:
        """A ConnectWise client from the configuration."""
        return ConnectWiseClient(connectwise_settings(self.config), sleep=no_sleep, retry=FAST_RETRY)

    def hubspot_client(self) -> HubSpotClient:
        """A HubSpot client from the configuration."""
        h = self.config.connections.hubspot
        assert h is not None
        settings = HubSpotSettings(token=h.token, base_url=h.base_url, requests_per_10s=h.requests_per_10s)
        return HubSpotClient(settings, sleep=no_sleep, retry=FAST_RETRY)

    def hudu_client(self) -> HuduClient:
        """A Hudu client from the configuration."""
        return HuduClient(hudu_settings(self.config), sleep=no_sleep, retry=FAST_RETRY)

    # -- the CLI --------------------------------------------------------------------------------------------------

    def cli(self, *args: str) -> tuple[int, str]:
        """A cwsync command with this configuration, in this process; exit code and output."""
        return cli(*args, "-c", str(self.config_path))

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """A cwsync command with this configuration, as a child process (`python -m cwsync ...`); its output goes
        to `<folder>/child.log` (a pipe nobody reads would stop it once full)."""
        env = {**os.environ, "CWSYNC_LOG_LEVEL": "error"}
        argv = [sys.executable, "-m", "cwsync", *args, "-c", str(self.config_path)]
        with (self.config_path.parent / "child.log").open("a", encoding="utf-8") as log:
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True, env=env)

    def kill_on_progress(
        self, args: Sequence[str], progress: Callable[[], int], *, above: int = 0, deadline_s: float = 60
    ) -> int | None:
        """Start a command, SIGKILL it as soon as `progress()` grew past what it was and past `above` (polled under
        a deadline); then wait until the writes it had in flight landed (`settled`).

        Returns the progress at the moment of the kill, or None when the command ended first.
        """
        target = max(progress(), above)
        proc = self.spawn(*args)
        deadline = time.monotonic() + deadline_s
        try:
            while (now := progress()) <= target and proc.poll() is None:
                assert time.monotonic() < deadline, "the sync made no progress"
                time.sleep(0.002)
            if proc.poll() is not None:
                return None
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
            settled(progress)
            return now
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


def settled(progress: Callable[[], int], *, quiet_s: float = 0.5, deadline_s: float = 30) -> int:
    """`progress()` once it stopped moving for `quiet_s` (polled under a deadline): requests a killed process sent
    are still processed by the emulator after it died, and must not count as the next run's progress."""
    deadline = time.monotonic() + deadline_s
    value, since = progress(), time.monotonic()
    while time.monotonic() - since < quiet_s:
        assert time.monotonic() < deadline, "the target kept changing after the kill"
        time.sleep(0.01)
        now = progress()
        if now != value:
            value, since = now, time.monotonic()
    return value


def cli(*args: str) -> tuple[int, str]:
    """A cwsync command in this process: exit code and output."""
    result = CliRunner().invoke(app, list(args), env={"CWSYNC_LOG_LEVEL": "error"})
    return result.exit_code, result.output


def _config(site: str, db: Path, syncs: Mapping[str, Any], cw: SandboxSettings) -> dict[str, Any]:
    return {
        "store": f"sqlite:///{db}",
        "connections": {
            "connectwise": {
                "site": site,
                "company_id": cw.company_id,
                "public_key": cw.public_key,
                "private_key": cw.private_key,
                "client_id": cw.client_id,
                "requests_per_minute": None,
            },
            "hubspot": {
                "token": HubSpotSandboxSettings().token,
                "base_url": f"{site}/hubspot",
                "requests_per_10s": UNLIMITED,
            },
            "hudu": {
                "base_url": f"{site}/hudu",
                "api_key": HuduSandboxSettings().api_key,
                "requests_per_minute": UNLIMITED,
            },
        },
        "syncs": dict(syncs),
        "server": {"api_token": "contract-api-token", "public_url": "http://127.0.0.1:1"},
    }


@contextmanager
def world(data: Data, tmp: Path, syncs: Mapping[str, Any], name: str = "world") -> Iterator[World]:
    """Every emulator served on loopback with `data`, an empty store, and a configuration with `syncs`."""
    settings = SandboxSettings(records=data.records, seed=data.seed, counts=dict(data.counts))
    hubspot = HubSpotSandboxSettings(rate_limit_per_10s=UNLIMITED, search_per_second=UNLIMITED)
    hudu = HuduSandboxSettings(rate_limit_per_minute=UNLIMITED)
    with running_sandbox(settings, hubspot=hubspot, hudu=hudu) as served:
        assert served.hubspot is not None
        assert served.hudu is not None
        folder = tmp / name
        folder.mkdir()
        db, config_path = folder / "cwsync.db", folder / "cwsync.yaml"
        body = _config(served.base_url, db, syncs, served.sandbox.settings)
        config_path.write_text(json.dumps(body, indent=2), encoding="utf-8")  # JSON is YAML
        yield World(served.sandbox, served.hubspot, served.hudu, served.base_url, db, config_path)
