"""The ConnectWise Manage REST client: thin resource calls over the shared `HttpApi`.

Everything generic (limits, retries, error mapping) lives in `cwsync.connectors.http`; this module adds what is
ConnectWise's own: codebase discovery and re-discovery, the auth/version headers, both paging modes, and
creates that are safe to retry although the API has no idempotency key (CW-4).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Coroutine, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import httpx
import structlog

from cwsync.connectors.connectwise.conditions import Condition, F
from cwsync.connectors.connectwise.discovery import CompanyInfo, discover_company
from cwsync.connectors.connectwise.errors import CANNOT_ROUTE, error_from_response, has_error_code
from cwsync.connectors.connectwise.settings import ConnectWiseSettings
from cwsync.connectors.http import (
    AmbiguousWriteError,
    ConfigurationError,
    CwsyncApiError,
    HttpApi,
    NotFoundError,
    Paginator,
    RetriableError,
    RetryPolicy,
    ServerError,
    Sleep,
    TransportError,
    ValidationError,
    json_of,
    next_link,
    redact_url,
)
from cwsync.connectors.http.clients import new_client
from cwsync.connectors.http.lifecycle import OwnsHttp
from cwsync.connectors.http.retry import retrying

__all__ = ["Conditions", "ConnectWiseClient", "Fields", "PatchOp", "replace_ops"]

Conditions = Condition | str
"""A `conditions`-style filter: the typed builder's `Condition` or a raw ConnectWise string."""
Fields = str | Sequence[str]
"""`fields`: `"id,name"` or `["id", "name"]`."""
Record = dict[str, Any]

NATURAL_KEYS: Mapping[str, str] = MappingProxyType(
    {"company/companies": "identifier", "procurement/catalog": "identifier", "system/members": "identifier"}
)
"""Collections whose records are unique on a body field: a create there can be checked without `match=`."""

_FORWARD_ONLY = MappingProxyType({"pagination-type": "forward-only"})
_PATCH_OPS = frozenset({"add", "replace", "remove"})


@dataclass(frozen=True, slots=True)
class PatchOp:
    """One JSON-patch operation; `path` is a field name without a leading slash (e.g. `status`)."""

    op: Literal["add", "replace", "remove"]
    path: str
    value: Any = None

    def as_json(self) -> dict[str, Any]:
        """The operation as ConnectWise expects it in a PATCH body."""
        return _patch_op({"op": self.op, "path": self.path, "value": self.value})


