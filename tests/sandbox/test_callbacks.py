"""Outbound callbacks: registration, payload, signature, level filters, retries, disabling (api-notes §4)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cwsync_sandbox.connectwise.app import Sandbox, create_app
from cwsync_sandbox.connectwise.callbacks import level_matches, sign
from tests.conftest import BASE, auth_headers


class Receiver:
    """A webhook endpoint recording what it gets; answers with the statuses it is told to, then 204."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses = list(statuses or [])

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 204)


async def _setup(sandbox: Sandbox, receiver: Receiver) -> httpx.AsyncClient:
    sandbox.callbacks.http = httpx.AsyncClient(transport=httpx.MockTransport(receiver.handler))
    sandbox.callbacks.retry_scale = 0.0
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(sandbox)),
        base_url=sandbox.api_root + "/",
        headers=auth_headers(sandbox.settings),
    )


async def _register(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {
        "url": "https://hooks.example/cw?id=",
        "objectId": 1,
        "type": "company",
        "level": "owner",
        **fields,
    }
    r = await client.post("system/callbacks", json=body)
    assert r.status_code == 201
    return r.json()  # type: ignore[no-any-return]


async def test_callback_crud(sandbox: Sandbox) -> None:
    """/system/callbacks supports POST, GET, PATCH, DELETE and count; required fields are enforced."""
    async with await _setup(sandbox, Receiver()) as client:
        entry = await _register(client, description="cwsync companies")
        assert (await client.get(f"system/callbacks/{entry['id']}")).json()["type"] == "company"
        assert (await client.get("system/callbacks/count")).json() == {"count": 1}
        r = await client.patch(
            f"system/callbacks/{entry['id']}", json=[{"op": "replace", "path": "inactiveFlag", "value": True}]
        )
        assert r.json()["inactiveFlag"] is True
        assert (await client.post("system/callbacks", json={"type": "company"})).status_code == 400
        assert (await client.delete(f"system/callbacks/{entry['id']}")).status_code == 204


async def test_change_is_posted_signed_with_real_payload(sandbox: Sandbox) -> None:
    """A company update is POSTed to url+id with the PascalCase body, Entity as a JSON string, and a valid signature."""
    receiver = Receiver()
    async with await _setup(sandbox, receiver) as client:
        await _register(client)
        await client.patch("company/companies/2", json=[{"op": "replace", "path": "name", "value": "Renamed Co"}])
        await sandbox.callbacks.drain()
        assert len(receiver.requests) == 1
        request = receiver.requests[0]
        assert str(request.url) == "https://hooks.example/cw?id=2"
        body = json.loads(request.content)
        assert body["Action"] == "updated"
        assert body["Type"] == "company"
        assert body["ID"] == 2
        assert json.loads(body["Entity"])["name"] == "Renamed Co"
        assert {"MessageId", "FromUrl", "CompanyId", "MemberId", "Metadata", "CallbackObjectRecId"} <= set(body)
        key_url = body["Metadata"]["key_url"]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox))) as plain:
            signing_key = (await plain.get(key_url)).json()["signing_key"]
        digest = hmac.new(hashlib.sha256(signing_key.encode()).digest(), request.content, hashlib.sha256).digest()
        assert request.headers["x-content-signature"] == base64.b64encode(digest).decode()


async def test_added_and_deleted_actions(sandbox: Sandbox) -> None:
    """Creates are 'added', deletes 'deleted', on the ticket type."""
    receiver = Receiver()
    async with await _setup(sandbox, receiver) as client:
        await _register(client, type="ticket")
        ticket = (await client.post("service/tickets", json={"summary": "New", "company": {"id": 2}})).json()
        await client.delete(f"service/tickets/{ticket['id']}")
        await sandbox.callbacks.drain()
        actions = [json.loads(r.content)["Action"] for r in receiver.requests]
        assert actions == ["added", "deleted"]


async def test_record_level_only_fires_for_that_record(sandbox: Sandbox) -> None:
    """A callback at level=company with objectId 3 fires for company 3 only."""
    receiver = Receiver()
    async with await _setup(sandbox, receiver) as client:
        await _register(client, level="company", objectId=3)
        for company_id in (2, 3):
            await client.patch(
                f"company/companies/{company_id}", json=[{"op": "replace", "path": "name", "value": "N"}]
            )
        await sandbox.callbacks.drain()
        assert [json.loads(r.content)["ID"] for r in receiver.requests] == [3]


