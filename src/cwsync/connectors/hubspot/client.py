"""The HubSpot CRM client: thin resource calls over the shared `HttpApi`.

Everything generic (concurrency cap, retries, error classes) lives in `cwsync.connectors.http`. This module adds
what is HubSpot's own (notes Part A): bearer auth, header-driven pacing (`ratelimit`), `after` paging, search
with its 10,000-result cap, 100-input batches whose partial failures are mapped back to the inputs, batch creates
that are never blindly re-sent, properties, associations v4, pipelines and owners.

Paths come from `HubSpotSettings.paths`, so `api_version="2026-03"` switches every call to the date-based API.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from types import MappingProxyType
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from cwsync.connectors.http import (
    AmbiguousWriteError,
    ConfigurationError,
    ConflictError,
    CwsyncApiError,
    HttpApi,
    NotFoundError,
    PaginationLoopError,
    Paginator,
    RateLimitedError,
    RecordError,
    RequestLimits,
    RetriableError,
    RetryPolicy,
    ServerError,
    Sleep,
    TransportError,
    ValidationError,
    compute_delay,
    json_of,
    redact_url,
)
from cwsync.connectors.http.clients import new_client
from cwsync.connectors.http.lifecycle import OwnsHttp
from cwsync.connectors.hubspot.errors import (
    CORRELATION_HEADER,
    AmbiguousBatchWriteError,
    HubSpotPermissionDeniedError,
    error_from_response,
    error_from_standard_error,
    unattributed_error,
)
from cwsync.connectors.hubspot.ratelimit import Clock, HubSpotPacer, Kind
from cwsync.connectors.hubspot.settings import HubSpotSettings

__all__ = [
    "BATCH_LIMIT",
    "PROPERTY_FIELD_TYPES",
    "SEARCH_MAX_FILTERS",
    "SEARCH_MAX_FILTERS_PER_GROUP",
    "SEARCH_MAX_FILTER_GROUPS",
    "SEARCH_RESULT_CAP",
    "BatchError",
    "BatchResult",
    "HubSpotClient",
    "association_spec",
    "last_modified_property",
    "property_body",
]

Record = dict[str, Any]

BATCH_LIMIT = 100
"""Inputs per batch request (notes A3)."""
LIST_PAGE_MAX = 100
SEARCH_PAGE_MAX = 200
SEARCH_RESULT_CAP = 10_000
"""Search refuses to page past this many results of one query (notes A4)."""
SEARCH_MAX_FILTER_GROUPS = 5
SEARCH_MAX_FILTERS_PER_GROUP = 6
SEARCH_MAX_FILTERS = 18
"""The sources disagree on filter limits (5x6/18, 5x10/25, "up to 6 groups"); the strictest set is used."""

PROPERTY_FIELD_TYPES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "bool": frozenset({"booleancheckbox", "calculation_equation"}),
        "enumeration": frozenset({"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"}),
        "date": frozenset({"date"}),
        "datetime": frozenset({"date"}),
        "string": frozenset({"text", "textarea", "html", "phonenumber", "file", "calculation_equation"}),
        "number": frozenset({"number", "calculation_equation"}),
        "phone_number": frozenset({"phonenumber"}),
    }
)
"""Valid property `type` → `fieldType` pairs (notes A8)."""

_OBJECT_TYPE = re.compile(r"[a-z][a-z0-9_]*|\d+-\d+|p\d+_[a-z0-9_]+")
_PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]*")
_BY_OBJECT_ID = ({"propertyName": "hs_object_id", "direction": "ASCENDING"},)


def last_modified_property(object_type: str) -> str:
    """The property holding a record's last change: `lastmodifieddate` for contacts, else `hs_lastmodifieddate`."""
    return "lastmodifieddate" if object_type in ("contacts", "0-1") else "hs_lastmodifieddate"


def association_spec(to_id: str | int, type_id: int, *, category: str = "HUBSPOT_DEFINED") -> Record:
    """One entry of a create body's `associations`: link the new record to `to_id` with `type_id`."""
    return {"to": {"id": str(to_id)}, "types": [{"associationCategory": category, "associationTypeId": type_id}]}


# -- batch results -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchError:
    """One input that failed: its position in the caller's `inputs`, the input itself, and why."""

    index: int
    item: Mapping[str, Any]
    error: CwsyncApiError


