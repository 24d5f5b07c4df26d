"""ConnectWiseClient against `httpx.MockTransport`: headers, discovery, errors, paging and safe creates."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from cwsync.connectors.connectwise import (
    AmbiguousWriteError,
    AuthenticationError,
    CompanyInfo,
    ConfigurationError,
    ConflictError,
    ConnectWiseClient,
    ConnectWiseSettings,
    CwsyncApiError,
    NotFoundError,
    PaginationLoopError,
    PatchOp,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
    replace_ops,
)
from cwsync.connectors.connectwise.conditions import F
from cwsync.connectors.http import RetryPolicy, SleepRecorder

PRIVATE = "Sup3rPrivate"
API = "https://cw.example.com/v2025_1/apis/3.0"
Handler = Callable[[httpx.Request], httpx.Response]


def cw_settings(**overrides: Any) -> ConnectWiseSettings:
    values: dict[str, Any] = {
        "site": "cw.example.com",
        "company_id": "acme",
        "public_key": "PubKey",
        "private_key": PRIVATE,
        "client_id": "client-guid",
        "codebase": "v2025_1",
    }
    return ConnectWiseSettings(**(values | overrides))


class Recorder:
    """Wraps a handler and keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def by_method(self, method: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == method]


def make_client(handler: Handler, **overrides: Any) -> tuple[ConnectWiseClient, Recorder, SleepRecorder]:
    recorder, sleep = Recorder(handler), SleepRecorder()
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    client = ConnectWiseClient(cw_settings(**overrides), http=http, retry=RetryPolicy(jitter=False), sleep=sleep)
    return client, recorder, sleep


def cw_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    all_headers = {"x-cw-request-id": "req-42", **(headers or {})}
    return httpx.Response(status, json=body, headers=all_headers)


def cw_error(status: int, code: str, message: str, errors: list[dict[str, Any]] | None = None) -> httpx.Response:
    return cw_json({"code": code, "message": message, "errors": errors}, status)


def sequence(*outcomes: httpx.Response | Exception) -> Handler:
    """Answer request n with outcome n (the last one repeats); exceptions are raised."""
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        outcome = outcomes[min(calls, len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return handle


def rows(first: int, last: int) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"Company {i}"} for i in range(first, last + 1)]


# -- headers and URLs -------------------------------------------------------------------------------------------


