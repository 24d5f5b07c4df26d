"""REST API of the two-way HubSpot sync, behind the API bearer token.

::

    GET  /api/pairs                                  the enabled objects with their links and cursors
    POST /api/sync?only=companies,contacts&full=false  202 {"jobs": [...]}: queued (422 for an unknown object)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query

from cwsync.core.selection import UnknownTypeError, select_types
from cwsync.runtime.jobs import JobSpec
from cwsync.server.auth import api_guard
from cwsync.server.registry import HUBSPOT

if TYPE_CHECKING:
    from cwsync.server.app import Server

__all__ = ["add_hubspot_routes"]


def add_hubspot_routes(app: FastAPI, server: Server) -> None:
    """Add `GET /api/pairs` and `POST /api/sync` to the server's app."""
    config = server.config
    guard = api_guard(config)

    @app.get("/api/pairs", dependencies=guard)
    async def pairs() -> dict[str, Any]:
        """Enabled objects with their links and cursors."""
        out = {}
        for pair in HUBSPOT.mappings(server):
            out[pair] = {
                "links": await server.store.link_count(config.tenant, pair),
                "connectwise_cursor": await server.store.cursor(config.tenant, pair, "left"),
                "hubspot_cursor": await server.store.cursor(config.tenant, pair, "right"),
            }
        return out

    @app.post("/api/sync", dependencies=guard, status_code=202)
    async def trigger(
        full: bool = False,
        objects: Annotated[str | None, Query(max_length=200)] = None,
        only: Annotated[str | None, Query(max_length=200)] = None,
    ) -> dict[str, Any]:
        """Queue an incremental (or full) run of some (`only=companies,contacts`; `objects` is the same) or every
        enabled HubSpot object; an unknown one is refused (422) with the enabled ones named."""
        enabled = list(HUBSPOT.mappings(server))
        try:
            wanted = select_types([only or "", objects or ""], enabled, what="HubSpot object")
        except UnknownTypeError as exc:
            raise HTTPException(422, str(exc)) from exc
        wanted = wanted or enabled
        kind: Literal["full", "incremental"] = "full" if full else "incremental"
        jobs = [
            await server.runner.enqueue(
                JobSpec(
                    tenant=config.tenant,
                    pair=pair,
                    kind=kind,
                    queueing_key=f"api:{config.tenant}:{pair}:{kind}",
                    payload={"trigger": "api"},
                )
            )
            for pair in wanted
        ]
        return {"jobs": jobs}
