"""HubSpotClient against `httpx.MockTransport`: paths, errors, retries, paging, search past 10,000, batches."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError as SettingsError
from structlog.testing import capture_logs

from cwsync.connectors.http import RetryPolicy
from cwsync.connectors.hubspot import (
    AmbiguousBatchWriteError,
    AuthenticationError,
    HubSpotClient,
    HubSpotConflictError,
    HubSpotPermissionDeniedError,
    HubSpotRateLimitedError,
    HubSpotSettings,
    NotFoundError,
    PaginationLoopError,
    RecordError,
    ServerError,
    ValidationError,
    association_spec,
)
from tests.unit.test_hs_ratelimit import FakeClock

TOKEN = "pat-na1-0f1e2d3c-s3cr3t"
API = "https://api.hubapi.com"
Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """Wraps a handler and keeps every request it saw."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def bodies(self, suffix: str = "") -> list[Any]:
        return [json.loads(r.content) for r in self.requests if r.content and r.url.path.endswith(suffix)]


def make_client(handler: Handler, **settings: Any) -> tuple[HubSpotClient, Recorder, FakeClock]:
    recorder, clock = Recorder(handler), FakeClock()
    http = httpx.AsyncClient(transport=httpx.MockTransport(recorder))
    client = HubSpotClient(
        HubSpotSettings(token=TOKEN, **settings),
        http=http,
        retry=RetryPolicy(jitter=False),
        sleep=clock.sleep,
        clock=clock,
    )
    return client, recorder, clock


def ok(body: Any = None, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {})


def hs_error(status: int, category: str | None, message: str, **extra: Any) -> httpx.Response:
    body = {"status": "error", "message": message, "correlationId": "corr-42", **extra}
    if category:
        body["category"] = category
    return httpx.Response(status, json=body)


def record(record_id: int | str, **properties: Any) -> dict[str, Any]:
    return {"id": str(record_id), "properties": {"hs_object_id": str(record_id), **properties}, "archived": False}


# -- settings, paths, auth ------------------------------------------------------------------------------------------


async def test_requests_carry_the_bearer_token_and_v3_paths() -> None:
    """Every request sends `Authorization: Bearer <token>` to `/crm/v3/objects/{type}/{id}`."""
    client, seen, _ = make_client(lambda r: ok(record(7)))
    assert await client.get("contacts", 7, properties=["email", "firstname"], associations=["companies"]) == record(7)
    request = seen.requests[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.url.path == "/crm/v3/objects/contacts/7"
    assert request.url.params["properties"] == "email,firstname"
    assert request.url.params["associations"] == "companies"


async def test_get_by_unique_property_quotes_the_value() -> None:
    """`id_property` sends `idProperty` and the value is escaped as one path segment."""
    client, seen, _ = make_client(lambda r: ok(record(7)))
    await client.get("contacts", "a/b@example.com", id_property="email")
    assert seen.requests[0].url.raw_path.decode().startswith("/crm/v3/objects/contacts/a%2Fb%40example.com?")
    assert seen.requests[0].url.params["idProperty"] == "email"


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (
            "v3",
            [
                "/crm/v3/objects/deals/batch/read",
                "/crm/v3/objects/deals/search",
                "/crm/v3/properties/deals",
                "/crm/v3/pipelines/deals",
                "/crm/v4/associations/deals/companies/batch/associate/default",
                "/crm/v3/owners",
            ],
        ),
        (
            "2026-03",
            [
                "/crm/objects/2026-03/deals/batch/read",
                "/crm/objects/2026-03/deals/search",
                "/crm/properties/2026-03/deals",
                "/crm/pipelines/2026-03/deals",
                "/crm/associations/2026-03/deals/companies/batch/associate/default",
                "/crm/v3/owners",
            ],
        ),
    ],
)
async def test_api_version_selects_legacy_or_date_based_paths(version: str, expected: list[str]) -> None:
    """`api_version` switches objects, search, properties, pipelines and associations; owners stay on v3."""
    client, seen, _ = make_client(lambda r: ok({"results": []}), api_version=version)
    await client.batch_read("deals", ["1"])
    _ = [page async for page in client.search("deals", filter_groups=[])]
    await client.properties("deals")
    await client.pipelines("deals")
    await client.batch_associate_default("deals", "companies", [(1, 2)])
    await client.owners()
    assert seen.paths == expected


async def test_base_url_may_carry_a_path_prefix() -> None:
    """A local emulator URL with a prefix and a trailing slash is used as the root of every path."""
    client, seen, _ = make_client(lambda r: ok(record(1)), base_url="http://127.0.0.1:8710/hubspot/")
    await client.get("companies", 1)
    assert str(seen.requests[0].url) == "http://127.0.0.1:8710/hubspot/crm/v3/objects/companies/1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"token": " "},
        {"base_url": "ftp://api.hubapi.com"},
        {"base_url": "https://user:pw@api.hubapi.com"},
        {"api_version": "v4"},
        {"api_version": "2026"},
        {"requests_per_10s": 0},
        {"timeout": 0},
    ],
)
def test_settings_refuse_unusable_values(overrides: dict[str, Any]) -> None:
    """Bad tokens, URLs, versions and limits fail when the settings load, not at the first request."""
    with pytest.raises(SettingsError):
        HubSpotSettings(**({"token": TOKEN} | overrides))


