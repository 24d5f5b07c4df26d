"""An event interrupted half-way resumes when delivered again: finished writes are not repeated."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from cwsync.config.changes import ChangesConfig
from cwsync.connectors.connectwise import ConnectWiseClient, ValidationError
from cwsync.connectors.http import RetryPolicy
from cwsync.workflows.changes.setup import Setup, validate_statuses
from cwsync.workflows.changes.workflow import ChangeWorkflow
from tests.changes.conftest import World, changes_config
from tests.changes.test_lifecycle import event, link_request


class RefuseNthNote(httpx.AsyncBaseTransport):
    """Loopback HTTP, except that the n-th POST of a ticket note answers 400 (a record error: not retried)."""

    def __init__(self, n: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.n = n
        self.notes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/notes"):
            self.notes += 1
            if self.notes == self.n:
                body = {"code": "InvalidObject", "message": "note object is invalid", "errors": None}
                return httpx.Response(400, json=body, request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_an_interrupted_link_resumes_without_repeating_writes(world: World) -> None:
    """The second note fails: earlier writes stay; re-delivery adds only what is missing, once."""
    tid = world.tickets["help_desk"]
    flaky = httpx.AsyncClient(transport=RefuseNthNote(2))
    async with ConnectWiseClient(world.cw.settings, http=flaky) as cw:
        workflow = ChangeWorkflow(client=cw, store=world.store, setup=world.workflow.setup, tenant="default")
        with pytest.raises(ValidationError):
            await workflow.link(link_request(world))
    await flaky.aclose()
    stopped = await world.workflow.changes.event("CHG-1", "CHG-1:created")
    assert stopped is not None
    assert stopped.status == "applying"
    done = {"status:created", "note", "resource:alice@msp.example"}  # the 4th write (alice's note) failed
    assert set(await world.workflow.changes.done_steps("CHG-1", "CHG-1:created")) == done
    assert stopped.error is not None
    assert await world.workflow.changes.get("CHG-1") is None
    notes_before = len(await world.notes(tid))

    resumed = await world.workflow.link(link_request(world))
    outcomes = {w.key: w.outcome for w in resumed.writes}
    assert "status:created" not in outcomes  # the ticket has the status already: nothing to write
    assert {k for k, o in outcomes.items() if o == "already_done"} == done - {"status:created"}
    assert {o for k, o in outcomes.items() if k not in done} == {"written"}
    notes = await world.notes(tid)
    linked_notes = [n for n in notes if n["text"].startswith("Change CHG-1 linked")]
    assert len(linked_notes) == 1
    assert len(notes) == notes_before + len([w for w in resumed.writes if w.outcome == "written" and w.what == "note"])
    assert len(await world.entries(tid)) == 2
    change = await world.workflow.changes.get("CHG-1")
    assert change is not None
    assert change.state == "linked"


class Gate(httpx.AsyncBaseTransport):
    """Loopback HTTP; the ticket's status PATCH waits until a note POST of the ticket has arrived (at most 10 s,
    then answers 503), or, with `refuse_status`, answers 400 once that note has been answered."""

    def __init__(self, ticket_id: int, *, refuse_status: bool = False) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.ticket_id, self.refuse_status = ticket_id, refuse_status
        self.note_seen, self.note_answered = asyncio.Event(), asyncio.Event()
        self.members_gets = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path.endswith("/system/members"):
            self.members_gets += 1
        if request.method == "POST" and path.endswith(f"/service/tickets/{self.ticket_id}/notes"):
            self.note_seen.set()
            answer = await self.inner.handle_async_request(request)
            self.note_answered.set()
            return answer
        if request.method == "PATCH" and path.endswith(f"/service/tickets/{self.ticket_id}"):
            waited = self.note_answered if self.refuse_status else self.note_seen
            try:
                await asyncio.wait_for(waited.wait(), timeout=10)
            except TimeoutError:
                return httpx.Response(503, json={"message": "the note never came"}, request=request)
            if self.refuse_status:
                body = {"code": "InvalidObject", "message": "status is not allowed", "errors": None}
                return httpx.Response(400, json=body, request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _gated(world: World, gate: Gate) -> tuple[ChangeWorkflow, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=gate)
    cw = ConnectWiseClient(world.cw.settings, http=http, retry=RetryPolicy(attempts=1))
    return ChangeWorkflow(client=cw, store=world.store, setup=world.workflow.setup, tenant="default"), http


async def test_an_events_status_and_note_are_sent_at_once(world: World) -> None:
    """The status PATCH is answered only once the note POST has arrived: sent one after the other, it would not."""
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    workflow, http = await _gated(world, Gate(tid))
    try:
        applied = await workflow.apply("CHG-1", event(kind="fully_approved", event_id="e1"))
    finally:
        await http.aclose()
    assert [(w.what, w.outcome) for w in applied.writes] == [("status", "written"), ("note", "written")]
    assert await world.status(tid) == "Waiting on Client"


async def test_a_refused_status_keeps_the_note_sent_beside_it_and_redelivery_writes_only_the_status(
    world: World,
) -> None:
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    notes_before = len(await world.notes(tid))
    workflow, http = await _gated(world, Gate(tid, refuse_status=True))
    try:
        with pytest.raises(ValidationError):
            await workflow.apply("CHG-1", event(kind="fully_approved", event_id="e1"))
    finally:
        await http.aclose()
    assert set(await world.workflow.changes.done_steps("CHG-1", "e1")) == {"note"}  # journaled as it completed
    stopped = await world.workflow.changes.event("CHG-1", "e1")
    assert stopped is not None
    assert stopped.status == "applying"
    assert stopped.error is not None
    assert stopped.error.startswith("status:fully_approved")

    resumed = await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="e1"))
    assert {w.what: w.outcome for w in resumed.writes} == {"status": "written", "note": "already_done"}
    assert len(await world.notes(tid)) == notes_before + 1
    assert await world.status(tid) == "Waiting on Client"


async def test_a_completed_change_looks_its_implementer_up_only_to_log_time(world: World) -> None:
    no_time = ChangesConfig.model_validate(changes_config(time={"log_implementation": False}))
    setups = {"logs time": world.workflow.setup, "no time": await validate_statuses(world.cw, no_time)}
    lookups: dict[str, int] = {}
    for n, (name, setup) in enumerate(setups.items()):
        change = f"CHG-{n + 1}"
        await world.workflow.link(link_request(world, change_id=change))
        for kind, extra in (
            ("fully_approved", {}),
            ("scheduled", {"start": "2026-03-01T22:00:00Z", "end": "2026-03-02T00:00:00Z", "plan": "Upgrade"}),
            ("implementation_started", {"implementer": {"email": "dan@msp.example"}, "at": "2026-03-01T22:05:00Z"}),
        ):
            await world.workflow.apply(change, event(kind=kind, event_id=f"{change}:{kind}", **extra))
        gate = Gate(world.tickets["help_desk"])
        http = httpx.AsyncClient(transport=gate)
        cw = ConnectWiseClient(world.cw.settings, http=http)
        workflow = ChangeWorkflow(client=cw, store=world.store, setup=setup, tenant="default")
        try:
            completed = event(kind="completed", event_id=f"{change}:c", results="ok", at="2026-03-01T23:00:00Z")
            done = await workflow.apply(change, completed)
        finally:
            await http.aclose()
        lookups[name] = gate.members_gets
        assert ("time_entry" in [w.what for w in done.writes]) is (name == "logs time")
    assert lookups == {"logs time": 1, "no time": 0}


class HoldUntil(httpx.AsyncBaseTransport):
    """Loopback HTTP; the first request `held` accepts is answered only once a request `awaited` accepts has
    arrived (at most 10 s, then 503): sent one after the other, the two would never both succeed."""

    def __init__(self, held: Callable[[httpx.Request], bool], awaited: Callable[[httpx.Request], bool]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.held, self.awaited = held, awaited
        self.arrived = asyncio.Event()
        self.holding = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.awaited(request):
            self.arrived.set()
        elif self.held(request) and not self.holding:
            self.holding = True
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout=10)
            except TimeoutError:
                return httpx.Response(503, json={"message": "what it waited for never came"}, request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def posted(path_end: str) -> Callable[[httpx.Request], bool]:
    """A POST to a path ending in `path_end`."""
    return lambda request: request.method == "POST" and request.url.path.endswith(path_end)


async def _held(world: World, transport: HoldUntil, setup: Setup | None = None) -> ChangeWorkflow:
    cw = ConnectWiseClient(
        world.cw.settings, http=httpx.AsyncClient(transport=transport), retry=RetryPolicy(attempts=1)
    )
    return ChangeWorkflow(client=cw, store=world.store, setup=setup or world.workflow.setup, tenant="default")


async def test_a_completed_changes_time_entry_is_sent_beside_its_note(world: World) -> None:
    """The implementation's time entry is answered only once the completion note has arrived."""
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    for kind, extra in (
        ("fully_approved", {}),
        ("scheduled", {"start": "2026-03-01T22:00:00Z", "end": "2026-03-02T00:00:00Z", "plan": "Upgrade"}),
        ("implementation_started", {"implementer": {"email": "dan@msp.example"}, "at": "2026-03-01T22:05:00Z"}),
    ):
        await world.workflow.apply("CHG-1", event(kind=kind, event_id=kind, **extra))
    transport = HoldUntil(held=posted("/time/entries"), awaited=posted(f"/service/tickets/{tid}/notes"))
    workflow = await _held(world, transport)
    try:
        completed = event(kind="completed", event_id="c", results="ok", at="2026-03-01T23:00:00Z")
        done = await workflow.apply("CHG-1", completed)
    finally:
        await transport.aclose()
    assert {w.what: w.outcome for w in done.writes} == {"status": "written", "note": "written", "time_entry": "written"}
    assert len(await world.time_entries(tid)) == 1


