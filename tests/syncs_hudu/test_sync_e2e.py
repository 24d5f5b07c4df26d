"""End to end on the ConnectWise and Hudu sandboxes, in-process: staged first sync, what a matched company gets,
no-op re-syncs, renames, company details, serial matching."""

from __future__ import annotations

from collections import Counter
from typing import Any

from cwsync.integrations.hudu.shapes import active_agreement
from cwsync_sandbox.connectwise.app import Sandbox
from tests.syncs_hudu.conftest import SKIPPED_TYPES, SORT_RULES, World, cw_record


def _configurations(box: Sandbox, company_id: int) -> list[dict[str, Any]]:
    out = []
    for i in box.store.ids("configurations"):
        record = cw_record(box, "configurations", i)
        if record["company"]["id"] == company_id:
            out.append(record)
    return out


def _expected_layout(type_name: str) -> str:
    for rule in SORT_RULES:
        if type_name in rule["types"]:
            return str(rule["layout"])
    return "Configurations"


def _cw_children(box: Sandbox, entity: str, company_id: int) -> list[dict[str, Any]]:
    records = (cw_record(box, entity, i) for i in box.store.ids(entity))
    return [r for r in records if (r.get("company") or {}).get("id") == company_id]


async def test_without_decisions_nothing_is_imported(world: World) -> None:
    """A first sync with no match decisions creates nothing in Hudu and says how many companies await one."""
    before = world.hudu_box.state.counts()
    report = await world.sync()
    assert world.hudu_box.state.counts()["assets"] == before["assets"]
    assert world.hudu_box.state.counts()["companies"] == before["companies"]
    assert report.awaiting_decision > 0
    assert report.counts.created == 0
    companies = next(t for t in report.types if t.kind == "companies")
    assert companies.counts.skipped == report.awaiting_decision


async def test_matched_company_gets_everything_in_the_right_layouts(world: World) -> None:
    """A company created from ConnectWise gets its locations, contacts, configurations by sort rule and agreements."""
    cw_id = 2
    seeded = set(world.hudu_box.state.companies)
    await world.match(cw_id)  # create new
    report = await world.sync()
    assert report.error is None
    company = cw_record(world.cw_box, "companies", cw_id)
    hudu_id = world.hudu_company_id(company["name"])
    assets = world.assets(hudu_id)
    by_layout = Counter(a["asset_type"] for a in assets)

    configurations = _configurations(world.cw_box, cw_id)
    expected = Counter(
        _expected_layout(c["type"]["name"]) for c in configurations if c["type"]["name"] not in SKIPPED_TYPES
    )
    assert expected["Configurations"] > 0, expected  # the data exercises the default layout
    assert len(expected) > 1, expected  # ... and at least one sort rule
    for layout, n in expected.items():
        assert by_layout[layout] == n, (layout, by_layout)
    names = {a["name"] for a in assets}
    skipped = [c for c in configurations if c["type"]["name"] in SKIPPED_TYPES]
    assert skipped
    assert not any(c["name"] in names for c in skipped)

    contacts = [c for c in _cw_children(world.cw_box, "contacts", cw_id) if not c.get("inactiveFlag")]
    assert by_layout["People"] == len(contacts) > 0
    sites = [cw_record(world.cw_box, "sites", i) for i in world.cw_box.store.ids("sites")]
    own_sites = [s for s in sites if s["company"]["id"] == cw_id and not s.get("inactiveFlag")]
    assert by_layout["Locations"] == len(own_sites) > 0
    agreements = _cw_children(world.cw_box, "agreements", cw_id)
    assert by_layout["Agreements"] == sum(1 for a in agreements if active_agreement(a) is None) > 0
    assert set(by_layout) == {"People", "Locations", "Agreements", *expected}

    # Nothing was created for any other company.
    created = {c["id"] for c in world.hudu_box.state.companies.values()} - seeded
    assert created == {hudu_id}


