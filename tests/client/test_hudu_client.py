"""The Hudu client driven against the Hudu emulator over loopback (uvicorn), and against MockTransport for quirks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from cwsync.connectors.http import RetryPolicy
from cwsync.connectors.hudu import (
    AuthenticationError,
    HuduClient,
    HuduSettings,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ValidationError,
    custom_fields_body,
    field_values,
)
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.faults import FaultSettings
from cwsync_sandbox.hudu import HuduSandbox, HuduSandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox

pytestmark = pytest.mark.loopback


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it (shared by the client and the emulator)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def served() -> Iterator[RunningSandbox]:
    """Every emulator on loopback; the tests use Hudu under /hudu."""
    with running_sandbox(SandboxSettings(records=50, seed=3), hudu=HuduSandboxSettings(seed=5)) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    """The clock of the client's pacer and of the emulator's rate limiter."""
    return FakeClock()


@pytest.fixture
def box(served: RunningSandbox, clock: FakeClock) -> HuduSandbox:
    """The served Hudu sandbox, back at its seeded state, with no faults and the shared fake clock."""
    assert served.hudu is not None
    sandbox = served.hudu
    sandbox.reset()
    sandbox.faults.update(FaultSettings())
    sandbox.tune({"rate_limit_per_minute": 300, "retry_after_header": True})
    sandbox.limits.clock = clock
    return sandbox


def make_client(served: RunningSandbox, clock: FakeClock, *, key: str | None = None, **extra: Any) -> HuduClient:
    """A client on the served emulator, pacing on the fake clock."""
    assert served.hudu is not None
    settings = HuduSettings(api_key=key or served.hudu.settings.api_key, base_url=served.hudu_url, **extra)
    retry = RetryPolicy(attempts=8, base=0.01, cap=0.05)
    return HuduClient(settings, retry=retry, sleep=clock.sleep, clock=clock)


@pytest.fixture
async def hudu(served: RunningSandbox, box: HuduSandbox, clock: FakeClock) -> AsyncIterator[HuduClient]:
    """A client on the freshly reset emulator."""
    async with make_client(served, clock) as client:
        yield client


async def _all(pages: AsyncIterator[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [row async for page in pages for row in page]


def _layout(box: HuduSandbox, name: str) -> int:
    return next(layout["id"] for layout in box.state.layouts.values() if layout["name"] == name)


# -- connection and errors -----------------------------------------------------------------------------------------


async def test_connection_and_base_url_forms(served: RunningSandbox, box: HuduSandbox, clock: FakeClock) -> None:
    """`test_connection` answers the version; a base URL given with `/api/v1` works the same."""
    async with make_client(served, clock) as hudu:
        assert (await hudu.test_connection())["version"] == box.settings.version
    settings = HuduSettings(api_key=box.settings.api_key, base_url=served.hudu_url + "/api/v1/")
    assert settings.base_url == served.hudu_url


async def test_wrong_key_is_an_authentication_error_without_the_key(
    served: RunningSandbox, box: HuduSandbox, clock: FakeClock
) -> None:
    """A refused key raises AuthenticationError whose hint says where keys live; neither it nor the logs show it."""
    secret = "wrong-key-0123456789"
    with capture_logs() as logs:
        async with make_client(served, clock, key=secret) as hudu:
            with pytest.raises(AuthenticationError) as caught:
                await hudu.test_connection()
            text = repr(hudu) + repr(hudu.settings)
    error = caught.value
    assert error.status == 401
    assert "API Keys" in (error.hint or "")
    assert secret not in str(error) + text + repr(logs)


async def test_not_found_and_validation_errors(hudu: HuduClient) -> None:
    """A missing company is NotFoundError; a blank name is a ValidationError naming the field (422)."""
    with pytest.raises(NotFoundError):
        await hudu.get_company(9999)
    with pytest.raises(ValidationError) as caught:
        await hudu.create_company({"name": ""})
    assert (caught.value.status, caught.value.field) == (422, "name")


async def test_forbidden_maps_to_permission_denied() -> None:
    """403 (a key without destructive rights) is PermissionDeniedError with a hint about the key's scope."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error": "Destructive actions are not allowed for this API key"})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    settings = HuduSettings(api_key="k", base_url="https://acme.huducloud.com")
    async with HuduClient(settings, http=http) as hudu:
        with pytest.raises(PermissionDeniedError) as caught:
            await hudu.delete_asset(1, 2)
    assert "Destructive" in caught.value.message
    assert "scope" in (caught.value.hint or "")
    await http.aclose()


