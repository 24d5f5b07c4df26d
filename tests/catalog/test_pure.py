"""The pure parts: company-type priority, product projection and plan, quote plan diff, config checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cwsync.config.catalog import CatalogSync
from cwsync.core.priority import order_types, pick_company_type
from cwsync.engine.oneway import Decision, decide
from cwsync.integrations.catalog.products import product_pair, project_product
from cwsync.integrations.hubspot.shapes import flatten_company
from cwsync.store import Link
from cwsync.workflows.quotes.document import PlannedLine, Quote, plan_quote

SYNC = CatalogSync(categories={"Hardware": "Devices"}, default_category="Misc", product_types={"Hardware": "HW"})


def item(**overrides: Any) -> dict[str, Any]:
    """A catalog item as ConnectWise returns it."""
    record: dict[str, Any] = {
        "id": 7,
        "identifier": "DELL-1",
        "description": "Dell box",
        "inactiveFlag": False,
        "category": {"id": 1, "name": "Hardware"},
        "subcategory": {"id": 1, "name": "Desktops"},
        "type": {"id": 1, "name": "Hardware"},
        "price": 100,
        "cost": 80.5,
    }
    record.update(overrides)
    return record


def test_customer_over_prospect_by_default_and_configurable() -> None:
    """Customer beats Prospect with the default list; the configured order decides otherwise."""
    assert pick_company_type(["Prospect", "Customer"]) == "Customer"
    assert pick_company_type(["Prospect", "Customer"], ["Prospect", "Customer"]) == "Prospect"
    assert pick_company_type([]) is None
    assert order_types(["Zeta", "Vendor", "customer"]) == ["customer", "Vendor", "Zeta"]


def test_hubspot_flattening_carries_the_priority_type() -> None:
    """The HubSpot sync's flattened company names its priority type (`company_type`) and lists types by priority."""
    flat = flatten_company({"id": 3, "name": "Acme", "types": [{"name": "Prospect"}, {"name": "Customer"}]})
    assert flat["company_type"] == "Customer"
    assert flat["types"] == ["Customer", "Prospect"]


def test_mapped_and_default_values() -> None:
    """Mapped category and type are used; an unmapped category gets the default and a note."""
    mapped = project_product(item(), SYNC)
    assert mapped.properties["connectwise_category"] == "Devices"
    assert mapped.properties["connectwise_product_type"] == "HW"
    assert mapped.properties["hs_cost_of_goods_sold"] == "80.50"
    unmapped = project_product(item(category={"name": "Cloud"}, type={"name": "Fee"}), SYNC)
    assert unmapped.properties["connectwise_category"] == "Misc"
    assert unmapped.properties["connectwise_product_type"] == "Other"
    assert any("category 'Cloud' unmapped" in n for n in unmapped.notes)


def test_custom_status_and_terms() -> None:
    """A custom status from a custom field maps to a custom HubSpot value; a monthly term maps to P1M."""
    sync = CatalogSync(status_field="Lifecycle", product_statuses={"Active": "active", "EOL": "End of life"})
    projected = project_product(
        item(
            customFields=[{"caption": "Lifecycle", "value": "EOL"}],
            recurringFlag=True,
            recurringBillCycle={"id": 1, "name": "Monthly"},
            recurringCycleType="ContractYear",
        ),
        sync,
    )
    assert projected.target == "End of life"
    assert projected.properties["connectwise_product_status"] == "End of life"
    assert projected.properties["hs_recurring_billing_period"] == "P1M"


def test_term_is_the_bill_cycle_not_the_cycle_type() -> None:
    """The period comes from `recurringBillCycle`; `recurringCycleType` (ContractYear/CalendarYear) names none."""
    sync = CatalogSync()
    yearly = project_product(
        item(recurringFlag=True, recurringBillCycle={"id": 4, "name": "Yearly"}, recurringCycleType="CalendarYear"),
        sync,
    )
    assert yearly.properties["hs_recurring_billing_period"] == "P12M"
    no_cycle = project_product(item(recurringFlag=True, recurringCycleType="ContractYear"), sync)
    assert "hs_recurring_billing_period" not in no_cycle.properties
    assert not any("ContractYear" in note for note in no_cycle.notes)
    odd = project_product(item(recurringFlag=True, recurringBillCycle={"id": 9, "name": "Fortnightly"}), sync)
    assert "hs_recurring_billing_period" not in odd.properties
    assert any("'Fortnightly' unmapped" in note for note in odd.notes)


