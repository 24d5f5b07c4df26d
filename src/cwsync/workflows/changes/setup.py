"""Checking the `changes:` configuration against ConnectWise, once, before any event (CB-1, CB-3).

`validate_statuses` reads the boards in scope, their statuses, the mapped companies and (with `devices:`) the
configuration types, and returns a `Setup` holding the ids the workflow writes with. Any name ConnectWise does not
know is refused then, with the valid names listed, never when an event fires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cwsync.config.changes import LIFECYCLE_EVENTS, ChangesConfig, LifecycleEvent
from cwsync.connectors.connectwise import ConnectWiseClient, NotFoundError
from cwsync.connectors.connectwise.conditions import F
from cwsync.workflows.changes.errors import SetupError

__all__ = ["CompanyRef", "Setup", "StatusRef", "validate_statuses"]

_LISTED = 40  # names listed in one message at most


@dataclass(frozen=True, slots=True)
class StatusRef:
    """A board status: its id and exact name."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class CompanyRef:
    """A mapped ConnectWise company."""

    id: int
    identifier: str
    name: str


@dataclass(frozen=True)
class Setup:
    """The configuration resolved against ConnectWise: ids for every board, status and company it names."""

    config: ChangesConfig
    boards: dict[str, int]
    statuses: dict[str, dict[LifecycleEvent, StatusRef]]
    companies: dict[str, CompanyRef]
    schedule_type: dict[str, Any] = field(default_factory=dict)

    def status_for(self, board: str, event: LifecycleEvent) -> StatusRef | None:
        """The status to set on a ticket of `board` for `event` (None: unmapped, or a board out of scope)."""
        return self.statuses.get(board, {}).get(event)

    def allowed_boards(self, company: str) -> list[str]:
        """The boards a change of `company` may link to."""
        return self.config.boards_for(company)


async def validate_statuses(client: ConnectWiseClient, config: ChangesConfig) -> Setup:
    """Resolve boards, board statuses and companies; refuse anything ConnectWise does not have.

    Raises:
        SetupError: one line per unknown board, status or company, each listing the valid names.
        CwsyncApiError: ConnectWise could not be read.
    """
    problems: list[str] = []
    boards = await _boards(client, config, problems)
    statuses: dict[str, dict[LifecycleEvent, StatusRef]] = {}
    for board, board_id in boards.items():
        available = await _statuses(client, board_id)
        statuses[board] = _mapped_statuses(config, board, available, problems)
    companies = {key: await _company(client, key, company.connectwise, problems) for key, company in _items(config)}
    if config.devices is not None and config.devices.enabled:
        await _configuration_types(client, list(config.devices.types), problems)
    if problems:
        raise SetupError(problems)
    return Setup(
        config=config,
        boards=boards,
        statuses=statuses,
        companies={key: ref for key, ref in companies.items() if ref is not None},
        schedule_type=_schedule_type(config.schedule_type),
    )


async def _configuration_types(client: ConnectWiseClient, wanted: list[str], problems: list[str]) -> None:
    rows = [r async for r in client.stream_records("company/configurations/types", fields="id,name,inactiveFlag")]
    names = [str(r.get("name", "")) for r in rows]
    for name in wanted:
        if name not in names:
            problems.append(
                f"devices: configuration type {name!r} is not a ConnectWise configuration type; types: {_list(names)}"
            )


def _items(config: ChangesConfig) -> list[tuple[str, Any]]:
    return list(config.companies.items())


def _schedule_type(value: str | int) -> dict[str, Any]:
    if isinstance(value, int) or value.isdigit():
        return {"id": int(value)}
    return {"identifier": value}


async def _boards(client: ConnectWiseClient, config: ChangesConfig, problems: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    all_names: list[str] = []
    async for row in client.stream_records("service/boards", fields="id,name,inactiveFlag"):
        name = str(row.get("name", ""))
        if not row.get("inactiveFlag"):
            all_names.append(name)
            found.setdefault(name, int(row["id"]))
    wanted = config.boards_in_scope()
    for board in wanted:
        if board not in found:
            problems.append(f"board {board!r} is not an active ConnectWise service board; boards: {_list(all_names)}")
    return {board: found[board] for board in wanted if board in found}


async def _statuses(client: ConnectWiseClient, board_id: int) -> list[StatusRef]:
    rows = [r async for r in client.stream_records(f"service/boards/{board_id}/statuses", fields="id,name,inactive")]
    return [StatusRef(int(r["id"]), str(r.get("name", ""))) for r in rows if not r.get("inactive")]


def _mapped_statuses(
    config: ChangesConfig, board: str, available: list[StatusRef], problems: list[str]
) -> dict[LifecycleEvent, StatusRef]:
    by_name = {s.name: s for s in available}
    out: dict[LifecycleEvent, StatusRef] = {}
    for event in LIFECYCLE_EVENTS:
        wanted = config.statuses_for(board).get(event)
        if wanted is None:
            continue
        if wanted in by_name:
            out[event] = by_name[wanted]
        else:
            problems.append(
                f"board {board!r}: status {wanted!r} (for {event}) is not a status of this board; "
                f"valid statuses: {_list([s.name for s in available])}"
            )
    return out


async def _company(client: ConnectWiseClient, key: str, ref: str | int, problems: list[str]) -> CompanyRef | None:
    fields = "id,identifier,name,deletedFlag"
    row: dict[str, Any] | None
    if isinstance(ref, int) or ref.isdigit():
        try:
            row = await client.get("company/companies", int(ref), fields=fields)
        except NotFoundError:
            row = None
    else:
        rows = await client.list_page("company/companies", conditions=F("identifier") == ref, fields=fields)
        row = rows[0] if rows else None
    if row is None or row.get("deletedFlag"):
        problems.append(f"company {key!r}: ConnectWise has no (active) company {ref!r} (give its identifier or id)")
        return None
    return CompanyRef(int(row["id"]), str(row.get("identifier", "")), str(row.get("name", "")))


def _list(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "") if names else "(none)"
