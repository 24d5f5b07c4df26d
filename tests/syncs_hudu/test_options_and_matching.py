"""Options on the sandboxes: asset renames, company details, serial matching; match suggestions and `--auto`."""

from __future__ import annotations

from typing import Any

from cwsync.connectors.connectwise import replace_ops
from cwsync.integrations.hudu.decisions import COMPANIES_PAIR
from cwsync.integrations.hudu.matching import Decision
from tests.syncs_hudu.conftest import World, cw_record

SERVER_TYPES = ("Managed Server", "Legacy Server", "Virtual Machine")


async def _first_configuration(world: World, cw_company: int) -> dict[str, Any]:
    """A configuration of the company that lands in the Server layout and has a serial number."""
    for i in world.cw_box.store.ids("configurations"):
        record = cw_record(world.cw_box, "configurations", i)
        if (
            record["company"]["id"] == cw_company
            and record.get("serialNumber")
            and record["type"]["name"] in SERVER_TYPES
        ):
            return record
    raise AssertionError("no such configuration in the dataset")


def _asset_of(world: World, hudu_company: int, name: str) -> list[dict[str, Any]]:
    return [a for a in world.assets(hudu_company) if a["name"] == name]


async def test_rename_only_with_auto_update(world: World) -> None:
    """A configuration renamed in ConnectWise keeps its Hudu name unless auto_update_asset_names is on."""
    await world.match(7)
    await world.sync()
    hudu_id = world.hudu_company_id(cw_record(world.cw_box, "companies", 7)["name"])
    config = await _first_configuration(world, 7)
    await world.cw.patch("company/configurations", config["id"], replace_ops({"name": "RENAMED-01"}))

    world.calls.clear()
    off = await world.engine(auto_update_asset_names=False).run(only=["configurations"])
    assert world.writes == 0
    assert _asset_of(world, hudu_id, config["name"])
    assert not _asset_of(world, hudu_id, "RENAMED-01")
    item = next(i for t in off.types for i in t.items if i.cw_id == str(config["id"]))
    assert "auto_update_asset_names is off" in item.reason

    world.calls.clear()
    await world.engine(auto_update_asset_names=True).run(only=["configurations"])
    assert world.calls["PUT"] == 1
    assert world.writes == 1
    assert _asset_of(world, hudu_id, "RENAMED-01")
    assert not _asset_of(world, hudu_id, config["name"])


async def test_changed_field_updates_only_that_asset(world: World) -> None:
    """A changed IP address is one PUT of that asset; the next run writes nothing again."""
    await world.match(7)
    await world.sync()
    config = await _first_configuration(world, 7)
    await world.cw.patch("company/configurations", config["id"], replace_ops({"ipAddress": "10.99.0.1"}))
    world.calls.clear()
    report = await world.sync()
    assert world.writes == 1
    assert report.counts.updated == 1
    hudu_id = world.hudu_company_id(cw_record(world.cw_box, "companies", 7)["name"])
    asset = _asset_of(world, hudu_id, config["name"])[0]
    assert next(f["value"] for f in asset["fields"] if f["label"] == "IP Address") == "10.99.0.1"
    world.calls.clear()
    await world.sync()
    assert world.writes == 0


async def test_company_details_held_when_option_off(world: World) -> None:
    """With update_company_details off, a matched Hudu company keeps its own details; with it on, they follow CW."""
    existing = world.hudu_box.state.create_company({"name": "Sterling Arch (docs)", "phone_number": "000"})
    engine = world.engine(update_company_details=False)
    await engine.decide([engine_decision(8, existing["id"])])
    await engine.run()
    assert world.hudu_box.state.companies[existing["id"]]["phone_number"] == "000"
    assert world.assets(existing["id"])  # the rest of the company still syncs

    await world.engine(update_company_details=True).run(only=["companies"])
    company = cw_record(world.cw_box, "companies", 8)
    stored = world.hudu_box.state.companies[existing["id"]]
    assert stored["phone_number"] == company["phoneNumber"]
    assert stored["name"] == company["name"]


def engine_decision(cw_id: int, hudu_id: int) -> Decision:
    """A match decision."""
    return Decision(cw_id, "match", hudu_id)