async def test_schedule_entries_go_beside_the_notes_without_a_note_per_resource(world: World) -> None:
    """Without a note per resource, a new engineer's schedule entry is answered only once the plan's note has
    arrived (with one, the default, the entry comes first and its note after it: the interrupted link above)."""
    tid = world.tickets["help_desk"]
    plain = ChangesConfig.model_validate(changes_config(notes={"note_per_resource": False}))
    setup = await validate_statuses(world.cw, plain)
    await world.workflow.link(link_request(world, creator=None, technical_approver=None, operational_approver=None))
    await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="a"))
    scheduled = event(
        kind="scheduled",
        event_id="s",
        start="2026-03-01T22:00:00Z",
        end="2026-03-02T00:00:00Z",
        plan="Upgrade",
        engineers=[{"email": "dan@msp.example"}],
    )
    transport = HoldUntil(held=posted("/schedule/entries"), awaited=posted(f"/service/tickets/{tid}/notes"))
    workflow = await _held(world, transport, setup)
    try:
        done = await workflow.apply("CHG-1", scheduled)
    finally:
        await transport.aclose()
    assert [(w.what, w.outcome) for w in done.writes if w.what != "status"] == [
        ("resource", "written"),
        ("description", "written"),
    ]
    assert len(await world.entries(tid)) == 1
