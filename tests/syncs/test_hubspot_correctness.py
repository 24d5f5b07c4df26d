"""The HubSpot pairs keep the correctness contract where they used to break it (#13): filters hold for linked
records both ways, the one-record path matches like a batch run, and a HubSpot-side deletion leaves no dangling link.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from cwsync.connectors.http import CwsyncApiError
from cwsync.core.plan import EXCLUDED
from cwsync.engine.pair import Write, WriteResult
from cwsync.integrations.hubspot.properties import FLAG
from cwsync.integrations.hubspot.run import HubSpotSync, RecordRef
from cwsync.integrations.hubspot.target import HubSpotTarget
from tests.syncs.test_hubspot_e2e import World, _expected_companies, make_config
from tests.syncs.test_hubspot_e2e import world as world

GOLD_ONLY = {"filters": {"connectwise": [{"field": "customFields/Tier", "op": "eq", "value": "Gold"}]}}


def _tier(company: dict[str, Any]) -> str | None:
    return next((f.get("value") for f in company.get("customFields", []) if f.get("caption") == "Tier"), None)


def _companies_of_tier(world: World, tier: str) -> list[dict[str, Any]]:
    return [c for c in _expected_companies(world.cw_box).values() if _tier(c) == tier]


async def _hs_company(world: World, hs_id: str) -> dict[str, Any]:
    return await world.hs.get("companies", hs_id, properties=["name", "phone", "connectwise_company_id"])


async def _with_properties(world: World) -> None:
    """cwsync's custom properties exist in HubSpot (as after `cwsync hubspot create-properties`)."""
    await HubSpotSync(world.config, world.store, world.cw, world.hs).prepare()


async def _link(world: World, pair: str, left_id: Any) -> Any:
    return (await world.store.links_by_left(world.config.tenant, pair, [str(left_id)])).get(str(left_id))


async def test_a_linked_company_that_leaves_the_filter_stops_syncing(tmp_path: Path, world: World) -> None:
    """HS-7: a linked Silver company renamed after a Gold-only filter is configured is not updated in HubSpot (it
    was); the run item says why, and the HubSpot company is kept (the default `on_filtered: keep`)."""
    await world.sync()
    silver = _companies_of_tier(world, "Silver")[0]
    hs_id = (await _link(world, "companies", silver["id"])).right_id
    world.config = make_config(tmp_path, world.cw_box, objects={"companies": GOLD_ONLY})
    await world.cw.patch("company/companies", silver["id"], [{"op": "replace", "path": "name", "value": "Renamed"}])
    report = await world.sync()
    assert (await _hs_company(world, hs_id))["properties"]["name"] == silver["name"]
    assert report.pairs[0].counts.updated == 0
    [item] = await world.store.items_for_record(world.config.tenant, "companies", left_id=str(silver["id"]), limit=1)
    assert item.action == "skip"
    assert "filtered out: customFields/Tier" in item.reason
    assert "kept" in item.reason


async def test_a_hubspot_change_to_a_filtered_out_company_does_not_reach_connectwise(
    tmp_path: Path, world: World
) -> None:
    """The filter holds the other way too: once a linked company is filtered out, a HubSpot user's change to its
    counterpart is not written into ConnectWise (the filter changed, so the next run read ConnectWise in full)."""
    await world.sync()
    silver = _companies_of_tier(world, "Silver")[0]
    hs_id = (await _link(world, "companies", silver["id"])).right_id
    world.config = make_config(tmp_path, world.cw_box, objects={"companies": GOLD_ONLY})
    await world.sync()
    await world.hs_change("companies", hs_id, {"phone": "+1 555 000 1111"})
    await world.sync()
    after = world.cw_box.store.get("companies", silver["id"])
    assert after is not None
    assert after.get("phoneNumber") == silver.get("phoneNumber")
    [item] = await world.store.items_for_record(world.config.tenant, "companies", right_id=hs_id, limit=1)
    assert item.action == "skip"
    assert "filtered out" in item.reason


