"""CallbackManager against the ConnectWise emulator in-process: install, status, repair, remove (CW-5)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cwsync.connectors.connectwise import ConnectWiseClient, PermissionDeniedError
from cwsync.runtime.callbacks import CallbackManager, CallbackSpec, desired_callbacks
from cwsync_sandbox.connectwise.app import Sandbox
from cwsync_sandbox.connectwise.state import Change
from tests.client.test_client_sandbox import client_for

PUBLIC_URL = "https://cwsync.example/"
HOOK = "https://cwsync.example/hooks/connectwise/acme?id="  # no secret in it: callbacks are signed


@pytest.fixture
def specs() -> list[CallbackSpec]:
    """Company and ticket callbacks for tenant acme."""
    return desired_callbacks(types=["company", "Ticket"], public_url=PUBLIC_URL, tenant="acme")


@pytest.fixture
async def cw(sandbox: Sandbox) -> AsyncIterator[ConnectWiseClient]:
    """A ConnectWise client wired to the sandbox in-process."""
    async with client_for(sandbox) as client:
        yield client


@pytest.fixture
def manager(cw: ConnectWiseClient) -> CallbackManager:
    """The manager for tenant acme."""
    return CallbackManager(cw, tenant="acme")


@pytest.fixture
def writes(sandbox: Sandbox) -> list[Change]:
    """Every committed write to the emulator's store, with a clock that ticks on each write."""
    seen: list[Change] = []
    sandbox.store.listeners.append(seen.append)
    ticks = itertools.count()
    sandbox.store.clock = lambda: _stamp(next(ticks))
    return seen


def _stamp(n: int) -> str:
    return f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"


async def _entries(raw: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await raw.get("system/callbacks", params={"pageSize": 1000})
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


async def _patch(raw: httpx.AsyncClient, entry_id: int, **changes: Any) -> None:
    ops = [{"op": "replace", "path": name, "value": value} for name, value in changes.items()]
    (await raw.patch(f"system/callbacks/{entry_id}", json=ops)).raise_for_status()


async def _register(raw: httpx.AsyncClient, description: str, **fields: Any) -> dict[str, Any]:
    body = {"url": "https://other.example/cb?id=", "objectId": 1, "type": "company", "level": "owner", **fields}
    response = await raw.post("system/callbacks", json={**body, "description": description})
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


def test_desired_callbacks_shape(specs: list[CallbackSpec]) -> None:
    """Specs carry the tenant's intake URL ending in ?id=, lower-case types, owner level and cwsync descriptions."""
    assert [(s.type, s.level, s.object_id, s.url, s.description) for s in specs] == [
        ("company", "owner", 1, HOOK, "cwsync:acme:company"),
        ("ticket", "owner", 1, HOOK, "cwsync:acme:ticket"),
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tenant": "a:b"},
        {"tenant": ""},
        {"tenant": "has/slash"},
        {"public_url": "ftp://x.example"},
        {"public_url": "https://x.example/?q=1"},
        {"types": [""]},
        {"types": ["x" * 100]},
    ],
)
def test_desired_callbacks_refuses_bad_input(kwargs: dict[str, Any]) -> None:
    """An unsafe tenant, a non-http(s) or query-bearing public URL, empty types and long descriptions fail early."""
    args: dict[str, Any] = {"types": ["company"], "public_url": PUBLIC_URL, "tenant": "acme"}
    with pytest.raises(ValueError):  # noqa: PT011 - several messages; the input is what this pins
        desired_callbacks(**{**args, **kwargs})


async def test_status_on_empty_site_is_missing(manager: CallbackManager, specs: list[CallbackSpec]) -> None:
    """With nothing registered every spec is missing."""
    assert [s.status for s in await manager.status(specs)] == ["missing", "missing"]


async def test_install_creates_entries(
    manager: CallbackManager, specs: list[CallbackSpec], raw: httpx.AsyncClient
) -> None:
    """Install on an empty site creates one entry per spec with the right url, type, level, objectId, description."""
    states = await manager.install(specs)
    assert [(s.status, s.differences) for s in states] == [("ok", []), ("ok", [])]
    entries = await _entries(raw)
    got = sorted((e["description"], e["url"], e["type"], e["level"], e["objectId"]) for e in entries)
    assert got == [
        ("cwsync:acme:company", HOOK, "company", "owner", 1),
        ("cwsync:acme:ticket", HOOK, "ticket", "owner", 1),
    ]
    assert {s.entry["id"] for s in states if s.entry} == {e["id"] for e in entries}


