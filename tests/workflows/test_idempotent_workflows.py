"""A quote re-submitted, or a change event re-sent, after failed attempts and lost answers: one of each record.

Both workflows run their writes through the journaled step runner (`cwsync.workflows.steps`). The ConnectWise
sandbox runs in-process (ASGI) with its fault injection (lost answers, 429s, 5xx; seeded, so each run is the same),
and `LoseAnswers` drops the answers of exactly the requests a test names, after the sandbox processed them — as the
sandbox's `lost_response_share` does, but aimed.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import TypeAdapter

from cwsync.config.changes import ChangesConfig
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.http import CwsyncApiError, RetryPolicy
from cwsync.store import Store
from cwsync.workflows.changes.models import ChangeEvent, EventResult, LinkRequest, Person
from cwsync.workflows.changes.workflow import ChangeWorkflow
from cwsync.workflows.quotes.document import Quote, QuotePlan
from cwsync.workflows.quotes.workflow import Known, QuoteWorkflow
from cwsync_sandbox.connectwise.app import Sandbox, SandboxSettings, build_sandbox, create_app
from cwsync_sandbox.faults import DroppedConnection, FaultSettings
from tests.catalog.conftest import CW_BASE, link_records, make_config
from tests.changes.conftest import PEOPLE, changes_config

T = TypeVar("T")
Rule = Callable[[httpx.Request], bool]
FAULTS = {"lost_response_share": 0.2, "rate_limit_share": 0.2, "error_share": 0.2, "retry_after": 0}
START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
EVENT: TypeAdapter[ChangeEvent] = TypeAdapter(ChangeEvent)


async def no_sleep(_: float) -> None:
    """Tests never wait."""


class LoseAnswers(httpx.AsyncBaseTransport):
    """The sandbox in-process, except that a request any rule accepts loses its answer once the sandbox processed it.

    It also notes every request whose answer was lost, by a rule or by the sandbox's own faults.
    """

    def __init__(self, box: Sandbox) -> None:
        self.inner = httpx.ASGITransport(app=create_app(box))
        self.rules: list[Rule] = []
        self.lost: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        what = f"{request.method} {request.url.path.split('/apis/3.0/')[-1]}"
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.RemoteProtocolError:
            self.lost.append(what)
            raise
        if any(rule(request) for rule in self.rules):
            await response.aread()
            self.lost.append(what)
            raise DroppedConnection()
        return response

    def lost_writes(self) -> list[str]:
        """The lost answers of writes (anything but GET)."""
        return [w for w in self.lost if not w.startswith("GET")]


def on(method: str, path_end: str, *, once: bool = False, **body: Any) -> Rule:
    """A rule: `method` on a path ending in `path_end` (whose JSON body has these values); `once`: the first only."""
    fired: list[bool] = []

    def rule(request: httpx.Request) -> bool:
        if request.method != method or not request.url.path.endswith(path_end) or (once and fired):
            return False
        sent = json.loads(request.content) if body else {}
        sent = sent["forecastItems"][0] if "forecastItems" in sent else sent  # a forecast POST holds its line
        if any(sent.get(k) != v for k, v in body.items()):
            return False
        fired.append(True)
        return True

    return rule


def client(transport: LoseAnswers, box: Sandbox) -> ConnectWiseClient:
    """A ConnectWise client on the sandbox through `transport` (3 attempts per request, no waiting)."""
    s = box.settings
    settings = ConnectWiseSettings(
        site=CW_BASE,
        company_id=s.company_id,
        public_key=s.public_key,
        private_key=s.private_key,
        client_id=s.client_id,
        requests_per_minute=None,
    )
    return ConnectWiseClient(
        settings, http=httpx.AsyncClient(transport=transport), sleep=no_sleep, retry=RetryPolicy(attempts=3)
    )


async def until_done(attempt: Callable[[], Awaitable[T]], *, tries: int = 40) -> tuple[T, int]:
    """Call `attempt` again after every ConnectWise failure until it succeeds; returns its result and the tries."""
    for n in range(1, tries + 1):
        try:
            return await attempt(), n
        except CwsyncApiError:
            continue
    raise AssertionError(f"still failing after {tries} tries")


def live(box: Sandbox, entity: str) -> list[dict[str, Any]]:
    """Every live record of a sandbox entity."""
    return [r for i in box.store.ids(entity) if (r := box.store.get(entity, i)) is not None]


# -- quotes -----------------------------------------------------------------------------------------------------


@dataclass
class Quotes:
    """The sandbox, the lossy transport, a store and the quote workflow."""

    box: Sandbox
    transport: LoseAnswers
    store: Store
    workflow: QuoteWorkflow
    quote: Quote

    def opportunities(self) -> list[dict[str, Any]]:
        """The opportunities in ConnectWise that carry this quote's marker."""
        marker = f"(cwsync: quote {self.quote.external_id})"
        return [o for o in live(self.box, "opportunities") if marker in str(o.get("notes") or "")]

    def lines(self, opportunity_id: int) -> list[dict[str, Any]]:
        """An opportunity's forecast items, by position."""
        items = [
            f for f in live(self.box, "forecast_items") if (f.get("opportunity") or {}).get("id") == opportunity_id
        ]
        return sorted(items, key=lambda f: int(f["sequenceNumber"]))

    def assert_one_opportunity_with_its_lines(self, plan: QuotePlan) -> None:
        """Exactly one opportunity for the quote, holding exactly its four lines (three and shipping)."""
        (opportunity,) = self.opportunities()
        assert opportunity["id"] == plan.opportunity_id
        lines = self.lines(plan.opportunity_id)
        assert [line["sequenceNumber"] for line in lines] == [1, 2, 3, 4]
        assert [line["quantity"] for line in lines] == [1.0, 2.0, 5.0, 1.0]
        assert [line["catalogItem"]["id"] for line in lines] == [line.catalog_id for line in plan.lines]

    async def assert_finished(self, plan: QuotePlan) -> None:
        """The link holds the opportunity's four lines, the journal is empty, and submitting again writes nothing."""
        link = (await self.store.links_by_left("default", "quotes", [self.quote.external_id]))[self.quote.external_id]
        lines = self.lines(int(link.right_id))
        assert [entry["forecast_id"] for entry in link.left_values["lines"]] == [line["id"] for line in lines]
        assert await self.store.journal("default", "quotes") == []
        self.box.faults.update(FaultSettings())
        self.transport.rules.clear()
        again = await self.workflow.submit(self.quote)
        assert (again.action, again.opportunity_id) == ("unchanged", plan.opportunity_id)


