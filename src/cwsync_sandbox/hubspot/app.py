"""The protocol layer of the HubSpot emulator: an ASGI app over the state backend (notes Part A).

Paths are relative to the mount point (the CLI mounts the app at `/hubspot`):

- objects `/crm/v3/objects/{type}[/{id}|/search|/merge|/batch/{op}]` for companies, contacts, deals, products and
  line_items (A2, A3, A4);
- associations `/crm/v4/objects/{type}/{id}/associations/...` and `/crm/v4/associations/{from}/{to}/...` (A7);
- properties `/crm/v3/properties/{type}[/{name}|/groups[/{name}]|/batch/{op}]` (A8);
- `/crm/v3/pipelines/deals[/{id}[/stages[/{id}]]]` (A9) and `/crm/v3/owners[/{id}]`;
- the date-versioned equivalents `/crm/{objects|associations|properties|pipelines|owners}/2026-03/...` (and any
  later `YYYY-MM`), which answer exactly like the v3/v4 paths (section 0);
- admin endpoints under `/_sandbox` (no auth, no rate limit, no faults).

Every API request is authenticated (`Authorization: Bearer`, 401 `INVALID_AUTHENTICATION`), counted against the rate
limits (429 with `policyName`), checked for scopes (403 `MISSING_SCOPES`), and answered with the
`X-HubSpot-RateLimit-*` headers (not on search). Every error has the `{status, message, correlationId, category}`
body (A5).
"""

from __future__ import annotations

import email.utils
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cwsync_sandbox.faults import ErrorBodies, FaultMiddleware, FaultSettings, FaultState
from cwsync_sandbox.hubspot import dataset
from cwsync_sandbox.hubspot.dataset import ASSOCIATION_TYPES, OBJECT_TYPES, ObjectType, iso
from cwsync_sandbox.hubspot.search import SearchCaps, parse_search, run_search
from cwsync_sandbox.hubspot.settings import LIMIT_FIELDS, HubSpotSandboxSettings, RateLimiter
from cwsync_sandbox.hubspot.state import (
    API_SOURCE,
    USER_SOURCE,
    CrmState,
    Found,
    HubSpotError,
    object_not_found,
    validation_error,
)
from cwsync_sandbox.hubspot.webhooks import WebhookDispatcher, WebhookSubscription

JSON_TYPE = "application/json;charset=utf-8"
MAX_BATCH = 100
MAX_LIST_LIMIT = 100
MAX_ASSOCIATION_LIMIT = 500
MAX_OWNER_LIMIT = 500
SCOPES_LINK = "https://developers.hubspot.com/scopes"


# -- the sandbox -------------------------------------------------------------------------------------------------


@dataclass
class HubSpotSandbox:
    """One emulated HubSpot portal: settings, CRM state, faults, webhooks, rate limits and the accepted tokens.

    `tokens` maps each accepted Bearer token to its scopes (None grants every scope).
    """

    settings: HubSpotSandboxSettings
    state: CrmState = field(init=False)
    faults: FaultState = field(init=False)
    webhooks: WebhookDispatcher = field(init=False)
    limits: RateLimiter = field(init=False)
    tokens: dict[str, list[str] | None] = field(init=False)

    def __post_init__(self) -> None:
        self.faults = FaultState(self.settings.faults)
        self.limits = RateLimiter(settings=lambda: self.settings)
        self.webhooks = WebhookDispatcher(settings=lambda: self.settings)
        self.tokens = {self.settings.token: None}
        self.state = self._new_state()

    def _new_state(self) -> CrmState:
        s = self.settings
        counts = {"companies": s.companies, "contacts": s.contacts, "deals": s.deals}
        state = CrmState(seed=s.seed, portal_id=s.portal_id, counts=counts, owners=s.owners)
        state.listeners.append(self.webhooks.on_change)
        self.webhooks.ui_user_id = int(state.owners[0]["userId"])
        return state

    def reset(self) -> None:
        """Back to the seeded portal: records, usage, tokens, webhook subscription and deliveries (faults stay)."""
        clock = self.limits.clock
        now = self.state.now
        self.webhooks.reset()
        self.state = self._new_state()
        self.state.now = now
        self.limits.reset()
        self.limits.clock = clock
        self.tokens = {self.settings.token: None}

    @property
    def search_caps(self) -> SearchCaps:
        """The search limits of the current settings."""
        s = self.settings
        return SearchCaps(s.search_max_groups, s.search_max_filters_per_group, s.search_max_filters)


def build_hubspot_sandbox(settings: HubSpotSandboxSettings | None = None) -> HubSpotSandbox:
    """Create an emulated portal from settings (deterministic for a seed)."""
    return HubSpotSandbox(settings or HubSpotSandboxSettings())


# -- responses and errors ----------------------------------------------------------------------------------------


def _json(body: Any, status: int = 200) -> Response:
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    return Response(raw, status_code=status, media_type=JSON_TYPE)


def _no_content() -> Response:
    return Response(status_code=204)


def _error(exc: HubSpotError) -> Response:
    return _json(exc.body(), exc.status)


def _unauthenticated() -> HubSpotError:
    return HubSpotError(
        401,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more "
        "details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
    )


def _missing_scope(scope: str) -> HubSpotError:
    # Body as observed (T: hubspot-api-nodejs#50, #268); the context key name is UNCONFIRMED.
    return HubSpotError(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: "
        f"{SCOPES_LINK}.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [scope]},
            }
        ],
        links={"scopes": SCOPES_LINK},
    )


_POLICY_MESSAGES = {
    "TEN_SECONDLY_ROLLING": ("You have reached your ten_secondly_rolling limit.", "api-calls-ten-secondly"),
    "DAILY": ("You have reached your daily limit.", "api-calls-daily"),
    "SECONDLY": ("You have reached your secondly limit.", "search-api-calls-secondly"),
}


def rate_limited(policy: str, settings: HubSpotSandboxSettings) -> HubSpotError:
    """The 429 body for a policy (A5); `category` is sent alongside `errorType` since clients see either."""
    message, group = _POLICY_MESSAGES[policy]
    return HubSpotError(
        429,
        "RATE_LIMITS",
        message,
        errorType="RATE_LIMIT",
        policyName=policy,
        groupName=f"publicapi:private_app-{group}:{settings.app_id}:{settings.portal_id}",
    )