async def test_token_never_appears_in_reprs_errors_or_logs() -> None:
    """The token is absent from settings/client reprs, a 401's text and every logged event."""
    client, _, _ = make_client(
        lambda r: hs_error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
    )
    with capture_logs() as logs, pytest.raises(AuthenticationError) as caught:
        await client.get("contacts", 1)
    shown = [repr(client.settings), str(client.settings), repr(client), str(caught.value), repr(caught.value)]
    shown += [repr(entry) for entry in logs]
    assert all(TOKEN not in text for text in shown)


# -- errors ---------------------------------------------------------------------------------------------------------

EMBEDDED = (
    'Property values were not valid: [{"isValid":false,"message":"Property \\"favourite_colour\\" does not exist",'
    '"error":"PROPERTY_DOESNT_EXIST","name":"favourite_colour"}]'
)


async def test_400_property_doesnt_exist_names_the_field() -> None:
    """A VALIDATION_ERROR whose message embeds the property errors gives field, code and request id."""
    client, seen, _ = make_client(lambda r: hs_error(400, "VALIDATION_ERROR", EMBEDDED))
    with pytest.raises(ValidationError) as caught:
        await client.update("contacts", 1, {"favourite_colour": "red"})
    error = caught.value
    assert (error.field, error.code, error.request_id, error.status) == (
        "favourite_colour",
        "PROPERTY_DOESNT_EXIST",
        "corr-42",
        400,
    )
    assert error.errors[0]["error"] == "PROPERTY_DOESNT_EXIST"
    assert len(seen.requests) == 1


async def test_400_invalid_option_from_the_errors_array() -> None:
    """A VALIDATION_ERROR with `errors[].context.propertyName` names that property."""
    details = [{"message": "closedwonn is not a valid option", "code": "INVALID_OPTION",
                "context": {"propertyName": ["dealstage"]}}]  # fmt: skip
    client, _, _ = make_client(lambda r: hs_error(400, "VALIDATION_ERROR", "Invalid input", errors=details))
    with pytest.raises(ValidationError) as caught:
        await client.update("deals", 1, {"dealstage": "closedwonn"})
    assert (caught.value.field, caught.value.code) == ("dealstage", "INVALID_OPTION")


async def test_401_says_to_check_the_private_app_token() -> None:
    """401 is an AuthenticationError whose hint points at the private app token."""
    client, seen, _ = make_client(
        lambda r: hs_error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
    )
    with pytest.raises(AuthenticationError) as caught:
        await client.get("contacts", 1)
    assert "private app token" in (caught.value.hint or "")
    assert (caught.value.code, caught.value.request_id, len(seen.requests)) == ("INVALID_AUTHENTICATION", "corr-42", 1)


async def test_403_missing_scopes_names_them_and_where_to_grant_them() -> None:
    """403 MISSING_SCOPES lists the scopes in the message, hint and `missing_scopes`, and says where to add them."""
    scopes = ["crm.objects.deals.write", "crm.objects.deals.read"]
    details = [{"message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": scopes}}]  # fmt: skip
    client, _, _ = make_client(
        lambda r: hs_error(403, "MISSING_SCOPES", "This app hasn't been granted all required scopes.", errors=details)
    )
    with pytest.raises(HubSpotPermissionDeniedError) as caught:
        await client.update("deals", 1, {"amount": "5"})
    error = caught.value
    assert error.missing_scopes == ["crm.objects.deals.write", "crm.objects.deals.read"]
    assert "crm.objects.deals.write" in error.message
    assert "crm.objects.deals.write" in (error.hint or "")
    assert "Private apps" in (error.hint or "")
    assert "Scopes" in (error.hint or "")


async def test_403_scopes_are_found_in_a_string_context_too() -> None:
    """The `{missingScopes=[...]}` string form of `context` is read as well."""
    details = [{"message": "missing", "context": "{missingScopes=[crm.schemas.contacts.write]}"}]
    client, _, _ = make_client(lambda r: hs_error(403, "MISSING_SCOPES", "Forbidden", errors=details))
    with pytest.raises(HubSpotPermissionDeniedError) as caught:
        await client.properties("contacts")
    assert caught.value.missing_scopes == ["crm.schemas.contacts.write"]


async def test_404_is_not_found() -> None:
    """404 is a NotFoundError carrying the correlation id."""
    client, _, _ = make_client(
        lambda r: hs_error(404, "OBJECT_NOT_FOUND", "Object not found.  objectId are usually numeric.")
    )
    with pytest.raises(NotFoundError) as caught:
        await client.get("companies", 999)
    assert caught.value.request_id == "corr-42"


async def test_409_duplicate_email_gives_the_existing_id() -> None:
    """409 CONFLICT 'Contact already exists. Existing ID: n' exposes n as `existing_id`, and is not retried."""
    client, seen, _ = make_client(
        lambda r: hs_error(409, "CONFLICT", "Contact already exists. Existing ID: 37765128953")
    )
    with pytest.raises(HubSpotConflictError) as caught:
        await client.create("contacts", {"email": "a@example.com"})
    assert caught.value.existing_id == "37765128953"
    assert len(seen.requests) == 1


