"""The change workflow's core: which event may follow which state, and what each event writes. No I/O.

`plan_link` and `plan_event` take the change as stored, the event, the ticket as ConnectWise has it now and the
people looked up as members, and return a `Plan`: the writes in order (each with a key that makes it idempotent),
the state after, what to remember, and who could not be matched. The workflow applies a plan; plan mode returns it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

from cwsync.config.changes import LifecycleEvent
from cwsync.connectors.connectwise.conditions import F, all_of
from cwsync.workflows.changes.errors import ChangeRefused
from cwsync.workflows.changes.models import (
    ROLE_LABELS,
    ApprovalEvent,
    CancelledEvent,
    ChangeData,
    ChangeEvent,
    ChangeRecord,
    ChangeState,
    CompletedEvent,
    EventKind,
    FailedEvent,
    FullyApprovedEvent,
    ImplementationStartedEvent,
    LinkRequest,
    Person,
    Resource,
    ScheduledEvent,
    TimeEntryEvent,
    UnmatchedPerson,
    Write,
)
from cwsync.workflows.changes.setup import Setup

__all__ = [
    "Member",
    "Plan",
    "Step",
    "allowed_states",
    "check_order",
    "cw_time",
    "patches_status",
    "plan_event",
    "plan_link",
    "ticket_as_left",
]

NOTES = "service/tickets/{ticket}/notes"
ENTRIES = "schedule/entries"
TIME = "time/entries"


@dataclass(frozen=True, slots=True)
class Member:
    """A ConnectWise member found by e-mail."""

    id: int
    identifier: str
    name: str


@dataclass(frozen=True, slots=True)
class Step:
    """One write: `remember` names where its record id goes in the change data (`resource:<email>`, ...)."""

    key: str
    what: Literal["status", "note", "resource", "schedule_entry", "description", "time_entry"]
    method: Literal["POST", "PATCH"]
    path: str
    body: Any
    summary: str
    record_id: int | None = None
    match: str | None = None
    remember: str | None = None

    def as_write(self, outcome: Literal["planned", "written", "already_done"], record_id: int | None) -> Write:
        """The step as a result entry."""
        return Write(
            key=self.key,
            what=self.what,
            method=self.method,
            path=self.path,
            body=self.body,
            summary=self.summary,
            record_id=record_id if record_id is not None else self.record_id,
            outcome=outcome,
        )


@dataclass
class Plan:
    """What an event will write, and the change after it."""

    kind: EventKind
    event_id: str
    state_before: ChangeState | None
    state_after: ChangeState
    data: ChangeData
    steps: list[Step] = field(default_factory=list)
    unmatched: list[UnmatchedPerson] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)


# -- ordering ---------------------------------------------------------------------------------------------------

_ANY: frozenset[ChangeState] = frozenset(
    {"linked", "approved", "scheduled", "in_progress", "completed", "failed", "cancelled"}
)
_ORDER: dict[str, tuple[frozenset[ChangeState], ChangeState | None]] = {
    "technical_approval": (frozenset({"linked", "approved"}), None),
    "operational_approval": (frozenset({"linked", "approved"}), None),
    "fully_approved": (frozenset({"linked", "approved"}), "approved"),
    "scheduled": (frozenset({"approved", "scheduled", "failed"}), "scheduled"),
    "implementation_started": (frozenset({"scheduled"}), "in_progress"),
    "completed": (frozenset({"scheduled", "in_progress"}), "completed"),
    "failed": (frozenset({"scheduled", "in_progress"}), "failed"),
    "cancelled": (frozenset({"linked", "approved", "scheduled", "failed"}), "cancelled"),
    "time_entry": (_ANY, None),
}
_STATE_ORDER: tuple[ChangeState, ...] = (
    "linked",
    "approved",
    "scheduled",
    "in_progress",
    "completed",
    "failed",
    "cancelled",
)


def allowed_states(kind: str, *, require_approval: bool = True) -> frozenset[ChangeState]:
    """The states of a change an event of `kind` may arrive in."""
    states = _ORDER[kind][0]
    if kind == "scheduled" and not require_approval:
        states = states | {"linked"}
    return states


def check_order(kind: str, state: ChangeState, *, require_approval: bool = True) -> ChangeState:
    """The state after `kind` arrives in `state`.

    Raises:
        ChangeRefused: `out_of_order`, with the states that would accept it.
    """
    allowed = allowed_states(kind, require_approval=require_approval)
    if state not in allowed:
        wanted = ", ".join(s for s in _STATE_ORDER if s in allowed)
        raise ChangeRefused(
            "out_of_order", f"{kind} cannot be applied: the change is {state}; {kind} is accepted when it is {wanted}"
        )
    return _ORDER[kind][1] or state


# -- planning ---------------------------------------------------------------------------------------------------


def cw_time(value: datetime) -> str:
    """A datetime in the API's `yyyy-MM-ddTHH:mm:ssZ` form (UTC)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a timezone")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _Builder:
    """Collects the steps of one event; helpers below add the usual kinds of write."""

    setup: Setup
    change: ChangeRecord
    event_id: str
    ticket: Mapping[str, Any]
    members: Mapping[str, Member | None]
    plan: Plan

    @property
    def ticket_id(self) -> int:
        return self.change.ticket_id

    def marker(self, key: str) -> str:
        return f"(cwsync: change {self.change.change_id}, event {self.event_id}, {key})"

    def add(self, step: Step) -> None:
        self.plan.steps.append(step)

    def status(self, event: LifecycleEvent) -> None:
        board = _name(self.ticket.get("board"))
        target = self.setup.status_for(board, event) if board else None
        if board not in self.setup.boards:
            self.plan.warnings.append(f"ticket {self.ticket_id} is on board {board!r}, outside the boards in scope")
            return
        current = self.ticket.get("status") or {}
        if target is None or current.get("id") == target.id:
            return
        self.add(
            Step(
                key=f"status:{event}",
                what="status",
                method="PATCH",
                path="service/tickets",
                record_id=self.ticket_id,
                body=[{"op": "replace", "path": "status", "value": {"id": target.id}}],
                summary=f"ticket {self.ticket_id} status {_name(current)!r} -> {target.name!r} ({event})",
            )
        )

    def note(self, key: str, text: str, *, description: bool = False) -> None:
        marker = self.marker(key)
        options = self.setup.config.notes
        body = {
            "text": f"{text}\n\n{marker}",
            "detailDescriptionFlag": description,
            "internalAnalysisFlag": not description,
            "resolutionFlag": False,
            "internalFlag": not description,
            "processNotifications": options.process_notifications,
        }
        first_line = text.split("\n", 1)[0]
        self.add(
            Step(
                key=key,
                what="description" if description else "note",
                method="POST",
                path=NOTES.format(ticket=self.ticket_id),
                body=body,
                summary=f"{'detailed description' if description else 'internal note'}: {first_line}",
                match=str(F("text").contains(marker)),
                remember="plan_note" if description else None,
            )
        )

    def who(self, person: Person) -> str:
        """How a note names a person: the name the event gives, else the ConnectWise member's (matched by e-mail),
        else a resource's already known; the e-mail only when no name is known at all (CB)."""
        member = self.members.get(person.key)
        resource = self.plan.data.resources.get(person.key)
        known = resource.name if resource is not None else None
        return person.name or (member.name if member is not None else None) or known or person.email

    def people(self, people: Iterable[tuple[Person, str]]) -> None:
        """Make resources of people (schedule entries on the ticket); non-members are reported and noted."""
        unmatched: dict[str, UnmatchedPerson] = {}
        for person, role in people:
            resource = self.plan.data.resources.get(person.key)
            if resource is None:
                resource = Resource(email=person.email, name=person.name, roles=[])
                self.plan.data.resources[person.key] = resource
            if role in resource.roles:
                continue
            resource.roles.append(role)
            member = self.members.get(person.key)
            if member is None:
                unmatched[person.key] = UnmatchedPerson(email=person.email, name=person.name, roles=resource.roles)
                continue
            resource.member_id, resource.member_identifier = member.id, member.identifier
            resource.name = resource.name or member.name
            if resource.entry_id is None and not any(s.remember == f"resource:{person.key}" for s in self.plan.steps):
                self.resource_entry(person, member, resource)
        self.report_unmatched(list(unmatched.values()))

    def resource_entry(self, person: Person, member: Member, resource: Resource) -> None:
        window = self.plan.data.window
        name = f"Change {self.change.change_id}: {', '.join(ROLE_LABELS[r] for r in resource.roles)}"[:100]
        body: dict[str, Any] = {
            "objectId": self.ticket_id,
            "type": self.setup.schedule_type,
            "member": {"id": member.id},
            "name": name,
            "allowScheduleConflictsFlag": True,
        }
        if window:
            body |= {"dateStart": window["start"], "dateEnd": window["end"]}
        match = all_of(F("objectId") == self.ticket_id, F("member/id") == member.id, F("name") == name)
        self.add(
            Step(
                key=f"resource:{person.key}",
                what="resource",
                method="POST",
                path=ENTRIES,
                body=body,
                summary=f"{member.identifier} added to ticket {self.ticket_id} as a resource"
                + (" for the implementation window" if window else " (unscheduled)"),
                match=str(match),
                remember=f"resource:{person.key}",
            )
        )
        if self.setup.config.notes.note_per_resource:
            roles = ", ".join(ROLE_LABELS[r] for r in resource.roles)
            self.note(f"resource-note:{person.key}", f"Resource added: {member.name} ({member.identifier}) - {roles}")

    def report_unmatched(self, unmatched: list[UnmatchedPerson]) -> None:
        if not unmatched:
            return
        self.plan.unmatched.extend(unmatched)
        lines = [f"- {p.name or p.email} <{p.email}> ({', '.join(ROLE_LABELS[r] for r in p.roles)})" for p in unmatched]
        text = "Not added as resources (no active ConnectWise member with this e-mail):\n" + "\n".join(lines)
        self.note("unmatched", text)

    def window(self, start: str, end: str) -> None:
        for key, resource in self.plan.data.resources.items():
            if resource.entry_id is None or resource.member_id is None:
                continue
            self.add(
                Step(
                    key=f"window:{key}",
                    what="schedule_entry",
                    method="PATCH",
                    path=ENTRIES,
                    record_id=resource.entry_id,
                    body=[
                        {"op": "replace", "path": "dateStart", "value": start},
                        {"op": "replace", "path": "dateEnd", "value": end},
                    ],
                    summary=f"{resource.member_identifier}'s schedule entry set to the window {start} - {end}",
                )
            )

    def time_entry(self, key: str, member: Member, start: str, end: str, notes: str) -> None:
        marker = self.marker(key)
        time = self.setup.config.time
        body: dict[str, Any] = {
            "chargeToId": self.ticket_id,
            "chargeToType": "ServiceTicket",
            "member": {"id": member.id},
            "timeStart": start,
            "timeEnd": end,
            "notes": notes,
            "internalNotes": marker,
            "billableOption": time.billable_option,
        }
        if time.work_type:
            body["workType"] = {"name": time.work_type}
        match = all_of(F("chargeToId") == self.ticket_id, F("internalNotes").contains(marker))
        self.add(
            Step(
                key=key,
                what="time_entry",
                method="POST",
                path=TIME,
                body=body,
                summary=f"time entry for {member.identifier} on ticket {self.ticket_id}: {start} - {end}",
                match=str(match),
                remember="time_entry",
            )
        )


