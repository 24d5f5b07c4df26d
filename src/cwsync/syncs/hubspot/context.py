"""Opening everything a configuration names: the store and both clients (CLI and server share this)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from cwsync.config import Config, ConfigError, ConfigProblem
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.store import Store


@dataclass
class Context:
    """Open connections for one command."""

    config: Config
    store: Store
    cw: ConnectWiseClient
    hubspot: HubSpotClient | None

    @property
    def hs(self) -> HubSpotClient:
        """The HubSpot client (opened with `require_hubspot`, so present wherever the HubSpot sync runs)."""
        if self.hubspot is None:
            raise ConfigError("<config>", [_NO_HUBSPOT])
        return self.hubspot


_NO_HUBSPOT = ConfigProblem(None, "connections.hubspot", "the HubSpot sync needs a HubSpot connection")


@asynccontextmanager
async def opened(config: Config, *, require_hubspot: bool = True) -> AsyncIterator[Context]:
    """Store and clients for a configuration, closed afterwards.

    Without `require_hubspot` (the server, which may run only change management or Hudu), a configuration with no
    HubSpot connection opens no HubSpot client.
    """
    c = config.connections.connectwise
    cw_settings = ConnectWiseSettings(
        site=c.site,
        company_id=c.company_id,
        public_key=c.public_key,
        private_key=c.private_key,
        client_id=c.client_id,
        api_version=c.api_version,
        max_concurrency=c.max_concurrency,
        requests_per_minute=c.requests_per_minute,
    )
    h = config.connections.hubspot
    if h is None and require_hubspot:
        raise ConfigError("<config>", [_NO_HUBSPOT])
    store = await Store.open(config.store)
    try:
        async with ConnectWiseClient(cw_settings) as cw:
            if h is None:
                yield Context(config, store, cw, None)
                return
            hs_settings = HubSpotSettings(
                token=h.token, base_url=h.base_url, api_version=h.api_version, requests_per_10s=h.requests_per_10s
            )
            async with HubSpotClient(hs_settings) as hs:
                yield Context(config, store, cw, hs)
    finally:
        await store.close()
