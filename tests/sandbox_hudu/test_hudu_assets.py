"""The Hudu emulator: assets and their custom fields, layouts, websites and relations (notes B3-B6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from cwsync_sandbox.hudu import HuduSandbox, HuduSandboxSettings, build_hudu_sandbox, create_hudu_app
from tests.sandbox_hudu.conftest import API, assert_error, layout_id


def _values(asset: dict[str, Any]) -> dict[str, Any]:
    return {f["label"]: f["value"] for f in asset["fields"]}


async def test_custom_fields_round_trip(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """`custom_fields` go in as [{snake_label: value}] and come back as `fields` [{label, value, ...}], typed."""
    body = {
        "asset": {
            "name": "FW-01",
            "asset_layout_id": layout_id(box, "Network Device"),
            "primary_serial": "SN-FW-01",
            "custom_fields": [
                {"ip_address": "10.0.0.1"},
                {"managed": "true"},
                {"purchase_date": "2024/05/17"},
                {"connectwise_configuration_id": "4321"},
            ],
        }
    }
    created = await hudu.post("companies/1/assets", json=body)
    assert created.status_code == 201
    asset = created.json()
    assert asset["asset_type"] == "Network Device"
    assert asset["company_name"] == "Acme Dental Group"
    assert _values(asset) == {
        "IP Address": "10.0.0.1",
        "Managed": True,
        "Purchase Date": "2024-05-17",
        "ConnectWise Configuration ID": 4321,
    }
    assert all({"id", "label", "value", "position", "field_type"} <= set(f) for f in asset["fields"])
    fetched = (await hudu.get(f"companies/1/assets/{asset['id']}")).json()
    assert fetched == asset


async def test_custom_fields_object_map_is_422(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """An object map instead of an array of objects is refused with Hudu's message (B3)."""
    body = {"asset": {"name": "X", "asset_layout_id": layout_id(box, "Computer"), "custom_fields": {"ip_address": "1"}}}
    assert_error(await hudu.post("companies/1/assets", json=body), 422, "use [ ] not { }")


