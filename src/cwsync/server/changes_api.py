"""REST API of the change workflow (CB-2, CB-4 … CB-6), under `/api/changes`, behind the API bearer token.

::

    GET  /api/changes/tickets?company=acme&q=firewall     ticket search (by number or summary, allowed boards only)
    POST /api/changes/link[?plan=true]                    LinkRequest → EventResult (the `created` event)
    POST /api/changes/{change_id}/events[?plan=true]      an event ({"kind": "scheduled", "event_id": ...})
    GET  /api/changes/{change_id}                         the change, its events, its ticket now, its devices
    GET  /api/devices?hostname=fw&company=ACME            devices (hostname contains, company identifier or id)
    GET  /api/devices/{hostname}[?company=ACME]           one device (exact hostname, any case) and its changes
    POST /api/devices/sync[?full=true]                    a device sync run (CB-7) → its counts

The `changes:` configuration is checked against ConnectWise (`validate_statuses`) before the first request is
served; a configuration that does not match answers 503 listing every problem, so no event is taken before it is
fixed. Refusals answer with `{"error": code, "reason": ...}`: 404 unknown change/company/ticket, 409 out of order /
already linked / event id reused / busy, 422 board or company not allowed, or a time entry for a non-member;
404 unknown device or device sync not configured, 409 a hostname several companies share (give `company`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse

from cwsync.connectors.http import CwsyncApiError
from cwsync.integrations.devices.models import Device, DeviceSyncReport, DeviceView
from cwsync.server.auth import api_guard
from cwsync.workflows.changes.devices import device_view, sync_of
from cwsync.workflows.changes.errors import ChangeRefused, SetupError
from cwsync.workflows.changes.models import (
    ChangeEvent,
    EventResult,
    LinkRequest,
    TicketSummary,
)
from cwsync.workflows.changes.workflow import ChangeView, ChangeWorkflow

if TYPE_CHECKING:
    from cwsync.server.app import Server

__all__ = ["REFUSAL_STATUS", "add_change_routes", "changes_workflow"]

T = TypeVar("T")

REFUSAL_STATUS: dict[str, int] = {
    "unknown_change": 404,
    "unknown_company": 404,
    "ticket_not_found": 404,
    "out_of_order": 409,
    "already_linked": 409,
    "event_id_reused": 409,
    "busy": 409,
    "board_not_allowed": 422,
    "company_mismatch": 422,
    "unknown_member": 422,
    "unknown_device": 404,
    "ambiguous_device": 409,
    "devices_not_configured": 404,
}


class _Workflow:
    """The server's change workflow, started (and its setup validated) on first use, and again when the server's
    `changes:` settings or ConnectWise client changed (a save in the console: `Server.reload`)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.workflow: ChangeWorkflow | None = None
        self._started_for: tuple[Any, Any] | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> ChangeWorkflow:
        config = self.server.config.syncs.changes
        if config is None or not config.enabled:
            raise HTTPException(404, "change management is not configured (syncs.changes)")
        async with self._lock:
            if self.workflow is None or self._started_for != (config, self.server.cw):
                self.workflow = await ChangeWorkflow.start(
                    client=self.server.cw, store=self.server.store, config=config, tenant=self.server.config.tenant
                )
                self._started_for = (config, self.server.cw)
        return self.workflow


async def changes_workflow(app: FastAPI) -> ChangeWorkflow:
    """The app's change workflow (validating the setup on first use): e.g. at server start.

    Raises:
        SetupError: the `changes:` configuration does not match ConnectWise.
    """
    holder: _Workflow = app.state.changes
    return await holder.get()


def add_change_routes(app: FastAPI, server: Server) -> None:
    """Add the `/api/changes` routes to the server's app."""
    holder = _Workflow(server)
    app.state.changes = holder

    guard = api_guard(server.config)
    _handlers(app)

    @app.get("/api/changes/tickets", dependencies=guard, tags=["changes"])
    async def search_tickets(
        company: str,
        q: str = "",
        limit: Annotated[int, Query(ge=1, le=100)] = 25,
        include_closed: bool = False,
    ) -> list[TicketSummary]:
        """Tickets of a mapped company on its allowed boards, by number or summary."""
        workflow = await _call(holder.get())
        return await _call(workflow.search_tickets(company, q, limit=limit, include_closed=include_closed))

    @app.post("/api/changes/link", dependencies=guard, tags=["changes"])
    async def link(request: LinkRequest, plan: bool = False) -> EventResult:
        """Create a change and link it to a ticket (status, note, resources); `plan=true` writes nothing."""
        workflow = await _call(holder.get())
        return await _call(workflow.link(request, plan=plan))

    @app.post("/api/changes/{change_id}/events", dependencies=guard, tags=["changes"])
    async def change_event(change_id: str, event: Annotated[ChangeEvent, Body()], plan: bool = False) -> EventResult:
        """Apply one lifecycle event (idempotent by event_id, refused when out of order)."""
        workflow = await _call(holder.get())
        return await _call(workflow.apply(change_id, event, plan=plan))

    @app.get("/api/changes/{change_id}", dependencies=guard, tags=["changes"])
    async def show(change_id: str) -> ChangeView:
        """The change, its processed events and its ticket as ConnectWise shows it now."""
        workflow = await _call(holder.get())
        return await _call(workflow.show(change_id))

    _device_routes(app, holder, guard)


def _device_routes(app: FastAPI, holder: _Workflow, guard: list[Any]) -> None:
    @app.get("/api/devices", dependencies=guard, tags=["devices"])
    async def devices(
        hostname: str | None = None,
        company: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[Device]:
        """Devices whose hostname contains `hostname`, of `company` (identifier or id), by hostname."""
        workflow = await _call(holder.get())
        return await workflow.devices.find(hostname=hostname, company=company, limit=limit, offset=offset)

    @app.post("/api/devices/sync", dependencies=guard, tags=["devices"])
    async def sync_devices(full: bool = False) -> DeviceSyncReport:
        """Sync ConnectWise configurations of mapped types into the inventory (incremental unless `full`)."""
        workflow = await _call(holder.get())
        return await _call(sync_of(workflow.device_sync).run(full=full, trigger="api"))

    @app.get("/api/devices/{hostname}", dependencies=guard, tags=["devices"])
    async def device(hostname: str, company: str | None = None) -> DeviceView:
        """One device by exact hostname (any case) and the changes that mention it."""
        workflow = await _call(holder.get())
        return await device_view(workflow.devices, hostname, company=company)


def _handlers(app: FastAPI) -> None:
    async def refused(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ChangeRefused)
        return JSONResponse({"error": exc.code, "reason": exc.reason}, status_code=REFUSAL_STATUS.get(exc.code, 409))

    async def setup_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SetupError)
        body: dict[str, Any] = {"error": "setup", "reason": str(exc), "problems": exc.problems}
        return JSONResponse(body, status_code=503)

    async def upstream(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, _Upstream)
        body = {"error": "connectwise", "reason": str(exc.cause), "hint": exc.cause.hint}
        return JSONResponse(body, status_code=502)

    app.add_exception_handler(ChangeRefused, refused)
    app.add_exception_handler(SetupError, setup_error)
    app.add_exception_handler(_Upstream, upstream)


class _Upstream(Exception):
    """A ConnectWise error met while serving a change route (answered 502; other routes keep their own handling)."""

    def __init__(self, cause: CwsyncApiError) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _call(work: Awaitable[T]) -> T:
    try:
        return await work
    except CwsyncApiError as exc:
        raise _Upstream(exc) from exc
