"""The ConnectWise client driven against the sandbox: in-process (ASGI) and over loopback (uvicorn)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from cwsync.connectors.connectwise import (
    AmbiguousWriteError,
    ConfigurationError,
    ConnectWiseClient,
    ConnectWiseSettings,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from cwsync.connectors.connectwise.conditions import F
from cwsync.connectors.http import RetryPolicy
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox, create_app
from cwsync_sandbox.faults import FaultSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox
from tests.conftest import BASE


async def _no_sleep(_: float) -> None:
    return None


def settings_for(box: Sandbox, site: str = BASE, **extra: object) -> ConnectWiseSettings:
    """Client settings matching a sandbox's credentials."""
    s = box.settings
    return ConnectWiseSettings(
        site=site,
        company_id=s.company_id,
        public_key=s.public_key,
        private_key=s.private_key,
        client_id=s.client_id,
        **extra,  # type: ignore[arg-type]
    )


def client_for(box: Sandbox, **extra: object) -> ConnectWiseClient:
    """A client wired to the sandbox in-process, with sleeping switched off."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(box)))
    return ConnectWiseClient(
        settings_for(box, **extra), http=http, sleep=_no_sleep, retry=RetryPolicy(attempts=12, base=0.01, cap=0.05)
    )


@pytest.fixture
async def cw(sandbox: Sandbox) -> AsyncIterator[ConnectWiseClient]:
    """A client on the small sandbox."""
    async with client_for(sandbox) as client:
        yield client


async def test_stream_yields_every_record_once(cw: ConnectWiseClient, sandbox: Sandbox) -> None:
    """Forward-only streaming with small pages yields every contact exactly once, in id order."""
    ids = [r["id"] async for r in cw.stream_records("company/contacts", page_size=17)]
    assert ids == sorted(set(ids))
    assert len(ids) == sandbox.store.live_count("contacts")


async def test_stream_with_order_by_uses_pages(cw: ConnectWiseClient, sandbox: Sandbox) -> None:
    """With orderBy the client follows Link pages and keeps the server's order."""
    names = [r["name"] async for r in cw.stream_records("company/companies", order_by="name asc", page_size=5)]
    assert len(names) == sandbox.store.live_count("companies")
    assert [n.lower() for n in names] == sorted(n.lower() for n in names)


async def test_stream_with_builder_conditions_and_fields(cw: ConnectWiseClient) -> None:
    """Typed conditions reach the server intact; fields trims records but keeps id for paging."""
    rows = [r async for r in cw.stream_records("company/contacts", conditions=F("company/id") == 2, fields="firstName")]
    assert rows
    assert all(set(r) <= {"id", "firstName"} for r in rows)
    assert len(rows) == await cw.count("company/contacts", conditions=F("company/id") == 2)


async def test_quotes_in_values_round_trip(cw: ConnectWiseClient) -> None:
    """A value with quotes and backslashes is escaped correctly by the builder."""
    created = await cw.create(
        "company/companies", {"identifier": "Quote1", "name": 'Bob "The" Builder \\ Sons', "city": "Tampa"}
    )
    rows = await cw.list_page("company/companies", conditions=F("name") == 'Bob "The" Builder \\ Sons')
    assert [r["id"] for r in rows] == [created["id"]]


async def test_writes_round_trip(cw: ConnectWiseClient) -> None:
    """create → patch → put → delete, with the real status codes behind them."""
    ticket = await cw.create(
        "service/tickets", {"summary": "Disk full", "company": {"id": 2}}, match=F("summary") == "Disk full"
    )
    patched = await cw.patch(
        "service/tickets", ticket["id"], [{"op": "replace", "path": "summary", "value": "Disk 90%"}]
    )
    assert patched["summary"] == "Disk 90%"
    replaced = await cw.put("service/tickets", ticket["id"], {"summary": "Replaced", "company": {"id": 2}})
    assert replaced["summary"] == "Replaced"
    await cw.delete("service/tickets", ticket["id"])
    with pytest.raises(NotFoundError):
        await cw.get("service/tickets", ticket["id"])


async def test_validation_error_names_the_field(cw: ConnectWiseClient) -> None:
    """A refused create raises a record-level ValidationError carrying field and code."""
    with pytest.raises(ValidationError) as info:
        await cw.create("company/companies", {"name": "No identifier"}, match=F("name") == "No identifier")
    assert info.value.field == "identifier"
    assert info.value.status == 400


async def test_malformed_conditions_are_a_clear_error(cw: ConnectWiseClient) -> None:
    """A raw conditions string that the server cannot parse gives a ValidationError naming the problem."""
    with pytest.raises(ValidationError) as info:
        await cw.list_page("company/companies", conditions='name = "unterminated')
    assert "conditions" in str(info.value)


async def test_unknown_entity_is_not_found(cw: ConnectWiseClient) -> None:
    """An unknown entity path raises NotFoundError, not a crash."""
    with pytest.raises(NotFoundError):
        await cw.list_page("company/nosuchthing")


@pytest.mark.parametrize("size", [0, 5000])
async def test_page_size_out_of_range_is_refused_before_sending(cw: ConnectWiseClient, size: int) -> None:
    """pageSize outside 1..1000 is refused with a clear message."""
    with pytest.raises(ValueError, match="between 1 and 1000"):
        async for _ in cw.stream("company/companies", page_size=size):
            pass


