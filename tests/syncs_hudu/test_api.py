"""The `/api/hudu` routes and the ConnectWise deep link, on `cwsync serve`'s app in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.connectors.hudu import HuduClient
from cwsync.integrations.hudu.context import hudu_settings
from cwsync.server.app import Server, create_app
from cwsync.server.hudu_api import HuduApi
from cwsync_sandbox.hudu import create_hudu_app
from tests.syncs_hudu.conftest import World, cw_record, no_sleep

AUTH = {"Authorization": "Bearer api-token-456"}


@dataclass
class Api:
    """The server app and the Hudu side of it."""

    client: httpx.AsyncClient
    hudu: HuduApi


@pytest.fixture
async def api(world: World) -> AsyncIterator[Api]:
    """`cwsync serve`'s app over the world's store and clients; Hudu clients on the in-process emulator."""
    hs = HubSpotClient(HubSpotSettings(token="unused-token", base_url="http://hs.invalid"))
    server = Server(world.config, world.store, world.cw, hs, httpx.AsyncClient())
    app = create_app(server)
    hudu: HuduApi = app.state.hudu
    hudu_app = create_hudu_app(world.hudu_box)

    def client() -> HuduClient:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=hudu_app))
        return HuduClient(hudu_settings(world.config), http=http, sleep=no_sleep)

    hudu.client_factory = client
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cwsync.test") as http:
        yield Api(http, hudu)
    await hs.aclose()
    await server.key_http.aclose()


async def test_routes_need_the_token(api: Api) -> None:
    """Without the bearer token the Hudu routes answer 401."""
    assert (await api.client.get("/api/hudu/match")).status_code == 401
    assert (await api.client.post("/api/hudu/sync")).status_code == 401


async def test_suggestions_decisions_sync_and_deep_link(api: Api, world: World) -> None:
    """Suggest, decide (and auto-match) over the API, sync in the background, then the deep link redirects."""
    state = world.hudu_box.state
    twin = state.create_company({"name": "Sagebrush Veterinary Hospital, LLC"})  # CW 3
    suggestions = (await api.client.get("/api/hudu/match", headers=AUTH)).json()
    three = next(s for s in suggestions if s["connectwise_id"] == 3)
    assert three["candidates"][0]["hudu_id"] == twin["id"]

    body = {"decisions": [{"connectwise_id": 7, "kind": "create"}], "auto": True}
    stored = (await api.client.post("/api/hudu/match", json=body, headers=AUTH)).json()["decisions"]
    assert {(d["connectwise_id"], d["kind"]) for d in stored} == {(7, "create"), (3, "match")}

    bad = {"decisions": [{"connectwise_id": 8, "kind": "match", "hudu_id": 999_999}]}
    refused = await api.client.post("/api/hudu/match", json=bad, headers=AUTH)
    assert refused.status_code == 422
    assert "does not exist" in refused.json()["detail"]

    plan = await api.client.post("/api/hudu/sync", params={"plan": "true"}, headers=AUTH)
    assert plan.json().get("dry_run") is True, plan.text
    started = await api.client.post("/api/hudu/sync", headers=AUTH)
    assert started.status_code == 202
    assert api.hudu.task is not None
    result = await api.hudu.task  # the background run, awaited: no polling, no sleep
    assert result["state"] == "done", result
    assert result["report"]["counts"]["created"] > 10
    assert (await api.client.get("/api/hudu/sync", headers=AUTH)).json()["state"] == "done"

    moved = await api.client.get("/links/connectwise/org/3")
    assert moved.status_code == 302
    assert moved.headers["location"] == f"http://hudu.test/c/{state.companies[twin['id']]['slug']}"
    created = await api.client.get("/links/connectwise/org/7")
    name = cw_record(world.cw_box, "companies", 7)["name"]
    assert created.headers["location"].endswith("/c/" + state.companies[world.hudu_company_id(name)]["slug"])
    missing = await api.client.get("/links/connectwise/org/8")
    assert missing.status_code == 404
    assert "not matched" in missing.json()["detail"]


async def test_unknown_data_type_is_refused(api: Api) -> None:
    """`only` names data types; anything else is a 422 listing them."""
    answer = await api.client.post("/api/hudu/sync", params={"only": "tickets"}, headers=AUTH)
    assert answer.status_code == 422
    assert "configurations" in answer.json()["detail"]
