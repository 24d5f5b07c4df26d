"""An event interrupted half-way resumes when delivered again: finished writes are not repeated."""

from __future__ import annotations

import httpx
import pytest

from cwsync.changes.workflow import ChangeWorkflow
from cwsync.connectors.connectwise import ConnectWiseClient, ValidationError
from tests.changes.conftest import World
from tests.changes.test_lifecycle import link_request


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
