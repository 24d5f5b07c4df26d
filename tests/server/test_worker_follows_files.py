"""`cwsync worker` follows its tenants' configuration files: a saved change reaches its next jobs without a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from cwsync.config import Config, load_config
from cwsync.server.run import follow_tenants

CONFIG = """version: 1
tenant: acme
store: sqlite:///{db}
connections:
  connectwise:
    site: cw.example.com
    company_id: acme
    public_key: pub
    private_key: priv
    client_id: 11111111-2222-3333-4444-555555555555
{extra}"""


class Recording:
    """A server that records the configurations it is reloaded with."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.reloaded: list[Config] = []

    async def reload(self, config: Config) -> list[str]:
        self.reloaded.append(config)
        self.config = config
        return []


class Fixed:
    """Tenants whose files are followed for changes only (none comes or goes)."""

    def __init__(self, servers: dict[str, Recording]) -> None:
        self.servers = servers

    async def reload(self, name: str, config: Config) -> list[str]:
        return await self.servers[name].reload(config)

    async def add(self, config: Config) -> None:
        raise AssertionError("no tenant is added here")

    async def remove(self, name: str) -> None:
        raise AssertionError("no tenant is removed here")


async def until(check: object, seconds: float = 10.0) -> None:
    """Poll `check()` until true, or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_changed_file_reloads_its_server_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    """A change is loaded and handed to `reload`; a file that no longer loads is logged and changes nothing; an
    unchanged file is not reloaded again."""
    path = tmp_path / "acme.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "s.db", extra=""), encoding="utf-8")
    server = Recording(load_config(path))
    follow = asyncio.create_task(follow_tenants(Fixed({"acme": server}), None, every=0.02))
    await asyncio.sleep(0)  # the follower has read the file as it was
    try:
        path.write_text(CONFIG.format(db=tmp_path / "s.db", extra="    requests_per_minute: 300\n"), encoding="utf-8")
        await until(lambda: len(server.reloaded) == 1)
        assert server.config.connections.connectwise.requests_per_minute == 300
        path.write_text("version: 1\nconnections: [\n", encoding="utf-8")  # broken: refused, kept
        await asyncio.sleep(0.1)  # five rounds of the follower: a refusal changes nothing, no event to await
        assert len(server.reloaded) == 1
        path.write_text(CONFIG.format(db=tmp_path / "s.db", extra="    requests_per_minute: 120\n"), encoding="utf-8")
        await until(lambda: len(server.reloaded) == 2)
        assert server.config.connections.connectwise.requests_per_minute == 120
    finally:
        follow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follow
