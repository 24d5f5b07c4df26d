"""The protocol layer of the Hudu emulator: an ASGI app over the state backend (notes Part B).

Paths are relative to the mount point (the CLI mounts the app at `/hudu`, so the instance URL is `.../hudu` and the
API `.../hudu/api/v1`):

- `GET /api/v1/api_info`;
- companies `/api/v1/companies[/{id}[/archive|/unarchive]]` (B2);
- assets `/api/v1/companies/{id}/assets[/{id}[/archive|/unarchive]]` and `GET /api/v1/assets` (B3);
- `/api/v1/asset_layouts[/{id}]` (no DELETE, B4), `/api/v1/websites[/{id}]` (B5), `/api/v1/relations[/{id}]` (B6);
- admin endpoints under `/_sandbox` (no auth, no rate limit, no faults).

Every API request is counted against the rate limit first (429 `Retry later`, as Rack::Attack answers; UNCONFIRMED
that Hudu uses it), then authenticated (`x-api-key`, 401), then routed. Lists page with `page` (from 1) and
`page_size` (default 25); a page past the end is empty. Envelopes follow B10: lists and single records are wrapped
(`{"companies": [...]}`, `{"company": {...}}`), websites are bare (and `{"websites": []}` when a list is empty).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cwsync_sandbox.faults import ErrorBodies, FaultMiddleware, FaultSettings, FaultState
from cwsync_sandbox.hudu.settings import TUNABLE_FIELDS, HuduSandboxSettings, RateLimiter
from cwsync_sandbox.hudu.state import HuduError, HuduState, Record, not_found, unprocessable

JSON_TYPE = "application/json; charset=utf-8"
API_PREFIX = "/api/v1"
DEFAULT_PAGE_SIZE = 25
RETRY_LATER = "Retry later\n"


# -- the sandbox -------------------------------------------------------------------------------------------------


@dataclass
class HuduSandbox:
    """One emulated Hudu instance: settings, records, faults and the rate limiter."""

    settings: HuduSandboxSettings
    state: HuduState = field(init=False)
    faults: FaultState = field(init=False)
    limits: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.faults = FaultState(self.settings.faults)
        self.limits = RateLimiter(settings=lambda: self.settings)
        self.state = self._new_state()

    def _new_state(self) -> HuduState:
        s = self.settings
        state = HuduState(base_url=s.base_url, seed=s.seed, strict_custom_fields=s.strict_custom_fields)
        if s.dataset == "seeded":
            state.load_seeded(extra_assets=s.assets)
        return state

    def reset(self) -> None:
        """Back to the dataset of the settings, with no rate-limit usage (faults and the clock stay)."""
        now = self.state.now
        self.state = self._new_state()
        self.state.now = now
        self.limits.reset()

    def tune(self, changes: Mapping[str, Any]) -> None:
        """Change some of `TUNABLE_FIELDS` while running (they apply to the next request)."""
        unknown = set(changes) - TUNABLE_FIELDS
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(TUNABLE_FIELDS)}")
        self.settings = HuduSandboxSettings.model_validate({**self.settings.model_dump(), **changes})
        self.state.strict_custom_fields = self.settings.strict_custom_fields

    @property
    def api_url(self) -> str:
        """Where the API lives: the instance URL + `/api/v1`."""
        return self.settings.base_url.rstrip("/") + API_PREFIX


def build_hudu_sandbox(settings: HuduSandboxSettings | None = None) -> HuduSandbox:
    """Create an emulated Hudu instance from settings (deterministic for a seed)."""
    return HuduSandbox(settings or HuduSandboxSettings())


# -- responses -------------------------------------------------------------------------------------------------


def _json(body: Any, status: int = 200) -> Response:
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return Response(raw, status_code=status, media_type=JSON_TYPE)


def _no_content() -> Response:
    return Response(status_code=204)


def _unauthorized() -> HuduError:
    # UNCONFIRMED: the 401 body text (the spec documents the status only).
    return HuduError(401, "Invalid API key")


def _fault_bodies() -> ErrorBodies:
    return ErrorBodies(
        too_many=lambda _: {"error": RETRY_LATER.strip()},
        server_error=lambda status: {"status": status, "error": "Internal Server Error"},
    )


def _faulted(path: str) -> bool:
    return path.startswith("/api/")


# -- request parsing -----------------------------------------------------------------------------------------------


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        # Rails answers a body it cannot parse with 400 (ActionDispatch::Http::Parameters::ParseError).
        raise HuduError(400, "There was an error parsing the request body (invalid JSON)") from None


def _page(request: Request, maximum: int) -> tuple[int, int]:
    """`page` (from 1) and `page_size` (default 25, at most `maximum`); unreadable values fall back as `to_i` does."""
    query = request.query_params
    page = _positive(query.get("page")) or 1
    size = _positive(query.get("page_size")) or DEFAULT_PAGE_SIZE
    return page, min(size, maximum)


def _positive(raw: str | None) -> int | None:
    text = (raw or "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _slice(rows: list[Record], page: int, size: int) -> list[Record]:
    start = (page - 1) * size
    return rows[start : start + size]


# -- routing -------------------------------------------------------------------------------------------------------

Handler = Callable[["Call"], Awaitable[Response]]


@dataclass
class Call:
    """One API request after routing: the request and its integer path parameters."""

    request: Request
    params: dict[str, int]

    async def payload(self, key: str, accept_unwrapped: bool) -> Mapping[str, Any]:
        """The write body under its resource key (`{"company": {...}}`), or bare when allowed (B10)."""
        body = await _body(self.request)
        if not isinstance(body, Mapping):
            raise unprocessable(f"param is missing or the value is empty: {key}")
        inner = body.get(key)
        if isinstance(inner, Mapping):
            return inner
        if accept_unwrapped and key not in body and body:
            return body
        raise unprocessable(f"param is missing or the value is empty: {key}")


def _routes() -> list[tuple[str, re.Pattern[str], str]]:
    company, asset = r"/companies/(?P<company_id>\d+)", r"/assets/(?P<asset_id>\d+)"
    table = [
        ("GET", "/api_info", "api_info"),
        ("GET", "/companies", "list_companies"),
        ("POST", "/companies", "create_company"),
        ("GET", company, "get_company"),
        ("PUT", company, "update_company"),
        ("DELETE", company, "delete_company"),
        ("PUT", f"{company}/archive", "archive_company"),
        ("PUT", f"{company}/unarchive", "unarchive_company"),
        ("GET", f"{company}/assets", "list_company_assets"),
        ("POST", f"{company}/assets", "create_asset"),
        ("GET", company + asset, "get_asset"),
        ("PUT", company + asset, "update_asset"),
        ("DELETE", company + asset, "delete_asset"),
        ("PUT", f"{company}{asset}/archive", "archive_asset"),
        ("PUT", f"{company}{asset}/unarchive", "unarchive_asset"),
        ("GET", "/assets", "list_assets"),
        ("GET", "/asset_layouts", "list_layouts"),
        ("POST", "/asset_layouts", "create_layout"),
        ("GET", r"/asset_layouts/(?P<layout_id>\d+)", "get_layout"),
        ("PUT", r"/asset_layouts/(?P<layout_id>\d+)", "update_layout"),
        ("GET", "/websites", "list_websites"),
        ("POST", "/websites", "create_website"),
        ("GET", r"/websites/(?P<website_id>\d+)", "get_website"),
        ("PUT", r"/websites/(?P<website_id>\d+)", "update_website"),
        ("DELETE", r"/websites/(?P<website_id>\d+)", "delete_website"),
        ("GET", "/relations", "list_relations"),
        ("POST", "/relations", "create_relation"),
        ("DELETE", r"/relations/(?P<relation_id>\d+)", "delete_relation"),
    ]
    return [(method, re.compile(f"^{API_PREFIX}{pattern}/?$"), handler) for method, pattern, handler in table]


ROUTES = _routes()


def _route(method: str, path: str) -> tuple[str, dict[str, int]]:
    for verb, pattern, handler in ROUTES:
        found = pattern.match(path)
        if found and verb == method:
            return handler, {k: int(v) for k, v in found.groupdict().items()}
    # Rails answers an unknown route (or a verb a route lacks, such as DELETE of a layout) with 404 (B4, observed).
    raise HuduError(404, f"No route matches [{method}] {path!r}")


# -- the app -------------------------------------------------------------------------------------------------------


def create_hudu_app(box: HuduSandbox | None = None) -> Starlette:
    """The ASGI app serving one emulated Hudu instance (mount it at `/hudu`)."""
    sandbox = box or build_hudu_sandbox()
    api, admin = _Api(sandbox), _Admin(sandbox)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/_sandbox", admin.state, methods=["GET"]),
        Route("/_sandbox/reset", admin.reset, methods=["POST"]),
        Route("/_sandbox/faults", admin.faults, methods=["GET", "PUT"]),
        Route("/_sandbox/settings", admin.settings, methods=["GET", "PUT"]),
        Route("/_sandbox/limits/reset", admin.limits_reset, methods=["POST"]),
        Route("/_sandbox/companies/{company_id:int}/integrations", admin.add_integration, methods=["POST"]),
        Route("/api/{path:path}", api.dispatch, methods=methods),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    app.add_middleware(FaultMiddleware, state=sandbox.faults, applies_to=_faulted, bodies=_fault_bodies())
    return app


class _Api:
    """The Hudu API: rate limit, authentication, then one handler per route."""

    def __init__(self, box: HuduSandbox) -> None:
        self.box = box

    @property
    def state(self) -> HuduState:
        return self.box.state

    async def dispatch(self, request: Request) -> Response:
        """Every `/api/...` request."""
        settings = self.box.settings
        if settings.latency_ms:
            await asyncio.sleep(settings.latency_ms / 1000)
        verdict = self.box.limits.count()
        if not verdict.allowed:
            headers = {"Retry-After": str(verdict.retry_after)} if settings.retry_after_header else {}
            return Response(RETRY_LATER, status_code=429, media_type="text/plain", headers=headers)
        try:
            if request.headers.get("x-api-key", "") != settings.api_key:
                raise _unauthorized()
            handler, params = _route(request.method, "/api/" + request.path_params["path"])
            method: Handler = getattr(self, handler)
            return await method(Call(request, params))
        except HuduError as exc:
            return _json(exc.body(), exc.status)

    def _paged(self, call: Call, rows: list[Record]) -> list[Record]:
        page, size = _page(call.request, self.box.settings.max_page_size)
        return _slice(rows, page, size)

    async def _payload(self, call: Call, key: str) -> Mapping[str, Any]:
        return await call.payload(key, self.box.settings.accept_unwrapped)

    async def api_info(self, call: Call) -> Response:
        """`{"version", "date"}` (B1)."""
        return _json({"version": self.box.settings.version, "date": datetime.now(UTC).date().isoformat()})

    # -- companies (B2) ------------------------------------------------------------------------------------------

    def _company(self, record: Record) -> Response:
        return _json({"company": self.state.company_json(record)})

    async def list_companies(self, call: Call) -> Response:
        """`{"companies": [...]}` filtered and paged."""
        rows = self._paged(call, self.state.find_companies(call.request.query_params))
        return _json({"companies": [self.state.company_json(r) for r in rows]})

    async def get_company(self, call: Call) -> Response:
        """`{"company": {...}}`."""
        return self._company(self.state.company(call.params["company_id"]))

    @property
    def _spec(self) -> bool:
        """Whether answers follow the Swagger (v2.44.0) rather than what B1 reports real instances send."""
        return self.box.settings.answers == "spec"

    async def create_company(self, call: Call) -> Response:
        """201 with a bare Company (Swagger v2.44.0 `POST /companies`); `answers: observed`: 200 `{"company": …}`."""
        record = self.state.create_company(await self._payload(call, "company"))
        if self._spec:
            return _json(self.state.company_json(record), 201)
        return self._company(record)

    async def update_company(self, call: Call) -> Response:
        """200 `{"company": {...}}`."""
        body = await self._payload(call, "company")
        return self._company(self.state.update_company(call.params["company_id"], body))

    async def archive_company(self, call: Call) -> Response:
        """`{"company": {...}}` archived."""
        return self._company(self.state.set_company_archived(call.params["company_id"], True))

    async def unarchive_company(self, call: Call) -> Response:
        """`{"company": {...}}` unarchived."""
        return self._company(self.state.set_company_archived(call.params["company_id"], False))

    async def delete_company(self, call: Call) -> Response:
        """204."""
        self.state.delete_company(call.params["company_id"])
        return _no_content()

    # -- assets (B3) ---------------------------------------------------------------------------------------------

    def _asset(self, record: Record, status: int = 200) -> Response:
        # The Swagger (v2.44.0) has a bare Asset for GET, PUT and POST of one asset; `answers: observed` wraps it as
        # {"asset": …} (UNCONFIRMED which real instances send; clients accept both). Archive answers stay wrapped.
        if self._spec:
            return _json(self.state.asset_json(record), status)
        return _json({"asset": self.state.asset_json(record)})

    def _wrapped_asset(self, record: Record) -> Response:
        return _json({"asset": self.state.asset_json(record)})

    def _assets(self, call: Call, rows: list[Record]) -> Response:
        return _json({"assets": [self.state.asset_json(r) for r in self._paged(call, rows)]})

    async def list_assets(self, call: Call) -> Response:
        """`{"assets": [...]}` across companies, with the B3 filters."""
        query = call.request.query_params
        company_id = query.get("company_id")
        if company_id and not company_id.isdigit():
            raise unprocessable("company_id must be an integer")
        found = self.state.find_assets(query, company_id=int(company_id) if company_id else None)
        return self._assets(call, found)

    async def list_company_assets(self, call: Call) -> Response:
        """`{"assets": [...]}` of one company (`archived` filter); 404 for an unknown company."""
        company_id = call.params["company_id"]
        self.state.company(company_id)
        archived = call.request.query_params.get("archived", "false")
        return self._assets(call, self.state.find_assets({"archived": archived}, company_id=company_id))

    async def get_asset(self, call: Call) -> Response:
        """One asset of a company."""
        return self._asset(self.state.asset(call.params["company_id"], call.params["asset_id"]))

    async def create_asset(self, call: Call) -> Response:
        """201 with a bare Asset (Swagger v2.44.0); `answers: observed`: 200 `{"asset": …}`."""
        body = await self._payload(call, "asset")
        return self._asset(self.state.create_asset(call.params["company_id"], body), 201)

    async def update_asset(self, call: Call) -> Response:
        """200 `{"asset": {...}}`."""
        body = await self._payload(call, "asset")
        return self._asset(self.state.update_asset(call.params["company_id"], call.params["asset_id"], body))

    async def archive_asset(self, call: Call) -> Response:
        """`{"asset": {...}}` archived."""
        return self._wrapped_asset(
            self.state.set_asset_archived(call.params["company_id"], call.params["asset_id"], True)
        )

    async def unarchive_asset(self, call: Call) -> Response:
        """`{"asset": {...}}` unarchived."""
        return self._wrapped_asset(
            self.state.set_asset_archived(call.params["company_id"], call.params["asset_id"], False)
        )

    async def delete_asset(self, call: Call) -> Response:
        """204."""
        self.state.delete_asset(call.params["company_id"], call.params["asset_id"])
        return _no_content()

    # -- asset layouts (B4) --------------------------------------------------------------------------------------

    def _layout(self, record: Record) -> Response:
        return _json({"asset_layout": self.state.layout_json(record)})

    async def list_layouts(self, call: Call) -> Response:
        """`{"asset_layouts": [...]}` (paged with `page`; `page_size` is honoured too, UNCONFIRMED)."""
        rows = self._paged(call, self.state.find_layouts(call.request.query_params))
        return _json({"asset_layouts": [self.state.layout_json(r) for r in rows]})

    async def get_layout(self, call: Call) -> Response:
        """`{"asset_layout": {...}}`."""
        return self._layout(self.state.layout(call.params["layout_id"]))

    async def create_layout(self, call: Call) -> Response:
        """201 `{"asset_layout": {...}}` (Swagger v2.44.0); `answers: observed`: 200."""
        record = self.state.create_layout(await self._payload(call, "asset_layout"))
        return _json({"asset_layout": self.state.layout_json(record)}, 201 if self._spec else 200)

    async def update_layout(self, call: Call) -> Response:
        """200 `{"asset_layout": {...}}`; fields merged by id (B4)."""
        body = await self._payload(call, "asset_layout")
        return self._layout(self.state.update_layout(call.params["layout_id"], body))

    # -- websites (B5) -------------------------------------------------------------------------------------------

    async def list_websites(self, call: Call) -> Response:
        """A bare array; `{"websites": []}` when empty (observed)."""
        rows = self._paged(call, self.state.find_websites(call.request.query_params))
        return _json([self.state.website_json(r) for r in rows] if rows else {"websites": []})

    async def get_website(self, call: Call) -> Response:
        """A bare website."""
        return _json(self.state.website_json(self.state.website(call.params["website_id"])))

    async def create_website(self, call: Call) -> Response:
        """A bare website: 201 (the Swagger lists no success answer for it: UNCONFIRMED); `answers: observed`: 200."""
        record = self.state.create_website(await self._payload(call, "website"))
        return _json(self.state.website_json(record), 201 if self._spec else 200)

    async def update_website(self, call: Call) -> Response:
        """200 with a bare website; 422 if `name` is not a URL."""
        body = await self._payload(call, "website")
        return _json(self.state.website_json(self.state.update_website(call.params["website_id"], body)))

    async def delete_website(self, call: Call) -> Response:
        """204."""
        self.state.delete_website(call.params["website_id"])
        return _no_content()

    # -- relations (B6) ------------------------------------------------------------------------------------------

    async def list_relations(self, call: Call) -> Response:
        """`{"relations": [...]}` in id order."""
        rows = self._paged(call, list(self.state.relations.values()))
        return _json({"relations": [self.state.relation_json(r) for r in rows]})

    async def create_relation(self, call: Call) -> Response:
        """201 `{"relation": {...}}`; the inverse is created too."""
        record = self.state.create_relation(await self._payload(call, "relation"))
        return _json({"relation": self.state.relation_json(record)}, 201)

    async def delete_relation(self, call: Call) -> Response:
        """204; the inverse goes too."""
        if call.params["relation_id"] not in self.state.relations:
            raise not_found()
        self.state.delete_relation(call.params["relation_id"])
        return _no_content()


# -- admin ---------------------------------------------------------------------------------------------------------


def _admin_error(message: str, status: int = 422) -> Response:
    return _json({"error": message}, status)


class _Admin:
    """`/_sandbox` endpoints: inspect and steer the emulator."""

    def __init__(self, box: HuduSandbox) -> None:
        self.box = box

    async def state(self, request: Request) -> Response:
        """What this sandbox is: where, which key, how much data, settings, usage, faults."""
        s = self.box.settings
        return _json(
            {
                "base_url": s.base_url,
                "api_url": self.box.api_url,
                "api_key": s.api_key,
                "dataset": s.dataset,
                "seed": s.seed,
                "counts": self.box.state.counts(),
                "settings": {name: getattr(s, name) for name in sorted(TUNABLE_FIELDS)},
                "usage": self.box.limits.usage(),
                "faults": self.box.faults.settings.model_dump(),
            }
        )

    async def reset(self, request: Request) -> Response:
        """Back to the dataset (see `HuduSandbox.reset`)."""
        self.box.reset()
        return _json({"reset": True, "counts": self.box.state.counts()})

    async def faults(self, request: Request) -> Response:
        """GET the fault settings and counters; PUT new settings (a JSON FaultSettings)."""
        if request.method == "PUT":
            try:
                self.box.faults.update(FaultSettings.model_validate(await request.json()))
            except (ValueError, json.JSONDecodeError) as exc:
                return _admin_error(str(exc))
        faults = self.box.faults
        return _json({"settings": faults.settings.model_dump(), "counters": faults.counters.as_dict()})

    async def settings(self, request: Request) -> Response:
        """GET the tunable settings and rate-limit usage; PUT some of them."""
        if request.method == "PUT":
            try:
                self.box.tune(await request.json())
            except (ValueError, TypeError, json.JSONDecodeError) as exc:
                return _admin_error(str(exc))
        s = self.box.settings
        tunable = {name: getattr(s, name) for name in sorted(TUNABLE_FIELDS)}
        return _json({"settings": tunable, "usage": self.box.limits.usage()})

    async def limits_reset(self, request: Request) -> Response:
        """Forget rate-limit usage."""
        self.box.limits.reset()
        return _json({"usage": self.box.limits.usage()})

    async def add_integration(self, request: Request) -> Response:
        """Attach an integration marker to a company ({integrator_name, sync_id, identifier}), as Hudu's own
        ConnectWise integration would (B7)."""
        try:
            body = await request.json()
            record = self.box.state.add_integration(request.path_params["company_id"], body)
        except HuduError as exc:
            return _json(exc.body(), exc.status)
        except (ValueError, AttributeError, json.JSONDecodeError) as exc:
            return _admin_error(str(exc))
        return _json({"company": self.box.state.company_json(record)})
