"""The change workflow: search tickets, link a change, apply its events to ConnectWise (CB-2, CB-4 … CB-6).

::

    workflow = await ChangeWorkflow.start(client=cw, store=store, config=config.changes, tenant=config.tenant)
    tickets = await workflow.search_tickets("acme", "firewall")
    await workflow.link(LinkRequest(change_id="CHG-1", company="acme", ticket_id=tickets[0].id, creator=...))
    event = ScheduledEvent(kind="scheduled", event_id="e2", start=..., end=..., plan=...)
    result = await workflow.apply("CHG-1", event)
    preview = await workflow.apply("CHG-1", event, plan=True)   # what it would write; nothing is written

Every event reads what it needs (members, mentioned devices; the ticket, unless its first delivery writes the
ticket's status: then it is planned on the ticket as cwsync left it, its board and the status its state maps there,
and the status PATCH's answer is the ticket as it is, a board moved meanwhile getting that board's status), is
planned by the pure core (`cwsync.workflows.changes.core`), then applied write by write through the workflows'
journaled step runner (`cwsync.workflows.steps`; scope `changes:<change id>`, key the event id). The event's row,
committed `applying` before any write is sent, is what marks an attempt: a delivery that finds it resumes
(`attempted`), and every create carries a lookup (the marker in a note's text or a time entry's internal notes, a
schedule entry's ticket, member and name) that is tried before it is sent again unless the journal says it was done,
so a lost answer never duplicates a note or an entry, and no intent is journaled (issue 19: two statements fewer per
event). What finished is journaled when a write fails, so a resumed event does not send it again. Each delivery that
writes is a run of pair `changes` (`cwsync history`). An event already applied is answered from the store
(`replayed`), with nothing written. Events of one change are applied one at a time, in the order the state machine
allows; anything else is refused (`ChangeRefused`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

import structlog
from pydantic import BaseModel, ConfigDict, Field

from cwsync.config.changes import LIFECYCLE_EVENTS, ChangesConfig
from cwsync.connectors.connectwise import ConnectWiseClient, CwsyncApiError, NotFoundError
from cwsync.connectors.connectwise.conditions import Condition, F, all_of, any_of
from cwsync.integrations.devices.models import Device
from cwsync.integrations.devices.sync import DeviceSync, mentions
from cwsync.integrations.devices.table import DeviceStore
from cwsync.store import Store, Trigger
from cwsync.store.records import Action
from cwsync.workflows import Step as RunnerStep
from cwsync.workflows import StepRunner, WorkflowRun, workflow_run
from cwsync.workflows.changes.core import (
    Member,
    Plan,
    Step,
    patches_status,
    people_to_look_up,
    plan_event,
    plan_link,
    ticket_as_left,
    ticket_url,
)
from cwsync.workflows.changes.errors import ChangeRefused
from cwsync.workflows.changes.models import (
    ChangeData,
    ChangeEvent,
    ChangeRecord,
    EventResult,
    LinkRequest,
    ScheduledEvent,
    TicketSummary,
    Write,
)
from cwsync.workflows.changes.setup import Setup, validate_statuses
from cwsync.workflows.changes.store import ChangeStore, StoredEvent, journal_scope

__all__ = ["ChangeView", "ChangeWorkflow"]

log = structlog.get_logger("cwsync.workflows.changes")

TICKET_FIELDS = "id,summary,board,status,company,closedFlag"
MEMBER_FIELDS = "id,identifier,firstName,lastName,primaryEmail,inactiveFlag"
_EMAILS_PER_LOOKUP = 50
T = TypeVar("T")
PAIR = "changes"
"""The runs' pair: left id = change id, right id = ticket id."""


class ChangeView(BaseModel):
    """A change as stored, with its events and its ticket as ConnectWise shows it now."""

    model_config = ConfigDict(extra="forbid")

    change: ChangeRecord
    ticket: TicketSummary | None
    devices: list[Device] = Field(default_factory=list, description="the devices the change's text mentions")


