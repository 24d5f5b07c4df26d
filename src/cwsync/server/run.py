"""Serving `cwsync serve` with uvicorn: open the store and clients, start the server, stop cleanly on Ctrl+C."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import structlog
import uvicorn
from fastapi import FastAPI

from cwsync.config import Config
from cwsync.connectors.http import CwsyncApiError
from cwsync.integrations.root import opened
from cwsync.logs import route_uvicorn_logs
from cwsync.server.app import Server, create_app
from cwsync.server.changes_api import changes_workflow

log = structlog.get_logger("cwsync.server")

Mount = Callable[[FastAPI, Server], Awaitable[None]]


async def serve(config: Config, *, schedule: bool = True, log_level: str = "info", mount: Mount | None = None) -> None:
    """Run the server until interrupted (webhooks, jobs, scheduler, REST API); `mount` adds more to the app (the
    web console, which `cwsync serve` passes: the server package does not import it)."""
    hubspot, catalog = config.syncs.hubspot, config.syncs.catalog
    needs_hubspot = (hubspot is not None and hubspot.enabled) or (catalog is not None and catalog.enabled)
    async with (
        # A stored secret not set yet opens as a placeholder: the server starts, and the console takes it (Connections).
        opened(config, hubspot="required" if needs_hubspot else "optional", missing_secrets="placeholder") as ctx,
        httpx.AsyncClient(timeout=10, follow_redirects=False) as key_http,
    ):
        server = Server(ctx.config, ctx.store, ctx.cw, ctx.hubspot, key_http)
        await server.start(schedule=schedule)
        try:
            app = create_app(server)
            if mount is not None:
                await mount(app, server)
            changes = config.syncs.changes
            if changes is not None and changes.enabled:
                try:
                    await changes_workflow(app)  # its statuses and boards are checked now, not at the first event
                except CwsyncApiError as exc:  # unreachable or refused: serve anyway (the console fixes connections)
                    log.warning("server.changes_unchecked", error=exc.message, fix=exc.hint)
            settings = uvicorn.Config(
                app,
                host=config.server.host,
                port=config.server.port,
                log_level=log_level,
                log_config=None,  # cwsync.logs renders uvicorn's records (redacted; --log-format json too)
                lifespan="off",
            )
            route_uvicorn_logs()
            await uvicorn.Server(settings).serve()
        finally:
            await server.stop()