def _fault_bodies(box: HubSpotSandbox) -> ErrorBodies:
    return ErrorBodies(
        too_many=lambda _: rate_limited("TEN_SECONDLY_ROLLING", box.settings).body(),
        server_error=lambda status: HubSpotError(
            status, "INTERNAL_ERROR", "An internal error occurred. Please try again."
        ).body(),
    )


def _faulted(path: str) -> bool:
    return path.startswith("/crm/")


def _batch_error(object_type: ObjectType, ids: list[str]) -> HubSpotError:
    message = (
        f"Could not get some {object_type.singular.upper()} objects, they may be deleted or not exist. "
        "Check that ids are valid."
    )
    return HubSpotError(404, "OBJECT_NOT_FOUND", message, context={"ids": ids})


def _batch_body(results: list[Any], errors: list[dict[str, Any]], started: str) -> dict[str, Any]:
    # BatchResponseSimplePublicObject(WithErrors): status, results, startedAt, completedAt required; requestedAt,
    # links, and (with errors) numErrors and errors optional (hubspot-api-client 12.0.0 models; HubSpot docs
    # "batch/create-objects" response sample).
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    body.update(requestedAt=started, startedAt=started, completedAt=iso(datetime.now(UTC)), links={})
    return body


def _batch_response(results: list[Any], errors: list[dict[str, Any]], started: str, ok: int) -> Response:
    return _json(_batch_body(results, errors, started), 207 if errors else ok)


# -- request parsing ---------------------------------------------------------------------------------------------


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise validation_error(f"Invalid input JSON on line {line}, column {column}: {exc}") from exc


