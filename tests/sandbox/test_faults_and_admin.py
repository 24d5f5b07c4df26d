"""Faults on demand and the admin endpoints, in-process and over loopback."""

from __future__ import annotations

import httpx
import pytest

from cwsync_sandbox.connectwise.app import Sandbox, create_app
from cwsync_sandbox.faults import FaultSettings
from cwsync_sandbox.server import RunningSandbox
from tests.conftest import BASE, auth_headers


async def test_rate_limit_429_has_retry_after_and_its_own_body(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """§3: a 429 carries Retry-After and the different {error, message} body."""
    sandbox.faults.update(FaultSettings(rate_limit_share=1.0, retry_after=7))
    r = await raw.get("company/companies")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"] == "ConnectWiseAPI"


async def test_server_errors_use_configured_statuses(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """error_share answers with one of error_statuses."""
    sandbox.faults.update(FaultSettings(error_share=1.0, error_statuses=[502]))
    assert (await raw.get("company/companies")).status_code == 502


async def test_dropped_connection_surfaces_as_protocol_error(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """A dropped connection looks like a peer closing mid-response, even in-process."""
    sandbox.faults.update(FaultSettings(drop_share=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        await raw.get("company/companies")


async def test_lost_response_still_applies_the_write(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """lost_response_share processes the request and then drops the answer (the write happened)."""
    before = sandbox.store.live_count("tickets")
    sandbox.faults.update(FaultSettings(lost_response_share=1.0))
    with pytest.raises(httpx.RemoteProtocolError):
        await raw.post("service/tickets", json={"summary": "lost", "company": {"id": 2}})
    assert sandbox.store.live_count("tickets") == before + 1


async def test_faults_are_a_share_and_repeatable(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """A 30% share gives roughly 30%, and the same seed gives the same sequence."""

    async def statuses() -> list[int]:
        sandbox.faults.update(FaultSettings(error_share=0.3, seed=5))
        return [(await raw.get("system/info")).status_code for _ in range(100)]

    first, second = await statuses(), await statuses()
    assert first == second
    assert 15 <= sum(s >= 500 for s in first) <= 45


async def test_throttle_per_minute(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """Above throttle_per_minute requests in a minute the API answers 429."""
    sandbox.faults.update(FaultSettings(throttle_per_minute=5))
    codes = [(await raw.get("system/info")).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429] * 3


async def test_admin_faults_change_while_running(sandbox: Sandbox) -> None:
    """PUT /_sandbox/faults changes faults at once; admin endpoints are never faulted; bad settings → 422."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        r = await c.put("/_sandbox/faults", json={"error_share": 1.0, "error_statuses": [503]})
        assert r.status_code == 200
        api = f"/{sandbox.codebase}apis/3.0/system/info"
        assert (await c.get(api, headers=auth_headers(sandbox.settings))).status_code == 503
        assert (await c.get("/_sandbox/faults")).json()["counters"]["errors"] == 1
        assert (await c.put("/_sandbox/faults", json={"error_share": 2})).status_code == 422
        await c.put("/_sandbox/faults", json={})
        assert (await c.get(api, headers=auth_headers(sandbox.settings))).status_code == 200


async def test_admin_members_and_deny(sandbox: Sandbox) -> None:
    """Admin can add an API member with denied modules, and change them; private keys are never listed."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        r = await c.post(
            "/_sandbox/members",
            json={
                "public_key": "pub2",
                "private_key": "priv2",
                "identifier": "limited",
                "deny": ["Procurement"],
            },
        )
        assert r.status_code == 200
        assert all("private_key" not in m for m in r.json())
        headers = auth_headers(sandbox.settings.model_copy(update={"public_key": "pub2"}), private_key="priv2")
        api = f"/{sandbox.codebase}apis/3.0/"
        assert (await c.get(api + "procurement/catalog", headers=headers)).status_code == 403
        assert (await c.put("/_sandbox/members/pub2/deny", json={"deny": []})).status_code == 200
        assert (await c.get(api + "procurement/catalog", headers=headers)).status_code == 200
        assert (await c.put("/_sandbox/members/pub2/deny", json={"deny": ["x:sometimes"]})).status_code == 422


async def test_admin_codebase_upgrade(sandbox: Sandbox) -> None:
    """After a simulated upgrade the old codebase cannot route and companyinfo reports the new one."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        old = sandbox.codebase
        await c.put("/_sandbox/codebase", json={"codebase": "v2026_2"})
        info = (await c.get(f"/login/companyinfo/{sandbox.settings.company_id}")).json()
        assert info["Codebase"] == "v2026_2/"
        r = await c.get(f"/{old}apis/3.0/system/info", headers=auth_headers(sandbox.settings))
        assert r.status_code == 404


async def test_admin_merge_keeps_last_updated(sandbox: Sandbox) -> None:
    """A merge sets deletedFlag without moving lastUpdated (the case incremental sync misses)."""
    before = sandbox.store.get("companies", 5)
    assert before is not None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        assert (await c.post("/_sandbox/companies/5/merge")).status_code == 200
    after = sandbox.store.get("companies", 5)
    assert after is not None
    assert after["deletedFlag"] is True
    assert after["_info"]["lastUpdated"] == before["_info"]["lastUpdated"]


async def test_admin_reset_forgets_writes(raw: httpx.AsyncClient, sandbox: Sandbox) -> None:
    """POST /_sandbox/reset drops every write; generated data stays."""
    count = sandbox.store.live_count("tickets")
    await raw.post("service/tickets", json={"summary": "tmp", "company": {"id": 2}})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)), base_url=BASE) as c:
        await c.post("/_sandbox/reset")
    assert sandbox.store.live_count("tickets") == count


async def test_loopback_drop_is_a_protocol_error(served: RunningSandbox) -> None:
    """Over a real socket, a dropped connection is seen by httpx as the peer closing mid-message."""
    served.sandbox.faults.update(FaultSettings(drop_share=1.0))
    async with httpx.AsyncClient(headers=auth_headers(served.sandbox.settings)) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.get(served.sandbox.api_root + "/company/companies")


async def test_loopback_slow_body_still_complete(served: RunningSandbox) -> None:
    """A trickled body arrives whole."""
    served.sandbox.faults.update(FaultSettings(slow_ms=50))
    async with httpx.AsyncClient(headers=auth_headers(served.sandbox.settings)) as c:
        r = await c.get(served.sandbox.api_root + "/company/contacts", params={"pageSize": 50})
    assert len(r.json()) == 50