def _quote(box: Sandbox) -> Quote:
    companies = {c["id"]: c for c in live(box, "companies") if not c.get("deletedFlag")}
    company, email = next(
        (companies[cid], emails[0])
        for contact in live(box, "contacts")
        if (cid := (contact.get("company") or {}).get("id")) in companies
        and (
            emails := [i["value"] for i in contact.get("communicationItems") or [] if i["communicationType"] == "Email"]
        )
    )
    items = [i for i in live(box, "catalog_items") if not i.get("inactiveFlag") and i["identifier"] != "SHIP-GROUND"]
    lines = [
        {"product": i["identifier"], "quantity": q, "price": i["price"]}
        for i, q in zip(items[:3], (1, 2, 5), strict=True)
    ]
    body = {"external_id": "Q-7", "company": company["identifier"], "contact": email, "lines": lines, "shipping": 25}
    return Quote.model_validate(body)


@pytest.fixture
async def quotes(tmp_path: Path) -> AsyncIterator[Quotes]:
    """A sandbox with a 120-item catalog, a fresh SQLite store and the quote workflow on a lossy transport."""
    box = build_sandbox(SandboxSettings(base_url=CW_BASE, records=300, seed=3, counts={"catalog_items": 120}))
    config = make_config(tmp_path, box)
    transport = LoseAnswers(box)
    store = await Store.open(config.store)
    async with client(transport, box) as cw:
        try:
            yield Quotes(box, transport, store, QuoteWorkflow(config, store, cw), _quote(box))
        finally:
            await store.close()


@pytest.mark.parametrize("seed", [5, 6, 7])  # seeds where a write's answer is lost and one submit is not enough
async def test_a_quote_resubmitted_through_faults_makes_one_opportunity_with_its_lines(
    quotes: Quotes, seed: int
) -> None:
    """Lost answers, 429s and 5xx at 20% each: submitting until it succeeds makes one opportunity, four lines."""
    quotes.box.faults.update(FaultSettings(**FAULTS, seed=seed))
    plan, tries = await until_done(lambda: quotes.workflow.submit(quotes.quote))
    assert quotes.transport.lost_writes(), "no write lost its answer: the seed does not test what it should"
    assert tries > 1, "the first submit succeeded: the seed does not test what it should"
    assert plan.opportunity_id is not None
    quotes.assert_one_opportunity_with_its_lines(plan)
    await quotes.assert_finished(plan)
    runs = await quotes.store.runs("default", pair="quotes", limit=100)
    assert [r.status for r in runs].count("failed") == tries - 1  # each failed attempt is in the history


