"""A change walked through its whole lifecycle on the ConnectWise sandbox (over loopback), checked after each step."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlalchemy import Engine
from sqlalchemy import event as sa_event

from cwsync.workflows.changes.errors import ChangeRefused
from cwsync.workflows.changes.models import ChangeEvent, LinkRequest, Person
from tests.changes.conftest import OUTSIDER, World

EVENT: TypeAdapter[ChangeEvent] = TypeAdapter(ChangeEvent)
START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
END = START + timedelta(hours=2)


def event(**fields: Any) -> ChangeEvent:
    """An event from plain data, as the API receives it."""
    return EVENT.validate_python(fields)


def link_request(world: World, **overrides: Any) -> LinkRequest:
    """Change CHG-1 on the Help Desk ticket, with a creator, two approvers and a vCAB member."""
    values: dict[str, Any] = {
        "change_id": "CHG-1",
        "company": "lighthouse",
        "ticket_id": world.tickets["help_desk"],
        "title": "Upgrade the core firewall",
        "description": "Firmware 7.2 -> 7.4 on @fw-main",
        "creator": Person(email="alice@msp.example", name="Alice Admin"),
        "technical_approver": Person(email="bob.tech@msp.example", name="Bob Tech"),
        "operational_approver": Person(email=OUTSIDER, name="Olga Outsider"),
    }
    return LinkRequest(**(values | overrides))


def internal(notes: list[dict[str, Any]]) -> list[str]:
    """The texts of internal notes (internal analysis), oldest first."""
    return [n["text"] for n in notes if n.get("internalAnalysisFlag")]


async def test_a_change_walks_its_whole_lifecycle(world: World) -> None:
    """Link → approvals → fully approved → scheduled → started → completed: status, notes, entries, plan, time."""
    tid = world.tickets["help_desk"]
    linked = await world.workflow.link(link_request(world))
    assert linked.state_after == "linked"
    assert await world.status(tid) == "Assigned"
    notes = internal(await world.notes(tid))
    assert notes[0].startswith("Change CHG-1 linked to this ticket: Upgrade the core firewall")
    assert "https://changes.example/c/CHG-1" in notes[0]
    assert any(n.startswith("Resource added: Alice Admin (alice.admin) - Change Creator") for n in notes)
    assert any(n.startswith("Resource added: Bob Tech (bob.tech) - Technical Approver") for n in notes)
    assert any("Olga Outsider <olga@customer.example> (Operational Approver)" in n for n in notes)
    assert [(p.email, p.roles) for p in linked.unmatched] == [(OUTSIDER, ["operational_approver"])]
    entries = await world.entries(tid)
    assert sorted(e["member"]["id"] for e in entries) == sorted([world.members["alice"], world.members["bob"]])
    assert all("dateStart" not in e for e in entries)  # unscheduled resources until the window is known

    await world.workflow.apply(
        "CHG-1",
        event(
            kind="technical_approval",
            event_id="e1",
            approver={"email": "bob.tech@msp.example", "name": "Bob Tech"},
            comment="Looks safe",
        ),
    )
    assert "Technical Approval: approved by Bob Tech" in internal(await world.notes(tid))[-1]
    assert "Comment: Looks safe" in internal(await world.notes(tid))[-1]
    assert await world.status(tid) == "Assigned"  # one approval is not full approval

    approved = await world.workflow.apply(
        "CHG-1", event(kind="fully_approved", event_id="e2", committee=[{"email": "carol@msp.example"}])
    )
    assert approved.state_after == "approved"
    assert await world.status(tid) == "Waiting on Client"
    assert len(await world.entries(tid)) == 3  # the vCAB member joined as a resource

    scheduled = await world.workflow.apply(
        "CHG-1",
        event(kind="scheduled", event_id="e3", start=START, end=END, plan="1. Backup\n2. Upgrade\n3. Test",
              engineers=[{"email": "dan@msp.example", "name": "Dan Engineer"}]),
    )  # fmt: skip
    assert scheduled.state_after == "scheduled"
    assert await world.status(tid) == "Scheduled"
    entries = await world.entries(tid)
    assert len(entries) == 4
    assert {(e["dateStart"], e["dateEnd"]) for e in entries} == {("2026-03-01T22:00:00Z", "2026-03-02T00:00:00Z")}
    assert all(e["type"]["identifier"] == "S" for e in entries)
    plan = [n for n in await world.notes(tid) if n.get("detailDescriptionFlag") and "Implementation plan" in n["text"]]
    assert len(plan) == 1
    assert "1. Backup\n2. Upgrade\n3. Test" in plan[0]["text"]
    assert "Window: 2026-03-01T22:00:00Z - 2026-03-02T00:00:00Z" in plan[0]["text"]

    started = START + timedelta(minutes=5)
    await world.workflow.apply(
        "CHG-1",
        event(
            kind="implementation_started",
            event_id="e4",
            at=started,
            implementer={"email": "dan@msp.example", "name": "Dan Engineer"},
        ),
    )
    assert await world.status(tid) == "In Progress"
    last = internal(await world.notes(tid))[-1]
    assert last.startswith("Implementation Started\nStarted: 2026-03-01T22:05:00Z\nImplementer: Dan Engineer")

    done = await world.workflow.apply(
        "CHG-1",
        event(kind="completed", event_id="e5", at=START + timedelta(minutes=95), results="Firmware 7.4 running",
              test_results="VPN and web filtering tested"),
    )  # fmt: skip
    assert done.state_after == "completed"
    assert await world.status(tid) == "Completed"
    last = internal(await world.notes(tid))[-1]
    assert last.startswith("Change Completed Successfully\nCompleted: 2026-03-01T23:35:00Z\nResults: Firmware 7.4")
    assert "Test results: VPN and web filtering tested" in last
    times = await world.time_entries(tid)
    assert len(times) == 1
    assert times[0]["member"]["id"] == world.members["dan"]
    assert (times[0]["timeStart"], times[0]["timeEnd"]) == ("2026-03-01T22:05:00Z", "2026-03-01T23:35:00Z")

    shown = await world.workflow.show("CHG-1")
    assert shown.change.state == "completed"
    assert [e["kind"] for e in shown.change.events] == [
        "created", "technical_approval", "fully_approved", "scheduled", "implementation_started", "completed",
    ]  # fmt: skip
    assert shown.ticket is not None
    assert shown.ticket.status == "Completed"


async def test_replaying_any_event_writes_nothing(world: World) -> None:
    """The same event id and content again: the stored result comes back, marked replayed, and nothing is written."""
    request = link_request(world)
    first = await world.workflow.link(request)
    approve = event(kind="fully_approved", event_id="e1")
    applied = await world.workflow.apply("CHG-1", approve)
    before = (world.write_count(), await world.notes(request.ticket_id), await world.entries(request.ticket_id))
    again_link = await world.workflow.link(request)
    again = await world.workflow.apply("CHG-1", approve)
    after = (world.write_count(), await world.notes(request.ticket_id), await world.entries(request.ticket_id))
    assert after == before
    assert again.replayed
    assert again_link.replayed
    assert again.writes == applied.writes
    assert again_link.writes == first.writes


async def test_an_event_id_reused_with_other_content_is_refused(world: World) -> None:
    """Same event id, different payload: refused, nothing written."""
    await world.workflow.link(link_request(world))
    await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="e1"))
    with pytest.raises(ChangeRefused) as refused:
        await world.workflow.apply("CHG-1", event(kind="cancelled", event_id="e1", reason="no"))
    assert refused.value.code == "event_id_reused"


async def test_an_out_of_order_event_is_refused_with_a_reason(world: World) -> None:
    """Completed before scheduled is refused (naming the states it needs) and the ticket is untouched."""
    await world.workflow.link(link_request(world))
    tid = world.tickets["help_desk"]
    before = (await world.status(tid), len(await world.notes(tid)), world.write_count())
    with pytest.raises(ChangeRefused) as refused:
        await world.workflow.apply("CHG-1", event(kind="completed", event_id="e9", results="done"))
    assert refused.value.code == "out_of_order"
    assert "the change is linked" in refused.value.reason
    assert "scheduled, in_progress" in refused.value.reason
    assert (await world.status(tid), len(await world.notes(tid)), world.write_count()) == before
    with pytest.raises(ChangeRefused, match="accepted when it is approved"):
        await world.workflow.apply("CHG-1", event(kind="scheduled", event_id="e10", start=START, end=END, plan="x"))
    # once the order is right, the same event id is accepted: refusals are not remembered
    await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="e11"))
    await world.workflow.apply("CHG-1", event(kind="scheduled", event_id="e10", start=START, end=END, plan="x"))
    assert await world.status(tid) == "Scheduled"


async def test_a_ticket_on_a_filtered_out_board_cannot_be_linked(world: World) -> None:
    """An Alerts ticket (not an allowed board) and another company's ticket are refused; nothing is stored."""
    with pytest.raises(ChangeRefused) as refused:
        await world.workflow.link(link_request(world, ticket_id=world.tickets["alerts"]))
    assert refused.value.code == "board_not_allowed"
    assert "'Alerts'" in refused.value.reason
    assert "'Help Desk', 'Projects'" in refused.value.reason
    with pytest.raises(ChangeRefused) as other:
        await world.workflow.link(link_request(world, ticket_id=world.tickets["other_company"]))
    assert other.value.code == "company_mismatch"
    assert await world.workflow.changes.get("CHG-1") is None
    assert await world.notes(world.tickets["alerts"]) == []


