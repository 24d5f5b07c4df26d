"""The pure parts: event order, the `changes:` section, and planning without I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from cwsync.config import ConfigError, parse_config
from cwsync.config.changes import ChangesConfig
from cwsync.workflows.changes.core import Member, check_order, patches_status, plan_event, ticket_as_left
from cwsync.workflows.changes.errors import ChangeRefused
from cwsync.workflows.changes.models import ChangeEvent, ChangeRecord, Resource
from cwsync.workflows.changes.setup import CompanyRef, Setup, StatusRef

EVENT: TypeAdapter[ChangeEvent] = TypeAdapter(ChangeEvent)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "state", "after"),
    [
        ("fully_approved", "linked", "approved"),
        ("technical_approval", "approved", "approved"),
        ("scheduled", "approved", "scheduled"),
        ("scheduled", "scheduled", "scheduled"),
        ("scheduled", "failed", "scheduled"),
        ("implementation_started", "scheduled", "in_progress"),
        ("completed", "in_progress", "completed"),
        ("failed", "in_progress", "failed"),
        ("cancelled", "failed", "cancelled"),
        ("time_entry", "completed", "completed"),
    ],
)
def test_events_in_order_move_the_state(kind: str, state: Any, after: str) -> None:
    """Each event accepted in its states leads to the next state."""
    assert check_order(kind, state) == after


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        ("completed", "linked"),
        ("completed", "approved"),
        ("scheduled", "linked"),
        ("implementation_started", "approved"),
        ("technical_approval", "scheduled"),
        ("cancelled", "completed"),
        ("scheduled", "cancelled"),
    ],
)
def test_events_out_of_order_are_refused(kind: str, state: Any) -> None:
    """An event in a state that does not accept it is refused, saying the state it arrived in."""
    with pytest.raises(ChangeRefused, match=f"the change is {state}") as refused:
        check_order(kind, state)
    assert refused.value.code == "out_of_order"


def test_scheduling_without_approval_can_be_allowed() -> None:
    """`require_approval: false` lets a linked change be scheduled straight away."""
    assert check_order("scheduled", "linked", require_approval=False) == "scheduled"


def test_config_needs_boards_and_merges_board_statuses() -> None:
    """Every company needs boards; per-board statuses override the defaults event by event."""
    with pytest.raises(ValidationError, match="list no boards"):
        ChangesConfig.model_validate({"companies": {"acme": {"connectwise": "ACME"}}})
    with pytest.raises(ValidationError, match="no company may link to: Alerts"):
        ChangesConfig.model_validate(
            {"companies": {"acme": {"connectwise": "ACME"}}, "boards": ["Help Desk"], "board_statuses": {"Alerts": {}}}
        )
    config = ChangesConfig.model_validate(
        {
            "companies": {"acme": {"connectwise": "ACME"}, "beta": {"connectwise": 9, "boards": ["Projects"]}},
            "boards": ["Help Desk"],
            "statuses": {"created": "New", "completed": "Completed"},
            "board_statuses": {"Projects": {"created": "Planning"}},
        }
    )
    assert config.boards_in_scope() == ["Help Desk", "Projects"]
    assert config.statuses_for("Projects").mapped() == {"created": "Planning", "completed": "Completed"}
    assert config.statuses_for("Help Desk").mapped() == {"created": "New", "completed": "Completed"}


def test_a_misspelt_event_in_the_yaml_names_file_line_and_field() -> None:
    """The loader reports an unknown lifecycle event with its line, like every other config error."""
    text = """\
connections:
  connectwise: {site: x.example, company_id: c, public_key: p, private_key: k, client_id: i}
syncs:
  changes:
    boards: [Help Desk]
    companies:
      acme: {connectwise: ACME}
    statuses:
      created: New
      aproved: Scheduled
