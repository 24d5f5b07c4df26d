"""REST API of the Hudu sync (HU-2, HU-5) under `/api/hudu`, behind the API bearer token, and the deep link (HU-6).

::

    GET  /api/hudu/match                         a suggestion (or the decision taken) per ConnectWise company
    POST /api/hudu/match                         {"decisions": [{"connectwise_id", "kind", "hudu_id"}], "auto": false}
    POST /api/hudu/sync?only=contacts&plan=false  start a sync (202; 409 while one runs); plan=true answers the plan
    GET  /api/hudu/sync                          the state of the latest sync started here
    GET  /links/connectwise/org/{companyRecId}   302 to the matched Hudu company (no token: users click it in CW)

Each request opens its own Hudu client (`HuduApi.client_factory`, the I/O seam tests swap); the store and the
ConnectWise client are the server's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urljoin

from fastapi import FastAPI, HTTPException
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field

from cwsync.config import ConfigError
from cwsync.config.hudu import DATA_TYPES, DataType
from cwsync.connectors.http import CwsyncApiError
from cwsync.connectors.hudu import HuduClient
from cwsync.core.selection import UnknownTypeError, select_types
from cwsync.integrations.hudu.context import hudu_settings
from cwsync.integrations.hudu.decisions import COMPANIES_PAIR
from cwsync.integrations.hudu.layouts import LayoutError
from cwsync.integrations.hudu.matching import Decision
from cwsync.integrations.hudu.run import HuduSyncEngine
from cwsync.server.auth import api_guard

if TYPE_CHECKING:
    from cwsync.server.app import Server

__all__ = ["DecisionIn", "DecisionsIn", "HuduApi", "add_hudu_routes"]

T = TypeVar("T")


class DecisionIn(BaseModel):
    """One decision: `match` (with `hudu_id`), `create`, or `unmatched`."""

    connectwise_id: int
    kind: Literal["match", "create", "unmatched"]
    hudu_id: int | None = None


class DecisionsIn(BaseModel):
    """Decisions to store; with `auto`, every exact suggestion is accepted too."""

    decisions: list[DecisionIn] = Field(default_factory=list)
    auto: bool = False


class HuduApi:
    """The server's Hudu side: a client per use, and the background sync started over the API (one at a time)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.client_factory: Callable[[], HuduClient] = self._client
        self.task: asyncio.Task[dict[str, Any]] | None = None
        self.last: dict[str, Any] = {"state": "never started"}

    def _client(self) -> HuduClient:
        return HuduClient(hudu_settings(self.server.config))

    @asynccontextmanager
    async def engine(self) -> AsyncIterator[HuduSyncEngine]:
        """An engine on the server's store and ConnectWise client and a fresh Hudu client (closed afterwards)."""
        if self.server.config.syncs.hudu is None or not self.server.config.syncs.hudu.enabled:
            raise HTTPException(404, "the Hudu sync is not configured (syncs.hudu)")
        try:
            client = self.client_factory()
        except ConfigError as exc:
            raise HTTPException(503, str(exc)) from exc
        async with client:
            yield HuduSyncEngine(self.server.config, self.server.store, self.server.cw, client)

    async def run(self, only: list[DataType] | None) -> dict[str, Any]:
        """One sync, recorded in `last`."""
        self.last = {"state": "running", "only": only}
        try:
            async with self.engine() as engine:
                report = await engine.run(only=only, trigger="api")
        except (CwsyncApiError, LayoutError) as exc:
            self.last = {"state": "failed", "error": str(exc)}
        else:
            self.last = {"state": "done", "report": report.as_json()}
        return self.last


def _only(text: str | None, enabled: list[DataType]) -> list[DataType] | None:
    """The data types `only=` names (comma-separated), or None for all; 422 naming the enabled ones otherwise."""
    try:
        chosen: list[DataType] = select_types(text, enabled, what="data type", off=DATA_TYPES)  # type: ignore[assignment]
    except UnknownTypeError as exc:
        raise HTTPException(422, str(exc)) from exc
    return chosen or None


def add_hudu_routes(app: FastAPI, server: Server) -> None:
    """Add the `/api/hudu` routes and the `/links/connectwise/org/{id}` deep link to the server's app."""
    hudu = HuduApi(server)
    app.state.hudu = hudu

    guard = api_guard(server.config)

    @app.get("/api/hudu/match", dependencies=guard, tags=["hudu"])
    async def suggestions() -> list[dict[str, Any]]:
        """A suggestion (or the decision taken) per ConnectWise company."""
        async with hudu.engine() as engine:
            return [s.as_json() for s in await _upstream(engine.suggestions())]

    @app.post("/api/hudu/match", dependencies=guard, tags=["hudu"])
    async def decide(body: DecisionsIn) -> dict[str, Any]:
        """Store decisions (and, with `auto`, accept every exact suggestion)."""
        try:
            wanted = [Decision(d.connectwise_id, d.kind, d.hudu_id, by="api") for d in body.decisions]
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        async with hudu.engine() as engine:
            try:
                stored = await _upstream(engine.decide(wanted)) if wanted else []
            except ValueError as exc:
                raise HTTPException(422, str(exc)) from exc
            stored += await _upstream(engine.auto_match()) if body.auto else []
        return {"decisions": [{"connectwise_id": d.cw_id, "kind": d.kind, "hudu_id": d.hudu_id} for d in stored]}

    @app.post("/api/hudu/sync", dependencies=guard, tags=["hudu"], status_code=202)
    async def trigger(only: str | None = None, plan: bool = False) -> dict[str, Any]:
        """Start a sync in the background (or, with `plan`, answer the plan)."""
        hudu_sync = server.config.syncs.hudu
        kinds = _only(only, hudu_sync.data_types() if hudu_sync is not None else list(DATA_TYPES))
        if plan:
            async with hudu.engine() as engine:
                try:
                    return (await _upstream(engine.run(only=kinds, dry_run=True))).as_json()
                except LayoutError as exc:
                    raise HTTPException(409, str(exc)) from exc
        if hudu.task is not None and not hudu.task.done():
            raise HTTPException(409, "a Hudu sync is already running")
        hudu.task = asyncio.create_task(hudu.run(kinds))
        return {"started": True, "only": kinds}

    @app.get("/api/hudu/sync", dependencies=guard, tags=["hudu"])
    async def sync_state() -> dict[str, Any]:
        """The latest sync started over the API."""
        return hudu.last

    @app.get("/links/connectwise/org/{company_rec_id}", tags=["hudu"])
    async def deep_link(company_rec_id: int) -> RedirectResponse:
        """Open the Hudu company matched to a ConnectWise company (the ConnectWise Setup Tables → Links target)."""
        links = await server.store.links_by_left(server.config.tenant, COMPANIES_PAIR, [str(company_rec_id)])
        link = links.get(str(company_rec_id))
        url = str(link.right_values.get("url") or "") if link else ""
        if not url:
            raise HTTPException(
                404, f"ConnectWise company {company_rec_id} is not matched to a Hudu company (cwsync hudu match)"
            )
        connection = server.config.connections.hudu
        base = connection.base_url.rstrip("/") + "/" if connection else ""
        return RedirectResponse(urljoin(base, url), status_code=302)


async def _upstream(work: Awaitable[T]) -> T:
    """Await `work`; a Hudu or ConnectWise error answers 502 with the remote's message."""
    try:
        return await work
    except CwsyncApiError as exc:
        raise HTTPException(502, f"{type(exc).__name__}: {exc}") from exc
