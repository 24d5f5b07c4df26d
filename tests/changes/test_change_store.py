"""The change records and events in the store, on SQLite and PostgreSQL (skipped without it, required in CI)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cwsync.store import JournalEntry, Store
from cwsync.workflows.changes.errors import ChangeRefused
from cwsync.workflows.changes.models import ChangeRecord, Resource
from cwsync.workflows.changes.store import ChangeStore, journal_scope
from tests.store.test_store import opened_store


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A migrated store on a fresh database of each backend."""
    async with opened_store(request.param, tmp_path) as opened:
        yield opened


def record(**overrides: object) -> ChangeRecord:
    """A linked change."""
    values: dict[str, object] = {
        "change_id": "CHG-1",
        "company": "acme",
        "cw_company_id": 5,
        "ticket_id": 42,
        "board": "Help Desk",
        "state": "linked",
    }
    return ChangeRecord.model_validate(values | overrides)


async def test_link_event_journal_and_finish_round_trip(store: Store) -> None:
    """A link creates the change with its data; an event's journal is read back, then cleared as it finishes."""
    changes = ChangeStore(store, tenant="t1")
    assert await changes.begin_event("CHG-1", "CHG-1:created", kind="created", payload_hash="h0")
    linked = record()
    linked.data.resources["a@x.example"] = Resource(email="a@x.example", roles=["creator"], member_id=7, entry_id=9)
    await changes.finish_link(linked, event_id="CHG-1:created", result={"writes": [1, 2]})
    stored = await changes.get("CHG-1")
    assert stored is not None
    assert (stored.state, stored.version, stored.ticket_id) == ("linked", 1, 42)
    assert stored.data.resources["a@x.example"].entry_id == 9

    assert await changes.begin_event("CHG-1", "e1", kind="fully_approved", payload_hash="h1")
    assert not await changes.begin_event("CHG-1", "e1", kind="fully_approved", payload_hash="h1")
    async with store.transaction() as tx:
        scope = journal_scope("CHG-1")
        await tx.write_journal(
            [
                JournalEntry(
                    tenant="t1", scope=scope, key="e1", step="status:fully_approved", status="done", record_id="42"
                ),
                JournalEntry(tenant="t1", scope=scope, key="e1", step="note", status="done", record_id="1001"),
                JournalEntry(tenant="t1", scope=scope, key="e1", step="resource:a@x.example"),
            ]
        )
    half = await changes.event("CHG-1", "e1")
    assert half is not None
    assert half.status == "applying"
    assert await changes.done_steps("CHG-1", "e1") == {"status:fully_approved": 42, "note": 1001}
    await changes.finish_event(
        stored.model_copy(update={"state": "approved"}), expected_version=1, event_id="e1", result={"ok": True}
    )
    done = await changes.event("CHG-1", "e1")
    assert done is not None
    assert (done.status, done.result) == ("applied", {"ok": True})
    assert await store.journal("t1", journal_scope("CHG-1")) == []
    assert done.finished_at is not None
    after = await changes.get("CHG-1")
    assert after is not None
    assert (after.state, after.version) == ("approved", 2)
    assert [e.event_id for e in await changes.events("CHG-1")] == ["CHG-1:created", "e1"]


async def test_a_stale_version_is_refused_and_tenants_are_apart(store: Store) -> None:
    """Finishing on an outdated version is refused (busy); another tenant neither sees nor clashes."""
    changes, other = ChangeStore(store, tenant="t1"), ChangeStore(store, tenant="t2")
    await changes.begin_event("CHG-1", "c", kind="created", payload_hash="h")
    await changes.finish_link(record(), event_id="c", result={})
    await changes.begin_event("CHG-1", "e1", kind="cancelled", payload_hash="h")
    with pytest.raises(ChangeRefused) as refused:
        await changes.finish_event(record(state="cancelled"), expected_version=0, event_id="e1", result={})
    assert refused.value.code == "busy"
    assert (await changes.get("CHG-1")).state == "linked"  # type: ignore[union-attr]
    assert await other.get("CHG-1") is None
    await other.begin_event("CHG-1", "c", kind="created", payload_hash="h")
    await other.finish_link(record(ticket_id=7), event_id="c", result={})
    with pytest.raises(ChangeRefused) as twice:
        await changes.finish_link(record(), event_id="c", result={})
    assert twice.value.code == "already_linked"


async def test_lookup_reads_an_event_and_its_change_together_linked_or_not(store: Store) -> None:
    """The event (if begun) and the change (if linked): before the link, after it, of another tenant, and with
    the event's row of an earlier attempt, its result read back as stored."""
    changes, other = ChangeStore(store, tenant="t1"), ChangeStore(store, tenant="t2")
    assert await changes.lookup("CHG-1", "c") == (None, None)
    await changes.begin_event("CHG-1", "c", kind="created", payload_hash="h0")
    begun, unlinked = await changes.lookup("CHG-1", "c")
    assert unlinked is None
    assert begun is not None
    assert (begun.event_id, begun.kind, begun.status, begun.payload_hash) == ("c", "created", "applying", "h0")
    await changes.finish_link(record(), event_id="c", result={"writes": [1]})
    await changes.begin_event("CHG-1", "e1", kind="fully_approved", payload_hash="h1")
    await changes.fail_event("CHG-1", "e1", "note: 503")
    assert await other.lookup("CHG-1", "e1") == (None, None)
    missing, change = await changes.lookup("CHG-1", "e2")
    assert missing is None
    assert change is not None
    assert (change.change_id, change.version, change.ticket_id) == ("CHG-1", 1, 42)
    half, change = await changes.lookup("CHG-1", "e1")
    assert half == await changes.event("CHG-1", "e1")
    assert half is not None
    assert (half.status, half.error, half.finished_at) == ("applying", "note: 503", None)
    assert change == await changes.get("CHG-1")
    created, _ = await changes.lookup("CHG-1", "c")
    assert created is not None
    assert (created.status, created.result) == ("applied", {"writes": [1]})
    assert created.finished_at is not None
