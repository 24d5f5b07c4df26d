"""A deployment: the tenants one process serves (one configuration file, or a directory of them) on one store.

::

    async with deployment(configs, many=True) as dep:   # one Server per tenant, one store, one job runner
        app = dep.app()                                  # each tenant's routes under /t/<tenant> (many=True)
        await dep.start(schedule=True)
        await dep.work(concurrency=4, grace=30)          # `cwsync worker`, or `serve` with a worker in-process

**The runner follows the store.** SQLite: every tenant's server runs its jobs with an in-process runner and its
schedules with the in-memory scheduler (`cwsync serve` alone; no `cwsync worker`). PostgreSQL: one
`ProcrastinateRunner` for every tenant — `serve` queues jobs, and the workers (`cwsync worker` processes on any
machines, and `serve` itself unless `--no-worker`) run them, with the schedules as procrastinate periodic tasks; a
tenant's lanes (`runtime/procrastinate_runner.py`) may run at once on different workers, so each tenant's ConnectWise
client paces at its share of the budget (`connectwise_share`).

Every request to a tenant's app runs with `tenant=` bound in structlog's contextvars, so every log line of its
webhook intake, job accept and API carries the tenant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
import structlog
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route
from starlette.routing import Mount as Under
from starlette.types import ASGIApp, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

from cwsync.config import Config
from cwsync.config.tenants import tenant_path
from cwsync.connectors.http import CwsyncApiError
from cwsync.integrations import root
from cwsync.runtime.procrastinate_runner import ProcrastinateRunner, apply_schema, connectwise_share
from cwsync.server.app import Server, create_app
from cwsync.server.changes_api import changes_workflow
from cwsync.store import JobStore, Store

__all__ = ["Deployment", "Mount", "Tenanted", "deployment", "needs_hubspot"]

log = structlog.get_logger("cwsync.server")


class Mount(Protocol):
    """What adds more to an app (the web console: `cwsync serve` passes `cwsync.console.mount`): one tenant's app,
    or (a tenants directory) the deployment's root app with every tenant's server in `tenants`."""

    def __call__(
        self, app: FastAPI, server: Server, /, *, tenants: Mapping[str, Server] | None = None
    ) -> Awaitable[None]:
        """Add to `app`."""
        ...


def needs_hubspot(config: Config) -> bool:
    """Whether the tenant's integrations need a HubSpot client (its sync, or the catalog)."""
    hubspot, catalog = config.syncs.hubspot, config.syncs.catalog
    return (hubspot is not None and hubspot.enabled) or (catalog is not None and catalog.enabled)