def plan_link(
    request: LinkRequest,
    change: ChangeRecord,
    *,
    setup: Setup,
    ticket: Mapping[str, Any],
    members: Mapping[str, Member | None],
    devices: Sequence[str] = (),
) -> Plan:
    """The writes of linking a change to its ticket (`created`): status, note, resources.

    `devices`: the hostnames of the devices the change's text mentions (listed in the note).
    """
    change.data.title, change.data.url = request.title, _change_url(setup, request)
    plan = Plan("created", request.the_event_id, None, "linked", change.data.model_copy(deep=True))
    plan.devices = list(devices)
    build = _Builder(setup, change, request.the_event_id, ticket, members, plan)
    build.status("created")
    build.note("note", _link_text(request, change, setup, plan.data.url, plan.devices))
    people: list[tuple[Person, str]] = [(p, "creator") for p in [request.creator] if p]
    people += [(p, "technical_approver") for p in [request.technical_approver] if p]
    people += [(p, "operational_approver") for p in [request.operational_approver] if p]
    people += [(p, "committee") for p in request.committee]
    build.people(people)
    return plan


def plan_event(
    event: ChangeEvent,
    change: ChangeRecord,
    *,
    setup: Setup,
    ticket: Mapping[str, Any],
    members: Mapping[str, Member | None],
    now: datetime,
    devices: Sequence[str] = (),
) -> Plan:
    """The writes of one event on a linked change (`devices`: hostnames its text mentions, listed in its note).

    Raises:
        ChangeRefused: the event is out of order, or a time entry names someone who is not a member.
    """
    after = check_order(event.kind, change.state, require_approval=setup.config.require_approval)
    plan = Plan(event.kind, event.event_id, change.state, after, change.data.model_copy(deep=True))
    plan.devices = list(devices)
    build = _Builder(setup, change, event.event_id, ticket, members, plan)
    at = cw_time(event.at or now)
    _PLANNERS[event.kind](build, event, at)
    return plan