class ChangeWorkflow:
    """Change management driving ConnectWise tickets; build it with `start` (which validates the setup)."""

    def __init__(
        self,
        *,
        client: ConnectWiseClient,
        store: Store,
        setup: Setup,
        tenant: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client = client
        self.store = store
        self.tenant = tenant
        self.setup = setup
        self.changes = ChangeStore(store, tenant=tenant)
        self.devices = DeviceStore(store, tenant=tenant)
        self.device_sync = _device_sync(client, store, setup, tenant)
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._logs_time = setup.config.time.log_implementation

    @classmethod
    async def start(
        cls, *, client: ConnectWiseClient, store: Store, config: ChangesConfig, tenant: str
    ) -> ChangeWorkflow:
        """Validate `config` against ConnectWise and return a workflow.

        Raises:
            SetupError: an unknown board, status or company (the message lists the valid names).
        """
        setup = await validate_statuses(client, config)
        return cls(client=client, store=store, setup=setup, tenant=tenant)

    # -- search and show -----------------------------------------------------------------------------------------

    async def search_tickets(
        self, company: str, query: str, *, limit: int = 25, include_closed: bool = False
    ) -> list[TicketSummary]:
        """Tickets of a mapped company on its allowed boards, by number or summary (CB-2).

        Raises:
            ChangeRefused: `unknown_company`.
        """
        ref = self._company(company)
        text = query.strip().lstrip("#").strip()
        found: list[Condition] = [F("summary").contains(text)] if text else []
        if text.isdigit():
            found.append(F("id") == int(text))
        parts = [F("company/id") == ref.id, F("board/name").in_(self.setup.allowed_boards(company))]
        parts += [any_of(*found)] if found else []
        parts += [] if include_closed else [F("closedFlag") == False]  # noqa: E712 (builds a condition)
        rows = await self.client.list_page(
            "service/tickets", conditions=all_of(*parts), fields=TICKET_FIELDS, order_by="id desc", page_size=limit
        )
        url = await self._ticket_urls()
        return [_ticket_summary(row, url) for row in rows]

    async def _ticket_urls(self) -> Callable[[int], str | None]:
        """Ticket id → its URL in ConnectWise's web UI (the site and codebase from discovery; None when discovery
        failed: the link is left out, the rest is shown)."""
        try:
            info = await self.client.company_info()
        except CwsyncApiError:
            return lambda _ticket_id: None
        settings = self.client.settings
        site = info.site_url or settings.address.origin

        def url(ticket_id: int) -> str | None:
            return ticket_url(
                scheme=settings.address.scheme,
                site=site,
                codebase=info.codebase,
                company_id=settings.company_id,
                ticket_id=ticket_id,
            )

        return url

    async def show(self, change_id: str) -> ChangeView:
        """A change, its events and its ticket now.

        Raises:
            ChangeRefused: `unknown_change`.
        """
        change = await self._change(change_id)
        change.events = [_event_summary(e) for e in await self.changes.events(change_id)]
        try:
            ticket: TicketSummary | None = _ticket_summary(
                await self._ticket(change.ticket_id), await self._ticket_urls()
            )
        except ChangeRefused:
            ticket = None
        return ChangeView(change=change, ticket=ticket, devices=await self.devices.of_change(change_id))

    # -- link ----------------------------------------------------------------------------------------------------

    async def link(self, request: LinkRequest, *, plan: bool = False, trigger: Trigger = "api") -> EventResult:
        """Create the change record and link it to its ticket (the `created` event); `plan` writes nothing.

        Raises:
            ChangeRefused: unknown company, ticket not found or on another company or board, already linked to
                another ticket, or an event id reused with other content.
        """
        change_id, event_id = request.change_id, request.the_event_id
        async with self._lock(change_id):
            digest = _digest(request)
            stored, existing = await self.changes.lookup(change_id, event_id)
            if stored is not None and stored.status == "applied":
                return _replayed(stored, digest, event_id)
            if existing is not None:
                raise ChangeRefused(
                    "already_linked", f"change {change_id} is already linked to ticket {existing.ticket_id}"
                )
            ref = self._company(request.company)
            ticket, members, found = await _first_failure(  # independent reads: one round trip
                self._ticket(request.ticket_id),
                self._members(people_to_look_up(request, ChangeData())),
                self._mentioned(ref.id, [request.title, request.description]),
            )
            board = self._check_ticket(request.company, ticket)
            record = ChangeRecord(
                change_id=change_id,
                company=request.company,
                cw_company_id=ref.id,
                ticket_id=request.ticket_id,
                board=board,
                state="linked",
            )
            hostnames = [d.hostname for d in found.devices]
            planned = plan_link(request, record, setup=self.setup, ticket=ticket, members=members, devices=hostnames)
            planned.warnings.extend(found.warnings)
            if plan:
                writes = [s.as_write("planned", None) for s in planned.steps]
                return found.on(_result(planned, change_id, record.ticket_id, writes))
            async with self._run(trigger, planned, change_id, record.ticket_id) as run:
                runner, steps = await self._runner(planned, change_id, event_id, run, resuming=stored is not None)
                await self._begin(change_id, event_id, "created", digest, stored, run)
                writes, _ = await self._apply(planned, change_id, event_id, runner, steps)
                runner.drop_deferred()
                result = found.on(_result(planned, change_id, record.ticket_id, writes, applied=True))
                record.data = planned.data
                _applied(run, planned, change_id, record.ticket_id, writes, action="create")
                finished = self.changes.finish_link(
                    record,
                    event_id=event_id,
                    result=result.model_dump(mode="json"),
                    devices=found.devices,
                    within=run.finish_in,
                    journal=runner.journaled,
                )
                await _settled(run, finished)
            log.info("changes.linked", change_id=change_id, ticket_id=record.ticket_id, writes=len(writes))
            return result

    # -- events --------------------------------------------------------------------------------------------------

    async def apply(
        self, change_id: str, event: ChangeEvent, *, plan: bool = False, trigger: Trigger = "api"
    ) -> EventResult:
        """Apply one event of a linked change to its ticket; `plan` returns the writes without making them.

        Raises:
            ChangeRefused: unknown change, out of order, event id reused with other content, a time entry for
                someone who is not a member, or another event of the change applied meanwhile.
        """
        async with self._lock(change_id):
            digest = _digest(event)
            stored, known = await self.changes.lookup(change_id, event.event_id)
            if stored is not None and stored.status == "applied":
                return _replayed(stored, digest, event.event_id)
            change = _known(known, change_id)
            now = self._clock()
            seen = None if plan or stored is not None else self._seen_ticket(event, change, now)
            ticket, members, found = await _first_failure(  # independent reads: one round trip
                _Ready(seen) if seen is not None else self._ticket(change.ticket_id),
                self._members(people_to_look_up(event, change.data, time_entries=self._logs_time)),
                self._mentioned(change.cw_company_id, _texts(event)),
            )
            hostnames = [d.hostname for d in found.devices]
            planned = plan_event(
                event, change, setup=self.setup, ticket=ticket, members=members, now=now, devices=hostnames
            )
            planned.warnings.extend(found.warnings)
            if plan:
                writes = [s.as_write("planned", None) for s in planned.steps]
                return found.on(_result(planned, change_id, change.ticket_id, writes))
            async with self._run(trigger, planned, change_id, change.ticket_id) as run:
                resuming = stored is not None
                runner, steps = await self._runner(planned, change_id, event.event_id, run, resuming=resuming)
                await self._begin(change_id, event.event_id, event.kind, digest, stored, run)
                writes, answer = await self._apply(
                    planned, change_id, event.event_id, runner, steps, ticket_read=seen is None
                )
                if answer is not None and seen is not None and _name(answer.get("board")) not in ("", change.board):
                    writes += await self._moved(event, change, planned, answer, members, now, runner)
                runner.drop_deferred()
                ticket = answer or ticket
                result = found.on(_result(planned, change_id, change.ticket_id, writes, applied=True))
                after = change.model_copy(update={"state": planned.state_after, "data": planned.data})
                after.board = _name(ticket.get("board")) or change.board
                _applied(run, planned, change_id, change.ticket_id, writes, action="update")
                finished = self.changes.finish_event(
                    after,
                    expected_version=change.version,
                    event_id=event.event_id,
                    result=result.model_dump(mode="json"),
                    devices=found.devices,
                    within=run.finish_in,
                    journal=runner.journaled,
                )
                await _settled(run, finished)
            log.info("changes.event_applied", change_id=change_id, kind=event.kind, writes=len(writes))
            return result

    # -- applying ------------------------------------------------------------------------------------------------

    @asynccontextmanager
    async def _run(self, trigger: Trigger, planned: Plan, change_id: str, ticket_id: int) -> AsyncIterator[WorkflowRun]:
        """The run of one delivery that writes: a refusal or a failure mid-way is its item, and is raised."""
        async with workflow_run(
            self.store, tenant=self.tenant, pair=PAIR, trigger=trigger, refusals=(ChangeRefused,)
        ) as run:
            what = f"{planned.kind} event {planned.event_id}"
            try:
                yield run
            except ChangeRefused as refused:
                reason = f"{what} refused: {refused.code}: {refused.reason}"
                run.item(action="skip", status="failed", left_id=change_id, right_id=str(ticket_id), reason=reason)
                raise
            except CwsyncApiError as exc:
                reason = f"{what} stopped ({exc.message}): delivering it again resumes it"
                run.item(action="fail", status="failed", left_id=change_id, right_id=str(ticket_id), reason=reason)
                raise

    async def _runner(
        self, planned: Plan, change_id: str, event_id: str, run: WorkflowRun, *, resuming: bool
    ) -> tuple[StepRunner, list[RunnerStep]]:
        """The step runner of an event (its journal read when resuming: each create not journaled done is looked up
        before it is sent again) and the plan's writes as its steps; the runner writes through the run's
        transactions, and journals no intents: the event's row, committed before any write, marks the attempt."""
        scope, client, steps = journal_scope(change_id), self.client, [self._step(step) for step in planned.steps]
        if resuming:
            runner = await StepRunner.load(
                client,
                self.store,
                tenant=self.tenant,
                scope=scope,
                key=event_id,
                attempted=True,
                write=run.write,
                intents=False,
            )
        else:
            runner = StepRunner(
                client, self.store, tenant=self.tenant, scope=scope, key=event_id, write=run.write, intents=False
            )
        return runner, steps

    async def _begin(
        self,
        change_id: str,
        event_id: str,
        kind: str,
        digest: str,
        stored: StoredEvent | None,
        run: WorkflowRun,
    ) -> None:
        """Mark the event applying, or pick up an interrupted attempt (its journal says what was done).

        One transaction: the event's row and its run started. Committed before any write is sent, the row is the
        attempt's mark: a later delivery finds it, and looks up every create the journal does not say is done
        before sending it again.
        """
        if stored is not None:
            if stored.payload_hash != digest:
                raise _reused(event_id)
            log.info("changes.event_resumed", change_id=change_id, event_id=event_id, error=stored.error)
            return
        began = self.changes.begin_event(change_id, event_id, kind=kind, payload_hash=digest, within=run.start_in)
        if not await _settled(run, began):
            raise ChangeRefused("busy", f"event {event_id} is being applied by another delivery; send it again later")

    async def _apply(
        self,
        planned: Plan,
        change_id: str,
        event_id: str,
        runner: StepRunner,
        steps: Sequence[RunnerStep],
        *,
        ticket_read: bool = True,
    ) -> tuple[list[Write], dict[str, Any] | None]:
        """Apply the plan's steps through the step runner (the event's row, committed by `_begin`, marks them
        attempted); the writes, and the ticket as the status PATCH answered it (None: no status written). The done
        entries stay deferred (the caller drops them once nothing more is written: the outcome clears the journal).

        Raises:
            ChangeRefused: `ticket_not_found`, when the ticket was not read first (`ticket_read`) and its status
                PATCH finds no ticket (a delivery again reads it, and is refused before writing).
        """
        try:
            # The done entries go with the outcome: `finish_event`/`finish_link` clear the journal anyway.
            results = await runner.run_lanes(steps, _lanes(planned), defer_done=True)
        except CwsyncApiError as exc:
            await self.changes.fail_event(change_id, event_id, f"{runner.failed_step}: {exc}")
            status = next((s for s in planned.steps if s.what == "status"), None)
            if not ticket_read and isinstance(exc, NotFoundError) and status and runner.failed_step == status.key:
                raise ChangeRefused("ticket_not_found", f"ConnectWise has no ticket {status.record_id}") from exc
            raise
        writes: list[Write] = []
        answer: dict[str, Any] | None = None
        for step, done in zip(planned.steps, results, strict=True):
            writes.append(step.as_write("written" if done.outcome == "written" else "already_done", done.record_id))
            _remember(planned, step, writes[-1].record_id)
            if step.what == "status" and done.answer is not None:
                answer = done.answer
        return writes, answer

    def _seen_ticket(self, event: ChangeEvent, change: ChangeRecord, now: datetime) -> dict[str, Any] | None:
        """The ticket as cwsync left it (`ticket_as_left`), when a first delivery can be planned on it instead of
        reading the ticket: when it writes the status, whose PATCH answers with the ticket as it is then (`_moved`
        handles a ticket moved to another board meanwhile). A status cwsync left at the event's target and an event
        that writes no status read the ticket first, as do a resumed delivery (a write found already there is not
        sent) and plan mode (a preview shows the ticket as it is: there is no answer to correct it)."""
        seen = ticket_as_left(change, self.setup)
        return seen if patches_status(event, change, setup=self.setup, ticket=seen, now=now) else None

    async def _moved(
        self,
        event: ChangeEvent,
        change: ChangeRecord,
        planned: Plan,
        ticket: dict[str, Any],
        members: dict[str, Member | None],
        now: datetime,
        runner: StepRunner,
    ) -> list[Write]:
        """The ticket was on another board than cwsync left it on when its status was written (moved meanwhile): the
        status the event sets on the board it is on now, written (journaled under its own key), or a warning when
        that board maps none for the event (out of scope, or unmapped)."""
        replanned = plan_event(event, change, setup=self.setup, ticket=ticket, members=members, now=now)
        fixes = [replace(s, key=f"{s.key}:board") for s in replanned.steps if s.what == "status"]
        was, now_on = change.board, _name(ticket.get("board"))
        moved = f"ticket {change.ticket_id} was moved from board {was!r} to {now_on!r}"
        if not fixes:
            keys = {s.key for s in planned.steps}
            lifecycle = next((e for e in LIFECYCLE_EVENTS if f"status:{e}" in keys), None)
            mapped = lifecycle is not None and self.setup.status_for(now_on, lifecycle) is not None
            planned.warnings.append(
                moved if mapped else f"{moved}: its status was set by {was!r}'s mapping, and {now_on!r} maps none"
            )
            planned.warnings.extend(w for w in replanned.warnings if w not in planned.warnings)
            return []
        try:
            results = await runner.run_all([self._step(s) for s in fixes], defer_done=True)
        except CwsyncApiError as exc:  # what finished before is journaled (`run_all` writes the deferred entries)
            await self.changes.fail_event(change.change_id, event.event_id, f"{runner.failed_step}: {exc}")
            raise
        planned.warnings.append(moved)
        ticket.update(results[-1].answer or {})
        return [s.as_write("written", r.record_id) for s, r in zip(fixes, results, strict=True)]

    def _step(self, step: Step) -> RunnerStep:
        """A planned write as a step of the runner: a PATCH is an update, a POST a create found by its `match`."""
        if step.method == "PATCH":
            assert step.record_id is not None
            # A status's body depends on the ticket's board as read: journaled done only for the same body.
            digest = _digest_of(step.body) if step.what == "status" else None
            return RunnerStep(step.key, "update", step.path, step.body, record_id=step.record_id, digest=digest)
        match, client = step.match, self.client

        async def find() -> int | None:
            if match is None:
                return None
            rows = await client.list_page(step.path, conditions=match, fields="id", order_by="id", page_size=1)
            return _id(rows[0]) if rows else None

        return RunnerStep(step.key, "create", step.path, step.body, find=find, match=match)

    # -- reads ---------------------------------------------------------------------------------------------------

    async def _change(self, change_id: str) -> ChangeRecord:
        return _known(await self.changes.get(change_id), change_id)

    async def _ticket(self, ticket_id: int) -> dict[str, Any]:
        try:
            return await self.client.get("service/tickets", ticket_id, fields=TICKET_FIELDS)
        except NotFoundError as exc:
            raise ChangeRefused("ticket_not_found", f"ConnectWise has no ticket {ticket_id}") from exc

    def _company(self, company: str) -> Any:
        ref = self.setup.companies.get(company)
        if ref is None:
            known = ", ".join(sorted(self.setup.companies)) or "(none)"
            raise ChangeRefused("unknown_company", f"company {company!r} is not mapped (mapped: {known})")
        return ref

    def _check_ticket(self, company: str, ticket: dict[str, Any]) -> str:
        ref, board = self._company(company), _name(ticket.get("board"))
        ticket_company = ticket.get("company") or {}
        if ticket_company.get("id") != ref.id:
            raise ChangeRefused(
                "company_mismatch",
                f"ticket {ticket.get('id')} belongs to {_name(ticket_company) or 'another company'}, "
                f"not to {ref.name} ({ref.identifier}), the company {company!r} maps to",
            )
        allowed = self.setup.allowed_boards(company)
        if board not in allowed:
            raise ChangeRefused(
                "board_not_allowed",
                f"ticket {ticket.get('id')} is on board {board!r}; changes of {company!r} may only link tickets "
                f"on {', '.join(repr(b) for b in allowed)}",
            )
        return board

    def _members(self, emails: Sequence[str]) -> Awaitable[dict[str, Member | None]]:
        """The active members with these e-mails (None for the others); nothing to read without e-mails."""
        return self._look_up_members(emails) if emails else _Ready({})

    async def _look_up_members(self, emails: Sequence[str]) -> dict[str, Member | None]:
        found: dict[str, Member | None] = dict.fromkeys(emails)
        for start in range(0, len(emails), _EMAILS_PER_LOOKUP):
            chunk = list(emails[start : start + _EMAILS_PER_LOOKUP])
            rows = await self.client.list_page(
                "system/members", conditions=F("primaryEmail").in_(chunk), fields=MEMBER_FIELDS, page_size=1000
            )
            for row in (r for r in rows if not r.get("inactiveFlag")):
                email = str(row.get("primaryEmail") or "").lower()
                if email in found and found[email] is None:
                    name = f"{row.get('firstName') or ''} {row.get('lastName') or ''}".strip()
                    found[email] = Member(int(row["id"]), str(row.get("identifier", "")), name or email)
        return found

    def _mentioned(self, company_id: int, texts: Sequence[str | None]) -> Awaitable[_Mentions]:
        """The devices of the change's company that `@hostname`s in the texts name; the others as warnings (nothing
        to read when the texts name none, or devices are not synced)."""
        names = mentions(*texts) if self.device_sync is not None else []
        return self._look_up_mentioned(company_id, names) if names else _Ready(_Mentions())

    async def _look_up_mentioned(self, company_id: int, names: list[str]) -> _Mentions:
        known = await self.devices.by_hostnames(names)
        found = _Mentions()
        for name in names:
            same = [d for d in known if d.hostname == name]
            own = [d for d in same if d.company_id == company_id]
            if own:
                found.devices.extend(own)
                continue
            found.unknown.append(name)
            elsewhere = sorted({d.company or str(d.company_id) for d in same})
            found.warnings.append(
                f"@{name}: a device of {', '.join(elsewhere)}, not of this change's company (not linked)"
                if elsewhere
                else f"@{name}: no device with this hostname (not linked; is it synced? `cwsync changes devices sync`)"
            )
        return found

    def _lock(self, change_id: str) -> asyncio.Lock:
        return self._locks.setdefault(change_id, asyncio.Lock())


@dataclass
class _Mentions:
    """The devices an event's text mentions, the @names that match none, and why."""

    devices: list[Device] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def on(self, result: EventResult) -> EventResult:
        """The result listing these devices and unknown names."""
        hostnames = list(dict.fromkeys(d.hostname for d in self.devices))
        return result.model_copy(update={"devices": hostnames, "unknown_devices": self.unknown})


A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")


class _Ready(Generic[T]):
    """A read with nothing to read: its answer, awaited in place (`_first_failure` gives it no task of its own)."""

    def __init__(self, value: T) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, T]:
        return self.value
        yield  # (a generator: awaitable)


