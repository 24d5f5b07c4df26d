"""The attack corpus of issue 20 against `cwsync serve`: each case used to be a 500, a dropped connection, a body
read in full or a poison job; each now answers 2xx/4xx with a JSON error and queues nothing."""

from __future__ import annotations

import asyncio
import http.client
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.server.security import page_csp
from cwsync_sandbox.server import base_url_of, bind, make_server
from tests.fuzz.harness import API, AUTH, BOGUS_SIGNATURE, HOOK, Edge, edge

NON_ASCII_BEARER = {"Authorization": b"Bearer \xff\xfe\xc3\x28"}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Edge]:
    async with edge(tmp_path) as e:
        yield e


def _refusal(r: httpx.Response, status: int, error: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, dict)
    if error is not None:
        assert body["error"] == error
    return body


def _api_gets(site: Edge) -> list[str]:
    """One concrete URL per GET route under /api (path parameters filled in)."""
    urls = []
    for route in site.app._transport.app.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        if path.startswith("/api/") and "GET" in getattr(route, "methods", set()) and path != "/api/health":
            urls.append(path.replace("{run_id}", "1").replace("{", "").replace("}", ""))
    return urls


# --- 500s before authentication ------------------------------------------------------------------------------


async def test_non_ascii_bearer_is_401_on_every_route(site: Edge) -> None:
    """`Authorization: Bearer` + non-ASCII bytes was a 500 on every route (compare_digest on str)."""
    urls = _api_gets(site)
    assert len(urls) > 10
    for url in urls:
        r = await site.app.get(url, headers=NON_ASCII_BEARER)
        assert r.status_code == 401, (url, r.status_code, r.text)
    r = await site.app.post("/api/sync", headers=NON_ASCII_BEARER)
    assert r.status_code == 401


@pytest.mark.loopback
async def test_non_ascii_bearer_keeps_the_connection_over_real_http(site: Edge) -> None:
    """Over a real socket the 500 also dropped the keep-alive connection; now 401 and the connection serves on."""
    sock = bind("127.0.0.1", 0)
    uv = make_server(site.app._transport.app)  # type: ignore[attr-defined]
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    try:
        deadline = asyncio.get_running_loop().time() + 15
        while not uv.started:
            assert asyncio.get_running_loop().time() < deadline, "uvicorn did not start"
            assert not task.done(), "uvicorn stopped"
            await asyncio.sleep(0.01)
        host, port = base_url_of(sock).removeprefix("http://").split(":")
        first, second = await asyncio.to_thread(_two_requests_on_one_connection, host, int(port))
        assert first == (401, False)  # refused, and the server did not ask to close
        assert second == (200, False)
    finally:
        uv.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


def _two_requests_on_one_connection(host: str, port: int) -> tuple[tuple[int, bool], tuple[int, bool]]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.putrequest("GET", "/api/runs")
        conn.putheader("Authorization", b"Bearer \xff\xfe")
        conn.endheaders()
        r1 = conn.getresponse()
        r1.read()
        first = (r1.status, r1.will_close)
        sock = conn.sock
        conn.request("GET", "/api/runs", headers={"Authorization": f"Bearer {API}"})
        r2 = conn.getresponse()
        r2.read()
        assert conn.sock is sock, "the client had to reconnect"
        return first, (r2.status, r2.will_close)
    finally:
        conn.close()


async def test_non_ascii_callback_token_is_404(site: Edge) -> None:
    """A callback token that is not ASCII was a TypeError in compare_digest."""
    before = await site.queued()
    r = await site.app.post("/hooks/connectwise/default/%C3%A9t%C3%A9", content=site.callback())
    assert r.status_code == 404
    assert await site.queued() == before


async def test_huge_hubspot_timestamp_is_401(site: Edge) -> None:
    """A 5,000-digit `x-hubspot-request-timestamp` was a 500 (int conversion limit)."""
    headers = {"x-hubspot-signature-v3": BOGUS_SIGNATURE, "x-hubspot-request-timestamp": "9" * 5000}
    _refusal(await site.app.post("/hooks/hubspot", content=b"[]", headers=headers), 401, "bad_timestamp")
    superscripts = {**headers, "x-hubspot-request-timestamp": b"\xb2\xb3"}  # "²³" in Latin-1: isdigit(), not int()
    _refusal(await site.app.post("/hooks/hubspot", content=b"[]", headers=superscripts), 401, "bad_timestamp")