@pytest.mark.parametrize("seed", [5, 6, 7, 8])
async def test_a_quote_of_linked_records_resubmitted_through_faults_makes_one_opportunity_with_its_lines(
    quotes: Quotes, seed: int
) -> None:
    """The same with its company, contact and products linked (the opportunity created while the products are
    read): one opportunity, four lines, whatever failed on the way."""
    await link_records(quotes.store, quotes.box, "default", quotes.quote)
    quotes.box.faults.update(FaultSettings(**FAULTS, seed=seed))
    plan, tries = await until_done(lambda: quotes.workflow.submit(quotes.quote))
    assert quotes.transport.lost_writes() or tries > 1, "nothing failed: the seed does not test what it should"
    assert plan.opportunity_id is not None
    quotes.assert_one_opportunity_with_its_lines(plan)
    await quotes.assert_finished(plan)


async def test_a_lost_opportunity_answer_beside_the_products_read_is_found_not_repeated(quotes: Quotes) -> None:
    """Linked records: the opportunity POST (sent while the products are read) and line 2's POST lose their
    answers; both are found, none made twice."""
    await link_records(quotes.store, quotes.box, "default", quotes.quote)
    quotes.transport.rules += [
        on("POST", "/sales/opportunities", once=True),
        on("POST", "/forecast", once=True, sequenceNumber=2),
    ]
    plan = await quotes.workflow.submit(quotes.quote)
    assert len(quotes.transport.lost_writes()) == 2
    quotes.assert_one_opportunity_with_its_lines(plan)
    await quotes.assert_finished(plan)


async def remember_records(quotes: Quotes) -> None:
    """Submit another quote of the same company, contact and products first (no faults): the workflow remembers
    them (`Recent`), so the quote under test takes the path of linked records without links."""
    warm = quotes.quote.model_copy(update={"external_id": "Q-6"})
    await quotes.workflow.submit(warm)
    assert quotes.workflow.recent.fill(quotes.quote, Known(), "SHIP-GROUND").covers(quotes.quote, quotes.workflow.sync)


@pytest.mark.parametrize("seed", [5, 6, 7, 8])
async def test_a_quote_of_remembered_records_resubmitted_through_faults_makes_one_opportunity_with_its_lines(
    quotes: Quotes, seed: int
) -> None:
    """The same with its company, contact and products remembered from a recent quote (no links; the opportunity
    created while the products are read by id): one opportunity, four lines, whatever failed on the way."""
    await remember_records(quotes)
    quotes.box.faults.update(FaultSettings(**FAULTS, seed=seed))
    plan, tries = await until_done(lambda: quotes.workflow.submit(quotes.quote))
    assert quotes.transport.lost_writes() or tries > 1, "nothing failed: the seed does not test what it should"
    assert plan.opportunity_id is not None
    quotes.assert_one_opportunity_with_its_lines(plan)
    await quotes.assert_finished(plan)


async def test_a_lost_opportunity_answer_beside_the_products_read_by_id_is_found_not_repeated(
    quotes: Quotes,
) -> None:
    """Remembered records: the opportunity POST (sent while the products are read by id) and line 2's POST lose
    their answers; both are found, none made twice."""
    await remember_records(quotes)
    quotes.transport.rules += [
        on("POST", "/sales/opportunities", once=True),
        on("POST", "/forecast", once=True, sequenceNumber=2),
    ]
    plan = await quotes.workflow.submit(quotes.quote)
    assert len(quotes.transport.lost_writes()) == 2
    quotes.assert_one_opportunity_with_its_lines(plan)
    await quotes.assert_finished(plan)


async def test_lost_answers_to_the_opportunity_and_a_line_create_are_found_not_repeated(quotes: Quotes) -> None:
    """The opportunity POST's answer and line 2's POST's answer are lost: both records are found, none made twice."""
    quotes.transport.rules += [
        on("POST", "/sales/opportunities", once=True),
        on("POST", "/forecast", once=True, sequenceNumber=2),
    ]
    plan = await quotes.workflow.submit(quotes.quote)
    assert quotes.transport.lost_writes() == [
        "POST sales/opportunities",
        f"POST sales/opportunities/{plan.opportunity_id}/forecast",
    ]
    quotes.assert_one_opportunity_with_its_lines(plan)
    await quotes.assert_finished(plan)