async def test_every_request_carries_auth_client_id_and_version() -> None:
    """Basic auth of company+public:private, clientId and the pinned Accept version go on every call."""
    client, seen, _ = make_client(lambda r: cw_json({"id": 5}))
    async with client:
        assert await client.get("/company/companies", 5) == {"id": 5}
    request = seen.requests[0]
    assert str(request.url) == f"{API}/company/companies/5"
    expected = base64.b64encode(f"acme+PubKey:{PRIVATE}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["clientid"] == "client-guid"
    assert request.headers["accept"] == "application/vnd.connectwise.com+json; version=2025.8"
    assert "content-type" not in request.headers


async def test_bodies_are_sent_as_utf8_json() -> None:
    """Writes declare `application/json; charset=utf-8` and keep non-ASCII text intact."""
    client, seen, _ = make_client(lambda r: cw_json({"id": 1, "name": "Société Générale"}, 201))
    async with client:
        await client.create("service/tickets", {"summary": "Société Générale"})
    request = seen.requests[0]
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert json.loads(request.content.decode("utf-8")) == {"summary": "Société Générale"}


async def test_get_with_fields_and_system_info() -> None:
    """`fields` becomes a comma list; `system_info` reads `system/info`."""
    client, seen, _ = make_client(lambda r: cw_json({"id": 7, "version": "v2025.1"}))
    async with client:
        await client.get("company/contacts", 7, fields=["id", "firstName"])
        info = await client.system_info()
    assert seen.requests[0].url.params["fields"] == "id,firstName"
    assert str(seen.requests[1].url) == f"{API}/system/info"
    assert info["version"] == "v2025.1"


async def test_passed_in_http_client_is_left_open() -> None:
    """The client closes only an httpx client it created itself."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: cw_json({})))
    async with ConnectWiseClient(cw_settings(), http=http):
        pass
    assert not http.is_closed
    await http.aclose()


# -- errors -----------------------------------------------------------------------------------------------------


async def test_400_maps_to_validation_error_with_details() -> None:
    """A 400 ErrorResponseMessage gives ValidationError with code, field, field errors and request id."""
    error = {"code": "OutOfRange", "message": "The field pageSize must be between 1 and 1000.", "field": "pageSize"}
    client, seen, sleep = make_client(lambda r: cw_error(400, "InvalidObject", "pageSize object is invalid", [error]))
    async with client:
        with pytest.raises(ValidationError) as caught:
            await client.list_page("company/companies")
    exc = caught.value
    assert (exc.status, exc.code, exc.field, exc.request_id) == (400, "InvalidObject", "pageSize", "req-42")
    assert exc.message == "pageSize object is invalid: The field pageSize must be between 1 and 1000."
    assert exc.errors == [error]
    assert exc.method == "GET"
    assert exc.url is not None
    assert exc.url.startswith(f"{API}/company/companies")
    assert len(seen.requests) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    ("status", "code", "kind", "hint_words"),
    [
        (401, "Unauthorized", AuthenticationError, "API member"),
        (403, "NotAuthorized", PermissionDeniedError, "security role"),
        (404, "NotFound", NotFoundError, None),
        (409, "Conflict", ConflictError, None),
    ],
)
async def test_client_errors_map_to_their_class_and_are_not_retried(
    status: int, code: str, kind: type[CwsyncApiError], hint_words: str | None
) -> None:
    """401/403/404/409 raise their class once, with status, code, request id and a hint where one helps."""
    client, seen, sleep = make_client(lambda r: cw_error(status, code, "refused"))
    async with client:
        with pytest.raises(kind) as caught:
            await client.get("company/companies", 1)
    assert (caught.value.status, caught.value.code, caught.value.request_id) == (status, code, "req-42")
    if hint_words:
        assert caught.value.hint is not None
        assert hint_words in caught.value.hint
    assert len(seen.requests) == 1
    assert sleep.delays == []


async def test_invalid_client_id_gets_its_own_hint() -> None:
    """A 401 with code InvalidClientId points at the ClientID registration page."""
    client, _, _ = make_client(lambda r: cw_error(401, "InvalidClientId", "clientId missing"))
    async with client:
        with pytest.raises(AuthenticationError) as caught:
            await client.system_info()
    assert caught.value.hint is not None
    assert "developer.connectwise.com/ClientID" in caught.value.hint


async def test_429_with_its_own_body_shape_is_retried_after_retry_after() -> None:
    """The 429 body `{error, message}` parses cleanly and Retry-After is waited before retrying."""
    throttled = cw_json({"error": "ConnectWiseAPI", "message": "Too many requests."}, 429, {"Retry-After": "30"})
    client, seen, sleep = make_client(sequence(throttled, cw_json({"id": 1})))
    async with client:
        assert await client.get("company/companies", 1) == {"id": 1}
    assert len(seen.requests) == 2
    assert sleep.delays == [30.0]


async def test_exhausted_429_keeps_retry_after() -> None:
    """When 429s never stop, RateLimitedError carries the server's Retry-After and message."""
    throttled = cw_json({"error": "ConnectWiseAPI", "message": "Too many requests."}, 429, {"Retry-After": "2"})
    client, _, _ = make_client(sequence(throttled))
    async with client:
        with pytest.raises(RateLimitedError) as caught:
            await client.get("company/companies", 1)
    assert (caught.value.retry_after, caught.value.message) == (2.0, "Too many requests.")


async def test_503_twice_then_success() -> None:
    """Server errors on a read are retried with backoff."""
    client, seen, sleep = make_client(sequence(httpx.Response(503), httpx.Response(503), cw_json({"id": 1})))
    async with client:
        assert await client.get("company/companies", 1) == {"id": 1}
    assert len(seen.requests) == 3
    assert sleep.delays == [0.25, 0.5]


@pytest.mark.parametrize(
    ("body", "message"),
    [("<html><body>Bad gateway</body></html>", "an HTML page"), ("", "HTTP 502 Bad Gateway")],
    ids=["html", "empty"],
)
async def test_html_or_empty_error_bodies_give_clean_errors(body: str, message: str) -> None:
    """A 5xx with an HTML page or nothing still gives a ServerError with a readable message."""
    client, _, _ = make_client(lambda r: httpx.Response(502, text=body))
    async with client:
        with pytest.raises(ServerError) as caught:
            await client.get("company/companies", 1)
    assert message in caught.value.message
    assert "<html>" not in str(caught.value)


async def test_read_timeout_on_a_read_is_retried() -> None:
    """Transport errors on GET are retried like 5xx."""
    client, seen, _ = make_client(sequence(httpx.ReadTimeout("timed out"), cw_json({"id": 1})))
    async with client:
        assert await client.get("company/companies", 1) == {"id": 1}
    assert len(seen.requests) == 2


async def test_credentials_never_appear_in_errors_or_reprs() -> None:
    """Neither the private key nor the Authorization value shows in errors, the client or the settings."""
    client, _, _ = make_client(lambda r: cw_error(401, "Unauthorized", "bad keys"))
    token = base64.b64encode(f"acme+PubKey:{PRIVATE}".encode()).decode()
    async with client:
        with pytest.raises(AuthenticationError) as caught:
            await client.system_info()
    shown = [str(caught.value), repr(caught.value), repr(client), repr(client.settings), str(vars(caught.value))]
    assert not any(PRIVATE in text or token in text for text in shown)


# -- discovery --------------------------------------------------------------------------------------------------


def company_info(codebase: str, *, cloud: bool = True) -> dict[str, Any]:
    return {
        "CompanyName": "Acme MSP",
        "Codebase": codebase,
        "VersionCode": "v2025.1",
        "VersionNumber": "v4.6.12345",
        "CompanyID": "acme",
        "IsCloud": "True" if cloud else "False",
        "SiteUrl": "api-na.myconnectwise.net",
    }


def site_handler(codebases: list[str], api: Handler, *, cloud: bool = True) -> Handler:
    """Discovery answers with `codebases[0]`; API calls on any other codebase get `Cannot route`."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/login/companyinfo/"):
            return cw_json(company_info(codebases[0], cloud=cloud))
        if not request.url.path.startswith(f"/{codebases[0]}apis/3.0/"):
            return httpx.Response(404, text="Cannot route. Codebase/company is invalid")
        return api(request)

    return handle


async def test_cloud_discovery_uses_the_api_host_and_the_discovered_codebase() -> None:
    """A cloud login host maps to api-na; companyinfo is asked without auth and its codebase is used."""
    handler = site_handler(["v2025_1/"], lambda r: cw_json({"version": "v2025.1"}))
    client, seen, _ = make_client(handler, site="na.myconnectwise.net", codebase=None)
    async with client:
        await client.system_info()
        await client.system_info()
    discovery, *api = seen.requests
    assert str(discovery.url) == "https://api-na.myconnectwise.net/login/companyinfo/acme"
    assert discovery.headers["clientid"] == "client-guid"
    assert "authorization" not in discovery.headers
    assert [str(r.url) for r in api] == ["https://api-na.myconnectwise.net/v2025_1/apis/3.0/system/info"] * 2


async def test_on_premise_discovery() -> None:
    """An on-premise host keeps its name and gets the v4_6_release codebase it reports."""
    handler = site_handler(["v4_6_release/"], lambda r: cw_json({"id": 3}), cloud=False)
    client, seen, _ = make_client(handler, site="https://cw.example.com:8443/", codebase=None)
    async with client:
        await client.get("company/companies", 3)
        info = await client.company_info()
    assert str(seen.requests[-1].url) == "https://cw.example.com:8443/v4_6_release/apis/3.0/company/companies/3"
    assert isinstance(info, CompanyInfo)
    assert (info.company_name, info.codebase, info.is_cloud) == ("Acme MSP", "v4_6_release/", False)
    assert len(seen.requests) == 2  # company_info() reused the cached discovery


async def test_unknown_company_is_a_configuration_error() -> None:
    """A `null` companyinfo body means ConnectWise does not know the company."""
    null = httpx.Response(200, content=b"null", headers={"content-type": "application/json"})
    client, _, _ = make_client(lambda r: null, company_id="acmee", codebase=None)
    async with client:
        with pytest.raises(ConfigurationError) as caught:
            await client.system_info()
    assert caught.value.message == (
        "ConnectWise does not know company 'acmee' on host cw.example.com: check the company ID you log in with"
    )


async def test_unreachable_host_at_discovery_hints_at_the_host() -> None:
    """A refused connection during discovery is a TransportError whose hint names the host to check."""
    client, seen, sleep = make_client(sequence(httpx.ConnectError("connection refused")), codebase=None)
    async with client:
        with pytest.raises(TransportError) as caught:
            await client.company_info()
    assert caught.value.hint is not None
    assert "cw.example.com" in caught.value.hint
    assert caught.value.reached_server is False
    assert len(seen.requests) == 6
    assert len(sleep.delays) == 5


async def test_non_connectwise_host_at_discovery_is_a_configuration_error() -> None:
    """A host answering discovery with a web page is reported as not being ConnectWise."""
    client, _, _ = make_client(lambda r: httpx.Response(200, text="<html>hi</html>"), codebase=None)
    async with client:
        with pytest.raises(ConfigurationError, match="did not answer codebase discovery"):
            await client.company_info()


async def test_codebase_change_is_rediscovered_once_and_the_call_retried() -> None:
    """After an upgrade, `Cannot route` triggers one re-discovery and the request succeeds on the new codebase."""
    codebases = ["v2025_1/"]
    handler = site_handler(codebases, lambda r: cw_json({"id": 9}))
    client, seen, _ = make_client(handler, codebase=None)
    async with client:
        await client.get("company/companies", 9)
        codebases[0] = "v2025_2/"  # the hosted site is upgraded
        assert await client.get("company/companies", 9) == {"id": 9}
    paths = [r.url.path for r in seen.requests]
    assert paths == [
        "/login/companyinfo/acme",
        "/v2025_1/apis/3.0/company/companies/9",
        "/v2025_1/apis/3.0/company/companies/9",
        "/login/companyinfo/acme",
        "/v2025_2/apis/3.0/company/companies/9",
    ]


async def test_cannot_route_with_an_unchanged_codebase_is_raised() -> None:
    """If re-discovery returns the same codebase, the 404 is raised without another API call."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/login/"):
            return cw_json(company_info("v2025_1/"))
        return httpx.Response(404, text="Cannot route. Codebase/company is invalid")

    client, seen, _ = make_client(handler, codebase=None)
    async with client:
        with pytest.raises(NotFoundError) as caught:
            await client.get("company/companies", 1)
    assert caught.value.code == "CannotRoute"
    assert [r.url.path.startswith("/login/") for r in seen.requests] == [True, False, True]


