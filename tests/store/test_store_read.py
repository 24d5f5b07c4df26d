"""`Store.read`: a workflow's look-ups in one read (a snapshot), run at once on a read-only SQLite connection that
never waits for a writer, on a pooled connection on PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from cwsync.store import JournalEntry, Link, Reads, Store, Tx

T = "default"


def entry(key: str, step: str) -> JournalEntry:
    return JournalEntry(tenant=T, scope="quotes", key=key, step=step, status="intent", record_id=None, data={"n": 1})


def link(left: str, right: str) -> Link:
    return Link(tenant=T, pair="quotes", left_id=left, right_id=right, match_key="external_id", left_values={"a": 1})


async def test_a_read_answers_the_links_and_journal_of_its_keys(store: Store) -> None:
    async def body(tx: Tx) -> None:
        await tx.upsert_links([link("Q-1", "41"), link("Q-2", "42")])
        await tx.write_journal([entry("Q-1", "opportunity"), entry("Q-1", "line:1"), entry("Q-2", "opportunity")])

    await store.write(body)

    async def look(reads: Reads) -> tuple[dict[str, Link], list[JournalEntry]]:
        return await reads.links_by_left(T, "quotes", ["Q-1", "Q-9"]), await reads.journal(T, "quotes", ["Q-1"])

    links, journal = await store.read(look)

    assert {k: v.right_id for k, v in links.items()} == {"Q-1": "41"}
    assert links["Q-1"].left_values == {"a": 1}  # JSON decoded as by the async connection
    assert [(e.step, e.data) for e in journal] == [("opportunity", {"n": 1}), ("line:1", {"n": 1})]
    assert journal[0].updated_at is not None


async def test_a_read_sees_what_committed_and_not_what_a_body_raised_on(store: Store) -> None:
    async def refused(tx: Tx) -> None:
        await tx.write_journal([entry("Q-1", "opportunity")])
        raise ValueError("refused")

    with pytest.raises(ValueError, match="refused"):
        await store.write(refused)
    assert await store.read(lambda reads: reads.journal(T, "quotes", ["Q-1"])) == []
    await store.write(lambda tx: tx.write_journal([entry("Q-1", "opportunity")]))
    assert len(await store.read(lambda reads: reads.journal(T, "quotes", ["Q-1"]))) == 1


async def test_a_sqlite_read_runs_while_another_writer_holds_the_write_lock(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = await Store.open(f"sqlite:///{path}")
    await store.write(lambda tx: tx.write_journal([entry("Q-1", "opportunity")]))
    other = sqlite3.connect(path, isolation_level=None)  # another process's writer, mid-transaction
    other.execute("BEGIN IMMEDIATE")
    other.execute("DELETE FROM journal")
    try:
        found = await asyncio.wait_for(store.read(lambda reads: reads.journal(T, "quotes", ["Q-1"])), timeout=5)
        assert [e.step for e in found] == ["opportunity"]  # the last committed state, at once
        # ... and while this process's own writer waits for that lock
        write = asyncio.create_task(store.write(lambda tx: tx.write_journal([entry("Q-2", "opportunity")])))
        await asyncio.sleep(0.01)
        assert not write.done()
        assert len(await store.read(lambda reads: reads.journal(T, "quotes", ["Q-1"]))) == 1
        other.execute("ROLLBACK")
        await asyncio.wait_for(write, timeout=10)
    finally:
        other.close()
        await store.close()


async def test_a_sqlite_read_cannot_write(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'r.db'}")
    try:

        async def body(reads: Reads) -> None:
            await reads.connection.execute(text("DELETE FROM journal"))

        with pytest.raises(OperationalError, match="readonly"):
            await store.read(body)
    finally:
        await store.close()


async def test_a_sqlite_read_that_awaits_anything_else_is_refused(tmp_path: Path) -> None:
    store = await Store.open(f"sqlite:///{tmp_path / 'r.db'}")
    try:

        async def body(reads: Reads) -> None:
            await reads.journal(T, "quotes", ["Q-1"])
            await asyncio.sleep(0)  # would hand the loop to others inside the read

        with pytest.raises(RuntimeError, match="awaited something other than its connection"):
            await store.read(body)
        assert await store.read(lambda reads: reads.journal(T, "quotes", ["Q-1"])) == []  # usable again
    finally:
        await store.close()


def valued(pair: str, left: str, values: dict[str, object], *, tenant: str = T) -> Link:
    return Link(tenant=tenant, pair=pair, left_id=left, right_id=f"R{pair}{left}", left_values=values)


async def test_links_are_found_by_an_indexed_value_whatever_its_case(store: Store) -> None:
    """A contact's e-mail, a company's identifier, a product's SKU: the pair's links holding the value (case aside),
    of that tenant and pair only."""
    await store.write(
        lambda tx: tx.upsert_links(
            [
                valued("contacts", "1", {"email": "Jane@Acme.example", "company": "7"}),
                valued("contacts", "2", {"email": "bob@acme.example"}),
                valued("contacts", "3", {"email": "jane@acme.example"}, tenant="other"),
                valued("people", "4", {"email": "jane@acme.example"}),
                valued("catalog:products", "10", {"hs_sku": "DELL-LAT5440"}),
                valued("catalog:products", "11", {"hs_sku": "ship-ground"}),
                valued("catalog:products", "12", {"name": "no SKU"}),
                valued("companies", "7", {"connectwise_company_id": "AcmeCorp"}),
                valued("companies", "8", {"connectwise_company_id": "ÉCOLE-Nord"}),
            ]
        )
    )

    async def look(reads: Reads) -> list[list[str]]:
        return [
            [link.left_id for link in found]
            for found in (
                await reads.links_by_value(T, "contacts", "email", ["jane@ACME.example"]),
                await reads.links_by_value(T, "catalog:products", "hs_sku", ["dell-lat5440", "SHIP-GROUND", "NONE"]),
                await reads.links_by_value(T, "companies", "connectwise_company_id", ["acmecorp"]),
                await reads.links_by_value(T, "contacts", "email", []),
                await reads.links_by_value(T, "companies", "connectwise_company_id", ["ÉCOLE-nord"]),
            )
        ]

    contacts, products, companies, nothing, beyond_ascii = await store.read(look)
    assert (contacts, sorted(products), companies, nothing) == (["1"], ["10", "11"], ["7"], [])
    assert beyond_ascii == ["8"]  # the same value beyond ASCII, its ASCII letters in another case: found on both


async def test_a_look_up_by_a_value_no_index_holds_is_refused(store: Store) -> None:
    """Only the indexed (pair, value)s: any other would scan the pair's links."""
    with pytest.raises(ValueError, match="no link value index"):
        await store.read(lambda reads: reads.links_by_value(T, "contacts", "name", ["Jane"]))


@pytest.mark.parametrize(
    ("pair", "field", "index"),
    [
        ("contacts", "email", "ix_links_contacts_email"),
        ("companies", "connectwise_company_id", "ix_links_companies_identifier"),
        ("catalog:products", "hs_sku", "ix_links_products_sku"),
    ],
)
async def test_a_look_up_by_value_is_answered_by_its_index(store: Store, pair: str, field: str, index: str) -> None:
    """The database's own plan for the look-up names the pair's value index (migration 0012), on both backends."""
    from cwsync.store.store import _LINKS_BY_VALUE

    statement = _LINKS_BY_VALUE[(pair, field)].params(tenant=T, values=["jane@acme.example", "x"])
    async with store._engine.connect() as conn:
        sql = str(statement.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "sqlite":
            plan = [str(row[-1]) for row in await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
        else:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table would be scanned anyway
            plan = [str(row[0]) for row in await conn.execute(text(f"EXPLAIN {sql}"))]
    assert any(index in line for line in plan), plan
