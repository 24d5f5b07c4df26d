"""The `/api/changes` routes of `cwsync serve`, driven in-process (ASGI) against the sandbox served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cwsync.config.model import Config
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.server.app import Server, create_app
from cwsync.server.changes_api import changes_workflow
from tests.changes.conftest import HELP_DESK, World, changes_config

API_TOKEN = "api-token-789"
ME = "http://cwsync.test"


@dataclass
class Api:
    """The server app and an authenticated client on it."""

    world: World
    app: Any
    http: httpx.AsyncClient


def server_config(world: World, **changes: Any) -> Config:
    """A configuration with the change workflow (and no HubSpot sync)."""
    s = world.box.settings
    return Config.model_validate(
        {
            "store": "sqlite:///unused.db",
            "connections": {
                "connectwise": {
                    "site": world.served.base_url,
                    "company_id": s.company_id,
                    "public_key": s.public_key,
                    "private_key": s.private_key,
                    "client_id": s.client_id,
                },
            },
            "syncs": {"changes": changes_config(**changes)},
            "server": {"api_token": API_TOKEN, "public_url": ME},
        }
    )


@pytest.fixture
async def api(world: World) -> AsyncIterator[Api]:
    """The server app on the world's client and store."""
    hs = HubSpotClient(HubSpotSettings(token="unused", base_url="http://hs.invalid"))
    key_http = httpx.AsyncClient()
    server = Server(server_config(world), world.store, world.cw, hs, key_http)
    app = create_app(server)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ME, headers=headers) as http:
        yield Api(world, app, http)
    await key_http.aclose()
    await hs.aclose()


def link_body(world: World, **overrides: Any) -> dict[str, Any]:
    """A link request as JSON."""
    body: dict[str, Any] = {
        "change_id": "CHG-7",
        "company": "lighthouse",
        "ticket_id": world.tickets["help_desk"],
        "title": "Replace core switch",
        "creator": {"email": "alice@msp.example", "name": "Alice Admin"},
    }
    return body | overrides


async def test_routes_need_the_api_token(api: Api) -> None:
    """Without the bearer token every change route answers 401."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=api.app), base_url=ME) as anonymous:
        assert (await anonymous.get("/api/changes/tickets", params={"company": "lighthouse"})).status_code == 401
        assert (await anonymous.post("/api/changes/link", json=link_body(api.world))).status_code == 401
        assert (await anonymous.get("/api/changes/CHG-7")).status_code == 401


async def test_search_link_event_show_through_the_api(api: Api) -> None:
    """Search finds the ticket, link and an event apply, a replay is flagged, and show returns the change."""
    world, tid = api.world, api.world.tickets["help_desk"]
    found = await api.http.get("/api/changes/tickets", params={"company": "lighthouse", "q": "firewall"})
    assert found.status_code == 200
    assert tid in [t["id"] for t in found.json()]
    linked = await api.http.post("/api/changes/link", json=link_body(world))
    assert linked.status_code == 200, linked.text
    assert linked.json()["state_after"] == "linked"
    assert await world.status(tid) == HELP_DESK["created"]
    approve = {"kind": "fully_approved", "event_id": "a1", "comment": "CAB ok"}
    first = await api.http.post("/api/changes/CHG-7/events", json=approve)
    assert first.status_code == 200, first.text
    assert await world.status(tid) == HELP_DESK["fully_approved"]
    again = await api.http.post("/api/changes/CHG-7/events", json=approve)
    assert again.json()["replayed"] is True
    shown = (await api.http.get("/api/changes/CHG-7")).json()
    assert shown["change"]["state"] == "approved"
    assert shown["ticket"]["status"] == HELP_DESK["fully_approved"]
    assert [e["kind"] for e in shown["change"]["events"]] == ["created", "fully_approved"]


async def test_plan_mode_through_the_api_writes_nothing(api: Api) -> None:
    """`?plan=true` answers the planned writes and leaves ConnectWise and the store alone."""
    before = api.world.write_count()
    planned = await api.http.post("/api/changes/link", params={"plan": "true"}, json=link_body(api.world))
    assert planned.status_code == 200
    assert planned.json()["applied"] is False
    assert {w["outcome"] for w in planned.json()["writes"]} == {"planned"}
    assert api.world.write_count() == before
    assert (await api.http.get("/api/changes/CHG-7")).status_code == 404


async def test_refusals_have_codes_and_statuses(api: Api) -> None:
    """Unknown change 404, out of order 409, filtered-out board 422, malformed event 422; each with a reason."""
    world = api.world
    unknown = await api.http.post("/api/changes/CHG-404/events", json={"kind": "fully_approved", "event_id": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown_change"
    board = await api.http.post("/api/changes/link", json=link_body(world, ticket_id=world.tickets["alerts"]))
    assert board.status_code == 422
    assert board.json()["error"] == "board_not_allowed"
    await api.http.post("/api/changes/link", json=link_body(world))
    early = await api.http.post(
        "/api/changes/CHG-7/events", json={"kind": "completed", "event_id": "c1", "results": "done"}
    )
    assert early.status_code == 409
    assert early.json()["error"] == "out_of_order"
    assert "the change is linked" in early.json()["reason"]
    bad = await api.http.post("/api/changes/CHG-7/events", json={"kind": "scheduled", "event_id": "s1"})
    assert bad.status_code == 422


async def test_an_unknown_status_is_refused_before_any_event(api: Api, world: World) -> None:
    """A mapped status the board does not have: 503 listing the valid names, and nothing is written."""
    hs = HubSpotClient(HubSpotSettings(token="unused", base_url="http://hs.invalid"))
    config = server_config(world, statuses=HELP_DESK | {"completed": "Done"})
    async with httpx.AsyncClient() as key_http:
        app = create_app(Server(config, world.store, world.cw, hs, key_http))
        headers = {"Authorization": f"Bearer {API_TOKEN}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ME, headers=headers) as http:
            before = world.write_count()
            answer = await http.post("/api/changes/link", json=link_body(world))
            assert answer.status_code == 503
            (problem,) = answer.json()["problems"]
            assert "status 'Done' (for completed)" in problem
            assert "'Completed'" in problem
            assert "'Waiting on Client'" in problem
            assert world.write_count() == before
    await hs.aclose()
    assert (await changes_workflow(api.app)).setup.boards  # the good configuration starts fine