async def test_record_404_does_not_rediscover() -> None:
    """A JSON NotFound (a missing record) is not mistaken for a routing failure."""
    handler = site_handler(["v2025_1/"], lambda r: cw_error(404, "NotFound", "no such company"))
    client, seen, _ = make_client(handler, codebase=None)
    async with client:
        with pytest.raises(NotFoundError):
            await client.get("company/companies", 404)
    assert len(seen.requests) == 2


# -- reads and paging -------------------------------------------------------------------------------------------


async def test_list_page_and_count_render_conditions() -> None:
    """Builder conditions are rendered with str(); raw strings pass through; child/custom filters keep their names."""
    client, seen, _ = make_client(lambda r: cw_json({"count": 3} if r.url.path.endswith("/count") else rows(1, 3)))
    condition = (F("status/name") == "Active") & (F("deletedFlag") == False)  # noqa: E712
    async with client:
        page = await client.list_page(
            "company/companies",
            conditions=condition,
            child_conditions='types/name="Client"',
            custom_field_conditions='caption="Tier" AND value="Gold"',
            order_by="name asc",
            page=2,
            page_size=50,
        )
        total = await client.count("company/companies", conditions='identifier like "A*"')
    assert [r["id"] for r in page] == [1, 2, 3]
    assert total == 3
    params = seen.requests[0].url.params
    assert params["conditions"] == 'status/name = "Active" and deletedFlag = False'
    assert params["childConditions"] == 'types/name="Client"'
    assert params["customFieldConditions"] == 'caption="Tier" AND value="Gold"'
    assert (params["orderBy"], params["page"], params["pageSize"]) == ("name asc", "2", "50")
    assert str(seen.requests[1].url.copy_with(query=None)) == f"{API}/company/companies/count"
    assert seen.requests[1].url.params["conditions"] == 'identifier like "A*"'