def _object_body(body: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise validation_error(f"Invalid input JSON: expected a {what} object.")
    return body


def _with_properties(body: Any, what: str) -> Mapping[str, Any]:
    """An input whose schema requires `properties` (SimplePublicObjectInputForCreate, SimplePublicObjectInput and the
    batch inputs; hubspot-api-client 12.0.0 models, generated from HubSpot's v3 specs). `{}` is allowed. HubSpot's
    exact wording for the missing field is UNCONFIRMED; this follows its "Invalid input JSON" 400s."""
    item = _object_body(body, what)
    if "properties" not in item:
        raise validation_error(
            f"Invalid input JSON: Cannot build {what}, some of required attributes are not set [properties]",
            context={"properties": ["required"]},
        )
    return item


def _inputs(body: Any) -> list[Any]:
    """The `inputs` of a batch body: an array of at most 100 (more is a 400, A3)."""
    inputs = _object_body(body, "batch input").get("inputs")
    if not isinstance(inputs, list):
        raise validation_error("Invalid input JSON: `inputs` must be an array.")
    if len(inputs) > MAX_BATCH:
        raise validation_error(
            f"Batch input size limit exceeded: {len(inputs)} inputs were sent, the limit is {MAX_BATCH}.",
            context={"limit": [str(MAX_BATCH)], "size": [str(len(inputs))]},
        )
    return inputs


def _list_param(request: Request, name: str) -> list[str] | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def _limit(request: Request, default: int, maximum: int) -> int:
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise validation_error(f"Invalid limit {raw!r}: use a positive integer.")
    return min(int(raw), maximum)


def _cursor(raw: str | None) -> int:
    if raw is None or raw == "":
        return 0
    if not raw.isdigit():
        raise validation_error(f"Invalid after {raw!r}: echo back the value of paging.next.after.")
    return int(raw)


# -- routing -----------------------------------------------------------------------------------------------------

_VERSIONED = re.compile(r"^/crm/(objects|associations|properties|pipelines|owners)/(\d{4}-\d{2})(/.*)?$")
_LEGACY_AREAS = {
    "objects": "/crm/v3/objects",
    "associations": "/crm/v4/associations",
    "properties": "/crm/v3/properties",
    "pipelines": "/crm/v3/pipelines",
    "owners": "/crm/v3/owners",
}


def canonical_path(path: str) -> str:
    """Map a date-versioned (or `/crm/associations/v4`) path onto the v3/v4 path that answers it."""
    found = _VERSIONED.match(path)
    if found:
        area, rest = found.group(1), found.group(3) or ""
        if area == "objects" and re.match(r"^/[^/]+/[^/]+/associations(/|$)", rest):
            return "/crm/v4/objects" + rest
        return _LEGACY_AREAS[area] + rest
    if path.startswith("/crm/associations/v4/"):
        return "/crm/v4/associations/" + path[len("/crm/associations/v4/") :]
    return path


@dataclass
class Call:
    """One API request after routing: path parameters, resolved object types and the original path."""

    request: Request
    params: dict[str, str]
    path: str
    object_type: ObjectType | None = None
    to_type: ObjectType | None = None

    @property
    def type_name(self) -> str:
        """The object type's plural name (e.g. `contacts`)."""
        assert self.object_type is not None
        return self.object_type.name

    @property
    def to_name(self) -> str:
        """The associated object type's plural name."""
        assert self.to_type is not None
        return self.to_type.name


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class ApiRoute:
    """A method and path pattern, the handler, and the scope it needs (`{type}` filled in)."""

    method: str
    pattern: re.Pattern[str]
    handler: str
    scope: str
    search: bool = False


def _routes() -> list[ApiRoute]:
    t, i, to = r"(?P<type>[^/]+)", r"(?P<id>[^/]+)", r"(?P<to>[^/]+)"
    objects, schemas, pair = f"/crm/v3/objects/{t}", f"/crm/v3/properties/{t}", f"/crm/v4/associations/{t}/{to}"
    read, write = "crm.objects.{type}.read", "crm.objects.{type}.write"
    schema_read, schema_write = "crm.schemas.{type}.read", "crm.schemas.{type}.write"
    pair_ops = "(?P<op>create|associate/default|archive|labels/archive)"
    table = [
        ("POST", f"{objects}/search", "search", read),
        ("POST", f"{objects}/merge", "merge", write),
        ("POST", f"{objects}/batch/read", "batch_read", read),
        ("POST", f"{objects}/batch/(?P<op>create|update|upsert|archive)", "batch_write", write),
        ("GET", objects, "list_objects", read),
        ("POST", objects, "create_object", write),
        ("GET", f"{objects}/{i}", "get_object", read),
        ("PATCH", f"{objects}/{i}", "update_object", write),
        ("DELETE", f"{objects}/{i}", "archive_object", write),
        ("GET", f"/crm/v4/objects/{t}/{i}/associations/{to}", "list_associations", read),
        ("PUT", f"/crm/v4/objects/{t}/{i}/associations/default/{to}/(?P<to_id>[^/]+)", "associate_default", write),
        ("PUT", f"/crm/v4/objects/{t}/{i}/associations/{to}/(?P<to_id>[^/]+)", "associate", write),
        ("DELETE", f"/crm/v4/objects/{t}/{i}/associations/{to}/(?P<to_id>[^/]+)", "dissociate", write),
        ("POST", f"{pair}/batch/read", "batch_read_associations", read),
        ("POST", f"{pair}/batch/{pair_ops}", "batch_write_associations", write),
        ("GET", f"{pair}/labels", "association_labels", read),
        ("POST", f"{schemas}/batch/read", "batch_read_properties", schema_read),
        ("POST", f"{schemas}/batch/(?P<op>create|archive)", "batch_write_properties", schema_write),
        ("GET", f"{schemas}/groups", "list_groups", schema_read),
        ("POST", f"{schemas}/groups", "create_group", schema_write),
        ("GET", f"{schemas}/groups/(?P<name>[^/]+)", "get_group", schema_read),
        ("PATCH", f"{schemas}/groups/(?P<name>[^/]+)", "update_group", schema_write),
        ("DELETE", f"{schemas}/groups/(?P<name>[^/]+)", "archive_group", schema_write),
        ("GET", schemas, "list_properties", schema_read),
        ("POST", schemas, "create_property", schema_write),
        ("GET", f"{schemas}/(?P<name>[^/]+)", "get_property", schema_read),
        ("PATCH", f"{schemas}/(?P<name>[^/]+)", "update_property", schema_write),
        ("DELETE", f"{schemas}/(?P<name>[^/]+)", "archive_property", schema_write),
        ("GET", f"/crm/v3/pipelines/{t}", "list_pipelines", read),
        ("GET", f"/crm/v3/pipelines/{t}/(?P<pipeline>[^/]+)", "get_pipeline", read),
        ("GET", f"/crm/v3/pipelines/{t}/(?P<pipeline>[^/]+)/stages", "list_stages", read),
        ("GET", f"/crm/v3/pipelines/{t}/(?P<pipeline>[^/]+)/stages/(?P<stage>[^/]+)", "get_stage", read),
        ("GET", "/crm/v3/owners/?", "list_owners", "crm.objects.owners.read"),
        ("GET", "/crm/v3/owners/(?P<owner>[^/]+)", "get_owner", "crm.objects.owners.read"),
    ]
    return [
        ApiRoute(method, re.compile(f"^{pattern}$"), handler, scope, search=handler == "search")
        for method, pattern, handler, scope in table
    ]


ROUTES = _routes()


# -- the app -----------------------------------------------------------------------------------------------------


def create_hubspot_app(box: HubSpotSandbox | None = None) -> Starlette:
    """The ASGI app serving one emulated HubSpot portal (mount it at `/hubspot`)."""
    sandbox = box or build_hubspot_sandbox()
    api, admin = _Api(sandbox), _Admin(sandbox)
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    routes = [
        Route("/_sandbox", admin.state, methods=["GET"]),
        Route("/_sandbox/reset", admin.reset, methods=["POST"]),
        Route("/_sandbox/faults", admin.faults, methods=["GET", "PUT"]),
        Route("/_sandbox/limits", admin.limits, methods=["GET", "PUT"]),
        Route("/_sandbox/limits/reset", admin.limits_reset, methods=["POST"]),
        Route("/_sandbox/tokens", admin.tokens, methods=["GET", "POST"]),
        Route("/_sandbox/webhooks/subscription", admin.subscription, methods=["GET", "PUT", "DELETE"]),
        Route("/_sandbox/webhooks/deliveries", admin.deliveries, methods=["GET"]),
        Route("/_sandbox/webhooks/drain", admin.drain, methods=["POST"]),
        Route("/_sandbox/objects/{type}", admin.create_object, methods=["POST"]),
        Route("/_sandbox/objects/{type}/merge", admin.merge, methods=["POST"]),
        Route("/_sandbox/objects/{type}/{id}", admin.change_object, methods=["PATCH", "DELETE"]),
        Route("/crm/{path:path}", api.dispatch, methods=methods),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    app.add_middleware(FaultMiddleware, state=sandbox.faults, applies_to=_faulted, bodies=_fault_bodies(sandbox))
    return app


class _Api:
    """The HubSpot API: authentication, rate limits, scopes, then one handler per route."""

    def __init__(self, box: HubSpotSandbox) -> None:
        self.box = box

    @property
    def state(self) -> CrmState:
        return self.box.state

    async def dispatch(self, request: Request) -> Response:
        """Every `/crm/...` request."""
        path = "/crm/" + request.path_params["path"]
        headers: dict[str, str] = {}
        correlation_id = str(uuid.uuid4())
        try:
            response = await self._handle(request, path, headers)
        except HubSpotError as exc:
            response = _json(exc.body(correlation_id), exc.status)
        response.headers.update(headers)
        response.headers["X-HubSpot-Correlation-Id"] = correlation_id
        # HubSpot's clock, in the emulator's own time (so a test's clock moves both it and `updatedAt`); a server
        # would add one too, but an in-process transport has none.
        response.headers["Date"] = email.utils.format_datetime(self.state.now().astimezone(UTC), usegmt=True)
        return response

    async def _handle(self, request: Request, path: str, headers: dict[str, str]) -> Response:
        scopes = self._authenticate(request)
        route, params = self._route(request.method, canonical_path(path))
        verdict = self.box.limits.search() if route.search else self.box.limits.standard(self._token(request))
        headers.update(verdict.headers)
        if not verdict.allowed:
            raise rate_limited(verdict.policy or "TEN_SECONDLY_ROLLING", self.box.settings)
        call = Call(request, params, path)
        if "type" in params:
            call.object_type = self.state.object_type(params["type"])
        if "to" in params:
            call.to_type = self.state.object_type(params["to"])
        scope = route.scope.replace("{type}", call.object_type.name if call.object_type else "")
        if scopes is not None and scope not in scopes:
            raise _missing_scope(scope)
        handler: Handler = getattr(self, route.handler)
        return await handler(call)

    @staticmethod
    def _route(method: str, path: str) -> tuple[ApiRoute, dict[str, str]]:
        matched_path = False
        for route in ROUTES:
            found = route.pattern.match(path)
            if found is None:
                continue
            matched_path = True
            if route.method == method:
                return route, {k: v for k, v in found.groupdict().items() if v is not None}
        if matched_path:
            raise HubSpotError(405, "VALIDATION_ERROR", f"HTTP method {method} is not supported by this endpoint.")
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"No API endpoint matches {method} {path}.")

    @staticmethod
    def _token(request: Request) -> str:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def _authenticate(self, request: Request) -> list[str] | None:
        token = self._token(request)
        if not token or token not in self.box.tokens:
            raise _unauthenticated()
        return self.box.tokens[token]

    # -- objects (A2) --------------------------------------------------------------------------------------------

    def _json_of(self, call: Call, found: Found, *, full: bool = False) -> dict[str, Any]:
        request = call.request
        select = sorted(found.properties) if full else _list_param(request, "properties")
        return self.state.object_json(
            call.type_name,
            found,
            select=select,
            with_history=_list_param(request, "propertiesWithHistory"),
            associations=_list_param(request, "associations"),
        )

    async def list_objects(self, call: Call) -> Response:
        """A page of records in id order; `paging.next.after` only when there is more (A2)."""
        request = call.request
        limit, archived = _limit(request, 10, MAX_LIST_LIMIT), _flag(request, "archived")
        after = _cursor(request.query_params.get("after"))
        ids, next_id = self.state.page(call.type_name, after=after, limit=limit, archived=archived)
        results = [self._json_of(call, self.state.find(call.type_name, str(i), archived=archived)) for i in ids]
        body: dict[str, Any] = {"results": results}
        if next_id is not None:
            query = {**dict(request.query_params), "after": str(next_id)}
            link = f"{self.box.settings.base_url.rstrip('/')}{call.path}?{urlencode(query)}"
            body["paging"] = {"next": {"after": str(next_id), "link": link}}
        return _json(body)

    async def get_object(self, call: Call) -> Response:
        """A record by id, or by a unique property with `idProperty` (A2)."""
        request = call.request
        found = self.state.find(
            call.type_name,
            call.params["id"],
            id_property=request.query_params.get("idProperty"),
            archived=_flag(request, "archived"),
        )
        return _json(self._json_of(call, found))

    async def create_object(self, call: Call) -> Response:
        """201 with the new record; 409 on a duplicate email; 400 on invalid properties or associations."""
        body = _with_properties(await _body(call.request), "SimplePublicObjectInputForCreate")
        found = self.state.create(
            call.type_name, body.get("properties"), associations=body.get("associations"), source=API_SOURCE
        )
        return _json(self._json_of(call, found, full=True), 201)

    async def update_object(self, call: Call) -> Response:
        """200 with the record after the change (`idProperty` may name it)."""
        body = _with_properties(await _body(call.request), "SimplePublicObjectInput")
        found = self.state.update(
            call.type_name,
            call.params["id"],
            body.get("properties"),
            id_property=call.request.query_params.get("idProperty"),
            source=API_SOURCE,
        )
        return _json(self._json_of(call, found, full=True))

    async def archive_object(self, call: Call) -> Response:
        """204, whether or not the record existed (as observed)."""
        self.state.archive(call.type_name, call.params["id"], source=API_SOURCE)
        return _no_content()

    async def merge(self, call: Call) -> Response:
        """Merge two records of a type; 200 with the primary record."""
        body = _object_body(await _body(call.request), "PublicMergeInput")
        found = self.state.merge(
            call.type_name,
            str(body.get("primaryObjectId", "")),
            str(body.get("objectIdToMerge", "")),
            source=API_SOURCE,
        )
        return _json(self._json_of(call, found, full=True))

    async def search(self, call: Call) -> Response:
        """Search with filterGroups (A4); no rate-limit headers."""
        request = parse_search(await _body(call.request), self.box.search_caps, self.state, call.type_name)
        return _json(run_search(self.state, call.type_name, request))

    # -- batches (A3) --------------------------------------------------------------------------------------------

    async def batch_read(self, call: Call) -> Response:
        """Read up to 100 records by id or `idProperty`; 207 naming the ids not found (404 if none is found)."""
        started = iso(datetime.now(UTC))
        body = _object_body(await _body(call.request), "BatchReadInputSimplePublicObjectId")
        inputs = _inputs(body)
        archived = _flag(call.request, "archived")
        id_property = body.get("idProperty")
        select = body.get("properties") or None
        history = body.get("propertiesWithHistory") or None
        results, missing = [], []
        for item in inputs:
            key = str(item.get("id", "")) if isinstance(item, Mapping) else ""
            record_id = self.state.lookup(call.type_name, key, id_property=id_property, archived=archived)
            if record_id is None:
                missing.append(key)
                continue
            found = self.state.find(call.type_name, str(record_id), archived=archived)
            results.append(self.state.object_json(call.type_name, found, select=select, with_history=history))
        if missing and not results and inputs:
            raise _batch_error(call.object_type or OBJECT_TYPES["contacts"], missing)
        errors = (
            [_batch_error(call.object_type or OBJECT_TYPES["contacts"], missing).standard_error()] if missing else []
        )
        return _batch_response(results, errors, started, 200)

    async def batch_write(self, call: Call) -> Response:
        """Batch create (201), update and upsert (200), archive (204); 207 with `errors` on partial failure."""
        started = iso(datetime.now(UTC))
        inputs = _inputs(await _body(call.request))
        op = call.params["op"]
        if op == "archive":
            for item in inputs:
                key = str(item.get("id", "")) if isinstance(item, Mapping) else ""
                self.state.archive(call.type_name, key, source=API_SOURCE)
            return _no_content()
        if op == "create":
            return self._batch_create(call, inputs, started)
        if op == "update":
            return self._batch_update(call, inputs, started)
        return self._batch_upsert(call, inputs, started)

    def _batch_create(self, call: Call, inputs: list[Any], started: str) -> Response:
        items = [_with_properties(item, "SimplePublicObjectBatchInputForCreate") for item in inputs]
        trace_ids = [item.get("objectWriteTraceId") for item in items]
        if all(trace_ids) and len(set(map(str, trace_ids))) == len(trace_ids) and trace_ids:
            return self._batch_create_partial(call, items, started)
        checked = [self.state.validate(call.type_name, item.get("properties")) for item in items]
        self._no_duplicate_unique_values(call.type_name, checked)
        for values, item in zip(checked, items, strict=True):
            self.state.check_unique(call.type_name, values)
            self.state.parse_create_associations(call.type_name, item.get("associations"))
        results = [
            self.state.create(
                call.type_name, None, checked=values, associations=item.get("associations"), source=API_SOURCE
            )
            for values, item in zip(checked, items, strict=True)
        ]
        return _batch_response([self._json_of(call, f, full=True) for f in results], [], started, 201)

    def _batch_create_partial(self, call: Call, items: list[Mapping[str, Any]], started: str) -> Response:
        """With a unique `objectWriteTraceId` on every input, each input succeeds or fails alone (207)."""
        results, errors = [], []
        for item in items:
            try:
                found = self.state.create(
                    call.type_name, item.get("properties"), associations=item.get("associations"), source=API_SOURCE
                )
                results.append(self._json_of(call, found, full=True))
            except HubSpotError as exc:
                error = exc.standard_error()
                error["context"] = {**error["context"], "objectWriteTraceId": [str(item["objectWriteTraceId"])]}
                errors.append(error)
        return _batch_response(results, errors, started, 201)

    def _no_duplicate_unique_values(self, object_type: str, checked: list[dict[str, str]]) -> None:
        for name in self.state.unique_properties(object_type)[1:]:
            seen: set[str] = set()
            for values in checked:
                value = values.get(name, "").lower() if name == "email" else values.get(name, "")
                if value and value in seen:
                    raise validation_error(
                        f"Duplicate values found in batch input for unique property {name}: [{value}]",
                        context={name: [value]},
                    )
                seen.add(value)

    def _batch_update(self, call: Call, inputs: list[Any], started: str) -> Response:
        items = [_with_properties(item, "SimplePublicObjectBatchInput") for item in inputs]
        keys = [str(item.get("id", "")) for item in items]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise validation_error(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")
        checked = [self.state.validate(call.type_name, item.get("properties")) for item in items]
        results, missing, errors = [], [], []
        for key, item, values in zip(keys, items, checked, strict=True):
            id_property = item.get("idProperty")
            if self.state.lookup(call.type_name, key, id_property=id_property) is None:
                missing.append(key)
                continue
            try:
                found = self.state.update(
                    call.type_name, key, None, checked=values, id_property=id_property, source=API_SOURCE
                )
                results.append(self._json_of(call, found, full=True))
            except HubSpotError as exc:
                errors.append(exc.standard_error())
        if missing:
            errors.insert(0, _batch_error(call.object_type or OBJECT_TYPES["contacts"], missing).standard_error())
        return _batch_response(results, errors, started, 200)

    def _batch_upsert(self, call: Call, inputs: list[Any], started: str) -> Response:
        items = [_with_properties(item, "SimplePublicObjectBatchInputUpsert") for item in inputs]
        unique = self.state.unique_properties(call.type_name)
        for item in items:
            if item.get("idProperty") not in unique or item.get("idProperty") == "hs_object_id":
                raise validation_error(
                    f"Upsert needs an idProperty with unique values ({', '.join(unique[1:]) or 'none defined'}); "
                    f"got {item.get('idProperty')!r}."
                )
        checked = [self.state.validate(call.type_name, item.get("properties")) for item in items]
        results, errors = [], []
        for item, values in zip(items, checked, strict=True):
            try:
                results.append(self._upsert_one(call, item, values))
            except HubSpotError as exc:
                errors.append(exc.standard_error())
        return _batch_response(results, errors, started, 200)

    def _upsert_one(self, call: Call, item: Mapping[str, Any], values: dict[str, str]) -> dict[str, Any]:
        key, id_property = str(item.get("id", "")), str(item["idProperty"])
        existing = self.state.lookup(call.type_name, key, id_property=id_property)
        if existing is not None:
            found = self.state.update(call.type_name, str(existing), None, checked=values, source=API_SOURCE)
            return {**self._json_of(call, found, full=True), "new": False}
        with_key = {**values, **self.state.validate(call.type_name, {id_property: key})}
        found = self.state.create(call.type_name, None, checked=with_key, source=API_SOURCE)
        return {**self._json_of(call, found, full=True), "new": True}

    # -- associations (A7) ---------------------------------------------------------------------------------------

    def _record(self, object_type: str, key: str) -> int:
        record_id = self.state.lookup(object_type, key)
        if record_id is None:
            singular = OBJECT_TYPES[object_type].singular
            raise validation_error(f"No {singular} with ID {key} exists.", context={"ids": [key]})
        return record_id

    def _types_json(self, type_ids: set[int] | list[int]) -> list[dict[str, Any]]:
        return [
            {"category": ASSOCIATION_TYPES[t].category, "typeId": t, "label": ASSOCIATION_TYPES[t].label}
            for t in sorted(type_ids)
        ]

    def _pair(self, call: Call, from_id: int, to_id: int) -> dict[str, Any]:
        type_ids = self.state.associations_of(call.type_name, from_id, call.to_name).get(to_id, set())
        labels = [ASSOCIATION_TYPES[t].label for t in sorted(type_ids) if ASSOCIATION_TYPES[t].label]
        return {
            "fromObjectTypeId": OBJECT_TYPES[call.type_name].type_id,
            "fromObjectId": from_id,
            "toObjectTypeId": OBJECT_TYPES[call.to_name].type_id,
            "toObjectId": to_id,
            "labels": labels,
        }

    def _linked(self, call: Call, from_id: int, after: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
        targets = self.state.associations_of(call.type_name, from_id, call.to_name)
        ordered = [t for t in sorted(targets) if t >= after]
        page = [{"toObjectId": t, "associationTypes": self._types_json(targets[t])} for t in ordered[:limit]]
        return page, ordered[limit] if len(ordered) > limit else None

    async def list_associations(self, call: Call) -> Response:
        """A record's associations to a type, at most 500 a page (`toObjectId` as a number, see A7)."""
        record_id = self.state.lookup(call.type_name, call.params["id"])
        limit = _limit(call.request, MAX_ASSOCIATION_LIMIT, MAX_ASSOCIATION_LIMIT)
        after = _cursor(call.request.query_params.get("after"))
        results, next_id = self._linked(call, record_id, after, limit) if record_id is not None else ([], None)
        body: dict[str, Any] = {"results": results}
        if next_id is not None:
            body["paging"] = {"next": {"after": str(next_id)}}
        return _json(body)

    def _specs(self, call: Call, raw: Any) -> list[int]:
        if not isinstance(raw, list) or not raw:
            raise validation_error("Invalid input JSON: expected a non-empty array of AssociationSpec.")
        return [self.state.association_type(call.type_name, call.to_name, spec).type_id for spec in raw]

    async def associate(self, call: Call) -> Response:
        """PUT labelled association types between two records; 201 `LabelsBetweenObjectPair`."""
        type_ids = self._specs(call, await _body(call.request))
        from_id = self._record(call.type_name, call.params["id"])
        to_id = self._record(call.to_name, call.params["to_id"])
        self.state.associate(call.type_name, from_id, call.to_name, to_id, type_ids, source=API_SOURCE)
        return _json(self._pair(call, from_id, to_id), 201)

    def _default_results(self, call: Call, from_id: int, to_id: int) -> list[dict[str, Any]]:
        default = dataset.default_association(call.type_name, call.to_name)
        if default is None:
            raise validation_error(f"There is no default association type from {call.type_name} to {call.to_name}.")
        self.state.associate(call.type_name, from_id, call.to_name, to_id, [default.type_id], source=API_SOURCE)
        spec = {"associationCategory": default.category, "associationTypeId": default.type_id}
        inverse = {"associationCategory": default.category, "associationTypeId": default.inverse}
        return [
            {"from": {"id": str(from_id)}, "to": {"id": str(to_id)}, "associationSpec": spec},
            {"from": {"id": str(to_id)}, "to": {"id": str(from_id)}, "associationSpec": inverse},
        ]

    async def associate_default(self, call: Call) -> Response:
        """PUT the unlabelled (default) association between two records; 200 batch response."""
        started = iso(datetime.now(UTC))
        from_id = self._record(call.type_name, call.params["id"])
        to_id = self._record(call.to_name, call.params["to_id"])
        return _batch_response(self._default_results(call, from_id, to_id), [], started, 200)

    async def dissociate(self, call: Call) -> Response:
        """DELETE every association between two records; 204."""
        from_id = self.state.lookup(call.type_name, call.params["id"])
        to_id = self.state.lookup(call.to_name, call.params["to_id"])
        if from_id is not None and to_id is not None:
            self.state.unassociate(call.type_name, from_id, call.to_name, to_id, None, source=API_SOURCE)
        return _no_content()

    async def batch_read_associations(self, call: Call) -> Response:
        """Associations of up to 100 records; 207 with an error for records that have none."""
        started = iso(datetime.now(UTC))
        results, errors = [], []
        for item in _inputs(await _body(call.request)):
            key = str(item.get("id", "")) if isinstance(item, Mapping) else ""
            record_id = self.state.lookup(call.type_name, key)
            linked, next_id = (
                self._linked(call, record_id, _cursor(str(item.get("after") or "")), MAX_ASSOCIATION_LIMIT)
                if record_id is not None
                else ([], None)
            )
            if not linked:
                errors.append(self._no_associations(call, key))
                continue
            entry: dict[str, Any] = {"from": {"id": key}, "to": linked}
            if next_id is not None:
                entry["paging"] = {"next": {"after": str(next_id)}}
            results.append(entry)
        return _batch_response(results, errors, started, 200)

    def _no_associations(self, call: Call, key: str) -> dict[str, Any]:
        to_plural = call.to_name.replace("_", " ")
        error = HubSpotError(
            404,
            "OBJECT_NOT_FOUND",
            f"No {to_plural} are associated with {call.object_type.singular if call.object_type else ''} {key}.",
            subCategory="crm.associations.NO_ASSOCIATIONS_FOUND",
            context={"fromObjectId": [key]},
        )
        return error.standard_error()

    async def batch_write_associations(self, call: Call) -> Response:
        """Batch create (201), associate/default (200), archive and labels/archive (204)."""
        started = iso(datetime.now(UTC))
        inputs = [_object_body(i, "association input") for i in _inputs(await _body(call.request))]
        op = call.params["op"]
        if op in ("archive", "labels/archive"):
            self._batch_dissociate(call, inputs, labels_only=op == "labels/archive")
            return _no_content()
        results: list[Any] = []
        errors: list[dict[str, Any]] = []
        for item in inputs:
            try:
                from_id = self._record(call.type_name, str(_ref(item.get("from"))))
                to_id = self._record(call.to_name, str(_ref(item.get("to"))))
                if op == "create":
                    type_ids = self._specs(call, item.get("types"))
                    self.state.associate(call.type_name, from_id, call.to_name, to_id, type_ids, source=API_SOURCE)
                    results.append(self._pair(call, from_id, to_id))
                else:
                    results.extend(self._default_results(call, from_id, to_id))
            except HubSpotError as exc:
                errors.append(exc.standard_error())
        return _batch_response(results, errors, started, 201 if op == "create" else 200)

    def _batch_dissociate(self, call: Call, inputs: list[Mapping[str, Any]], *, labels_only: bool) -> None:
        for item in inputs:
            from_id = self.state.lookup(call.type_name, str(_ref(item.get("from"))))
            targets = item.get("to")
            for target in targets if isinstance(targets, list) else [targets]:
                to_id = self.state.lookup(call.to_name, str(_ref(target)))
                if from_id is None or to_id is None:
                    continue
                type_ids = self._specs(call, item.get("types")) if labels_only else None
                self.state.unassociate(call.type_name, from_id, call.to_name, to_id, type_ids, source=API_SOURCE)

    async def association_labels(self, call: Call) -> Response:
        """The association types (labels) defined from one object type to another."""
        types = [a for a in ASSOCIATION_TYPES.values() if (a.from_type, a.to_type) == (call.type_name, call.to_name)]
        return _json({"results": self._types_json([a.type_id for a in types])})

    # -- properties (A8) -----------------------------------------------------------------------------------------

    async def list_properties(self, call: Call) -> Response:
        """Every property of a type (`archived=true`: the archived ones)."""
        archived = _flag(call.request, "archived")
        wanted = _list_param(call.request, "properties")
        results = [
            d
            for d in self.state.properties[call.type_name].values()
            if d["archived"] == archived and (wanted is None or d["name"] in wanted)
        ]
        return _json({"results": results})

    async def get_property(self, call: Call) -> Response:
        """One property by name; 404 if unknown."""
        archived = _flag(call.request, "archived")
        return _json(self.state.property_definition(call.type_name, call.params["name"], archived=archived))

    async def create_property(self, call: Call) -> Response:
        """201 with the new property; 400 for a bad type/fieldType pair; 409 if the name exists."""
        return _json(self.state.create_property(call.type_name, await _body(call.request)), 201)

    async def update_property(self, call: Call) -> Response:
        """PATCH a custom property."""
        body = await _body(call.request)
        return _json(self.state.update_property(call.type_name, call.params["name"], body))

    async def archive_property(self, call: Call) -> Response:
        """Archive a custom property; 204."""
        self.state.archive_property(call.type_name, call.params["name"])
        return _no_content()

    async def batch_read_properties(self, call: Call) -> Response:
        """Properties by name; 207 naming those not found."""
        started = iso(datetime.now(UTC))
        body = _object_body(await _body(call.request), "BatchReadInputPropertyName")
        archived = bool(body.get("archived", False))
        results, errors = [], []
        for item in _inputs(body):
            name = str(item.get("name", "")) if isinstance(item, Mapping) else ""
            try:
                results.append(self.state.property_definition(call.type_name, name, archived=archived))
            except HubSpotError as exc:
                errors.append(exc.standard_error())
        return _batch_response(results, errors, started, 200)

    async def batch_write_properties(self, call: Call) -> Response:
        """Batch create (201 or 207) or archive (204) properties."""
        started = iso(datetime.now(UTC))
        inputs = _inputs(await _body(call.request))
        if call.params["op"] == "archive":
            for item in inputs:
                name = str(item.get("name", "")) if isinstance(item, Mapping) else ""
                if name in self.state.properties[call.type_name]:
                    self.state.archive_property(call.type_name, name)
            return _no_content()
        results, errors = [], []
        for item in inputs:
            try:
                results.append(self.state.create_property(call.type_name, item))
            except HubSpotError as exc:
                errors.append(exc.standard_error())
        return _batch_response(results, errors, started, 201)

    async def list_groups(self, call: Call) -> Response:
        """The property groups of a type."""
        return _json({"results": [g for g in self.state.groups[call.type_name].values() if not g["archived"]]})

    async def create_group(self, call: Call) -> Response:
        """201 with the new group; 409 if the name exists."""
        return _json(self.state.create_group(call.type_name, await _body(call.request)), 201)

    async def get_group(self, call: Call) -> Response:
        """One property group."""
        return _json(self.state.group(call.type_name, call.params["name"]))

    async def update_group(self, call: Call) -> Response:
        """PATCH a group's label or display order."""
        group = self.state.group(call.type_name, call.params["name"])
        body = _object_body(await _body(call.request), "PropertyGroupUpdate")
        group.update({k: body[k] for k in ("label", "displayOrder") if k in body})
        return _json(group)

    async def archive_group(self, call: Call) -> Response:
        """Archive a property group; 204."""
        self.state.group(call.type_name, call.params["name"])["archived"] = True
        return _no_content()

    # -- pipelines and owners (A9) -------------------------------------------------------------------------------

    def _pipelines(self, call: Call) -> dict[str, dict[str, Any]]:
        return self.state.pipelines if call.type_name == "deals" else {}

    async def list_pipelines(self, call: Call) -> Response:
        """The pipelines of an object type (deals have the default "Sales Pipeline")."""
        return _json({"results": list(self._pipelines(call).values())})

    def _pipeline(self, call: Call) -> dict[str, Any]:
        found = self._pipelines(call).get(call.params["pipeline"])
        if found is None:
            raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {call.params['pipeline']}")
        return found

    async def get_pipeline(self, call: Call) -> Response:
        """One pipeline with its stages."""
        return _json(self._pipeline(call))

    async def list_stages(self, call: Call) -> Response:
        """The stages of a pipeline."""
        return _json({"results": self._pipeline(call)["stages"]})

    async def get_stage(self, call: Call) -> Response:
        """One stage of a pipeline."""
        for stage in self._pipeline(call)["stages"]:
            if stage["id"] == call.params["stage"]:
                return _json(stage)
        raise HubSpotError(404, "OBJECT_NOT_FOUND", f"Unable to find stage {call.params['stage']}")

    async def list_owners(self, call: Call) -> Response:
        """Owners a page at a time (default 100, at most 500), optionally by `email`."""
        request = call.request
        if _flag(request, "archived"):
            return _json({"results": []})
        email = request.query_params.get("email", "").lower()
        owners = [o for o in self.state.owners if not email or o["email"] == email]
        start, limit = _cursor(request.query_params.get("after")), _limit(request, 100, MAX_OWNER_LIMIT)
        body: dict[str, Any] = {"results": owners[start : start + limit]}
        if start + limit < len(owners):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return _json(body)

    async def get_owner(self, call: Call) -> Response:
        """One owner by id (or by HubSpot user id with `idProperty=userId`)."""
        by_user = call.request.query_params.get("idProperty") == "userId"
        return _json(self.state.owner(call.params["owner"], by_user_id=by_user))


def _ref(raw: Any) -> Any:
    """The id of a `{"id": ...}` reference (or a bare id)."""
    return raw.get("id", "") if isinstance(raw, Mapping) else ("" if raw is None else raw)


# -- admin -------------------------------------------------------------------------------------------------------


def _admin_error(message: str, status: int = 422) -> Response:
    return _json({"error": message}, status)


class _Admin:
    """`/_sandbox` endpoints: inspect and steer the emulator, and change records as a HubSpot user would."""

    def __init__(self, box: HubSpotSandbox) -> None:
        self.box = box

    async def state(self, request: Request) -> Response:
        """What this sandbox is: where, which token, how much data, limits, usage, webhooks, faults."""
        s = self.box.settings
        return _json(
            {
                "base_url": s.base_url,
                "portal_id": s.portal_id,
                "app_id": s.app_id,
                "token": s.token,
                "seed": s.seed,
                "counts": self.box.state.counts(),
                "next_id": self.box.state.next_id,
                "limits": {name: getattr(s, name) for name in sorted(LIMIT_FIELDS)},
                "usage": self.box.limits.usage(),
                "tokens": self.box.tokens,
                "webhooks": self.box.webhooks.describe(),
                "faults": self.box.faults.settings.model_dump(),
            }
        )

    async def reset(self, request: Request) -> Response:
        """Back to the seeded portal (see `HubSpotSandbox.reset`)."""
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

    async def limits(self, request: Request) -> Response:
        """GET the rate/search limits and usage; PUT some of them (they apply to the next request)."""
        if request.method == "PUT":
            try:
                changes = await request.json()
                unknown = set(changes) - LIMIT_FIELDS
                if unknown:
                    return _admin_error(f"unknown limits {sorted(unknown)}; known: {sorted(LIMIT_FIELDS)}")
                merged = {**self.box.settings.model_dump(), **changes}
                self.box.settings = HubSpotSandboxSettings.model_validate(merged)
            except (ValueError, TypeError, json.JSONDecodeError) as exc:
                return _admin_error(str(exc))
        s = self.box.settings
        limits = {name: getattr(s, name) for name in sorted(LIMIT_FIELDS)}
        return _json({"limits": limits, "usage": self.box.limits.usage()})

    async def limits_reset(self, request: Request) -> Response:
        """Forget rate-limit usage (a fresh window and day)."""
        self.box.limits.reset()
        return _json({"usage": self.box.limits.usage()})

    async def tokens(self, request: Request) -> Response:
        """GET accepted tokens; POST {"token": ..., "scopes": [...] | null} to accept one (null: every scope)."""
        if request.method == "POST":
            try:
                body = await request.json()
                token, scopes = str(body["token"]), body.get("scopes")
                if not token or (scopes is not None and not all(isinstance(s, str) for s in scopes)):
                    raise ValueError("token must be non-empty and scopes a list of strings or null")
            except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
                return _admin_error(f"expected {{'token': ..., 'scopes': [...] | null}}: {exc}")
            self.box.tokens[token] = None if scopes is None else list(scopes)
        return _json(self.box.tokens)

    async def subscription(self, request: Request) -> Response:
        """GET, PUT ({target_url, event_types, property_names?}) or DELETE the webhook subscription."""
        if request.method == "PUT":
            try:
                self.box.webhooks.subscribe(WebhookSubscription.model_validate(await request.json()))
            except (ValidationError, json.JSONDecodeError) as exc:
                return _admin_error(str(exc))
        elif request.method == "DELETE":
            self.box.webhooks.subscribe(None)
        return _json(self.box.webhooks.describe())

    async def deliveries(self, request: Request) -> Response:
        """Webhook POSTs made so far (each attempt), oldest first."""
        return _json(self.box.webhooks.delivery_log())

    async def drain(self, request: Request) -> Response:
        """Send pending webhook events now and wait for every delivery to finish."""
        await self.box.webhooks.drain()
        return _json({"deliveries": len(self.box.webhooks.deliveries)})

    async def _as_user(self, request: Request, action: Callable[[str, Any], Found | None]) -> Response:
        try:
            object_type = self.box.state.object_type(request.path_params["type"]).name
            body = await _body(request) if request.method != "DELETE" else None
            found = action(object_type, body)
        except HubSpotError as exc:
            return _error(exc)
        if found is None:
            return _no_content()
        state = self.box.state
        return _json(state.object_json(object_type, found, select=sorted(found.properties)))

    async def create_object(self, request: Request) -> Response:
        """Create a record as a HubSpot user ({"properties": ...}); not rate limited; webhooks say CRM_UI."""

        def create(object_type: str, body: Any) -> Found:
            payload = _object_body(body, "SimplePublicObjectInputForCreate")
            return self.box.state.create(
                object_type, payload.get("properties"), associations=payload.get("associations"), source=USER_SOURCE
            )

        return await self._as_user(request, create)

    async def change_object(self, request: Request) -> Response:
        """PATCH ({"properties": ...}) or DELETE (archive) a record as a HubSpot user would."""
        key = request.path_params["id"]

        def change(object_type: str, body: Any) -> Found | None:
            if request.method == "DELETE":
                if not self.box.state.archive(object_type, key, source=USER_SOURCE):
                    raise object_not_found()
                return None
            payload = _object_body(body, "SimplePublicObjectInput")
            return self.box.state.update(object_type, key, payload.get("properties"), source=USER_SOURCE)

        return await self._as_user(request, change)

    async def merge(self, request: Request) -> Response:
        """Merge two records as a user ({"primaryObjectId", "objectIdToMerge"})."""

        def merge(object_type: str, body: Any) -> Found:
            payload = _object_body(body, "PublicMergeInput")
            primary, other = str(payload.get("primaryObjectId", "")), str(payload.get("objectIdToMerge", ""))
            return self.box.state.merge(object_type, primary, other, source=USER_SOURCE)

        return await self._as_user(request, merge)
