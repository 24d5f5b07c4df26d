"""Opening what the HubSpot sync needs: the composition root's `opened`, with HubSpot required by default."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from cwsync.config import Config
from cwsync.integrations import root
from cwsync.integrations.root import Opened

__all__ = ["Context", "opened"]

Context = Opened


@asynccontextmanager
async def opened(config: Config, *, require_hubspot: bool = True, read_only: bool = False) -> AsyncIterator[Opened]:
    """Store and clients for a configuration, closed afterwards.

    Without `require_hubspot` (the server, which may run only change management or Hudu), a configuration with no
    HubSpot connection opens no HubSpot client. `read_only` (a plan) neither creates nor migrates the store.
    """
    async with root.opened(config, hubspot="required" if require_hubspot else "optional", read_only=read_only) as ctx:
        yield ctx