def forward_only(data: list[dict[str, Any]]) -> Handler:
    """Serves `data` forward-only: `id > pageId`, always with a Link header."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers.get("pagination-type") == "forward-only"
        after, size = int(request.url.params["pageId"]), int(request.url.params["pageSize"])
        page = [row for row in data if row["id"] > after][:size]
        next_id = page[-1]["id"] if page else after
        return cw_json(page, headers={"link": f'<{request.url.copy_set_param("pageId", next_id)}>; rel="next"'})

    return handle


async def test_forward_only_stream_walks_page_ids_and_stops_on_a_short_page() -> None:
    """Without order_by, pages are read by pageId = last id of the previous page, ending on a short page."""
    client, seen, _ = make_client(forward_only(rows(1, 2500)))
    async with client:
        pages = [page async for page in client.stream("company/companies", fields="name")]
    assert [len(p) for p in pages] == [1000, 1000, 500]
    assert [r.url.params["pageId"] for r in seen.requests] == ["0", "1000", "2000"]
    assert all(r.url.params["fields"] == "id,name" for r in seen.requests)
    assert all("page" not in r.url.params for r in seen.requests)


async def test_forward_only_stream_stops_on_an_empty_page() -> None:
    """When the last page is exactly full, the empty page after it ends the stream."""
    client, seen, _ = make_client(forward_only(rows(1, 4)))
    async with client:
        records = [r["id"] async for r in client.stream_records("company/companies", page_size=2)]
    assert records == [1, 2, 3, 4]
    assert [r.url.params["pageId"] for r in seen.requests] == ["0", "2", "4"]


async def test_stream_reads_one_page_ahead_at_most() -> None:
    """While the consumer works on a page the next one is already requested, but never more than one (memory stays
    flat); stopping early leaves no request behind."""
    client, seen, _ = make_client(forward_only(rows(1, 10)))
    async with client:
        pages = client.stream("company/companies", page_size=3)
        first = await anext(pages)
        assert [r["id"] for r in first] == [1, 2, 3]
        for _ in range(10):
            await asyncio.sleep(0)  # the consumer "works": the read-ahead runs meanwhile
        assert [r.url.params["pageId"] for r in seen.requests] == ["0", "3"]
        assert [r["id"] for r in await anext(pages)] == [4, 5, 6]
        for _ in range(10):
            await asyncio.sleep(0)
        assert len(seen.requests) == 3
        await pages.aclose()  # type: ignore[attr-defined]
    assert len(seen.requests) == 3


async def until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Hand the loop over until `check()` holds; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.001)


def held_after_first_page(data: list[dict[str, Any]]) -> tuple[Handler, asyncio.Event, list[str]]:
    """Serves `data` forward-only, but holds every request after the first until the event is set; the page ids of
    held requests that were cancelled are listed."""
    serve, release, cancelled = forward_only(data), asyncio.Event(), []

    async def handle(request: httpx.Request) -> httpx.Response:
        if request.url.params["pageId"] != "0":
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancelled.append(request.url.params["pageId"])
                raise
        return serve(request)

    return handle, release, cancelled  # type: ignore[return-value]


@pytest.mark.parametrize("per_record", [False, True], ids=["stream", "stream_records"])
async def test_stopping_early_cancels_the_read_ahead_under_way(per_record: bool) -> None:
    """A consumer that stops while the next page is being read ends that request: `aclose` cancels it and waits for
    it, so no task outlives the stream (nothing pending to warn about when the loop closes), for `stream_records`
    too (it closes the stream under it)."""
    handle, _, cancelled = held_after_first_page(rows(1, 10))
    client, seen, _ = make_client(handle)
    async with client:
        if per_record:
            records = client.stream_records("company/companies", page_size=3)
            assert [await anext(records) for _ in range(3)] == rows(1, 3)
            close = records.aclose
        else:
            pages = client.stream("company/companies", page_size=3)
            assert await anext(pages) == rows(1, 3)
            close = pages.aclose
        await until(lambda: len(seen.requests) == 2)  # page 2 is under way
        await close()
        assert cancelled == ["3"]
        assert asyncio.all_tasks() == {asyncio.current_task()}
    assert len(seen.requests) == 2


async def test_the_read_ahead_waits_for_the_consumer_and_never_runs_two_pages_ahead() -> None:
    """Page 2 is requested while the consumer holds page 1; page 3 not before page 2 is handed over, however long
    page 2's read takes, and then while the consumer holds page 2."""
    handle, release, _ = held_after_first_page(rows(1, 7))
    client, seen, _ = make_client(handle)
    async with client:
        pages = client.stream("company/companies", page_size=3)
        await anext(pages)
        await until(lambda: len(seen.requests) == 2)
        for _ in range(20):
            await asyncio.sleep(0)  # page 2 is held: nothing else may go out meanwhile
        assert len(seen.requests) == 2
        release.set()
        assert [r["id"] for r in await anext(pages)] == [4, 5, 6]
        await until(lambda: len(seen.requests) == 3)  # page 3 leaves while the consumer holds page 2
        assert [r.url.params["pageId"] for r in seen.requests] == ["0", "3", "6"]
        assert [r["id"] for r in await anext(pages)] == [7]
        with pytest.raises(StopAsyncIteration):
            await anext(pages)
    assert len(seen.requests) == 3


