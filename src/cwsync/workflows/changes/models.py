"""The values the change workflow takes and returns: people, events, the change record, results.

Everything here is plain pydantic data, serialisable as JSON: the REST API and `--json` output are these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ApprovalEvent",
    "CancelledEvent",
    "ChangeData",
    "ChangeEvent",
    "ChangeRecord",
    "ChangeState",
    "CompletedEvent",
    "EventKind",
    "EventResult",
    "FailedEvent",
    "FullyApprovedEvent",
    "ImplementationStartedEvent",
    "LinkRequest",
    "Person",
    "Resource",
    "ScheduledEvent",
    "TicketSummary",
    "TimeEntryEvent",
    "UnmatchedPerson",
    "Write",
]

ChangeState = Literal["linked", "approved", "scheduled", "in_progress", "completed", "failed", "cancelled"]
EventKind = Literal[
    "created",
    "technical_approval",
    "operational_approval",
    "fully_approved",
    "scheduled",
    "implementation_started",
    "completed",
    "failed",
    "cancelled",
    "time_entry",
]
ROLE_LABELS: dict[str, str] = {
    "creator": "Change Creator",
    "technical_approver": "Technical Approver",
    "operational_approver": "Operational Approver",
    "committee": "vCAB Member",
    "engineer": "Engineer",
    "implementer": "Implementer",
}
_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:@#/-]*$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Model):
    """Someone in the change tool; matched to a ConnectWise member by e-mail."""

    email: str = Field(min_length=3, max_length=254)
    name: str | None = Field(None, max_length=100)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if "@" not in value or value.startswith("@") or value.endswith("@"):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @property
    def key(self) -> str:
        """The e-mail, lower-cased: how a person is recognised across events."""
        return self.email.lower()

    @property
    def shown(self) -> str:
        """`Name <email>` or just the e-mail."""
        return f"{self.name} <{self.email}>" if self.name else self.email


class LinkRequest(_Model):
    """Create a change record and link it to a ConnectWise ticket (the `created` event)."""

    change_id: str = Field(min_length=1, max_length=100, pattern=_ID)
    company: str = Field(min_length=1, description="the change tool's company key (a key of changes.companies)")
    ticket_id: int = Field(gt=0)
    event_id: str | None = Field(None, max_length=200, description="default: <change_id>:created")
    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=4000)
    url: str | None = Field(None, max_length=500)
    creator: Person | None = None
    technical_approver: Person | None = None
    operational_approver: Person | None = None
    committee: list[Person] = Field(default_factory=list)

    @property
    def the_event_id(self) -> str:
        """The event id this link is de-duplicated on."""
        return self.event_id or f"{self.change_id}:created"


class _Event(_Model):
    event_id: str = Field(min_length=1, max_length=200)
    at: datetime | None = Field(None, description="when it happened in the change tool (default: now)")


class ApprovalEvent(_Event):
    """A technical or operational approval, with its approver and comment."""

    kind: Literal["technical_approval", "operational_approval"]
    approver: Person
    comment: str | None = Field(None, max_length=4000)


class FullyApprovedEvent(_Event):
    """Every approval the change needs has arrived (committee members of a vCAB approval become resources)."""

    kind: Literal["fully_approved"]
    comment: str | None = Field(None, max_length=4000)
    committee: list[Person] = Field(default_factory=list)


class ScheduledEvent(_Event):
    """The implementation window and plan."""

    kind: Literal["scheduled"]
    start: datetime
    end: datetime
    plan: str = Field(min_length=1, max_length=20000)
    engineers: list[Person] = Field(default_factory=list)

    @model_validator(mode="after")
    def _window(self) -> ScheduledEvent:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a timezone (e.g. 2026-03-01T22:00:00Z)")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ImplementationStartedEvent(_Event):
    """Implementation began (at `at`, by `implementer`)."""

    kind: Literal["implementation_started"]
    implementer: Person


class CompletedEvent(_Event):
    """Implementation finished successfully."""

    kind: Literal["completed"]
    results: str = Field(min_length=1, max_length=4000)
    test_results: str | None = Field(None, max_length=4000)


class FailedEvent(_Event):
    """Implementation failed; rollback required."""

    kind: Literal["failed"]
    reason: str = Field(min_length=1, max_length=4000)
    rollback_notes: str | None = Field(None, max_length=4000)


class CancelledEvent(_Event):
    """The change was cancelled."""

    kind: Literal["cancelled"]
    reason: str = Field(min_length=1, max_length=4000)


class TimeEntryEvent(_Event):
    """Time worked on the change, logged against the linked ticket for a member matched by e-mail (CB-6)."""

    kind: Literal["time_entry"]
    member: Person
    start: datetime
    end: datetime
    notes: str = Field(min_length=1, max_length=4000)

    @model_validator(mode="after")
    def _span(self) -> TimeEntryEvent:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a timezone")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


ChangeEvent = Annotated[
    ApprovalEvent
    | FullyApprovedEvent
    | ScheduledEvent
    | ImplementationStartedEvent
    | CompletedEvent
    | FailedEvent
    | CancelledEvent
    | TimeEntryEvent,
    Field(discriminator="kind"),
]
"""Any event after `created`, told apart by `kind`."""


class Resource(BaseModel):
    """A person on the change, and what they are in ConnectWise."""

    model_config = ConfigDict(extra="forbid")

    email: str
    name: str | None = None
    roles: list[str] = Field(default_factory=list)
    member_id: int | None = None
    member_identifier: str | None = None
    entry_id: int | None = Field(None, description="their schedule entry on the ticket")


class ChangeData(BaseModel):
    """What the workflow remembers about a change between events."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    url: str | None = None
    resources: dict[str, Resource] = Field(default_factory=dict)
    approvals: dict[str, dict[str, Any]] = Field(default_factory=dict)
    window: dict[str, str] | None = None
    plan_note_id: int | None = None
    started_at: str | None = None
    implementer: str | None = None
    time_entry_ids: list[int] = Field(default_factory=list)