_STATUS_OF_STATE: dict[ChangeState, LifecycleEvent] = {
    "linked": "created",
    "approved": "fully_approved",
    "scheduled": "scheduled",
    "in_progress": "implementation_started",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
}
"""The lifecycle event whose status a change's state says cwsync last set on its ticket."""


def ticket_as_left(change: ChangeRecord, setup: Setup) -> dict[str, Any]:
    """The change's ticket as cwsync left it: on the change's board (the last one read or answered), with the status
    the change's state maps there (the status the event that brought it there set; none mapped: unknown, so any
    status step is planned)."""
    status = setup.status_for(change.board, _STATUS_OF_STATE[change.state])
    known = {} if status is None else {"id": status.id}
    return {"id": change.ticket_id, "board": {"name": change.board}, "status": known}


def patches_status(
    event: ChangeEvent, change: ChangeRecord, *, setup: Setup, ticket: Mapping[str, Any], now: datetime
) -> bool:
    """Whether planning `event` on `ticket` writes the ticket's status (a PATCH, whose answer is the ticket as it is
    then). The status step depends on no member (the plan is made without any), and a time entry sets no status;
    an event out of order answers False (its refusal comes with the real plan)."""
    if event.kind == "time_entry":
        return False
    try:
        planned = plan_event(event, change, setup=setup, ticket=ticket, members={}, now=now)
    except ChangeRefused:
        return False
    return any(step.what == "status" for step in planned.steps)


