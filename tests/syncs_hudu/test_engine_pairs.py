"""The asset data types on `Engine.run`: an agreement that ends is archived, a contact that moves company is created
anew there (the old asset archived), and links recorded in the nested form of earlier versions plan unchanged."""

from __future__ import annotations

import json
from typing import Any

from cwsync.connectors.connectwise import replace_ops
from cwsync.integrations.hudu.matching import Decision
from cwsync.integrations.hudu.shapes import active_agreement
from cwsync.store import Link
from tests.syncs_hudu.conftest import World, cw_record, hudu_sync_section


def _children(world: World, entity: str, company_id: int) -> list[dict[str, Any]]:
    records = (cw_record(world.cw_box, entity, i) for i in world.cw_box.store.ids(entity))
    return [r for r in records if (r.get("company") or {}).get("id") == company_id]


async def _link(world: World, pair: str, cw_id: Any) -> Link | None:
    return (await world.store.links_by_left(world.config.tenant, pair, [str(cw_id)])).get(str(cw_id))


async def test_an_agreement_that_is_cancelled_is_archived_once(world: World) -> None:
    await world.match(2)
    await world.sync()
    agreement = next(a for a in _children(world, "agreements", 2) if active_agreement(a) is None)
    link = await _link(world, "hudu:agreements", agreement["id"])
    assert link is not None
    await world.cw.patch("finance/agreements", agreement["id"], replace_ops({"cancelledFlag": True}))

    world.calls.clear()
    report = await world.sync(only=["agreements"])
    [agreements] = [t for t in report.types if t.kind == "agreements"]
    assert (agreements.counts.deleted, world.writes) == (1, 1)
    [item] = [i for i in agreements.items if i.cw_id == str(agreement["id"])]
    assert item.reason == "the agreement is cancelled: archived in Hudu"
    assert world.hudu_box.state.assets[int(link.right_id)]["archived"]
    assert await _link(world, "hudu:agreements", agreement["id"]) is None

    world.calls.clear()
    again = await world.sync(only=["agreements"])
    assert world.writes == 0
    [item] = [i for t in again.types for i in t.items if i.cw_id == str(agreement["id"])]
    assert (item.action, item.reason) == ("skip", "the agreement is cancelled (not in Hudu)")


async def test_a_contact_that_moves_company_is_created_anew_there_and_the_old_asset_archived(world: World) -> None:
    await world.match(2)
    await world.match(3)
    await world.sync()
    contact = next(c for c in _children(world, "contacts", 2) if not c.get("inactiveFlag"))
    old = await _link(world, "hudu:contacts", contact["id"])
    assert old is not None
    await world.cw.patch("company/contacts", contact["id"], replace_ops({"company": {"id": 3}, "site": None}))

    world.calls.clear()
    report = await world.sync(only=["contacts"])
    [contacts] = [t for t in report.types if t.kind == "contacts"]
    # the new asset, and the old one's archive counted as such (it was "archived 0", #13.8)
    assert (contacts.counts.created, contacts.counts.updated, contacts.counts.deleted) == (1, 0, 1)
    assert (world.calls["POST"], world.calls["PUT"]) == (1, 1)
    new = await _link(world, "hudu:contacts", contact["id"])
    assert new is not None
    assert new.right_id != old.right_id
    state = world.hudu_box.state
    assert state.assets[int(old.right_id)]["archived"]
    assert (
        int(new.right_id)
        in state.assets_by_company[world.hudu_company_id(cw_record(world.cw_box, "companies", 3)["name"])]
    )
    [item] = [i for i in contacts.items if i.cw_id == str(contact["id"])]
    assert item.reason == f"company changed: created anew, the old one ({old.right_id}) archived"
    world.calls.clear()
    await world.sync(only=["contacts"])
    assert world.writes == 0


def _nested(link: Link) -> Link:
    """A link as versions before the engine recorded it: the nested projection, the asset's URL on the right."""
    values = link.left_values
    custom = {k[len("custom.") :]: v for k, v in values.items() if k.startswith("custom.") and v is not None}
    custom = {k: json.loads(v) if k in ("Address", "Location") else v for k, v in custom.items()}
    nested = {
        "company": int(values["company"]),
        "layout": int(values["layout"]),
        "name": values["name"],
        "fields": {k[len("fields.") :]: v for k, v in values.items() if k.startswith("fields.") and v is not None},
        "custom": custom,
    }
    return Link(
        tenant=link.tenant,
        pair=link.pair,
        left_id=link.left_id,
        right_id=link.right_id,
        match_key=link.match_key,
        left_values=nested,
        right_values={"url": f"/a/{link.right_id}"},
    )