async def test_retries_twice_on_429_then_gives_up(sandbox: Sandbox) -> None:
    """On 404/409/419/429 the delivery is retried twice (2 s, 4 s later); other failures are not retried."""
    receiver = Receiver(statuses=[429, 429, 429, 500])
    async with await _setup(sandbox, receiver) as client:
        await _register(client)
        await client.patch("company/companies/2", json=[{"op": "replace", "path": "name", "value": "A"}])
        await sandbox.callbacks.drain()
        assert len(receiver.requests) == 3
        await client.patch("company/companies/2", json=[{"op": "replace", "path": "name", "value": "B"}])
        await sandbox.callbacks.drain()
        assert len(receiver.requests) == 4
    attempts = [d.attempt for d in sandbox.callbacks.deliveries]
    assert attempts == [1, 2, 3, 1]


async def test_retry_delays_are_two_then_four_seconds(sandbox: Sandbox) -> None:
    """The retry schedule is 2 s then 4 s (slept through an injected sleep)."""
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    receiver = Receiver(statuses=[404, 404])
    async with await _setup(sandbox, receiver) as client:
        sandbox.callbacks.sleep = fake_sleep
        sandbox.callbacks.retry_scale = 1.0
        await _register(client)
        await client.patch("company/companies/2", json=[{"op": "replace", "path": "name", "value": "A"}])
        await sandbox.callbacks.drain()
    assert slept == [2.0, 4.0]
    assert len(receiver.requests) == 3


async def test_disabled_after_three_failing_days(sandbox: Sandbox) -> None:
    """A callback failing for 3 consecutive days is disabled (inactiveFlag)."""
    clock = [datetime(2026, 11, 1, tzinfo=UTC)]
    receiver = Receiver(statuses=[500] * 10)
    async with await _setup(sandbox, receiver) as client:
        sandbox.callbacks.now = lambda: clock[0]
        entry = await _register(client)
        for day in range(4):
            clock[0] = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day)
            await client.patch("company/companies/2", json=[{"op": "replace", "path": "name", "value": f"D{day}"}])
            await sandbox.callbacks.drain()
        assert (await client.get(f"system/callbacks/{entry['id']}")).json()["inactiveFlag"] is True
        sent = len(receiver.requests)
        await client.patch("company/companies/2", json=[{"op": "replace", "path": "name", "value": "after"}])
        await sandbox.callbacks.drain()
        assert len(receiver.requests) == sent


async def test_unknown_key_id_is_404(sandbox: Sandbox) -> None:
    """The signing key is only served for the right key id."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        r = await c.get(f"/{sandbox.codebase}system/callbackkey/index.rails", params={"id": "nope"})
    assert r.status_code == 404


def test_level_matching_rules() -> None:
    """owner matches all; record level matches the id; status/board levels match the reference id."""
    record = {"id": 5, "status": {"id": 2}, "board": {"id": 9}, "types": [{"id": 1}]}
    assert level_matches({"type": "Ticket", "level": "Owner", "objectId": 1}, "ticket", record)
    assert level_matches({"type": "ticket", "level": "ticket", "objectId": 5}, "ticket", record)
    assert not level_matches({"type": "ticket", "level": "ticket", "objectId": 6}, "ticket", record)
    assert level_matches({"type": "ticket", "level": "board", "objectId": 9}, "ticket", record)
    assert not level_matches({"type": "ticket", "level": "status", "objectId": 3}, "ticket", record)
    assert level_matches({"type": "company", "level": "type", "objectId": 1}, "company", {"id": 1, "type": {"id": 1}})
    assert not level_matches({"type": "company", "level": "owner", "objectId": 1}, "ticket", record)


def test_signature_is_base64_hmac_of_sha256_key() -> None:
    """x-content-signature = base64(HMAC-SHA256(key=SHA256(signing_key), body))."""
    key = hashlib.sha256(b"secret").digest()
    expected = base64.b64encode(hmac.new(key, b'{"a":1}', hashlib.sha256).digest()).decode()
    assert sign(b'{"a":1}', "secret") == expected


async def test_delivery_over_real_http(served: Any) -> None:
    """Over loopback: a callback reaches a real HTTP receiver (polled with a deadline, no sleeps)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from cwsync_sandbox.server import base_url_of, bind, make_server

    got: list[bytes] = []
    arrived = asyncio.Event()

    async def hook(request: Request) -> Response:
        got.append(await request.body())
        arrived.set()
        return Response(status_code=204)

    sock = bind("127.0.0.1", 0)
    server = make_server(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with httpx.AsyncClient(
            base_url=served.sandbox.api_root + "/", headers=auth_headers(served.sandbox.settings)
        ) as c:
            await _register(c, url=f"{base_url_of(sock)}/hook?id=")
            await c.patch("company/companies/2", json=[{"op": "replace", "path": "name", "value": "Loop"}])
        await asyncio.wait_for(arrived.wait(), timeout=10)
        assert got
        assert json.loads(got[0])["ID"] == 2
    finally:
        server.should_exit = True
        await task
        sock.close()