async def test_429_keeps_policy_name_and_derives_the_wait_from_the_interval() -> None:
    """A 429 without Retry-After waits the interval header; `policy_name` is kept on the error."""
    body = {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT", "correlationId": "c-9", "policyName": "TEN_SECONDLY_ROLLING"}  # fmt: skip
    headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    client, seen, clock = make_client(lambda r: httpx.Response(429, json=body, headers=headers))
    with pytest.raises(HubSpotRateLimitedError) as caught:
        await client.get("contacts", 1)
    error = caught.value
    assert (error.policy_name, error.retry_after, error.request_id, error.code) == (
        "TEN_SECONDLY_ROLLING",
        10.0,
        "c-9",
        "TEN_SECONDLY_ROLLING",
    )
    assert len(seen.requests) == 6  # the default policy's attempts
    assert clock.sleeps[0] == pytest.approx(10.0)


async def test_search_429_without_headers_waits_a_second() -> None:
    """A search 429 (SECONDLY, no headers) backs off for the secondly window, then succeeds."""
    answers = iter([
        hs_error(429, "RATE_LIMITS", "You have reached your secondly limit.", policyName="SECONDLY"),
        ok({"total": 0, "results": []}),
    ])  # fmt: skip
    client, seen, clock = make_client(lambda r: next(answers))
    assert [page async for page in client.search("deals", filter_groups=[])] == []
    assert len(seen.requests) == 2
    assert clock.sleeps[0] == pytest.approx(1.0)


async def test_daily_429_says_when_it_resets() -> None:
    """A DAILY 429 has no derived wait and a hint about the daily reset."""
    client, _, _ = make_client(lambda r: hs_error(429, None, "You have reached your daily limit.", policyName="DAILY"))
    with pytest.raises(HubSpotRateLimitedError) as caught:
        await client.get("contacts", 1)
    assert caught.value.retry_after is None
    assert "daily" in (caught.value.hint or "")


async def test_5xx_on_a_read_is_retried() -> None:
    """Two 503s then a 200: the read succeeds on the third attempt."""
    answers = iter([hs_error(503, None, "unavailable"), hs_error(502, None, "bad gateway"), ok(record(3))])
    client, seen, _ = make_client(lambda r: next(answers))
    assert (await client.get("deals", 3))["id"] == "3"
    assert len(seen.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
async def test_4xx_is_not_retried(status: int) -> None:
    """Client errors are raised after one attempt."""
    client, seen, _ = make_client(lambda r: hs_error(status, "X", "no"))
    with pytest.raises(
        RecordError if status not in (401, 403) else (AuthenticationError, HubSpotPermissionDeniedError)
    ):
        await client.get("deals", 3)
    assert len(seen.requests) == 1


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(502, text="<html><body>Bad Gateway</body></html>"), "HTTP 502 Bad Gateway (an HTML page"),
        (httpx.Response(500, text=""), "HTTP 500 Internal Server Error"),
    ],
)
async def test_html_or_empty_bodies_give_clean_errors(response: httpx.Response, message: str) -> None:
    """Proxy pages and empty bodies still give a ServerError with a readable message."""
    client, _, _ = make_client(lambda r: response)
    with pytest.raises(ServerError) as caught:
        await client.get("deals", 3)
    assert caught.value.message.startswith(message)


async def test_request_id_falls_back_to_the_correlation_header() -> None:
    """A body without `correlationId` takes the request id from `X-HubSpot-Correlation-Id`."""
    response = httpx.Response(404, json={"message": "nope"}, headers={"X-HubSpot-Correlation-Id": "hdr-1"})
    client, _, _ = make_client(lambda r: response)
    with pytest.raises(NotFoundError) as caught:
        await client.get("deals", 3)
    assert caught.value.request_id == "hdr-1"


# -- list paging ----------------------------------------------------------------------------------------------------


def paged(pages: dict[str, tuple[list[dict[str, Any]], str | None]]) -> Handler:
    """A list endpoint: `after` (or '' for the first page) → (rows, next after)."""

    def handler(request: httpx.Request) -> httpx.Response:
        rows, following = pages[request.url.params.get("after", "")]
        body: dict[str, Any] = {"results": rows}
        if following is not None:
            body["paging"] = {"next": {"after": following, "link": f"?after={following}"}}
        return ok(body)

    return handler


async def test_stream_follows_after_until_paging_is_absent() -> None:
    """Pages come in order; `limit`, `properties` and `archived` are sent on every page."""
    pages = {"": ([record(1), record(2)], "c2"), "c2": ([record(3)], "c3"), "c3": ([record(4)], None)}
    client, seen, _ = make_client(paged(pages))
    got = [page async for page in client.stream("companies", properties=["name", "domain"], page_size=2)]
    assert [[row["id"] for row in page] for page in got] == [["1", "2"], ["3"], ["4"]]
    assert [r.url.params.get("after") for r in seen.requests] == [None, "c2", "c3"]
    assert all(r.url.params["limit"] == "2" and r.url.params["properties"] == "name,domain" for r in seen.requests)
    assert seen.requests[0].url.params["archived"] == "false"


