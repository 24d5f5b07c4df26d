"""The protocol layer of the ConnectWise Manage emulator: an ASGI app over the state backend.

Serves `/login/companyinfo/{company}` (codebase discovery), the REST API under `/{codebase}apis/3.0/`, the
callback signing key under `/{codebase}system/callbackkey/index.rails`, and admin endpoints under `/_sandbox/`
(state, reset, faults, API members and their denied modules, codebase upgrades, company merges, callback deliveries).
Everything follows `shared/reference/connectwise/api-notes.md`; points that note marks UNCONFIRMED are flagged here.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route as StarletteRoute

from cwsync_sandbox.connectwise.callbacks import CallbackDispatcher
from cwsync_sandbox.connectwise.conditions import (
    Condition,
    ConditionError,
    matches_child,
    matches_custom_fields,
    parse_conditions,
    parse_order_by,
    project_fields,
    sort_key,
)
from cwsync_sandbox.connectwise.dataset import Dataset
from cwsync_sandbox.connectwise.examples import add_tour_examples
from cwsync_sandbox.connectwise.resources import Resource, Route, route
from cwsync_sandbox.connectwise.state import ApiRefusal, Store, field_error, invalid, not_found
from cwsync_sandbox.faults import ErrorBodies, FaultMiddleware, FaultSettings, FaultState

JSON_TYPE = "application/json; charset=utf-8"
ALWAYS_VALID_FIELDS = frozenset({"id", "_info", "lastupdated", "dateentered", "updatedby", "enteredby"})
_ACCESS_BY_METHOD = {"GET": "inquire", "POST": "add", "PUT": "edit", "PATCH": "edit", "DELETE": "delete"}
_ACCESS_WORDS = {
    "all": {"inquire", "add", "edit", "delete"},
    "read": {"inquire"},
    "inquire": {"inquire"},
    "write": {"add", "edit", "delete"},
    "add": {"add"},
    "edit": {"edit"},
    "delete": {"delete"},
}


class ApiMember(BaseModel):
    """An API member's key pair and the modules its security role denies (see `deny` syntax in docs)."""

    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(min_length=1)
    private_key: str = Field(min_length=1)
    identifier: str = "cwsync-api"
    deny: list[str] = Field(default_factory=list)


class SandboxSettings(BaseModel):
    """How the emulator is set up; the defaults are the documented sandbox credentials."""

    model_config = ConfigDict(extra="forbid")

    company_id: str = "cwsandbox"
    public_key: str = "SbxPublicKey0001"
    private_key: str = "SbxPrivateKey001"
    client_id: str = "3f2c1b6e-0d4a-4c8e-9b1f-5a7d2e8c0f11"
    require_client_id: bool = True
    codebase: str = "v2025_1/"
    base_url: str = "http://127.0.0.1:8710"
    seed: int = 1
    records: int = 2000
    counts: dict[str, int] = Field(default_factory=dict)
    deny: list[str] = Field(default_factory=list)
    faults: FaultSettings = Field(default_factory=FaultSettings)
    examples: bool = Field(False, description="add the README tour's records (`cwsync_sandbox.connectwise.examples`)")


@dataclass
class Sandbox:
    """The emulator's whole state: settings, store, API members, faults, callbacks."""

    settings: SandboxSettings
    store: Store
    faults: FaultState
    callbacks: CallbackDispatcher
    members: dict[str, ApiMember] = field(default_factory=dict)
    codebase: str = "v2025_1/"

    @property
    def api_root(self) -> str:
        """The public API base, e.g. `http://127.0.0.1:8710/v2025_1/apis/3.0`."""
        return f"{self.settings.base_url.rstrip('/')}/{self.codebase}apis/3.0"


