"""The server runs what the registry says: an entry's state is built and rebuilt by the server (`configure`),
and the HubSpot webhook asks each enabled entry what an event asks of it (`on_webhook`), naming no integration."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.runtime.intake import hubspot_signature_v3
from cwsync.server import app as server_app
from cwsync.server.app import Server, create_app
from cwsync.server.registry import REGISTRY, WebhookJob, _Base
from cwsync.store import Store

ME, SECRET = "http://cwsync.test", "client-secret-1"
CW = {
    "site": "http://cw.test",
    "company_id": "acme",
    "public_key": "pub",
    "private_key": "priv",
    "client_id": "client",
    "requests_per_minute": None,
}


class Probe(_Base):
    """An integration the server has never heard of: it wants deals' webhooks and counts its state's builds."""

    name = "probe"
    section = ("syncs", "probe")

    def __init__(self) -> None:
        self.builds = 0
        self.queued: list[str] = []

    def configure(self, server: Server) -> Any:
        self.builds += 1
        return {"build": self.builds}

    def enabled(self, server: Server) -> bool:
        return True

    def on_webhook(self, server: Server, pair: str, event: Mapping[str, Any]) -> WebhookJob | None:
        if pair != "deals":
            return None

        async def queue(object_id: str) -> int | None:
            self.queued.append(object_id)
            return len(self.queued)

        return queue


def _config(tmp_path: Path) -> Config:
    return Config.model_validate(
        {
            "store": f"sqlite:///{tmp_path / 's.db'}",
            "connections": {"connectwise": CW},
            "server": {"public_url": ME, "hubspot_client_secret": SECRET},
        }
    )


def _signed(events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000))
    signature = hubspot_signature_v3(
        client_secret=SECRET, method="POST", uri=f"{ME}/hooks/hubspot", body=body, timestamp=stamp
    )
    headers = {
        "content-type": "application/json",
        "x-hubspot-request-timestamp": stamp,
        "x-hubspot-signature-v3": signature,
    }
    return body, headers


async def test_an_entry_gets_its_state_and_its_webhooks_from_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = Probe()
    monkeypatch.setattr(server_app, "REGISTRY", (*REGISTRY, probe))
    config = _config(tmp_path)
    store = await Store.open(config.store)
    async with httpx.AsyncClient() as key_http, ConnectWiseClient(ConnectWiseSettings(**CW)) as cw:
        server = Server(config, store, cw, None, key_http)
        assert server.parts["probe"] == {"build": 1}
        assert server.integrations() == [probe]  # nothing else is configured
        await server.reload(config)
        assert server.parts["probe"] == {"build": 2}  # rebuilt from the new configuration

        deal = {"eventId": 7, "subscriptionType": "deal.propertyChange", "objectId": 42, "occurredAt": 1}
        contact = {"eventId": 8, "subscriptionType": "contact.propertyChange", "objectId": 43, "occurredAt": 1}
        transport = httpx.ASGITransport(app=create_app(server))
        async with httpx.AsyncClient(transport=transport, base_url=ME) as http:
            body, headers = _signed([deal, contact])
            assert (await http.post("/hooks/hubspot", content=body, headers=headers)).status_code == 204
            body, headers = _signed([deal])  # HubSpot's retry of the same event
            assert (await http.post("/hooks/hubspot", content=body, headers=headers)).status_code == 204
        assert probe.queued == ["42"]  # the deal once; the contact asked nothing of it
    await store.close()