async def test_on_filtered_archive_archives_the_counterpart(tmp_path: Path, world: World) -> None:
    """`on_filtered: archive`: the counterpart of a record that leaves the filter is archived and the link dropped."""
    await world.sync()
    silver = _companies_of_tier(world, "Silver")[0]
    hs_id = (await _link(world, "companies", silver["id"])).right_id
    world.config = make_config(tmp_path, world.cw_box, objects={"companies": {**GOLD_ONLY, "on_filtered": "archive"}})
    report = await world.sync()
    assert hs_id not in [c["id"] for c in await world.hs_all("companies")]
    assert await _link(world, "companies", silver["id"]) is None
    assert report.pairs[0].counts.deleted == len(_expected_companies(world.cw_box)) - 1
    [item] = await world.store.items_for_record(world.config.tenant, "companies", left_id=str(silver["id"]), limit=1)
    assert item.action == "delete"
    assert "filtered out" in item.reason


async def test_a_linked_contact_made_inactive_stops_syncing(world: World) -> None:
    """A linked contact set inactive in ConnectWise keeps its HubSpot contact, which no longer follows it."""
    await world.sync()
    batch = await anext(aiter(world.store.iter_link_ids(world.config.tenant, "contacts")))
    link = await _link(world, "contacts", batch[0][0])
    await world.cw.patch(
        "company/contacts",
        int(link.left_id),
        [{"op": "replace", "path": "inactiveFlag", "value": True}, {"op": "replace", "path": "title", "value": "Gone"}],
    )
    await world.sync()
    got = await world.hs.get("contacts", link.right_id, properties=["jobtitle"])
    assert got["properties"].get("jobtitle") != "Gone"
    [item] = await world.store.items_for_record(world.config.tenant, "contacts", left_id=link.left_id, limit=1)
    assert item.action == "skip"
    assert "inactive" in item.reason


async def test_companies_the_filter_excludes_are_never_linked_on_a_first_sync(tmp_path: Path, world: World) -> None:
    """On a fresh store, a HubSpot company with the identifier of a filtered-out ConnectWise company is not linked
    by the HubSpot-side pass, and its phone is not overwritten."""
    silver = _companies_of_tier(world, "Silver")[0]
    await _with_properties(world)
    made = await world.hs.create(
        "companies", {"name": "Pre-existing", "connectwise_company_id": silver["identifier"], "phone": "111"}
    )
    world.config = make_config(tmp_path, world.cw_box, objects={"companies": GOLD_ONLY})
    await world.sync()
    assert (await _hs_company(world, made["id"]))["properties"]["phone"] == "111"
    assert await _link(world, "companies", silver["id"]) is None
    assert await world.store.links_by_right(world.config.tenant, "companies", [made["id"]]) == {}
    after = world.cw_box.store.get("companies", silver["id"])
    assert after is not None
    assert after["name"] == silver["name"]


async def test_replay_links_a_company_that_exists_on_both_sides(world: World) -> None:
    """HS-6: `sync --record connectwise:companies:N` links a company HubSpot already has (same identifier) instead
    of failing to create a duplicate, as a batch run would."""
    company = next(iter(_expected_companies(world.cw_box).values()))
    await _with_properties(world)
    made = await world.hs.create(
        "companies", {"name": "Already there", "connectwise_company_id": company["identifier"]}
    )
    report = await world.sync(record=RecordRef("connectwise", "companies", str(company["id"])))
    assert report.counts.failed == 0, report.pairs[0].items
    assert (await _link(world, "companies", company["id"])).right_id == made["id"]
    assert len([c for c in await world.hs_all("companies") if c["properties"]["connectwise_company_id"]]) == 1


async def _archived_contact(world: World) -> Any:
    """A linked contact whose HubSpot counterpart a HubSpot user then deletes (archives)."""
    await world.sync()
    batch = await anext(aiter(world.store.iter_link_ids(world.config.tenant, "contacts")))
    link = await _link(world, "contacts", batch[0][0])
    await world.hs.archive("contacts", link.right_id)
    return link


async def _retitle(world: World, left_id: str, title: str) -> None:
    await world.cw.patch("company/contacts", int(left_id), [{"op": "replace", "path": "title", "value": title}])