async def test_an_attempt_that_lost_the_opportunity_is_completed_by_the_next_submit(quotes: Quotes) -> None:
    """The opportunity is made but every answer about it is lost: the attempt fails; the next one finds it."""
    quotes.transport.rules.append(lambda r: r.url.path.endswith("/sales/opportunities"))  # its POST and its lookups
    with pytest.raises(CwsyncApiError):
        await quotes.workflow.submit(quotes.quote)
    (made,) = quotes.opportunities()
    assert quotes.lines(made["id"]) == []
    [intent] = await quotes.store.journal("default", "quotes", ["Q-7"])
    assert (intent.step, intent.status) == ("opportunity", "intent")
    quotes.transport.rules.clear()
    plan = await quotes.workflow.submit(quotes.quote)
    assert plan.opportunity_id == made["id"]
    quotes.assert_one_opportunity_with_its_lines(plan)
    await quotes.assert_finished(plan)


async def test_an_attempt_that_lost_a_line_is_completed_by_the_next_submit(quotes: Quotes) -> None:
    """Line 3 is made but its answer and the lookups are lost: the other lines are kept; the next submit finds it."""
    quotes.transport.rules += [
        on("POST", "/forecast", sequenceNumber=3),
        lambda r: r.method == "GET" and r.url.path.endswith("/forecast"),
    ]
    with pytest.raises(CwsyncApiError):
        await quotes.workflow.submit(quotes.quote)
    (made,) = quotes.opportunities()
    assert len(quotes.lines(made["id"])) == 4
    journal = {e.step: e.status for e in await quotes.store.journal("default", "quotes", ["Q-7"])}
    assert journal == {"opportunity": "done", "line:1": "done", "line:2": "done", "line:3": "intent", "line:4": "done"}
    quotes.transport.rules.clear()
    writes = len(quotes.transport.lost)
    plan = await quotes.workflow.submit(quotes.quote)
    assert len(quotes.transport.lost) == writes
    quotes.assert_one_opportunity_with_its_lines(plan)
    await quotes.assert_finished(plan)
    explained = await quotes.workflow.explain("Q-7")
    assert [h["action"] for h in explained["history"]][:3] == ["unchanged", "create", "fail"]


async def test_a_changed_quote_whose_replace_and_remove_lost_their_answers_is_completed(quotes: Quotes) -> None:
    """Line 1 changed and shipping dropped: the PUT and the DELETE happen but every answer is lost; then completed."""
    first = await quotes.workflow.submit(quotes.quote)
    assert first.opportunity_id is not None
    changed = quotes.quote.model_copy(
        update={
            "lines": [quotes.quote.lines[0].model_copy(update={"quantity": 7}), *quotes.quote.lines[1:]],
            "shipping": 0,
        }
    )
    quotes.transport.rules.append(lambda r: r.method in ("PUT", "DELETE"))
    with pytest.raises(CwsyncApiError):
        await quotes.workflow.submit(changed)
    assert [line["quantity"] for line in quotes.lines(first.opportunity_id)] == [7.0, 2.0, 5.0]  # both happened
    journal = {e.step: e.status for e in await quotes.store.journal("default", "quotes", ["Q-7"])}
    assert journal == {"line:1": "intent", "remove:4": "intent"}
    quotes.transport.rules.clear()
    plan = await quotes.workflow.submit(changed)
    assert [(c.op, c.position) for c in plan.changes] == [("replace", 1), ("keep", 2), ("keep", 3), ("remove", 4)]
    (opportunity,) = quotes.opportunities()
    assert [line["quantity"] for line in quotes.lines(opportunity["id"])] == [7.0, 2.0, 5.0]
    assert await quotes.store.journal("default", "quotes") == []
    again = await quotes.workflow.submit(changed)
    assert again.action == "unchanged"


# -- change events ----------------------------------------------------------------------------------------------