def _approval(build: _Builder, event: ChangeEvent, at: str) -> None:
    assert isinstance(event, ApprovalEvent)
    which = "technical" if event.kind == "technical_approval" else "operational"
    build.plan.data.approvals[which] = {"email": event.approver.email, "name": event.approver.name, "at": at}
    text = f"{which.title()} Approval: approved by {build.who(event.approver)} ({at})"
    build.note("note", text + (f"\nComment: {event.comment}" if event.comment else ""))
    build.people([(event.approver, f"{which}_approver")])
    required = build.setup.config.required_approvals
    if required and build.plan.state_after == "linked" and all(r in build.plan.data.approvals for r in required):
        build.plan.state_after = "approved"
        build.status("fully_approved")
        build.note("fully-approved", f"Change {build.change.change_id} fully approved ({', '.join(required)})")


def _fully_approved(build: _Builder, event: ChangeEvent, at: str) -> None:
    assert isinstance(event, FullyApprovedEvent)
    if build.change.state == "approved":
        build.plan.warnings.append("the change was already fully approved")
    else:
        build.status("fully_approved")
        text = f"Change {build.change.change_id} fully approved ({at})"
        build.note("note", text + (f"\nComment: {event.comment}" if event.comment else ""))
    build.people([(p, "committee") for p in event.committee])


