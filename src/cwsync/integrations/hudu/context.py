"""Opening what the Hudu sync needs from a configuration: the store and the ConnectWise and Hudu clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from cwsync.config import Config, ConfigError, ConfigProblem
from cwsync.config.hudu import HuduSync
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.hudu import HuduClient
from cwsync.integrations import root
from cwsync.integrations.root import connectwise_settings, hudu_settings
from cwsync.store import Store

__all__ = ["HuduContext", "connectwise_settings", "hudu_settings", "hudu_sync_config", "opened"]


@dataclass
class HuduContext:
    """Open connections for one command."""

    config: Config
    store: Store
    cw: ConnectWiseClient
    hudu: HuduClient


def hudu_sync_config(config: Config) -> HuduSync:
    """`syncs.hudu`, or a ConfigError saying what to add."""
    sync = config.syncs.hudu
    if sync is None or not sync.enabled:
        raise ConfigError("<config>", [ConfigProblem(None, "syncs.hudu", "the Hudu sync is not configured or off")])
    return sync


@asynccontextmanager
async def opened(config: Config) -> AsyncIterator[HuduContext]:
    """Store and clients for a configuration (ConnectWise and Hudu), closed afterwards."""
    async with root.opened(config, hubspot="none", hudu=True) as ctx:
        assert ctx.hudu is not None
        yield HuduContext(config, ctx.store, ctx.cw, ctx.hudu)