@dataclass
class Changes:
    """The sandbox, the lossy transport, a store, the change workflow and the ticket of change CHG-1."""

    box: Sandbox
    transport: LoseAnswers
    store: Store
    workflow: ChangeWorkflow
    ticket: int
    members: dict[str, int] = field(default_factory=dict)

    def notes(self) -> list[dict[str, Any]]:
        """The ticket's notes."""
        return [n for n in live(self.box, "ticket_notes") if n.get("ticketId") == self.ticket]

    def entries(self) -> list[dict[str, Any]]:
        """The schedule entries on the ticket."""
        return [e for e in live(self.box, "schedule_entries") if e.get("objectId") == self.ticket]

    def time_entries(self) -> list[dict[str, Any]]:
        """The time entries charged to the ticket."""
        return [t for t in live(self.box, "time_entries") if t.get("chargeToId") == self.ticket]

    def marked(self, event_id: str, key: str) -> list[dict[str, Any]]:
        """The notes and time entries carrying the marker of one write of one event."""
        marker = f"(cwsync: change CHG-1, event {event_id}, {key})"
        notes = [n for n in self.notes() if marker in n["text"]]
        return notes + [t for t in self.time_entries() if marker in str(t.get("internalNotes"))]

    def assert_one_of_each(self, results: list[EventResult]) -> None:
        """Every note and time entry the events made exists once; one schedule entry per member resource."""
        for result in results:
            for write in result.writes:
                if write.what in ("note", "description", "time_entry"):
                    assert len(self.marked(result.event_id, write.key)) == 1, (result.event_id, write.key)
        members = sorted(e["member"]["id"] for e in self.entries())
        assert members == sorted(set(members))


def event(**fields: Any) -> ChangeEvent:
    """An event from plain data, as the API receives it."""
    return EVENT.validate_python(fields)


def link_request(ticket: int) -> LinkRequest:
    """Change CHG-1 with a creator and a technical approver (both members: two schedule entries)."""
    return LinkRequest(
        change_id="CHG-1",
        company="lighthouse",
        ticket_id=ticket,
        title="Upgrade the core firewall",
        creator=Person(email="alice@msp.example", name="Alice Admin"),
        technical_approver=Person(email="bob.tech@msp.example", name="Bob Tech"),
    )


EVENTS: list[dict[str, Any]] = [
    {"kind": "fully_approved", "event_id": "e1", "committee": [{"email": "carol@msp.example"}]},  # no `at`: the
    # note's text differs between attempts (the time), its marker does not
    {
        "kind": "scheduled",
        "event_id": "e2",
        "start": START,
        "end": START + timedelta(hours=2),
        "plan": "1. Backup\n2. Upgrade",
        "engineers": [{"email": "dan@msp.example"}],
    },
    {"kind": "implementation_started", "event_id": "e3", "at": START, "implementer": {"email": "dan@msp.example"}},
    {"kind": "completed", "event_id": "e4", "at": START + timedelta(minutes=90), "results": "Firmware 7.4"},
    {
        "kind": "time_entry",
        "event_id": "t1",
        "member": {"email": "bob.tech@msp.example"},
        "start": START - timedelta(hours=1),
        "end": START,
        "notes": "Pre-change checks",
    },
]


@pytest.fixture
async def changes(tmp_path: Path) -> AsyncIterator[Changes]:
    """The seed-7 sandbox with the people as members and a Help Desk ticket of company 5; the change workflow."""
    box = build_sandbox(SandboxSettings(base_url=CW_BASE, records=600, seed=7))
    transport = LoseAnswers(box)
    store = await Store.open(f"sqlite:///{tmp_path / 'changes.db'}")
    async with client(transport, box) as cw:
        try:
            members = {}
            for key, (identifier, first, last, email) in PEOPLE.items():
                body = {"identifier": identifier, "firstName": first, "lastName": last, "primaryEmail": email}
                members[key] = int((await cw.create("system/members", body | {"inactiveFlag": False}))["id"])
            board = (await cw.list_page("service/boards", conditions='name = "Help Desk"'))[0]["id"]
            new = (await cw.list_page(f"service/boards/{board}/statuses", conditions='name = "New"'))[0]["id"]
            ticket = await cw.create(
                "service/tickets",
                {"summary": "Firewall", "company": {"id": 5}, "board": {"id": board}, "status": {"id": new},
                 "closedFlag": False},
            )  # fmt: skip
            config = ChangesConfig.model_validate(changes_config())
            workflow = await ChangeWorkflow.start(client=cw, store=store, config=config, tenant="default")
            yield Changes(box, transport, store, workflow, int(ticket["id"]), members)
        finally:
            await store.close()