async def test_a_contact_archived_in_hubspot_is_found_by_a_full_run_and_never_fails(world: World) -> None:
    """CW-6 on the HubSpot side: a full run finds the archived counterpart (it said "same"), keeps the link marked
    (`on_hubspot_delete: ignore`, the default), and later changes of the ConnectWise contact are skipped with the
    reason instead of failing every run with "Could not get some CONTACT objects"."""
    link = await _archived_contact(world)
    await world.sync(full=True)
    [item] = await world.store.items_for_record(world.config.tenant, "contacts", left_id=link.left_id, limit=1)
    assert item.action == "skip"
    assert "deleted in HubSpot" in item.reason
    await _retitle(world, link.left_id, "Still here")
    for _ in range(2):
        report = await world.sync()
        assert report.counts.failed == 0
    [item] = await world.store.items_for_record(world.config.tenant, "contacts", left_id=link.left_id, limit=1)
    assert item.action == "skip"
    assert "not synced until it is restored" in item.reason
    assert link.right_id not in [c["id"] for c in await world.hs_all("contacts")]


async def test_an_update_that_finds_the_counterpart_gone_applies_the_policy(world: World) -> None:
    """Without a full run in between: the update's "not found" applies the policy, once, and no run fails."""
    link = await _archived_contact(world)
    await _retitle(world, link.left_id, "Changed")
    report = await world.sync()
    assert report.counts.failed == 0
    [item] = await world.store.items_for_record(world.config.tenant, "contacts", left_id=link.left_id, limit=1)
    assert item.action == "skip"
    assert "an update found it gone" in item.reason
    await _retitle(world, link.left_id, "Changed again")
    assert (await world.sync()).counts.failed == 0


async def test_on_hubspot_delete_recreate_creates_the_contact_again(tmp_path: Path, world: World) -> None:
    """`on_hubspot_delete: recreate`: the link is dropped, and the next full run creates the contact again."""
    world.config = make_config(
        tmp_path, world.cw_box, objects={"companies": {}, "contacts": {"on_hubspot_delete": "recreate"}}
    )
    link = await _archived_contact(world)
    await world.sync(full=True)
    assert await _link(world, "contacts", link.left_id) is None
    report = await world.sync(full=True)
    assert report.counts.failed == 0
    again = await _link(world, "contacts", link.left_id)
    assert again is not None
    assert again.right_id != link.right_id
    assert again.right_id in [c["id"] for c in await world.hs_all("contacts")]


async def test_plan_equals_apply_on_a_first_sync_into_a_populated_hubspot(world: World) -> None:
    """BY-1: on a fresh store against a HubSpot that already holds the companies (and some contacts), the dry run's
    counts per pair equal what the real run then does: contacts and deals are planned against the companies the same
    plan links (they used to "wait for" them)."""
    await _with_properties(world)
    companies = list(_expected_companies(world.cw_box).values())
    for company in companies:
        await world.hs.create("companies", {"name": company["name"], "connectwise_company_id": company["identifier"]})
    plan = await world.sync(dry_run=True)
    real = await world.sync()
    assert real.counts.failed == 0

    def counts(report: Any) -> dict[str, dict[str, int]]:
        return {p.pair: {k: v for k, v in p.counts.as_dict().items() if k != "conflicts"} for p in report.pairs}

    assert counts(plan) == counts(real)
    assert counts(real)["companies"]["linked"] == len(companies)


