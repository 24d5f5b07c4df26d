"""Shared by the Hudu sync tests: both sandboxes in-process, clients on them counting requests, a store."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.http import RetryPolicy
from cwsync.connectors.hudu import HuduClient
from cwsync.integrations.hudu.context import connectwise_settings, hudu_settings
from cwsync.integrations.hudu.matching import Decision
from cwsync.integrations.hudu.run import HuduRunReport, HuduSyncEngine
from cwsync.store import Store
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox, create_app
from cwsync_sandbox.hudu import HuduSandbox, HuduSandboxSettings, build_hudu_sandbox, create_hudu_app

CW_BASE = "http://cw.test"
HUDU_BASE = "http://hudu.test"
SORT_RULES = [
    {"types": ["Managed Server", "Legacy Server", "Virtual Machine"], "layout": "Server"},
    {"types": ["Managed Workstation", "Laptop"], "layout": "Computer"},
    {"types": ["Firewall", "Switch", "Wireless AP"], "layout": "Network Device"},
]
SKIPPED_TYPES = ["Domain Name", "SSL Certificate"]


async def no_sleep(_: float) -> None:
    """Tests never wait."""


def hudu_sync_section(**overrides: Any) -> dict[str, Any]:
    """A `syncs.hudu` section: the seeded layouts, three sort rules, two skipped types, Agreements created."""
    section: dict[str, Any] = {
        "layouts": {
            "contacts": "People",
            "locations": "Locations",
            "configurations": "Configurations",
            "agreements": "Agreements",
            "sort_rules": SORT_RULES,
        },
        "skip_configuration_types": SKIPPED_TYPES,
        "create_missing_layouts": True,
    }
    section.update(overrides)
    return section


def make_config(tmp_path: Path, cw_box: Sandbox, hudu_box: HuduSandbox, **sync: Any) -> Config:
    """A configuration pointing at both sandboxes."""
    s = cw_box.settings
    return Config.model_validate(
        {
            "store": f"sqlite:///{tmp_path / 'cwsync.db'}",
            "connections": {
                "connectwise": {
                    "site": cw_box.settings.base_url,
                    "company_id": s.company_id,
                    "public_key": s.public_key,
                    "private_key": s.private_key,
                    "client_id": s.client_id,
                    "requests_per_minute": None,
                },
                "hudu": {
                    "base_url": hudu_box.settings.base_url,
                    "api_key": hudu_box.settings.api_key,
                    "requests_per_minute": 100_000,
                },
            },
            "syncs": {"hudu": hudu_sync_section(**sync)},
            "server": {"api_token": "api-token-456", "public_url": "http://cwsync.test"},
        }
    )


@dataclass
class World:
    """Both sandboxes, counting clients on them, a store, and a way to run the sync."""

    tmp_path: Path
    cw_box: Sandbox
    hudu_box: HuduSandbox
    cw: ConnectWiseClient
    hudu: HuduClient
    store: Store
    config: Config
    calls: Counter[str] = field(default_factory=Counter)
    """Hudu requests made by the engine, by method (`GET`, `POST`, `PUT`)."""

    def engine(self, **sync: Any) -> HuduSyncEngine:
        """The engine, with `syncs.hudu` options changed by `sync`."""
        config = self.config
        if sync:
            config = make_config(self.tmp_path, self.cw_box, self.hudu_box, **sync)
        return HuduSyncEngine(config, self.store, self.cw, self.hudu)

    async def sync(self, **kw: Any) -> HuduRunReport:
        """One run with the fixture's configuration."""
        return await self.engine().run(**kw)

    @property
    def writes(self) -> int:
        """Hudu writes so far."""
        return sum(n for method, n in self.calls.items() if method != "GET")

    def hudu_company_id(self, name: str) -> int:
        """A Hudu company's id by name."""
        return next(c["id"] for c in self.hudu_box.state.companies.values() if c["name"] == name)

    def assets(self, company_id: int) -> list[dict[str, Any]]:
        """A Hudu company's assets as the API shows them."""
        state = self.hudu_box.state
        return [state.asset_json(state.assets[i]) for i in state.assets_by_company.get(company_id, {})]

    async def match(self, cw_id: int, hudu_id: int | None = None) -> None:
        """Decide a company: matched to `hudu_id`, or (None) created new."""
        decision = Decision(cw_id, "match", hudu_id) if hudu_id else Decision(cw_id, "create")
        await self.engine().decide([decision])


def cw_record(box: Sandbox, entity: str, record_id: int) -> dict[str, Any]:
    """A ConnectWise sandbox record."""
    record = box.store.get(entity, record_id)
    assert record is not None
    return dict(record)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """A small ConnectWise (11 companies), the seeded Hudu instance, a SQLite store; requests counted."""
    cw_box = build_sandbox(SandboxSettings(base_url=CW_BASE, records=300, seed=3))
    hudu_box = build_hudu_sandbox(HuduSandboxSettings(base_url=HUDU_BASE, rate_limit_per_minute=100_000))
    config = make_config(tmp_path, cw_box, hudu_box)
    calls: Counter[str] = Counter()

    async def count(request: httpx.Request) -> None:
        calls[request.method] += 1

    cw = ConnectWiseClient(
        connectwise_settings(config),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(cw_box))),
        sleep=no_sleep,
    )
    hudu = HuduClient(
        hudu_settings(config),
        http=httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_hudu_app(hudu_box)), event_hooks={"request": [count]}
        ),
        sleep=no_sleep,
        retry=RetryPolicy(attempts=3, base=0.01, cap=0.02),
    )
    store = await Store.open(config.store)
    try:
        yield World(tmp_path, cw_box, hudu_box, cw, hudu, store, config, calls)
    finally:
        await store.close()
        await cw.aclose()
        await hudu.aclose()