async def test_a_non_member_approver_is_reported_not_fatal(world: World) -> None:
    """An approver who is not a member: the approval note is posted, they are listed in the result and a note."""
    await world.workflow.link(link_request(world, operational_approver=None))
    result = await world.workflow.apply(
        "CHG-1", event(kind="operational_approval", event_id="e1", approver={"email": OUTSIDER}, comment="ok")
    )
    assert [p.email for p in result.unmatched] == [OUTSIDER]
    texts = internal(await world.notes(world.tickets["help_desk"]))
    assert any(t.startswith("Operational Approval: approved by olga@customer.example") for t in texts)
    assert any("Not added as resources" in t and OUTSIDER in t for t in texts)
    assert {w.what for w in result.writes} == {"note"}


async def test_plan_mode_writes_nothing_and_lists_the_writes(world: World) -> None:
    """plan=True returns the writes a link would make, and ConnectWise and the store stay as they were."""
    before = world.write_count()
    planned = await world.workflow.link(link_request(world), plan=True)
    assert not planned.applied
    assert {w.outcome for w in planned.writes} == {"planned"}
    assert [w.what for w in planned.writes][:2] == ["status", "note"]
    assert sum(w.what == "resource" for w in planned.writes) == 2
    assert world.write_count() == before
    assert await world.workflow.changes.get("CHG-1") is None


