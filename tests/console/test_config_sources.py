"""What the configuration screens offer and check, against the sandboxes: real names, live filter counts, and the
CLI's schema checks refusing an edit before it is saved (#14)."""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML

from cwsync.config import Config
from cwsync.config.edit import add_field, set_value_map
from cwsync.config.model import FilterRule
from cwsync.console.config.checks import ChangesCheck, PropertyCache, SchemaCheck, mapping_check
from cwsync.console.config.editor import ConfigEditor
from cwsync.console.config.sources import Sources
from cwsync.core.filters import failing_rule
from cwsync.integrations.hubspot.shapes import flatten_company
from tests.syncs.test_hubspot_e2e import World
from tests.syncs.test_hubspot_e2e import world as world


def _editor(tmp_path: Path, w: World) -> ConfigEditor:
    """The world's configuration as a commented YAML file, with the CLI's checks on the world's clients."""
    data = w.config.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    data["connections"]["connectwise"]["private_key"] = "${CW_KEY}"
    data["connections"]["hubspot"]["token"] = "${HS_TOKEN}"
    data["syncs"] = {"hubspot": {"objects": {"companies": {}, "contacts": {}, "deals": {"direction": "->"}}}}
    path = tmp_path / "cwsync.yaml"
    text = io.StringIO()
    YAML(typ="safe", pure=True).dump(data, text)
    path.write_text("# written by the test\n" + text.getvalue(), encoding="utf-8")
    env = {
        "CW_KEY": w.config.connections.connectwise.private_key.get_secret_value(),
        "HS_TOKEN": w.config.connections.hubspot.token.get_secret_value(),  # type: ignore[union-attr]
    }
    checks = [mapping_check, SchemaCheck(w.cw, PropertyCache(w.hs)), ChangesCheck(w.cw)]
    return ConfigEditor(path, w.store, "default", checks=checks, environ=env)


async def test_a_date_into_a_number_property_is_refused_with_the_reason(tmp_path: Path, world: World) -> None:
    """The HubSpot schema check runs on a preview: a datetime → number mapping is refused, naming the fix."""
    editor = _editor(tmp_path, world)
    doc = editor.document()
    preview = await editor.preview(
        add_field(doc, "deals", connectwise="expectedCloseDate", hubspot="amount", direction="->")
    )
    assert preview.error is not None
    text = str(preview.error)
    assert "HubSpot cannot store a datetime in a number property" in text
    assert "syncs.hubspot.objects.deals.fields.add[0]" in text


async def test_a_value_map_to_options_the_dropdown_lacks_is_refused(tmp_path: Path, world: World) -> None:
    """A value map into a dropdown must send only its options; the valid ones are listed."""
    editor = _editor(tmp_path, world)
    preview = await editor.preview(set_value_map("companies", "lifecyclestage", {"Customer": "bestfriend"}))
    assert preview.error is not None
    assert "the value map sends bestfriend, which the dropdown does not offer" in str(preview.error)
    fine = await editor.preview(set_value_map("companies", "lifecyclestage", {"Customer": "customer", "*": "lead"}))
    assert fine.ok, fine.error


async def test_an_unknown_connectwise_field_is_refused(tmp_path: Path, world: World) -> None:
    """A mapped ConnectWise field that does not exist is named with the known ones."""
    editor = _editor(tmp_path, world)
    doc = editor.document()
    preview = await editor.preview(add_field(doc, "companies", connectwise="nmae", hubspot="cw_x", direction="->"))
    assert preview.error is not None
    assert "ConnectWise company/companies have no field 'nmae' (did you mean 'name'?)" in str(preview.error)


def _with_filters(config: Config, pair: str, rules: list[FilterRule]) -> Config:
    """`config` with `rules` as the pair's ConnectWise filters."""
    data = config.model_dump(mode="python", by_alias=True)
    data["syncs"]["hubspot"]["objects"][pair]["filters"] = {"connectwise": [r.model_dump() for r in rules]}
    return Config.model_validate(data)


async def test_filter_count_is_what_the_sync_would_keep(world: World) -> None:
    """The live count equals the records the sync's own filter keeps, over ConnectWise's total."""
    sources = Sources(world.cw)
    rules = [FilterRule(field="types", op="in", value=["Customer"])]
    counted = await sources.filter_count("companies", _with_filters(world.config, "companies", rules))
    rows = [r async for r in world.cw.stream_records("company/companies")]
    assert counted.total == len(rows)
    kept = [r for r in rows if not r.get("deletedFlag")]  # the sandbox has a deleted company: never taken
    assert counted.passing == sum(1 for r in kept if failing_rule(rules, flatten_company(r)) is None)
    assert 0 < counted.passing < counted.total
    assert counted.text().startswith(f"{counted.passing:,} of {counted.total:,} companies pass")


async def test_filter_count_takes_the_built_in_rules_as_the_sync_does(world: World) -> None:
    """A deleted company, an inactive contact and a contact without a company are not counted as passing (the
    sync skips them whatever the filters say): the counts equal the records a real sync then links."""
    companies = [r async for r in world.cw.stream_records("company/companies")]
    contacts = [r async for r in world.cw.stream_records("company/contacts")]
    await world.cw.delete("company/companies", companies[0]["id"])
    inactive = next(c for c in contacts if c.get("company") and (c["company"]["id"] != companies[0]["id"]))
    await world.cw.patch("company/contacts", inactive["id"], [{"op": "replace", "path": "inactiveFlag", "value": True}])
    await world.cw.create("company/contacts", {"firstName": "Lone", "lastName": "Wolf"})
    sources = Sources(world.cw)
    counted = {pair: await sources.filter_count(pair, world.config) for pair in ("companies", "contacts", "deals")}
    assert counted["companies"].built_in == 1 + sum(1 for r in companies if r.get("deletedFlag"))
    assert counted["contacts"].built_in >= 2  # the contacts of a deleted company are left out too
    assert "left out whatever the filters say" in counted["contacts"].text()
    report = await world.sync()
    assert report.counts.failed == 0
    for pair, count in counted.items():
        assert count.total == count.passing + count.built_in
        assert await world.store.link_count(world.config.tenant, pair) == count.passing, pair


async def test_the_forms_offer_connectwise_names(world: World) -> None:
    """Company types, boards and their statuses, and a company search come from ConnectWise."""
    sources = Sources(world.cw)
    assert "Customer" in await sources.company_types()
    assert await sources.company_statuses()
    boards = await sources.boards()
    board = next(iter(boards))
    statuses = await sources.board_statuses(board)
    assert statuses
    assert await sources.board_statuses("No Such Board") == []
    first = (await world.cw.list_page("company/companies", page_size=1))[0]
    found = await sources.search_companies(str(first["name"])[:5])
    assert first["id"] in [c["id"] for c in found]