async def test_setup_writes_survive_lost_answers(world: World, monkeypatch: Any) -> None:
    """#13.6: the answer of every property and property-group create is lost once (the write happened): the setup
    looks each up before sending it again, so the sync goes on, with each property made exactly once."""
    from cwsync.connectors.http import TransportError

    lost: list[str] = []

    def losing(name: str) -> None:
        real = getattr(world.hs, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            made = await real(*args, **kwargs)
            key = f"{name}:{args[0]}:{kwargs.get('name')}"
            if key not in lost:
                lost.append(key)
                raise TransportError("POST …: connection closed before the answer (lost)")
            return made

        monkeypatch.setattr(world.hs, name, call)

    losing("create_property")
    losing("create_property_group")
    report = await world.sync(full=True)
    assert report.counts.failed == 0
    assert len(lost) > 4
    own = {
        "companies": "connectwise_company_id",
        "contacts": "connectwise_contact_id",
        "deals": "connectwise_opportunity_id",
    }
    for object_type, name in own.items():
        names = [p["name"] for p in await world.hs.properties(object_type)]
        assert len(names) == len(set(names))
        assert name in names


def _config_file(tmp_path: Path, world: World, companies: dict[str, Any]) -> Path:
    """The fixture's configuration as a YAML file with these company settings (so errors can name lines)."""
    import io

    from ruamel.yaml import YAML

    s = world.cw_box.settings
    data = {
        "store": f"sqlite:///{tmp_path / 'cwsync.db'}",
        "connections": {
            "connectwise": {
                "site": "http://cw.test",
                "company_id": s.company_id,
                "public_key": s.public_key,
                "private_key": s.private_key,
                "client_id": s.client_id,
                "requests_per_minute": None,
            },
            "hubspot": {
                "token": world.config.connections.hubspot.token.get_secret_value(),
                "base_url": "http://hs.test",
            },  # type: ignore[union-attr]
        },
        "syncs": {"hubspot": {"objects": {"companies": companies, "contacts": {}, "deals": {}}}},
    }
    out = io.StringIO()
    YAML().dump(data, out)
    path = tmp_path / "cwsync.yaml"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("companies", "at", "expected"),
    [
        (
            {"fields": {"add": [{"connectwise": "customFields/Onboarded", "hubspot": "numberofemployees"}]}},
            "customFields/Onboarded",
            ["customFields/Onboarded (date)", "numberofemployees (number/number)", "cannot store a date"],
        ),
        (
            {"fields": {"add": [{"connectwise": "status", "hubspot": "industry"}]}},
            "connectwise: status",
            ["industry (enumeration/select)", "add a value map (value_maps.industry)", "ACCOUNTING"],
        ),
        (
            {"fields": {"add": [{"connectwise": "customFields/NoSuchCaption", "hubspot": "nosuch"}]}},
            "customFields/NoSuchCaption",
            ["no custom field captioned 'NoSuchCaption'", "captions: ", "Tier"],
        ),
        (
            {"fields": {"add": [{"connectwise": "notARealField", "hubspot": "whatever"}]}},
            "notARealField",
            ["have no field 'notARealField'", "identifier"],
        ),
        (
            {"filters": {"connectwise": [{"field": "nosuchfield", "op": "eq", "value": "x"}]}},
            "nosuchfield",
            ["filter: ConnectWise company/companies have no field 'nosuchfield'"],
        ),
        (
            {"filters": {"connectwise": [{"field": "customFields/Teir", "op": "eq", "value": "Gold"}]}},
            "customFields/Teir",
            ["no custom field captioned 'Teir'", "did you mean 'Tier'?"],
        ),
    ],
    ids=["date-into-number", "text-into-dropdown", "unknown-caption", "unknown-field", "unknown-filter", "typo"],
)
async def test_mappings_are_checked_against_the_real_schemas_before_any_write(
    tmp_path: Path, world: World, companies: dict[str, Any], at: str, expected: list[str]
) -> None:
    """HS-4 (#13.10): a mapping or filter the schemas refuse stops the run at its start, naming the file, the line,
    both types and the fix, and nothing is written (these used to load and then fail record by record, or filter
    every record out in silence)."""
    from cwsync.config import ConfigError, load_config

    path = _config_file(tmp_path, world, companies)
    world.config = load_config(path)
    with pytest.raises(ConfigError) as info:
        await world.sync()
    message = str(info.value)
    assert f"{path}:{_line_of(path, at)}: syncs.hubspot.objects.companies." in message
    for part in expected:
        assert part in message
    assert await world.hs_all("companies") == []


async def test_a_contact_of_a_filtered_out_company_names_it(tmp_path: Path, world: World) -> None:
    """A record that fails says why: a contact of a company the filter excludes does not "wait for" it (it never
    syncs); its run item names the company and the filter."""
    world.config = make_config(tmp_path, world.cw_box, objects={"companies": GOLD_ONLY, "contacts": {}})
    silver = _companies_of_tier(world, "Silver")[0]
    report = await world.sync()
    contact_ids = [
        i
        for i in world.cw_box.store.ids("contacts")
        if ((world.cw_box.store.get("contacts", i) or {}).get("company") or {}).get("id") == silver["id"]
    ]
    assert contact_ids
    assert report.counts.failed == 0
    [item] = await world.store.items_for_record(world.config.tenant, "contacts", left_id=str(contact_ids[0]), limit=1)
    assert item.action == "skip"
    assert item.reason.startswith(f"its company {silver['id']} does not sync (filtered out: customFields/Tier")


