"""Deals two-way (HS-1, HS-2): a HubSpot deal creates a ConnectWise opportunity for its company and contact, with
the status its stage maps to and a sales rep, and later stage changes update it; a deal without a contact waits,
saying why; a re-sync writes nothing. On both sandboxes in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cwsync.connectors.hubspot.client import association_spec
from tests.syncs.test_hubspot_e2e import World, make_config, world

__all__ = ["world"]  # the fixture, used here
OBJECTS = {"companies": {}, "contacts": {}, "deals": {"direction": "two-way"}}


async def two_way(world: World, tmp_path: Path) -> None:
    world.config = make_config(tmp_path, world.cw_box, objects=OBJECTS)
    first = await world.sync()
    assert first.counts.failed == 0


async def linked(world: World, pair: str) -> tuple[str, str]:
    async for batch in world.store.iter_link_ids("default", pair):
        return sorted(batch, key=lambda ids: int(ids[0]))[0]
    raise AssertionError(f"nothing linked in {pair}")


async def new_deal(world: World, properties: dict[str, str], **parents: str) -> str:
    types = {"companies": 341, "contacts": 3}  # HubSpot's deal_to_company_unlabeled, deal_to_contact
    specs = [association_spec(object_id, types[kind]) for kind, object_id in parents.items()]
    created: dict[str, Any] = await world.hs.create("deals", properties, associations=specs)
    return str(created["id"])


async def test_a_hubspot_deal_becomes_an_opportunity_and_follows_its_stage(world: World, tmp_path: Path) -> None:
    """Create → an opportunity (company, contact, Won, a rep) linked and stamped back; stage → status updated."""
    await two_way(world, tmp_path)
    cw_contact, hs_contact = await linked(world, "contacts")
    contact = await world.cw.get("company/contacts", int(cw_contact))
    links = await world.store.links_by_left("default", "companies", [str(contact["company"]["id"])])
    hs_company = links[str(contact["company"]["id"])].right_id
    deal = await new_deal(
        world,
        {"dealname": "Firewall refresh", "dealstage": "closedwon", "closedate": "2026-03-01"},
        companies=hs_company,
        contacts=hs_contact,
    )
    report = await world.sync()
    assert report.counts.failed == 0
    [link] = (await world.store.links_by_right("default", "deals", [deal])).values()
    opportunity = await world.cw.get("sales/opportunities", int(link.left_id))
    assert opportunity["name"] == "Firewall refresh"
    assert (opportunity["company"]["id"], opportunity["contact"]["id"]) == (contact["company"]["id"], int(cw_contact))
    assert opportunity["status"]["name"] == "Won"
    assert opportunity["primarySalesRep"]["id"]
    assert opportunity["expectedCloseDate"].startswith("2026-03-01")
    stamped = await world.hs.get("deals", deal, properties=["connectwise_opportunity_id"])
    assert stamped["properties"]["connectwise_opportunity_id"] == link.left_id

    await world.hs_change("deals", deal, {"dealstage": "closedlost"})
    await world.sync()
    assert (await world.cw.get("sales/opportunities", int(link.left_id)))["status"]["name"] == "Lost"
    again = await world.sync()
    assert (again.counts.created, again.counts.updated, again.counts.failed) == (0, 0, 0)


async def test_a_deal_without_a_contact_waits_and_says_why(world: World, tmp_path: Path) -> None:
    """ConnectWise needs an opportunity's contact: the deal is not created there, and its item names the contact."""
    await two_way(world, tmp_path)
    _, hs_company = await linked(world, "companies")
    before = len(list(world.cw_box.store.ids("opportunities")))
    deal = await new_deal(world, {"dealname": "No contact", "dealstage": "appointmentscheduled"}, companies=hs_company)
    report = await world.sync()
    assert len(list(world.cw_box.store.ids("opportunities"))) == before
    [item] = [i for p in report.pairs for i in p.items if i.right_id == deal]
    assert "contact" in item.reason


async def test_an_opportunity_an_earlier_attempt_made_is_found_not_doubled(world: World, tmp_path: Path) -> None:
    """A run killed after ConnectWise created the opportunity (nothing recorded): the next run finds it by name,
    company and contact and links it, instead of creating a second one."""
    await two_way(world, tmp_path)
    cw_contact, hs_contact = await linked(world, "contacts")
    contact = await world.cw.get("company/contacts", int(cw_contact))
    company = str(contact["company"]["id"])
    hs_company = (await world.store.links_by_left("default", "companies", [company]))[company].right_id
    deal = await new_deal(world, {"dealname": "Half done", "dealstage": "closedwon"}, companies=hs_company,
                          contacts=hs_contact)  # fmt: skip
    rep = int(next(iter(world.cw_box.store.ids("members"))))
    body = {"name": "Half done", "company": {"id": int(company)}, "contact": {"id": int(cw_contact)},
            "primarySalesRep": {"id": rep}}  # fmt: skip
    earlier = await world.cw.create("sales/opportunities", body)
    before = len(list(world.cw_box.store.ids("opportunities")))
    await world.sync()
    assert len(list(world.cw_box.store.ids("opportunities"))) == before
    [link] = (await world.store.links_by_right("default", "deals", [deal])).values()
    assert link.left_id == str(earlier["id"])