async def test_rescheduling_moves_the_entries_and_updates_the_plan(world: World) -> None:
    """A second `scheduled` moves every schedule entry and rewrites the same description note."""
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="e1"))
    await world.workflow.apply("CHG-1", event(kind="scheduled", event_id="e2", start=START, end=END, plan="v1"))
    later = START + timedelta(days=1)
    await world.workflow.apply(
        "CHG-1", event(kind="scheduled", event_id="e3", start=later, end=later + timedelta(hours=1), plan="v2")
    )
    entries = await world.entries(tid)
    assert len(entries) == 2
    assert {e["dateStart"] for e in entries} == {"2026-03-02T22:00:00Z"}
    plans = [n for n in await world.notes(tid) if n.get("detailDescriptionFlag") and "Implementation plan" in n["text"]]
    assert len(plans) == 1
    assert "v2" in plans[0]["text"]
    assert "v1" not in plans[0]["text"]


async def test_failed_then_cancelled(world: World) -> None:
    """Failed posts the rollback note (no status mapped: unchanged); cancelled sets its status with the reason."""
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="e1"))
    await world.workflow.apply("CHG-1", event(kind="scheduled", event_id="e2", start=START, end=END, plan="p"))
    await world.workflow.apply(
        "CHG-1", event(kind="implementation_started", event_id="e3", at=START, implementer={"email": OUTSIDER})
    )
    failed = await world.workflow.apply(
        "CHG-1", event(kind="failed", event_id="e4", at=END, reason="Boot loop", rollback_notes="Restored 7.2")
    )
    assert await world.status(tid) == "In Progress"
    assert internal(await world.notes(tid))[-1].startswith(
        "Failed - Rollback Required\nFailed: 2026-03-02T00:00:00Z\nReason: Boot loop\nRollback notes: Restored 7.2"
    )
    assert any("not a ConnectWise member" in w for w in failed.warnings)
    assert await world.time_entries(tid) == []
    await world.workflow.apply("CHG-1", event(kind="cancelled", event_id="e5", reason="Vendor recalled firmware"))
    assert await world.status(tid) == "Closed"
    assert "Reason: Vendor recalled firmware" in internal(await world.notes(tid))[-1]