def replace_ops(changes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`replace` operations setting each field in `changes` (references as `{"id": n}`, custom fields whole)."""
    return [PatchOp("replace", name, value).as_json() for name, value in changes.items()]


def _patch_op(raw: Mapping[str, Any]) -> dict[str, Any]:
    op, path = raw.get("op"), str(raw.get("path", "")).lstrip("/")
    if op not in _PATCH_OPS or not path:
        raise ValueError(f"a patch operation needs op in add/replace/remove and a path, got {dict(raw)!r}")
    return {"op": op, "path": path} if op == "remove" else {"op": op, "path": path, "value": raw.get("value")}


@dataclass(frozen=True, slots=True)
class _Query:
    """The read filters every list, stream and count shares."""

    conditions: Conditions | None = None
    child_conditions: Conditions | None = None
    custom_field_conditions: Conditions | None = None
    fields: Fields | None = None
    order_by: str | None = None

    def params(self, *, with_id: bool = False, for_count: bool = False) -> dict[str, str]:
        named = {
            "conditions": self.conditions,
            "childConditions": self.child_conditions,
            "customFieldConditions": self.custom_field_conditions,
        }
        params = {name: str(value) for name, value in named.items() if value is not None and str(value)}
        fields = _field_list(self.fields)
        if fields and not for_count:
            params["fields"] = ",".join(["id", *fields] if with_id and "id" not in fields else fields)
        if self.order_by and not for_count:
            params["orderBy"] = self.order_by
        return params


def _field_list(fields: Fields | None) -> list[str]:
    items = fields.split(",") if isinstance(fields, str) else list(fields or ())
    return [name.strip() for name in items if name.strip()]


class ConnectWiseClient(OwnsHttp):
    """An async client for one ConnectWise Manage site; use it as `async with ConnectWiseClient(...) as cw:`.

    Args:
        settings: where and who to connect as.
        http: the I/O seam. None creates (and later closes) a client of our own; tests pass one built on
            `httpx.MockTransport` or `httpx.ASGITransport`.
        retry: the retry policy (default `RetryPolicy()`).
        sleep: how to wait between attempts; tests pass a `SleepRecorder`.
    """

    def __init__(
        self,
        settings: ConnectWiseSettings,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._address = settings.address
        self._owns_http = http is None
        self._http = http if http is not None else new_client(timeout=settings.timeout)
        self._api = HttpApi(
            self._http,
            error_from_response=error_from_response,
            retry=retry,
            limits=settings.limits,
            timeout=settings.timeout,
            sleep=sleep,
            name="connectwise",
        )
        self._codebase = settings.codebase
        self._info: CompanyInfo | None = None
        self._discovery = asyncio.Lock()
        self._log = structlog.get_logger("cwsync.connectwise").bind(
            site=self._address.host, company_id=settings.company_id
        )

    def __repr__(self) -> str:
        return f"ConnectWiseClient(site={self._address.origin!r}, company_id={self.settings.company_id!r})"

    # -- discovery --------------------------------------------------------------------------------------------

    async def company_info(self) -> CompanyInfo:
        """The site's answer to codebase discovery (fetched once, then cached)."""
        async with self._discovery:
            if self._info is None:
                await self._discover()
        assert self._info is not None
        return self._info

    async def _discover(self) -> CompanyInfo:
        """Run discovery (the caller holds `_discovery`) and adopt its codebase unless one is configured."""
        settings = self.settings
        info = await discover_company(self._api, self._address, settings.company_id, client_id=settings.client_id)
        self._info = info
        if settings.codebase is None:
            self._codebase = info.codebase
        self._log.info("cw.codebase_discovered", codebase=info.codebase, cloud=info.is_cloud)
        return info

    async def _current_codebase(self) -> str:
        if self._codebase is None:
            async with self._discovery:
                if self._codebase is None:
                    await self._discover()
        assert self._codebase is not None
        return self._codebase

    async def _codebase_moved(self, stale: str) -> bool:
        """Re-discover after a routing 404; True when the codebase is now different from `stale`."""
        if self.settings.codebase is not None:
            return False  # configured by the user: nothing to discover
        async with self._discovery:
            if self._codebase == stale:
                await self._discover()
        return self._codebase != stale

    # -- the request pipeline ---------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry_unsafe: bool = False,
    ) -> httpx.Response:
        """Send one API request to `path` (relative to `apis/3.0/`) and return the successful response.

        A 404 that looks like a routing failure (`Cannot route ...` or a non-JSON 404) re-runs discovery once
        and, if the codebase changed, sends the request once more.

        Raises:
            CwsyncApiError: the subclass for what went wrong.
        """
        send_headers = self._headers(json is not None, headers)

        async def send(codebase: str) -> httpx.Response:
            url = self._url(codebase, path)
            return await self._api.send(
                method, url, params=params, json=json, headers=send_headers, retry_unsafe=retry_unsafe
            )

        codebase = await self._current_codebase()
        try:
            return await send(codebase)
        except NotFoundError as exc:
            if exc.code not in (CANNOT_ROUTE, None) or not await self._codebase_moved(codebase):
                raise
        self._log.info("cw.codebase_changed", old=codebase, new=self._codebase)
        return await send(await self._current_codebase())

    def _url(self, codebase: str, path: str) -> str:
        return f"{self._address.origin}/{codebase}apis/3.0/{path.strip().lstrip('/')}"

    def _headers(self, has_body: bool, extra: Mapping[str, str] | None) -> dict[str, str]:
        settings = self.settings
        user = f"{settings.company_id}+{settings.public_key}:{settings.private_key.get_secret_value()}"
        headers = {
            "Authorization": "Basic " + base64.b64encode(user.encode("utf-8")).decode("ascii"),
            "clientId": settings.client_id,
            "Accept": f"application/vnd.connectwise.com+json; version={settings.api_version}",
        }
        if has_body:
            headers["Content-Type"] = "application/json; charset=utf-8"
        return headers | dict(extra or {})

    # -- reads ------------------------------------------------------------------------------------------------

    async def system_info(self) -> dict[str, Any]:
        """`GET system/info`: version, cloud flag, licences; the cheapest authenticated call."""
        return _object(await self.request("GET", "system/info"))

    async def get(self, path: str, record_id: int | str, *, fields: Fields | None = None) -> Record:
        """One record: `GET {path}/{record_id}`.

        Raises:
            NotFoundError: no such record.
        """
        params = _Query(fields=fields).params()
        return _object(await self.request("GET", f"{_path(path)}/{record_id}", params=params))

    async def list_page(
        self,
        path: str,
        *,
        conditions: Conditions | None = None,
        child_conditions: Conditions | None = None,
        custom_field_conditions: Conditions | None = None,
        fields: Fields | None = None,
        order_by: str | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> list[Record]:
        """One page (1-based) of a collection, with navigable paging."""
        if page < 1:
            raise ValueError(f"page is 1-based, got {page}")
        query = _Query(conditions, child_conditions, custom_field_conditions, fields, order_by)
        params = {**query.params(), "page": page, "pageSize": self._page_size(page_size)}
        return _records(await self.request("GET", path, params=params))

    async def count(
        self,
        path: str,
        *,
        conditions: Conditions | None = None,
        child_conditions: Conditions | None = None,
        custom_field_conditions: Conditions | None = None,
    ) -> int:
        """How many records match: `GET {path}/count`."""
        params = _Query(conditions, child_conditions, custom_field_conditions).params(for_count=True)
        response = await self.request("GET", f"{_path(path)}/count", params=params)
        value = _object(response).get("count")
        if not isinstance(value, int):
            raise _unexpected(response, "a count body without an integer 'count'")
        return value

    async def stream(
        self,
        path: str,
        *,
        conditions: Conditions | None = None,
        child_conditions: Conditions | None = None,
        custom_field_conditions: Conditions | None = None,
        fields: Fields | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[list[Record], None]:
        """Every matching record, one page at a time, the next page's request sent as soon as its position is known
        (while the caller works on this one): one page ahead at most, so memory stays flat in the record count.

        Without `order_by`, pages forward-only by id (`pageId`), which is stable while records are added;
        `id` is added to `fields` for that. If the endpoint refuses forward-only paging (400 on the first
        page) or `order_by` is given, pages by number following the `Link` header.

        Raises:
            PaginationLoopError: the server pointed back at a page already read.
        """
        query = _Query(conditions, child_conditions, custom_field_conditions, fields, order_by)
        size = self._page_size(page_size)
        pages = self._navigable(path, query, size) if order_by else self._forward_only(path, query, size)
        async with aclosing(pages):  # closed with this one: see `_abandon`
            async for page in pages:
                yield page

    async def stream_records(
        self,
        path: str,
        *,
        conditions: Conditions | None = None,
        child_conditions: Conditions | None = None,
        custom_field_conditions: Conditions | None = None,
        fields: Fields | None = None,
        order_by: str | None = None,
        page_size: int | None = None,
    ) -> AsyncGenerator[Record, None]:
        """`stream`, one record at a time."""
        pages = self.stream(
            path,
            conditions=conditions,
            child_conditions=child_conditions,
            custom_field_conditions=custom_field_conditions,
            fields=fields,
            order_by=order_by,
            page_size=page_size,
        )
        async with aclosing(pages):  # closed with this one: a read-ahead under way is ended now, not at collection
            async for page in pages:
                for record in page:
                    yield record

    async def _forward_only(self, path: str, query: _Query, size: int) -> AsyncGenerator[list[Record], None]:
        paginator: Paginator[int] = Paginator(0, what=f"{_path(path)} by pageId")
        base = query.params(with_id=True)

        def fetch() -> asyncio.Future[httpx.Response]:
            params = {**base, "pageSize": size, "pageId": paginator.current}
            return _start(self.request("GET", path, params=params, headers=_FORWARD_ONLY))

        ahead: asyncio.Future[httpx.Response] | None = fetch()
        try:
            while ahead is not None:
                try:
                    response = await ahead
                except ValidationError as exc:
                    ahead = None
                    if paginator.pages_read:
                        raise
                    self._log.info("cw.forward_only_refused", path=_path(path), code=exc.code, field=exc.field)
                    async with aclosing(self._navigable(path, query, size)) as pages:
                        async for page in pages:
                            yield page
                    return
                rows = _records(response)
                if len(rows) < size:
                    paginator.stop()
                else:
                    paginator.advance(_last_id(response, rows))
                ahead = fetch() if paginator.has_more else None  # the next page is on its way while this one is used
                if rows:
                    yield rows
        finally:
            await _abandon(ahead)

    async def _navigable(self, path: str, query: _Query, size: int) -> AsyncGenerator[list[Record], None]:
        paginator: Paginator[int] = Paginator(1, what=f"{_path(path)} by page")
        base = query.params()

        def fetch() -> asyncio.Future[httpx.Response]:
            return _start(self.request("GET", path, params={**base, "page": paginator.current, "pageSize": size}))

        ahead: asyncio.Future[httpx.Response] | None = fetch()
        try:
            while ahead is not None:
                response = await ahead
                rows = _records(response)
                paginator.advance(_next_page(response, paginator.current, len(rows), size))
                ahead = fetch() if paginator.has_more else None
                if rows:
                    yield rows
        finally:
            await _abandon(ahead)

    def _page_size(self, page_size: int | None) -> int:
        size = self.settings.page_size if page_size is None else page_size
        if not 1 <= size <= 1000:
            raise ValueError(f"page_size must be between 1 and 1000, got {size}")
        return size

    # -- writes -----------------------------------------------------------------------------------------------

    async def create(self, path: str, body: Mapping[str, Any], *, match: Conditions | None = None) -> Record:
        """Create a record (`POST {path}`, 201) without ever creating it twice.

        ConnectWise has no idempotency key. When the outcome of a POST is unknown (timeout after sending,
        dropped connection, 5xx), the record is looked up with `match`, or with the collection's natural key
        (`NATURAL_KEYS`, value taken from `body`): found means done; not found means POST again (per the
        retry policy). A 400 `ObjectExists` on a repeated POST is resolved the same way.

        Raises:
            AmbiguousWriteError: the outcome is unknown and there is no way to look the record up.
            CwsyncApiError: anything else (a `RetriableError` when every attempt failed and nothing was found).
        """
        lookup = _lookup_for(path, body, match)
        await self._current_codebase()  # a discovery failure is not an ambiguous create: nothing was POSTed yet
        loop = retrying(
            self._api.retry,
            sleep=self._api.sleep,
            random=self._api.random,
            should_retry=_is_ambiguous,
            before_sleep=lambda state: self._log.warning(
                "cw.create_retry", path=_path(path), attempt=state.attempt_number
            ),
        )
        try:
            async for attempt in loop:
                with attempt:
                    return await self._create_once(path, body, lookup, attempt.retry_state.attempt_number)
        except RetriableError as exc:
            if lookup is None or not _is_ambiguous(exc):
                raise
            # The last POST's outcome is unknown as well: one final look before giving up.
            if (found := await self._find_created(path, lookup, exc)) is None:
                raise
            return found
        raise AssertionError("unreachable: tenacity either returns or re-raises")  # pragma: no cover

    async def _create_once(self, path: str, body: Mapping[str, Any], lookup: Conditions | None, number: int) -> Record:
        if number > 1 and lookup is not None and (found := await self._find_created(path, lookup)) is not None:
            return found
        try:
            return _object(await self.request("POST", path, json=dict(body)))
        except ValidationError as exc:
            resolvable = number > 1 and lookup is not None and has_error_code(exc, "ObjectExists")
            if resolvable and lookup is not None and (found := await self._find_created(path, lookup, exc)):
                return found
            raise
        except RetriableError as exc:
            if not _is_ambiguous(exc):
                raise
            self._log.warning("cw.create_ambiguous", path=_path(path), error=type(exc).__name__, status=exc.status)
            if lookup is None:
                raise _ambiguous(path, exc, "there is no natural key to look the record up by") from exc
            raise

    async def _find_created(self, path: str, lookup: Conditions, cause: CwsyncApiError | None = None) -> Record | None:
        try:
            rows = await self.list_page(path, conditions=lookup, page_size=2)
        except RetriableError as exc:
            raise _ambiguous(path, cause or exc, f"the lookup ({lookup}) failed too: {exc.message}") from exc
        if len(rows) > 1:
            raise _ambiguous(path, cause, f"{len(rows)} records match {lookup}")
        if rows:
            self._log.info("cw.create_resolved", path=_path(path), record_id=rows[0].get("id"))
        return rows[0] if rows else None

    async def patch(self, path: str, record_id: int | str, ops: Sequence[Mapping[str, Any] | PatchOp]) -> Record:
        """Apply JSON-patch operations (`add`/`replace`/`remove`) to one record and return it."""
        body = [op.as_json() if isinstance(op, PatchOp) else _patch_op(op) for op in ops]
        if not body:
            raise ValueError("patch needs at least one operation")
        return _object(await self.request("PATCH", f"{_path(path)}/{record_id}", json=body))

    async def put(self, path: str, record_id: int | str, body: Mapping[str, Any]) -> Record:
        """Replace one record (fields left out are reset to defaults by ConnectWise) and return it."""
        return _object(await self.request("PUT", f"{_path(path)}/{record_id}", json=dict(body)))

    async def delete(self, path: str, record_id: int | str) -> None:
        """Delete one record (204). A 404 on a repeated attempt counts as done: the first one got through.

        Raises:
            NotFoundError: there was no such record to begin with.
        """
        try:
            await self.request("DELETE", f"{_path(path)}/{record_id}")
        except NotFoundError as exc:
            if exc.attempts > 1 and exc.code != CANNOT_ROUTE:
                self._log.info("cw.delete_already_done", path=_path(path), record_id=record_id)
                return
            raise


# -- helpers ------------------------------------------------------------------------------------------------------


def _path(path: str) -> str:
    return path.strip().strip("/")


def _is_ambiguous(error: BaseException) -> bool:
    """A failure after which a POST may or may not have been processed."""
    return isinstance(error, ServerError) or (isinstance(error, TransportError) and error.reached_server)


def _lookup_for(path: str, body: Mapping[str, Any], match: Conditions | None) -> Conditions | None:
    if match is not None:
        return match
    key = NATURAL_KEYS.get(_path(path).lower())
    value = body.get(key) if key else None
    if key is None or isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return F(key) == value


def _ambiguous(path: str, cause: CwsyncApiError | None, why: str) -> AmbiguousWriteError:
    return AmbiguousWriteError(
        f"POST {_path(path)} may or may not have created the record, and {why}",
        status=cause.status if cause else None,
        code=cause.code if cause else None,
        request_id=cause.request_id if cause else None,
        method="POST",
        url=cause.url if cause else None,
        hint=(
            f"Check ConnectWise ({_path(path)}) for a duplicate before running again; "
            "pass match= conditions that find the record so cwsync can check by itself."
        ),
    )


def _object(response: httpx.Response) -> Record:
    body = _json(response)
    if not isinstance(body, dict):
        raise _unexpected(response, f"a JSON {type(body).__name__} where an object was expected")
    return body


def _records(response: httpx.Response) -> list[Record]:
    body = _json(response)
    if not isinstance(body, list) or not all(isinstance(row, dict) for row in body):
        raise _unexpected(response, "something other than a JSON array of records")
    return body


def _json(response: httpx.Response) -> Any:
    try:
        return json_of(response)
    except ValueError:
        raise _unexpected(response, "a body that is not JSON") from None


def _last_id(response: httpx.Response, rows: list[Record]) -> int:
    last = rows[-1].get("id")
    if isinstance(last, bool) or not isinstance(last, int):
        raise _unexpected(response, "records without an integer 'id' (forward-only paging needs one)")
    return last


def _next_page(response: httpx.Response, current: int, count: int, size: int) -> int | None:
    """The next page number: from `Link rel="next"` when the server sends a `Link`, else while pages are full."""
    if count == 0:
        return None
    if "link" not in response.headers:
        return current + 1 if count >= size else None
    url = next_link(response)
    if url is None:
        return None
    page = next((v for k, v in parse_qsl(urlsplit(url).query) if k.lower() == "page"), None)
    return int(page) if page and page.isdigit() else current + 1


def _unexpected(response: httpx.Response, what: str) -> ConfigurationError:
    return ConfigurationError(
        f"ConnectWise sent {what} (HTTP {response.status_code}, {response.headers.get('content-type', 'no type')})",
        status=response.status_code,
        method=response.request.method,
        url=redact_url(response.request.url),
        request_id=response.headers.get("x-cw-request-id"),
        hint="Check that site points at the ConnectWise API host and not at a proxy or login page.",
    )


def _start(request: Coroutine[Any, Any, httpx.Response]) -> asyncio.Future[httpx.Response]:
    """A page request running in the background (the read-ahead of `stream`)."""
    return asyncio.ensure_future(request)


async def _abandon(ahead: asyncio.Future[httpx.Response] | None) -> None:
    """End a page read ahead that nobody will use (the caller stopped early, or a page failed): cancelled, and waited
    for, so that its connection is released and no task outlives the stream. `asyncio.wait` neither raises the read's
    own error nor swallows a cancellation of the caller."""
    if ahead is None:
        return
    ahead.add_done_callback(_quiet)
    if not ahead.done():
        ahead.cancel()
        await asyncio.wait((ahead,))


def _quiet(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved: an abandoned read's error is not logged as "never retrieved"
