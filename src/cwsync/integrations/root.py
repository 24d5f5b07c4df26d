"""The composition root: the store and the clients a configuration names, opened once, closed together.

::

    async with opened(config, hubspot="required") as ctx:     # or "optional" / "none"; hudu=True opens Hudu too
        await HubSpotSync(config, ctx.store, ctx.cw, ctx.hs).run()

The CLI commands, `cwsync serve` and the integrations' helpers all open through here, so a connection is built
from its configuration section in one place.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from cwsync.config import Config, ConfigError, ConfigProblem
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.connectors.hudu import HuduClient, HuduSettings
from cwsync.store import Store, schema

__all__ = ["Opened", "connectwise_settings", "hubspot_settings", "hudu_settings", "opened"]

NO_HUBSPOT = ConfigProblem(None, "connections.hubspot", "the HubSpot sync needs a HubSpot connection")


@dataclass
class Opened:
    """Open connections for one command or server."""

    config: Config
    store: Store
    cw: ConnectWiseClient
    hubspot: HubSpotClient | None = None
    hudu: HuduClient | None = None

    @property
    def hs(self) -> HubSpotClient:
        """The HubSpot client (a ConfigError saying what to add when the configuration has none)."""
        if self.hubspot is None:
            raise ConfigError("<config>", [NO_HUBSPOT])
        return self.hubspot


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


def hubspot_settings(config: Config) -> HubSpotSettings | None:
    """Client settings from `connections.hubspot` (None when the configuration has no HubSpot connection)."""
    h = config.connections.hubspot
    if h is None:
        return None
    return HubSpotSettings(
        token=h.token, base_url=h.base_url, api_version=h.api_version, requests_per_10s=h.requests_per_10s
    )


def hudu_settings(config: Config) -> HuduSettings:
    """Client settings from `connections.hudu`, or a ConfigError when it is missing or unusable."""
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


@asynccontextmanager
async def opened(
    config: Config,
    *,
    hubspot: Literal["required", "optional", "none"] = "optional",
    hudu: bool = False,
    read_only: bool = False,
    store: Store | None = None,
) -> AsyncIterator[Opened]:
    """The store and clients of a configuration, closed afterwards (in reverse order, whatever happens).

    `hubspot="required"` raises a ConfigError without `connections.hubspot`; "optional" opens it when configured.
    `hudu=True` opens the Hudu client (a ConfigError without `connections.hudu`). `read_only` (plans) opens the store
    without creating or migrating it (`cwsync.store.schema.read_only`). An open `store` is used (not closed):
    the tenants of a deployment share one.
    """
    hs_settings = hubspot_settings(config) if hubspot != "none" else None
    if hubspot == "required" and hs_settings is None:
        raise ConfigError("<config>", [NO_HUBSPOT])
    hudu_config = hudu_settings(config) if hudu else None
    async with AsyncExitStack() as stack:
        if store is None and read_only:
            store = await stack.enter_async_context(schema.read_only(config.store))
        elif store is None:
            store = await Store.open(config.store)
            stack.push_async_callback(store.close)
        cw = await stack.enter_async_context(ConnectWiseClient(connectwise_settings(config)))
        hs = await stack.enter_async_context(HubSpotClient(hs_settings)) if hs_settings is not None else None
        hd = await stack.enter_async_context(HuduClient(hudu_config)) if hudu_config is not None else None
        yield Opened(config, store, cw, hs, hd)
