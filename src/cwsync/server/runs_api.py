"""REST API to stop a run under way, behind the API bearer token (`cwsync runs cancel` over HTTP).

::

    POST /api/runs/{id}/cancel    202 {run}: it stops at its next page boundary (404 no such run, 409 not running)

The run may be in this server (a scheduled or API-started job) or in another process on the same store (a CLI
sync): the request is a flag in the store that the run reads once per page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, HTTPException, Path

from cwsync.engine.runs import request_cancel
from cwsync.server.auth import api_guard
from cwsync.server.limits import MAX_ID

if TYPE_CHECKING:
    from cwsync.server.app import Server

__all__ = ["add_run_routes"]


def add_run_routes(app: FastAPI, server: Server) -> None:
    """Add `POST /api/runs/{id}/cancel` to the server's app."""
    guard = api_guard(server.config)

    @app.post("/api/runs/{run_id}/cancel", dependencies=guard, tags=["runs"], status_code=202)
    async def cancel_run(run_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict[str, Any]:
        """Ask a running run to stop at its next page boundary: it ends as `cancelled`, what it did so far recorded
        and its cursors where they were. Asking again (or for a run already cancelled) answers the run as it is."""
        run = await request_cancel(server.store, server.config.tenant, run_id)
        if run is None:
            raise HTTPException(404, "no such run")
        if run.status not in ("running", "cancelled"):
            raise HTTPException(409, f"run {run_id} is not running: it {run.status}")
        return run.summary()