async def plan_product(record: dict[str, Any], link: Link | None) -> Decision:
    """The engine's decision for one item of the catalog pair against its link (no source or target is used)."""
    pair = product_pair(SYNC, source=None, target=None)  # type: ignore[arg-type]
    [decision] = await decide(pair, [record], {} if link is None else {str(record["id"]): link})
    return decision


async def test_product_plans() -> None:
    """New → create; same → unchanged; inactive and linked → archive (delete); inactive, never synced → skip;
    archived and active again → created again."""
    created = await plan_product(item(), None)
    assert created.action == "create"
    link = Link(tenant="t", pair="catalog:products", left_id="7", right_id="55", left_values=dict(created.values))
    assert (await plan_product(item(), link)).action == "unchanged"
    kept = {k: "" if v is None else v for k, v in created.values.items() if k != "hs_recurring_billing_period"}
    earlier = Link(
        tenant="t", pair="catalog:products", left_id="7", right_id="55", left_values={**kept, "state": "active"}
    )
    assert (await plan_product(item(), earlier)).action == "unchanged"  # a link as the catalog's own engine kept it
    assert (await plan_product(item(price=120), link)).diff == {"price": ("100.00", "120.00")}
    archived = await plan_product(item(inactiveFlag=True), link)
    assert archived.action == "delete"
    assert archived.right_id == "55"
    skipped = await plan_product(item(inactiveFlag=True), None)
    assert skipped.action == "skip"
    assert "not in HubSpot" in skipped.reason
    tombstone = Link(tenant="t", pair="catalog:products", left_id="7", right_id="55", left_values={"state": "archived"})
    assert (await plan_product(item(inactiveFlag=True), tombstone)).reason.endswith("(already archived)")
    again = await plan_product(item(), tombstone)
    assert (again.action, again.reason) == ("create", "reactivated: created again (HubSpot keeps the archived one)")


def _line(position: int, quantity: float) -> PlannedLine:
    return PlannedLine(position, f"P{position}", position, "x", quantity, 10.0, 5.0, "Product")


def test_quote_plan_diffs_lines_against_what_was_stored() -> None:
    """Unchanged lines are kept, a changed one replaced, a new one added, a dropped one removed."""
    quote = Quote(external_id="Q", company=1, contact="a@b.c", lines=[{"product": "P1", "quantity": 1, "price": 1}])
    kw: dict[str, Any] = {"opportunity": {"name": "Q"}, "status_id": 2, "company": {}, "contact": {}}
    stored = {
        "opportunity": {"name": "Q"},
        "lines": [
            {"position": 1, "forecast_id": 11, "hash": _line(1, 1).digest(2)},
            {"position": 2, "forecast_id": 12, "hash": _line(2, 1).digest(2)},
            {"position": 4, "forecast_id": 14, "hash": "old"},
        ],
    }
    plan = plan_quote(quote, lines=[_line(1, 1), _line(2, 3), _line(3, 1)], stored=stored, opportunity_id=9, **kw)
    assert [(c.op, c.position, c.forecast_id) for c in plan.changes] == [
        ("keep", 1, 11),
        ("replace", 2, 12),
        ("add", 3, None),
        ("remove", 4, 14),
    ]
    assert plan.action == "update"
    assert plan.totals == {"revenue": 50.0, "cost": 25.0, "margin": 25.0}
    same = plan_quote(
        quote, lines=[_line(1, 1), _line(2, 1)], stored={**stored, "lines": stored["lines"][:2]}, opportunity_id=9, **kw
    )
    assert same.action == "unchanged"


def test_config_refuses_a_type_listed_twice() -> None:
    """`company_type_priority` naming a type twice is a configuration error."""
    with pytest.raises(ValidationError, match="twice"):
        CatalogSync(company_type_priority=["Customer", "customer"])


# -- what recent quotes resolved (`Recent`) ---------------------------------------------------------------------


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recent_quote(**overrides: Any) -> Quote:
    body: dict[str, Any] = {
        "external_id": "Q-1",
        "company": "AcmeCorp",
        "contact": "Ann@Acme.example",
        "lines": [{"product": "DELL-1", "quantity": 1, "price": 10}],
        "shipping": 5,
    }
    return Quote.model_validate(body | overrides)