@dataclass
class Deployment:
    """The servers of a deployment's tenants, their store and (PostgreSQL) their shared procrastinate runner."""

    store: Store
    servers: dict[str, Server]
    runner: ProcrastinateRunner | None
    many: bool
    """Tenants from a directory: each tenant's routes live under /t/<tenant>."""
    mount: Mount | None = None
    apps: dict[str, FastAPI] = field(default_factory=dict)
    _started: list[Server] = field(default_factory=list)

    async def start(self, *, schedule: bool = True) -> None:
        """Start every tenant's server; with SQLite, their runners and (`schedule`) schedulers too."""
        if self.runner is not None:
            await self.runner.start()
        for server in self.servers.values():
            await server.start(schedule=schedule and self.runner is None)
            self._started.append(server)

    async def stop(self, *, grace: float | None = None) -> None:
        """Stop the servers (their running jobs get `grace` seconds, then are released) and the runner."""
        for server in reversed(self._started):
            await server.stop(grace=grace)
        self._started.clear()
        if self.runner is not None:
            await self.runner.stop()

    async def work(self, *, concurrency: int, grace: float, schedule: bool = True) -> None:
        """Run jobs (PostgreSQL) until cancelled, the schedules as periodic tasks; cancelling drains gracefully."""
        if self.runner is None:
            raise RuntimeError("workers need a PostgreSQL store: with SQLite, `cwsync serve` runs the jobs")
        if schedule:
            self.runner.schedule([s for server in self.servers.values() for s in server.schedules()])
        tenants = list(self.servers)
        await self.runner.work(tenants, concurrency=concurrency, grace=grace, install_signal_handlers=False)

    async def app(self) -> Any:
        """One tenant's app at the root (a single file), or each tenant's under /t/<tenant> (a directory); the
        change workflows' setup is checked now, not at the first event."""
        for name, server in self.servers.items():
            self.apps[name] = create_app(server)
            if self.mount is not None and not self.many:
                await self.mount(self.apps[name], server)
            changes = server.config.syncs.changes
            if changes is not None and changes.enabled:
                try:
                    await changes_workflow(self.apps[name])
                except CwsyncApiError as exc:  # unreachable or refused: serve anyway (the console fixes connections)
                    log.warning("server.changes_unchecked", tenant=name, error=exc.message, fix=exc.hint)
        if not self.many:
            name, app = next(iter(self.apps.items()))
            return Tenanted(app, name)
        routes: list[BaseRoute] = [Route("/livez", _livez), Route("/tenants", self._tenants)]
        routes += [Under(tenant_path(name), app=Tenanted(app, name)) for name, app in self.apps.items()]
        if self.mount is None:
            return Starlette(routes=routes)
        # The console serves every tenant at the root (a user switches between them); each tenant's API and
        # webhooks stay under /t/<tenant>.
        root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, routes=routes)
        await self.mount(root, next(iter(self.servers.values())), tenants=self.servers)
        return root

    async def _tenants(self, request: Request) -> JSONResponse:
        return JSONResponse({"tenants": len(self.servers)})  # how many, not who: names are for their owners


class Tenanted:
    """A tenant's ASGI app with `tenant=` bound in structlog's contextvars for each request it serves, so every log
    line of that request (intake refusals, job accepts, API errors) names its tenant."""

    def __init__(self, app: ASGIApp, tenant: str) -> None:
        self.app = app
        self.tenant = tenant

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with bound_contextvars(tenant=self.tenant):
            await self.app(scope, receive, send)


async def _livez(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@asynccontextmanager
async def deployment(
    configs: Sequence[Config],
    *,
    many: bool,
    workers: int = 4,
    mount: Mount | None = None,
    missing_secrets: Literal["error", "placeholder"] = "error",
) -> AsyncIterator[Deployment]:
    """Open the store once and each tenant's clients; close them all afterwards (nothing started yet). With
    `missing_secrets="placeholder"` (serve), a stored secret not set yet opens as a placeholder, so the server
    starts and the console takes it (Connections)."""
    async with AsyncExitStack() as stack:
        store = await Store.open(configs[0].store)
        stack.push_async_callback(store.close)
        runner: ProcrastinateRunner | None = None
        servers: dict[str, Server] = {}
        if store.dialect == "postgresql":
            jobs = JobStore(store)
            await apply_schema(jobs)
            runner = ProcrastinateRunner(jobs, configs[0].store, tenants=servers.get)
        key_http = await stack.enter_async_context(httpx.AsyncClient(timeout=10, follow_redirects=False))
        for config in configs:
            hubspot: Literal["required", "optional"] = "required" if needs_hubspot(config) else "optional"
            # a tenant's lanes may run at once on different workers: each paces its share of ConnectWise
            paced = config if runner is None else connectwise_share(config)
            opened = root.opened(paced, hubspot=hubspot, store=store, missing_secrets=missing_secrets)
            ctx = await stack.enter_async_context(opened)
            servers[config.tenant] = Server(
                ctx.config, store, ctx.cw, ctx.hubspot, key_http, workers=workers, queue=runner
            )
        log.info("deployment.opened", tenants=len(servers), runner="procrastinate" if runner else "in-process")
        yield Deployment(store, servers, runner, many, mount)