async def test_a_failed_read_ahead_surfaces_at_its_own_page() -> None:
    """The read-ahead's errors belong to the page it reads: page 2's 503 is retried inside the read-ahead (the
    consumer sees page 2 whole), and page 3's 403 is raised by the request for page 3, after pages 1 and 2 were
    yielded whole, even though it failed while page 2 was being used."""
    serve = forward_only(rows(1, 9))
    failed_once: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        page_id = request.url.params["pageId"]
        if page_id == "3" and not failed_once:
            failed_once.append(page_id)
            return cw_error(503, "ServiceUnavailable", "try again")
        if page_id == "6":
            return cw_error(403, "Forbidden", "no access to configurations")
        return serve(request)

    client, seen, sleep = make_client(handle)
    got: list[list[int]] = []
    async with client:
        pages = client.stream("company/companies", page_size=3)
        got.append([r["id"] for r in await anext(pages)])
        got.append([r["id"] for r in await anext(pages)])
        await until(lambda: len(seen.requests) == 4)  # page 3's request was answered (403) meanwhile
        with pytest.raises(PermissionDeniedError):
            await anext(pages)
    assert got == [[1, 2, 3], [4, 5, 6]]
    assert [r.url.params["pageId"] for r in seen.requests] == ["0", "3", "3", "6"]
    assert len(sleep.delays) == 1


