"""What operators watch: `/livez`, `/readyz`, `/metrics` (Prometheus) and a request id on every request.

- `GET /livez`: the process serves (always 200 while it does).
- `GET /readyz`: the store answers and is at the newest migration; 503 with the failing checks otherwise (a load
  balancer or Kubernetes stops sending traffic; `cwsync migrate upgrade` fixes a missing migration).
- `GET /metrics`: Prometheus text format (prometheus-client's default registry): the job queue per tenant,
  integration and status and its lag, run durations and records per action (`cwsync.engine.metrics`), API calls,
  429s and retries per system (`cwsync.connectors.http.metrics`), webhook intake and rejections (counted here, by
  the answer the hook route gave). No token: scrape it from inside your network.
- Every request gets a request id (the caller's `X-Request-ID` when it is sane, else a new one), bound to the log
  context (`request_id` in every event and access-log line of that request) and sent back as `X-Request-ID`.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

from cwsync.engine.metrics import integration_of
from cwsync.store import schema

if TYPE_CHECKING:
    from cwsync.server.app import Server

__all__ = ["JOBS", "QUEUE_LAG", "WEBHOOKS", "RequestIdMiddleware", "add_observability"]

JOBS = Gauge(
    "cwsync_jobs", "Jobs in the durable queue, by tenant, integration and status", ["tenant", "integration", "status"]
)
QUEUE_LAG = Gauge("cwsync_queue_lag_seconds", "How long the longest-waiting due job has waited (0: none waits)")
WEBHOOKS = Counter(
    "cwsync_webhooks",
    "Callbacks and webhooks received, by source (connectwise, hubspot) and outcome (accepted, rejected)",
    ["source", "outcome"],
)
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_HOOKS = {"/hooks/connectwise/": "connectwise", "/hooks/hubspot": "hubspot"}


class RequestIdMiddleware:
    """Binds a request id to the log context for the request, returns it as `X-Request-ID`, counts hook answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
        path = str(scope.get("path", ""))
        source = next((name for prefix, name in _HOOKS.items() if path.startswith(prefix)), None)

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                if source is not None:
                    WEBHOOKS.labels(source, "accepted" if message["status"] < 400 else "rejected").inc()
            await send(message)

        with bound_contextvars(request_id=request_id):
            await self.app(scope, receive, sending)


def add_observability(app: FastAPI, server: Server) -> None:
    """The operator routes and the request-id middleware, on the server's app."""
    app.add_middleware(RequestIdMiddleware)

    @app.get("/livez", tags=["operations"])
    async def livez() -> dict[str, str]:
        """Liveness: the process serves (no token needed)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: {"description": "not ready: the failing checks"}})
    async def readyz() -> Response:
        """Readiness: the store answers and is at the newest migration (no token needed)."""
        checks = await readiness(server)
        ready = all(check["ok"] for check in checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)

    @app.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics (text format; no token needed)."""
        await _refresh_queue(server)
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


async def readiness(server: Server) -> dict[str, dict[str, Any]]:
    """Each readiness check with its outcome: `store` reachable, `migrations` current."""
    checks: dict[str, dict[str, Any]] = {}
    try:
        current = await server.store.revision()
    except Exception as exc:  # any failure to reach the database is "not ready", with its reason
        checks["store"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
        checks["migrations"] = {"ok": False, "error": "the store cannot be read"}
        return checks
    checks["store"] = {"ok": True}
    newest = schema.head()
    checks["migrations"] = {
        "ok": current == newest,
        "current": current,
        "head": newest,
        **({} if current == newest else {"fix": "cwsync migrate upgrade"}),
    }
    return checks


async def _refresh_queue(server: Server) -> None:
    now = datetime.now(UTC)
    try:
        rows = await server.jobs.counts_by_pair()
        oldest = await server.jobs.oldest_due(now=now)
    except Exception:  # the store is down: /readyz says so; keep the last values rather than fail the scrape
        return
    JOBS.clear()
    totals: dict[tuple[str, str, str], int] = {}
    for tenant, pair, status, count in rows:
        key = (tenant, integration_of(pair), status)
        totals[key] = totals.get(key, 0) + count
    for (tenant, integration, status), count in totals.items():
        JOBS.labels(tenant, integration, status).set(count)
    QUEUE_LAG.set(max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
