"""`cwsync serve` in-process: callbacks and webhooks become record jobs that sync within the request's wake (no
polling), bad requests change nothing, and the REST API is behind its token."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.runtime.callbacks import CallbackManager, desired_callbacks
from cwsync.runtime.intake import connectwise_signature
from cwsync.server.app import Server
from cwsync.server.app import create_app as create_server_app
from cwsync.server.intake import IntakeServer
from cwsync.server.registry import HUBSPOT
from cwsync.store import Store
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox, create_app
from cwsync_sandbox.hubspot import HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app
from tests.loopback import free_port

CW, HS, ME = "http://cw.test", "http://hs.test", "http://cwsync.test"
TOKEN, API = "callback-token-123", "api-token-456"
HOLD = 30.0  # seconds: the deadline of anything a test waits for across threads


async def _no_sleep(_: float) -> None:
    return None


@dataclass
class System:
    """Both emulators, the server, and plain HTTP clients to poke them."""

    cw_box: Sandbox
    hs_box: Any
    server: Server
    app: httpx.AsyncClient
    hs_admin: httpx.AsyncClient


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[System]:
    """Emulators wired to the server in-process, first sync done, callbacks installed."""
    cw_box = build_sandbox(SandboxSettings(base_url=CW, records=200, seed=4))
    hs_box = build_hubspot_sandbox(HubSpotSandboxSettings(base_url=HS, rate_limit_per_10s=100_000))
    s = cw_box.settings
    config = Config.model_validate(
        {
            "store": f"sqlite:///{tmp_path / 's.db'}",
            "connections": {
                "connectwise": {
                    "site": CW,
                    "company_id": s.company_id,
                    "public_key": s.public_key,
                    "private_key": s.private_key,
                    "client_id": s.client_id,
                    "requests_per_minute": None,
                },
                "hubspot": {"token": hs_box.settings.token, "base_url": HS},
            },
            "syncs": {"hubspot": {}},
            "server": {
                "public_url": ME,
                "callback_token": TOKEN,
                "api_token": API,
                "hubspot_client_secret": hs_box.settings.client_secret,
                "allow_http_key_urls": [CW],
            },
        }
    )
    cw_app, hs_app = create_app(cw_box), create_hubspot_app(hs_box)
    cw = ConnectWiseClient(
        ConnectWiseSettings(
            site=CW,
            company_id=s.company_id,
            public_key=s.public_key,
            private_key=s.private_key,
            client_id=s.client_id,
            requests_per_minute=None,
        ),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=cw_app)),
        sleep=_no_sleep,
    )
    hs = HubSpotClient(
        HubSpotSettings(token=hs_box.settings.token, base_url=HS, requests_per_10s=100_000),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=hs_app)),
        sleep=_no_sleep,
    )
    store = await Store.open(config.store)
    key_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=cw_app))
    server = Server(config, store, cw, hs, key_http, workers=2)
    server_app = create_server_app(server)
    app = httpx.AsyncClient(transport=httpx.ASGITransport(app=server_app), base_url=ME)
    cw_box.callbacks.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server_app))
    hs_box.webhooks.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=server_app))
    hs_admin = httpx.AsyncClient(transport=httpx.ASGITransport(app=hs_app), base_url=HS)
    await server.start(schedule=False)
    await HUBSPOT.required(server).run()
    specs = desired_callbacks(types=["company", "contact", "opportunity"], public_url=ME, tenant="default")
    await CallbackManager(cw, tenant="default").install(specs)
    try:
        yield System(cw_box, hs_box, server, app, hs_admin)
    finally:
        await server.stop()
        for client in (app, hs_admin, key_http, cw_box.callbacks.http, hs_box.webhooks.http):
            await client.aclose()
        await cw.aclose()
        await hs.aclose()
        await store.close()


async def _synced_contact(system: System) -> tuple[dict[str, Any], str]:
    """A ConnectWise contact that is linked, with its HubSpot id."""
    for link_page in [await system.server.store.links_by_left("default", "contacts", [str(i) for i in range(1, 60)])]:
        for left_id, link in sorted(link_page.items(), key=lambda kv: int(kv[0])):
            record = await system.server.cw.get("company/contacts", int(left_id))
            return record, link.right_id
    raise AssertionError("no linked contact")


async def test_connectwise_callback_syncs_the_record_without_polling(system: System) -> None:
    """A change in ConnectWise → signed callback → record job → HubSpot updated; no scheduled run involved."""
    contact, hs_id = await _synced_contact(system)
    await system.server.cw.patch(
        "company/contacts", contact["id"], [{"op": "replace", "path": "title", "value": "CTO"}]
    )
    await system.cw_box.callbacks.drain()
    assert [d.status for d in system.cw_box.callbacks.deliveries][-1] == 204
    await system.server.runner.wait_idle(timeout=20)
    got = await system.server.hs.get("contacts", hs_id, properties=["jobtitle"])
    assert got["properties"]["jobtitle"] == "CTO"
    [run] = await system.server.store.runs("default", limit=1)
    assert (run.kind, run.trigger) == ("record", "callback")


async def test_hubspot_webhook_syncs_back_to_connectwise(system: System) -> None:
    """A change made in HubSpot → signed webhook → record job → ConnectWise updated."""
    contact, hs_id = await _synced_contact(system)
    r = await system.hs_admin.put(
        "/_sandbox/webhooks/subscription",
        json={"target_url": f"{ME}/hooks/hubspot", "event_types": ["contact.propertyChange"]},
    )
    assert r.status_code == 200, r.text
    r = await system.hs_admin.patch(
        f"/_sandbox/objects/contacts/{hs_id}", json={"properties": {"lastname": "Webhooked"}}
    )
    assert r.status_code == 200, r.text
    await system.hs_box.webhooks.drain()
    await system.server.runner.wait_idle(timeout=20)
    after = await system.server.cw.get("company/contacts", contact["id"])
    assert after["lastName"] == "Webhooked"


async def _signed_callback(system: System, record_id: int, message_id: str = "m-1") -> tuple[bytes, str]:
    return _signed_body(system, record_id, message_id)


async def test_bad_requests_are_refused_and_queue_nothing(system: System) -> None:
    """Unknown tenant or wrong legacy token → 404; bad or missing signature → 401; malformed → 400; nothing queued."""
    before = await system.server.jobs.counts()
    body, signature = await _signed_callback(system, 3)
    url = "/hooks/connectwise/default?id=3"
    for wrong in ("/hooks/connectwise/other?id=3", "/hooks/connectwise/default/wrong?id=3"):
        assert (
            await system.app.post(wrong, content=body, headers={"x-content-signature": signature})
        ).status_code == 404
    assert (
        await system.app.post(url, content=body + b" ", headers={"x-content-signature": signature})
    ).status_code == 401
    assert (await system.app.post(url, content=body)).status_code == 401
    bad = b"not json"
    assert (
        await system.app.post(
            url,
            content=bad,
            headers={"x-content-signature": connectwise_signature(bad, system.cw_box.callbacks.signing_key)},
        )
    ).status_code == 400
    r = await system.app.post(
        "/hooks/hubspot", content=b"[]", headers={"x-hubspot-signature-v3": "nope", "x-hubspot-request-timestamp": "1"}
    )
    assert r.status_code == 401
    assert await system.server.jobs.counts() == before


async def test_duplicate_callbacks_make_one_job(system: System) -> None:
    """The same callback delivered twice (same MessageId) queues one job."""
    body, signature = await _signed_callback(system, 4, "dup-1")
    url = f"/hooks/connectwise/default/{TOKEN}?id=4"  # the legacy URL (token in the path) still takes callbacks
    first = await system.app.post(url, content=body, headers={"x-content-signature": signature})
    second = await system.app.post(url, content=body, headers={"x-content-signature": signature})
    assert (first.status_code, second.status_code) == (204, 204)
    await system.server.runner.wait_idle(timeout=20)
    runs = [r for r in await system.server.store.runs("default", limit=10) if r.trigger == "callback"]
    assert len(runs) == 1


async def test_api_requires_its_token(system: System) -> None:
    """/api/* needs the bearer token (health does not); with it, runs list and a sync can be queued."""
    assert (await system.app.get("/api/health")).status_code == 200
    assert (await system.app.get("/api/runs")).status_code == 401
    assert (await system.app.get("/api/runs", headers={"Authorization": "Bearer wrong"})).status_code == 401
    auth = {"Authorization": f"Bearer {API}"}
    runs = (await system.app.get("/api/runs", headers=auth)).json()
    assert runs[0]["kind"] == "incremental"
    detail = (await system.app.get(f"/api/runs/{runs[0]['run_id']}", headers=auth)).json()
    assert detail["items"]
    # PL-4: runs and their items filter and page
    params = {"pair": "contacts", "kind": "incremental"}
    contacts = (await system.app.get("/api/runs", params=params, headers=auth)).json()
    assert contacts
    assert all("contacts" in r["objects"] for r in contacts)
    assert (await system.app.get("/api/runs", params={"integration": "hudu"}, headers=auth)).json() == []
    assert (await system.app.get("/api/runs", params={"since": "2999-01-01"}, headers=auth)).json() == []
    first = detail["items"][0]
    wanted = first["connectwise_id"] or first["hubspot_id"]
    only = await system.app.get(f"/api/runs/{runs[0]['run_id']}", params={"record": wanted}, headers=auth)
    assert {wanted} <= {v for i in only.json()["items"] for v in (i["connectwise_id"], i["hubspot_id"])}
    none = await system.app.get(f"/api/runs/{runs[0]['run_id']}", params={"text": "no such reason"}, headers=auth)
    assert none.json()["items"] == []
    item = next(i for i in detail["items"] if i["connectwise_id"] and i["hubspot_id"])
    explained = await system.app.get(f"/api/records/hubspot/{item['pair']}/{item['hubspot_id']}", headers=auth)
    assert explained.json()["link"]["connectwise_id"] == item["connectwise_id"]  # `cwsync explain`, over HTTP
    assert (await system.app.get("/api/records/salesforce/companies/1", headers=auth)).status_code == 404
    queued = await system.app.post("/api/sync", params={"objects": "companies"}, headers=auth)
    assert queued.status_code == 202
    assert len(queued.json()["jobs"]) == 1
    assert (await system.app.get("/openapi.json")).json()["info"]["title"] == "cwsync"
    await system.server.runner.wait_idle(timeout=20)


async def test_lost_callback_is_healed_by_the_next_cycle(system: System) -> None:
    """A callback that never arrives is healed by the next incremental run (the scheduler's job)."""
    contact, hs_id = await _synced_contact(system)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("the network ate it", request=request)

    system.cw_box.callbacks.http = httpx.AsyncClient(transport=httpx.MockTransport(unreachable))
    ops = [{"op": "replace", "path": "title", "value": "Healed"}]
    await system.server.cw.patch("company/contacts", contact["id"], ops)
    await system.cw_box.callbacks.drain()
    assert system.cw_box.callbacks.deliveries[-1].status is None
    auth = {"Authorization": f"Bearer {API}"}
    assert (await system.app.post("/api/sync", params={"objects": "contacts"}, headers=auth)).status_code == 202
    await system.server.runner.wait_idle(timeout=30)
    got = await system.server.hs.get("contacts", hs_id, properties=["jobtitle"])
    assert got["properties"]["jobtitle"] == "Healed"


async def test_out_of_order_and_duplicate_callbacks_end_in_the_latest_state(system: System) -> None:
    """Callbacks are hints: two changes, their callbacks replayed out of order and twice, end in the latest value."""
    contact, hs_id = await _synced_contact(system)
    for title in ("First", "Second"):
        ops = [{"op": "replace", "path": "title", "value": title}]
        await system.server.cw.patch("company/contacts", contact["id"], ops)
    await system.cw_box.callbacks.drain()
    for message_id in ("late-2", "late-1", "late-2"):
        body, signature = await _signed_callback(system, int(contact["id"]), message_id)
        r = await system.app.post(
            f"/hooks/connectwise/default?id={contact['id']}",
            content=body,
            headers={"x-content-signature": signature},
        )
        assert r.status_code == 204
    await system.server.runner.wait_idle(timeout=30)
    got = await system.server.hs.get("contacts", hs_id, properties=["jobtitle"])
    assert got["properties"]["jobtitle"] == "Second"


async def test_a_restart_mid_queue_resumes_the_jobs(system: System) -> None:
    """Jobs left queued by a stopped server, and one a crashed process was running, run after a restart."""
    links = await system.server.store.links_by_left("default", "contacts", [str(i) for i in range(1, 80)])
    (first, hs_first), (second, hs_second) = sorted(links.items(), key=lambda kv: int(kv[0]))[:2]
    hs_ids = [hs_first.right_id, hs_second.right_id]
    await system.server.runner.stop()  # the process stops taking jobs; callbacks still queue them
    for left_id, title in ((first, "Resumed A"), (second, "Resumed B")):
        await system.server.cw.patch(
            "company/contacts", int(left_id), [{"op": "replace", "path": "title", "value": title}]
        )
    await system.cw_box.callbacks.drain()
    assert [d.status for d in system.cw_box.callbacks.deliveries][-2:] == [204, 204]
    assert (await system.server.jobs.counts())["queued"] == 2
    # ... and a process that claimed one of them died without finishing it (its heartbeat stopped 5 minutes ago).
    dead = "dead-host:1:abc"
    crashed = await system.server.jobs.claim(worker=dead, now=datetime.now(UTC))
    assert crashed is not None
    await system.server.jobs.heartbeat([crashed.job_id], worker=dead, now=datetime.now(UTC) - timedelta(minutes=5))
    got = await system.server.hs.batch_read("contacts", hs_ids, properties=["jobtitle"])
    assert {c["properties"].get("jobtitle") for c in got}.isdisjoint({"Resumed A", "Resumed B"})

    s = system.server
    restarted = Server(s.config, s.store, s.cw, s.hs, s.key_http, workers=2)
    await restarted.start(schedule=False)
    try:
        await restarted.runner.wait_idle(timeout=30)
    finally:
        await restarted.stop()
    got = await s.hs.batch_read("contacts", hs_ids, properties=["jobtitle"])
    assert sorted(c["properties"]["jobtitle"] for c in got) == ["Resumed A", "Resumed B"]
    job = await s.jobs.get(crashed.job_id)
    assert job is not None
    assert (job.status, job.attempts) == ("done", 1)  # the abandoned attempt counts
    assert (await s.jobs.counts())["queued"] == 0


async def test_callbacks_are_answered_while_the_engine_holds_its_loop(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Served as `cwsync serve` serves it (`IntakeServer`, real HTTP): while a record batch holds the engine's event
    loop (a long stretch without an await), a signed callback is answered 204 with its job already committed, and a
    malformed one is refused 400 with nothing queued; the held batch and the new job run once the loop is free."""
    held, release, over = threading.Event(), threading.Event(), threading.Event()
    hubspot = system.server.owner("contacts")
    run_records = hubspot.run_records

    async def holding(server: Server, jobs: Any) -> None:
        held.set()
        release.wait(HOLD)  # blocks the loop: no await until the other thread has had its answers
        over.set()
        await run_records(server, jobs)

    monkeypatch.setattr(hubspot, "run_records", holding)
    port = free_port()
    web = IntakeServer(
        create_server_app(system.server), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    serving = asyncio.create_task(web.serve())
    deadline = time.monotonic() + HOLD
    while not web.started:
        assert not serving.done(), "the server stopped at its start"
        assert time.monotonic() < deadline, "the server did not start"
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{port}/hooks/connectwise/default?id="
    seen: dict[str, Any] = {}

    def while_held() -> None:
        try:
            assert held.wait(HOLD), "no batch started"
            body, signature = _signed_body(system, 5, "held-2")
            bad = b"not json"
            bad_signature = connectwise_signature(bad, system.cw_box.callbacks.signing_key)
            with httpx.Client(timeout=HOLD) as client:
                seen["good"] = client.post(url + "5", content=body, headers={"x-content-signature": signature})
                seen["bad"] = client.post(url + "6", content=bad, headers={"x-content-signature": bad_signature})
            seen["held"] = not over.is_set()
            with sqlite3.connect(system.server.store._engine.url.database or "") as conn:
                seen["jobs"] = conn.execute("SELECT record FROM jobs WHERE status = 'queued'").fetchall()
        finally:
            release.set()

    helper = threading.Thread(target=while_held)
    try:
        # started first: its job's batch may take the loop before this coroutine has read its answer
        helper.start()
        async with httpx.AsyncClient(timeout=HOLD) as http:
            body, signature = _signed_body(system, 3, "held-1")  # its key fetched and cached, its job the held batch
            first = await http.post(url + "3", content=body, headers={"x-content-signature": signature})
        assert first.status_code == 204
        await asyncio.to_thread(helper.join, HOLD)
        await system.server.runner.wait_idle(timeout=HOLD)
    finally:
        release.set()
        web.should_exit = True
        await serving
    assert seen["held"], "the answers came only once the loop was free"
    assert (seen["good"].status_code, seen["bad"].status_code) == (204, 400)
    assert seen["jobs"] == [("connectwise:contacts:5",)]  # committed before the 204; nothing for the bad one
    runs = [r for r in await system.server.store.runs("default", limit=10) if r.trigger == "callback"]
    assert sum(r.counts.total for r in runs) == 2


def _signed_body(system: System, record_id: int, message_id: str) -> tuple[bytes, str]:
    box = system.cw_box
    body = json.dumps(
        {
            "MessageId": message_id,
            "Action": "updated",
            "Type": "contact",
            "ID": record_id,
            "CompanyId": box.settings.company_id,
            "Entity": json.dumps({"id": record_id}),
            "Metadata": {"key_url": box.callbacks.key_url},
        }
    ).encode()
    return body, connectwise_signature(body, box.callbacks.signing_key)