async def _first_failure(first: Awaitable[A], second: Awaitable[B], third: Awaitable[C]) -> tuple[A, B, C]:
    """Await three independent reads at once; the first one's failure in the order given (a refusal about the
    ticket comes before a failed member look-up, whichever ended first), once all have ended. Reads with nothing
    to read (`_Ready`) are answered in place, and a lone read is awaited without a task (most events read only
    their ticket)."""
    reads: list[Awaitable[Any]] = [first, second, third]
    outcomes: list[Any] = [r.value if isinstance(r, _Ready) else None for r in reads]
    pending = [n for n, r in enumerate(reads) if not isinstance(r, _Ready)]
    if len(pending) == 1:
        outcomes[pending[0]] = await reads[pending[0]]
    elif pending:
        answers = await asyncio.gather(*(reads[n] for n in pending), return_exceptions=True)
        for n, answer in zip(pending, answers, strict=True):
            outcomes[n] = answer
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
    return cast(tuple[A, B, C], tuple(outcomes))


async def _settled(run: WorkflowRun, write: Awaitable[T]) -> T:
    """Await a store call that starts or finishes the run inside its transaction, then settle the run with it."""
    try:
        outcome = await write
    except BaseException:
        run.settle(committed=False)
        raise
    run.settle(committed=outcome is not False)  # `begin_event` answers False when it wrote nothing
    return outcome