"""
    with pytest.raises(ConfigError) as error:
        parse_config(text, path="cwsync.yaml", environ={})
    assert "cwsync.yaml:10" in str(error.value)
    assert "aproved" in str(error.value)


def _setup(**config: Any) -> Setup:
    section = {"companies": {"acme": {"connectwise": "ACME"}}, "boards": ["Help Desk"]} | config
    return Setup(
        config=ChangesConfig.model_validate(section),
        boards={"Help Desk": 1},
        statuses={"Help Desk": {"fully_approved": StatusRef(6, "Scheduled")}},
        companies={"acme": CompanyRef(5, "ACME", "Acme")},
        schedule_type={"identifier": "S"},
    )


TICKET = {"id": 42, "board": {"id": 1, "name": "Help Desk"}, "status": {"id": 1, "name": "New"}}


def _change(**data: Any) -> ChangeRecord:
    values = {"change_id": "CHG-1", "company": "acme", "cw_company_id": 5, "ticket_id": 42, "board": "Help Desk"}
    return ChangeRecord.model_validate(values | {"state": "linked", "data": data})


def test_the_last_required_approval_makes_the_change_fully_approved() -> None:
    """With required_approvals, the second approval also sets the fully-approved status and state."""
    setup = _setup(required_approvals=["technical", "operational"])
    bob = Member(8, "bob", "Bob Tech")
    first = EVENT.validate_python({"kind": "technical_approval", "event_id": "a", "approver": {"email": "b@x.io"}})
    plan = plan_event(first, _change(), setup=setup, ticket=TICKET, members={"b@x.io": bob}, now=NOW)
    assert plan.state_after == "linked"
    assert [s.what for s in plan.steps] == ["note", "resource", "note"]
    second = EVENT.validate_python({"kind": "operational_approval", "event_id": "b", "approver": {"email": "b@x.io"}})
    change = _change(approvals=plan.data.approvals, resources={"b@x.io": Resource(email="b@x.io", entry_id=77)})
    plan = plan_event(second, change, setup=setup, ticket=TICKET, members={"b@x.io": bob}, now=NOW)
    assert plan.state_after == "approved"
    status = next(s for s in plan.steps if s.what == "status")
    assert status.body == [{"op": "replace", "path": "status", "value": {"id": 6}}]
    assert not any(s.what == "resource" for s in plan.steps)  # bob already has his entry


def test_a_ticket_moved_off_the_boards_in_scope_gets_notes_but_no_status() -> None:
    """Planning on a ticket now on another board warns and leaves its status alone."""
    moved = TICKET | {"board": {"id": 2, "name": "Alerts"}}
    event = EVENT.validate_python({"kind": "fully_approved", "event_id": "a"})
    plan = plan_event(event, _change(), setup=_setup(), ticket=moved, members={}, now=NOW)
    assert [s.what for s in plan.steps] == ["note"]
    assert "outside the boards in scope" in plan.warnings[0]


def test_event_payloads_are_checked() -> None:
    """A window needs a timezone and an end after its start; e-mails must look like e-mails."""
    base = {"kind": "scheduled", "event_id": "s", "plan": "p"}
    with pytest.raises(ValidationError, match="timezone"):
        EVENT.validate_python(base | {"start": "2026-03-01T22:00:00", "end": "2026-03-01T23:00:00"})
    with pytest.raises(ValidationError, match="end must be after start"):
        EVENT.validate_python(base | {"start": "2026-03-01T22:00:00Z", "end": "2026-03-01T21:00:00Z"})
    with pytest.raises(ValidationError, match="not an e-mail"):
        EVENT.validate_python({"kind": "technical_approval", "event_id": "a", "approver": {"email": "bob"}})


def test_the_ticket_as_cwsync_left_it_has_the_status_the_changes_state_maps() -> None:
    """A linked change's ticket has the `created` status (unmapped here: unknown), an approved one's the
    fully-approved status; an event writes the status off it unless that is the event's own target."""
    setup, approved = _setup(), EVENT.validate_python({"kind": "fully_approved", "event_id": "a"})
    linked = ticket_as_left(_change(), setup)
    assert linked == {"id": 42, "board": {"name": "Help Desk"}, "status": {}}
    assert patches_status(approved, _change(), setup=setup, ticket=linked, now=NOW)
    change = _change().model_copy(update={"state": "approved"})
    assert ticket_as_left(change, setup)["status"] == {"id": 6}
    time = EVENT.validate_python(
        {
            "kind": "time_entry",
            "event_id": "t",
            "member": {"email": "b@x.io"},
            "start": "2026-03-01T10:00:00Z",
            "end": "2026-03-01T11:00:00Z",
            "notes": "n",
        }
    )
    assert not patches_status(time, change, setup=setup, ticket=ticket_as_left(change, setup), now=NOW)
    out_of_order = EVENT.validate_python({"kind": "completed", "event_id": "c", "results": "ok"})
    assert not patches_status(out_of_order, _change(), setup=setup, ticket=linked, now=NOW)