# -- paging --------------------------------------------------------------------------------------------------------


async def test_stream_companies_pages_until_a_short_page(hudu: HuduClient, box: HuduSandbox) -> None:
    """Small pages yield every company once, in id order, and stop at the short page."""
    for n in range(7):
        box.state.create_company({"name": f"Paged {n}"})
    pages = [page async for page in hudu.stream_companies(page_size=3)]
    assert [len(p) for p in pages] == [3, 3, 3, 2]
    assert [c["id"] for p in pages for c in p] == sorted(box.state.companies)


async def test_paging_survives_a_server_that_ignores_page_size() -> None:
    """A server that pages by 25 whatever `page_size` says is read to the end (a 25-row page is never last)."""
    rows = [{"id": n} for n in range(1, 61)]

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return httpx.Response(200, json={"companies": rows[(page - 1) * 25 : page * 25]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with HuduClient(HuduSettings(api_key="k", base_url="https://x.example", page_size=100), http=http) as hudu:
        assert [c["id"] for c in await _all(hudu.stream_companies())] == list(range(1, 61))
    await http.aclose()


async def test_paging_stops_when_a_server_repeats_its_page() -> None:
    """A server that ignores `page` (all rows on every page) yields each row once and stops."""
    rows = [{"id": n} for n in range(1, 26)]
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params["page"])
        return httpx.Response(200, json={"assets": rows})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with HuduClient(HuduSettings(api_key="k", base_url="https://x.example"), http=http) as hudu:
        assert len(await _all(hudu.stream_assets())) == 25
    assert calls == ["1", "2"]
    await http.aclose()


# -- round trips ---------------------------------------------------------------------------------------------------


async def test_company_create_update_archive_round_trip(hudu: HuduClient) -> None:
    """A created company reads back; an update changes only what was sent; archive hides it from the stream."""
    created = await hudu.create_company({"name": "Woodgrove Bank", "city": "Boston", "id_number": "CW-77"})
    updated = await hudu.update_company(created["id"], {"phone_number": "617-555-0100"})
    assert (updated["city"], updated["phone_number"]) == ("Boston", "617-555-0100")
    assert await hudu.get_company(created["id"]) == updated
    found = await _all(hudu.stream_companies(id_number="CW-77"))
    assert [c["id"] for c in found] == [created["id"]]
    assert (await hudu.archive_company(created["id"]))["archived"] is True
    assert created["id"] not in [c["id"] for c in await _all(hudu.stream_companies())]
    assert [c["id"] for c in await _all(hudu.stream_companies(archived=True))] == [created["id"]]


async def test_asset_custom_fields_round_trip(hudu: HuduClient, box: HuduSandbox) -> None:
    """Custom fields given by label are sent as [{snake_key: value}] and read back by label."""
    layout = _layout(box, "Computer")
    asset = await hudu.create_asset(
        2,
        name="WS-77",
        asset_layout_id=layout,
        fields={"primary_serial": "SN-77", "primary_manufacturer": "Dell"},
        custom_fields={"IP Address": "10.2.0.77", "Managed": True, "Purchase Date": "2024/02/29"},
    )
    assert field_values(asset) == {"IP Address": "10.2.0.77", "Managed": True, "Purchase Date": "2024-02-29"}
    changed = await hudu.update_asset(2, asset["id"], custom_fields={"IP Address": "10.2.0.78", "Managed": None})
    assert field_values(changed) == {"IP Address": "10.2.0.78", "Purchase Date": "2024-02-29"}
    assert (await hudu.get_asset(2, asset["id"]))["primary_serial"] == "SN-77"
    by_serial = await _all(hudu.stream_assets(primary_serial="SN-77"))
    assert [a["id"] for a in by_serial] == [asset["id"]]


def test_custom_fields_body_shape() -> None:
    """Labels become snake_case keys, one single-key object each."""
    body = custom_fields_body({"IP Address": "1", "hubspot_deal_id": 5})
    assert body == [{"ip_address": "1"}, {"hubspot_deal_id": 5}]


async def test_asset_streams_by_company_layout_and_time(hudu: HuduClient, box: HuduSandbox) -> None:
    """Assets stream per company, per layout, and changed since a time; archived ones drop out."""
    company_assets = await _all(hudu.stream_company_assets(3, page_size=3))
    assert len(company_assets) == 8
    assert {a["company_id"] for a in company_assets} == {3}
    servers = await _all(hudu.stream_assets(asset_layout_id=_layout(box, "Server")))
    assert {a["asset_type"] for a in servers} == {"Server"}
    assert len(servers) == 4
    box.state.now = lambda: datetime(2025, 9, 1, tzinfo=UTC)
    await hudu.update_asset(3, company_assets[0]["id"], fields={"name": "Renamed"})
    recent = await _all(hudu.stream_assets(updated_since=datetime(2025, 8, 1, tzinfo=UTC)))
    assert [a["name"] for a in recent] == ["Renamed"]
    await hudu.archive_asset(3, company_assets[0]["id"])
    assert len(await _all(hudu.stream_company_assets(3))) == 7


async def test_layouts(hudu: HuduClient) -> None:
    """Layouts list/create/get."""
    names = {layout["name"] for layout in await hudu.list_asset_layouts()}
    assert {"People", "Locations", "Computer", "Server", "Network Device"} <= names
    created = await hudu.create_asset_layout("Firewall", [{"label": "WAN IP", "field_type": "Text"}])
    assert (await hudu.get_asset_layout(created["id"]))["fields"][0]["label"] == "WAN IP"
    assert [x["id"] for x in await hudu.list_asset_layouts(name="Firewall")] == [created["id"]]


# -- rate limits and faults ------------------------------------------------------------------------------------------


async def test_pacer_keeps_under_the_limit(served: RunningSandbox, box: HuduSandbox, clock: FakeClock) -> None:
    """With the client's budget at the server's limit, a long run of requests never gets a 429."""
    box.tune({"rate_limit_per_minute": 5})
    async with make_client(served, clock, requests_per_minute=5) as hudu:
        for _ in range(12):
            await hudu.test_connection()
    assert box.limits.usage()["refused"] == 0
    assert sum(clock.sleeps) >= 120


async def test_429_honours_retry_after(served: RunningSandbox, box: HuduSandbox, clock: FakeClock) -> None:
    """A client allowed more than the server gets a 429, waits its Retry-After, and then succeeds."""
    box.tune({"rate_limit_per_minute": 3})
    async with make_client(served, clock, requests_per_minute=100) as hudu:
        for _ in range(5):
            await hudu.test_connection()
    assert box.limits.usage()["refused"] >= 1
    assert max(clock.sleeps) >= 59


async def test_429_without_retry_after_pauses_for_the_setting(
    served: RunningSandbox, box: HuduSandbox, clock: FakeClock
) -> None:
    """Without Retry-After the client holds off `rate_limit_pause` seconds; when retries run out it raises."""
    box.tune({"rate_limit_per_minute": 1, "retry_after_header": False})
    async with make_client(served, clock, requests_per_minute=100, rate_limit_pause=61) as hudu:
        await hudu.test_connection()
        await hudu.test_connection()
    assert max(clock.sleeps) >= 61
    box.limits.clock = lambda: 0.0  # the server's window never rolls on
    box.limits.reset()
    async with make_client(served, clock, requests_per_minute=100) as hudu:
        await hudu.test_connection()
        with pytest.raises(RateLimitedError) as caught:
            await hudu.test_connection()
    assert caught.value.retry_after == 60.0
    assert caught.value.attempts == 8


async def test_reads_survive_server_errors(served: RunningSandbox, box: HuduSandbox, clock: FakeClock) -> None:
    """With a third of requests failing (5xx), paging still yields every asset exactly once."""
    box.faults.update(FaultSettings(error_share=0.3, seed=4))
    async with make_client(served, clock, page_size=5) as hudu:
        assets = await _all(hudu.stream_assets())
    assert sorted(a["id"] for a in assets) == sorted(box.state.assets)
    assert box.faults.counters.errors > 0