async def test_permission_denied(sandbox: Sandbox) -> None:
    """A denied module raises PermissionDeniedError (fatal), with the status."""
    sandbox.members[sandbox.settings.public_key].deny = ["configurations"]
    async with client_for(sandbox) as cw:
        with pytest.raises(PermissionDeniedError) as info:
            await cw.list_page("company/configurations")
    assert info.value.status == 403


async def test_rediscovers_codebase_after_upgrade(sandbox: Sandbox) -> None:
    """When the hosted codebase moves, the client re-discovers it and carries on."""
    async with client_for(sandbox) as cw:
        await cw.system_info()
        sandbox.codebase = "v2026_1/"
        info = await cw.system_info()
    assert info["version"].startswith("v2026.1")


async def test_unknown_company_is_a_configuration_error(sandbox: Sandbox) -> None:
    """An unknown company id is a fatal ConfigurationError that says so."""
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(sandbox)))
    bad = settings_for(sandbox).model_copy(update={"company_id": "nosuchco"})
    async with ConnectWiseClient(bad, http=http, sleep=_no_sleep) as cw:
        with pytest.raises(ConfigurationError, match="nosuchco"):
            await cw.system_info()


@pytest.mark.parametrize("site", ["", "ht!tp://x", "na.myconnectwise.net:99999", "two words"])
def test_bad_site_is_refused_with_a_message(site: str) -> None:
    """A malformed site is refused when the settings are built."""
    with pytest.raises((ConfigurationError, ValueError)):
        ConnectWiseSettings(site=site, company_id="c", public_key="p", private_key="k", client_id="x")


async def test_lost_create_responses_never_duplicate(sandbox: Sandbox) -> None:
    """With half the POST responses lost, 20 creates give exactly 20 companies (resolved by identifier)."""
    before = sandbox.store.live_count("companies")
    sandbox.faults.update(FaultSettings(lost_response_share=0.5, seed=3))
    async with client_for(sandbox) as cw:
        made = [
            await cw.create("company/companies", {"identifier": f"Lost{i}", "name": f"Lost {i}", "city": "Tampa"})
            for i in range(20)
        ]
    sandbox.faults.update(FaultSettings())
    assert sandbox.faults.counters.lost_responses > 0
    assert len({m["id"] for m in made}) == 20
    assert sandbox.store.live_count("companies") == before + 20


async def test_lost_create_without_key_is_ambiguous_not_duplicated(sandbox: Sandbox) -> None:
    """A create with no way to look it up is reported as ambiguous, and was not POSTed twice."""
    before = sandbox.store.live_count("tickets")
    async with client_for(sandbox) as cw:
        await cw.company_info()
        sandbox.faults.update(FaultSettings(lost_response_share=1.0))
        with pytest.raises(AmbiguousWriteError):
            await cw.create("service/tickets", {"summary": "Once only", "company": {"id": 2}})
    assert sandbox.store.live_count("tickets") == before + 1


async def test_stream_10k_with_20_percent_faults_in_process() -> None:
    """With ~20% injected 429/5xx/dropped connections, streaming 10k configurations yields each exactly once."""
    box = build_sandbox(SandboxSettings(base_url=BASE, records=100, counts={"configurations": 10_000}))
    box.faults.update(FaultSettings(rate_limit_share=0.07, retry_after=0, error_share=0.07, drop_share=0.06, seed=11))
    async with client_for(box) as cw:
        seen = Counter([r["id"] async for r in cw.stream_records("company/configurations", page_size=500)])
    assert len(seen) == 10_000
    assert set(seen.values()) == {1}
    counters = box.faults.counters
    assert counters.rate_limited
    assert counters.errors
    assert counters.dropped


@pytest.fixture
def served_10k() -> AsyncIterator[RunningSandbox]:
    """A 10k-configuration sandbox on loopback."""
    with running_sandbox(SandboxSettings(records=100, counts={"configurations": 10_000})) as running:
        yield running  # type: ignore[misc]


async def test_stream_10k_with_20_percent_faults_over_loopback(served_10k: RunningSandbox) -> None:
    """Over real HTTP, with ~20% faults (drops are real closed sockets), every record arrives exactly once."""
    box = served_10k.sandbox
    box.faults.update(FaultSettings(rate_limit_share=0.07, retry_after=0, error_share=0.07, drop_share=0.06, seed=12))
    async with ConnectWiseClient(
        settings_for(box, site=served_10k.base_url),
        sleep=_no_sleep,
        retry=RetryPolicy(attempts=12, base=0.01, cap=0.05),
    ) as cw:
        seen = Counter([r["id"] async for r in cw.stream_records("company/configurations", page_size=500)])
    assert len(seen) == 10_000
    assert set(seen.values()) == {1}
    assert box.faults.counters.dropped > 0


async def test_loopback_read_write(served: RunningSandbox) -> None:
    """The client works over real sockets: discovery, read, create, count."""
    async with ConnectWiseClient(settings_for(served.sandbox, site=served.base_url), sleep=_no_sleep) as cw:
        info = await cw.company_info()
        assert info.codebase == served.sandbox.codebase
        company = await cw.create("company/companies", {"identifier": "LoopCo", "name": "Loop Co", "city": "Tampa"})
        assert (await cw.get("company/companies", company["id"]))["identifier"] == "LoopCo"
        assert await cw.count("company/companies", conditions=F("identifier") == "LoopCo") == 1