async def test_time_entries_need_a_member(world: World) -> None:
    """A time entry is made for a member matched by e-mail (any case); a non-member is refused."""
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    result = await world.workflow.apply(
        "CHG-1",
        event(kind="time_entry", event_id="t1", member={"email": "BOB.TECH@msp.example"}, start=START, end=END,
              notes="Pre-change checks"),
    )  # fmt: skip
    assert [w.what for w in result.writes] == ["time_entry"]
    (entry,) = await world.time_entries(tid)
    assert entry["member"]["id"] == world.members["bob"]
    assert entry["notes"] == "Pre-change checks"
    with pytest.raises(ChangeRefused) as refused:
        await world.workflow.apply(
            "CHG-1",
            event(kind="time_entry", event_id="t2", member={"email": OUTSIDER}, start=START, end=END, notes="x"),
        )
    assert refused.value.code == "unknown_member"


async def test_ticket_search_is_limited_to_the_companys_allowed_boards(world: World) -> None:
    """Search by summary or number finds tickets of the mapped company on its allowed boards only."""
    found = await world.workflow.search_tickets("lighthouse", "firewall upgrade")
    ids = {t.id for t in found}
    assert {world.tickets["help_desk"], world.tickets["projects"]} <= ids
    assert world.tickets["alerts"] not in ids
    assert world.tickets["other_company"] not in ids
    assert all(t.board in ("Help Desk", "Projects") and t.company for t in found)
    by_number = await world.workflow.search_tickets("lighthouse", f"#{world.tickets['projects']}")
    assert [t.id for t in by_number] == [world.tickets["projects"]]
    assert await world.workflow.search_tickets("lighthouse", str(world.tickets["alerts"])) == []
    with pytest.raises(ChangeRefused) as refused:
        await world.workflow.search_tickets("nobody", "x")
    assert refused.value.code == "unknown_company"


async def test_an_event_commits_two_store_transactions_and_a_run_with_its_item(world: World) -> None:
    """Begin (the event's row and its run; no intents: the row marks the attempt) and finish (the change's state,
    the run's item and its end): two transactions on SQLite's one writer, whatever the number of writes; an event
    that fails nowhere never touches the journal."""
    await world.workflow.link(link_request(world))
    commits: list[object] = []
    statements: list[str] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    def executed(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    sa_event.listen(Engine, "commit", committed)
    sa_event.listen(Engine, "before_cursor_execute", executed)
    try:
        applied = await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="e1", comment="CAB: ok"))
    finally:
        sa_event.remove(Engine, "commit", committed)
        sa_event.remove(Engine, "before_cursor_execute", executed)
    assert [w.outcome for w in applied.writes] == ["written", "written"]  # the status PATCH and the note POST
    assert len(commits) == 2
    assert [s for s in statements if re.search(r"\b(FROM|INTO|UPDATE)\s+\"?journal\b", s, re.IGNORECASE)] == []
    assert await world.store.journal("default", "changes:CHG-1") == []
    latest = (await world.store.runs("default"))[0]
    assert latest.status == "succeeded"
    [item] = await world.store.run_items(latest.run_id)
    assert (item.left_id, item.action, item.status) == ("CHG-1", "update", "applied")
