"""REST API of the SQL mirror, behind the API bearer token: a manual run of some or every mirrored object.

::

    POST /api/mirror/sync?only=tickets,companies&full=false    202 {"job": id}: queued (422 for an unknown object)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query

from cwsync.config.mirror import MIRROR_OBJECTS
from cwsync.core.selection import UnknownTypeError, select_types
from cwsync.runtime.jobs import JobSpec
from cwsync.server.auth import api_guard

if TYPE_CHECKING:
    from cwsync.server.app import Server

__all__ = ["add_mirror_routes"]


def add_mirror_routes(app: FastAPI, server: Server) -> None:
    """Add `POST /api/mirror/sync` to the server's app."""
    guard = api_guard(server.config)

    @app.post("/api/mirror/sync", dependencies=guard, tags=["mirror"], status_code=202)
    async def sync_mirror(
        full: bool = False, only: Annotated[str | None, Query(max_length=200)] = None
    ) -> dict[str, Any]:
        """Queue a mirror run of the objects `only` names (comma-separated; all configured ones without it)."""
        mirror = server.config.syncs.mirror
        if mirror is None or not mirror.enabled:
            raise HTTPException(409, "the SQL mirror is not configured (syncs.mirror)")
        try:
            chosen = select_types(only, list(mirror.objects), what="mirror object", off=MIRROR_OBJECTS)
        except UnknownTypeError as exc:
            raise HTTPException(422, str(exc)) from exc
        kind: Literal["full", "incremental"] = "full" if full else "incremental"
        tenant = server.config.tenant
        spec = JobSpec(
            tenant=tenant,
            pair="mirror",
            kind=kind,
            queueing_key=f"api:{tenant}:mirror:{kind}:{','.join(chosen)}",
            payload={"trigger": "api", "only": chosen},
        )
        return {"job": await server.runner.enqueue(spec), "only": chosen or list(mirror.objects)}