def navigable(data: list[dict[str, Any]], *, loop_back: bool = False) -> Handler:
    """Serves `data` by page number with Link headers (no `next` on the last page)."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.headers.get("pagination-type") == "forward-only":
            return cw_error(400, "InvalidObject", "pagination-type object is invalid")
        page, size = int(request.url.params["page"]), int(request.url.params["pageSize"])
        chunk = data[(page - 1) * size : page * size]
        last = max(1, -(-len(data) // size))
        links = [f'<{request.url.copy_set_param("page", 1)}>; rel="first"']
        if page < last:
            target = 1 if loop_back else page + 1
            links.append(f'<{request.url.copy_set_param("page", target)}>; rel="next"')
        return cw_json(chunk, headers={"link": ", ".join(links)})

    return handle


async def test_navigable_stream_follows_link_next_and_keeps_filters() -> None:
    """With order_by, pages are read by number following Link rel=next; filters go on every page."""
    client, seen, _ = make_client(navigable(rows(1, 5)))
    async with client:
        pages = [p async for p in client.stream("company/companies", conditions="id > 0", order_by="id", page_size=2)]
    assert [[r["id"] for r in p] for p in pages] == [[1, 2], [3, 4], [5]]
    assert [r.url.params["page"] for r in seen.requests] == ["1", "2", "3"]
    assert all(r.url.params["conditions"] == "id > 0" for r in seen.requests)
    assert all("pagination-type" not in r.headers for r in seen.requests)


async def test_forward_only_refused_falls_back_to_navigable() -> None:
    """An endpoint that answers forward-only paging with 400 is read by page number instead."""
    client, seen, _ = make_client(navigable(rows(1, 3)))
    async with client:
        records = [r["id"] async for r in client.stream_records("system/audittrail", page_size=2)]
    assert records == [1, 2, 3]
    assert [r.headers.get("pagination-type") for r in seen.requests] == ["forward-only", None, None]


async def test_navigable_loop_is_detected() -> None:
    """A Link rel=next pointing back at a page already read raises PaginationLoopError."""
    client, _, _ = make_client(navigable(rows(1, 5), loop_back=True))
    async with client:
        with pytest.raises(PaginationLoopError):
            [p async for p in client.stream("company/companies", order_by="id", page_size=2)]


async def test_forward_only_loop_is_detected_before_repeating_records() -> None:
    """A server that ignores pageId (same page again) raises instead of yielding duplicates."""
    client, _, _ = make_client(lambda r: cw_json(rows(1, 2)))
    seen_ids: list[int] = []

    async def consume() -> None:
        async for record in client.stream_records("company/companies", page_size=2):
            seen_ids.append(record["id"])

    async with client:
        with pytest.raises(PaginationLoopError):
            await consume()
    assert seen_ids == [1, 2]


# -- creates (CW-4) ---------------------------------------------------------------------------------------------


def create_server(*post_outcomes: httpx.Response | Exception, found: list[dict[str, Any]] | None = None) -> Handler:
    """POSTs get the scripted outcomes in turn; GET lookups answer with `found` (default: nothing)."""
    post = sequence(*post_outcomes)

    def handle(request: httpx.Request) -> httpx.Response:
        return post(request) if request.method == "POST" else cw_json(found or [])

    return handle


async def test_create_returns_the_created_record() -> None:
    """A 201 returns the created record after exactly one POST."""
    client, seen, _ = make_client(create_server(cw_json({"id": 11, "summary": "x"}, 201)))
    async with client:
        assert await client.create("service/tickets", {"summary": "x"}) == {"id": 11, "summary": "x"}
    assert len(seen.requests) == 1


async def test_lost_response_without_a_key_is_an_ambiguous_write() -> None:
    """A dropped response on a POST with no way to look the record up raises AmbiguousWriteError, never re-POSTs."""
    client, seen, _ = make_client(create_server(httpx.RemoteProtocolError("server disconnected")))
    async with client:
        with pytest.raises(AmbiguousWriteError) as caught:
            await client.create("service/tickets", {"summary": "Printer on fire"})
    assert len(seen.by_method("POST")) == 1
    assert seen.by_method("GET") == []
    assert "service/tickets" in caught.value.message
    assert caught.value.hint is not None
    assert "duplicate" in caught.value.hint


async def test_lost_response_with_match_finding_the_record_returns_it() -> None:
    """After a lost response, a `match` lookup that finds the record returns it: exactly one POST."""
    existing = {"id": 77, "summary": "Printer on fire"}
    client, seen, sleep = make_client(create_server(httpx.ReadTimeout("timed out"), found=[existing]))
    match = (F("summary") == "Printer on fire") & (F("company/id") == 5)
    async with client:
        assert await client.create("service/tickets", {"summary": "Printer on fire"}, match=match) == existing
    assert len(seen.by_method("POST")) == 1
    lookup = seen.by_method("GET")[0]
    assert lookup.url.params["conditions"] == 'summary = "Printer on fire" and company/id = 5'
    assert len(sleep.delays) == 1  # the lookup waits one backoff so a slow create can land first


async def test_lost_response_with_nothing_found_posts_again() -> None:
    """When the lookup finds nothing, the create is sent again (and its 201 returned)."""
    client, seen, _ = make_client(create_server(httpx.ReadError("reset"), cw_json({"id": 8}, 201)))
    async with client:
        assert await client.create("service/tickets", {"summary": "s"}, match='summary = "s"') == {"id": 8}
    assert [r.method for r in seen.requests] == ["POST", "GET", "POST"]


async def test_natural_key_is_used_when_no_match_is_given() -> None:
    """Companies are looked up by `identifier` from the body after a 5xx on the POST."""
    existing = {"id": 3, "identifier": "ACME"}
    client, seen, _ = make_client(create_server(httpx.Response(502), found=[existing]))
    async with client:
        assert await client.create("/company/companies", {"identifier": "ACME", "name": "Acme"}) == existing
    assert len(seen.by_method("POST")) == 1
    assert seen.by_method("GET")[0].url.params["conditions"] == 'identifier = "ACME"'


async def test_object_exists_on_a_repeated_create_resolves_through_the_lookup() -> None:
    """A 400 ObjectExists on a resent create means the first one landed: the lookup returns it."""
    exists = cw_error(
        400, "InvalidObject", "company object is invalid", [{"code": "ObjectExists", "field": "identifier"}]
    )
    answers = iter([[], [{"id": 4, "identifier": "ACME"}]])  # not yet visible, then found
    posts = sequence(httpx.ReadTimeout("timed out"), exists)

    def handle(request: httpx.Request) -> httpx.Response:
        return cw_json(next(answers)) if request.method == "GET" else posts(request)

    client, seen, _ = make_client(handle)
    async with client:
        record = await client.create("company/companies", {"identifier": "ACME", "name": "Acme"})
    assert record == {"id": 4, "identifier": "ACME"}
    assert [r.method for r in seen.requests] == ["POST", "GET", "POST", "GET"]


async def test_object_exists_on_the_first_attempt_is_a_validation_error() -> None:
    """A duplicate that existed before we tried is a record error, not silently adopted."""
    exists = cw_error(400, "InvalidObject", "company object is invalid", [{"code": "ObjectExists"}])
    client, seen, _ = make_client(create_server(exists, found=[{"id": 1}]))
    async with client:
        with pytest.raises(ValidationError):
            await client.create("company/companies", {"identifier": "ACME", "name": "Acme"})
    assert [r.method for r in seen.requests] == ["POST"]


async def test_create_is_resent_when_the_connection_never_opened() -> None:
    """A refused connection means nothing was sent: the POST is retried without any lookup."""
    client, seen, _ = make_client(create_server(httpx.ConnectError("refused"), cw_json({"id": 2}, 201)))
    async with client:
        assert await client.create("service/tickets", {"summary": "s"}) == {"id": 2}
    assert [r.method for r in seen.requests] == ["POST", "POST"]


async def test_failed_lookup_after_a_lost_response_is_ambiguous() -> None:
    """If the lookup itself keeps failing, the create is reported as ambiguous rather than guessed."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            raise httpx.ReadTimeout("timed out")
        return httpx.Response(503)

    client, seen, _ = make_client(handle)
    async with client:
        with pytest.raises(AmbiguousWriteError, match="lookup"):
            await client.create("service/tickets", {"summary": "s"}, match='summary = "s"')
    assert len(seen.by_method("POST")) == 1


