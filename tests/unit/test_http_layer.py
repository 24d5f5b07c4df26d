"""The shared HTTP layer: executor retries, error mapping, limits, paging, logging; driven via MockTransport."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections.abc import Callable, Coroutine

import httpx
import pytest
from structlog.testing import capture_logs

from cwsync.connectors.http import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    CwsyncApiError,
    FatalError,
    HttpApi,
    NotFoundError,
    PaginationLoopError,
    Paginator,
    PermissionDeniedError,
    RateLimitedError,
    RecordError,
    RequestLimits,
    RetriableError,
    RetryPolicy,
    ServerError,
    SleepRecorder,
    TransportError,
    ValidationError,
    error_for_status,
    json_of,
    next_link,
    parse_retry_after,
    redact_url,
)
from cwsync.connectors.http.bodies import PAUSE_FROM

URL = "https://api.example.com/v1/things"
Handler = Callable[[httpx.Request], httpx.Response] | Callable[[httpx.Request], Coroutine[None, None, httpx.Response]]


def simple_errors(response: httpx.Response) -> CwsyncApiError:
    """A minimal connector error parser: the status picks the class, the body is the message."""
    return error_for_status(
        response.status_code,
        response.text or "empty",
        request_id=response.headers.get("x-request-id"),
        method=response.request.method,
        url=redact_url(response.request.url),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def make_api(handler: Handler, *, limits: RequestLimits | None = None) -> tuple[HttpApi, SleepRecorder]:
    sleep = SleepRecorder()
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    api = HttpApi(
        client, error_from_response=simple_errors, retry=RetryPolicy(jitter=False), limits=limits, sleep=sleep
    )
    return api, sleep


def scripted(*outcomes: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering each request with the next outcome (raising it when it is an exception)."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        outcome = outcomes[min(len(seen), len(outcomes)) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return handle, seen


OK = httpx.Response(200, json={"ok": True})


async def test_429_then_success_waits_retry_after() -> None:
    """A 429 is retried after exactly the Retry-After the server asked for."""
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": "7"}), OK)
    api, sleep = make_api(handler)
    response = await api.send("GET", URL)
    assert response.json() == {"ok": True}
    assert len(seen) == 2
    assert sleep.delays == [7.0]


async def test_503_twice_then_success() -> None:
    """5xx responses are retried with growing backoff until one succeeds."""
    handler, seen = scripted(httpx.Response(503), httpx.Response(503), OK)
    api, sleep = make_api(handler)
    assert (await api.send("GET", URL)).status_code == 200
    assert len(seen) == 3
    assert sleep.delays == [0.25, 0.5]


async def test_gives_up_after_the_policy_and_reports_attempts() -> None:
    """A persistent 500 is tried `attempts` times; the final error says how many."""
    handler, seen = scripted(httpx.Response(500, text="boom"))
    api, sleep = make_api(handler)
    with pytest.raises(ServerError) as caught:
        await api.send("GET", URL)
    assert len(seen) == 6
    assert len(sleep.delays) == 5
    assert caught.value.attempts == 6


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, ValidationError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (405, RecordError),
    ],
)
async def test_4xx_is_mapped_and_not_retried(status: int, kind: type[CwsyncApiError]) -> None:
    """Client errors raise their class at once, carrying status, request id, method and URL."""
    handler, seen = scripted(httpx.Response(status, text="nope", headers={"x-request-id": "r-1"}))
    api, sleep = make_api(handler)
    with pytest.raises(kind) as caught:
        await api.send("PUT", URL, json={"a": 1})
    assert type(caught.value) is kind
    assert (caught.value.status, caught.value.request_id) == (status, "r-1")
    assert (caught.value.method, caught.value.url) == ("PUT", URL)
    assert len(seen) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected without sending a response"),
        httpx.ReadError("connection reset by peer"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_transport_errors_are_retried_for_idempotent_requests(exc: Exception) -> None:
    """Timeouts and dropped/refused connections on a GET are retried."""
    handler, seen = scripted(exc, OK)
    api, sleep = make_api(handler)
    assert (await api.send("GET", URL)).status_code == 200
    assert len(seen) == 2
    assert sleep.delays == [0.25]


async def test_transport_error_is_mapped_with_a_clean_url() -> None:
    """An exhausted transport failure becomes TransportError, without credentials in its URL."""
    handler, _ = scripted(httpx.ReadTimeout("read timed out"))
    api, _sleep = make_api(handler)
    with pytest.raises(TransportError) as caught:
        await api.send("GET", "https://user:s3cret@api.example.com/v1/things")
    assert caught.value.url == URL
    assert caught.value.reached_server is True
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in repr(caught.value)
    assert isinstance(caught.value, RetriableError)


@pytest.mark.parametrize(
    "outcome",
    [httpx.Response(503), httpx.ReadTimeout("read timed out"), httpx.RemoteProtocolError("dropped")],
    ids=["503", "ReadTimeout", "RemoteProtocolError"],
)
async def test_post_is_not_retried_when_it_may_have_been_processed(outcome: httpx.Response | Exception) -> None:
    """A POST that reached the server and failed ambiguously is handed back after one attempt."""
    handler, seen = scripted(outcome, OK)
    api, sleep = make_api(handler)
    with pytest.raises(RetriableError):
        await api.send("POST", URL, json={"a": 1})
    assert len(seen) == 1
    assert sleep.delays == []


@pytest.mark.parametrize(
    "outcome",
    [httpx.Response(429, headers={"Retry-After": "1"}), httpx.ConnectError("refused"), httpx.ConnectTimeout("t")],
    ids=["429", "ConnectError", "ConnectTimeout"],
)
async def test_post_is_retried_when_it_surely_was_not_processed(outcome: httpx.Response | Exception) -> None:
    """A POST is resent after a 429 or when the connection was never made."""
    handler, seen = scripted(outcome, OK)
    api, _sleep = make_api(handler)
    assert (await api.send("POST", URL, json={"a": 1})).status_code == 200
    assert len(seen) == 2


async def test_retry_unsafe_allows_retrying_a_post() -> None:
    """`retry_unsafe=True` (e.g. a search POST) retries like a GET."""
    handler, seen = scripted(httpx.Response(502), OK)
    api, _sleep = make_api(handler)
    assert (await api.send("POST", URL, json={}, retry_unsafe=True)).status_code == 200
    assert len(seen) == 2


async def test_unsupported_scheme_is_a_configuration_error() -> None:
    """A URL httpx cannot speak (no http/https) is a fatal configuration error, not a retry."""
    handler, seen = scripted(httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."))
    api, sleep = make_api(handler)
    with pytest.raises(ConfigurationError):
        await api.send("GET", "ftp://api.example.com/x")
    assert len(seen) == 1
    assert sleep.delays == []


async def test_retry_is_logged_as_an_event_without_credentials() -> None:
    """Each retry logs `http.retry` with attempt, delay and status; headers never reach the log."""
    handler, _ = scripted(httpx.Response(503), OK)
    api, _sleep = make_api(handler)
    with capture_logs() as logs:
        await api.send("GET", URL, headers={"Authorization": "Basic c2VjcmV0"})
    retries = [entry for entry in logs if entry["event"] == "http.retry"]
    assert len(retries) == 1
    assert {k: retries[0][k] for k in ("attempt", "delay", "status")} == {"attempt": 1, "delay": 0.25, "status": 503}
    assert "c2VjcmV0" not in repr(logs)


async def test_concurrency_cap_is_honoured() -> None:
    """No more than `max_concurrency` requests are in flight at once, and the cap is actually reached."""
    cap, total = 2, 6
    in_flight = peak = 0
    reached_cap = asyncio.Event()
    first_release, release_all = asyncio.Event(), asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == cap:
            reached_cap.set()
        await (first_release if request.url.params["n"] == "0" else release_all).wait()
        in_flight -= 1
        return OK

    api, _sleep = make_api(handle, limits=RequestLimits(max_concurrency=cap, requests_per_minute=None))
    tasks = [asyncio.create_task(api.send("GET", URL, params={"n": str(n)})) for n in range(total)]
    await reached_cap.wait()
    first_release.set()  # let one finish; every other task has had many turns to (wrongly) get in meanwhile
    await tasks[0]
    assert peak == cap
    release_all.set()
    responses = await asyncio.gather(*tasks)
    assert [r.status_code for r in responses] == [200] * total
    assert peak == cap


def test_request_limits_reject_nonsense() -> None:
    """Limits must allow at least one request; `requests_per_minute=None` switches the rate limit off."""
    assert RequestLimits(requests_per_minute=None).requests_per_minute is None
    with pytest.raises(ValueError, match="max_concurrency"):
        RequestLimits(max_concurrency=0)
    with pytest.raises(ValueError, match="requests_per_minute"):
        RequestLimits(requests_per_minute=0)


def test_error_tree_groups_errors_by_what_to_do() -> None:
    """Each error class sits under fatal, retriable or record-level."""
    assert issubclass(ConfigurationError, FatalError)
    assert issubclass(AuthenticationError, FatalError)
    assert issubclass(PermissionDeniedError, FatalError)
    assert issubclass(PaginationLoopError, FatalError)
    assert issubclass(RateLimitedError, RetriableError)
    assert issubclass(ServerError, RetriableError)
    assert issubclass(TransportError, RetriableError)
    assert issubclass(ValidationError, RecordError)
    assert issubclass(NotFoundError, RecordError)
    assert issubclass(ConflictError, RecordError)
    assert all(issubclass(k, CwsyncApiError) for k in (FatalError, RetriableError, RecordError))


def test_error_text_carries_the_details() -> None:
    """`str()` shows where, status, code, field, request id and the hint; `message` stays the bare message."""
    error = ValidationError(
        "name is required",
        status=400,
        code="InvalidObject",
        field="name",
        request_id="abc",
        method="POST",
        url=URL,
        hint="Fill in the name.",
        errors=[{"field": "name"}],
    )
    assert error.message == "name is required"
    assert str(error) == (
        f"POST {URL}: name is required (HTTP 400, InvalidObject, field name, request id abc). Fill in the name."
    )
    assert error.errors == [{"field": "name"}]


def test_with_details_copies_without_touching_the_original() -> None:
    """`with_details` returns a changed copy of the same class, keeping the other attributes."""
    original = TransportError("refused", reached_server=False, url=URL)
    hinted = original.with_details(hint="Check the host.")
    assert (type(hinted), hinted.hint, hinted.url, hinted.reached_server) == (
        TransportError,
        "Check the host.",
        URL,
        False,
    )
    assert original.hint is None
    with pytest.raises(AttributeError):
        original.with_details(colour="red")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, ValidationError), (429, RateLimitedError), (500, ServerError), (504, ServerError), (418, RecordError)],
)
def test_error_for_status_picks_the_class(status: int, kind: type[CwsyncApiError]) -> None:
    """The status alone picks the class; 429 keeps its retry_after."""
    error = error_for_status(status, "x", retry_after=3.0)
    assert type(error) is kind
    if isinstance(error, RateLimitedError):
        assert error.retry_after == 3.0


def test_paginator_walks_and_detects_loops() -> None:
    """The paginator moves through new tokens, ends on None, and refuses a token it has seen."""
    pages: Paginator[int] = Paginator(1)
    pages.advance(2)
    pages.advance(3)
    assert (pages.current, pages.has_more, pages.pages_read) == (3, True, 2)
    with pytest.raises(PaginationLoopError, match="looped"):
        pages.advance(2)
    done: Paginator[str] = Paginator("start")
    done.advance(None)
    assert not done.has_more


def test_next_link_reads_rel_next() -> None:
    """`next_link` returns the rel="next" URL of a Link header, or None."""
    link = '<https://x/things?page=3>; rel="next", <https://x/things?page=9>; rel="last"'
    assert next_link(httpx.Response(200, headers={"link": link})) == "https://x/things?page=3"
    assert next_link(httpx.Response(200, headers={"link": '<https://x/t?page=1>; rel="first"'})) is None
    assert next_link(httpx.Response(200)) is None


async def test_before_send_runs_inside_the_concurrency_slot_for_every_attempt() -> None:
    """A pacer hook runs when a request is about to leave: after a slot is free, and again for a retry."""
    events: list[str] = []
    release = asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        n = request.url.params["n"]
        events.append(f"send {n}")
        if n == "0":
            await release.wait()
        if n == "1" and events.count("send 1") == 1:
            return httpx.Response(503)
        return OK

    async def before_send() -> None:
        events.append("book")

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    api = HttpApi(
        client,
        error_from_response=simple_errors,
        retry=RetryPolicy(jitter=False),
        limits=RequestLimits(max_concurrency=1, requests_per_minute=None),
        sleep=SleepRecorder(),
        before_send=before_send,
    )
    first = asyncio.create_task(api.send("GET", URL, params={"n": "0"}))
    second = asyncio.create_task(api.send("GET", URL, params={"n": "1"}))
    for _ in range(20):  # let the second request queue behind the cap
        await asyncio.sleep(0)
    assert events == ["book", "send 0"]  # not booked while it waits for the slot
    release.set()
    await asyncio.gather(first, second)
    assert events == ["book", "send 0", "book", "send 1", "book", "send 1"]


async def test_what_before_send_returns_is_called_once_the_answer_or_the_failure_is_in() -> None:
    """A pacer counts a request until its answer: the callable `before_send` returns runs after each attempt, the
    failed ones (an error status, a refused connection) included."""
    events: list[str] = []

    async def handle(request: httpx.Request) -> httpx.Response:
        n = request.url.params["n"]
        events.append(f"answer {n}")
        if n == "refused":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(404) if n == "missing" else OK

    async def before_send() -> Callable[[], None]:
        events.append("book")
        return lambda: events.append("done")

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    api = HttpApi(
        client,
        error_from_response=simple_errors,
        retry=RetryPolicy(attempts=1, jitter=False),
        sleep=SleepRecorder(),
        before_send=before_send,
    )
    await api.send("GET", URL, params={"n": "ok"})
    with pytest.raises(CwsyncApiError):
        await api.send("GET", URL, params={"n": "missing"})
    with pytest.raises(CwsyncApiError):
        await api.send("GET", URL, params={"n": "refused"})
    assert events == [step for n in ("ok", "missing", "refused") for step in ("book", f"answer {n}", "done")]


# -- bodies -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("application/json", '[{"name": "Café Ünïcode", "id": 9007199254740993}]'.encode()),
        ("application/json; charset=utf-8", '[{"name": "Café Ünïcode", "id": 9007199254740993}]'.encode()),
        (
            "application/json; charset=iso-8859-1",
            '[{"name": "Café Ünïcode", "id": 9007199254740993}]'.encode("iso-8859-1"),
        ),
    ],
    ids=["no charset", "utf-8", "latin-1"],
)
def test_json_bodies_decode_in_their_charset_with_exact_integers(content_type: str, raw: bytes) -> None:
    """UTF-8 (declared or not) goes through orjson, another declared charset through its text; integers stay exact
    past 2**53."""
    response = httpx.Response(200, content=raw, headers={"content-type": content_type})
    assert json_of(response) == [{"name": "Café Ünïcode", "id": 9007199254740993}]


@pytest.mark.parametrize("raw", [b"<html>login</html>", b"", b"[1, 2", b"\xff\xfe[]"])
def test_a_body_that_is_not_json_is_a_decode_error(raw: bytes) -> None:
    """A `ValueError` (what the clients catch to report "a body that is not JSON"), from either decoder."""
    with pytest.raises(json.JSONDecodeError):
        json_of(httpx.Response(200, content=raw, headers={"content-type": "application/json"}))


async def test_a_read_response_is_freed_by_reference_counting() -> None:
    """httpx's response and its stream refer to each other: the layer breaks that once the body is read, so a
    response (a 2 MB page) is freed when its last user drops it, not when the cyclic collector next runs."""
    api, _ = make_api(lambda request: httpx.Response(200, json=[{"id": n} for n in range(1000)]))
    gc.disable()
    try:
        response = await api.send("GET", URL)
        assert response.json()[-1] == {"id": 999}
        freed = weakref.ref(response)
        del response
        assert freed() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("size", [10, PAUSE_FROM + 10])
def test_the_collector_runs_again_after_a_body_is_decoded(size: int) -> None:
    """A large body is decoded with the collector paused and a small one as it comes; either way it is on again
    after (and an error does not leave it off)."""
    body = b'["' + b"x" * size + b'"]'
    assert json_of(httpx.Response(200, content=body, headers={"content-type": "application/json"})) == ["x" * size]
    assert gc.isenabled()
    with pytest.raises(json.JSONDecodeError):
        json_of(httpx.Response(200, content=body[:-1], headers={"content-type": "application/json"}))
    assert gc.isenabled()


def test_a_collector_the_process_turned_off_stays_off() -> None:
    """cwsync never turns on a collector it found off."""
    body = b"[" + b"1," * PAUSE_FROM + b"1]"
    gc.disable()
    try:
        assert len(json_of(httpx.Response(200, content=body))) == PAUSE_FROM + 1
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_no_collection_runs_while_a_large_body_is_decoded() -> None:
    """A page of records is tens of thousands of containers, all alive: no collection runs while it is decoded."""
    body = b"[" + b",".join(b'{"id": %d, "tags": [1, 2]}' % i for i in range(20_000)) + b"]"
    collections: list[str] = []

    def seen(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(phase)

    gc.callbacks.append(seen)
    try:
        rows = json_of(httpx.Response(200, content=body))
    finally:
        gc.callbacks.remove(seen)
    assert len(rows) == 20_000
    assert collections == []