async def test_install_twice_changes_nothing(
    manager: CallbackManager, specs: list[CallbackSpec], raw: httpx.AsyncClient, writes: list[Change]
) -> None:
    """A second install makes no write: same entries, same count, same _info.lastUpdated."""
    await manager.install(specs)
    before = await _entries(raw)
    writes.clear()
    states = await manager.install(specs)
    after = await _entries(raw)
    assert writes == []
    assert len(after) == len(before) == 2
    assert [(e["id"], e["_info"]["lastUpdated"]) for e in after] == [
        (e["id"], e["_info"]["lastUpdated"]) for e in before
    ]
    assert [s.status for s in states] == ["ok", "ok"]


async def test_drifted_url_is_reported_and_fixed(
    manager: CallbackManager, specs: list[CallbackSpec], raw: httpx.AsyncClient
) -> None:
    """A changed url shows as drifted; install PATCHes the same entry back instead of adding another."""
    installed = await manager.install(specs)
    entry_id = installed[0].entry["id"] if installed[0].entry else 0
    await _patch(raw, entry_id, url="https://elsewhere.example/x?id=", objectId=5)
    state = (await manager.status(specs))[0]
    assert (state.status, state.differences) == ("drifted", ["url", "objectId"])
    fixed = await manager.install(specs)
    assert fixed[0].status == "ok"
    entries = {e["id"]: e for e in await _entries(raw)}
    assert len(entries) == 2
    assert (entries[entry_id]["url"], entries[entry_id]["objectId"]) == (HOOK, 1)


async def test_type_and_level_compare_without_case(
    manager: CallbackManager, specs: list[CallbackSpec], raw: httpx.AsyncClient
) -> None:
    """An entry stored as Company/Owner still matches the spec company/owner (case kept by CW is UNCONFIRMED)."""
    installed = await manager.install(specs)
    await _patch(raw, installed[0].entry["id"] if installed[0].entry else 0, type="Company", level="Owner")
    assert [s.status for s in await manager.status(specs)] == ["ok", "ok"]


async def test_repair_reactivates_inactive(
    manager: CallbackManager, specs: list[CallbackSpec], raw: httpx.AsyncClient
) -> None:
    """An inactive entry shows as inactive; install leaves it so, repair clears inactiveFlag."""
    installed = await manager.install(specs)
    entry_id = installed[1].entry["id"] if installed[1].entry else 0
    await _patch(raw, entry_id, inactiveFlag=True)
    state = (await manager.status(specs))[1]
    assert (state.status, state.differences) == ("inactive", ["inactiveFlag"])
    assert (await manager.install(specs))[1].status == "inactive"
    repaired = await manager.repair(specs)
    assert [s.status for s in repaired] == ["ok", "ok"]
    assert {e["id"]: e for e in await _entries(raw)}[entry_id]["inactiveFlag"] is False


async def test_duplicates_are_reported_and_dropped(
    manager: CallbackManager, specs: list[CallbackSpec], raw: httpx.AsyncClient
) -> None:
    """Two entries with one of our descriptions: drifted with a duplicate; install keeps the matching one only."""
    drifted = await _register(raw, "cwsync:acme:company", url="https://old.example/?id=")
    exact = await _register(raw, "cwsync:acme:company", url=HOOK)
    state = (await manager.status(specs))[0]
    assert state.status == "drifted"
    assert state.entry is not None
    assert state.entry["id"] == exact["id"]
    assert [d["id"] for d in state.duplicates] == [drifted["id"]]
    await manager.install(specs)
    company = [e for e in await _entries(raw) if e["description"] == "cwsync:acme:company"]
    assert [e["id"] for e in company] == [exact["id"]]


async def test_remove_deletes_only_ours(
    manager: CallbackManager, specs: list[CallbackSpec], raw: httpx.AsyncClient
) -> None:
    """Remove deletes this tenant's entries and leaves foreign ones and other tenants' alone."""
    foreign = await _register(raw, "PSA integration X")
    other_tenant = await _register(raw, "cwsync:acme2:company")
    await manager.install(specs)
    assert await manager.remove() == 2
    assert sorted(e["id"] for e in await _entries(raw)) == sorted([foreign["id"], other_tenant["id"]])
    assert await manager.remove() == 0


async def test_foreign_specs_are_refused(manager: CallbackManager) -> None:
    """A spec whose description cwsync would not recognise as this tenant's is refused before any call."""
    spec = CallbackSpec(type="company", url=HOOK, description="someone else's")
    with pytest.raises(ValueError, match="do not start with"):
        await manager.install([spec])


async def test_permission_denied_propagates(
    manager: CallbackManager, specs: list[CallbackSpec], sandbox: Sandbox
) -> None:
    """A role without the callbacks module makes status and install raise PermissionDeniedError."""
    sandbox.members[sandbox.settings.public_key].deny = ["callbacks"]
    with pytest.raises(PermissionDeniedError):
        await manager.status(specs)
    with pytest.raises(PermissionDeniedError):
        await manager.install(specs)