def build_sandbox(settings: SandboxSettings | None = None) -> Sandbox:
    """Create the emulator state from settings (deterministic for a seed)."""
    settings = settings or SandboxSettings()
    href_base = f"{settings.base_url.rstrip('/')}/{settings.codebase}apis/3.0"
    dataset = Dataset(seed=settings.seed, records=settings.records, counts=settings.counts or None, href_base=href_base)
    store = Store(dataset=dataset, href_base=href_base)
    if settings.examples:
        add_tour_examples(store)
    key_id = secrets.token_hex(8)
    key_url = f"{settings.base_url.rstrip('/')}/{settings.codebase}system/callbackkey/index.rails?id={key_id}"
    dispatcher = CallbackDispatcher(
        store=store, company_id=settings.company_id, key_url=key_url, signing_key=secrets.token_urlsafe(32)
    )
    default = ApiMember(public_key=settings.public_key, private_key=settings.private_key, deny=list(settings.deny))
    for spec in default.deny:
        check_deny_spec(spec)
    return Sandbox(
        settings=settings,
        store=store,
        faults=FaultState(settings.faults),
        callbacks=dispatcher,
        members={default.public_key: default},
        codebase=settings.codebase,
    )


def check_deny_spec(spec: str) -> tuple[str, set[str]]:
    """Parse `target[:access]` (target: entity, API path, module or `Module/Permission`); ValueError if bad."""
    target, _, access = spec.partition(":")
    levels = _ACCESS_WORDS.get((access or "all").strip().lower())
    if not target.strip() or levels is None:
        raise ValueError(f"bad deny rule {spec!r}: use TARGET[:read|write|add|edit|delete|all]")
    return target.strip().lower(), levels


def is_denied(member: ApiMember, resource: Resource, access: str) -> bool:
    """Whether the member's security role lacks `access` on the resource's module."""
    names = {
        resource.entity.lower(),
        resource.path.lower(),
        resource.module.lower(),
        resource.permission.lower(),
        f"{resource.module}/{resource.permission}".lower(),
    }
    for spec in member.deny:
        target, levels = check_deny_spec(spec)
        if target in names and access in levels:
            return True
    return False


# -- responses ---------------------------------------------------------------------------------------------------


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    raw = json.dumps(body, separators=(",", ":")).encode("utf-8")
    all_headers = {"x-cw-request-id": str(uuid.uuid4()), "x-server-name": "sandbox-api-01", **(headers or {})}
    return Response(raw, status_code=status, media_type=JSON_TYPE, headers=all_headers)


def _refusal(exc: ApiRefusal) -> Response:
    return _json(exc.body, exc.status)


def _unauthorized(message: str, code: str = "Unauthorized") -> ApiRefusal:
    # The 401 body's `code` is UNCONFIRMED (api-notes §3); the shape is the documented ErrorResponseMessage.
    return ApiRefusal(401, {"code": code, "message": message, "errors": None})


CW_ERROR_BODIES = ErrorBodies(
    too_many=lambda seconds: {
        "error": "ConnectWiseAPI",
        "message": f"Too many requests. Please try again in {seconds} seconds.",
    },
    server_error=lambda status: {"code": "InternalServerError", "message": "An error occurred.", "errors": None},
)


def _faulted(path: str) -> bool:
    return "/apis/3.0/" in path or path.startswith("/login/")


# -- the app -----------------------------------------------------------------------------------------------------