async def test_custom_properties_take_the_configured_label_and_group(tmp_path: Path, world: World) -> None:
    """HS-5: a `fields.add` entry's `label` and `group` name the property cwsync creates (it was "Cw Tier" in a
    fixed group), and `property_group` names the group of cwsync's own properties; missing groups are created."""
    tier = {"connectwise": "customFields/Tier", "hubspot": "cw_tier", "label": "Client tier", "group": "msp_fields"}
    world.config = make_config(
        tmp_path,
        world.cw_box,
        property_group={"name": "connectwise", "label": "ConnectWise"},
        objects={"companies": {"fields": {"add": [tier]}}, "contacts": {}, "deals": {}},
    )
    report = await world.sync()
    assert report.counts.failed == 0
    props = {p["name"]: p for p in await world.hs.properties("companies")}
    assert (props["cw_tier"]["label"], props["cw_tier"]["groupName"]) == ("Client tier", "msp_fields")
    assert props["connectwise_company_id"]["groupName"] == "connectwise"
    groups = {g["name"]: g["label"] for g in await world.hs.property_groups("companies")}
    assert groups["connectwise"] == "ConnectWise"
    assert groups["msp_fields"] == "Msp Fields"
    gold = _companies_of_tier(world, "Gold")[0]
    [company] = [
        c for c in await world.hs_all("companies") if c["properties"]["connectwise_company_id"] == gold["identifier"]
    ]
    got = await world.hs.get("companies", company["id"], properties=["cw_tier"])
    assert got["properties"]["cw_tier"] == "Gold"


async def _two_types(world: World, identifier: str, *names: str) -> None:
    types = []
    for name in names:
        found = next(
            int(r["id"])
            for i in world.cw_box.store.ids("company_types")
            if (r := world.cw_box.store.get("company_types", i)) and r["name"] == name
        )
        types.append({"id": found})
    await world.cw.create(
        "company/companies", {"identifier": identifier, "name": identifier, "types": types, "city": "X"}
    )


async def _hs_type(world: World, identifier: str) -> tuple[str, str]:
    [company] = [c for c in await world.hs_all("companies") if c["properties"]["connectwise_company_id"] == identifier]
    return company["properties"]["type"], company["properties"]["lifecyclestage"]


async def test_company_type_priority_decides_type_and_lifecycle_stage_alike(tmp_path: Path, world: World) -> None:
    """SB-2 everywhere (#17): a Partner that is also a Customer is carried as its priority type, and HubSpot's
    `type` and `lifecyclestage` both follow that one type (they could say PARTNER and customer at once)."""
    await _two_types(world, "PartnerCustomer1", "Partner", "Customer")
    await world.sync()
    assert await _hs_type(world, "PartnerCustomer1") == ("OTHER", "customer")  # default order: Customer first
    world.config = make_config(tmp_path, world.cw_box).model_copy(
        update={
            "syncs": make_config(tmp_path, world.cw_box).syncs.model_copy(
                update={"catalog": _catalog_with_priority(["Partner", "Customer"])}
            )
        }
    )
    await world.sync(full=True)
    assert await _hs_type(world, "PartnerCustomer1") == ("PARTNER", "other")


def _catalog_with_priority(order: list[str]) -> Any:
    from cwsync.config.catalog import CatalogSync

    return CatalogSync.model_validate({"enabled": False, "company_type_priority": order})


async def _deleted_company(tmp_path: Path, world: World, on_delete: str) -> tuple[dict[str, Any], str, Any]:
    """A linked company soft-deleted in ConnectWise and synced under `on_delete`: the company, its HubSpot id and
    the run report."""
    world.config = make_config(tmp_path, world.cw_box, objects={"companies": {"on_delete": on_delete}})
    await world.sync()
    company = next(iter(_expected_companies(world.cw_box).values()))
    hs_id = (await _link(world, "companies", company["id"])).right_id
    await world.cw.delete("company/companies", company["id"])
    return company, hs_id, await world.sync()