def _known(change: ChangeRecord | None, change_id: str) -> ChangeRecord:
    """The change, or the refusal of an event for a change that was never linked."""
    if change is None:
        raise ChangeRefused("unknown_change", f"change {change_id} is not linked to a ticket (link it first)")
    return change


def _lanes(planned: Plan) -> Callable[[RunnerStep], str]:
    """Which writes of a plan run beside each other (each lane in the plan's order; none reads another's answer).

    The ticket's status PATCH and the time entries run beside the rest: nothing else depends on them. The schedule
    entries (new resources, and existing ones moved to the window) run beside the notes unless a note follows its
    resource's entry (`note_per_resource`: "Resource added" only once the entry is made, among the ticket's notes
    in order); the notes keep the plan's order, as the ticket shows them.
    """
    notes_follow_entries = any(step.key.startswith("resource-note:") for step in planned.steps)
    lanes: dict[str, str] = {}
    for step in planned.steps:
        if step.what in ("status", "time_entry"):
            lanes[step.key] = step.what
        elif step.what in ("resource", "schedule_entry") and not notes_follow_entries:
            lanes[step.key] = "entries"
        else:
            lanes[step.key] = "ticket"
    return lambda step: lanes[step.key]


def _texts(event: ChangeEvent) -> list[str | None]:
    """The text of an event that may mention devices (the implementation plan)."""
    return [event.plan] if isinstance(event, ScheduledEvent) else []