def create_app(sandbox: Sandbox | None = None) -> Starlette:
    """The ASGI app serving one emulated ConnectWise Manage instance."""
    box = sandbox or build_sandbox()
    api = _Api(box)
    routes = [
        StarletteRoute("/login/companyinfo/{company}", api.company_info, methods=["GET"]),
        StarletteRoute("/_sandbox", api.admin_state, methods=["GET"]),
        StarletteRoute("/_sandbox/reset", api.admin_reset, methods=["POST"]),
        StarletteRoute("/_sandbox/faults", api.admin_faults, methods=["GET", "PUT"]),
        StarletteRoute("/_sandbox/members", api.admin_members, methods=["GET", "POST"]),
        StarletteRoute("/_sandbox/members/{public_key}/deny", api.admin_deny, methods=["PUT"]),
        StarletteRoute("/_sandbox/codebase", api.admin_codebase, methods=["PUT"]),
        StarletteRoute("/_sandbox/companies/{record_id:int}/merge", api.admin_merge, methods=["POST"]),
        StarletteRoute("/_sandbox/callbacks/deliveries", api.admin_deliveries, methods=["GET"]),
        StarletteRoute("/{codebase:path}system/callbackkey/index.rails", api.callback_key, methods=["GET"]),
        StarletteRoute(
            "/{codebase:path}apis/3.0/{path:path}",
            api.dispatch,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        ),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = box
    app.add_middleware(FaultMiddleware, state=box.faults, applies_to=_faulted, bodies=CW_ERROR_BODIES)
    return app


class _Api:
    """Request handlers; one instance per app, holding the sandbox."""

    def __init__(self, box: Sandbox) -> None:
        self.box = box

    # -- discovery and keys ------------------------------------------------------------------------------------

    async def company_info(self, request: Request) -> Response:
        """`/login/companyinfo/{company}`: the codebase, or a `null` body for an unknown company."""
        company = request.path_params["company"]
        if company.lower() != self.box.settings.company_id.lower():
            return _json(None)
        host = self.box.settings.base_url.split("//", 1)[-1].rstrip("/")
        return _json(
            {
                "CompanyName": "Sandbox MSP",
                "Codebase": self.box.codebase,
                "VersionCode": "v" + self.box.codebase.strip("/").lstrip("v").replace("_", "."),
                "VersionNumber": "v4.6.12345",
                "CompanyID": self.box.settings.company_id,
                "IsCloud": "True",
                "SiteUrl": host,
                "AllowedOrigins": [],
            }
        )

    async def callback_key(self, request: Request) -> Response:
        """The signing key a callback's `Metadata.key_url` points at."""
        if request.query_params.get("id") != self.box.callbacks.key_url.rsplit("id=", 1)[-1]:
            return _json({"code": "NotFound", "message": "key not found", "errors": None}, 404)
        return _json({"signing_key": self.box.callbacks.signing_key})

    # -- the API -----------------------------------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        """Every `/{codebase}apis/3.0/...` request."""
        codebase = request.path_params["codebase"]
        if codebase.strip("/").lower() not in (self.box.codebase.strip("/").lower(), "v4_6_release"):
            return PlainTextResponse("Cannot route. Codebase/company is invalid", status_code=404)
        try:
            member = self._authenticate(request)
            return await self._handle(request, member, request.path_params["path"])
        except ApiRefusal as exc:
            return _refusal(exc)

    def _authenticate(self, request: Request) -> ApiMember:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, private = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, private = "", ""
        company, _, public = user.partition("+")
        member = self.box.members.get(public)
        if (
            scheme.lower() != "basic"
            or company.lower() != self.box.settings.company_id.lower()
            or member is None
            or not secrets.compare_digest(member.private_key, private)
        ):
            raise _unauthorized("Unable to authenticate with the company id, public key and private key given.")
        client_id = request.headers.get("clientid", "")
        if self.box.settings.require_client_id and client_id.lower() != self.box.settings.client_id.lower():
            # Status and code for a missing/unknown clientId are UNCONFIRMED; a 401 naming the header is assumed.
            raise _unauthorized(
                "The clientId header is missing or not registered. Get one at developer.connectwise.com/ClientID.",
                code="InvalidClientId",
            )
        return member

    async def _handle(self, request: Request, member: ApiMember, path: str) -> Response:
        if path.strip("/").lower() == "system/info":
            return _json(self._system_info())
        found = route(path)
        if found is None:
            message = f"The resource '{path}' was not found."
            raise ApiRefusal(404, {"code": "NotFound", "message": message, "errors": None})
        method = request.method
        access = _ACCESS_BY_METHOD[method]
        if is_denied(member, found.resource, access):
            raise self._forbidden(found.resource, access)
        if found.suffix == "count":
            return self._count(request, found)
        if found.resource.entity == "forecast_items" and found.record_id is None:
            return await self._forecast(request, found, member)
        if found.record_id is None:
            if method == "GET":
                return self._list(request, found)
            if method == "POST":
                _fields({}, request, self.box.store.dataset, found.resource)  # a bad `fields` refuses before writing
                body = await _body(request)
                record = self.box.store.create(
                    found.resource,
                    _object(body, found.resource),
                    member=member.identifier,
                    parent_id=found.parent_id,
                )
                return _json(_fields(record, request, self.box.store.dataset, found.resource), 201)
            raise _method_not_allowed(method)
        return await self._record(request, found, member)

    async def _record(self, request: Request, found: Route, member: ApiMember) -> Response:
        store, resource, record_id = self.box.store, found.resource, found.record_id or 0
        if request.method == "GET":
            record = store.get(resource.entity, record_id)
            if record is None or not _belongs(resource, record, found.parent_id):
                raise not_found(resource, record_id)
            return _json(_fields(record, request, store.dataset, resource))
        if request.method == "DELETE":
            store.delete(resource, record_id, member=member.identifier)
            return Response(status_code=204, headers={"x-cw-request-id": str(uuid.uuid4())})
        body = await _body(request)
        if request.method == "PUT":
            record = store.replace(resource, record_id, _object(body, resource), member=member.identifier)
        elif request.method == "PATCH":
            record = store.patch(resource, record_id, body, member=member.identifier)
        else:
            raise _method_not_allowed(request.method)
        return _json(_fields(record, request, store.dataset, resource))

    async def _forecast(self, request: Request, found: Route, member: ApiMember) -> Response:
        """`/sales/opportunities/{id}/forecast`: the opportunity's one `Forecast`, not a list of its items.

        By the spec (2025.8, ai-connor/connectwise `api_opportunity_forecasts.go`) GET answers `[Forecast]` and POST
        takes a `Forecast` (its `forecastItems`) and answers the whole `Forecast`; single items live at
        `…/forecast/{id}` (GET, PUT, PATCH, DELETE answer/accept a `ForecastItem`). UNCONFIRMED: that a POST adds
        the items given to those already there (rather than replacing them), and that the Forecast's id is the
        opportunity's. The whole-forecast PUT/PATCH/DELETE (`…/forecast/`) are not emulated (405).
        """
        store, resource, parent = self.box.store, found.resource, found.parent_id or 0
        if store.get("opportunities", parent) is None:
            raise ApiRefusal(
                404, {"code": "NotFound", "message": f"Opportunity recId {parent} not found", "errors": None}
            )
        if request.method == "GET":
            query = _Query.parse(request, store.dataset, resource, for_count=False)
            forward = request.headers.get("pagination-type", "").lower() == "forward-only"
            done = query.page_id >= parent if forward else query.page > 1
            return _json([] if done else [self._forecast_of(parent)])
        if request.method != "POST":
            raise _method_not_allowed(request.method)
        body = _object(await _body(request), resource)
        items = body.get("forecastItems")
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            message = "The field forecastItems is required: a Forecast holding one or more ForecastItem objects."
            raise invalid("Forecast", [field_error("NullValue", message, "forecast", "forecastItems")])
        for item in items:  # all or nothing: every item is checked before any is stored
            store.validate(resource, item)
        for item in items:
            store.create(resource, item, member=member.identifier, parent_id=parent)
        return _json(self._forecast_of(parent), 201)

    def _forecast_of(self, opportunity_id: int) -> dict[str, Any]:
        store = self.box.store
        items = [
            r
            for r in (store.get("forecast_items", i) for i in store.ids("forecast_items", parent_id=opportunity_id))
            if r
        ]
        recurring = sum(float(i.get("recurringRevenue") or 0) for i in items if i.get("recurringFlag"))
        href = f"{self.box.api_root}/sales/opportunities/{opportunity_id}"
        return {
            "id": opportunity_id,
            "forecastItems": items,
            "recurringTotal": round(recurring, 2),
            "_info": {"opportunity_href": href},
        }

    @staticmethod
    def _forbidden(resource: Resource, access: str) -> ApiRefusal:
        # The 403 body's `code` and wording are UNCONFIRMED (api-notes §10); the shape is ErrorResponseMessage.
        message = (
            f"Your security role does not allow {access.capitalize()} access to "
            f"{resource.module} > {resource.permission}."
        )
        return ApiRefusal(403, {"code": "NotAuthorized", "message": message, "errors": None})

    def _system_info(self) -> dict[str, Any]:
        return {
            "version": "v" + self.box.codebase.strip("/").lstrip("v").replace("_", ".") + ".12345",
            "isCloud": True,
            "serverTimeZone": "Eastern Standard Time",
            "licenseBits": [
                {"name": "ServiceDesk", "activeFlag": True},
                {"name": "Sales", "activeFlag": True},
            ],
            "cloudRegion": "NA",
            "maxWorkFlowRecordsAllowed": 500,
        }

    # -- reads -------------------------------------------------------------------------------------------------

    def _count(self, request: Request, found: Route) -> Response:
        query = _Query.parse(request, self.box.store.dataset, found.resource, for_count=True)
        entity = found.resource.entity
        if query.is_unfiltered and found.parent_id is None:
            return _json({"count": self.box.store.live_count(entity)})
        total = sum(1 for _ in query.matching(self.box.store, entity, after=0, parent_id=found.parent_id))
        return _json({"count": total})

    def _list(self, request: Request, found: Route) -> Response:
        store, entity = self.box.store, found.resource.entity
        query = _Query.parse(request, store.dataset, found.resource, for_count=False)
        if request.headers.get("pagination-type", "").lower() == "forward-only":
            return self._forward_only(request, query, found)
        if query.order_by:
            rows = list(query.matching(store, entity, after=0, parent_id=found.parent_id))
            for path, descending in reversed(query.order_by):
                rows.sort(key=lambda rec, p=path: sort_key(rec, p), reverse=descending)  # type: ignore[misc]
            total: int | None = len(rows)
            page_rows = rows[(query.page - 1) * query.page_size : query.page * query.page_size]
        else:
            page_rows, total = self._page_in_id_order(query, found)
        links = _navigable_links(request, query.page, query.page_size, total, len(page_rows))
        body = [project_fields(r, query.fields) if query.fields else r for r in page_rows]
        return _json(body, headers={"link": links} if links else None)

    def _page_in_id_order(self, query: _Query, found: Route) -> tuple[list[dict[str, Any]], int | None]:
        store, entity = self.box.store, found.resource.entity
        start = (query.page - 1) * query.page_size
        if query.is_unfiltered and found.parent_id is None:
            total = store.live_count(entity)
            ids = _islice(store.ids(entity), start, query.page_size)
            return [r for r in (store.get(entity, i) for i in ids) if r is not None], total
        rows: list[dict[str, Any]] = []
        total = 0
        for record in query.matching(store, entity, after=0, parent_id=found.parent_id):
            if start <= total < start + query.page_size:
                rows.append(record)
            total += 1
        return rows, total

    def _forward_only(self, request: Request, query: _Query, found: Route) -> Response:
        if query.order_by:
            error = field_error("InvalidField", "orderBy is not supported with forward-only pagination.", "", "orderBy")
            raise ApiRefusal(400, {"code": "InvalidObject", "message": "orderBy object is invalid", "errors": [error]})
        rows: list[dict[str, Any]] = []
        for record in query.matching(
            self.box.store, found.resource.entity, after=query.page_id, parent_id=found.parent_id
        ):
            rows.append(record)
            if len(rows) >= query.page_size:
                break
        next_id = rows[-1]["id"] if rows else query.page_id
        # ConnectWise always sends a Link in this mode; the `rel` name is UNCONFIRMED (api-notes §10).
        link = f'<{_url_with(request, pageId=next_id)}>; rel="next"'
        body = [project_fields(r, query.fields) if query.fields else r for r in rows]
        return _json(body, headers={"link": link})

    # -- admin -------------------------------------------------------------------------------------------------

    async def admin_state(self, request: Request) -> Response:
        """What this sandbox is: where, which credentials, how much data."""
        s = self.box.settings
        return JSONResponse(
            {
                "base_url": s.base_url,
                "api_root": self.box.api_root,
                "codebase": self.box.codebase,
                "company_id": s.company_id,
                "public_key": s.public_key,
                "private_key": s.private_key,
                "client_id": s.client_id,
                "seed": s.seed,
                "counts": self.box.store.dataset.describe(),
                "members": [m.model_dump(exclude={"private_key"}) for m in self.box.members.values()],
                "faults": self.box.faults.settings.model_dump(),
            }
        )

    async def admin_reset(self, request: Request) -> Response:
        """Forget every write (the generated data stays)."""
        store = self.box.store
        store.overlay.clear()
        store.next_ids.clear()
        store._unique.clear()
        return JSONResponse({"reset": True})

    async def admin_faults(self, request: Request) -> Response:
        """GET the fault settings and counters; PUT new settings (a JSON FaultSettings)."""
        if request.method == "PUT":
            try:
                self.box.faults.update(FaultSettings.model_validate(await request.json()))
            except (ValueError, json.JSONDecodeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(
            {
                "settings": self.box.faults.settings.model_dump(),
                "counters": self.box.faults.counters.as_dict(),
            }
        )

    async def admin_members(self, request: Request) -> Response:
        """GET API members (without private keys); POST a new one {public_key, private_key, identifier, deny}."""
        if request.method == "POST":
            try:
                member = ApiMember.model_validate(await request.json())
                for spec in member.deny:
                    check_deny_spec(spec)
            except (ValueError, json.JSONDecodeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=422)
            self.box.members[member.public_key] = member
        return JSONResponse([m.model_dump(exclude={"private_key"}) for m in self.box.members.values()])

    async def admin_deny(self, request: Request) -> Response:
        """PUT {"deny": [...]}: replace the denied modules of an API member's security role."""
        member = self.box.members.get(request.path_params["public_key"])
        if member is None:
            return JSONResponse({"error": "unknown public key"}, status_code=404)
        try:
            deny = list((await request.json())["deny"])
            for spec in deny:
                check_deny_spec(str(spec))
        except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": f"expected {{'deny': [...]}}: {exc}"}, status_code=422)
        member.deny = [str(spec) for spec in deny]
        return JSONResponse(member.model_dump(exclude={"private_key"}))

    async def admin_codebase(self, request: Request) -> Response:
        """PUT {"codebase": "v2025_2/"}: simulate a hosted upgrade that moves the codebase."""
        try:
            codebase = str((await request.json())["codebase"])
        except (KeyError, TypeError, json.JSONDecodeError):
            return JSONResponse({"error": "expected {'codebase': 'vYYYY_N/'}"}, status_code=422)
        self.box.codebase = codebase if codebase.endswith("/") else codebase + "/"
        return JSONResponse({"codebase": self.box.codebase})

    async def admin_merge(self, request: Request) -> Response:
        """Merge a company away: `deletedFlag` set without moving `lastUpdated`."""
        try:
            self.box.store.merge_company(request.path_params["record_id"], member="admin")
        except ApiRefusal as exc:
            return _refusal(exc)
        return JSONResponse({"merged": request.path_params["record_id"]})

    async def admin_deliveries(self, request: Request) -> Response:
        """Callback delivery attempts, newest last."""
        return JSONResponse([vars(d) for d in self.box.callbacks.deliveries])


# -- request parsing ---------------------------------------------------------------------------------------------


@dataclass
class _Query:
    conditions: Condition | None
    child: Condition | None
    custom: Condition | None
    order_by: list[tuple[str, bool]]
    fields: str | None
    page: int
    page_size: int
    page_id: int

    @property
    def is_unfiltered(self) -> bool:
        return self.conditions is None and self.child is None and self.custom is None

    @classmethod
    def parse(cls, request: Request, dataset: Dataset, resource: Resource, *, for_count: bool) -> _Query:
        # Parameter names are treated case-insensitively (clients send `pagesize`, `childconditions`; api-notes §2.1).
        params = {k.lower(): v for k, v in request.query_params.items()}
        try:
            conditions = _parse_optional(params.get("conditions"), "conditions")
            child = _parse_optional(params.get("childconditions"), "childConditions")
            custom = _parse_optional(params.get("customfieldconditions"), "customFieldConditions")
            order_by = parse_order_by(params["orderby"]) if params.get("orderby", "").strip() else []
        except ConditionError as exc:
            raise _bad_param(exc.param, exc.message) from exc
        if conditions is not None:
            _check_known_fields(conditions, dataset, resource)
        fields = params.get("fields") or None
        _check_named_fields(dataset, resource, "orderBy", [path for path, _ in order_by])
        _check_named_fields(dataset, resource, "fields", (fields or "").split(","))
        return cls(
            conditions=conditions,
            child=child,
            custom=custom,
            order_by=order_by,
            fields=fields,
            page=_int_param(params, "page", 1, 1, None),
            page_size=_int_param(params, "pagesize", 25, 1, 1000),
            page_id=_int_param(params, "pageid", 0, 0, None),
        )

    def matching(self, store: Store, entity: str, *, after: int, parent_id: int | None) -> Iterator[dict[str, Any]]:
        predicate = self._predicate()
        by_id = self.conditions is not None and parent_id is None  # child lists scan their parent's few ids anyway
        wanted = self.conditions.id_set() if by_id and self.conditions is not None else None
        candidates = store.ids(entity, after=after, parent_id=parent_id) if wanted is None else sorted(wanted)
        for record_id in candidates:
            if wanted is not None and record_id <= after:
                continue
            record = store.get(entity, record_id)
            if record is not None and predicate(record):
                yield record

    def _predicate(self) -> Callable[[Mapping[str, Any]], bool]:
        checks: list[Callable[[Mapping[str, Any]], bool]] = []
        if self.conditions is not None:
            checks.append(self.conditions.matches)
        if self.child is not None:
            child = self.child
            checks.append(lambda r: matches_child(child, r))
        if self.custom is not None:
            custom = self.custom
            checks.append(lambda r: matches_custom_fields(custom, r))
        return lambda record: all(check(record) for check in checks)


def _parse_optional(text: str | None, param: str) -> Condition | None:
    if text is None or not text.strip():
        return None
    return parse_conditions(text, param=param)


def _check_known_fields(conditions: Condition, dataset: Dataset, resource: Resource) -> None:
    try:
        known = {name.lower() for name in dataset.field_names(resource.entity)}
    except KeyError:
        return
    unknown = sorted(name for name in conditions.fields() if name not in known and name not in ALWAYS_VALID_FIELDS)
    if unknown:
        raise _bad_param("conditions", f"Unknown field '{unknown[0]}' for {resource.label or resource.entity}.")


def _check_named_fields(dataset: Dataset, resource: Resource, param: str, paths: list[str]) -> None:
    """400 for a field `orderBy` or `fields` names that the record does not have (its first path segment).

    ConnectWise's docs say what both take (DG "API Requests": field paths, sub-fields with `/`) but not what an
    unknown name gets: refusing it like an unknown field in `conditions` (400 InvalidObject) is UNCONFIRMED; it is
    what makes a typo visible instead of an unsorted or empty answer."""
    try:
        known = {name.lower() for name in dataset.field_names(resource.entity)}
    except KeyError:
        return
    for path in paths:
        name = path.strip().split("/", 1)[0].lower()
        if name and name not in known and name not in ALWAYS_VALID_FIELDS:
            label = resource.label or resource.entity
            raise _bad_param(param, f"Unknown field '{path.strip()}' for {label}.")


def _bad_param(param: str, message: str) -> ApiRefusal:
    # The code of a malformed-conditions error is UNCONFIRMED; it follows the documented pageSize 400 body.
    error = field_error("InvalidCondition" if "ondition" in param else "InvalidField", message, param, param)
    return ApiRefusal(400, {"code": "InvalidObject", "message": f"{param} object is invalid", "errors": [error]})


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int | None) -> int:
    shown = {"pagesize": "pageSize", "pageid": "pageId"}.get(name, name)
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = low - 1
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        error = field_error("OutOfRange", f"The field {shown} must be {bound}.", shown, shown)
        raise ApiRefusal(400, {"code": "InvalidObject", "message": f"{shown} object is invalid", "errors": [error]})
    return value


async def _body(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        error = field_error("InvalidObject", f"The request body is not valid JSON: {exc}", "", "")
        raise ApiRefusal(400, {"code": "InvalidObject", "message": "object is invalid", "errors": [error]}) from exc


def _object(body: Any, resource: Resource) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        label = resource.label or resource.entity
        raise invalid(label, [field_error("InvalidObject", "The request body must be a JSON object.", label, "")])
    return body


def _method_not_allowed(method: str) -> ApiRefusal:
    return ApiRefusal(405, {"code": "MethodNotAllowed", "message": f"{method} is not allowed here", "errors": None})


def _belongs(resource: Resource, record: Mapping[str, Any], parent_id: int | None) -> bool:
    if parent_id is None or resource.parent_field is None:
        return True
    value = record.get(resource.parent_field)
    return (value.get("id") if isinstance(value, Mapping) else value) == parent_id


def _fields(record: dict[str, Any], request: Request, dataset: Dataset, resource: Resource) -> dict[str, Any]:
    fields = next((v for k, v in request.query_params.items() if k.lower() == "fields"), None)
    if fields:
        _check_named_fields(dataset, resource, "fields", fields.split(","))
    return project_fields(record, fields) if fields else record


def _islice(ids: Iterator[int], start: int, size: int) -> list[int]:
    out: list[int] = []
    for index, record_id in enumerate(ids):
        if index >= start + size:
            break
        if index >= start:
            out.append(record_id)
    return out


def _url_with(request: Request, **changes: int) -> str:
    params = dict(request.query_params)
    lowered = {k.lower(): k for k in params}
    for key, value in changes.items():
        params.pop(lowered.get(key.lower(), key), None)
        params[key] = str(value)
    return f"{str(request.url).split('?', 1)[0]}?{urlencode(params)}"


def _navigable_links(request: Request, page: int, size: int, total: int | None, got: int) -> str:
    """The `Link` header of a navigable page, as ConnectWise lays it out: `first` and `prev` from page 2 on, `next`
    while there is one, `last` whenever the total is known (DG "Pagination"). Each URL carries the request's
    parameters with `pageSize` and then `page` last (`…&pageSize=50&page=2`, as in the DG example; clients such as
    pyconnectwise read `page=(\\d+)>; rel=`). UNCONFIRMED: `last` on a result that fits one page."""
    last = max(1, -(-total // size)) if total is not None else None

    def url(number: int) -> str:
        return _url_with(request, pageSize=size, page=number)

    links = []
    if page > 1:
        links.append(f'<{url(1)}>; rel="first"')
        links.append(f'<{url(page - 1)}>; rel="prev"')
    has_next = page < last if last is not None else got == size
    if has_next:
        links.append(f'<{url(page + 1)}>; rel="next"')
    if last is not None:
        links.append(f'<{url(last)}>; rel="last"')
    return ", ".join(links)
