"""REST API of quotes → opportunities and the catalog sync (SB-1, SB-5, SB-6), behind the API bearer token.

::

    POST /api/quotes[?plan=true]                      a quote document → the opportunity plan (written unless plan)
    GET  /api/quotes/{external_id}                    the opportunity a quote became, its lines, its history
    GET  /api/quotes/{external_id}/explain            why a quote did (not) become an opportunity
    POST /api/quotes/from-hubspot/{deal_id}[?plan=true]  a HubSpot deal (configured stage, line items) as a quote
    POST /api/catalog/sync[?full=true&plan=true]      a catalog run → its counts and items
    POST /api/catalog/products                        {"ids": [...]}: sync these catalog items now (callbacks)
    GET  /api/catalog/explain/{identifier}            why a product is (not) in HubSpot

Refusals answer `{"error": code, "reason": ...}` and nothing is written: 409 `not_approved`, 404 `unknown_quote`,
422 for the rest (`unknown_company`, `unknown_contact`, `unknown_product`, `no_shipping_product`, ...). 404 when
`syncs.catalog` is not configured or ConnectWise/HubSpot has no record the request names; 502 with the remote
error when ConnectWise or HubSpot fails.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from cwsync.connectors.http import CwsyncApiError, NotFoundError
from cwsync.core.selection import UnknownTypeError, select_types
from cwsync.integrations.catalog.engine import CATALOG_TYPES, CatalogEngine
from cwsync.server.auth import api_guard
from cwsync.server.registry import QUOTES
from cwsync.workflows.quotes.document import Quote, QuoteRefused
from cwsync.workflows.quotes.workflow import QuoteWorkflow

if TYPE_CHECKING:
    from cwsync.server.app import Server

__all__ = ["REFUSAL_STATUS", "add_catalog_routes", "add_quote_routes"]

T = TypeVar("T")

REFUSAL_STATUS: dict[str, int] = {"not_approved": 409, "unknown_quote": 404, "no_hubspot": 404}


def _configured(server: Server) -> None:
    if server.config.syncs.catalog is None or not server.config.syncs.catalog.enabled:
        raise HTTPException(404, "quotes and the catalog sync are not configured (syncs.catalog)")


def _engine(server: Server) -> CatalogEngine:
    _configured(server)
    if server.hs is None:
        raise HTTPException(404, "the catalog sync needs connections.hubspot")
    return CatalogEngine(server.config, server.store, server.cw, server.hs)


def add_quote_routes(app: FastAPI, server: Server) -> None:
    """Add the `/api/quotes` routes to the server's app."""

    guard = api_guard(server.config)
    _handlers(app)

    def _workflow(_: Server) -> QuoteWorkflow:
        """The server's one workflow (its status/member lookups and per-quote locks are shared by requests)."""
        _configured(server)
        return QUOTES.workflow(server)

    @app.post("/api/quotes", dependencies=guard, tags=["quotes"])
    async def submit_quote(quote: Annotated[Quote, Body()], plan: bool = False) -> dict[str, Any]:
        """Turn an approved quote into a ConnectWise opportunity (idempotent by `external_id`); `plan=true` dry run."""
        return (await _call(_workflow(server).submit(quote, plan_only=plan, trigger="api"))).as_json()

    @app.post("/api/quotes/from-hubspot/{deal_id}", dependencies=guard, tags=["quotes"])
    async def submit_deal(deal_id: str, plan: bool = False) -> dict[str, Any]:
        """A HubSpot deal in the configured stage, with line items, as a quote (`hubspot-deal-<id>`)."""
        return (await _call(_workflow(server).submit_deal(deal_id, plan_only=plan, trigger="api"))).as_json()

    @app.get("/api/quotes/{external_id}", dependencies=guard, tags=["quotes"])
    async def show_quote(external_id: str) -> dict[str, Any]:
        """The opportunity a quote became, its lines and the latest decisions about it."""
        return await _workflow(server).show(external_id)

    @app.get("/api/quotes/{external_id}/explain", dependencies=guard, tags=["quotes"])
    async def explain_quote(external_id: str) -> dict[str, Any]:
        """Why a quote did (not) become an opportunity."""
        return await _workflow(server).explain(external_id)


def add_catalog_routes(app: FastAPI, server: Server) -> None:
    """Add the `/api/catalog` routes to the server's app."""

    guard = api_guard(server.config)
    _handlers(app)

    @app.post("/api/catalog/sync", dependencies=guard, tags=["catalog"])
    async def sync_catalog(full: bool = False, plan: bool = False, only: str | None = None) -> dict[str, Any]:
        """Sync the ConnectWise catalog to HubSpot products (incremental unless `full`); `only=options` imports
        just ConnectWise's lists as the dropdowns' options (SB-1)."""
        try:
            chosen = select_types(only, CATALOG_TYPES, what="catalog data type")
        except UnknownTypeError as exc:
            raise HTTPException(422, str(exc)) from exc
        if chosen == ["options"]:
            changed = await _call(_engine(server).ensure_properties(dry_run=plan, options_only=True))
            return {"dry_run": plan, "options": changed}
        return (await _call(_engine(server).run(full=full, dry_run=plan, trigger="api"))).as_json()

    @app.post("/api/catalog/products", dependencies=guard, tags=["catalog"])
    async def sync_products(ids: Annotated[list[int], Body(embed=True)]) -> dict[str, Any]:
        """Sync some catalog items now (what a `productcatalog` callback does)."""
        return (await _call(_engine(server).sync_products(ids, trigger="api"))).as_json()

    @app.get("/api/catalog/explain/{identifier}", dependencies=guard, tags=["catalog"])
    async def explain_product(identifier: str) -> dict[str, Any]:
        """Why a product is (not) in HubSpot: not in the catalog, no access, inactive, defaults used."""
        return await _call(_engine(server).explain(identifier))


def _handlers(app: FastAPI) -> None:
    async def refused(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, QuoteRefused)
        return JSONResponse({"error": exc.code, "reason": exc.reason}, status_code=REFUSAL_STATUS.get(exc.code, 422))

    async def remote(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, _RemoteFailed)
        body = {"error": "remote", "reason": str(exc.cause), "hint": exc.cause.hint}
        # the record the request names does not exist there (a deal id, ...): the caller's mistake, not a failure
        return JSONResponse(body, status_code=404 if isinstance(exc.cause, NotFoundError) else 502)

    app.add_exception_handler(QuoteRefused, refused)
    app.add_exception_handler(_RemoteFailed, remote)


class _RemoteFailed(Exception):
    """A ConnectWise/HubSpot error met while serving a quote or catalog route (answered 502)."""

    def __init__(self, cause: CwsyncApiError) -> None:
        super().__init__(str(cause))
        self.cause = cause


async def _call(work: Awaitable[T]) -> T:
    try:
        return await work
    except CwsyncApiError as exc:
        raise _RemoteFailed(exc) from exc
