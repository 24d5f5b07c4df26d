"""ChangeBreeze's ticket widget (CB): the linked ticket's ConnectWise URL (to open in a new tab), status and summary
in `cwsync changes show` and `GET /api/changes/{id}`; approvers and implementers named in notes by name, not e-mail.
On the ConnectWise sandbox served over loopback."""

from __future__ import annotations

from typing import Any

from cwsync.workflows.changes.core import ticket_url
from tests.changes.conftest import OUTSIDER, World
from tests.changes.test_api import Api, api
from tests.changes.test_lifecycle import event, internal, link_request

__all__ = ["api"]  # the fixture, used here


def test_the_ticket_url_is_connectwise_own_link_to_a_service_ticket() -> None:
    """`{site}/{codebase}ConnectWise.aspx?...routeTo=ServiceFV&recid=ID&companyName=...`, whatever the site spelling."""
    url = ticket_url(scheme="https", site="na.myconnectwise.net", codebase="v2025_1/", company_id="acme", ticket_id=42)
    assert url == (
        "https://na.myconnectwise.net/v2025_1/ConnectWise.aspx?locale=en_US&routeTo=ServiceFV&recid=42&companyName=acme"
    )
    same = ticket_url(scheme="https", site="https://na.myconnectwise.net/", codebase="/v2025_1", company_id="acme",
                      ticket_id=42)  # fmt: skip
    assert same == url


async def test_show_gives_the_tickets_url_status_and_summary(api: Api) -> None:
    """Show (and the API) carry the ticket's link into ConnectWise's web UI, with its current status and summary."""
    world, tid = api.world, api.world.tickets["help_desk"]
    await world.workflow.link(link_request(world))
    shown = await world.workflow.show("CHG-1")
    assert shown.ticket is not None
    site = world.served.base_url.split("//", 1)[1]
    company = world.box.settings.company_id
    assert shown.ticket.url == (
        f"http://{site}/{world.box.codebase}ConnectWise.aspx?locale=en_US&routeTo=ServiceFV&recid={tid}"
        f"&companyName={company}"
    )
    ticket = await world.ticket(tid)
    assert (shown.ticket.status, shown.ticket.summary) == (ticket["status"]["name"], ticket["summary"])
    over_http = (await api.http.get("/api/changes/CHG-1")).json()["ticket"]
    assert (over_http["url"], over_http["status"]) == (shown.ticket.url, ticket["status"]["name"])
    found = (await api.http.get("/api/changes/tickets", params={"company": "lighthouse", "q": str(tid)})).json()
    assert [t["url"] for t in found if t["id"] == tid] == [shown.ticket.url]


async def test_notes_name_approvers_and_implementers_not_their_emails(world: World) -> None:
    """Given only e-mails, the notes name people by their ConnectWise member names, or the name the change gave them
    when they are no members."""
    tid = world.tickets["help_desk"]
    people: dict[str, Any] = {"creator": {"email": "alice@msp.example"}, "technical_approver": None}
    await world.workflow.link(link_request(world, **people))
    await world.workflow.apply(
        "CHG-1", event(kind="technical_approval", event_id="t", approver={"email": "Bob.Tech@msp.example"})
    )
    assert any(n.startswith("Technical Approval: approved by Bob Tech (") for n in internal(await world.notes(tid)))
    await world.workflow.apply("CHG-1", event(kind="operational_approval", event_id="o", approver={"email": OUTSIDER}))
    notes = internal(await world.notes(tid))
    assert any(n.startswith("Operational Approval: approved by Olga Outsider (") for n in notes)  # named at link
    await world.workflow.apply("CHG-1", event(kind="fully_approved", event_id="f"))
    window = {"start": "2026-03-01T22:00:00Z", "end": "2026-03-02T00:00:00Z", "plan": "Upgrade"}
    await world.workflow.apply("CHG-1", event(kind="scheduled", event_id="w", **window))
    await world.workflow.apply(
        "CHG-1", event(kind="implementation_started", event_id="s", implementer={"email": "dan@msp.example"})
    )
    last = internal(await world.notes(tid))[-1]
    assert "Implementer: Dan Engineer" in last
    assert "dan@msp.example" not in last