async def test_on_delete_flag_marks_the_counterpart_and_keeps_the_link_unsynced(tmp_path: Path, world: World) -> None:
    """CW-6 `on_delete: flag`: the HubSpot company is kept with `cw_deleted` set, the link stays (marked), and a
    HubSpot change to it is not written into ConnectWise."""
    company, hs_id, report = await _deleted_company(tmp_path, world, "flag")
    got = await world.hs.get("companies", hs_id, properties=["cw_deleted"])
    assert got["properties"]["cw_deleted"] == "true"
    assert report.counts.updated == 1
    link = await _link(world, "companies", company["id"])
    assert link is not None
    assert link.right_id == hs_id
    [item] = await world.store.items_for_record(world.config.tenant, "companies", left_id=str(company["id"]), limit=1)
    assert (item.action, "flagged" in item.reason) == ("update", True)
    await world.hs_change("companies", hs_id, {"phone": "+1 555 000 2222"})
    assert (await world.sync()).counts.failed == 0
    assert world.cw_box.store.get("companies", company["id"]).get("phoneNumber") == company.get("phoneNumber")


async def test_a_deletion_hubspot_refuses_fails_alone_and_the_next_run_does_it(
    tmp_path: Path, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`on_delete: flag` whose HubSpot update fails: counted and recorded as a failure, the link left as it was
    (not marked), and the next incremental run reads the record again and flags it."""
    real = HubSpotTarget.apply

    async def refusing(self: HubSpotTarget, writes: Sequence[Write]) -> list[WriteResult]:
        if any(FLAG in w.values for w in writes):
            return [WriteResult(w, error=CwsyncApiError("HubSpot is unavailable")) for w in writes]
        return await real(self, writes)

    monkeypatch.setattr(HubSpotTarget, "apply", refusing)
    company, hs_id, report = await _deleted_company(tmp_path, world, "flag")
    assert (report.counts.failed, report.counts.updated) == (1, 0)
    link = await _link(world, "companies", company["id"])
    assert link is not None
    assert EXCLUDED not in link.left_values
    [item] = await world.store.items_for_record(world.config.tenant, "companies", left_id=str(company["id"]), limit=1)
    assert (item.action, item.status) == ("fail", "failed")
    assert "HubSpot is unavailable" in item.reason
    got = await world.hs.get("companies", hs_id, properties=["cw_deleted"])
    assert got["properties"].get("cw_deleted") in (None, "", "false")

    monkeypatch.setattr(HubSpotTarget, "apply", real)
    again = await world.sync()
    assert (again.counts.failed, again.counts.updated) == (0, 1)
    got = await world.hs.get("companies", hs_id, properties=["cw_deleted"])
    assert got["properties"]["cw_deleted"] == "true"


async def test_on_delete_unlink_drops_the_link_and_leaves_the_counterpart(tmp_path: Path, world: World) -> None:
    """CW-6 `on_delete: unlink`: the link is dropped and the HubSpot company left as it is (not archived)."""
    company, hs_id, report = await _deleted_company(tmp_path, world, "unlink")
    assert await _link(world, "companies", company["id"]) is None
    assert hs_id in [c["id"] for c in await world.hs_all("companies")]
    assert (report.counts.deleted, report.counts.failed) == (0, 0)
    [item] = await world.store.items_for_record(world.config.tenant, "companies", left_id=str(company["id"]), limit=1)
    assert "unlinked" in item.reason


async def test_a_record_back_in_the_filter_syncs_both_ways_again(tmp_path: Path, world: World) -> None:
    """A linked company a filter set aside and that passes again (the filter removed) syncs both ways again, though
    the filter's field is not mapped (nothing mapped changed): the link's mark does not outlive the filter."""
    await world.sync()
    silver = _companies_of_tier(world, "Silver")[0]
    hs_id = (await _link(world, "companies", silver["id"])).right_id
    world.config = make_config(tmp_path, world.cw_box, objects={"companies": GOLD_ONLY})
    await world.sync()
    world.config = make_config(tmp_path, world.cw_box)
    await world.sync()
    await world.hs_change("companies", hs_id, {"phone": "+1 555 000 3333"})
    await world.sync()
    assert world.cw_box.store.get("companies", silver["id"]).get("phoneNumber") == "+1 555 000 3333"
