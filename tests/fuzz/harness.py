"""A `cwsync serve` app on both sandboxes (in-process), with HubSpot, catalog and quotes on, for attack tests.

The server is not started: webhooks and the API queue jobs in the store, and nothing runs them, so a test sees
exactly what a request queued (`queued()`), and no run touches the sandboxes behind its back.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.runtime.intake import connectwise_signature, hubspot_signature_v3
from cwsync.server.app import Server, create_app
from cwsync.store import Store
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox
from cwsync_sandbox.connectwise.app import create_app as create_cw_app
from cwsync_sandbox.hubspot import HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app

CW, HS, ME = "http://cw.test", "http://hs.test", "http://cwsync.test"
TOKEN, API = "callback-token-123", "api-token-456"
AUTH = {"Authorization": f"Bearer {API}"}
HOOK = f"/hooks/connectwise/default/{TOKEN}"
BOGUS_SIGNATURE = base64.b64encode(bytes(32)).decode()  # well-formed (a SHA-256 digest), wrong


async def _no_sleep(_: float) -> None:
    return None


@dataclass
class Edge:
    """The server under attack, a client on its app, and what signs requests as ConnectWise and HubSpot do."""

    server: Server
    app: httpx.AsyncClient
    cw_box: Sandbox
    client_secret: str

    async def queued(self) -> int:
        """Jobs in the store, whatever their state."""
        return sum((await self.server.jobs.counts()).values())

    def callback(self, **fields: Any) -> bytes:
        """A ConnectWise callback body (a contact update) with `fields` changed; `None` values are dropped."""
        body: dict[str, Any] = {
            "MessageId": f"m-{time.monotonic_ns()}",
            "Action": "updated",
            "Type": "contact",
            "ID": 5,
            "CompanyId": self.cw_box.settings.company_id,
            "Metadata": {"key_url": self.cw_box.callbacks.key_url},
        }
        body.update(fields)
        return json.dumps({k: v for k, v in body.items() if v is not None}).encode()

    def cw_signature(self, body: bytes) -> str:
        """The `x-content-signature` ConnectWise sends for `body`."""
        return connectwise_signature(body, self.cw_box.callbacks.signing_key)

    def hs_headers(self, body: bytes, *, uri: str = f"{ME}/hooks/hubspot") -> dict[str, str]:
        """The signature headers HubSpot sends for `body` now."""
        stamp = str(int(time.time() * 1000))
        signature = hubspot_signature_v3(
            client_secret=self.client_secret, method="POST", uri=uri, body=body, timestamp=stamp
        )
        return {"x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": stamp}


def edge_config(tmp_path: Path, box: Sandbox, client_secret: str, **server: Any) -> Config:
    """HubSpot sync, catalog and quotes on the sandboxes; `server` overrides the server section."""
    s = box.settings
    return Config.model_validate(
        {
            "store": f"sqlite:///{tmp_path / 'edge.db'}",
            "connections": {
                "connectwise": {
                    "site": CW,
                    "company_id": s.company_id,
                    "public_key": s.public_key,
                    "private_key": s.private_key,
                    "client_id": s.client_id,
                    "requests_per_minute": None,
                },
                "hubspot": {"token": HubSpotSandboxSettings().token, "base_url": HS},
            },
            "syncs": {"hubspot": {}, "catalog": {}},
            "server": {
                "public_url": ME,
                "callback_token": TOKEN,
                "api_token": API,
                "hubspot_client_secret": client_secret,
                "allow_http_key_urls": [CW],
                **server,
            },
        }
    )


@asynccontextmanager
async def edge(tmp_path: Path, **server: Any) -> AsyncIterator[Edge]:
    """The server on fresh sandboxes (40 records), not started; `server` overrides the server section."""
    cw_box = build_sandbox(SandboxSettings(base_url=CW, records=40, seed=11))
    hs_box = build_hubspot_sandbox(HubSpotSandboxSettings(base_url=HS, rate_limit_per_10s=100_000))
    config = edge_config(tmp_path, cw_box, hs_box.settings.client_secret, **server)
    cw_app, hs_app = create_cw_app(cw_box), create_hubspot_app(hs_box)
    s = cw_box.settings
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
    server_ = Server(config, store, cw, hs, key_http, workers=1)
    app = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(server_)), base_url=ME)
    try:
        yield Edge(server_, app, cw_box, hs_box.settings.client_secret)
    finally:
        await app.aclose()
        await key_http.aclose()
        await cw.aclose()
        await hs.aclose()
        await store.close()