@pytest.mark.parametrize("signature", ["bogus", BOGUS_SIGNATURE])
async def test_deep_callback_with_bogus_signature_is_refused(site: Edge, signature: str) -> None:
    """A 100,000-deep callback body with a bogus signature was a RecursionError: the body was parsed (to find
    `key_url`) before the signature was checked. A malformed signature is now refused before the body is read; a
    well-formed one only after a bounded parse."""
    body = b"[" * 100_000 + b"]" * 100_000
    r = await site.app.post(HOOK, content=body, headers={"x-content-signature": signature})
    assert r.status_code in (400, 401), r.text
    assert r.json()["error"] in ("bad_signature", "body_not_json")
    assert await site.queued() == 0


# --- body size ---------------------------------------------------------------------------------------------


async def test_huge_declared_webhook_body_is_refused_before_reading(site: Edge) -> None:
    """A 100 MB webhook body was read in full before it was refused; a declared length over the limit is refused
    before a byte is read."""
    consumed = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal consumed
        for _ in range(100 * 16):  # 100 MB in 64 KB chunks
            consumed += 1
            yield b"x" * 65536

    headers = {"content-length": str(100 * 1024 * 1024), "x-content-signature": BOGUS_SIGNATURE}
    r = await site.app.post(HOOK, content=body(), headers=headers)
    _refusal(r, 413, "body_too_large")
    assert consumed <= 1


async def test_huge_streamed_webhook_body_stops_at_the_limit(site: Edge) -> None:
    """Without a Content-Length, reading stops as soon as the body passes the webhook limit (256 KiB)."""
    consumed = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal consumed
        for _ in range(100 * 16):
            consumed += 1
            yield b"x" * 65536

    r = await site.app.post("/hooks/hubspot", content=body(), headers={"transfer-encoding": "chunked"})
    _refusal(r, 413, "body_too_large")
    assert consumed <= 256 * 1024 // 65536 + 2


async def test_api_bodies_have_their_own_larger_limit(site: Edge) -> None:
    """A 512 KiB API body is over the webhook limit but within the API's (1 MiB); 2 MiB is refused."""
    quote = {"external_id": "q", "company": "x", "contact": "y", "lines": [{"product": "p", "quantity": 1}]}
    quote["notes"] = "n" * (512 * 1024)
    r = await site.app.post("/api/quotes", json=quote, headers=AUTH, params={"plan": "true"})
    assert r.status_code != 413
    quote["notes"] = "n" * (2 * 1024 * 1024)
    _refusal(await site.app.post("/api/quotes", json=quote, headers=AUTH), 413, "body_too_large")


async def test_limits_are_configurable(tmp_path: Path) -> None:
    """`server.limits.webhook_body_bytes` sets the webhook limit."""
    async with edge(tmp_path, limits={"webhook_body_bytes": 2048}) as small:
        r = await small.app.post("/hooks/hubspot", content=b" " * 4096, headers=small.hs_headers(b" " * 4096))
        _refusal(r, 413, "body_too_large")


# --- poison jobs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("object_id", [{"x": 1}, -5, 0, 10**30, "12a", True, 1.5])
async def test_signed_hubspot_event_with_bad_object_id_queues_nothing(site: Edge, object_id: Any) -> None:
    """A signed event with `"objectId": {"x": 1}` queued a job that failed five times."""
    event = {"eventId": 1, "subscriptionType": "contact.propertyChange", "objectId": object_id, "occurredAt": 1}
    body = json.dumps([event]).encode()
    r = await site.app.post("/hooks/hubspot", content=body, headers=site.hs_headers(body))
    assert r.status_code in (204, 400), r.text  # 10**30 is refused by the JSON limits (400), the rest skipped
    assert await site.queued() == 0


async def test_signed_hubspot_event_with_good_object_id_queues_a_job(site: Edge) -> None:
    """The same event with a valid id still queues its record job (the fix refuses only bad ids)."""
    event = {"eventId": 2, "subscriptionType": "contact.propertyChange", "objectId": 51, "occurredAt": 1}
    body = json.dumps([event]).encode()
    r = await site.app.post("/hooks/hubspot", content=body, headers=site.hs_headers(body))
    assert r.status_code == 204
    assert await site.queued() == 1


@pytest.mark.parametrize("record_id", [10**30, -5, 0, 2**31, "٣"])
async def test_signed_callback_with_out_of_range_id_queues_nothing(site: Edge, record_id: Any) -> None:
    """A signed callback with `ID` 10^30 or −5 queued a job."""
    body = site.callback(ID=record_id)
    r = await site.app.post(HOOK, content=body, headers={"x-content-signature": site.cw_signature(body)})
    assert r.status_code == 400, r.text
    assert await site.queued() == 0


async def test_signed_callback_with_good_id_queues_a_job(site: Edge) -> None:
    """A valid signed callback still queues its record job."""
    body = site.callback(ID=7)
    r = await site.app.post(HOOK, content=body, headers={"x-content-signature": site.cw_signature(body)})
    assert r.status_code == 204, r.text
    assert await site.queued() == 1