def _scheduled(build: _Builder, event: ChangeEvent, at: str) -> None:
    assert isinstance(event, ScheduledEvent)
    start, end = cw_time(event.start), cw_time(event.end)
    build.status("scheduled")
    build.window(start, end)  # existing resources first: their entries move to the window
    build.plan.data.window = {"start": start, "end": end}
    build.people([(p, "engineer") for p in event.engineers])  # new ones are created in the window
    if not any(r.member_id for r in build.plan.data.resources.values()):
        build.plan.warnings.append("no resource of this change is a ConnectWise member: no schedule entry was made")
    text = f"Implementation plan - change {build.change.change_id}\nWindow: {start} - {end}"
    text += "".join(f"\n{line}" for line in _devices_line(build.plan.devices)) + f"\n\n{event.plan}"
    note_id = build.plan.data.plan_note_id
    if note_id is None:
        build.note("plan", text, description=True)
        return
    build.add(
        Step(
            key="plan",
            what="description",
            method="PATCH",
            path=NOTES.format(ticket=build.ticket_id),
            record_id=note_id,
            body=[{"op": "replace", "path": "text", "value": f"{text}\n\n{build.marker('plan')}"}],
            summary="detailed description: implementation plan updated",
        )
    )


def _started(build: _Builder, event: ChangeEvent, at: str) -> None:
    assert isinstance(event, ImplementationStartedEvent)
    build.plan.data.started_at, build.plan.data.implementer = at, event.implementer.email
    build.status("implementation_started")
    build.note("note", f"Implementation Started\nStarted: {at}\nImplementer: {build.who(event.implementer)}")


def _finished(build: _Builder, event: ChangeEvent, at: str) -> None:
    assert isinstance(event, CompletedEvent | FailedEvent)
    if isinstance(event, CompletedEvent):
        build.status("completed")
        text = f"Change Completed Successfully\nCompleted: {at}\nResults: {event.results}"
        build.note("note", text + (f"\nTest results: {event.test_results}" if event.test_results else ""))
    else:
        build.status("failed")
        text = f"Failed - Rollback Required\nFailed: {at}\nReason: {event.reason}"
        build.note("note", text + (f"\nRollback notes: {event.rollback_notes}" if event.rollback_notes else ""))
    _implementation_time(build, event.kind, at)


def _implementation_time(build: _Builder, kind: str, end: str) -> None:
    data = build.plan.data
    if not build.setup.config.time.log_implementation or not data.started_at or not data.implementer:
        return
    member = build.members.get(data.implementer.lower())
    if member is None:
        build.plan.warnings.append(f"no time entry: the implementer {data.implementer} is not a ConnectWise member")
        return
    if end <= data.started_at:
        build.plan.warnings.append("no time entry: the change ended before its implementation started")
        return
    build.time_entry("time", member, data.started_at, end, f"Change {build.change.change_id} implementation ({kind})")


def _cancelled(build: _Builder, event: ChangeEvent, at: str) -> None:
    assert isinstance(event, CancelledEvent)
    build.status("cancelled")
    build.note("note", f"Change Cancelled\nCancelled: {at}\nReason: {event.reason}")


