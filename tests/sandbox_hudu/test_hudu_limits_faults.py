"""The Hudu emulator: the 300-a-minute rate limit, faults on demand, latency, settings and reset (B1, B10)."""

from __future__ import annotations

import time

import httpx

from cwsync_sandbox.faults import DroppedConnection
from cwsync_sandbox.hudu import HuduSandbox
from tests.sandbox_hudu.conftest import FakeClock


async def test_rate_limit_answers_retry_later(hudu: httpx.AsyncClient, box: HuduSandbox, clock: FakeClock) -> None:
    """The 301st request within a minute is a 429 `Retry later` with Retry-After; the window then rolls on."""
    for _ in range(300):
        assert (await hudu.get("api_info")).status_code == 200
    refused = await hudu.get("companies")
    assert refused.status_code == 429
    assert refused.text.strip() == "Retry later"
    assert refused.headers["retry-after"] == "60"
    clock.now += 30
    assert (await hudu.get("api_info")).headers["retry-after"] == "30"
    clock.now += 30.5
    assert (await hudu.get("api_info")).status_code == 200
    assert box.limits.usage()["refused"] == 2


async def test_rate_limit_counts_unauthenticated_requests(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """Requests with a wrong key count too (the limit sits in front of authentication)."""
    box.tune({"rate_limit_per_minute": 2})
    assert (await hudu.get("api_info", headers={"x-api-key": "wrong"})).status_code == 401
    assert (await hudu.get("api_info")).status_code == 200
    assert (await hudu.get("api_info")).status_code == 429


async def test_limit_is_settable_and_header_optional(hudu: httpx.AsyncClient) -> None:
    """`PUT /_sandbox/settings` lowers the limit and can drop Retry-After; unknown settings are refused."""
    changed = await hudu.put("../../_sandbox/settings", json={"rate_limit_per_minute": 1, "retry_after_header": False})
    assert changed.json()["settings"]["rate_limit_per_minute"] == 1
    assert (await hudu.get("api_info")).status_code == 200
    refused = await hudu.get("api_info")
    assert refused.status_code == 429
    assert "retry-after" not in refused.headers
    assert (await hudu.put("../../_sandbox/settings", json={"token": "x"})).status_code == 422
    await hudu.post("../../_sandbox/limits/reset")
    assert (await hudu.get("api_info")).status_code == 200


async def test_faults_inject_errors_and_spare_admin(hudu: httpx.AsyncClient) -> None:
    """`error_share=1` turns every API call into Hudu's 500 body; admin endpoints stay healthy."""
    await hudu.put("../../_sandbox/faults", json={"error_share": 1, "error_statuses": [500]})
    failed = await hudu.get("companies")
    assert failed.status_code == 500
    assert failed.json() == {"status": 500, "error": "Internal Server Error"}
    faults = (await hudu.get("../../_sandbox/faults")).json()
    assert faults["counters"]["errors"] == 1
    await hudu.put("../../_sandbox/faults", json={})
    assert (await hudu.get("companies")).status_code == 200


async def test_fault_429_carries_retry_after(hudu: httpx.AsyncClient) -> None:
    """`rate_limit_share=1` answers 429 with the configured Retry-After and a `Retry later` error."""
    await hudu.put("../../_sandbox/faults", json={"rate_limit_share": 1, "retry_after": 7})
    refused = await hudu.get("companies")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "7"
    assert refused.json() == {"error": "Retry later"}


async def test_dropped_connection_fault(hudu: httpx.AsyncClient) -> None:
    """`drop_share=1` cuts the connection, as a peer closing mid-response would."""
    await hudu.put("../../_sandbox/faults", json={"drop_share": 1})
    try:
        await hudu.get("companies")
    except (DroppedConnection, httpx.RemoteProtocolError):
        return
    raise AssertionError("the connection was not dropped")


async def test_latency_setting_delays_api_calls(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """`latency_ms` is added to every API call (and not to admin calls)."""
    box.tune({"latency_ms": 80})
    started = time.monotonic()
    await hudu.get("api_info")
    assert time.monotonic() - started >= 0.08
    started = time.monotonic()
    await hudu.get("../../_sandbox")
    assert time.monotonic() - started < 0.08


async def test_reset_restores_the_dataset(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """`POST /_sandbox/reset` forgets writes and rate-limit usage."""
    await hudu.post("companies", json={"company": {"name": "Temporary"}})
    await hudu.delete("companies/1")
    reset = (await hudu.post("../../_sandbox/reset")).json()
    assert reset["counts"]["companies"] == 4
    names = [c["name"] for c in (await hudu.get("companies")).json()["companies"]]
    assert names[0] == "Acme Dental Group"
    assert "Temporary" not in names
    assert box.limits.usage()["window_used"] == 1
