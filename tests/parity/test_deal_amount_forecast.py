"""Deals: amount ↔ forecast where configured (HS-1, HS-2). Mapping `forecast/revenue` to the deal's `amount` makes
an opportunity's forecast total reach the deal, and a deal's amount reach the opportunity's forecast through one
forecast line of cwsync's own — looked up before every write, so re-runs and earlier half-done writes never add a
second. Unmapped, no forecast is read or written. On both sandboxes in-process."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from cwsync.integrations.hubspot.shapes import FORECAST_LINE, ForecastWrite, forecast_total, plan_forecast
from tests.parity.test_deals_two_way import linked, new_deal
from tests.syncs.test_hubspot_e2e import World, make_config, world

__all__ = ["world"]  # the fixture, used here
AMOUNT = {"connectwise": "forecast/revenue", "hubspot": "amount", "type": "number"}
OBJECTS = {"companies": {}, "contacts": {}, "deals": {"direction": "two-way", "fields": {"add": [AMOUNT]}}}


async def forecast(world: World, opportunity: str) -> list[dict[str, Any]]:
    """The opportunity's forecast items, read from the ConnectWise sandbox's API."""
    rows = await world.cw.list_page(f"sales/opportunities/{opportunity}/forecast")
    return [item for row in rows for item in row["forecastItems"]]


def total(items: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(i["revenue"])) for i in items if i.get("includeFlag") is not False), Decimal(0))


def mine(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in items if i.get("forecastDescription") == FORECAST_LINE]


async def amount_of(world: World, deal: str) -> Decimal | None:
    value = (await world.hs.get("deals", deal, properties=["amount"]))["properties"].get("amount")
    return Decimal(value) if value not in (None, "") else None


async def configured(world: World, tmp_path: Path) -> tuple[str, str]:
    """The amount mapped, a first sync: a linked opportunity that has forecast items and its deal."""
    world.config = make_config(tmp_path, world.cw_box, objects=OBJECTS)
    first = await world.sync()
    assert first.counts.failed == 0
    async for batch in world.store.iter_link_ids("default", "deals"):
        for left, right in sorted(batch, key=lambda ids: int(ids[0])):
            if await forecast(world, left):
                return left, right
    raise AssertionError("no linked opportunity has forecast items")


async def test_the_forecast_total_becomes_the_amount_and_the_amount_moves_one_line(
    world: World, tmp_path: Path
) -> None:
    """ConnectWise → HubSpot: the deal's amount is the forecast's total. HubSpot → ConnectWise: an amount change
    adds cwsync's line for the difference, a second change updates that same line, a stage change gives it the
    opportunity's status, a re-run writes nothing."""
    opportunity, deal = await configured(world, tmp_path)
    items = await forecast(world, opportunity)
    assert await amount_of(world, deal) == total(items)
    assert mine(items) == []  # reading never writes

    await world.hs_change("deals", deal, {"amount": str(total(items) + 250)})
    report = await world.sync()
    assert report.counts.failed == 0
    after = await forecast(world, opportunity)
    [line] = mine(after)
    assert (Decimal(str(line["revenue"])), total(after)) == (Decimal(250), total(items) + 250)
    assert len(after) == len(items) + 1

    await world.hs_change("deals", deal, {"amount": str(total(items) + Decimal("400.5"))})
    await world.sync()
    again = await forecast(world, opportunity)
    assert [i["id"] for i in mine(again)] == [line["id"]]  # the same line, updated
    assert total(again) == total(items) + Decimal("400.5")
    stage, status = ("closedlost", "Lost") if line["status"]["name"] == "Won" else ("closedwon", "Won")
    await world.hs_change("deals", deal, {"dealstage": stage})  # won (or lost) in HubSpot: so is cwsync's line
    await world.sync()
    [moved] = mine(await forecast(world, opportunity))
    assert (moved["id"], moved["status"]["name"]) == (line["id"], status)
    others = [i for i in await forecast(world, opportunity) if i["id"] != line["id"]]
    assert [i["status"] for i in others] == [i["status"] for i in items]  # the users' lines are theirs
    quiet = await world.sync(full=True)
    assert (quiet.counts.created, quiet.counts.updated, quiet.counts.failed) == (0, 0, 0)
    assert len(await forecast(world, opportunity)) == len(items) + 1


async def test_a_forecast_changed_in_connectwise_reaches_the_amount(world: World, tmp_path: Path) -> None:
    """A line a ConnectWise user adds: the next full run sends the new total to the deal."""
    opportunity, deal = await configured(world, tmp_path)
    before = total(await forecast(world, opportunity))
    status = (await world.cw.get("sales/opportunities", int(opportunity)))["status"]
    line = {"forecastDescription": "Extra licences", "forecastType": "Product", "revenue": 321.25,
            "status": {"id": status["id"]}, "includeFlag": True}  # fmt: skip
    await world.cw.create(f"sales/opportunities/{opportunity}/forecast", {"forecastItems": [line]})
    report = await world.sync(full=True)
    assert report.counts.failed == 0
    assert await amount_of(world, deal) == before + Decimal("321.25")


