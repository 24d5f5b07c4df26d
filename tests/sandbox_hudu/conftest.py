"""Shared by the Hudu emulator tests: a sandbox with a fake clock, and an authenticated in-process client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from cwsync_sandbox.hudu import HuduSandbox, HuduSandboxSettings, build_hudu_sandbox, create_hudu_app

BASE = "http://hudu.test"
API = BASE + "/api/v1"


@dataclass
class FakeClock:
    """A monotonic clock the tests move by hand (the rate limiter reads it)."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """The rate limiter's clock."""
    return FakeClock()


@pytest.fixture
def box(clock: FakeClock) -> HuduSandbox:
    """The seeded instance (4 companies, 6 layouts) with a fake rate-limit clock."""
    sandbox = build_hudu_sandbox(HuduSandboxSettings(base_url=BASE))
    sandbox.limits.clock = clock
    return sandbox


@pytest.fixture
async def hudu(box: HuduSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client on the app, in-process, rooted at `/api/v1/`."""
    transport = httpx.ASGITransport(app=create_hudu_app(box))
    headers = {"x-api-key": box.settings.api_key}
    async with httpx.AsyncClient(transport=transport, base_url=API + "/", headers=headers) as client:
        yield client


def assert_error(response: httpx.Response, status: int, contains: str = "") -> str:
    """The response is a Hudu error `{"error": ...}` with this status (and a message containing `contains`)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    message = str(body["error"])
    assert contains.lower() in message.lower(), message
    return message


def layout_id(box: HuduSandbox, name: str) -> int:
    """The id of a seeded layout by name."""
    return next(layout["id"] for layout in box.state.layouts.values() if layout["name"] == name)
