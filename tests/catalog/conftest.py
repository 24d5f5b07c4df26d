"""Shared by the catalog and quote tests: both sandboxes in-process, clients counting requests, a SQLite store."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.http import RetryPolicy
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.integrations.catalog.engine import CatalogEngine
from cwsync.store import Link, Store
from cwsync.workflows.quotes.workflow import REMEMBER_SECONDS, QuoteWorkflow
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox, create_app
from cwsync_sandbox.hubspot import HubSpotSandbox, HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app

CW_BASE = "http://cw.test"
HS_BASE = "http://hs.test"
API_TOKEN = "api-token-789"
CATALOG_SECTION: dict[str, Any] = {
    "categories": {"Hardware": "Hardware", "Software": "Software", "Services": "Services"},
    "product_types": {"Hardware": "Physical", "Software": "Digital", "Service": "Service"},
    "product_statuses": {"Active": "active", "Inactive": "archive"},
    "default_category": "Other products",
    "default_product_type": "Other",
    "shipping_product": "SHIP-GROUND",
}


async def no_sleep(_: float) -> None:
    """Tests never wait."""


def make_config(tmp_path: Path, box: Sandbox, **catalog: Any) -> Config:
    """A configuration pointing at both sandboxes, with the catalog section (overrides from `catalog`)."""
    s = box.settings
    return Config.model_validate(
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
                },
                "hubspot": {"token": HubSpotSandboxSettings().token, "base_url": HS_BASE},
            },
            "syncs": {"catalog": {**CATALOG_SECTION, **catalog}, "hubspot": {}},
            "server": {"api_token": API_TOKEN, "public_url": "http://cwsync.test"},
        }
    )


@dataclass
class World:
    """Both sandboxes, counting clients on them, a store, the engine and the quote workflow."""

    tmp_path: Path
    cw_box: Sandbox
    hs_box: HubSpotSandbox
    cw: ConnectWiseClient
    hs: HubSpotClient
    store: Store
    config: Config
    calls: Counter[str] = field(default_factory=Counter)
    """Requests by `METHOD host` (e.g. `POST cw.test`)."""
    paths: Counter[str] = field(default_factory=Counter)
    """ConnectWise requests by `METHOD collection` (e.g. `GET company/contacts`, ids left out)."""

    def engine(self, **catalog: Any) -> CatalogEngine:
        """The catalog engine (with `syncs.catalog` options changed by `catalog`)."""
        config = make_config(self.tmp_path, self.cw_box, **catalog) if catalog else self.config
        return CatalogEngine(config, self.store, self.cw, self.hs)

    def quotes(self, *, remember_seconds: float = REMEMBER_SECONDS, **catalog: Any) -> QuoteWorkflow:
        """A quote workflow (each its own memory of the records recent quotes resolved: `Recent`)."""
        config = make_config(self.tmp_path, self.cw_box, **catalog) if catalog else self.config
        return QuoteWorkflow(config, self.store, self.cw, self.hs, remember_seconds=remember_seconds)

    def writes(self, host: str = "cw.test") -> int:
        """Writes (anything but GET) made to a host so far."""
        return sum(n for key, n in self.calls.items() if key.endswith(host) and not key.startswith("GET"))

    def cw_all(self, entity: str) -> list[dict[str, Any]]:
        """Every live record of a ConnectWise sandbox entity."""
        return [r for i in self.cw_box.store.ids(entity) if (r := self.cw_box.store.get(entity, i)) is not None]

    def products(self) -> dict[str, dict[str, str]]:
        """Live HubSpot products as the sandbox holds them, by SKU."""
        records = self.hs_box.state.records["products"]
        return {props.get("hs_sku", ""): {"id": str(i), **props} for i, props in records.items()}

    def archived_products(self) -> dict[str, dict[str, str]]:
        """Archived HubSpot products, by SKU."""
        archived = self.hs_box.state.archived["products"]
        return {props.get("hs_sku", ""): {"id": str(i), **props} for i, (props, _) in archived.items()}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """A ConnectWise sandbox with a 120-item catalog, an empty HubSpot portal, a SQLite store; requests counted."""
    cw_box = build_sandbox(SandboxSettings(base_url=CW_BASE, records=300, seed=3, counts={"catalog_items": 120}))
    hs_box = build_hubspot_sandbox(
        HubSpotSandboxSettings(base_url=HS_BASE, rate_limit_per_10s=100_000, search_per_second=100_000)
    )
    config = make_config(tmp_path, cw_box)
    calls: Counter[str] = Counter()
    paths: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        calls[f"{request.method} {request.url.host}"] += 1
        if request.url.host == "cw.test" and "/apis/3.0/" in request.url.path:
            parts = request.url.path.split("/apis/3.0/", 1)[1].split("/")
            paths[f"{request.method} {'/'.join(p for p in parts[:2])}"] += 1

    hooks: Any = {"request": [count]}
    s = config.connections.connectwise
    cw = ConnectWiseClient(
        ConnectWiseSettings(
            site=s.site,
            company_id=s.company_id,
            public_key=s.public_key,
            private_key=s.private_key,
            client_id=s.client_id,
            requests_per_minute=None,
        ),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(cw_box)), event_hooks=hooks),
        sleep=no_sleep,
    )
    hs = HubSpotClient(
        HubSpotSettings(token=HubSpotSandboxSettings().token, base_url=HS_BASE, requests_per_10s=100_000),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=create_hubspot_app(hs_box)), event_hooks=hooks),
        sleep=no_sleep,
        retry=RetryPolicy(attempts=3, base=0.01, cap=0.02),
    )
    store = await Store.open(config.store)
    try:
        yield World(tmp_path, cw_box, hs_box, cw, hs, store, config, calls, paths)
    finally:
        await store.close()
        await cw.aclose()
        await hs.aclose()


async def link_records(store: Store, box: Sandbox, tenant: str, quote: Any, *, company_id: int | None = None) -> None:
    """Links as the HubSpot sync and the catalog sync keep them for a quote's company, contact and products (left id
    = ConnectWise id; the identifier, e-mail and SKU among the left values, as their projections hold them); with
    `company_id`, the company's link (and the contact's company) points there instead (a stale link). A product the
    catalog does not have is linked under a made-up id (a stale product link)."""

    def live(entity: str) -> list[dict[str, Any]]:
        return [r for i in box.store.ids(entity) if (r := box.store.get(entity, i)) is not None]

    company = next(c for c in live("companies") if c["identifier"] == quote.company)
    contact = next(
        c for c in live("contacts") if any(i.get("value") == quote.contact for i in c.get("communicationItems") or [])
    )
    linked_id = company_id or company["id"]
    items = {i["identifier"].lower(): i for i in live("catalog_items")}
    company_values = {"connectwise_company_id": company["identifier"], "name": company["name"]}
    contact_values = {"email": quote.contact, "company": str(linked_id), "firstname": contact.get("firstName")}
    links = [
        Link(tenant=tenant, pair="companies", left_id=str(linked_id), right_id="1", left_values=company_values),
        Link(tenant=tenant, pair="contacts", left_id=str(contact["id"]), right_id="2", left_values=contact_values),
    ]
    for n, sku in enumerate([line.product for line in quote.lines] + ["SHIP-GROUND"]):
        item_id = items[sku.lower()]["id"] if sku.lower() in items else 900_000 + n
        values = {"hs_sku": sku}
        links.append(
            Link(tenant=tenant, pair="catalog:products", left_id=str(item_id), right_id=f"{n}", left_values=values)
        )
    async with store.transaction() as tx:
        await tx.upsert_links(links)
