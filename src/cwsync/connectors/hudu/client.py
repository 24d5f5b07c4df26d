"""The Hudu client: thin resource calls over the shared `HttpApi` (notes Part B).

Everything generic (concurrency cap, retries, error classes) lives in `cwsync.connectors.http`. This module adds
what is Hudu's own: the `x-api-key` header, pacing under 300 requests a minute (`ratelimit`), `page`/`page_size`
paging, the resource wrappers of write bodies (`{"company": {...}}`), the envelopes of answers (wrapped, or bare),
and custom fields written as `[{snake_case_label: value}]` and read back as `fields: [{label, value}]`.

Paging reads `page=1, 2, ...` until a short page. Hudu has been seen ignoring `page_size` (B1), so a page of exactly
25 rows (its default) is never taken as the last, and a page that repeats the previous one ends the stream.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from cwsync.connectors.http import (
    CwsyncApiError,
    HttpApi,
    NotFoundError,
    Paginator,
    RateLimitedError,
    RecordError,
    RequestLimits,
    RetryPolicy,
    Sleep,
    json_of,
)
from cwsync.connectors.http.clients import new_client
from cwsync.connectors.http.lifecycle import OwnsHttp
from cwsync.connectors.hudu.errors import error_from_response
from cwsync.connectors.hudu.ratelimit import Clock, HuduPacer
from cwsync.connectors.hudu.settings import HuduSettings

__all__ = ["HUDU_DEFAULT_PAGE_SIZE", "HuduClient", "custom_fields_body", "field_values", "label_key"]

Record = dict[str, Any]

HUDU_DEFAULT_PAGE_SIZE = 25
"""Hudu's page size when it ignores `page_size` (B1)."""


def label_key(label: str) -> str:
    """The `custom_fields` key of a layout field label: lowercase, spaces → `_` (B3)."""
    return re.sub(r"\s+", "_", label.strip().lower())


