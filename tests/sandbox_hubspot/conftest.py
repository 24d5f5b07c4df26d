"""Shared by the HubSpot emulator tests: an authenticated in-process client on each test module's `box`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cwsync_sandbox.hubspot import HubSpotSandbox, create_hubspot_app

BASE = "http://hubspot.test"


@pytest.fixture
async def hs(box: HubSpotSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An authenticated client on the app, in-process."""
    transport = httpx.ASGITransport(app=create_hubspot_app(box))
    headers = {"Authorization": f"Bearer {box.settings.token}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
        yield client


def assert_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    """The response is a HubSpot error with this status and category (and a uuid correlationId)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    uuid.UUID(body["correlationId"])
    return body