async def test_every_create_attempt_ambiguous_and_never_found_raises_the_last_error() -> None:
    """If every POST is lost and no lookup finds the record, the retriable error surfaces after the policy."""
    client, seen, _ = make_client(create_server(httpx.Response(500)))
    async with client:
        with pytest.raises(ServerError):
            await client.create("service/tickets", {"summary": "s"}, match='summary = "s"')
    assert len(seen.by_method("POST")) == 6
    assert len(seen.by_method("GET")) == 6  # one lookup before each resend and one after the last POST


# -- other writes -----------------------------------------------------------------------------------------------


async def test_patch_put_and_delete() -> None:
    """PATCH sends JSON-patch ops without leading slashes; PUT sends the body; DELETE accepts 204."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(204)
        return cw_json({"id": 5})

    client, seen, _ = make_client(handle)
    async with client:
        await client.patch(
            "company/companies", 5, [PatchOp("replace", "/name", "New"), {"op": "remove", "path": "website"}]
        )
        await client.patch("company/companies", 5, replace_ops({"status": {"id": 2}}))
        await client.put("company/companies", 5, {"identifier": "A", "name": "B"})
        await client.delete("company/companies", 5)
    patch, patch2, put, delete = seen.requests
    assert json.loads(patch.content) == [
        {"op": "replace", "path": "name", "value": "New"},
        {"op": "remove", "path": "website"},
    ]
    assert json.loads(patch2.content) == [{"op": "replace", "path": "status", "value": {"id": 2}}]
    assert (put.method, json.loads(put.content)) == ("PUT", {"identifier": "A", "name": "B"})
    assert (delete.method, str(delete.url)) == ("DELETE", f"{API}/company/companies/5")


async def test_bad_patch_ops_are_refused_before_sending() -> None:
    """An unknown op or a missing path is a ValueError, not a request."""
    client, seen, _ = make_client(lambda r: cw_json({}))
    async with client:
        with pytest.raises(ValueError, match="add/replace/remove"):
            await client.patch("company/companies", 5, [{"op": "move", "path": "name"}])
    assert seen.requests == []


async def test_patch_is_retried_after_a_lost_response() -> None:
    """PATCH is idempotent here, so a dropped response is simply retried."""
    client, seen, _ = make_client(sequence(httpx.ReadError("reset"), cw_json({"id": 5})))
    async with client:
        assert await client.patch("company/companies", 5, replace_ops({"name": "N"})) == {"id": 5}
    assert [r.method for r in seen.requests] == ["PATCH", "PATCH"]


async def test_delete_404_after_a_lost_response_counts_as_done() -> None:
    """A DELETE whose first response was lost and whose retry finds nothing has done its job."""
    client, seen, _ = make_client(sequence(httpx.ReadTimeout("t"), cw_error(404, "NotFound", "gone")))
    async with client:
        await client.delete("company/contacts", 9)  # no NotFoundError
    assert len(seen.requests) == 2


async def test_delete_404_on_the_first_attempt_is_not_found() -> None:
    """Deleting a record that never existed raises NotFoundError."""
    client, _, _ = make_client(lambda r: cw_error(404, "NotFound", "gone"))
    async with client:
        with pytest.raises(NotFoundError):
            await client.delete("company/contacts", 9)
