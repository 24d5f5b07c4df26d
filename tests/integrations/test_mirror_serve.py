"""The SQL mirror under `cwsync serve`: scheduled like the others, and a ConnectWise callback updates its row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from cwsync.config import Config
from cwsync.connectors.connectwise import ConnectWiseClient, replace_ops
from cwsync.integrations.hudu.context import connectwise_settings
from cwsync.runtime.callbacks import CallbackManager, desired_callbacks
from cwsync.runtime.jobs import JobSpec
from cwsync.server.app import Server, create_app
from cwsync.store import Store
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox
from cwsync_sandbox.connectwise.app import create_app as create_cw_app
from tests.syncs_hudu.conftest import no_sleep

ME, TOKEN, CW_BASE = "http://cwsync.test", "callback-token-mirror-1", "http://cw.mirror.test"


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Config, Sandbox, ConnectWiseClient, Store]]:
    box = build_sandbox(SandboxSettings(base_url=CW_BASE, records=200, seed=9))
    s = box.settings
    config = Config.model_validate(
        {
            "store": f"sqlite:///{tmp_path / 'cwsync.db'}",
            "connections": {
                "connectwise": {
                    "site": CW_BASE,
                    "company_id": s.company_id,
                    "public_key": s.public_key,
                    "private_key": s.private_key,
                    "client_id": s.client_id,
                    "requests_per_minute": None,
                }
            },
            "syncs": {"mirror": {"objects": ["tickets", "companies"]}},
            "server": {
                "api_token": "api-token-456",
                "public_url": ME,
                "callback_token": TOKEN,
                "allow_http_key_urls": [CW_BASE],
            },
        }
    )
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cw_app(box)))
    cw = ConnectWiseClient(connectwise_settings(config), http=http, sleep=no_sleep)
    store = await Store.open(config.store)
    try:
        yield config, box, cw, store
    finally:
        await store.close()
        await cw.aclose()


async def test_the_mirror_is_scheduled_and_a_ticket_callback_updates_its_row(
    world: tuple[Config, Sandbox, ConnectWiseClient, Store],
) -> None:
    config, box, cw, store = world
    key_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cw_app(box)))
    server = Server(config, store, cw, None, key_http, workers=2, callback_debounce=0)
    assert [(s.pair, s.kind) for s in server.schedules()] == [("mirror", "incremental"), ("mirror", "full")]
    assert [entry.name for entry in server.integrations()] == ["mirror"]
    app = create_app(server)
    box.callbacks.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
    specs = desired_callbacks(types=["ticket"], public_url=ME, tenant=config.tenant)
    await CallbackManager(cw, tenant=config.tenant).install(specs)
    await server.start(schedule=False)
    try:
        await server.runner.enqueue(JobSpec(tenant=config.tenant, pair="mirror", kind="full"))
        await server.runner.wait_idle(timeout=30)
        ticket = next(iter([t async for t in cw.stream_records("service/tickets")]))
        await cw.patch("service/tickets", ticket["id"], replace_ops({"summary": "Callback reached the mirror"}))
        await box.callbacks.drain()
        assert [d.status for d in box.callbacks.deliveries][-1] == 204
        await server.runner.wait_idle(timeout=30)
    finally:
        await server.stop()
        await box.callbacks.http.aclose()
        await key_http.aclose()
    async with store._connect() as conn:
        summary = (
            await conn.execute(text("SELECT summary FROM cw_tickets WHERE id = :i"), {"i": ticket["id"]})
        ).scalar_one()
    assert summary == "Callback reached the mirror"
    runs = await store.runs(config.tenant, limit=2)
    assert [(r.kind, r.trigger, r.status) for r in runs] == [
        ("record", "callback", "succeeded"),
        ("full", "schedule", "succeeded"),
    ]


async def test_the_api_replays_one_mirrored_record_and_refuses_an_unknown_object(
    world: tuple[Config, Sandbox, ConnectWiseClient, Store],
) -> None:
    config, box, cw, store = world
    key_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cw_app(box)))
    server = Server(config, store, cw, None, key_http, workers=1, callback_debounce=0)
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(server)),
        base_url="http://cwsync.test",
        headers={"Authorization": "Bearer api-token-456"},
    )
    await server.start(schedule=False)
    try:
        ticket = next(iter([t async for t in cw.stream_records("service/tickets")]))
        answer = await api.post(f"/api/records/connectwise/mirror:tickets/{ticket['id']}/replay")
        assert answer.status_code == 202, answer.text
        assert answer.json()["job"] is not None
        await server.runner.wait_idle(timeout=30)
        unknown = await api.post("/api/records/connectwise/mirror:contacts/1/replay")  # not a configured object
        assert unknown.status_code == 404
    finally:
        await server.stop()
        await api.aclose()
        await key_http.aclose()
    async with store._connect() as conn:
        row = (await conn.execute(text("SELECT summary FROM cw_tickets WHERE id = :i"), {"i": ticket["id"]})).one()
    assert row.summary == ticket["summary"]
    [run] = await store.runs(config.tenant, limit=1)
    assert (run.kind, run.trigger, run.pairs) == ("record", "api", ("mirror:tickets",))