def _time(build: _Builder, event: ChangeEvent, at: str) -> None:
    assert isinstance(event, TimeEntryEvent)
    member = build.members.get(event.member.key)
    if member is None:
        raise ChangeRefused(
            "unknown_member", f"{event.member.email} is not an active ConnectWise member: no time entry can be made"
        )
    build.time_entry("time", member, cw_time(event.start), cw_time(event.end), event.notes)


_PLANNERS = {
    "technical_approval": _approval,
    "operational_approval": _approval,
    "fully_approved": _fully_approved,
    "scheduled": _scheduled,
    "implementation_started": _started,
    "completed": _finished,
    "failed": _finished,
    "cancelled": _cancelled,
    "time_entry": _time,
}


def ticket_url(*, scheme: str, site: str, codebase: str, company_id: str, ticket_id: int) -> str:
    """The ticket in ConnectWise Manage's web UI: `{site}/{codebase}ConnectWise.aspx?...&routeTo=ServiceFV&recid=`
    (the link ConnectWise itself shares for a service ticket; `companyName` picks the company at sign-in)."""
    host = site.split("//", 1)[-1].strip("/")
    query = urlencode({"locale": "en_US", "routeTo": "ServiceFV", "recid": ticket_id, "companyName": company_id})
    return f"{scheme}://{host}/{codebase.strip('/')}/ConnectWise.aspx?{query}"


def people_to_look_up(event: ChangeEvent | LinkRequest, data: ChangeData, *, time_entries: bool = True) -> list[str]:
    """The e-mails an event needs matched to members, each once (the workflow looks them up for every event: a
    member can be renamed or deactivated between events); the implementer of a completed or failed change only for
    its time entry (`time_entries`: time is logged)."""
    if isinstance(event, LinkRequest):
        people = [event.creator, event.technical_approver, event.operational_approver, *event.committee]
    elif isinstance(event, ApprovalEvent):
        people = [event.approver]
    elif isinstance(event, FullyApprovedEvent):
        people = list(event.committee)
    elif isinstance(event, ScheduledEvent):
        people = list(event.engineers)
    elif isinstance(event, TimeEntryEvent):
        people = [event.member]
    elif isinstance(event, ImplementationStartedEvent):
        people = [event.implementer]  # named in the note by the member's name
    else:
        people = []
    emails = [p.key for p in people if p is not None]
    if isinstance(event, CompletedEvent | FailedEvent) and data.implementer and time_entries:
        emails.append(data.implementer.lower())
    return list(dict.fromkeys(emails))


def _change_url(setup: Setup, request: LinkRequest) -> str | None:
    template = setup.config.notes.change_url
    if request.url:
        return request.url
    return template.replace("{change_id}", request.change_id) if template else None


def _devices_line(devices: Sequence[str]) -> list[str]:
    return [f"Devices: {', '.join(devices)}"] if devices else []


def _link_text(
    request: LinkRequest, change: ChangeRecord, setup: Setup, url: str | None, devices: Sequence[str] = ()
) -> str:
    company = setup.companies[request.company]
    lines = [f"Change {request.change_id} linked to this ticket" + (f": {request.title}" if request.title else "")]
    lines += [f"Link: {url}"] if url else []
    lines.append(f"Company: {company.name} ({company.identifier})")
    for label, person in (
        ("Creator", request.creator),
        ("Technical approver", request.technical_approver),
        ("Operational approver", request.operational_approver),
    ):
        if person:
            lines.append(f"{label}: {person.shown}")
    if request.committee:
        lines.append("vCAB: " + ", ".join(p.shown for p in request.committee))
    lines += _devices_line(devices)
    if request.description:
        lines += ["", request.description]
    return "\n".join(lines)


def _name(ref: Any) -> str:
    return str(ref.get("name", "")) if isinstance(ref, Mapping) else ""
