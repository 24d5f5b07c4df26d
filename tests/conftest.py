"""Shared fixtures: a small sandbox, raw HTTP clients on it (in-process and over loopback)."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import structlog

from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox, create_app
from cwsync_sandbox.server import RunningSandbox, running_sandbox

BASE = "http://sandbox.test"


def auth_headers(settings: SandboxSettings, *, private_key: str | None = None) -> dict[str, str]:
    """The headers a real integration sends: Basic company+public:private, clientId, pinned Accept."""
    user = f"{settings.company_id}+{settings.public_key}:{private_key or settings.private_key}"
    return {
        "Authorization": "Basic " + base64.b64encode(user.encode()).decode(),
        "clientId": settings.client_id,
        "Accept": "application/vnd.connectwise.com+json; version=2025.8",
    }


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Tests that run the CLI configure structlog; put the defaults back afterwards."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def sandbox() -> Sandbox:
    """A small deterministic sandbox (about 600 records)."""
    return build_sandbox(SandboxSettings(base_url=BASE, records=600, seed=7))


@pytest.fixture
async def raw(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to the sandbox in-process, authenticated, rooted at the API."""
    transport = httpx.ASGITransport(app=create_app(sandbox))
    async with httpx.AsyncClient(
        transport=transport, base_url=sandbox.api_root + "/", headers=auth_headers(sandbox.settings)
    ) as client:
        yield client


@pytest.fixture
def served() -> Iterator[RunningSandbox]:
    """A sandbox served by uvicorn on 127.0.0.1 (a free port)."""
    with running_sandbox(SandboxSettings(records=600, seed=7)) as running:
        yield running


if os.environ.get("CWSYNC_TEST_CPU"):
    pytest_plugins = ["tests.cpu_report"]