def _device_sync(client: ConnectWiseClient, store: Store, setup: Setup, tenant: str) -> DeviceSync | None:
    """The device sync of this setup (None without `devices:`); `companies: mapped` scopes it to mapped companies."""
    config = setup.config.devices
    if config is None or not config.enabled:
        return None
    scope = [ref.id for ref in setup.companies.values()] if config.companies == "mapped" else None
    return DeviceSync(client=client, store=store, config=config, tenant=tenant, company_ids=scope)


# -- helpers ----------------------------------------------------------------------------------------------------


def _digest(value: BaseModel) -> str:
    text = json.dumps(value.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _digest_of(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _reused(event_id: str) -> ChangeRefused:
    return ChangeRefused(
        "event_id_reused", f"event {event_id} was already received with other content: give a new event id"
    )


def _replayed(stored: StoredEvent, digest: str, event_id: str) -> EventResult:
    if stored.payload_hash != digest:
        raise _reused(event_id)
    return EventResult.model_validate(stored.result).model_copy(update={"replayed": True})


def _result(
    planned: Plan, change_id: str, ticket_id: int, writes: list[Write], *, applied: bool = False
) -> EventResult:
    return EventResult(
        change_id=change_id,
        event_id=planned.event_id,
        kind=planned.kind,
        ticket_id=ticket_id,
        state_before=planned.state_before,
        state_after=planned.state_after,
        applied=applied,
        writes=writes,
        unmatched=planned.unmatched,
        warnings=planned.warnings,
    )


def _applied(
    run: WorkflowRun, planned: Plan, change_id: str, ticket_id: int, writes: list[Write], *, action: Action
) -> None:
    written = sum(1 for w in writes if w.outcome == "written")
    reason = f"{planned.kind} event {planned.event_id}: {written} write(s) on ticket {ticket_id}"
    if written < len(writes):
        reason += f", {len(writes) - written} already done"
    source = {"event_id": planned.event_id, "kind": planned.kind, "state_after": planned.state_after}
    run.item(
        action=action, status="applied", left_id=change_id, right_id=str(ticket_id), reason=reason, source_values=source
    )


def _remember(planned: Plan, step: Step, record_id: int | None) -> None:
    if step.remember is None or record_id is None:
        return
    data = planned.data
    if step.remember == "plan_note":
        data.plan_note_id = record_id
    elif step.remember == "time_entry" and record_id not in data.time_entry_ids:
        data.time_entry_ids.append(record_id)
    elif step.remember.startswith("resource:"):
        resource = data.resources.get(step.remember.removeprefix("resource:"))
        if resource is not None:
            resource.entry_id = record_id


def _id(record: dict[str, Any]) -> int | None:
    value = record.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _name(ref: Any) -> str:
    return str(ref.get("name", "")) if isinstance(ref, dict) else ""


def _ticket_summary(row: dict[str, Any], url: Callable[[int], str | None] | None = None) -> TicketSummary:
    return TicketSummary(
        url=url(int(row["id"])) if url is not None else None,
        id=int(row["id"]),
        summary=str(row.get("summary", "")),
        board=_name(row.get("board")) or None,
        status=_name(row.get("status")) or None,
        company=_name(row.get("company")) or None,
        closed=bool(row.get("closedFlag")),
    )


def _event_summary(event: StoredEvent) -> dict[str, Any]:
    result = event.result if isinstance(event.result, dict) else {}
    return {
        "event_id": event.event_id,
        "kind": event.kind,
        "status": event.status,
        "received_at": event.created_at.isoformat(),
        "applied_at": event.finished_at.isoformat() if event.finished_at else None,
        "writes": len(result.get("writes", [])),
        "error": event.error,
    }
