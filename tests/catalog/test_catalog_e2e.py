"""Catalog → HubSpot products end to end on both sandboxes (SB-1, SB-3, SB-4, SB-6)."""

from __future__ import annotations

from typing import Any

from tests.catalog.conftest import World


def _catalog(world: World) -> dict[str, dict[str, Any]]:
    return {str(i["identifier"]): i for i in world.cw_all("catalog_items")}


async def test_catalog_arrives_with_mappings_and_defaults(world: World) -> None:
    """Active items arrive with mapped category/type, unmapped ones get the defaults, inactive ones are not created."""
    report = await world.engine().run()
    catalog = _catalog(world)
    products = world.products()
    active = {k for k, v in catalog.items() if not v.get("inactiveFlag")}
    assert set(products) == active
    assert report.counts.created == len(active)
    for sku, item in catalog.items():
        if sku not in products:
            continue
        p = products[sku]
        assert p["name"] == item["description"]
        assert float(p["price"]) == item["price"]
        assert float(p["hs_cost_of_goods_sold"]) == item["cost"]
        category = item["category"]["name"]
        expected = category if category in ("Hardware", "Software", "Services") else "Other products"
        assert p["connectwise_category"] == expected
        ptype = {"Hardware": "Physical", "Software": "Digital", "Service": "Service"}.get(item["type"]["name"], "Other")
        assert p["connectwise_product_type"] == ptype
    assert {p["connectwise_category"] for p in products.values()} >= {"Hardware", "Other products"}


async def test_inactive_products_follow_the_status_mapping_and_say_why(world: World) -> None:
    """An item made inactive is archived in HubSpot and its run item says why; mapped to skip, it is left alone."""
    await world.engine().run()
    sku, item = next((k, v) for k, v in _catalog(world).items() if not v.get("inactiveFlag"))
    await world.cw.patch("procurement/catalog", item["id"], [{"op": "replace", "path": "inactiveFlag", "value": True}])
    report = await world.engine().run()
    assert report.counts.deleted == 1
    assert sku not in world.products()
    assert sku in world.archived_products()
    items = await world.store.items_for_record(world.config.tenant, "catalog:products", left_id=str(item["id"]))
    assert items[0].action == "delete"
    assert "Inactive" in items[0].reason
    assert "archive" in items[0].reason
    explained = await world.engine().explain(sku)
    assert any("inactive" in r for r in explained["reasons"])


async def test_rerun_is_a_no_op_and_mapping_changes_apply_to_future_syncs(world: World) -> None:
    """A second incremental run writes nothing; a changed mapping rewrites products on the next full sync."""
    await world.engine().run()
    before = world.writes("hs.test")
    report = await world.engine().run()
    assert world.writes("hs.test") == before
    assert report.counts.created == report.counts.updated == 0
    changed = await world.engine(categories={"Hardware": "Devices"}).run(full=True)
    assert changed.counts.updated > 0
    hardware = [p for p in world.products().values() if p["connectwise_category"] == "Devices"]
    assert hardware


async def test_batches_are_full(world: World) -> None:
    """Creates go out 100 per call: 1 or 2 calls for ~110 products, across pages."""
    report = await world.engine().run()
    assert report.hubspot_calls == -(-report.counts.created // 100)


async def test_plan_writes_nothing(world: World) -> None:
    """A dry run plans creates but writes nothing to HubSpot or the store."""
    report = await world.engine().run(dry_run=True)
    assert report.counts.created > 0
    assert world.products() == {}
    assert await world.store.link_count(world.config.tenant, "catalog:products") == 0


async def test_callback_sync_of_one_product(world: World) -> None:
    """`sync_products([id])` (a productcatalog callback) brings one changed product over at once."""
    await world.engine().run()
    sku, item = next((k, v) for k, v in _catalog(world).items() if not v.get("inactiveFlag"))
    await world.cw.patch("procurement/catalog", item["id"], [{"op": "replace", "path": "price", "value": 4321.5}])
    report = await world.engine().sync_products([item["id"]])
    assert report.counts.updated == 1
    assert world.products()[sku]["price"] == "4321.50"


async def test_explain_unknown_and_unmapped(world: World) -> None:
    """`explain` says when a product is not in the catalog, and when a default category was used."""
    missing = await world.engine().explain("NO-SUCH-SKU")
    assert "not in the ConnectWise catalog" in missing["reasons"][0]
    sku = next(k for k, v in _catalog(world).items() if v["category"]["name"] == "Cloud Services")
    explained = await world.engine().explain(sku)
    assert any("unmapped" in r and "Other products" in r for r in explained["reasons"])


async def test_no_access_to_the_catalog_is_explained(world: World) -> None:
    """Without Product Catalog access the run fails (recorded) and `explain` says which permission to grant."""
    import pytest

    from cwsync.connectors.http import PermissionDeniedError

    for member in world.cw_box.members.values():
        member.deny.append("catalog_items:read")
    with pytest.raises(PermissionDeniedError):
        await world.engine().run()
    runs = await world.store.runs(world.config.tenant, pair="catalog:products")
    assert runs[0].status == "failed"
    explained = await world.engine().explain("DELL-OPT7010")
    assert explained["reasons"][0].startswith("no access")
    assert "Product Catalog" in explained["reasons"][0]


async def test_deleted_item_is_archived_on_callback(world: World) -> None:
    """A catalog item deleted in ConnectWise is archived in HubSpot when its callback syncs it."""
    await world.engine().run()
    sku, item = next((k, v) for k, v in _catalog(world).items() if not v.get("inactiveFlag"))
    await world.cw.delete("procurement/catalog", item["id"])
    report = await world.engine().sync_products([item["id"]])
    assert report.counts.deleted == 1
    assert sku in world.archived_products()


async def test_a_product_created_by_a_killed_run_is_found_not_created_twice(world: World) -> None:
    """An intent left over (the run died after HubSpot created the product, before its link was kept): the next
    run finds the product by `connectwise_catalog_id` and updates it instead of creating a second one."""
    from cwsync.store import JournalEntry

    await world.engine().run()
    sku, item = next((k, v) for k, v in _catalog(world).items() if not v.get("inactiveFlag"))
    tenant, cw_id = world.config.tenant, str(item["id"])
    async with world.store.transaction() as tx:
        await tx.delete_links(tenant, "catalog:products", [cw_id])
        await tx.write_journal([JournalEntry(tenant=tenant, scope="catalog:products", key=cw_id, step="create")])
    before = len(world.products())
    report = await world.engine().run(full=True)
    assert (report.counts.created, report.counts.updated) == (0, 1)
    assert len(world.products()) == before
    link = (await world.store.links_by_left(tenant, "catalog:products", [cw_id]))[cw_id]
    assert link.right_id == world.products()[sku]["id"]
    assert not await world.store.has_journal(tenant, "catalog:products")


async def test_progress_counts_every_item_out_of_connectwise_total(world: World) -> None:
    """`catalog sync` draws its bar from these: a total from ConnectWise's own count, and every item decided."""
    from cwsync.integrations.catalog.engine import CatalogEngine

    done: dict[str, int] = {}
    totals: dict[str, int] = {}

    def advance(name: str, n: int) -> None:
        done[name] = done.get(name, 0) + n

    engine = CatalogEngine(
        world.config, world.store, world.cw, world.hs, progress=advance, totals=lambda k, n: totals.update({k: n})
    )
    report = await engine.run(full=True)
    items = len(world.cw_all("catalog_items"))
    assert totals == {"catalog:products": items}
    assert done == {"catalog:products": items}
    assert report.counts.failed == 0