async def test_a_new_deal_gets_its_amount_as_one_forecast_line(world: World, tmp_path: Path) -> None:
    """A HubSpot deal with an amount, whose opportunity and line an earlier attempt already made (killed before it
    recorded anything): the run finds both and adds no second line; a later amount updates that line."""
    await configured(world, tmp_path)
    cw_contact, hs_contact = await linked(world, "contacts")
    contact = await world.cw.get("company/contacts", int(cw_contact))
    company = str(contact["company"]["id"])
    hs_company = (await world.store.links_by_left("default", "companies", [company]))[company].right_id
    deal = await new_deal(
        world, {"dealname": "Backup appliance", "dealstage": "closedwon", "amount": "1200"},
        companies=hs_company, contacts=hs_contact,
    )  # fmt: skip
    rep = int(next(iter(world.cw_box.store.ids("members"))))
    won = [s for s in await world.cw.list_page("sales/opportunities/statuses") if s["name"] == "Won"]
    status = {"id": won[0]["id"]}
    body = {"name": "Backup appliance", "company": {"id": int(company)}, "contact": {"id": int(cw_contact)},
            "primarySalesRep": {"id": rep}, "status": status}  # fmt: skip
    earlier = await world.cw.create("sales/opportunities", body)
    path = f"sales/opportunities/{earlier['id']}/forecast"
    half = {"forecastDescription": FORECAST_LINE, "forecastType": "Other1", "revenue": 1200.0, "status": status}
    await world.cw.create(path, {"forecastItems": [half]})
    report = await world.sync()
    assert report.counts.failed == 0
    [link] = (await world.store.links_by_right("default", "deals", [deal])).values()
    assert link.left_id == str(earlier["id"])
    items = await forecast(world, link.left_id)
    [line] = mine(items)
    assert (Decimal(str(line["revenue"])), len(items)) == (Decimal(1200), 1)
    assert (await world.sync()).counts.updated == 0

    await world.hs_change("deals", deal, {"amount": "1500"})
    assert (await world.sync()).counts.failed == 0
    after = await forecast(world, link.left_id)
    assert ([i["id"] for i in mine(after)], total(after)) == ([line["id"]], Decimal(1500))


async def test_other_lines_above_the_amount_fail_the_deal_with_the_reason(world: World, tmp_path: Path) -> None:
    """cwsync writes only its own line: when ConnectWise's other lines already total more than the new amount, the
    record fails saying so, and the forecast is left as it was."""
    opportunity, deal = await configured(world, tmp_path)
    before = total(await forecast(world, opportunity))
    await world.hs_change("deals", deal, {"amount": str(before - 1)})
    refused = await world.sync()
    assert refused.run_id is not None
    assert refused.counts.failed == 1
    [item] = await world.store.run_items(refused.run_id, status="failed")
    assert item.right_id == deal
    assert f"other forecast lines total {format(before.normalize(), 'f')}" in item.reason
    after = await forecast(world, opportunity)
    assert (total(after), mine(after)) == (before, [])


async def test_unmapped_the_amount_is_left_alone(world: World, tmp_path: Path) -> None:
    """Without the mapping (the default) deals get no amount from ConnectWise and no forecast line is written."""
    world.config = make_config(tmp_path, world.cw_box, objects={**OBJECTS, "deals": {"direction": "two-way"}})
    assert (await world.sync()).counts.failed == 0
    opportunity, deal = await linked(world, "deals")
    assert await amount_of(world, deal) is None
    await world.hs_change("deals", deal, {"amount": "999"})
    await world.sync()
    assert mine(await forecast(world, opportunity)) == []


def test_a_lost_answers_twin_line_is_removed_and_the_first_kept() -> None:
    """Two lines of cwsync's (a POST whose answer was lost, then sent again): the first holds the difference, the
    other is removed; an empty amount removes cwsync's lines; a line already right is kept as it is."""
    others = {"id": 3, "forecastDescription": "Hardware", "revenue": 100.0, "includeFlag": True}
    excluded = {"id": 4, "forecastDescription": "Maybe", "revenue": 900.0, "includeFlag": False}
    twins = [{"id": n, "forecastDescription": FORECAST_LINE, "revenue": 50.0} for n in (7, 9)]
    items = [others, excluded, *twins]
    assert plan_forecast(items, "400") == ForecastWrite("update", 7, 300.0, (9,))
    assert plan_forecast(items, None) == ForecastWrite("remove", extra=(7, 9))
    assert plan_forecast([others, twins[0]], "150") == ForecastWrite("keep", 7, 50.0)
    assert plan_forecast([others], "100") == ForecastWrite("keep", revenue=0.0)
    assert forecast_total(items) == "200"
    assert forecast_total([excluded]) is None
