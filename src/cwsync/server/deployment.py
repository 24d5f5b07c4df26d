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

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import structlog
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

from cwsync.config import Config
from cwsync.config.tenants import TENANT_PREFIX, TENANT_SCOPE_KEY
from cwsync.connectors.http import CwsyncApiError
from cwsync.connectors.http.clients import new_client
from cwsync.integrations import root
from cwsync.runtime.procrastinate_runner import ProcrastinateRunner, apply_schema, connectwise_share, queue_of
from cwsync.server.app import Server, create_app
from cwsync.server.changes_api import changes_workflow
from cwsync.store import JobStore, Store

__all__ = ["Deployment", "Mount", "TenantRoutes", "Tenanted", "deployment", "needs_hubspot"]

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
    opener: Callable[[Config], Awaitable[Server]] | None = None
    """Opens one more tenant's server on this deployment's store (`add`)."""
    _started: list[Server] = field(default_factory=list)
    _serving: bool = False
    """`start` ran: the tenants' servers are started (`serve`)."""
    _schedule: bool = False
    """`start(schedule=True)`: the in-process schedulers run (SQLite)."""
    _periodic: bool = False
    """`work(schedule=True)`: this process registered the schedules as procrastinate periodic tasks."""
    _queues: list[str] = field(default_factory=list)
    """The procrastinate queues `work` takes jobs from (the live list its worker reads at every fetch)."""
    _closers: dict[str, Callable[[], Awaitable[None]]] = field(default_factory=dict)
    grace: float | None = None
    """Seconds a removed tenant's running jobs get to finish (`remove`)."""

    async def start(self, *, schedule: bool = True) -> None:
        """Start every tenant's server; with SQLite, their runners and (`schedule`) schedulers too."""
        self._serving, self._schedule = True, schedule
        if self.runner is not None:
            await self.runner.start()
        for server in self.servers.values():
            await server.start(schedule=schedule and self.runner is None)
            self._started.append(server)

    # --- tenants that come, change and go (`cwsync serve --tenants`, `cwsync worker --tenants`) -------------------

    async def add(self, config: Config) -> None:
        """Serve one more tenant: open its clients, start it as the others were started, route its app (and its
        console pages) and, with PostgreSQL, take its jobs and schedules here too."""
        if self.opener is None:
            raise RuntimeError("this deployment cannot open tenants")
        name = config.tenant
        server = await self.opener(config)
        start = self._serving  # a worker does not start its servers (their jobs run on its procrastinate worker)
        try:
            if start:
                await server.start(schedule=self._schedule and self.runner is None)
            app = await self._app_of(name, server) if self.many and self.apps else None
        except BaseException:
            if start:
                await server.stop(grace=0)
            await self._closers.pop(name)()
            raise
        if start:
            self._started.append(server)
        if app is not None:  # serving: the tenant's app, routed from the next request
            self.apps[name] = app
        self.servers[name] = server
        if self.runner is not None and self._queues:
            self._queues.append(queue_of(name))
        if self.runner is not None and self._periodic:
            self.runner.reschedule(name, server.schedules())
        log.info("deployment.tenant_added", tenant=name)

    async def remove(self, name: str) -> None:
        """Stop serving a tenant (its routes answer 404 from now on, its jobs and schedules stop here), let its
        running jobs finish within the grace period, close its clients."""
        server = self.servers.pop(name)
        self.apps.pop(name, None)
        if self.runner is not None:
            with contextlib.suppress(ValueError):
                self._queues.remove(queue_of(name))
            if self._periodic:
                self.runner.reschedule(name, [])
        if server in self._started:
            self._started.remove(server)
            await server.stop(grace=self.grace)
        closer = self._closers.pop(name, None)
        if closer is not None:
            await closer()
        log.info("deployment.tenant_removed", tenant=name)

    async def reload(self, name: str, config: Config) -> list[str]:
        """Hand a tenant's changed configuration to its server (`Server.reload`); schedules that changed are
        registered again as procrastinate periodic tasks when this process runs them."""
        server = self.servers[name]
        later = await server.reload(config if self.runner is None else connectwise_share(config))
        if self.runner is not None and self._periodic:  # compared with what is registered: a console save in this
            self.runner.reschedule(name, server.schedules())  # process reloaded the server already
        return later

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
            self._periodic = True
        tenants = list(self.servers)
        self._queues[:] = self.runner.queues(tenants)
        await self.runner.work(
            tenants, queues=self._queues, concurrency=concurrency, grace=grace, install_signal_handlers=False
        )

    async def app(self) -> Any:
        """One tenant's app at the root (a single file), or each tenant's under /t/<tenant> (a directory); the
        change workflows' setup is checked now, not at the first event."""
        for name, server in self.servers.items():
            self.apps[name] = await self._app_of(name, server)
        if not self.many:
            name, app = next(iter(self.apps.items()))
            return Tenanted(app, name)
        routes: list[BaseRoute] = [Route("/livez", _livez), Route("/tenants", self._tenants)]
        if self.mount is None:
            return TenantRoutes(Starlette(routes=routes), self.apps, console=False)
        # The console serves every tenant (a user switches between them, each page under /t/<tenant>/); each
        # tenant's API and webhooks stay under /t/<tenant> too, in the tenant's own app.
        root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, routes=routes)
        await self.mount(root, next(iter(self.servers.values())), tenants=self.servers)
        return TenantRoutes(root, self.apps, console=True)

    async def _app_of(self, name: str, server: Server) -> FastAPI:
        app = create_app(server)
        if self.mount is not None and not self.many:
            await self.mount(app, server)
        changes = server.config.syncs.changes
        if changes is not None and changes.enabled:
            try:
                await changes_workflow(app)
            except CwsyncApiError as exc:  # unreachable or refused: serve anyway (the console fixes connections)
                log.warning("server.changes_unchecked", tenant=name, error=exc.message, fix=exc.hint)
        return app

    async def _tenants(self, request: Request) -> JSONResponse:
        return JSONResponse({"tenants": len(self.servers)})  # how many, not who: names are for their owners