class ChangeRecord(BaseModel):
    """A change linked to a ticket, as stored."""

    model_config = ConfigDict(extra="forbid")

    change_id: str
    company: str
    cw_company_id: int
    ticket_id: int
    board: str
    state: ChangeState
    version: int = 0
    data: ChangeData = Field(default_factory=ChangeData)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[dict[str, Any]] = Field(default_factory=list, description="processed events, oldest first")


class TicketSummary(_Model):
    """A ticket as the search shows it."""

    id: int
    summary: str
    board: str | None
    status: str | None
    company: str | None
    closed: bool = False
    url: str | None = Field(None, description="the ticket in ConnectWise's web UI (open it in a new tab)")


class Write(_Model):
    """One write to ConnectWise: planned, done, or found already done."""

    key: str
    what: Literal["status", "note", "resource", "schedule_entry", "description", "time_entry"]
    method: Literal["POST", "PATCH"]
    path: str
    body: Any
    summary: str
    record_id: int | None = None
    outcome: Literal["planned", "written", "already_done"] = "planned"


class UnmatchedPerson(_Model):
    """Someone who is not a ConnectWise member (reported, never fatal)."""

    email: str
    name: str | None = None
    roles: list[str]


class EventResult(_Model):
    """What one event did (or, in plan mode, would do)."""

    change_id: str
    event_id: str
    kind: EventKind
    ticket_id: int
    state_before: ChangeState | None
    state_after: ChangeState
    applied: bool
    replayed: bool = False
    writes: list[Write] = Field(default_factory=list)
    unmatched: list[UnmatchedPerson] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list, description="hostnames of the devices its text mentions (CB-7)")
    unknown_devices: list[str] = Field(
        default_factory=list, description="@names that match no device of the change's company (reported, not fatal)"
    )
