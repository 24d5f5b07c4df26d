"""The console in-process: a `Server` on a small ConnectWise sandbox (no HubSpot), its app over ASGI, users."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.console import add_console
from cwsync.integrations.root import connectwise_settings
from cwsync.server.app import Server, create_app
from cwsync.store import Store
from cwsync.store.users import UserStore
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox
from cwsync_sandbox.connectwise.app import create_app as create_cw_app
from tests.console.live import PASSWORD, browser, live, live_tenants, page  # noqa: F401  (the browser tests' fixtures)

CW = "http://cw.test"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _no_sleep(_: float) -> None:
    return None


@dataclass
class Console:
    """The server, an HTTP client on its app, and its users."""

    server: Server
    http: httpx.AsyncClient
    users: UserStore
    sandbox: Sandbox
    config_path: Path

    async def login(self, name: str = "ann", password: str = PASSWORD) -> httpx.Response:
        """Log in through the form (CSRF token and all), as a browser does."""
        form = await self.http.get("/login")
        return await self.http.post(
            "/login", data={"username": name, "password": password, "csrf_token": csrf_of(form.text), "next": "/"}
        )

    async def csrf(self, path: str = "/") -> str:
        """The CSRF token of a page (the session's once logged in)."""
        return csrf_of((await self.http.get(path)).text)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def sandbox_config(tmp_path: Path, sandbox: Sandbox, site: str = CW) -> Config:
    """A configuration on the sandbox (no HubSpot: the console needs ConnectWise only)."""
    s = sandbox.settings
    return Config.model_validate(
        {
            "store": f"sqlite:///{tmp_path / 'console.db'}",
            "connections": {
                "connectwise": {
                    "site": site,
                    "company_id": s.company_id,
                    "public_key": s.public_key,
                    "private_key": s.private_key,
                    "client_id": s.client_id,
                    "requests_per_minute": None,
                }
            },
            "server": {"api_token": "console-test-api-token"},
        }
    )


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    """The console of a server on a 200-record sandbox, with an admin `ann` and a viewer `vic`."""
    sandbox = build_sandbox(SandboxSettings(base_url=CW, records=200, seed=5))
    config = sandbox_config(tmp_path, sandbox)
    path = tmp_path / "cwsync.yaml"
    path.write_text("# test configuration\n", encoding="utf-8")
    config._source = str(path)
    store = await Store.open(config.store)
    cw = ConnectWiseClient(
        connectwise_settings(config),
        http=httpx.AsyncClient(transport=httpx.ASGITransport(app=create_cw_app(sandbox))),
        sleep=_no_sleep,
    )
    async with httpx.AsyncClient() as key_http, cw:
        server = Server(config, store, cw, None, key_http)
        app = create_app(server)
        add_console(app, server)
        users = UserStore(store)
        await users.add("ann", PASSWORD, role="admin")
        await users.add("vic", PASSWORD, role="viewer")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(server, http, users, sandbox, path)
    await store.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run after the other tests (of their module, whatever process runs it): Playwright's sync
    API keeps an event loop running in the main thread for as long as a module's browser lives (`live.browser`), and
    no async test can run beside it (stable: each browser module's tests stay together and in order)."""
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))