@dataclass(slots=True)
class BatchResult:
    """What a batch write did: every record returned, the failed inputs, and which input produced which record.

    Every input ends up in `by_index` (matched to its record), in `errors`, or (rarely: a success the server
    did not let us attribute) in neither.
    """

    results: list[Record] = field(default_factory=list)
    errors: list[BatchError] = field(default_factory=list)
    by_index: dict[int, Record] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no input failed."""
        return not self.errors

    def error_for(self, index: int) -> CwsyncApiError | None:
        """The error of the input at `index`, if it failed."""
        if not self.errors:  # asked for every input of a batch: most batches fail none
            return None
        return next((failure.error for failure in self.errors if failure.index == index), None)


@dataclass(frozen=True, slots=True)
class _Item:
    """One batch input as sent, with the keys that identify it in results and errors."""

    index: int
    body: Record
    keys: tuple[str, ...] = ()


@dataclass(slots=True)
class _Outcome:
    """What one chunk did, keyed by input position."""

    results: list[Record] = field(default_factory=list)
    matched: dict[int, Record] = field(default_factory=dict)
    errors: dict[int, CwsyncApiError] = field(default_factory=dict)
    abort: CwsyncApiError | None = None

    def merge(self, other: _Outcome) -> _Outcome:
        self.results += other.results
        self.matched |= other.matched
        self.errors |= other.errors
        self.abort = self.abort or other.abort
        return self


@dataclass(frozen=True, slots=True)
class _BatchOp:
    """How to send one kind of batch and how to recognise its results."""

    name: str
    path: str
    result_keys: Callable[[Record], list[str]]
    idempotent: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _SearchPass:
    """The state of one search query while its pages are read."""

    read: int = 0
    total: int | None = None
    last: Record | None = None
    hit_cap: bool = False


_URLS = 256
"""How many request paths a `HubSpotClient` keeps parsed."""


class HubSpotClient(OwnsHttp):
    """An async client for one HubSpot account; use it as `async with HubSpotClient(...) as hs:`.

    Args:
        settings: where and with which token to connect.
        http: the I/O seam. None creates (and later closes) a client of our own; tests pass one built on
            `httpx.MockTransport` or `httpx.ASGITransport`.
        retry: the retry policy (default `RetryPolicy()`).
        sleep: how to wait (between attempts and for pacing); tests pass a recorder.
        clock: the monotonic clock pacing reads; tests pass a fake one that their sleep advances.
    """

    def __init__(
        self,
        settings: HubSpotSettings,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self.paths = settings.paths
        self._owns_http = http is None
        self._http = http if http is not None else new_client(timeout=settings.timeout)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._pacer = HubSpotPacer(
            requests_per_10s=settings.requests_per_10s,
            search_per_second=settings.search_per_second,
            clock=clock,
            sleep=sleep,
        )
        self._apis: dict[Kind, HttpApi] = {"general": self._api_for("general"), "search": self._api_for("search")}
        self._urls: dict[str, httpx.URL] = {}
        self._log = structlog.get_logger("cwsync.hubspot").bind(base_url=settings.base_url)
        self.server_time: datetime | None = None
        """HubSpot's clock (the `Date` header) at its latest successful response: the engine's read marks use
        HubSpot's clock, never the local one."""

    def __repr__(self) -> str:
        return f"HubSpotClient(base_url={self.settings.base_url!r}, api_version={self.settings.api_version!r})"

    # -- the request pipeline ---------------------------------------------------------------------------------

    def _api_for(self, kind: Kind) -> HttpApi:
        """One executor per limit: its retries wait for the pacer too, and its errors feed the pacer."""
        settings = self.settings

        async def take_turn() -> Callable[[], None]:  # every attempt, retries too, once it holds a concurrency slot
            return await self._pacer.turn(kind)  # HttpApi calls what this returns when the answer arrives

        def errors(response: httpx.Response) -> CwsyncApiError:
            error = error_from_response(response)
            self._pacer.observe(kind, response.headers)
            if isinstance(error, RateLimitedError):
                self._pacer.rate_limited(kind, error.retry_after, getattr(error, "policy_name", None))
            return error

        concurrency = (
            settings.max_concurrency if kind == "general" else min(settings.max_concurrency, settings.search_per_second)
        )
        return HttpApi(
            self._http,
            error_from_response=errors,
            retry=self._retry,
            limits=RequestLimits(max_concurrency=concurrency, requests_per_minute=None),
            timeout=settings.timeout,
            sleep=self._sleep,
            name=f"hubspot-{kind}",
            before_send=take_turn,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        kind: Kind = "general",
        retry_unsafe: bool = False,
    ) -> httpx.Response:
        """Send one API request to `path` (relative to `base_url`), paced, and return the successful response.

        Raises:
            CwsyncApiError: the subclass for what went wrong (`cwsync.connectors.hubspot.errors`).
        """
        response = await self._apis[kind].send(
            method, self._url(path), params=params, json=json, headers=self._headers(), retry_unsafe=retry_unsafe
        )
        self._pacer.observe(kind, response.headers)
        dates = [d for d in map(_server_date, response.headers.get_list("date")) if d is not None]
        self.server_time = dates[-1] if dates else self.server_time  # one `Date` (a proxy may add a second: the last)
        return response

    def _url(self, path: str) -> httpx.URL:
        """The URL of `path` (relative to `base_url`), parsed once per path: httpx parses a text URL again for every
        request (its host, its escaping), and a first sync sends hundreds of batches to the same few paths. Up to
        `_URLS` paths are kept (the paths of single records, with their ids, would otherwise pile up)."""
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(f"{self.settings.base_url}/{path.lstrip('/')}")
            if len(self._urls) < _URLS:
                self._urls[path] = url
        return url

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}", "Accept": "application/json"}

    # -- records ----------------------------------------------------------------------------------------------

    async def get(
        self,
        object_type: str,
        object_id: str | int,
        *,
        properties: Sequence[str] | None = None,
        id_property: str | None = None,
        associations: Sequence[str] | None = None,
    ) -> Record:
        """One record by id (or by the unique `id_property`'s value).

        Raises:
            NotFoundError: no such record.
        """
        params = _csv_params(properties=properties, associations=associations)
        if id_property:
            params["idProperty"] = id_property
        path = f"{self.paths.objects(_type(object_type))}/{_segment(object_id)}"
        return _object(await self.request("GET", path, params=params))

    async def stream(
        self,
        object_type: str,
        *,
        properties: Sequence[str] | None = None,
        page_size: int = LIST_PAGE_MAX,
        archived: bool = False,
    ) -> AsyncIterator[list[Record]]:
        """Every record of a type, one page at a time (a page is fetched only when asked for).

        Raises:
            PaginationLoopError: the server handed out an `after` cursor it had already given.
        """
        _check_size(page_size, LIST_PAGE_MAX)
        params = {**_csv_params(properties=properties), "limit": page_size, "archived": str(archived).lower()}
        async for page in self._pages(self.paths.objects(_type(object_type)), params, what=f"{object_type} list"):
            yield page

    async def _pages(self, path: str, params: Mapping[str, Any], *, what: str) -> AsyncIterator[list[Record]]:
        """GET pages following `paging.next.after` until it is absent."""
        paginator: Paginator[str] = Paginator("", what=what)
        while paginator.has_more:
            cursor = {"after": paginator.current} if paginator.current else {}
            body = _object(await self.request("GET", path, params={**params, **cursor}))
            rows = _results(body)
            paginator.advance(_next_after(body))
            if rows:
                yield rows

    async def create(
        self,
        object_type: str,
        properties: Mapping[str, Any],
        *,
        associations: Sequence[Mapping[str, Any]] | None = None,
        match_property: str | None = None,
    ) -> Record:
        """Create one record (201) and return it; `associations` as built by `association_spec`.

        A create is not idempotent: when its response is lost (5xx, dropped connection) it is not re-sent
        blindly. With `match_property` (a unique-value property such as `email`) the record is looked up
        first and only created again if it is not there.

        Raises:
            AmbiguousWriteError: the outcome is unknown and could not be resolved.
        """
        body: Record = {"properties": dict(properties)}
        if associations:
            body["associations"] = [dict(spec) for spec in associations]
        item = _Item(0, body, _match_keys(body, match_property))
        path = self.paths.objects(_type(object_type))

        async def send(items: list[_Item]) -> _Outcome:
            record = _object(await self.request("POST", path, json=items[0].body))
            return _Outcome(results=[record], matched={0: record})

        outcome = await self._create_resolving(object_type, [item], send, match_property)
        if 0 in outcome.errors:
            raise outcome.errors[0]
        return outcome.matched[0]

    async def update(
        self, object_type: str, object_id: str | int, properties: Mapping[str, Any], *, id_property: str | None = None
    ) -> Record:
        """Change some properties of one record (`""` clears a value) and return it."""
        params = {"idProperty": id_property} if id_property else None
        path = f"{self.paths.objects(_type(object_type))}/{_segment(object_id)}"
        return _object(await self.request("PATCH", path, params=params, json={"properties": dict(properties)}))

    async def archive(self, object_type: str, object_id: str | int) -> None:
        """Archive (soft-delete) one record. A 404 on a repeated attempt counts as done.

        Raises:
            NotFoundError: there was no such record to begin with.
        """
        try:
            await self.request("DELETE", f"{self.paths.objects(_type(object_type))}/{_segment(object_id)}")
        except NotFoundError as exc:
            if exc.attempts > 1:
                self._log.info("hs.archive_already_done", object_type=object_type, object_id=str(object_id))
                return
            raise

    # -- search -----------------------------------------------------------------------------------------------

    async def search(
        self,
        object_type: str,
        *,
        filter_groups: Sequence[Mapping[str, Any]],
        sorts: Sequence[Any] | None = None,
        properties: Sequence[str] | None = None,
        page_size: int = SEARCH_PAGE_MAX,
    ) -> AsyncIterator[list[Record]]:
        """Every record matching `filter_groups` (HubSpot form: `[{"filters": [...]}]`), one page at a time.

        Search stops at 10,000 results per query. Without `sorts` pages are read in `hs_object_id` order and,
        at the cap, the query is re-issued with `hs_object_id GT <last id>` added to every group. With `sorts`,
        the caller's order is kept unless the first page reports more than 10,000 matches: then the search
        switches to the `hs_object_id` order (nothing has been yielded yet, so every record still arrives once).

        Raises:
            ValueError: the filters break the search limits, or leave no room for the extra filter past 10,000.
        """
        _check_size(page_size, SEARCH_PAGE_MAX)
        groups = _filter_groups(filter_groups)
        base: Record = {"limit": page_size, **({"properties": list(properties)} if properties is not None else {})}
        path = self.paths.objects(_type(object_type))
        if sorts:
            state = _SearchPass()
            pages = self._search_pass(path, {**base, "filterGroups": groups, "sorts": list(sorts)}, state, abort=True)
            async for page in pages:
                yield page
            if state.total is None or state.total <= SEARCH_RESULT_CAP:
                return
            self._log.info("hs.search_by_object_id", object_type=object_type, total=state.total)
        async for page in self._search_by_id(path, base, groups):
            yield page

    async def _search_by_id(self, path: str, base: Record, groups: list[Record]) -> AsyncIterator[list[Record]]:
        """Keyset paging on `hs_object_id`: follow `after` up to the cap, then restart after the last id."""
        last_id: str | None = None
        while True:
            body = {**base, "filterGroups": _after_id(groups, last_id), "sorts": list(_BY_OBJECT_ID)}
            state = _SearchPass()
            async for page in self._search_pass(path, body, state, room_for=groups):
                yield page
            if not state.hit_cap or state.last is None:
                return
            last_id = str(state.last.get("id"))
            self._log.info("hs.search_restart", after_id=last_id, read=state.read)

    async def _search_pass(
        self, path: str, body: Record, state: _SearchPass, *, abort: bool = False, room_for: list[Record] | None = None
    ) -> AsyncIterator[list[Record]]:
        """The pages of one query. Stops early (`state.hit_cap`) where the next page would pass the cap.

        `abort`: yield nothing when the first page reports more than the cap (the caller re-plans).
        `room_for`: past the cap, check that these groups can take one more filter before yielding anything.
        """
        paginator: Paginator[str] = Paginator("", what="search results")
        size = int(body["limit"])
        while paginator.has_more:
            try:
                page = await self._search_page(path, body, paginator.current)
            except ValidationError:
                if not paginator.current or room_for is None:
                    raise
                state.hit_cap = True  # the server refused to page on before our count said so: restart
                return
            if state.total is None:
                state.total = _int(page.get("total"))
                if (state.total or 0) > SEARCH_RESULT_CAP:
                    if abort:
                        return
                    if room_for is not None:
                        _check_room(room_for)
            rows = _results(page)
            state.read += len(rows)
            state.last = rows[-1] if rows else state.last
            after = _next_after(page)
            if after is not None and room_for is not None and state.read + size > SEARCH_RESULT_CAP:
                state.hit_cap = True
                paginator.stop()
            else:
                paginator.advance(after)
            if rows:
                yield rows

    async def _search_page(self, path: str, body: Record, after: str) -> Record:
        payload = {**body, "after": after} if after else body
        response = await self.request("POST", f"{path}/search", json=payload, kind="search", retry_unsafe=True)
        return _object(response)

    async def search_modified_since(
        self, object_type: str, since: datetime, *, properties: Sequence[str] | None = None
    ) -> AsyncIterator[list[Record]]:
        """Records changed at or after `since` (timezone-aware), oldest change first: the incremental read.

        Filters `lastmodifieddate` (contacts) or `hs_lastmodifieddate` (others) `GTE since`, sorted ascending.
        At the 10,000 cap the query restarts from the last change seen (records at that exact instant are not
        repeated); if 10,000 records share one instant, that instant is read in `hs_object_id` order.
        Search is eventually consistent: callers should overlap `since` by a few minutes (notes A4).
        """
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware (e.g. datetime.now(UTC))")
        stamp = last_modified_property(object_type)
        wanted = list(dict.fromkeys([*properties, stamp])) if properties is not None else None
        path = self.paths.objects(_type(object_type))
        watermark, inclusive, seen = _epoch_ms(since), True, set[str]()
        while True:
            body: Record = {
                "filterGroups": [{"filters": [_filter(stamp, "GTE" if inclusive else "GT", watermark)]}],
                "sorts": [{"propertyName": stamp, "direction": "ASCENDING"}],
                "limit": SEARCH_PAGE_MAX,
                **({"properties": wanted} if wanted is not None else {}),
            }
            state, edge = _SearchPass(), _Edge(watermark, set(seen))
            async for page in self._search_pass(path, body, state, room_for=[]):
                if fresh := edge.admit(page, stamp):
                    yield fresh
            if not state.hit_cap:
                return
            if edge.stamp != watermark:
                watermark, inclusive, seen = edge.stamp, True, edge.ids
                continue
            if not inclusive:
                raise _stalled(object_type, watermark)
            self._log.info("hs.search_same_instant", object_type=object_type, instant_ms=watermark)
            instant = [{"filters": [_filter(stamp, "EQ", watermark)]}]
            async for page in self.search(object_type, filter_groups=instant, properties=wanted):
                if fresh := [row for row in page if str(row.get("id")) not in edge.ids]:
                    yield fresh
            inclusive, seen = False, set()

    # -- batches ----------------------------------------------------------------------------------------------

    async def batch_read(
        self,
        object_type: str,
        ids: Sequence[str | int],
        *,
        properties: Sequence[str] | None = None,
        id_property: str | None = None,
    ) -> list[Record]:
        """The records with these ids (or `id_property` values), 100 per request; unknown ids are left out."""
        extra: Record = {"properties": list(properties or [])}
        if id_property:
            extra["idProperty"] = id_property
        op = _BatchOp(
            "read", f"{self.paths.objects(_type(object_type))}/batch/read", _record_keys(id_property), True, extra
        )
        records: list[Record] = []
        for chunk in _chunks(list(dict.fromkeys(str(i) for i in ids))):
            items = [_Item(n, {"id": value}, (_norm(value),)) for n, value in enumerate(chunk)]
            try:
                outcome = await self._send_chunk(op, items, params={"archived": "false"})
            except NotFoundError:
                continue  # every id of the chunk unknown: some answers are a whole-request 404 rather than a 207

            records += outcome.results
            if outcome.errors:
                self._log.debug("hs.batch_read_missing", object_type=object_type, missing=len(outcome.errors))
        return records

    async def batch_create(
        self, object_type: str, inputs: Sequence[Mapping[str, Any]], *, match_property: str | None = None
    ) -> BatchResult:
        """Create records (`inputs` = `[{"properties": {...}, "associations": [...]?}]`), 100 per request.

        Each input gets an `objectWriteTraceId` (unless it has one), so HubSpot reports failures per input
        (207) and each created record is matched to its input (`BatchResult.by_index`). A lost response is
        resolved with `match_property` (see `create`); without it the batch stops there.

        Raises:
            AmbiguousBatchWriteError: a response was lost and there is no `match_property`; it names the inputs
                whose outcome is unknown and carries the result of the chunks before.
            ValueError: an input lacks a value for `match_property`.
        """
        trace = uuid.uuid4().hex[:12]
        items = [_create_item(n, entry, trace, match_property) for n, entry in enumerate(inputs)]
        path = f"{self.paths.objects(_type(object_type))}/batch/create"
        op = _BatchOp("create", path, _create_keys(match_property), idempotent=False)

        async def run(chunk: list[_Item]) -> _Outcome:
            return await self._create_resolving(
                object_type, chunk, lambda part: self._send_chunk(op, part), match_property
            )

        # Without a match property a lost answer cannot be resolved, so nothing more is sent while one is in doubt.
        return await self._run_batch(op, items, inputs, run, serial=match_property is None)

    async def batch_update(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Update records (`inputs` = `[{"id": ..., "idProperty"?: ..., "properties": {...}}]`), 100 per request."""
        items = [_Item(n, dict(entry), _update_keys(entry)) for n, entry in enumerate(inputs)]
        op = _BatchOp("update", f"{self.paths.objects(_type(object_type))}/batch/update", _updated_keys(inputs))
        return await self._run_batch(op, items, inputs)

    async def batch_archive(self, object_type: str, ids: Sequence[str | int]) -> BatchResult:
        """Archive records by id, 100 per request (204)."""
        items = [_Item(n, {"id": str(value)}, (str(value),)) for n, value in enumerate(ids)]
        op = _BatchOp("archive", f"{self.paths.objects(_type(object_type))}/batch/archive", _record_keys(None))
        return await self._run_batch(op, items, [{"id": str(value)} for value in ids])

    async def _run_batch(
        self,
        op: _BatchOp,
        items: list[_Item],
        inputs: Sequence[Mapping[str, Any]],
        run: Callable[[list[_Item]], Awaitable[_Outcome]] | None = None,
        *,
        serial: bool = False,
    ) -> BatchResult:
        """Send `items` in chunks, up to `max_concurrency` chunks at a time (one with `serial`), into one result.

        Chunks go out in windows so the account's rate limit (not the round trip) sets the pace; a retriable
        failure stops the chunks after its window, and an ambiguous write reports the unsent ones.
        """
        result, chunks = BatchResult(), _chunks(items)
        width = 1 if serial else max(1, self.settings.max_concurrency)
        for start in range(0, len(chunks), width):
            window = chunks[start : start + width]
            outcomes = await asyncio.gather(
                *(self._run_chunk(op, chunk, run, budget=[2 * len(chunk).bit_length() + 2]) for chunk in window),
                return_exceptions=True,
            )
            ambiguous = next((o for o in outcomes if isinstance(o, AmbiguousBatchWriteError)), None)
            failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
            for outcome in outcomes:
                if not isinstance(outcome, BaseException):
                    _record(result, outcome, inputs)
            if ambiguous is not None:
                unsent = [item.index for later in chunks[start + width :] for item in later]
                raise ambiguous.with_details(completed=result, unsent=unsent) from ambiguous.__cause__
            if failure is not None:
                raise failure
            abort = next((o.abort for o in outcomes if isinstance(o, _Outcome) and o.abort is not None), None)
            if abort is not None:
                rest = [item for later in chunks[start + width :] for item in later]
                _record(result, _Outcome(errors={item.index: abort for item in rest}), inputs)
                break
        if result.errors:
            self._log.warning("hs.batch_partial", op=op.name, failed=len(result.errors), ok=len(result.by_index))
        return result

    async def _run_chunk(
        self,
        op: _BatchOp,
        items: list[_Item],
        run: Callable[[list[_Item]], Awaitable[_Outcome]] | None,
        *,
        budget: list[int],
    ) -> _Outcome:
        """One chunk. A whole-chunk 400/409 (HubSpot rejects the batch for one bad input) is split in halves,
        within a request budget, to find the input at fault; other record-level failures fail the chunk's inputs.
        """
        try:
            return await (run(items) if run is not None else self._send_chunk(op, items))
        except AmbiguousWriteError:
            raise
        except (ValidationError, ConflictError) as exc:
            if len(items) == 1 or budget[0] < 2:
                return _Outcome(errors={item.index: exc for item in items})
            budget[0] -= 2
            self._log.info("hs.batch_split", op=op.name, size=len(items), code=exc.code)
            half = len(items) // 2
            first = await self._run_chunk(op, items[:half], run, budget=budget)
            return first.merge(await self._run_chunk(op, items[half:], run, budget=budget))
        except RecordError as exc:
            return _Outcome(errors={item.index: exc for item in items})
        except RetriableError as exc:
            return _Outcome(errors={item.index: exc for item in items}, abort=exc)

    async def _send_chunk(self, op: _BatchOp, items: list[_Item], params: Mapping[str, Any] | None = None) -> _Outcome:
        body = {**op.extra, "inputs": [item.body for item in items]}
        response = await self.request("POST", op.path, params=params, json=body, retry_unsafe=op.idempotent)
        return _outcome(op, items, response)

    async def _create_resolving(
        self,
        object_type: str,
        items: list[_Item],
        send: Callable[[list[_Item]], Awaitable[_Outcome]],
        match_property: str | None,
    ) -> _Outcome:
        """Create `items`; after a lost response look them up by `match_property` and re-send only the missing."""
        found: dict[int, Record] = {}
        pending = items
        for attempt in count(1):
            try:
                outcome = await send(pending)
            except (RecordError, RetriableError) as exc:
                if not _is_lost(exc):
                    if not found:
                        raise
                    # Some inputs were found created after an earlier loss: keep them, fail only the rest.
                    return _gave_up(found, pending, exc)
                pending = await self._after_lost_create(object_type, pending, found, match_property, exc)
                if not pending:
                    return _Outcome(matched=found)
                delay = compute_delay(self._retry, attempt, exc, random.random())
                if delay is None:
                    return _gave_up(found, pending, exc)
                await self._sleep(delay)
            else:
                outcome.matched |= found
                return outcome
        raise AssertionError("unreachable")  # pragma: no cover

    async def _after_lost_create(
        self,
        object_type: str,
        pending: list[_Item],
        found: dict[int, Record],
        match_property: str | None,
        cause: CwsyncApiError,
    ) -> list[_Item]:
        """Look up the inputs of a create whose response was lost; returns those still missing."""
        indices = [item.index for item in pending]
        self._log.warning("hs.create_ambiguous", object_type=object_type, inputs=len(pending), status=cause.status)
        if match_property is None:
            raise _ambiguous(object_type, indices, cause, "there is no match_property to look the records up by")
        by_value = {_norm(item.body["properties"][match_property]): item for item in pending}
        try:
            records = await self.batch_read(
                object_type, list(by_value), properties=[match_property], id_property=match_property
            )
        except (RetriableError, RecordError) as exc:
            raise _ambiguous(object_type, indices, cause, f"looking them up by {match_property} failed too") from exc
        for record in records:
            item = by_value.get(_norm(_props(record).get(match_property)))
            if item is not None:
                found[item.index] = record
        missing = [item for item in pending if item.index not in found]
        self._log.info(
            "hs.create_resolved", object_type=object_type, found=len(pending) - len(missing), missing=len(missing)
        )
        return missing

    # -- properties -------------------------------------------------------------------------------------------

    async def properties(self, object_type: str, *, archived: bool = False) -> list[Record]:
        """Every property definition of an object type."""
        params = {"archived": str(archived).lower()}
        return _results(_object(await self.request("GET", self.paths.properties(_type(object_type)), params=params)))

    async def create_property(
        self,
        object_type: str,
        *,
        name: str,
        label: str,
        type: str,  # noqa: A002 - HubSpot's own field name, keyword-only
        field_type: str,
        group_name: str,
        options: Sequence[Mapping[str, Any]] | None = None,
        description: str | None = None,
        has_unique_value: bool = False,
    ) -> Record:
        """Create a custom property (201); `type`/`field_type` must be a pair HubSpot accepts.

        Raises:
            ValueError: a bad name, an invalid `type`/`field_type` pair, or an enumeration without options.
        """
        body = property_body(
            name=name, label=label, data_type=type, field_type=field_type, group_name=group_name, options=options
        )
        if description is not None:
            body["description"] = description
        if has_unique_value:
            body["hasUniqueValue"] = True
        return _object(await self.request("POST", self.paths.properties(_type(object_type)), json=body))

    async def update_property(self, object_type: str, name: str, changes: Mapping[str, Any]) -> Record:
        """PATCH a custom property's definition (`label`, `type`, `fieldType`, `options`, ...; 200)."""
        path = f"{self.paths.properties(_type(object_type))}/{name}"
        return _object(await self.request("PATCH", path, json=dict(changes)))

    async def property_groups(self, object_type: str) -> list[Record]:
        """Every property group of an object type."""
        return _results(_object(await self.request("GET", f"{self.paths.properties(_type(object_type))}/groups")))

    async def create_property_group(self, object_type: str, *, name: str, label: str) -> Record:
        """Create a property group (201)."""
        if not _PROPERTY_NAME.fullmatch(name):
            raise ValueError(f"a property group name is lowercase letters, digits and _, not {name!r}")
        body: Record = {"name": name, "label": label}
        return _object(await self.request("POST", f"{self.paths.properties(_type(object_type))}/groups", json=body))

    # -- associations v4 --------------------------------------------------------------------------------------

    async def batch_associate_default(
        self, from_type: str, to_type: str, pairs: Sequence[tuple[str | int, str | int]]
    ) -> BatchResult:
        """Link many (from id, to id) pairs with the default association, 100 per request."""
        items = [
            _Item(n, {"from": {"id": str(a)}, "to": {"id": str(b)}}, (f"{a}>{b}",)) for n, (a, b) in enumerate(pairs)
        ]
        path = f"{self.paths.associations(_type(from_type), _type(to_type))}/batch/associate/default"
        op = _BatchOp("associate", path, _pair_keys)
        return await self._run_batch(op, items, [item.body for item in items])

    async def batch_read_associations(
        self, from_type: str, to_type: str, ids: Sequence[str | int]
    ) -> dict[str, list[str]]:
        """The ids each record is associated with (every requested id is a key; `[]` when it has none)."""
        path = f"{self.paths.associations(_type(from_type), _type(to_type))}/batch/read"
        linked: dict[str, list[str]] = {str(value): [] for value in ids}
        for chunk in _chunks(list(linked)):
            await self._read_associations(path, chunk, linked)
        return {key: list(dict.fromkeys(values)) for key, values in linked.items()}

    async def _read_associations(self, path: str, chunk: list[str], linked: dict[str, list[str]]) -> None:
        cursors: dict[str, str] = dict.fromkeys(chunk, "")
        pagers: dict[str, Paginator[str]] = {key: Paginator("", what=f"associations of {key}") for key in chunk}
        while cursors:
            inputs = [{"id": key, **({"after": after} if after else {})} for key, after in cursors.items()]
            body = _object_or_empty(await self.request("POST", path, json={"inputs": inputs}, retry_unsafe=True))
            cursors = {}
            for entry in _results(body):
                source = str((entry.get("from") or {}).get("id"))
                linked.setdefault(source, []).extend(str(to.get("toObjectId")) for to in entry.get("to") or [])
                after = _next_after(entry)
                if after is not None and source in pagers:
                    pagers[source].advance(after)
                    cursors[source] = after

    # -- pipelines, owners, access ----------------------------------------------------------------------------

    async def pipelines(self, object_type: str = "deals") -> list[Record]:
        """Every pipeline (with its stages) of an object type."""
        return _results(_object(await self.request("GET", self.paths.pipelines(_type(object_type)))))

    async def stream_owners(self, *, archived: bool = False) -> AsyncIterator[list[Record]]:
        """Every owner (user who can own records), one page at a time."""
        params = {"limit": LIST_PAGE_MAX, "archived": str(archived).lower()}
        async for page in self._pages(self.paths.owners(), params, what="owners"):
            yield page

    async def owners(self, *, archived: bool = False) -> list[Record]:
        """Every owner, as one list."""
        return [owner async for page in self.stream_owners(archived=archived) for owner in page]

    async def check_access(self, object_types: Sequence[str] = ("companies", "contacts", "deals")) -> None:
        """Read one record of each type: proves the token works and has the read scopes.

        Raises:
            AuthenticationError: the token was refused.
            HubSpotPermissionDeniedError: some read scopes are missing (all of them named at once).
        """
        denied: list[HubSpotPermissionDeniedError] = []
        for object_type in object_types:
            try:
                await self.request("GET", self.paths.objects(_type(object_type)), params={"limit": 1})
            except HubSpotPermissionDeniedError as exc:
                denied.append(exc)
        if not denied:
            return
        scopes = list(dict.fromkeys(scope for exc in denied for scope in exc.missing_scopes))
        first = denied[0]
        message = "the token cannot read " + ", ".join(object_types)
        raise HubSpotPermissionDeniedError(
            message + (f" (missing scopes: {', '.join(scopes)})" if scopes else ""),
            missing_scopes=scopes,
            status=first.status,
            code=first.code,
            request_id=first.request_id,
            hint=first.hint,
        )


# -- helpers: requests ---------------------------------------------------------------------------------------------


def property_body(
    *,
    name: str,
    label: str,
    data_type: str,
    field_type: str,
    group_name: str,
    options: Sequence[Mapping[str, Any]] | None = None,
) -> Record:
    """A `PropertyCreate` body, checked against the `type`/`fieldType` table before anything is sent.

    Raises:
        ValueError: a bad name, an invalid pair, or an enumeration without options.
    """
    if not _PROPERTY_NAME.fullmatch(name):
        raise ValueError(f"a property name is lowercase letters, digits and _ starting with a letter, not {name!r}")
    kind = "datetime" if data_type == "dateTime" else data_type
    allowed = PROPERTY_FIELD_TYPES.get(kind)
    if allowed is None:
        raise ValueError(f"property type {data_type!r} is not one of {', '.join(sorted(PROPERTY_FIELD_TYPES))}")
    if field_type not in allowed:
        raise ValueError(
            f"fieldType {field_type!r} does not go with type {kind!r}; use one of {', '.join(sorted(allowed))}"
        )
    if kind == "enumeration" and not options:
        raise ValueError(f"enumeration property {name!r} needs options ([{{'label': ..., 'value': ...}}])")
    body: Record = {"name": name, "label": label, "type": kind, "fieldType": field_type, "groupName": group_name}
    if options:
        body["options"] = [_option(position, option) for position, option in enumerate(options)]
    return body


def _option(position: int, option: Mapping[str, Any]) -> Record:
    if not option.get("label") or option.get("value") is None:
        raise ValueError(f"option {position} needs a label and a value, got {dict(option)!r}")
    # displayOrder is required by the 2026-03 API and harmless in v3.
    return {"hidden": False, "displayOrder": position, **option}


@functools.lru_cache(maxsize=8)
def _server_date(text: str | None) -> datetime | None:
    """An HTTP `Date` header as an aware datetime (None when absent or unreadable); parsed once per text (it
    changes once a second, and every answer has one)."""
    if not text:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _type(object_type: str) -> str:
    if not _OBJECT_TYPE.fullmatch(object_type):
        raise ValueError(f"object type is a name such as 'contacts' or an id such as '0-1', not {object_type!r}")
    return object_type


def _segment(value: str | int) -> str:
    text = str(value)
    if not text:
        raise ValueError("a record id cannot be empty")
    return quote(text, safe="")


def _csv_params(**lists: Sequence[str] | None) -> dict[str, Any]:
    return {name: ",".join(values) for name, values in lists.items() if values}


def _check_size(size: int, maximum: int) -> None:
    if not 1 <= size <= maximum:
        raise ValueError(f"page_size must be between 1 and {maximum}, got {size}")


def _chunks(items: list[Any]) -> list[list[Any]]:
    return [items[start : start + BATCH_LIMIT] for start in range(0, len(items), BATCH_LIMIT)]


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _filter(prop: str, operator: str, value: int | str) -> Record:
    return {"propertyName": prop, "operator": operator, "value": str(value)}


def _filter_groups(groups: Sequence[Mapping[str, Any]]) -> list[Record]:
    """The caller's groups, checked against the search limits."""
    checked = [{**group, "filters": list(group.get("filters") or [])} for group in groups]
    if len(checked) > SEARCH_MAX_FILTER_GROUPS:
        raise ValueError(f"search takes at most {SEARCH_MAX_FILTER_GROUPS} filter groups, got {len(checked)}")
    if any(len(group["filters"]) > SEARCH_MAX_FILTERS_PER_GROUP for group in checked):
        raise ValueError(f"search takes at most {SEARCH_MAX_FILTERS_PER_GROUP} filters per group")
    if sum(len(group["filters"]) for group in checked) > SEARCH_MAX_FILTERS:
        raise ValueError(f"search takes at most {SEARCH_MAX_FILTERS} filters in total")
    return checked


def _check_room(groups: list[Record]) -> None:
    """Past 10,000 results every group needs one more filter (`hs_object_id GT ...`): is there room?"""
    full = any(len(group["filters"]) >= SEARCH_MAX_FILTERS_PER_GROUP for group in groups)
    total = sum(len(group["filters"]) for group in groups) + max(len(groups), 1)
    if full or total > SEARCH_MAX_FILTERS:
        raise ValueError(
            f"more than {SEARCH_RESULT_CAP} records match, and reading past that needs one more filter per group "
            f"(at most {SEARCH_MAX_FILTERS_PER_GROUP - 1} per group, {SEARCH_MAX_FILTERS} in total): "
            "narrow the search or use fewer filters"
        )


def _after_id(groups: list[Record], last_id: str | None) -> list[Record]:
    if last_id is None:
        return groups
    after = _filter("hs_object_id", "GT", last_id)
    if not groups:
        return [{"filters": [after]}]
    return [{**group, "filters": [*group["filters"], after]} for group in groups]


@dataclass(slots=True)
class _Edge:
    """The newest change instant seen in a modified-since pass, and the ids at that instant (to skip repeats)."""

    stamp: int
    ids: set[str]

    def admit(self, page: list[Record], prop: str) -> list[Record]:
        fresh = []
        for row in page:
            key, moment = str(row.get("id")), _modified_ms(row, prop)
            if moment == self.stamp and key in self.ids:
                continue
            if moment is not None and moment != self.stamp:
                self.stamp, self.ids = moment, set()
            self.ids.add(key)
            fresh.append(row)
        return fresh


def _stalled(object_type: str, watermark: int) -> PaginationLoopError:
    return PaginationLoopError(
        f"searching {object_type} modified after {watermark} ms made no progress past the 10,000-result cap",
        hint="The records carry no readable last-modified value; report it with the request ids in the log.",
    )


def _modified_ms(row: Record, prop: str) -> int | None:
    value = _props(row).get(prop) or row.get("updatedAt")
    if not isinstance(value, str) or not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        return _epoch_ms(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


# -- helpers: batch matching ---------------------------------------------------------------------------------------


def _norm(value: Any) -> str:
    """A key as HubSpot compares it: unique values such as emails match case-insensitively."""
    return str(value).strip().casefold()


def _props(record: Mapping[str, Any]) -> Mapping[str, Any]:
    properties = record.get("properties")
    return properties if type(properties) is dict or isinstance(properties, Mapping) else {}


def _match_keys(body: Mapping[str, Any], match_property: str | None) -> tuple[str, ...]:
    keys = [str(body["objectWriteTraceId"])] if body.get("objectWriteTraceId") else []
    if match_property is not None:
        value = _props(body).get(match_property)
        if value is None or str(value).strip() == "":
            raise ValueError(f"match_property {match_property!r} has no value in input {dict(body)!r}")
        keys.append("m:" + _norm(value))
    return tuple(keys)


def _create_item(position: int, entry: Mapping[str, Any], trace: str, match_property: str | None) -> _Item:
    body = dict(entry)
    body.setdefault("objectWriteTraceId", f"cwsync-{trace}-{position}")
    return _Item(position, body, _match_keys(body, match_property))


def _create_keys(match_property: str | None) -> Callable[[Record], list[str]]:
    def keys(record: Record) -> list[str]:
        found = [str(record["objectWriteTraceId"])] if record.get("objectWriteTraceId") else []
        value = _props(record).get(match_property) if match_property else None
        return found + (["m:" + _norm(value)] if value is not None else [])

    return keys


def _record_keys(id_property: str | None) -> Callable[[Record], list[str]]:
    def keys(record: Record) -> list[str]:
        value = _props(record).get(id_property) if id_property else None
        return [_norm(value)] if value is not None else [_norm(record.get("id"))]

    return keys


def _update_keys(entry: Mapping[str, Any]) -> tuple[str, ...]:
    return (_norm(entry.get("id")),)


def _updated_keys(inputs: Sequence[Mapping[str, Any]]) -> Callable[[Record], list[str]]:
    by_property = {str(entry["idProperty"]) for entry in inputs if entry.get("idProperty")}

    def keys(record: Record) -> list[str]:
        found = [_norm(record.get("id"))]
        return found + [_norm(_props(record)[name]) for name in by_property if _props(record).get(name) is not None]

    return keys


def _pair_keys(record: Record) -> list[str]:
    source, target = (record.get("from") or {}).get("id"), (record.get("to") or {}).get("id")
    return [f"{source}>{target}"]


def _outcome(op: _BatchOp, items: list[_Item], response: httpx.Response) -> _Outcome:
    """Map a batch response's results and per-input errors back to the inputs they concern."""
    body = _object_or_empty(response)
    outcome = _Outcome(results=_results(body))
    by_key = {key: item for item in items for key in item.keys}
    matched, result_keys = outcome.matched, op.result_keys
    for record in outcome.results:
        for key in result_keys(record):  # the first key that names an input (a loop: this runs per record)
            item = by_key.get(key)
            if item is not None:
                if item.index not in matched:
                    matched[item.index] = record
                break
    request_id = response.headers.get(CORRELATION_HEADER)
    where = {"request_id": request_id, "method": "POST", "url": redact_url(response.request.url)}
    stray: list[CwsyncApiError] = []
    for entry in body.get("errors") or []:
        if isinstance(entry, Mapping):
            error = error_from_standard_error(entry, **where)
            named = [by_key[value] for value in _context_values(entry) if value in by_key]
            for item in named:
                outcome.errors[item.index] = error
            if not named:
                stray.append(error)
    _attribute_stray(outcome, items, stray)
    return outcome


def _context_values(entry: Mapping[str, Any]) -> list[str]:
    context = entry.get("context")
    values: Iterable[Any] = []
    if isinstance(context, Mapping):
        values = [v for value in context.values() for v in (value if isinstance(value, list) else [value])]
    found = [str(v) for v in values if isinstance(v, str | int)]
    return [*found, *(_norm(v) for v in found), *("m:" + _norm(v) for v in found)]


def _attribute_stray(outcome: _Outcome, items: list[_Item], stray: list[CwsyncApiError]) -> None:
    """Errors naming no input go to the inputs that got neither a result nor an error."""
    if not stray:
        return
    open_items = [item for item in items if item.index not in outcome.matched and item.index not in outcome.errors]
    error = stray[0] if len(stray) == 1 else unattributed_error(len(stray), stray)
    for item in open_items:
        outcome.errors[item.index] = error


def _record(result: BatchResult, outcome: _Outcome, inputs: Sequence[Mapping[str, Any]]) -> None:
    result.results += outcome.results
    result.by_index |= outcome.matched
    for index in sorted(outcome.errors):
        if index not in outcome.matched:
            result.errors.append(BatchError(index, inputs[index], outcome.errors[index]))


def _is_lost(error: CwsyncApiError) -> bool:
    """A failure after which a POST may or may not have been processed (5xx, or the connection died mid-way)."""
    return isinstance(error, ServerError) or (isinstance(error, TransportError) and error.reached_server)


def _gave_up(found: dict[int, Record], pending: list[_Item], error: CwsyncApiError) -> _Outcome:
    abort = error if isinstance(error, RetriableError) else None
    return _Outcome(matched=dict(found), errors={item.index: error for item in pending}, abort=abort)


def _ambiguous(object_type: str, indices: list[int], cause: CwsyncApiError, why: str) -> AmbiguousBatchWriteError:
    shown = ", ".join(str(index) for index in indices[:20]) + (" ..." if len(indices) > 20 else "")
    return AmbiguousBatchWriteError(
        f"creating {object_type} (inputs {shown}) may or may not have worked, and {why}",
        indices=indices,
        status=cause.status,
        code=cause.code,
        request_id=cause.request_id,
        method="POST",
        url=cause.url,
        hint=(
            f"Check HubSpot for duplicates of these {object_type} before running again; pass match_property "
            "(a unique-value property such as email or cwsync_cw_id) so cwsync can check by itself."
        ),
    )


# -- helpers: responses --------------------------------------------------------------------------------------------


def _object(response: httpx.Response) -> Record:
    try:
        body = json_of(response)
    except ValueError:
        raise _unexpected(response, "a body that is not JSON") from None
    if not isinstance(body, dict):
        raise _unexpected(response, f"a JSON {type(body).__name__} where an object was expected")
    return body


def _object_or_empty(response: httpx.Response) -> Record:
    return _object(response) if response.content.strip() else {}


def _results(body: Mapping[str, Any]) -> list[Record]:
    rows = body.get("results")
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []


def _next_after(body: Mapping[str, Any]) -> str | None:
    paging = body.get("paging")
    following = paging.get("next") if isinstance(paging, Mapping) else None
    after = following.get("after") if isinstance(following, Mapping) else None
    return str(after) if after not in (None, "") else None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _unexpected(response: httpx.Response, what: str) -> ConfigurationError:
    return ConfigurationError(
        f"HubSpot sent {what} (HTTP {response.status_code}, {response.headers.get('content-type', 'no type')})",
        status=response.status_code,
        method=response.request.method,
        url=redact_url(response.request.url),
        request_id=response.headers.get(CORRELATION_HEADER),
        hint="Check that base_url points at the HubSpot API and not at a proxy or login page.",
    )