class TenantRoutes:
    """The root of a many-tenant server: `/t/<tenant>/...` goes to that tenant's app (its REST API, webhooks,
    `/docs`, probes) when the app has a route for the rest of the path, and otherwise — a console page of the
    tenant (`/t/acme/runs`) — to the root app with `root_path` `/t/<tenant>` and the tenant in the scope
    (`cwsync.tenant`), which the console checks against the user's tenants. Everything else goes to the root app.
    `apps` is read on every request: a tenant added to or removed from the deployment is served, or not, at once."""

    def __init__(self, root: ASGIApp, apps: Mapping[str, ASGIApp], *, console: bool) -> None:
        self.root = root
        self.apps = apps
        self.console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] in ("http", "websocket") else ""
        prefix = TENANT_PREFIX + "/"
        if not path.startswith(prefix):
            await self.root(scope, receive, send)
            return
        name, slash, _ = path[len(prefix) :].partition("/")
        if not slash:  # /t/acme: its pages and routes are under /t/acme/
            target = path + "/" + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
            await RedirectResponse(target, status_code=307)(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        child = {
            **scope,
            "app_root_path": scope.get("app_root_path", root_path),
            "root_path": root_path + path[: len(prefix) + len(name)],
        }
        app = self.apps.get(name)
        if app is not None and (not self.console or _routes(app, child)):
            with bound_contextvars(tenant=name):
                await app(child, receive, send)
            return
        if not self.console:
            await JSONResponse({"detail": "Not Found"}, status_code=404)(scope, receive, send)
            return
        child[TENANT_SCOPE_KEY] = name
        with bound_contextvars(tenant=name) if app is not None else contextlib.nullcontext():
            await self.root(child, receive, send)


def _routes(app: ASGIApp, scope: Scope) -> bool:
    """Whether `app` (a tenant's FastAPI app) has a route for the path of `scope` (any method)."""
    routes = getattr(app, "routes", ())
    return any(route.matches(scope)[0] is not Match.NONE for route in routes)


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
        key_http = await stack.enter_async_context(new_client(timeout=10, follow_redirects=False))
        closers: dict[str, Callable[[], Awaitable[None]]] = {}

        async def open_tenant(config: Config) -> Server:
            hubspot: Literal["required", "optional"] = "required" if needs_hubspot(config) else "optional"
            # a tenant's lanes may run at once on different workers: each paces its share of ConnectWise
            paced = config if runner is None else connectwise_share(config)
            own = await stack.enter_async_context(AsyncExitStack())  # closed with the deployment, or by `remove`
            try:
                opened = root.opened(paced, hubspot=hubspot, store=store, missing_secrets=missing_secrets)
                ctx = await own.enter_async_context(opened)
            except BaseException:
                await own.aclose()
                raise
            closers[config.tenant] = own.aclose
            return Server(ctx.config, store, ctx.cw, ctx.hubspot, key_http, workers=workers, queue=runner)

        for config in configs:
            servers[config.tenant] = await open_tenant(config)
        log.info("deployment.opened", tenants=len(servers), runner="procrastinate" if runner else "in-process")
        yield Deployment(store, servers, runner, many, mount, opener=open_tenant, _closers=closers)
