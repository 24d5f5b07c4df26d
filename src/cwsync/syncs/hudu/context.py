"""Opening what the Hudu sync needs from a configuration: the store and the ConnectWise and Hudu clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from cwsync.config import Config, ConfigError, ConfigProblem
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.hudu import HuduClient, HuduSettings
from cwsync.store import Store
from cwsync.syncs.hudu.config import HuduSync

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


def hudu_settings(config: Config) -> HuduSettings:
    """Client settings from `connections.hudu` (a ConfigError when it is missing or unusable)."""
    h = config.connections.hudu
    if h is None:
        raise ConfigError("<config>", [ConfigProblem(None, "connections.hudu", "the Hudu sync needs a connection")])
    try:
        return HuduSettings(
            base_url=h.base_url,
            api_key=h.api_key,
            requests_per_minute=h.requests_per_minute,
            max_concurrency=h.max_concurrency,
            timeout=h.timeout,
        )
    except ValueError as exc:
        raise ConfigError("<config>", [ConfigProblem(None, "connections.hudu", str(exc))]) from exc


def connectwise_settings(config: Config) -> ConnectWiseSettings:
    """Client settings from `connections.connectwise`."""
    c = config.connections.connectwise
    return ConnectWiseSettings(
        site=c.site,
        company_id=c.company_id,
        public_key=c.public_key,
        private_key=c.private_key,
        client_id=c.client_id,
        api_version=c.api_version,
        max_concurrency=c.max_concurrency,
        requests_per_minute=c.requests_per_minute,
    )


@asynccontextmanager
async def opened(config: Config) -> AsyncIterator[HuduContext]:
    """Store and clients for a configuration, closed afterwards."""
    hudu_settings_ = hudu_settings(config)
    store = await Store.open(config.store)
    try:
        async with ConnectWiseClient(connectwise_settings(config)) as cw, HuduClient(hudu_settings_) as hudu:
            yield HuduContext(config, store, cw, hudu)
    finally:
        await store.close()