async def test_a_plan_shows_the_records_of_companies_it_would_create(world: World) -> None:
    """A dry run plans the locations, contacts, configurations and agreements of a company it would create (the
    company is not in Hudu yet), writes nothing, and plans exactly what the sync then creates."""
    await world.match(2)  # create new
    world.calls.clear()
    plan = await world.sync(dry_run=True)
    assert world.writes == 0, world.calls
    planned = {t.kind: t.counts.created for t in plan.types}
    assert planned["companies"] == 1
    assert all(planned[kind] > 0 for kind in ("sites", "contacts", "configurations", "agreements")), planned
    contacts = next(t for t in plan.types if t.kind == "contacts")
    assert all("in the company this run creates" in i.reason for i in contacts.items if i.action == "create")
    done = await world.sync()
    assert {t.kind: t.counts.created for t in done.types} == planned


async def test_an_asset_deleted_in_hudu_comes_back_on_the_next_resync_but_an_archived_one_stays(world: World) -> None:
    """As Hudu's own integrations: a deleted card reappears on the next re-sync; an archived one is left archived.
    A callback's quick re-sync (no verification) trusts its links and writes nothing."""
    await world.match(2)
    await world.sync()
    hudu_id = world.hudu_company_id(cw_record(world.cw_box, "companies", 2)["name"])
    people = sorted((a for a in world.assets(hudu_id) if a["asset_type"] == "People"), key=lambda a: a["id"])
    deleted, archived = people[0], people[1]
    world.hudu_box.state.delete_asset(hudu_id, deleted["id"])
    world.hudu_box.state.set_asset_archived(hudu_id, archived["id"], True)

    world.calls.clear()
    quick = await world.sync(verify=False)
    assert (quick.counts.created, world.writes) == (0, 0)

    again = await world.sync()
    contacts = next(t for t in again.types if t.kind == "contacts")
    assert contacts.counts.created == 1
    [item] = [i for i in contacts.items if i.action == "create"]
    assert item.reason.startswith("its asset was deleted in Hudu")
    names = [a["name"] for a in world.assets(hudu_id) if a["asset_type"] == "People" and not a["archived"]]
    assert deleted["name"] in names
    assert archived["name"] not in names  # still archived, not duplicated
    assert world.hudu_box.state.assets[archived["id"]]["archived"]
    settled = await world.sync()
    assert settled.counts.created == settled.counts.updated == 0


async def test_resync_writes_nothing(world: World) -> None:
    """Once synced, a re-sync makes no write to Hudu and plans everything unchanged."""
    await world.match(2)
    await world.match(3)
    first = await world.sync()
    assert first.counts.created > 10
    world.calls.clear()
    again = await world.sync()
    assert world.writes == 0, world.calls
    assert again.counts.created == again.counts.updated == again.counts.failed == 0
    assert again.counts.unchanged == first.counts.created + first.counts.updated + first.counts.linked


async def test_an_incremental_resync_reads_only_what_changed_and_a_new_match_reads_its_company(world: World) -> None:
    """After a full sync, an incremental one plans only the contact changed in ConnectWise (nothing else is read
    as a record), and matching another company makes the next incremental run read that type in full."""
    await world.match(2)
    await world.sync()
    [contact, *_] = _cw_children(world.cw_box, "contacts", 2)
    await world.cw.patch("company/contacts", contact["id"], [{"op": "replace", "path": "title", "value": "CFO"}])
    again = await world.sync(full=False, only=["contacts"])
    [contacts] = [t for t in again.types if t.kind == "contacts"]
    assert (contacts.counts.updated, contacts.counts.unchanged, contacts.counts.created) == (1, 0, 0)
    assert (await world.store.runs(world.config.tenant, limit=1))[0].kind == "incremental"
    quiet = await world.sync(full=False, only=["contacts"])
    assert [t.counts.total for t in quiet.types if t.kind == "contacts"] == [1]  # the 5 s overlap re-reads it
    await world.match(3)
    widened = await world.sync(full=False, only=["companies", "contacts"])  # the company is created, then its contacts
    [contacts] = [t for t in widened.types if t.kind == "contacts"]
    assert contacts.counts.created == len(_cw_children(world.cw_box, "contacts", 3))
    assert contacts.counts.unchanged >= len(_cw_children(world.cw_box, "contacts", 2)) - 1