async def test_links_in_the_nested_form_of_earlier_versions_plan_unchanged(world: World) -> None:
    await world.match(2)
    await world.sync()
    for pair in ("hudu:sites", "hudu:contacts", "hudu:agreements"):
        links = [link async for batch in world.store.iter_links(world.config.tenant, pair) for link in batch]
        assert links, pair
        async with world.store.transaction() as tx:
            await tx.upsert_links([_nested(link) for link in links])

    world.calls.clear()
    again = await world.sync()
    assert world.writes == 0, world.calls
    assert again.counts.created == again.counts.updated == again.counts.deleted == 0


async def test_an_asset_matched_on_serial_stays_in_the_layout_it_was_filed_in(world: World) -> None:
    """The MSP filed the asset in another layout than the sort rule names: it is linked there, and re-syncs leave it
    there (no re-create, no write) while a changed value is written to it in place."""
    config, asset, computer, engine = await _filed_elsewhere(world, "Computer")
    link = await _link(world, "hudu:configurations", config["id"])
    assert link is not None
    assert (link.right_id, link.match_key, link.left_values["layout"]) == (
        str(asset["id"]),
        "primary_serial",
        str(computer),
    )

    world.calls.clear()
    again = await engine.run(only=["companies", "configurations"])
    assert (world.writes, again.counts.created) == (0, 0)
    await world.cw.patch("company/configurations", config["id"], replace_ops({"ipAddress": "10.99.0.7"}))
    world.calls.clear()
    changed = await engine.run(only=["companies", "configurations"])
    assert (changed.counts.updated, changed.counts.created, world.calls["PUT"], world.calls["POST"]) == (1, 0, 1, 0)
    assert world.hudu_box.state.assets[asset["id"]]["asset_layout_id"] == computer
    assert not world.hudu_box.state.assets[asset["id"]].get("archived")


async def test_an_asset_matched_on_serial_in_a_configured_layout_keeps_its_data(world: World) -> None:
    """#13.7: the sort rule files Managed Servers in Server, but the MSP's asset with the same serial is in the
    (configured) Configurations layout. Run 1 links it; run 2, nothing changed, writes nothing: it is projected with
    its own layout's labels (they used to be written empty: Configuration Type, Status and Installed On lost)."""
    _config, asset, _layout, engine = await _filed_elsewhere(world, "Configurations")
    filled = dict(world.hudu_box.state.assets[asset["id"]]["values"])
    assert filled

    world.calls.clear()
    again = await engine.run(only=["companies", "configurations"])
    assert (world.writes, again.counts.updated, again.counts.created) == (0, 0, 0)
    assert world.hudu_box.state.assets[asset["id"]]["values"] == filled


async def test_a_company_of_a_skipped_type_is_a_visible_skip(world: World) -> None:
    """#13.8: a company whose type `skip_company_types` names gets a run item saying so (`cwsync explain` answers
    it), and a linked one whose type became skipped stops syncing its assets: its sites, no longer read, are still
    in ConnectWise, so even `on_delete: archive` archives none of them (out of the run's scope, not deleted)."""
    await world.match(2)
    await world.sync()
    company = cw_record(world.cw_box, "companies", 2)
    type_name = company["types"][0]["name"]
    contact = next(c for c in _children(world, "contacts", 2) if not c.get("inactiveFlag"))
    await world.cw.patch("company/contacts", contact["id"], replace_ops({"title": "After the skip"}))
    world.calls.clear()
    skipping = world.engine(**hudu_sync_section(skip_company_types=[type_name], on_delete="archive"))
    plan = await skipping.run(dry_run=True)
    [planned] = [i for t in plan.types if t.kind == "companies" for i in t.items if i.cw_id == "2"]
    assert (planned.action, f"company type {type_name!r} is skipped" in planned.reason) == ("skip", True)
    report = await skipping.run()
    assert world.writes == 0
    sites = [i for t in report.types if t.kind == "sites" for i in t.items]
    assert sites
    assert all(i.action == "skip" and "still in ConnectWise" in i.reason for i in sites), sites
    [item] = await world.store.items_for_record(world.config.tenant, "hudu:companies", left_id="2", limit=1)
    assert item.action == "skip"
    assert f"company type {type_name!r} is skipped" in item.reason
    assert report.counts.skipped >= 1