async def test_serial_matching_links_instead_of_duplicating(world: World) -> None:
    """With match_assets_on_serial, a pre-existing Hudu asset with the same serial is linked, not duplicated."""
    existing = world.hudu_box.state.create_company({"name": "Aspen (Hudu)"})
    config = await _first_configuration(world, 7)
    layout = next(i for i, layout in world.hudu_box.state.layouts.items() if layout["name"] == "Server")
    body = {"name": "old-name", "asset_layout_id": layout, "primary_serial": config["serialNumber"]}
    asset = world.hudu_box.state.create_asset(existing["id"], body)
    engine = world.engine(match_assets_on_serial=True)
    await engine.decide([engine_decision(7, existing["id"])])
    report = await engine.run()

    same_serial = [a for a in world.assets(existing["id"]) if a["primary_serial"] == config["serialNumber"]]
    assert [a["id"] for a in same_serial] == [asset["id"]]
    assert same_serial[0]["name"] == "old-name"  # auto-update is off: the MSP's name stays
    links = await world.store.links_by_left(world.config.tenant, "hudu:configurations", [str(config["id"])])
    assert links[str(config["id"])].right_id == str(asset["id"])
    assert links[str(config["id"])].match_key == "primary_serial"
    assert report.counts.linked == 1


async def test_without_serial_matching_a_duplicate_is_created(world: World) -> None:
    """The control: without the option the same setup creates a second asset (so the test above can fail)."""
    existing = world.hudu_box.state.create_company({"name": "Aspen (Hudu)"})
    config = await _first_configuration(world, 7)
    layout = next(i for i, layout in world.hudu_box.state.layouts.items() if layout["name"] == "Server")
    body = {"name": "old-name", "asset_layout_id": layout, "primary_serial": config["serialNumber"]}
    world.hudu_box.state.create_asset(existing["id"], body)
    engine = world.engine(match_assets_on_serial=False)
    await engine.decide([engine_decision(7, existing["id"])])
    await engine.run()
    same_serial = [a for a in world.assets(existing["id"]) if a["primary_serial"] == config["serialNumber"]]
    assert len(same_serial) == 2


async def test_suggestions_and_auto_match(world: World) -> None:
    """Identifier and normalised-name matches are exact (auto-accepted); a similar name is only suggested."""
    state = world.hudu_box.state
    by_name = state.create_company({"name": "Sagebrush Veterinary Hospital"})  # CW 3 is "... LLC"
    by_identifier = state.create_company({"name": "Aspen Freight", "id_number": "AspenTrucking7"})  # CW 7
    similar = state.create_company({"name": "Sterling Architecture"})  # CW 8 "Sterling Architects"
    engine = world.engine()
    suggestions = {s.cw_id: s for s in await engine.suggestions()}
    assert suggestions[3].candidates[0].hudu_id == by_name["id"]
    assert suggestions[3].candidates[0].reason == "name"
    assert suggestions[7].candidates[0].reason == "identifier"
    assert suggestions[8].candidates[0].hudu_id == similar["id"]
    assert suggestions[8].candidates[0].reason == "similar"
    assert 6 not in suggestions  # deleted in ConnectWise

    decided = await engine.auto_match()
    assert {(d.cw_id, d.hudu_id) for d in decided} == {(3, by_name["id"]), (7, by_identifier["id"])}
    links = await world.store.links_by_left(world.config.tenant, COMPANIES_PAIR, ["3", "7", "8"])
    assert set(links) == {"3", "7"}
    assert links["3"].right_values["url"].endswith("/c/" + state.companies[by_name["id"]]["slug"])
    again = {s.cw_id: s for s in await engine.suggestions()}
    assert again[3].decision is not None
    assert again[8].decision is None
    assert await engine.auto_match() == []


async def test_unmatched_decision_stops_a_company(world: World) -> None:
    """Deciding "unmatched" for a matched company drops its link: later runs write nothing for it."""
    await world.match(7)
    await world.sync()
    await world.engine().decide([Decision(7, "unmatched")])
    config = await _first_configuration(world, 7)
    await world.cw.patch("company/configurations", config["id"], replace_ops({"ipAddress": "10.99.0.9"}))
    world.calls.clear()
    report = await world.sync()
    assert world.writes == 0
    companies = next(t for t in report.types if t.kind == "companies")
    assert any(i.cw_id == "7" and i.reason == "left unmatched" for i in companies.items)