def custom_fields_body(values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`{"IP Address": "10.0.0.1"}` → `[{"ip_address": "10.0.0.1"}]`, the only shape Hudu accepts (B3).

    Keys may be labels or already snake_case; None clears a field.
    """
    return [{label_key(label): value} for label, value in values.items()]


def field_values(asset: Mapping[str, Any]) -> dict[str, Any]:
    """An asset's custom field values by label, from its `fields` array."""
    fields = asset.get("fields") or []
    return {str(f["label"]): f.get("value") for f in fields if isinstance(f, Mapping) and "label" in f}


def _since(moment: datetime) -> str:
    """An `updated_at` range from `moment` to now (`start,`), in UTC with `Z`."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z,"


def _filters(**values: Any) -> dict[str, Any]:
    """Query parameters without the unset ones; booleans as `true`/`false`, datetimes as `updated_at` ranges."""
    params: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key == "updated_since":
            params["updated_at"] = _since(value)
        elif isinstance(value, bool):
            params[key] = str(value).lower()
        else:
            params[key] = value
    return params


class HuduClient(OwnsHttp):
    """An async client for one Hudu instance; use it as `async with HuduClient(...) as hudu:`.

    Args:
        settings: where and with which API key to connect.
        http: the I/O seam. None creates (and later closes) a client of our own; tests pass one built on
            `httpx.MockTransport` or `httpx.ASGITransport`.
        retry: the retry policy (default `RetryPolicy()`).
        sleep: how to wait (between attempts and for pacing); tests pass a recorder.
        clock: the monotonic clock pacing reads; tests pass a fake one that their sleep advances.
    """

    def __init__(
        self,
        settings: HuduSettings,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        self.settings = settings
        self._owns_http = http is None
        self._http = http if http is not None else new_client(timeout=settings.timeout)
        self._sleep = sleep
        self._pacer = HuduPacer(settings.requests_per_minute, clock=clock, sleep=sleep)
        self._api = HttpApi(
            self._http,
            error_from_response=self._error,
            retry=retry or RetryPolicy(),
            limits=RequestLimits(max_concurrency=settings.max_concurrency, requests_per_minute=None),
            timeout=settings.timeout,
            sleep=self._retry_sleep,
            name="hudu",
        )
        self._log = structlog.get_logger("cwsync.hudu").bind(base_url=settings.base_url)

    def __repr__(self) -> str:
        return f"HuduClient(base_url={self.settings.base_url!r})"

    # -- the request pipeline ---------------------------------------------------------------------------------

    async def _retry_sleep(self, seconds: float) -> None:
        await self._sleep(seconds)
        await self._pacer.wait_turn()  # a retried attempt is a request like any other

    def _error(self, response: httpx.Response) -> CwsyncApiError:
        error = error_from_response(response)
        if isinstance(error, RateLimitedError):
            if error.retry_after is None:
                error = error.with_details(retry_after=self.settings.rate_limit_pause)
            pause = error.retry_after or self.settings.rate_limit_pause
            self._log.warning("hudu.rate_limited", pause=round(pause, 3), url=error.url)
            self._pacer.hold(pause)
        return error

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> httpx.Response:
        """Send one API request to `path` (relative to `/api/v1`), paced, and return the successful response.

        Raises:
            CwsyncApiError: the subclass for what went wrong (see `cwsync.connectors.hudu.errors`).
        """
        await self._pacer.wait_turn()
        url = f"{self.settings.api_url}/{path.lstrip('/')}"
        return await self._api.send(method, url, params=params, json=json, headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {"x-api-key": self.settings.api_key.get_secret_value(), "Accept": "application/json"}

    async def _call(self, method: str, path: str, *, key: str | None = None, json: Any = None) -> Record:
        """One request whose answer is a single record, wrapped under `key` or bare (both are seen, B1)."""
        response = await self.request(method, path, json=json)
        return _record(response, key)

    async def _pages(
        self, path: str, key: str, params: Mapping[str, Any], page_size: int | None
    ) -> AsyncIterator[list[Record]]:
        """GET `page=1, 2, ...` until a short, empty or repeated page."""
        size = page_size or self.settings.page_size
        paginator: Paginator[int] = Paginator(1, what=path)
        previous: list[Any] | None = None
        while paginator.has_more:
            response = await self.request("GET", path, params={**params, "page": paginator.current, "page_size": size})
            rows = _rows(response, key)
            ids = [row.get("id") for row in rows]
            if not rows or ids == previous:
                if rows:
                    self._log.info("hudu.page_repeated", path=path, page=paginator.current)
                paginator.stop()
                return
            yield rows
            previous = ids
            if len(rows) < size and len(rows) != HUDU_DEFAULT_PAGE_SIZE:
                paginator.stop()
            else:
                paginator.advance(paginator.current + 1)

    async def _all(self, path: str, key: str, params: Mapping[str, Any]) -> list[Record]:
        return [row async for page in self._pages(path, key, params, None) for row in page]

    # -- instance -------------------------------------------------------------------------------------------------

    async def test_connection(self) -> Record:
        """`GET /api_info`: the instance's version and date; proves the URL and the key work.

        Raises:
            AuthenticationError: the key was refused (the hint says where to get a new one).
        """
        response = await self.request("GET", "api_info")
        return _record(response, None)

    # -- companies (B2) -------------------------------------------------------------------------------------------

    async def stream_companies(
        self,
        *,
        name: str | None = None,
        id_number: str | None = None,
        id_in_integration: str | int | None = None,
        search: str | None = None,
        updated_since: datetime | None = None,
        archived: bool | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[list[Record]]:
        """Companies matching the filters, one page at a time."""
        params = _filters(
            name=name,
            id_number=id_number,
            id_in_integration=id_in_integration,
            search=search,
            updated_since=updated_since,
            archived=archived,
        )
        async for page in self._pages("companies", "companies", params, page_size):
            yield page

    async def get_company(self, company_id: int) -> Record:
        """One company.

        Raises:
            NotFoundError: no such company.
        """
        return await self._call("GET", f"companies/{company_id}", key="company")

    async def create_company(self, fields: Mapping[str, Any]) -> Record:
        """Create a company (`name` required) and return it."""
        return await self._call("POST", "companies", key="company", json={"company": dict(fields)})

    async def update_company(self, company_id: int, fields: Mapping[str, Any]) -> Record:
        """Change some fields of a company and return it."""
        return await self._call("PUT", f"companies/{company_id}", key="company", json={"company": dict(fields)})

    async def archive_company(self, company_id: int) -> Record:
        """Archive a company (Hudu's soft delete) and return it."""
        return await self._call("PUT", f"companies/{company_id}/archive", key="company")

    # -- assets (B3) ----------------------------------------------------------------------------------------------

    async def stream_assets(
        self,
        *,
        company_id: int | None = None,
        asset_layout_id: int | None = None,
        updated_since: datetime | None = None,
        primary_serial: str | None = None,
        name: str | None = None,
        archived: bool | None = None,
        page_size: int | None = None,
    ) -> AsyncIterator[list[Record]]:
        """Assets across companies (`GET /assets`) matching the filters, one page at a time."""
        params = _filters(
            company_id=company_id,
            asset_layout_id=asset_layout_id,
            updated_since=updated_since,
            primary_serial=primary_serial,
            name=name,
            archived=archived,
        )
        async for page in self._pages("assets", "assets", params, page_size):
            yield page

    async def stream_company_assets(
        self, company_id: int, *, archived: bool | None = None, page_size: int | None = None
    ) -> AsyncIterator[list[Record]]:
        """The assets of one company, one page at a time."""
        params = _filters(archived=archived)
        async for page in self._pages(f"companies/{company_id}/assets", "assets", params, page_size):
            yield page

    async def get_asset(self, company_id: int, asset_id: int) -> Record:
        """One asset of a company.

        Raises:
            NotFoundError: no such asset in that company.
        """
        return await self._call("GET", f"companies/{company_id}/assets/{asset_id}", key="asset")

    async def create_asset(
        self,
        company_id: int,
        *,
        name: str,
        asset_layout_id: int,
        fields: Mapping[str, Any] | None = None,
        custom_fields: Mapping[str, Any] | None = None,
    ) -> Record:
        """Create an asset and return it.

        Args:
            fields: built-in fields (`primary_serial`, `primary_mail`, `primary_model`, `primary_manufacturer`).
            custom_fields: layout field values by label (or snake_case key); sent in Hudu's list shape.
        """
        body = {**(fields or {}), "name": name, "asset_layout_id": asset_layout_id}
        if custom_fields:
            body["custom_fields"] = custom_fields_body(custom_fields)
        return await self._call("POST", f"companies/{company_id}/assets", key="asset", json={"asset": body})

    async def update_asset(
        self,
        company_id: int,
        asset_id: int,
        *,
        fields: Mapping[str, Any] | None = None,
        custom_fields: Mapping[str, Any] | None = None,
    ) -> Record:
        """Change an asset's built-in fields and/or custom field values (None clears one) and return it."""
        body = dict(fields or {})
        if custom_fields:
            body["custom_fields"] = custom_fields_body(custom_fields)
        path = f"companies/{company_id}/assets/{asset_id}"
        return await self._call("PUT", path, key="asset", json={"asset": body})

    async def archive_asset(self, company_id: int, asset_id: int) -> Record:
        """Archive an asset and return it."""
        return await self._call("PUT", f"companies/{company_id}/assets/{asset_id}/archive", key="asset")

    async def delete_asset(self, company_id: int, asset_id: int) -> None:
        """Delete an asset for good (the key needs destructive rights)."""
        await self.request("DELETE", f"companies/{company_id}/assets/{asset_id}")

    # -- asset layouts (B4) ---------------------------------------------------------------------------------------

    async def list_asset_layouts(self, *, name: str | None = None, active: bool | None = None) -> list[Record]:
        """Every asset layout (optionally only the one named `name`, or the active ones)."""
        return await self._all("asset_layouts", "asset_layouts", _filters(name=name, active=active))

    async def get_asset_layout(self, layout_id: int) -> Record:
        """One asset layout with its field definitions."""
        return await self._call("GET", f"asset_layouts/{layout_id}", key="asset_layout")

    async def create_asset_layout(self, name: str, fields: Sequence[Mapping[str, Any]], **options: Any) -> Record:
        """Create an asset layout: `fields` as `[{"label": ..., "field_type": "Text", ...}]`; `options` such as
        `icon`, `color`, `icon_color`, `include_passwords`, `active` (Hudu wants the full body, B4)."""
        body = {"icon": "fas fa-cube", "color": "#64748b", "icon_color": "#ffffff", "active": True, **options}
        body.update(name=name, fields=[dict(f) for f in fields])
        return await self._call("POST", "asset_layouts", key="asset_layout", json={"asset_layout": body})

    async def update_asset_layout(self, layout_id: int, changes: Mapping[str, Any]) -> Record:
        """Change a layout; existing fields are matched by `id`, fields without one are added (B4)."""
        body = {"asset_layout": dict(changes)}
        return await self._call("PUT", f"asset_layouts/{layout_id}", key="asset_layout", json=body)


# -- response bodies ---------------------------------------------------------------------------------------------


def _body(response: httpx.Response) -> Any:
    try:
        return json_of(response)
    except ValueError:
        raise RecordError(
            f"Hudu answered {response.status_code} with a body that is not JSON",
            status=response.status_code,
            method=response.request.method,
            url=str(response.request.url),
        ) from None


def _record(response: httpx.Response, key: str | None) -> Record:
    """The record of a single-record answer, under `key` or bare; `null` (seen for missing ids, B1) is a 404."""
    body = _body(response)
    if body is None:
        raise NotFoundError("Hudu answered null: no such record", status=404, method=response.request.method)
    if key and isinstance(body, dict) and isinstance(body.get(key), dict):
        inner: Record = body[key]
        return inner
    if isinstance(body, dict):
        return body
    raise RecordError(f"unexpected Hudu answer: {type(body).__name__} instead of a record", status=response.status_code)


def _rows(response: httpx.Response, key: str) -> list[Record]:
    """The rows of a list answer: `{key: [...]}` or a bare array (websites)."""
    body = _body(response)
    rows = body.get(key) if isinstance(body, dict) else body
    if not isinstance(rows, list):
        raise RecordError(f"unexpected Hudu list answer (no {key!r} array)", status=response.status_code)
    return [row for row in rows if isinstance(row, dict)]