async def _filed_elsewhere(world: World, layout_name: str) -> tuple[dict[str, Any], dict[str, Any], int, Any]:
    """A Managed/Legacy Server or VM configuration of company 7 whose serial an asset the MSP filed in `layout_name`
    already has; the company matched, and a first run with `match_assets_on_serial` that links the two. Returns the
    configuration, the asset, the layout id and the engine."""
    existing = world.hudu_box.state.create_company({"name": "Aspen (Hudu)"})
    config = next(
        c
        for c in _children(world, "configurations", 7)
        if c.get("serialNumber") and c["type"]["name"] in ("Managed Server", "Legacy Server", "Virtual Machine")
    )
    layout_id = next(i for i, layout in world.hudu_box.state.layouts.items() if layout["name"] == layout_name)
    body = {"name": "filed-elsewhere", "asset_layout_id": layout_id, "primary_serial": config["serialNumber"]}
    asset = world.hudu_box.state.create_asset(existing["id"], body)
    engine = world.engine(match_assets_on_serial=True)
    await engine.decide([Decision(7, "match", existing["id"])])
    first = await engine.run(only=["companies", "configurations"])
    assert first.counts.linked == 1
    return config, asset, layout_id, engine


async def test_progress_has_totals_from_connectwise_counts(world: World) -> None:
    """`hudu sync` draws its bars from these: a total per data type from ConnectWise's counts (not for sites, read
    per company), and every record decided."""
    from cwsync.integrations.hudu.run import HuduSyncEngine

    await world.match(2)
    done: dict[str, int] = {}
    totals: dict[str, int] = {}

    def advance(name: str, n: int) -> None:
        done[name] = done.get(name, 0) + n

    engine = HuduSyncEngine(
        world.config, world.store, world.cw, world.hudu, progress=advance, totals=lambda k, n: totals.update({k: n})
    )
    report = await engine.run()
    assert report.counts.failed == 0
    assert totals["companies"] == done["companies"]
    for kind in ("hudu:contacts", "hudu:configurations", "hudu:agreements"):
        assert totals[kind] == done[kind], kind
    assert "hudu:sites" not in totals
    assert done["hudu:sites"] > 0


async def test_an_asset_a_sort_rule_moves_is_counted_archived_in_the_plan_and_the_run(world: World) -> None:
    """#13.8: a configuration whose type now falls under another sort rule is created anew in that layout and its
    old asset archived; the plan and the run both count that archive (it was "archived 0"), and so does the
    recorded run."""
    await world.match(2)
    await world.sync()
    config = next(
        c
        for c in _children(world, "configurations", 2)
        if c["type"]["name"] in ("Managed Server", "Legacy Server", "Virtual Machine")
    )
    old = await _link(world, "hudu:configurations", config["id"])
    assert old is not None
    await world.cw.patch("company/configurations", config["id"], replace_ops({"type": {"name": "Laptop"}}))

    plan = await world.engine().run(only=["configurations"], dry_run=True)
    [planned] = [t for t in plan.types if t.kind == "configurations"]
    assert (planned.counts.created, planned.counts.deleted) == (1, 1)

    world.calls.clear()
    report = await world.sync(only=["configurations"])
    [done] = [t for t in report.types if t.kind == "configurations"]
    assert (done.counts.created, done.counts.updated, done.counts.deleted) == (1, 0, 1)
    assert world.hudu_box.state.assets[int(old.right_id)]["archived"]
    new = await _link(world, "hudu:configurations", config["id"])
    assert new is not None
    assert new.right_id != old.right_id
    computer = next(i for i, layout in world.hudu_box.state.layouts.items() if layout["name"] == "Computer")
    assert world.hudu_box.state.assets[int(new.right_id)]["asset_layout_id"] == computer
    [run] = await world.store.runs(world.config.tenant, limit=1)
    assert run.run_id == report.run_id
    assert run.counts.deleted == 1
