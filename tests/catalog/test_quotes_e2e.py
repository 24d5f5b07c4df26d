"""Quote → ConnectWise opportunity end to end (SB-5, SB-6): lines, shipping, totals, idempotency, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy import event as sa_event

from cwsync.store import Link
from cwsync.store.jobs import JobStore
from cwsync.workflows.quotes.document import Quote, QuoteRefused
from tests.catalog.conftest import World, link_records


def company_with_contact(world: World) -> tuple[dict[str, Any], str]:
    """A live company and the e-mail of one of its contacts."""
    companies = {c["id"]: c for c in world.cw_all("companies") if not c.get("deletedFlag")}
    for contact in world.cw_all("contacts"):
        cid = (contact.get("company") or {}).get("id")
        emails = [i["value"] for i in contact.get("communicationItems") or [] if i.get("communicationType") == "Email"]
        if cid in companies and emails:
            return companies[cid], emails[0]
    raise AssertionError("the sandbox has no company with a contact e-mail")


def products(world: World, n: int = 3) -> list[dict[str, Any]]:
    """`n` active catalog items other than shipping."""
    items = [i for i in world.cw_all("catalog_items") if not i.get("inactiveFlag") and i["identifier"] != "SHIP-GROUND"]
    return items[:n]


def make_quote(world: World, **overrides: Any) -> Quote:
    """An approved quote: three lines and 25.00 shipping for a real company and contact."""
    company, email = company_with_contact(world)
    lines = [
        {"product": p["identifier"], "quantity": q, "price": p["price"], "cost": p["cost"]}
        for p, q in zip(products(world), (1, 2, 5), strict=True)
    ]
    body: dict[str, Any] = {
        "external_id": "Q-1001",
        "company": company["identifier"],
        "contact": email,
        "lines": lines,
        "shipping": 25.0,
    }
    body.update(overrides)
    return Quote.model_validate(body)


def forecast(world: World, opportunity_id: int) -> list[dict[str, Any]]:
    """The forecast items of an opportunity, as ConnectWise holds them."""
    return [f for f in world.cw_all("forecast_items") if (f.get("opportunity") or {}).get("id") == opportunity_id]


async def test_approved_quote_becomes_one_opportunity_with_four_lines(world: World) -> None:
    """Three lines and shipping make one opportunity with four forecast items and the right totals."""
    quote = make_quote(world)
    before = len(world.cw_all("opportunities"))
    plan = await world.quotes().submit(quote)
    assert len(world.cw_all("opportunities")) == before + 1
    assert plan.opportunity_id is not None
    opportunity = world.cw_box.store.get("opportunities", plan.opportunity_id)
    assert opportunity is not None
    assert opportunity["status"]["name"] == "Won"
    items = forecast(world, plan.opportunity_id)
    assert len(items) == 4
    expected = round(sum(line.price * line.quantity for line in quote.lines) + 25.0, 2)
    assert round(sum(i["revenue"] for i in items), 2) == expected == plan.totals["revenue"]
    shipping = [i for i in items if i["catalogItem"]["identifier"] == "SHIP-GROUND"]
    assert len(shipping) == 1
    assert shipping[0]["revenue"] == 25.0


async def test_approving_again_changes_nothing_then_updates_in_place(world: World) -> None:
    """The same quote again writes nothing; a changed line is replaced on the same opportunity."""
    quote = make_quote(world)
    first = await world.quotes().submit(quote)
    opportunities = len(world.cw_all("opportunities"))
    writes = world.writes()
    again = await world.quotes().submit(quote)
    assert again.action == "unchanged"
    assert world.writes() == writes
    lines = [quote.lines[0].model_copy(update={"quantity": 7}), *quote.lines[1:]]
    changed = await world.quotes().submit(quote.model_copy(update={"lines": lines}))
    assert changed.action == "update"
    assert changed.opportunity_id == first.opportunity_id
    assert world.writes() == writes + 1  # one PUT of the changed line
    assert len(world.cw_all("opportunities")) == opportunities
    assert first.opportunity_id is not None
    items = forecast(world, first.opportunity_id)
    assert len(items) == 4
    assert sorted(i["quantity"] for i in items) == [1.0, 2.0, 5.0, 7.0]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"company": "NoSuchCompany"}, "unknown_company"),
        ({"contact": "nobody@nowhere.invalid"}, "unknown_contact"),
        ({"lines": [{"product": "NO-SUCH-SKU", "quantity": 1, "price": 10}]}, "unknown_product"),
        ({"status": "sent"}, "not_approved"),
    ],
)
async def test_refusals_write_nothing_and_say_why(world: World, overrides: dict[str, Any], code: str) -> None:
    """An unknown company/contact/product or an unapproved quote is refused and nothing is written: answered to an
    API caller (a 4xx with the code and reason), nothing at all; from the CLI, its decision is recorded (one run,
    one skipped item) for `quotes explain`."""
    quote = make_quote(world, **overrides)
    with pytest.raises(QuoteRefused) as answered:
        await world.quotes().submit(quote, trigger="api")
    assert answered.value.code == code
    await assert_left_nothing(world, quote.external_id)
    with pytest.raises(QuoteRefused) as refused:
        await world.quotes().submit(quote, trigger="cli")
    assert refused.value.code == code
    assert world.writes() == 0
    await assert_refused_as_a_cold_quote(world, quote.external_id, code)


async def test_plan_writes_nothing(world: World) -> None:
    """A dry run shows the opportunity and its four lines and writes nothing anywhere."""
    plan = await world.quotes().submit(make_quote(world), plan_only=True)
    assert plan.action == "create"
    assert len(plan.lines) == 4
    assert plan.as_json()["opportunity"]["name"] == "Quote Q-1001"
    assert world.writes() == 0
    assert await world.store.runs(world.config.tenant) == []


async def test_multi_type_company_gets_the_priority_type(world: World) -> None:
    """A company that is Prospect and Customer is carried as Customer (SB-2, the seeds' example)."""
    types = {t["name"]: t["id"] for t in world.cw_all("company_types")}
    company, email = company_with_contact(world)
    await world.cw.patch(
        "company/companies",
        company["id"],
        [{"op": "replace", "path": "types", "value": [{"id": types["Prospect"]}, {"id": types["Customer"]}]}],
    )
    plan = await world.quotes().submit(make_quote(world, company=company["id"], contact=email), plan_only=True)
    assert plan.company["type"] == "Customer"
    flipped = await world.quotes(company_type_priority=["Prospect", "Customer"]).plan(make_quote(world))
    assert flipped.company["type"] == "Prospect"


async def test_concurrent_approvals_make_one_opportunity(world: World) -> None:
    """The same quote approved twice at once still yields one opportunity with four lines."""
    import asyncio

    quote = make_quote(world)
    before = len(world.cw_all("opportunities"))
    workflow = world.quotes()
    first, second = await asyncio.gather(workflow.submit(quote), workflow.submit(quote))
    assert len(world.cw_all("opportunities")) == before + 1
    assert first.opportunity_id == second.opportunity_id
    assert first.opportunity_id is not None
    assert len(forecast(world, first.opportunity_id)) == 4


async def test_a_new_quote_commits_three_store_transactions(world: World) -> None:
    """The opportunity's intent with the run's start; its id with the four lines' intents; the link, the journal
    gone, the run's item and its end: three transactions on SQLite's one writer (each intent before its write)."""
    workflow = world.quotes()
    commits: list[object] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    sa_event.listen(Engine, "commit", committed)
    try:
        plan = await workflow.submit(make_quote(world, external_id="Q-TX"))
    finally:
        sa_event.remove(Engine, "commit", committed)
    assert plan.opportunity_id is not None
    assert len(forecast(world, plan.opportunity_id)) == 4
    assert len(commits) == 3
    assert await workflow.store.journal(workflow.tenant, "quotes") == []
    latest = (await workflow.store.runs(workflow.tenant))[0]
    assert latest.status == "succeeded"


# -- records cwsync's syncs linked (issue 19: no reads before the opportunity) --------------------------------------


async def link_quote_records(world: World, quote: Quote, *, company_id: int | None = None) -> None:
    """`link_records` in this world's store."""
    await link_records(world.store, world.cw_box, world.config.tenant, quote, company_id=company_id)


async def test_a_quote_of_linked_records_reads_only_its_products_beside_the_opportunity(world: World) -> None:
    """With its company, contact and products linked by cwsync's syncs, a new quote reads neither the company nor
    the contact, and its products are read while its opportunity is created: the same opportunity and lines as
    when everything is read first."""
    quote = make_quote(world)
    unlinked = await world.quotes().plan(quote)
    await link_quote_records(world, quote)
    world.paths.clear()
    plan = await world.quotes().submit(quote)
    assert world.paths["GET company/companies"] == world.paths["GET company/contacts"] == 0
    assert world.paths["GET procurement/catalog"] == 1
    assert world.paths["POST sales/opportunities"] == 5  # the opportunity, then its four lines
    assert plan.opportunity == unlinked.opportunity
    assert plan.lines == unlinked.lines
    assert plan.opportunity_id is not None
    assert len(forecast(world, plan.opportunity_id)) == 4
    again = await world.quotes().submit(quote)
    assert again.action == "unchanged"
    assert again.opportunity_id == plan.opportunity_id


async def journal_of(world: World, external_id: str) -> list[Any]:
    """The quote's journal entries (what an unfinished attempt left for the next submit)."""
    return await world.store.read(lambda reads: reads.journal(world.config.tenant, "quotes", [external_id]))


async def assert_left_nothing(world: World, external_id: str) -> None:
    """What a quote refused to an API caller leaves: nothing — no run, no link, no journal entry, no job."""
    assert await world.store.runs(world.config.tenant) == []
    with pytest.raises(QuoteRefused) as unknown:
        await world.quotes().show(external_id)
    assert unknown.value.code == "unknown_quote"
    assert await journal_of(world, external_id) == []
    assert sum((await JobStore(world.store).counts()).values()) == 0


async def assert_refused_as_a_cold_quote(world: World, external_id: str, code: str) -> None:
    """What a quote refused from the CLI (or a webhook) leaves: its decision (one run of pair `quotes`, one
    skipped item, `quotes explain` saying why), and nothing else: no link, no journal entry, no job."""
    runs = await world.store.runs(world.config.tenant, pair="quotes")
    assert [(r.status, r.counts.skipped, r.counts.created, r.counts.failed) for r in runs] == [("succeeded", 1, 0, 0)]
    explained = await world.quotes().explain(external_id)
    assert explained["answer"].startswith(f"refused: {code}")
    assert explained["opportunity_id"] is None
    assert await journal_of(world, external_id) == []
    assert sum((await JobStore(world.store).counts()).values()) == 0


async def test_a_stale_company_link_is_resolved_again_from_connectwise(world: World) -> None:
    """A company link pointing at a company ConnectWise no longer has: ConnectWise refuses the opportunity's
    create (nothing made), and the quote is resolved from ConnectWise instead, which has the company under the
    quote's identifier: one opportunity, of the real company, and nothing left in the journal."""
    quote = make_quote(world)
    cold = await world.quotes().plan(quote)
    await link_quote_records(world, quote, company_id=987_654)
    before = len(world.cw_all("opportunities"))
    world.paths.clear()
    plan = await world.quotes().submit(quote)
    assert world.paths["POST sales/opportunities"] == 1 + 1 + 4  # refused, then the opportunity and its lines
    assert world.paths["GET company/companies"] == world.paths["GET company/contacts"] == 1
    assert plan.opportunity == cold.opportunity
    assert len(world.cw_all("opportunities")) == before + 1
    assert plan.opportunity_id is not None
    assert len(forecast(world, plan.opportunity_id)) == 4
    assert await journal_of(world, quote.external_id) == []


async def test_a_stale_link_of_a_company_connectwise_deleted_is_refused_and_writes_nothing(world: World) -> None:
    """The company of a stale link deleted in ConnectWise too: the create refused, the quote resolved from
    ConnectWise is refused as unknown_company, and it leaves what a quote refused without links leaves: nothing
    when answered to an API caller, its decision alone from the CLI."""
    quote = make_quote(world)
    await link_quote_records(world, quote, company_id=987_654)
    [company] = [c for c in world.cw_all("companies") if c["identifier"] == quote.company]
    await world.cw.delete("company/companies", company["id"])
    before, writes = len(world.cw_all("opportunities")), world.writes()
    for trigger in ("api", "cli"):
        with pytest.raises(QuoteRefused) as refused:
            await world.quotes().submit(quote, trigger=trigger)
        assert refused.value.code == "unknown_company"
        if trigger == "api":
            await assert_left_nothing(world, quote.external_id)
    assert len(world.cw_all("opportunities")) == before
    assert world.writes() == writes + 2  # the creates ConnectWise refused (400): nothing made
    await assert_refused_as_a_cold_quote(world, quote.external_id, "unknown_company")


async def test_a_quote_naming_no_company_contact_or_product_matches_nothing_known(world: World) -> None:
    """Blank company, contact and product texts name no record (the fuzz suite's example, issue 20): neither the
    links whose values are empty nor anything remembered under an empty text stand in for them, nothing is
    looked up in ConnectWise under them, and the quote is refused as any unknown company is, answered to its API
    caller with nothing written."""
    workflow = world.quotes()
    first = make_quote(world)
    await workflow.submit(first)
    held = workflow.recent._companies[str(first.company).lower()]  # what an empty text might have been kept as
    workflow.recent._companies[""] = held
    workflow.recent._contacts[(int(held[1]["id"]), "")] = next(iter(workflow.recent._contacts.values()))
    workflow.recent._products[""] = next(iter(workflow.recent._products.values()))
    blank = {"connectwise_company_id": "", "email": "", "company": str(held[1]["id"]), "hs_sku": ""}
    async with world.store.transaction() as tx:
        await tx.upsert_links(
            [
                Link(tenant=world.config.tenant, pair=pair, left_id=left, right_id=left, left_values=blank)
                for pair, left in (("companies", str(held[1]["id"])), ("contacts", "5"), ("catalog:products", "1"))
            ]
        )
    runs = await world.store.runs(world.config.tenant)
    quote = Quote.model_validate(
        {"external_id": "0", "company": "", "contact": "", "lines": [{"product": " ", "quantity": 1, "price": 0}]}
    )
    world.paths.clear()
    with pytest.raises(QuoteRefused) as refused:
        await workflow.submit(quote)
    assert refused.value.code == "unknown_company"
    assert world.paths["GET company/companies"] == world.paths["GET company/contacts"] == 0
    assert world.paths["POST sales/opportunities"] == 0
    assert await world.store.runs(world.config.tenant) == runs  # answered as a 4xx: nothing recorded
    assert await journal_of(world, "0") == []


async def test_a_stale_product_link_leaves_one_opportunity_that_the_corrected_quote_completes(world: World) -> None:
    """A product linked but gone from the catalog is found by the read beside the opportunity's create: the quote
    is refused as unknown_product, its opportunity kept without lines, and the corrected quote submitted again
    completes that same opportunity (one opportunity, exactly its lines)."""
    good = make_quote(world)
    stale = good.model_copy(
        update={"lines": [*good.lines[:2], good.lines[2].model_copy(update={"product": "GONE-SKU"})]}
    )
    await link_quote_records(world, stale)
    before = len(world.cw_all("opportunities"))
    with pytest.raises(QuoteRefused) as refused:
        await world.quotes().submit(stale)
    assert refused.value.code == "unknown_product"
    assert len(world.cw_all("opportunities")) == before + 1
    explained = await world.quotes().explain(stale.external_id)
    assert "submitting the corrected quote again completes it" in explained["answer"]
    plan = await world.quotes().submit(good)
    assert len(world.cw_all("opportunities")) == before + 1
    assert plan.opportunity_id is not None
    assert len(forecast(world, plan.opportunity_id)) == 4


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_linked_records_are_found_by_their_exact_value_whatever_the_case(backend: str, tmp_path: Path) -> None:
    """A company link is found by its identifier in any case, and LIKE's wildcards in an identifier are literal
    (`a_b%` does not find `AXBZ`, which would make it ambiguous); a contact by its e-mail among its company's; a
    product by its SKU, not by one it is part of; on both store backends (their JSON text differs)."""
    from cwsync.store import Link
    from cwsync.workflows.quotes.workflow import _known
    from tests.store.test_store import opened_store

    tenant = "default"
    contact = {"email": "ann@acme.example", "company": "1", "firstname": "Ann"}
    other = {"email": "ann@acme.example", "company": "2"}
    links = [
        Link(
            tenant=tenant, pair="companies", left_id="1", right_id="1", left_values={"connectwise_company_id": "A_B%"}
        ),
        Link(
            tenant=tenant, pair="companies", left_id="2", right_id="2", left_values={"connectwise_company_id": "AXBZ"}
        ),
        Link(tenant=tenant, pair="contacts", left_id="7", right_id="7", left_values=contact),
        Link(tenant=tenant, pair="contacts", left_id="8", right_id="8", left_values=other),
        Link(tenant=tenant, pair="catalog:products", left_id="3", right_id="3", left_values={"hs_sku": "SKU-10"}),
        Link(tenant=tenant, pair="catalog:products", left_id="4", right_id="4", left_values={"hs_sku": "SKU-1"}),
    ]
    lines = [{"product": "sku-1", "quantity": 1, "price": 1}]
    quote = Quote(external_id="Q", company="a_b%", contact="ANN@acme.example", lines=lines)
    async with opened_store(backend, tmp_path) as store:
        async with store.transaction() as tx:
            await tx.upsert_links(links)
        known = await store.read(lambda reads: _known(reads, tenant, quote, "SHIP-GROUND"))
    assert known.company is not None
    assert known.company["id"] == 1
    assert known.contact is not None
    assert known.contact["id"] == 7
    assert known.products == {"sku-1": 4}


# -- records a recent quote resolved (issue 19: no links, no reads before the opportunity) ---------------------------


async def test_a_quote_of_records_a_recent_quote_resolved_reads_only_its_products_by_id(world: World) -> None:
    """Without links, the records a quote resolved in ConnectWise stand in for links for the next quotes of one
    workflow: the next quote reads neither company nor contact, reads its products by id while its opportunity is
    created, and makes the same opportunity and lines as one that read everything first."""
    workflow = world.quotes()
    first = await workflow.submit(make_quote(world))
    assert world.paths["GET company/companies"] == world.paths["GET company/contacts"] == 1
    world.paths.clear()
    quote = make_quote(world, external_id="Q-1002")
    cold = await world.quotes().plan(quote)
    world.paths.clear()
    plan = await workflow.submit(quote)
    assert world.paths["GET company/companies"] == world.paths["GET company/contacts"] == 0
    assert world.paths["GET procurement/catalog"] == 1
    assert world.paths["POST sales/opportunities"] == 5  # the opportunity, then its four lines
    assert plan.opportunity == cold.opportunity
    assert plan.lines == cold.lines == first.lines
    assert plan.company == cold.company
    assert plan.opportunity_id is not None
    assert plan.opportunity_id != first.opportunity_id
    assert len(forecast(world, plan.opportunity_id)) == 4


async def test_nothing_is_remembered_with_zero_seconds(world: World) -> None:
    """`remember_seconds=0`: every quote reads its company, contact and products first."""
    workflow = world.quotes(remember_seconds=0)
    await workflow.submit(make_quote(world))
    world.paths.clear()
    await workflow.submit(make_quote(world, external_id="Q-1002"))
    assert world.paths["GET company/companies"] == world.paths["GET company/contacts"] == 1


async def test_a_remembered_company_connectwise_refuses_is_read_again_and_remembered_afresh(world: World) -> None:
    """A remembered company ConnectWise no longer has makes it refuse the create (nothing made): it is forgotten,
    the quote resolved from ConnectWise becomes its opportunity, and what was read then is what is remembered."""
    workflow = world.quotes()
    quote = make_quote(world)
    await workflow.submit(quote)
    held = workflow.recent._companies[str(quote.company).lower()]  # as if ConnectWise had deleted it since
    real = held[1]["id"]
    workflow.recent._companies[str(quote.company).lower()] = (held[0], {**held[1], "id": 987_654})
    contact = next(iter(workflow.recent._contacts.values()))
    workflow.recent._contacts[(987_654, str(quote.contact).lower())] = contact
    before = len(world.cw_all("opportunities"))
    world.paths.clear()
    plan = await workflow.submit(make_quote(world, external_id="Q-1002"))
    assert world.paths["GET company/companies"] == 1
    assert world.paths["POST sales/opportunities"] == 1 + 1 + 4  # refused, then the opportunity and its lines
    assert plan.opportunity_id is not None
    assert plan.opportunity["company"] == {"id": real}
    assert len(world.cw_all("opportunities")) == before + 1
    assert len(forecast(world, plan.opportunity_id)) == 4
    assert await journal_of(world, "Q-1002") == []
    assert workflow.recent._companies[str(quote.company).lower()][1]["id"] == real
    world.paths.clear()
    await workflow.submit(make_quote(world, external_id="Q-1003"))
    assert world.paths["GET company/companies"] == 0
    assert world.paths["POST sales/opportunities"] == 5


async def test_a_remembered_product_id_that_holds_another_item_now_is_read_by_identifier(world: World) -> None:
    """A remembered catalog id whose item no longer has the quote's identifier: the product is looked up by its
    identifier after all, and the line gets the item that has it."""
    workflow = world.quotes()
    await workflow.submit(make_quote(world))
    first, other = products(world, 4)[0], products(world, 4)[3]
    at, _ = workflow.recent._products[first["identifier"].lower()]
    workflow.recent._products[first["identifier"].lower()] = (at, other["id"])
    world.paths.clear()
    plan = await workflow.submit(make_quote(world, external_id="Q-1002"))
    assert world.paths["GET procurement/catalog"] == 2  # by id, then the one that moved by identifier
    assert plan.lines[0].catalog_id == first["id"]
    assert plan.opportunity_id is not None
    [line_1] = [i for i in forecast(world, plan.opportunity_id) if i["sequenceNumber"] == 1]
    assert line_1["catalogItem"]["id"] == first["id"]