@pytest.mark.parametrize("seed", [1, 3])  # seeds where a write's answer is lost and some event is sent again
async def test_change_events_resent_through_faults_make_one_of_each_record(changes: Changes, seed: int) -> None:
    """Lost answers, 429s and 5xx at 20% each: every event re-sent until it succeeds makes each record once."""
    changes.box.faults.update(FaultSettings(**FAULTS, seed=seed))
    sent = [await until_done(lambda: changes.workflow.link(link_request(changes.ticket)))]
    for fields in EVENTS:
        sent.append(await until_done(lambda f=fields: changes.workflow.apply("CHG-1", event(**f))))
    changes.box.faults.update(FaultSettings())
    assert changes.transport.lost_writes(), "no write lost its answer: the seed does not test what it should"
    assert max(tries for _, tries in sent) > 1, "every event went through at once: the seed does not test it"
    results = [result for result, _ in sent]
    changes.assert_one_of_each(results)
    assert len(changes.entries()) == 4  # alice, bob, carol (vCAB), dan (engineer)
    assert len(changes.time_entries()) == 2  # the implementation, and t1
    shown = await changes.workflow.show("CHG-1")
    assert shown.change.state == "completed"
    assert await changes.store.journal("default", "changes:CHG-1") == []


async def test_change_events_whose_creates_lost_every_answer_are_completed_when_sent_again(changes: Changes) -> None:
    """A note, a schedule entry and a time entry are made but their answers and lookups lost: sent again, found."""
    kinds = {"notes": "/notes", "schedule entries": "/schedule/entries", "time entries": "/time/entries"}
    sends: list[tuple[str, Callable[[], Awaitable[EventResult]]]] = [
        ("schedule entries", lambda: changes.workflow.link(link_request(changes.ticket))),
        ("notes", lambda: changes.workflow.apply("CHG-1", event(**EVENTS[0]))),
        ("time entries", lambda: changes.workflow.apply("CHG-1", event(**EVENTS[-1]))),
    ]
    results = []
    for kind, send in sends:
        changes.transport.rules = [lambda r, end=kinds[kind]: r.url.path.endswith(end)]  # the POST and its lookups
        with pytest.raises(CwsyncApiError):
            await send()
        changes.transport.rules = []
        results.append(await send())
        assert any(w.outcome == "already_done" for w in results[-1].writes), kind
    assert changes.transport.lost_writes() == [
        "POST schedule/entries",
        f"POST service/tickets/{changes.ticket}/notes",
        "POST time/entries",
    ]
    changes.assert_one_of_each(results)
    assert len(changes.entries()) == 3  # alice, bob, carol
    assert len(changes.time_entries()) == 1
    history = await changes.store.runs("default", pair="changes")
    assert [r.status for r in reversed(history)] == ["failed", "succeeded"] * 3


class Killed(BaseException):
    """The process ending mid-event: nothing of the attempt is noted after it (no error, no journal entry of it)."""


@pytest.mark.parametrize("when", ["after the note was made", "before the outcome committed"])
async def test_a_change_event_killed_mid_way_makes_its_note_once_when_sent_again(
    changes: Changes, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """No intent is journaled for a change event: its row, committed `applying` before any write, is what makes the
    next delivery look the note up before sending it again, here with nothing else of the attempt journaled."""
    await changes.workflow.link(link_request(changes.ticket))
    approved = EVENTS[0]
    with monkeypatch.context() as patched:
        if when == "after the note was made":
            made = changes.workflow.client.create

            async def made_then_killed(path: str, body: Any, **options: Any) -> dict[str, Any]:
                await made(path, body, **options)
                raise Killed()

            patched.setattr(changes.workflow.client, "create", made_then_killed)
        else:

            async def killed(*_: Any, **__: Any) -> None:
                raise Killed()

            patched.setattr(changes.workflow.changes, "finish_event", killed)
        with pytest.raises(Killed):
            await changes.workflow.apply("CHG-1", event(**approved))
    stopped = await changes.workflow.changes.event("CHG-1", "e1")
    assert stopped is not None
    assert stopped.status == "applying"
    journal = await changes.store.journal("default", "changes:CHG-1")
    assert [e for e in journal if e.status == "intent" or e.step == "note"] == []
    assert len(changes.marked("e1", "note")) == 1

    resumed = await changes.workflow.apply("CHG-1", event(**approved))
    assert {w.key: w.outcome for w in resumed.writes}["note"] == "already_done"
    assert len(changes.marked("e1", "note")) == 1
    assert await changes.store.journal("default", "changes:CHG-1") == []
    assert (await changes.workflow.show("CHG-1")).change.state == "approved"
