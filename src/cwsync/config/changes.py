"""The `changes:` section of the configuration (CB-1, CB-3): companies, boards, status mappings, notes, time.

::

    changes:
      boards: [Help Desk]                 # boards a change may link to, unless a company lists its own
      schedule_type: S                    # the schedule type of the entries made on the ticket
      companies:
        acme:                             # the change tool's company key
          connectwise: ACME               # ConnectWise company identifier (or its numeric id)
          boards: [Help Desk, Projects]
      statuses:                           # the default mapping, for every board in scope
        created: New
        fully_approved: Scheduled
        completed: Completed
      board_statuses:                     # per board, overriding the default event by event
        Projects: {completed: Completed}
      devices:                            # CB-7: ConnectWise configurations -> the device inventory
        types:                            # configuration type -> device type; only mapped types import
          Managed Server: Server
          Firewall: Firewall
        companies: mapped                 # mapped: only the companies above; all: every company
        schedule: {incremental_minutes: 60, full_hours: 24}

Board and status names are checked against ConnectWise by `cwsync.workflows.changes.setup.validate_statuses` when
the workflow starts (CLI and server), so an unknown name is refused before any event fires. This module does no I/O
and imports nothing else of `cwsync.config` (`model.py` imports this one).
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "LIFECYCLE_EVENTS",
    "ChangeCompany",
    "ChangesConfig",
    "DeviceSchedule",
    "DevicesConfig",
    "LifecycleEvent",
    "NoteOptions",
    "StatusMap",
    "TimeOptions",
]

LifecycleEvent = Literal[
    "created", "fully_approved", "scheduled", "implementation_started", "completed", "failed", "cancelled"
]
"""The change lifecycle events a ticket status can be mapped for."""
LIFECYCLE_EVENTS: tuple[LifecycleEvent, ...] = get_args(LifecycleEvent)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ChangeCompany(_Model):
    """One company of the change tool and the ConnectWise company (and boards) its changes link to."""

    connectwise: str | int = Field(description="ConnectWise company identifier (e.g. ACME) or its numeric id")
    boards: list[str] | None = Field(None, description="service boards whose tickets may be linked (default: all)")

    @field_validator("connectwise")
    @classmethod
    def _company(cls, value: str | int) -> str | int:
        if isinstance(value, str) and not value.strip():
            raise ValueError("give the ConnectWise company identifier or id")
        return value.strip() if isinstance(value, str) else value


class StatusMap(_Model):
    """A ConnectWise ticket status name per lifecycle event; an event left out leaves the status as it is."""

    created: str | None = Field(None, description="a ticket is linked to a new change")
    fully_approved: str | None = None
    scheduled: str | None = None
    implementation_started: str | None = None
    completed: str | None = None
    failed: str | None = None
    cancelled: str | None = None

    def get(self, event: LifecycleEvent) -> str | None:
        """The status name mapped for `event`, if any."""
        value: str | None = getattr(self, event)
        return value

    def over(self, default: StatusMap) -> StatusMap:
        """This mapping with the events it leaves out taken from `default`."""
        merged = {event: self.get(event) or default.get(event) for event in LIFECYCLE_EVENTS}
        return StatusMap(**merged)

    def mapped(self) -> dict[LifecycleEvent, str]:
        """The events that have a status."""
        return {event: name for event in LIFECYCLE_EVENTS if (name := self.get(event))}


class NoteOptions(_Model):
    """How the internal notes posted to the ticket look."""

    change_url: str | None = Field(
        None,
        description="link to the change in the change tool; {change_id} is replaced (e.g. https://x/c/{change_id})",
    )
    note_per_resource: bool = Field(True, description="one note per resource added (as ChangeBreeze does)")
    process_notifications: bool = Field(False, description="let ConnectWise send its note notifications")


class TimeOptions(_Model):
    """Time entries made on the linked ticket (CB-6)."""

    log_implementation: bool = Field(
        True, description="on completed/failed, log the implementer's time from implementation start to the end"
    )
    billable_option: Literal["Billable", "DoNotBill", "NoCharge", "NoDefault"] = "DoNotBill"
    work_type: str | None = Field(None, description="work type name (ConnectWise default when unset)")


class DeviceSchedule(_Model):
    """How often devices are synced: an incremental run (by `lastUpdated`) and a full run (also finds deletions)."""

    incremental_minutes: float = Field(60, gt=0)
    full_hours: float = Field(24, gt=0)


class DevicesConfig(_Model):
    """ConnectWise configurations → the device inventory (CB-7): which types import, as what, from which companies."""

    enabled: bool = True
    types: dict[str, str] = Field(
        min_length=1, description="ConnectWise configuration type name -> device type; only mapped types import"
    )
    companies: Literal["all", "mapped"] = Field(
        "all", description="mapped: only configurations of the companies in changes.companies"
    )
    overlap_seconds: int = Field(
        300, ge=0, le=86_400, description="an incremental run re-reads this much before its cursor (clock skew)"
    )
    schedule: DeviceSchedule = Field(default_factory=DeviceSchedule)
    on_delete: Literal["delete", "ignore"] = Field(
        "delete",
        description="when a configuration is gone from ConnectWise (found by a full run): remove its device, or"
        " ignore it (the device kept as it is)",
    )
    mass_delete_share: float = Field(
        0.9,
        gt=0,
        le=1,
        description="a full run that would remove more than this share of the devices stops instead (a broken read)",
    )

    @field_validator("types")
    @classmethod
    def _types(cls, value: dict[str, str]) -> dict[str, str]:
        blank = [key for key, device_type in value.items() if not key.strip() or not device_type.strip()]
        if blank:
            raise ValueError(f"give a configuration type and a device type for every entry (blank: {blank!r})")
        return {key.strip(): device_type.strip() for key, device_type in value.items()}


class ChangesConfig(_Model):
    """Change management → ConnectWise tickets (CB-1 … CB-7)."""

    enabled: bool = True
    companies: dict[str, ChangeCompany] = Field(min_length=1)
    boards: list[str] = Field(default_factory=list, description="allowed boards for companies that list none")
    statuses: StatusMap = Field(default_factory=StatusMap)
    board_statuses: dict[str, StatusMap] = Field(default_factory=dict)
    schedule_type: str | int = Field("S", description="schedule type identifier (S: service) or id")
    required_approvals: list[Literal["technical", "operational"]] = Field(
        default_factory=list,
        description="when every approval listed has arrived, the change is fully approved without a separate event",
    )
    require_approval: bool = Field(True, description="a change must be fully approved before it is scheduled")
    notes: NoteOptions = Field(default_factory=NoteOptions)
    time: TimeOptions = Field(default_factory=TimeOptions)
    devices: DevicesConfig | None = Field(None, description="configuration -> device sync (CB-7)")

    @model_validator(mode="after")
    def _boards_in_scope(self) -> ChangesConfig:
        missing = [key for key, company in self.companies.items() if not (company.boards or self.boards)]
        if missing:
            raise ValueError(
                f"companies {', '.join(missing)} list no boards: give `boards` per company or a default `boards` list"
            )
        unknown = sorted(set(self.board_statuses) - set(self.boards_in_scope()))
        if unknown:
            raise ValueError(f"board_statuses names boards no company may link to: {', '.join(unknown)}")
        return self

    def boards_for(self, company: str) -> list[str]:
        """The boards a change of `company` may link to."""
        return list(self.companies[company].boards or self.boards)

    def boards_in_scope(self) -> list[str]:
        """Every board some company may link to, in first-mentioned order."""
        seen: dict[str, None] = {}
        for key in self.companies:
            seen.update(dict.fromkeys(self.boards_for(key)))
        return list(seen)

    def statuses_for(self, board: str) -> StatusMap:
        """The status mapping that applies on `board` (its own entries over the defaults)."""
        own = self.board_statuses.get(board)
        return own.over(self.statuses) if own else self.statuses
