"""The `/api/quotes` and `/api/catalog` routes on `cwsync serve`'s app, and the HubSpot-deal entry point (SB-5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cwsync.connectors.hubspot import association_spec
from cwsync.integrations.hubspot.run import HubSpotSync
from cwsync.server.app import Server, create_app
from cwsync.workflows.quotes.document import QuoteRefused
from tests.catalog.conftest import API_TOKEN, World
from tests.catalog.test_quotes_e2e import forecast, make_quote, products

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def api(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """The server app over the world's store and clients, in-process."""
    server = Server(world.config, world.store, world.cw, world.hs, httpx.AsyncClient())
    transport = httpx.ASGITransport(app=create_app(server))
    async with httpx.AsyncClient(transport=transport, base_url="http://cwsync.test") as http:
        yield http
    await server.key_http.aclose()


async def test_routes_need_the_token(api: httpx.AsyncClient) -> None:
    """Without (or with a wrong) bearer token the routes answer 401."""
    assert (await api.post("/api/quotes", json={})).status_code == 401
    assert (await api.get("/api/quotes/Q-1", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await api.post("/api/catalog/sync")).status_code == 401


async def test_quote_over_the_api_plan_submit_show(api: httpx.AsyncClient, world: World) -> None:
    """`?plan=true` writes nothing; POST creates the opportunity once; GET shows it; a refusal is a 422 with why."""
    body = make_quote(world).model_dump(mode="json")
    planned = await api.post("/api/quotes", params={"plan": "true"}, json=body, headers=AUTH)
    assert planned.status_code == 200, planned.text
    assert len(planned.json()["lines"]) == 4
    assert world.writes() == 0
    made = (await api.post("/api/quotes", json=body, headers=AUTH)).json()
    again = (await api.post("/api/quotes", json=body, headers=AUTH)).json()
    assert again["opportunity_id"] == made["opportunity_id"]
    assert again["action"] == "unchanged"
    shown = (await api.get("/api/quotes/Q-1001", headers=AUTH)).json()
    assert shown["opportunity_id"] == made["opportunity_id"]
    assert len(shown["lines"]) == 4
    bad = await api.post("/api/quotes", json={**body, "external_id": "Q-2", "company": "Nope"}, headers=AUTH)
    assert bad.status_code == 422
    assert bad.json()["error"] == "unknown_company"
    assert (await api.get("/api/quotes/Q-404", headers=AUTH)).status_code == 404


async def test_catalog_over_the_api(api: httpx.AsyncClient, world: World) -> None:
    """POST /api/catalog/sync creates the products; explain answers for a missing SKU."""
    report = (await api.post("/api/catalog/sync", headers=AUTH)).json()
    assert report["counts"]["created"] == len(world.products()) > 0
    explained = (await api.get("/api/catalog/explain/NOPE-1", headers=AUTH)).json()
    assert "not in the ConnectWise catalog" in explained["reasons"][0]


async def _deal(world: World, stage: str, skus: list[tuple[str, float, float]]) -> str:
    """A HubSpot deal on a synced company and contact with line items (sku, quantity, price)."""
    tenant = world.config.tenant
    contacts = [link async for batch in world.store.iter_links(tenant, "contacts") for link in batch]
    contact_link = contacts[0]
    cw_contact = world.cw_box.store.get("contacts", int(contact_link.left_id))
    assert cw_contact is not None
    company_id = str(cw_contact["company"]["id"])
    company_link = (await world.store.links_by_left(tenant, "companies", [company_id]))[company_id]
    deal = await world.hs.create(
        "deals",
        {"dealname": "HubSpot quote", "dealstage": stage, "pipeline": "default"},
        associations=[association_spec(company_link.right_id, 5), association_spec(contact_link.right_id, 3)],
    )
    for sku, quantity, price in skus:
        await world.hs.create(
            "line_items",
            {"name": sku, "hs_sku": sku, "quantity": str(quantity), "price": str(price)},
            associations=[association_spec(deal["id"], 20)],
        )
    return str(deal["id"])


async def test_hubspot_deal_becomes_an_opportunity(world: World) -> None:
    """A deal in the configured stage with 3 line items and a shipping line → one opportunity with 4 lines."""
    await HubSpotSync(world.config, world.store, world.cw, world.hs).run()
    lines: list[tuple[str, float, float]] = [(p["identifier"], 2.0, p["price"]) for p in products(world)]
    deal_id = await _deal(world, "closedwon", [*lines, ("SHIP-GROUND", 1.0, 30.0)])
    workflow = world.quotes()
    plan = await workflow.submit_deal(deal_id)
    assert plan.external_id == f"hubspot-deal-{deal_id}"
    assert plan.opportunity_id is not None
    items = forecast(world, plan.opportunity_id)
    assert len(items) == 4
    assert round(sum(i["revenue"] for i in items), 2) == round(sum(q * p for _, q, p in lines) + 30.0, 2)
    again = await workflow.submit_deal(deal_id)
    assert again.action == "unchanged"
    assert again.opportunity_id == plan.opportunity_id


async def test_hubspot_deal_in_another_stage_is_refused(world: World) -> None:
    """A deal not in the configured stage is refused with the stage named, and nothing is written."""
    await HubSpotSync(world.config, world.store, world.cw, world.hs).run()
    writes = world.writes()
    deal_id = await _deal(world, "appointmentscheduled", [(products(world)[0]["identifier"], 1.0, 10.0)])
    with pytest.raises(QuoteRefused) as answered:  # through the API: answered, so not recorded
        await world.quotes().submit_deal(deal_id, trigger="api")
    assert await world.store.runs(world.config.tenant, pair="quotes") == []
    with pytest.raises(QuoteRefused) as refused:  # a webhook's: no one to answer, recorded for `quotes explain`
        await world.quotes().submit_deal(deal_id, trigger="webhook")
    assert refused.value.code == answered.value.code == "not_approved"
    assert "closedwon" in refused.value.reason
    assert world.writes() == writes
    explained: dict[str, Any] = await world.quotes().explain(f"hubspot-deal-{deal_id}")
    assert "not_approved" in explained["answer"]


async def test_a_deal_entering_the_quote_stage_becomes_an_opportunity_through_the_webhook(world: World) -> None:
    """A signed HubSpot `deal.propertyChange` to the configured stage queues the quote workflow for that deal."""
    import json
    import time

    from cwsync.config.model import ServerConfig
    from cwsync_sandbox.hubspot.webhooks import sign_v3

    await HubSpotSync(world.config, world.store, world.cw, world.hs).run()
    lines: list[tuple[str, float, float]] = [(p["identifier"], 1.0, p["price"]) for p in products(world)]
    deal_id = await _deal(world, "closedwon", [*lines, ("SHIP-GROUND", 1.0, 12.0)])
    secret = "webhook-secret-1"
    server_config = ServerConfig(public_url="http://cwsync.test", api_token=API_TOKEN, hubspot_client_secret=secret)
    config = world.config.model_copy(update={"server": server_config})
    server = Server(config, world.store, world.cw, world.hs, httpx.AsyncClient())
    events = [
        {
            "eventId": 91,
            "subscriptionType": "deal.propertyChange",
            "objectId": int(deal_id),
            "propertyName": "dealstage",
            "propertyValue": "closedwon",
            "occurredAt": int(time.time() * 1000),
        }
    ]
    body = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000))
    url = "http://cwsync.test/hooks/hubspot"
    headers = {
        "content-type": "application/json",
        "x-hubspot-request-timestamp": stamp,
        "x-hubspot-signature-v3": sign_v3(secret, "POST", url, body, stamp),
    }
    await server.start(schedule=False)
    try:
        transport = httpx.ASGITransport(app=create_app(server))
        async with httpx.AsyncClient(transport=transport, base_url="http://cwsync.test") as http:
            answer = await http.post("/hooks/hubspot", content=body, headers=headers)
        assert answer.status_code == 204, answer.text
        await server.runner.wait_idle(timeout=30)
    finally:
        await server.stop()
        await server.key_http.aclose()
    [link] = (await world.store.links_by_left(config.tenant, "quotes", [f"hubspot-deal-{deal_id}"])).values()
    assert len(forecast(world, int(link.right_id))) == len(lines) + 1
    [run] = await world.store.runs(config.tenant, limit=1)
    assert run.trigger == "webhook"