def planned(product: str, catalog_id: int, position: int = 1) -> PlannedLine:
    return PlannedLine(position, product, catalog_id, product, 1, 10, 5, "Product")


def test_recent_stands_in_for_links_until_its_seconds_are_over() -> None:
    """What a quote read is known to the next quotes naming the same records (any case) for `seconds` after it
    was read; then nothing is."""
    from cwsync.workflows.quotes.workflow import Known, Recent

    clock = Clock()
    recent = Recent(60, clock=clock)
    quote = recent_quote()
    company = {"id": 5, "identifier": "AcmeCorp", "name": "Acme", "type": "Client"}
    contact = {"id": 9, "firstName": "Ann", "lastName": "Lee", "company": {"id": 5}}
    recent.keep(quote, company, contact, [planned("DELL-1", 7), planned("SHIP-GROUND", 3, 2)])
    clock.now += 59
    known = recent.fill(recent_quote(company="acmecorp", contact="ann@acme.example"), Known(), "SHIP-GROUND")
    assert known.company is not None
    assert known.contact is not None
    assert (known.company["id"], known.company["type"], known.contact["id"]) == (5, "Client", 9)
    assert known.products == {"dell-1": 7, "ship-ground": 3}
    assert known.covers(quote, CatalogSync(shipping_product="SHIP-GROUND"))
    clock.now += 1
    assert recent.fill(quote, Known(), "SHIP-GROUND") == Known()


def test_recent_does_not_renew_what_was_not_read_again() -> None:
    """A company and contact taken from memory (None: not read) keep the time they were read; products, read
    again beside every create, are renewed."""
    from cwsync.workflows.quotes.workflow import Known, Recent

    clock = Clock()
    recent = Recent(60, clock=clock)
    quote = recent_quote()
    recent.keep(quote, {"id": 5}, {"id": 9, "company": {"id": 5}}, [planned("DELL-1", 7)])
    clock.now += 50
    recent.keep(quote, None, None, [planned("DELL-1", 7)])
    clock.now += 20
    known = recent.fill(quote, Known(), None)
    assert (known.company, known.contact, known.products) == (None, None, {"dell-1": 7})


def test_recent_forgets_what_a_refusal_names_and_its_oldest_beyond_its_size() -> None:
    from cwsync.workflows.quotes.document import QuoteRefused
    from cwsync.workflows.quotes.workflow import Known, Recent

    recent = Recent(60, size=2)
    quote = recent_quote(
        lines=[{"product": "A", "quantity": 1, "price": 1}, {"product": "B", "quantity": 1, "price": 1}]
    )
    recent.keep(quote, {"id": 5}, {"id": 9, "company": {"id": 5}}, [planned("A", 1), planned("B", 2, 2)])
    recent.forget(quote, QuoteRefused("unknown_product", "not in the ConnectWise catalog: B"), None)
    known = recent.fill(quote, Known(), None)
    assert known.products == {}
    assert known.company is not None
    assert known.contact is not None
    recent.forget(quote, QuoteRefused("unknown_contact", "ConnectWise refused the linked contact"), None)
    assert recent.fill(quote, Known(), None) == Known()
    recent.keep(quote, None, None, [planned("A", 1), planned("B", 2, 2), planned("C", 3, 3)])
    assert recent.fill(
        recent_quote(lines=[{"product": p, "quantity": 1, "price": 1} for p in "ABC"]), Known(), None
    ).products == {"b": 2, "c": 3}


def test_recent_keeps_and_gives_nothing_under_a_blank_text() -> None:
    """A quote naming a blank company, contact or product names no record: nothing is remembered under the empty
    text, and nothing remembered stands in for it (issue 20: one workflow serves every quote of a tenant)."""
    from cwsync.workflows.quotes.workflow import Known, Recent

    recent = Recent(60)
    blank = recent_quote(company=" ", contact="", lines=[{"product": " ", "quantity": 1, "price": 1}], shipping=0)
    recent.keep(blank, {"id": 5}, {"id": 9, "company": {"id": 5}}, [planned(" ", 7)])
    assert (recent._companies, recent._contacts, recent._products) == ({}, {}, {})
    recent.keep(recent_quote(), {"id": 5}, {"id": 9, "company": {"id": 5}}, [planned("DELL-1", 7)])
    assert recent.fill(blank, Known(), None) == Known()
    no_contact = recent.fill(recent_quote(contact=" "), Known(), None)
    assert (no_contact.company is not None, no_contact.contact) == (True, None)
