"""An event that writes the ticket's status plans on the ticket as cwsync left it (its board, the status the change's
state maps there) instead of reading it first: the status PATCH answers with the ticket as it is then (issue 19)."""

from __future__ import annotations

import httpx
import pytest

from cwsync.connectors.connectwise import ConnectWiseClient, ValidationError
from cwsync.workflows.changes.errors import ChangeRefused
from cwsync.workflows.changes.workflow import ChangeWorkflow
from tests.changes.conftest import World
from tests.changes.test_lifecycle import event, link_request


class Requests(httpx.AsyncBaseTransport):
    """Loopback HTTP that keeps every request's method and path."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    def ticket_reads(self, ticket_id: int) -> int:
        return sum(1 for m, p in self.sent if m == "GET" and p.endswith(f"/service/tickets/{ticket_id}"))

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _counted(world: World) -> tuple[ChangeWorkflow, Requests, httpx.AsyncClient]:
    transport = Requests()
    http = httpx.AsyncClient(transport=transport)
    cw = ConnectWiseClient(world.cw.settings, http=http)
    return ChangeWorkflow(client=cw, store=world.store, setup=world.workflow.setup, tenant="default"), transport, http


async def test_an_event_writes_its_status_without_reading_the_ticket(world: World) -> None:
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    workflow, sent, http = await _counted(world)
    try:
        applied = await workflow.apply("CHG-1", event(kind="fully_approved", event_id="a"))
    finally:
        await http.aclose()
    assert sent.ticket_reads(tid) == 0
    assert [(w.what, w.outcome) for w in applied.writes] == [("status", "written"), ("note", "written")]
    assert await world.status(tid) == "Waiting on Client"


async def test_a_status_cwsync_left_at_the_events_target_is_read_first(world: World) -> None:
    """Projects maps fully_approved and scheduled to Planning: scheduling reads the ticket, and writes its status
    only when someone moved it off Planning meanwhile."""
    tid = world.tickets["projects"]
    await world.workflow.link(link_request(world, ticket_id=tid, change_id="CHG-P"))
    await world.workflow.apply("CHG-P", event(kind="fully_approved", event_id="a"))
    window = {"start": "2026-03-01T22:00:00Z", "end": "2026-03-02T00:00:00Z", "plan": "Upgrade"}
    workflow, sent, http = await _counted(world)
    try:
        scheduled = await workflow.apply("CHG-P", event(kind="scheduled", event_id="s", **window))
        assert sent.ticket_reads(tid) == 1
        assert "status" not in [w.what for w in scheduled.writes]

        await world.workflow.link(link_request(world, ticket_id=tid, change_id="CHG-Q", title="Second"))
        await world.workflow.apply("CHG-Q", event(kind="fully_approved", event_id="qa"))
        new = world.statuses["Projects"]["New"]
        await world.cw.patch("service/tickets", tid, [{"op": "replace", "path": "status", "value": {"id": new}}])
        again = await workflow.apply("CHG-Q", event(kind="scheduled", event_id="qs", **window))
    finally:
        await http.aclose()
    assert sent.ticket_reads(tid) == 2
    assert ("status", "written") in [(w.what, w.outcome) for w in again.writes]
    assert await world.status(tid) == "Planning"


async def test_a_ticket_moved_to_another_board_gets_that_boards_status(world: World) -> None:
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    projects = world.statuses["Projects"]
    move = [
        {"op": "replace", "path": "board", "value": {"id": projects["_board"]}},
        {"op": "replace", "path": "status", "value": {"id": projects["New"]}},
    ]
    await world.cw.patch("service/tickets", tid, move)
    applied = await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="a"))
    ticket = await world.ticket(tid)
    assert (ticket["board"]["name"], ticket["status"]["id"]) == ("Projects", projects["Planning"])
    assert [w.key for w in applied.writes if w.what == "status"] == [
        "status:fully_approved",
        "status:fully_approved:board",
    ]
    assert any("moved from board 'Help Desk' to 'Projects'" in w for w in applied.warnings)
    change = await world.workflow.changes.get("CHG-1")
    assert change is not None
    assert change.board == "Projects"


async def test_a_ticket_moved_off_the_boards_in_scope_is_reported(world: World) -> None:
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    alerts = world.statuses["Alerts"]
    move = [{"op": "replace", "path": "board", "value": {"id": alerts["_board"]}}]
    await world.cw.patch("service/tickets", tid, move)
    applied = await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="a"))
    assert any("moved from board 'Help Desk' to 'Alerts'" in w for w in applied.warnings)
    change = await world.workflow.changes.get("CHG-1")
    assert change is not None
    assert change.board == "Alerts"


async def test_an_event_on_a_deleted_ticket_is_refused(world: World) -> None:
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    await world.cw.delete("service/tickets", tid)
    for _ in range(2):  # the second delivery reads the ticket first
        with pytest.raises(ChangeRefused) as refused:
            await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="a"))
        assert refused.value.code == "ticket_not_found"


class RefuseNthTicketPatch(httpx.AsyncBaseTransport):
    """Loopback HTTP, except that the n-th PATCH of a ticket answers 400 (a record error: not retried)."""

    def __init__(self, n: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.n, self.patches = n, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH" and "/service/tickets/" in request.url.path:
            self.patches += 1
            if self.patches == self.n:
                body = {"code": "InvalidObject", "message": "status is not allowed", "errors": None}
                return httpx.Response(400, json=body, request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_a_failed_status_for_the_new_board_resumes_without_repeating_the_note(world: World) -> None:
    """The moved ticket's second status write fails: what finished is journaled, and the next delivery (reading
    the ticket) sets the new board's status and leaves the note alone."""
    tid = world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    projects = world.statuses["Projects"]
    move = [
        {"op": "replace", "path": "board", "value": {"id": projects["_board"]}},
        {"op": "replace", "path": "status", "value": {"id": projects["New"]}},
    ]
    await world.cw.patch("service/tickets", tid, move)
    notes_before = len(await world.notes(tid))
    http = httpx.AsyncClient(transport=RefuseNthTicketPatch(2))
    async with ConnectWiseClient(world.cw.settings, http=http) as cw:
        workflow = ChangeWorkflow(client=cw, store=world.store, setup=world.workflow.setup, tenant="default")
        with pytest.raises(ValidationError):
            await workflow.apply("CHG-1", event(kind="fully_approved", event_id="a"))
    await http.aclose()
    assert set(await world.workflow.changes.done_steps("CHG-1", "a")) == {"status:fully_approved", "note"}
    stopped = await world.workflow.changes.event("CHG-1", "a")
    assert stopped is not None
    assert stopped.error is not None
    assert stopped.error.startswith("status:fully_approved:board")

    resumed = await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="a"))
    assert {w.what: w.outcome for w in resumed.writes} == {"status": "written", "note": "already_done"}
    assert len(await world.notes(tid)) == notes_before + 1
    assert (await world.ticket(tid))["status"]["id"] == projects["Planning"]