# --- authenticated 500s -------------------------------------------------------------------------------------

NON_FINITE = [b"NaN", b"Infinity", b"-Infinity", b"1e999"]
QUOTE = b'{"external_id": "q1", "company": "c", "contact": "x", "lines": [{"product": "p", "quantity": %s}]}'
JSON_BODIES = [
    ("/api/quotes", QUOTE),
    ("/api/catalog/products", b'{"ids": [%s]}'),
    ("/api/changes/link", b'{"change_id": "c1", "ticket_id": %s}'),
    ("/api/changes/c1/events", b'{"kind": "scheduled", "event_id": "e1", "at": %s}'),
]


@pytest.mark.parametrize(("url", "template"), JSON_BODIES)
@pytest.mark.parametrize("number", NON_FINITE)
async def test_non_finite_numbers_in_json_bodies_are_400(site: Edge, url: str, template: bytes, number: bytes) -> None:
    """`NaN`, `Infinity` or `1e999` in a JSON body was a 500: the 422 echoed `inf`, which does not serialise."""
    headers = {**AUTH, "content-type": "application/json"}
    body = _refusal(await site.app.post(url, content=template % number, headers=headers), 400, "body_not_json")
    assert "number" in body["reason"] or "NaN" in body["reason"]


@pytest.mark.parametrize(("url", "template"), JSON_BODIES)
async def test_an_unpaired_surrogate_in_a_json_body_is_400(site: Edge, url: str, template: bytes) -> None:
    """`"\\ud800"` (a surrogate escape with no pair) parsed into a string no UTF-8 store can hold: a 500 (found by
    the fuzz suite on `POST /api/changes/{id}/events`)."""
    headers = {**AUTH, "content-type": "application/json"}
    body = _refusal(await site.app.post(url, content=template % b'"\\ud800"', headers=headers), 400, "body_not_json")
    assert "surrogate" in body["reason"]


async def test_deep_api_body_is_400(site: Edge) -> None:
    """A deep JSON body to the API is refused before FastAPI's parser recurses."""
    body = b'{"ids": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    r = await site.app.post("/api/catalog/products", content=body, headers={**AUTH, "content-type": "application/json"})
    _refusal(r, 400, "body_not_json")


@pytest.mark.parametrize(
    ("url", "params"),
    [("/api/runs/" + str(10**24), {}), ("/api/runs/1", {"offset": str(10**20)}), ("/api/runs/-1", {})],
)
async def test_out_of_range_ids_and_offsets_are_422(site: Edge, url: str, params: dict[str, str]) -> None:
    """`GET /api/runs/10^24` and `offset=10^20` were an OverflowError from SQLite."""
    r = await site.app.get(url, params=params, headers=AUTH)
    assert r.status_code == 422, r.text


# --- headers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url", "auth"),
    [
        ("GET", "/api/health", False),
        ("GET", "/api/runs", True),
        ("GET", "/api/runs", False),
        ("GET", "/api/nowhere", True),
        ("POST", "/hooks/hubspot", False),
        ("GET", "/openapi.json", False),
    ],
)
async def test_security_headers_on_every_answer(site: Edge, method: str, url: str, auth: bool) -> None:
    """JSON answers (errors too) carry a CSP refusing everything and framing, nosniff and no referrer."""
    r = await site.app.request(method, url, headers=AUTH if auth else {})
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "access-control-allow-origin" not in r.headers


async def test_docs_page_csp_allows_only_its_own_hashed_script(site: Edge) -> None:
    """/docs (the console later) gets a CSP without 'unsafe-inline' scripts: its one inline script by hash."""
    r = await site.app.get("/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    script_src = next(part for part in csp.split("; ") if part.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert csp == page_csp(r.content)
    assert script_src.count("'sha256-") == 1
    assert int(r.headers["content-length"]) == len(r.content)


async def test_no_cors_unless_configured(site: Edge, tmp_path: Path) -> None:
    """A browser preflight gets no CORS grant by default; with `server.cors_origins` only that origin does."""
    preflight = {"Origin": "https://console.example", "Access-Control-Request-Method": "GET"}
    r = await site.app.options("/api/runs", headers=preflight)
    assert "access-control-allow-origin" not in r.headers
    async with edge(tmp_path / "cors", cors_origins=["https://console.example"]) as cors:
        r = await cors.app.options("/api/runs", headers=preflight)
        assert r.headers["access-control-allow-origin"] == "https://console.example"
        r = await cors.app.options("/api/runs", headers={**preflight, "Origin": "https://evil.example"})
        assert r.headers.get("access-control-allow-origin") != "https://evil.example"