async def test_stream_fetches_one_page_at_a_time() -> None:
    """The next page is requested only when the caller asks for it."""
    client, seen, _ = make_client(paged({"": ([record(1)], "c2"), "c2": ([record(2)], None)}))
    pages = client.stream("companies")
    await pages.__anext__()
    assert len(seen.requests) == 1
    await pages.aclose()


async def test_stream_detects_a_cursor_loop() -> None:
    """A server that hands out the same `after` twice raises PaginationLoopError instead of looping."""
    client, _, _ = make_client(paged({"": ([record(1)], "c2"), "c2": ([record(2)], "c2")}))
    with pytest.raises(PaginationLoopError):
        _ = [page async for page in client.stream("companies")]


async def test_stream_refuses_page_sizes_over_100() -> None:
    """The list endpoint's maximum is 100 per page."""
    client, seen, _ = make_client(paged({}))
    with pytest.raises(ValueError, match="page_size"):
        _ = [page async for page in client.stream("companies", page_size=101)]
    assert seen.requests == []


# -- search and the 10,000 cap --------------------------------------------------------------------------------------

CAP = 10_000
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def iso(ms: int) -> str:
    return (datetime.fromtimestamp(ms / 1000, tz=UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_ms(value: str) -> int:
    return (
        int(value) if value.isdigit() else int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    )


class SearchServer:
    """A search endpoint over in-memory records that, like HubSpot, refuses to page past 10,000 results."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        after = int(body.get("after", "0"))
        if after >= CAP:
            return hs_error(400, "VALIDATION_ERROR", "Search results are limited to 10,000.")
        rows = [row for row in self.records if self._matches(row, body.get("filterGroups") or [])]
        sort = (body.get("sorts") or [{"propertyName": "hs_object_id"}])[0]["propertyName"]
        rows.sort(key=lambda row: (self._value(row, sort), int(row["id"])))
        page = rows[after : after + body["limit"]]
        answer: dict[str, Any] = {"total": len(rows), "results": page}
        if after + body["limit"] < len(rows):
            answer["paging"] = {"next": {"after": str(after + body["limit"])}}
        return ok(answer)

    def _value(self, row: dict[str, Any], name: str) -> int:
        value = row["properties"][name]
        return as_ms(value) if "date" in name else int(value)

    def _matches(self, row: dict[str, Any], groups: list[dict[str, Any]]) -> bool:
        tests = {"EQ": int.__eq__, "GT": int.__gt__, "GTE": int.__ge__, "LT": int.__lt__}
        return not groups or any(
            all(tests[f["operator"]](self._value(row, f["propertyName"]), self._value_of(f)) for f in group["filters"])
            for group in groups
        )

    @staticmethod
    def _value_of(flt: dict[str, Any]) -> int:
        return as_ms(flt["value"]) if "date" in flt["propertyName"] else int(flt["value"])


def companies(count: int, *, stamp: Callable[[int], int] = lambda n: 0) -> list[dict[str, Any]]:
    base = int(BASE_TIME.timestamp() * 1000)
    return [record(1000 + n * 3, hs_lastmodifieddate=iso(base + stamp(n)), tier="a") for n in range(count)]


async def test_search_reads_past_10000_by_restarting_after_the_last_id() -> None:
    """10,450 matches: every record arrives exactly once and no page past 10,000 is asked for."""
    server = SearchServer(companies(10_450))
    client, _, _ = make_client(server)
    groups = [{"filters": [{"propertyName": "hs_object_id", "operator": "GT", "value": "0"}]}]
    ids = [row["id"] async for page in client.search("companies", filter_groups=groups) for row in page]
    assert sorted(ids) == sorted(row["id"] for row in server.records)
    assert len(ids) == len(set(ids)) == 10_450
    assert all(int(body.get("after", "0")) < CAP for body in server.bodies)
    restart = next(body for body in server.bodies if len(body["filterGroups"][0]["filters"]) == 2)
    assert restart["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert restart["filterGroups"][0]["filters"][-1]["operator"] == "GT"
    assert "after" not in restart


async def test_search_with_sorts_keeps_them_below_the_cap() -> None:
    """Up to 10,000 matches, the caller's sort order is sent on every page."""
    server = SearchServer(companies(450))
    client, _, _ = make_client(server)
    sorts = [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    pages = [page async for page in client.search("companies", filter_groups=[], sorts=sorts, properties=["name"])]
    assert sum(len(page) for page in pages) == 450
    assert all(body["sorts"] == sorts and body["properties"] == ["name"] for body in server.bodies)


async def test_search_with_sorts_over_the_cap_switches_to_id_order() -> None:
    """A sorted search with more than 10,000 matches restarts in `hs_object_id` order; nothing repeats."""
    server = SearchServer(companies(10_200))
    client, _, _ = make_client(server)
    sorts = [{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}]
    ids = [row["id"] async for page in client.search("companies", filter_groups=[], sorts=sorts) for row in page]
    assert len(ids) == len(set(ids)) == 10_200


async def test_search_limits_are_checked_before_sending() -> None:
    """Six filter groups (or seven filters in a group) are refused before any request."""
    client, seen, _ = make_client(SearchServer([]))
    flt = {"propertyName": "tier", "operator": "EQ", "value": "1"}
    for groups in ([{"filters": [flt]}] * 6, [{"filters": [flt] * 7}]):
        with pytest.raises(ValueError, match="at most"):
            _ = [page async for page in client.search("deals", filter_groups=groups)]
    assert seen.requests == []


async def test_search_over_the_cap_without_room_for_one_more_filter_is_refused() -> None:
    """Groups already at 6 filters cannot take the `hs_object_id GT` filter: refused before yielding anything."""
    server = SearchServer(companies(10_050))
    client, _, _ = make_client(server)
    flt = {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}
    with pytest.raises(ValueError, match="one more filter"):
        _ = [page async for page in client.search("companies", filter_groups=[{"filters": [flt] * 6}])]
    assert len(server.bodies) == 1


async def test_search_pages_count_against_the_search_limit() -> None:
    """Search requests are paced at 5 per second (with a small margin) by their own limiter."""
    server = SearchServer(companies(2_000))
    client, _, clock = make_client(server)
    _ = [page async for page in client.search("companies", filter_groups=[], page_size=100)]
    assert len(server.bodies) == 20
    assert sum(clock.sleeps) == pytest.approx(3 * 1.05)


@pytest.mark.parametrize(("object_type", "stamp"), [("contacts", "lastmodifieddate"), ("deals", "hs_lastmodifieddate")])
async def test_modified_since_filters_and_sorts_on_the_types_own_property(object_type: str, stamp: str) -> None:
    """Contacts use `lastmodifieddate`, others `hs_lastmodifieddate`: GTE the epoch ms, ascending."""
    client, seen, _ = make_client(lambda r: ok({"total": 0, "results": []}))
    since = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    _ = [page async for page in client.search_modified_since(object_type, since, properties=["name"])]
    body = seen.bodies()[0]
    assert body["filterGroups"] == [{"filters": [{"propertyName": stamp, "operator": "GTE", "value": "1772366400000"}]}]
    assert body["sorts"] == [{"propertyName": stamp, "direction": "ASCENDING"}]
    assert body["properties"] == ["name", stamp]
    assert body["limit"] == 200


async def test_modified_since_reads_past_10000_in_change_order() -> None:
    """10,300 changes, 30 per instant (so the cap cuts through one): each arrives once, oldest first."""
    server = SearchServer(companies(10_300, stamp=lambda n: (n // 30) * 1000))
    client, _, _ = make_client(server)
    rows = [row async for page in client.search_modified_since("companies", BASE_TIME) for row in page]
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == 10_300
    stamps = [as_ms(row["properties"]["hs_lastmodifieddate"]) for row in rows]
    assert stamps == sorted(stamps)
    restarts = [body for body in server.bodies if "after" not in body][1:]
    assert [body["filterGroups"][0]["filters"][0] for body in restarts] == [
        {
            "propertyName": "hs_lastmodifieddate",
            "operator": "GTE",
            "value": str(int(BASE_TIME.timestamp() * 1000) + 333_000),
        }
    ]


async def test_modified_since_with_10000_changes_at_one_instant() -> None:
    """When more than 10,000 records share one instant, that instant is read by id; nothing is lost or repeated."""
    server = SearchServer(companies(10_120, stamp=lambda n: 5_000 if n < 10_100 else 9_000 + n))
    client, _, _ = make_client(server)
    ids = [row["id"] async for page in client.search_modified_since("companies", BASE_TIME) for row in page]
    assert len(ids) == len(set(ids)) == 10_120
    assert server.bodies[-1]["filterGroups"][0]["filters"][0]["operator"] == "GT"


async def test_modified_since_needs_an_aware_datetime() -> None:
    """A naive `since` is refused: the watermark must be an instant."""
    client, _, _ = make_client(SearchServer([]))
    with pytest.raises(ValueError, match="timezone-aware"):
        _ = [page async for page in client.search_modified_since("deals", datetime(2026, 1, 1))]


# -- batches --------------------------------------------------------------------------------------------------------


def echo_updates(request: httpx.Request) -> httpx.Response:
    inputs = json.loads(request.content)["inputs"]
    return ok({"status": "COMPLETE", "results": [record(item["id"], **item.get("properties", {})) for item in inputs]})


async def test_batches_are_chunked_at_100() -> None:
    """250 updates go out as 100, 100 and 50, and every input is matched to its result."""
    client, seen, _ = make_client(echo_updates)
    inputs = [{"id": str(n), "properties": {"name": f"c{n}"}} for n in range(250)]
    result = await client.batch_update("companies", inputs)
    assert [len(body["inputs"]) for body in seen.bodies()] == [100, 100, 50]
    assert result.ok
    assert len(result.by_index) == 250
    assert result.by_index[137]["properties"]["name"] == "c137"


async def test_batch_read_by_unique_property() -> None:
    """`batch_read` sends `idProperty` and properties, and leaves out values the 207 reports as missing."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        found = [record(9, email=item["id"]) for item in body["inputs"] if item["id"] != "gone@example.com"]
        errors = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some CONTACT objects",
                   "context": {"ids": ["gone@example.com"]}}]  # fmt: skip
        return ok({"status": "COMPLETE", "results": found, "numErrors": 1, "errors": errors}, status=207)

    client, seen, _ = make_client(handler)
    rows = await client.batch_read(
        "contacts", ["a@example.com", "gone@example.com"], properties=["email"], id_property="email"
    )
    assert [row["properties"]["email"] for row in rows] == ["a@example.com"]
    body = seen.bodies()[0]
    assert body["idProperty"] == "email"
    assert body["properties"] == ["email"]
    assert seen.requests[0].url.params["archived"] == "false"


async def test_partial_failure_maps_errors_back_to_their_inputs() -> None:
    """A 207 with `errors[].context.ids` fails exactly those inputs; the others keep their results."""

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        good = [record(item["id"]) for item in inputs if item["id"] not in ("3", "7")]
        errors = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "not found",
                   "context": {"ids": ["3", "7"]}}]  # fmt: skip
        return ok({"status": "COMPLETE", "results": good, "numErrors": 1, "errors": errors}, status=207)

    client, _, _ = make_client(handler)
    with capture_logs() as logs:
        result = await client.batch_update("deals", [{"id": str(n), "properties": {"amount": "1"}} for n in range(10)])
    assert [(failure.index, type(failure.error)) for failure in result.errors] == [
        (3, NotFoundError),
        (7, NotFoundError),
    ]
    assert result.errors[0].item == {"id": "3", "properties": {"amount": "1"}}
    assert sorted(result.by_index) == [0, 1, 2, 4, 5, 6, 8, 9]
    assert any(entry["event"] == "hs.batch_partial" for entry in logs)


async def test_batch_create_matches_results_and_errors_by_trace_id() -> None:
    """Each create input gets an `objectWriteTraceId`; results and 207 errors come back to the right input."""

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        results = [
            {**record(500 + n, **item["properties"]), "objectWriteTraceId": item["objectWriteTraceId"]}
            for n, item in enumerate(inputs)
            if item["properties"]["name"] != "bad"
        ][::-1]  # HubSpot does not promise input order
        errors = [
            {"status": "error", "category": "VALIDATION_ERROR", "message": 'Property "name" is invalid',
             "context": {"objectWriteTraceId": [item["objectWriteTraceId"]]}}
            for item in inputs if item["properties"]["name"] == "bad"
        ]  # fmt: skip
        return ok({"status": "COMPLETE", "results": results, "errors": errors}, status=207)

    client, seen, _ = make_client(handler)
    result = await client.batch_create("companies", [{"properties": {"name": n}} for n in ("a", "bad", "c")])
    traces = [item["objectWriteTraceId"] for item in seen.bodies()[0]["inputs"]]
    assert len(set(traces)) == 3
    assert {i: r["properties"]["name"] for i, r in result.by_index.items()} == {0: "a", 2: "c"}
    assert [(f.index, f.error.field) for f in result.errors] == [(1, "name")]


async def test_whole_batch_rejection_is_split_to_find_the_bad_input() -> None:
    """A 400 for the whole batch is bisected: the valid inputs are created, only the bad one fails."""

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        if any(item["properties"].get("dealstage") == "nope" for item in inputs):
            details = [
                {"message": "nope is not valid", "code": "INVALID_OPTION", "context": {"propertyName": ["dealstage"]}}
            ]
            return hs_error(400, "VALIDATION_ERROR", "Property values were not valid", errors=details)
        return ok({"results": [{**record(1), "objectWriteTraceId": i["objectWriteTraceId"]} for i in inputs]}, 201)

    client, seen, _ = make_client(handler)
    inputs = [
        {"properties": {"dealname": f"d{n}", "dealstage": "nope" if n == 5 else "appointmentscheduled"}}
        for n in range(8)
    ]
    with capture_logs() as logs:
        result = await client.batch_create("deals", inputs)
    assert sorted(result.by_index) == [0, 1, 2, 3, 4, 6, 7]
    assert [(f.index, f.error.field, f.error.code) for f in result.errors] == [(5, "dealstage", "INVALID_OPTION")]
    assert len(seen.requests) <= 1 + 2 * 3
    assert any(entry["event"] == "hs.batch_split" for entry in logs)


class ContactStore:
    """Contacts behind batch create and batch read by email; can lose the response of chosen create calls."""

    def __init__(self, *, lose: set[int], apply_before_losing: int | None = None) -> None:
        self.lose = lose
        self.apply_before_losing = apply_before_losing  # how many inputs of a lost call were applied (None: all)
        self.by_email: dict[str, dict[str, Any]] = {}
        self.create_calls: list[list[str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/batch/read"):
            found = [self.by_email[item["id"]] for item in body["inputs"] if item["id"] in self.by_email]
            return ok({"status": "COMPLETE", "results": found})
        call = len(self.create_calls)
        self.create_calls.append([item["properties"]["email"] for item in body["inputs"]])
        lost = call in self.lose
        applied = (
            body["inputs"][: self.apply_before_losing]
            if lost and self.apply_before_losing is not None
            else body["inputs"]
        )
        created = [self._create(item) for item in applied]
        if lost:
            return hs_error(502, None, "Bad Gateway")
        return ok({"status": "COMPLETE", "results": created}, 201)

    def _create(self, item: dict[str, Any]) -> dict[str, Any]:
        email = item["properties"]["email"]
        created = {**record(len(self.by_email) + 100, email=email), "objectWriteTraceId": item["objectWriteTraceId"]}
        self.by_email[email] = created
        return created


def contacts(count: int) -> list[dict[str, Any]]:
    return [{"properties": {"email": f"person{n}@example.com"}} for n in range(count)]


async def test_lost_batch_create_is_resolved_by_reading_the_match_property() -> None:
    """A 502 after the server created everything: found by email, nothing is created twice."""
    store = ContactStore(lose={0})
    client, _, _ = make_client(store)
    with capture_logs() as logs:
        result = await client.batch_create("contacts", contacts(5), match_property="email")
    assert len(store.create_calls) == 1
    assert len(store.by_email) == 5
    assert result.ok
    assert sorted(result.by_index) == [0, 1, 2, 3, 4]
    assert result.by_index[3]["properties"]["email"] == "person3@example.com"
    assert [e["event"] for e in logs if e["event"].startswith("hs.create")] == [
        "hs.create_ambiguous",
        "hs.create_resolved",
    ]


async def test_lost_batch_create_re_sends_only_the_missing_inputs() -> None:
    """A 502 after the server applied 2 of 5: only the 3 missing inputs are sent again."""
    store = ContactStore(lose={0}, apply_before_losing=2)
    client, _, _ = make_client(store)
    result = await client.batch_create("contacts", contacts(5), match_property="email")
    assert store.create_calls[1] == ["person2@example.com", "person3@example.com", "person4@example.com"]
    assert len(store.by_email) == 5
    assert sorted(result.by_index) == [0, 1, 2, 3, 4]


async def test_lost_batch_create_without_match_property_is_ambiguous() -> None:
    """Without `match_property` a lost chunk is never re-sent: the error names its inputs and keeps earlier results."""
    store = ContactStore(lose={1})
    client, _, _ = make_client(store)
    with pytest.raises(AmbiguousBatchWriteError) as caught:
        await client.batch_create("contacts", contacts(250))
    error = caught.value
    assert len(store.create_calls) == 2
    assert error.indices == list(range(100, 200))
    assert error.unsent == list(range(200, 250))
    assert len(error.completed.by_index) == 100
    assert "match_property" in (error.hint or "")


async def test_match_property_must_have_a_value_in_every_input() -> None:
    """An input without the match property is refused before anything is sent."""
    client, seen, _ = make_client(ContactStore(lose=set()))
    with pytest.raises(ValueError, match="match_property"):
        await client.batch_create("contacts", [{"properties": {"firstname": "x"}}], match_property="email")
    assert seen.requests == []


async def test_single_create_lost_then_found() -> None:
    """A lost single create with `match_property` returns the record it did create."""
    created = record(77, email="x@example.com")
    answers = iter([hs_error(500, None, "oops"), ok({"results": [created]})])
    client, seen, _ = make_client(lambda r: next(answers))
    spec = association_spec(9001, 279)
    assert (
        await client.create("contacts", {"email": "x@example.com"}, associations=[spec], match_property="email")
        == created
    )
    assert seen.paths == ["/crm/v3/objects/contacts", "/crm/v3/objects/contacts/batch/read"]
    assert seen.bodies()[0]["associations"] == [
        {"to": {"id": "9001"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}
    ]


async def test_archive_batch_accepts_204() -> None:
    """Archive accepts a 204."""
    client, _, _ = make_client(lambda r: httpx.Response(204))
    assert (await client.batch_archive("companies", [1, 2])).ok


# -- single writes, properties, associations, owners, access ---------------------------------------------------------


async def test_update_and_archive() -> None:
    """PATCH sends `{"properties": ...}`; DELETE's 404 after a lost attempt counts as done."""
    answers = iter([ok(record(5, name="n")), hs_error(503, None, "down"), hs_error(404, None, "gone")])
    client, seen, _ = make_client(lambda r: next(answers))
    assert (await client.update("companies", 5, {"name": "n"}))["properties"]["name"] == "n"
    await client.archive("companies", 5)
    assert [r.method for r in seen.requests] == ["PATCH", "DELETE", "DELETE"]


@pytest.mark.parametrize(
    ("data_type", "field_type", "options", "message"),
    [
        ("string", "select", None, "does not go with"),
        ("enumeration", "text", None, "does not go with"),
        ("enumeration", "select", None, "needs options"),
        ("number", "date", None, "does not go with"),
        ("money", "number", None, "not one of"),
        ("enumeration", "select", [{"value": "x"}], "label and a value"),
    ],
)
async def test_property_type_and_field_type_are_checked_before_sending(
    data_type: str, field_type: str, options: list[dict[str, Any]] | None, message: str
) -> None:
    """Invalid type/fieldType pairs (and enumerations without usable options) raise ValueError, no request."""
    client, seen, _ = make_client(lambda r: ok({}))
    with pytest.raises(ValueError, match=message):
        await client.create_property(
            "companies", name="cw_tier", label="Tier", type=data_type, field_type=field_type,
            group_name="cwsync", options=options,
        )  # fmt: skip
    assert seen.requests == []


async def test_valid_property_is_created_with_ordered_options() -> None:
    """A valid enumeration is sent with `hidden`/`displayOrder` filled in (2026-03 requires displayOrder)."""
    client, seen, _ = make_client(lambda r: ok({"name": "cw_tier"}, 201))
    options = [{"label": "Gold", "value": "gold"}, {"label": "Silver", "value": "silver"}]
    await client.create_property(
        "companies", name="cw_tier", label="Tier", type="enumeration", field_type="select",
        group_name="cwsync", options=options, has_unique_value=False,
    )  # fmt: skip
    body = seen.bodies()[0]
    assert body["type"] == "enumeration"
    assert body["fieldType"] == "select"
    assert body["groupName"] == "cwsync"
    assert body["options"][1] == {"label": "Silver", "value": "silver", "hidden": False, "displayOrder": 1}


async def test_batch_read_associations_follows_paging_per_record() -> None:
    """Association ids (numbers on the wire) come back as strings, per record, across pages."""

    def handler(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        if inputs == [{"id": "1"}, {"id": "2"}, {"id": "3"}]:
            more = {"next": {"after": "p2"}}
            return ok({"results": [
                {"from": {"id": "1"}, "to": [{"toObjectId": 11, "associationTypes": []}], "paging": more},
                {"from": {"id": "2"}, "to": [{"toObjectId": 21, "associationTypes": []}]},
            ]})  # fmt: skip
        assert inputs == [{"id": "1", "after": "p2"}]
        return ok({"results": [{"from": {"id": "1"}, "to": [{"toObjectId": "12"}, {"toObjectId": 11}]}]})

    client, _, _ = make_client(handler)
    linked = await client.batch_read_associations("contacts", "companies", [1, 2, 3])
    assert linked == {"1": ["11", "12"], "2": ["21"], "3": []}


async def test_owners_are_paged_and_pipelines_listed() -> None:
    """Owners follow `after`; pipelines return their `results`."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/crm/v3/pipelines"):
            return ok({"results": [{"id": "default", "stages": []}]})
        after = request.url.params.get("after")
        return ok(
            {"results": [{"id": "o2"}]} if after else {"results": [{"id": "o1"}], "paging": {"next": {"after": "n"}}}
        )

    client, _, _ = make_client(handler)
    assert [owner["id"] for owner in await client.owners()] == ["o1", "o2"]
    assert (await client.pipelines())[0]["id"] == "default"


async def test_check_access_names_every_missing_scope() -> None:
    """`check_access` reads each type and raises one permission error listing all missing scopes."""

    def handler(request: httpx.Request) -> httpx.Response:
        kind = request.url.path.rsplit("/", 1)[-1]
        if kind == "companies":
            return ok({"results": []})
        details = [{"message": "scopes", "context": {"requiredScopes": [f"crm.objects.{kind}.read"]}}]
        return hs_error(403, "MISSING_SCOPES", "missing scopes", errors=details)

    client, _, _ = make_client(handler)
    with pytest.raises(HubSpotPermissionDeniedError) as caught:
        await client.check_access()
    assert caught.value.missing_scopes == ["crm.objects.contacts.read", "crm.objects.deals.read"]


async def test_check_access_with_a_bad_token() -> None:
    """A refused token stops `check_access` at the first call with an AuthenticationError."""
    client, seen, _ = make_client(
        lambda r: hs_error(401, "INVALID_AUTHENTICATION", "Authentication credentials not found.")
    )
    with pytest.raises(AuthenticationError):
        await client.check_access()
    assert len(seen.requests) == 1


async def test_owned_http_client_is_closed_and_passed_one_is_not() -> None:
    """The client closes only an httpx client it created itself."""
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: ok({})))
    async with HubSpotClient(HubSpotSettings(token=TOKEN), http=http):
        pass
    assert not http.is_closed
    async with HubSpotClient(HubSpotSettings(token=TOKEN)) as owned:
        inner = owned._http
    assert inner.is_closed


@given(
    base=st.sampled_from(["https://api.hubapi.com", "http://127.0.0.1:8080/hubspot", "https://proxy.example/a%20b"]),
    path=st.text(alphabet="abc/-_.%20?=&é ", max_size=30),
)
def test_a_request_goes_to_the_url_its_text_names(base: str, path: str) -> None:
    """The parsed URL kept per path is the URL httpx made of the same text for every request."""
    client, _, _ = make_client(lambda request: ok())
    client.settings = client.settings.model_copy(update={"base_url": base})
    http, text = client._http, f"{base}/{path.lstrip('/')}"
    for _ in range(2):  # parsed, then kept
        assert str(http.build_request("POST", client._url(path)).url) == str(http.build_request("POST", text).url)


async def test_parsed_urls_are_kept_for_a_bounded_number_of_paths() -> None:
    client, recorder, _ = make_client(lambda request: ok({"id": "1", "properties": {}}))
    for n in range(300):
        await client.get("contacts", n)
    assert [r.url.path for r in recorder.requests[-2:]] == [
        "/crm/v3/objects/contacts/298",
        "/crm/v3/objects/contacts/299",
    ]
    assert len(client._urls) == 256