async def test_update_merges_custom_fields(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """A PUT changes the sent fields, keeps the others, and null clears one."""
    computer = layout_id(box, "Computer")
    fields = [{"ip_address": "10.1.1.1"}, {"operating_system": "Windows 11 Pro"}, {"notes": "x"}]
    body = {"asset": {"name": "WS-9", "asset_layout_id": computer, "custom_fields": fields}}
    asset = (await hudu.post("companies/2/assets", json=body)).json()
    change = {"asset": {"primary_model": "T14", "custom_fields": [{"ip_address": "10.1.1.2"}, {"notes": None}]}}
    updated = (await hudu.put(f"companies/2/assets/{asset['id']}", json=change)).json()
    assert updated["primary_model"] == "T14"
    assert updated["name"] == "WS-9"
    assert _values(updated) == {"IP Address": "10.1.1.2", "Operating System": "Windows 11 Pro"}


async def test_unknown_custom_field_ignored_unless_strict(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """A key that matches no layout field is dropped, or a 422 with `strict_custom_fields`."""
    body = {"asset": {"name": "X", "asset_layout_id": layout_id(box, "Server"), "custom_fields": [{"colour": "red"}]}}
    assert (await hudu.post("companies/1/assets", json=body)).json()["fields"] == []
    box.tune({"strict_custom_fields": True})
    assert_error(await hudu.post("companies/1/assets", json=body), 422, "colour")


async def test_bad_values_and_missing_layout_are_422(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """A non-boolean CheckBox, a non-number Number, a bad date and a missing layout are 422s."""
    server = layout_id(box, "Server")
    for field in ({"managed": "perhaps"}, {"connectwise_configuration_id": "abc"}, {"purchase_date": "May 5"}):
        body = {"asset": {"name": "S", "asset_layout_id": server, "custom_fields": [field]}}
        assert_error(await hudu.post("companies/1/assets", json=body), 422)
    assert_error(await hudu.post("companies/1/assets", json={"asset": {"name": "S", "asset_layout_id": 999}}), 422)
    assert_error(await hudu.post("companies/1/assets", json={"asset": {"asset_layout_id": server}}), 422, "blank")
    assert_error(await hudu.post("companies/999/assets", json={"asset": {"name": "S"}}), 404)


async def test_global_asset_filters(hudu: httpx.AsyncClient, box: HuduSandbox) -> None:
    """`/assets` filters by `asset_layout_id`, `company_id`, `primary_serial` and `updated_at`."""
    servers = layout_id(box, "Server")
    by_layout = (await hudu.get("assets", params={"asset_layout_id": servers})).json()["assets"]
    assert len(by_layout) == 4
    assert {a["asset_type"] for a in by_layout} == {"Server"}
    by_company = (await hudu.get("assets", params={"company_id": 3, "page_size": 100})).json()["assets"]
    assert {a["company_id"] for a in by_company} == {3}
    assert len(by_company) == 8
    serial = by_layout[1]["primary_serial"]
    by_serial = (await hudu.get("assets", params={"primary_serial": serial})).json()["assets"]
    assert [a["id"] for a in by_serial] == [by_layout[1]["id"]]
    box.state.now = lambda: datetime(2025, 6, 1, tzinfo=UTC)
    await hudu.put(f"companies/{by_layout[0]['company_id']}/assets/{by_layout[0]['id']}", json={"asset": {"name": "N"}})
    since = (await hudu.get("assets", params={"updated_at": "2025-05-01T00:00:00Z,"})).json()["assets"]
    assert [a["id"] for a in since] == [by_layout[0]["id"]]


async def test_company_assets_and_archive(hudu: httpx.AsyncClient) -> None:
    """Per-company lists page and hide archived assets; an asset of another company is a 404."""
    assets = (await hudu.get("companies/1/assets", params={"page_size": 5})).json()["assets"]
    assert len(assets) == 5
    rest = (await hudu.get("companies/1/assets", params={"page_size": 5, "page": 2})).json()["assets"]
    assert len(rest) == 3
    target = assets[0]["id"]
    assert (await hudu.put(f"companies/1/assets/{target}/archive")).json()["asset"]["archived"] is True
    live = [a["id"] for a in (await hudu.get("companies/1/assets", params={"page_size": 50})).json()["assets"]]
    assert target not in live
    gone = (await hudu.get("companies/1/assets", params={"archived": "true"})).json()["assets"]
    assert [a["id"] for a in gone] == [target]
    assert_error(await hudu.get(f"companies/2/assets/{target}"), 404)
    assert (await hudu.delete(f"companies/1/assets/{target}")).status_code == 204
    assert_error(await hudu.get(f"companies/1/assets/{target}"), 404)


async def test_layouts_create_and_merge_fields(hudu: httpx.AsyncClient) -> None:
    """A layout is created with its fields; a PUT merges fields by id and refuses a duplicate label."""
    body = {"asset_layout": {"name": "Firewall", "icon": "fas fa-fire", "fields": [{"label": "WAN IP"}]}}
    created = await hudu.post("asset_layouts", json=body)
    assert created.status_code == 201
    layout = created.json()["asset_layout"]
    wan = layout["fields"][0]
    assert (wan["label"], wan["field_type"], layout["active"]) == ("WAN IP", "Text", True)
    fields = [{"id": wan["id"], "hint": "public"}, {"label": "HA", "field_type": "CheckBox"}]
    change = {"asset_layout": {"fields": fields}}
    merged = (await hudu.put(f"asset_layouts/{layout['id']}", json=change)).json()["asset_layout"]
    assert [(f["label"], f["hint"]) for f in merged["fields"]] == [("WAN IP", "public"), ("HA", None)]
    duplicate = {"asset_layout": {"fields": [{"label": "wan ip"}]}}
    assert_error(await hudu.put(f"asset_layouts/{layout['id']}", json=duplicate), 422, "taken")
    bad_type = {"asset_layout": {"name": "Odd", "fields": [{"label": "A", "field_type": "Bogus"}]}}
    assert_error(await hudu.post("asset_layouts", json=bad_type), 422, "field type")
    named = (await hudu.get("asset_layouts", params={"name": "Firewall"})).json()["asset_layouts"]
    assert [x["id"] for x in named] == [layout["id"]]
    assert (await hudu.get(f"asset_layouts/{layout['id']}")).json()["asset_layout"] == merged


async def test_websites_are_bare_and_empty_list_is_wrapped(hudu: httpx.AsyncClient) -> None:
    """Website lists are bare arrays, `{"websites": []}` when empty; reads and writes are bare (B5)."""
    listed = (await hudu.get("websites")).json()
    assert isinstance(listed, list)
    assert len(listed) == 3
    assert (await hudu.get("websites", params={"name": "https://none.example"})).json() == {"websites": []}
    created = await hudu.post("websites", json={"website": {"company_id": 4, "name": "https://fabrikam.example"}})
    assert created.status_code == 201
    site = created.json()
    assert (site["company_name"], site["object_type"]) == ("Fabrikam Manufacturing", "Website")
    assert (await hudu.get(f"websites/{site['id']}")).json()["name"] == "https://fabrikam.example"
    assert_error(await hudu.put(f"websites/{site['id']}", json={"website": {"name": "fabrikam"}}), 422, "URL")
    paused = (await hudu.put(f"websites/{site['id']}", json={"website": {"paused": True}})).json()
    assert paused["paused"] is True
    assert (await hudu.delete(f"websites/{site['id']}")).status_code == 204


async def test_relations_create_their_inverse(hudu: httpx.AsyncClient) -> None:
    """A relation answers 201 and adds its inverse; a missing end is a 422; DELETE removes both."""
    body = {"relation": {"fromable_type": "Asset", "fromable_id": 1, "toable_type": "Website", "toable_id": 1}}
    created = await hudu.post("relations", json=body)
    assert created.status_code == 201
    relation = created.json()["relation"]
    assert (relation["is_inverse"], relation["name"]) == (False, "https://acmedental.example")
    listed = (await hudu.get("relations")).json()["relations"]
    assert [(r["fromable_type"], r["is_inverse"]) for r in listed] == [("Asset", False), ("Website", True)]
    missing = {"relation": {"fromable_type": "Asset", "fromable_id": 1, "toable_type": "Asset", "toable_id": 99999}}
    assert_error(await hudu.post("relations", json=missing), 422, "exist")
    assert (await hudu.delete(f"relations/{relation['id']}")).status_code == 204
    assert (await hudu.get("relations")).json() == {"relations": []}


async def test_ten_thousand_assets_page_by_layout() -> None:
    """A 10k-asset instance builds and pages one layout completely with large pages."""
    box = build_hudu_sandbox(HuduSandboxSettings(assets=10_000, rate_limit_per_minute=10_000))
    computers = layout_id(box, "Computer")
    expected = sum(1 for a in box.state.assets.values() if a["asset_layout_id"] == computers)
    transport = httpx.ASGITransport(app=create_hudu_app(box))
    headers = {"x-api-key": box.settings.api_key}
    seen = 0
    async with httpx.AsyncClient(transport=transport, base_url=API + "/", headers=headers) as client:
        for page in range(1, 100):
            params = {"asset_layout_id": computers, "page": page, "page_size": 1000}
            rows = (await client.get("assets", params=params)).json()["assets"]
            seen += len(rows)
            if len(rows) < 1000:
                break
    assert expected > 6000
    assert seen == expected


def test_seeded_dataset_is_deterministic() -> None:
    """Two instances with one seed hold the same records; the empty dataset holds nothing."""
    first, second = build_hudu_sandbox(), build_hudu_sandbox()
    assert [first.state.asset_json(a) for a in first.state.assets.values()] == [
        second.state.asset_json(a) for a in second.state.assets.values()
    ]
    assert {layout["name"] for layout in first.state.layouts.values()} >= {"People", "Locations", "Computer"}
    empty = build_hudu_sandbox(HuduSandboxSettings(dataset="empty"))
    assert set(empty.state.counts().values()) == {0}
