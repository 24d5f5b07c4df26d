"""The SQL mirror, the integration written only against the engine contract: ConnectWise → `cw_*` tables.

Against the ConnectWise sandbox over loopback and a real store (SQLite; PostgreSQL where a test says so): a first
run fills the tables, a re-run writes nothing, a change and a deletion arrive, a replay of one record works, an
intent left by a killed attempt does not double a row, and the mass-delete guard stops a run that would empty a table.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cwsync.config.mirror import MirrorSync
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.engine.engine import Engine
from cwsync.engine.guard import MassDeleteError
from cwsync.integrations.mirror import mirror_pairs, pair_name
from cwsync.store import JournalEntry, Store
from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox
from tests.changes.conftest import client_for

T = "default"


@pytest.fixture
def served() -> Iterator[RunningSandbox]:
    with running_sandbox(SandboxSettings(records=300, seed=5)) as running:
        yield running


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(f"sqlite:///{tmp_path / 'mirror.db'}")
    yield opened
    await opened.close()


@pytest.fixture
async def cw(served: RunningSandbox) -> AsyncIterator[ConnectWiseClient]:
    async with client_for(served) as client:
        yield client


async def rows(store: Store, table: str) -> dict[int, dict[str, Any]]:
    async with store._connect() as conn:  # reading the mirror as a reporting user would: plain SQL
        result = await conn.execute(text(f"SELECT * FROM {table} WHERE tenant = :t"), {"t": T})
        out = {int(r.id): dict(r._mapping) for r in result}
    for row in out.values():
        row["raw"] = json.loads(row["raw"]) if isinstance(row["raw"], str) else row["raw"]
    return out


async def sync(store: Store, cw: ConnectWiseClient, **kw: Any) -> Any:
    config = MirrorSync(objects=kw.pop("objects", ["companies", "contacts", "tickets"]))
    return await Engine(store, T).run(mirror_pairs(config, cw, store, T), **kw)


async def test_a_first_run_fills_the_tables_and_a_second_writes_nothing(
    store: Store, cw: ConnectWiseClient, served: RunningSandbox
) -> None:
    first = await sync(store, cw)
    companies = [c async for c in cw.stream_records("company/companies")]
    held = await rows(store, "cw_companies")
    assert set(held) == {int(c["id"]) for c in companies}
    sample = companies[0]
    assert held[int(sample["id"])]["name"] == sample["name"]
    assert held[int(sample["id"])]["raw"]["identifier"] == sample["identifier"]
    others = len(await rows(store, "cw_contacts")) + len(await rows(store, "cw_tickets"))
    assert first.counts.created == len(held) + others
    contact = next(c for c in (await rows(store, "cw_contacts")).values() if c["email"])
    assert "@" in contact["email"]
    second = await sync(store, cw)
    assert second.counts.created == second.counts.updated == 0
    history = await store.runs(T, limit=2)
    assert [r.status for r in history] == ["succeeded", "succeeded"]
    assert history[0].kind == "incremental"


async def test_a_change_and_a_deletion_in_connectwise_reach_the_tables(
    store: Store, cw: ConnectWiseClient, served: RunningSandbox
) -> None:
    await sync(store, cw, objects=["tickets"])
    tickets = [t async for t in cw.stream_records("service/tickets")]
    changed, deleted = tickets[0], tickets[1]
    await cw.patch("service/tickets", changed["id"], [{"op": "replace", "path": "summary", "value": "Printer on fire"}])
    report = await sync(store, cw, objects=["tickets"])
    assert report.counts.updated == 1
    assert (await rows(store, "cw_tickets"))[int(changed["id"])]["summary"] == "Printer on fire"
    await cw.delete("service/tickets", deleted["id"])
    report = await sync(store, cw, objects=["tickets"], full=True)
    assert report.counts.deleted == 1
    assert int(deleted["id"]) not in await rows(store, "cw_tickets")


async def test_replay_of_one_record_and_of_a_deleted_one(store: Store, cw: ConnectWiseClient) -> None:
    """A callback's ids: a renamed company is rewritten, a deleted ticket loses its row, a company deleted in
    ConnectWise (soft: `deletedFlag`) keeps its row with `deleted` set."""
    objects = ["companies", "tickets"]
    await sync(store, cw, objects=objects)
    companies = [c async for c in cw.stream_records("company/companies")]
    target, soft = companies[2], companies[3]
    ticket = next(iter(await rows(store, "cw_tickets")))
    await cw.patch("company/companies", target["id"], [{"op": "replace", "path": "name", "value": "Renamed Ltd"}])
    await cw.delete("company/companies", soft["id"])
    await cw.delete("service/tickets", ticket)
    records = {
        pair_name("companies"): [str(target["id"]), str(soft["id"])],
        pair_name("tickets"): [str(ticket)],
    }
    report = await sync(store, cw, objects=objects, records=records, trigger="callback")
    assert (report.counts.updated, report.counts.deleted) == (2, 1)
    held = await rows(store, "cw_companies")
    assert held[int(target["id"])]["name"] == "Renamed Ltd"
    assert held[int(soft["id"])]["deleted"] in ("true", "True", "1")
    assert ticket not in await rows(store, "cw_tickets")
    assert (await store.runs(T, limit=1))[0].kind == "record"


async def test_an_intent_left_by_a_killed_attempt_updates_the_row_it_wrote(store: Store, cw: ConnectWiseClient) -> None:
    """A row written by an attempt that died before recording its link: found, updated, linked; one row only."""
    await sync(store, cw, objects=["tickets"])
    ticket_id = next(iter(await rows(store, "cw_tickets")))
    async with store.transaction() as tx:
        await tx.delete_links(T, pair_name("tickets"), [str(ticket_id)])
        entry = JournalEntry(tenant=T, scope=pair_name("tickets"), key=str(ticket_id), step="create")
        await tx.write_journal([entry])
    report = await sync(store, cw, objects=["tickets"], full=True)
    assert (report.counts.created, report.counts.updated) == (0, 1)
    assert not await store.has_journal(T, pair_name("tickets"))
    assert (await store.links_by_left(T, pair_name("tickets"), [str(ticket_id)])).keys() == {str(ticket_id)}


async def test_the_mass_delete_guard_stops_a_run_that_would_empty_a_table(
    store: Store, cw: ConnectWiseClient, served: RunningSandbox
) -> None:
    await sync(store, cw, objects=["tickets"])
    before = await rows(store, "cw_tickets")
    for ticket_id in list(before)[: int(len(before) * 0.95)]:
        await cw.delete("service/tickets", ticket_id)
    with pytest.raises(MassDeleteError, match=r"syncs\.mirror\.mass_delete_share"):
        await sync(store, cw, objects=["tickets"], full=True)
    assert await rows(store, "cw_tickets") == before
    assert (await store.runs(T, limit=1))[0].status == "failed"


async def test_a_dry_run_writes_nothing(store: Store, cw: ConnectWiseClient) -> None:
    report = await sync(store, cw, objects=["companies"], dry_run=True)
    assert report.counts.created > 0
    assert report.run_id is None
    assert await rows(store, "cw_companies") == {}
    assert await store.runs(T) == []
