"""Import company types, product categories, subcategories, types and manufacturers (SB-1): ConnectWise's lists
become the options of HubSpot dropdowns, kept in sync on each run's prepare step (new ones added, dropped ones
hidden), idempotent (a second run sends no update) and safe after a lost answer. Against the served sandboxes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.integrations.hubspot.properties import merged_options, sync_options
from tests.catalog.conftest import CATALOG_SECTION
from tests.contract.rig import FAST_RETRY, Data, World, no_sleep, world

pytestmark = pytest.mark.loopback

SYNCS = {
    "hubspot": {"objects": {"companies": {}}},
    "catalog": CATALOG_SECTION,
}


def test_merged_options_add_new_values_and_hide_dropped_ones() -> None:
    """Current options keep their order; a dropped one is hidden, a returning one shown; no change is None."""
    current = [{"label": "A", "value": "A", "hidden": False}, {"label": "B", "value": "B", "hidden": True}]
    merged = merged_options(current, ["B", "C"])
    assert merged is not None
    assert [(o["value"], o["hidden"]) for o in merged] == [("A", True), ("B", False), ("C", False)]
    assert merged_options(merged, ["B", "C"]) is None


def visible(w: World, object_type: str, name: str) -> list[str]:
    prop = w.hubspot.state.properties[object_type][name]
    assert (prop["type"], prop["fieldType"]) == ("enumeration", "select")
    return [o["value"] for o in prop["options"] if not o.get("hidden")]


def names(w: World, entity: str) -> list[str]:
    return [str(w.cw.store.get(entity, i)["name"]) for i in w.cw_ids(entity)]  # type: ignore[index]


def run(w: World, *args: str) -> dict[str, Any]:
    code, out = w.cli(*args, "--json")
    assert code == 0, out
    data: dict[str, Any] = json.loads(out)
    return data


async def cw_write(w: World, method: str, path: str, *args: Any) -> Any:
    async with w.cw_client() as cw:
        return await getattr(cw, method)(path, *args)


def test_connectwise_lists_become_dropdown_options_and_follow_changes(tmp_path: Path) -> None:
    """Company types and the catalog's lists are the dropdowns' options; companies and products hold values of
    them; a type added and a manufacturer deleted in ConnectWise show on the next runs; an unchanged run sends no
    property update."""
    with world(Data(records=120, seed=3, counts={"catalog_items": 60}), tmp_path, SYNCS) as w:
        run(w, "sync")
        types = names(w, "company_types")
        assert visible(w, "companies", "connectwise_company_type") == types
        held = {p.get("connectwise_company_type") for p in w.hubspot.state.records["companies"].values()}
        assert held - {None, ""}
        assert held - {None, ""} <= set(types)
        run(w, "catalog", "sync")
        categories = visible(w, "products", "connectwise_category")
        assert set(categories) == {"Hardware", "Software", "Services", "Other products"}  # mapped, and the default
        assert set(visible(w, "products", "connectwise_manufacturer")) == set(names(w, "manufacturers"))
        products = w.hubspot.state.records["products"].values()
        assert {p["connectwise_category"] for p in products} <= set(categories)

        asyncio.run(cw_write(w, "create", "company/companies/types", {"name": "Managed Partner"}))
        gone = w.cw_ids("manufacturers")[0]
        dropped = str(w.cw.store.get("manufacturers", gone)["name"])  # type: ignore[index]
        asyncio.run(cw_write(w, "delete", "procurement/manufacturers", gone))
        run(w, "sync")
        imported = run(w, "catalog", "sync", "--only", "options")  # the lists alone (a manual run of that type)
        assert imported == {"dry_run": False, "options": ["products.connectwise_manufacturer"]}
        code, out = w.cli("catalog", "sync", "--only", "quotes", "--json")
        assert (code, "use options, products" in json.loads(out)["error"]["message"]) == (2, True)
        assert visible(w, "companies", "connectwise_company_type")[-1] == "Managed Partner"
        assert dropped not in visible(w, "products", "connectwise_manufacturer")
        hidden = [o for o in w.hubspot.state.properties["products"]["connectwise_manufacturer"]["options"]]
        assert [o["hidden"] for o in hidden if o["value"] == dropped] == [True]  # kept for the records holding it

        before = w.hubspot.state.properties["products"]["connectwise_manufacturer"]["updatedAt"]
        run(w, "catalog", "sync")
        assert w.hubspot.state.properties["products"]["connectwise_manufacturer"]["updatedAt"] == before


class LosingTransport(httpx.AsyncBaseTransport):
    """Real HTTP to the sandbox; every PATCH is processed, then its answer is lost."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.patches = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "PATCH":
            self.patches += 1
            await response.aread()
            raise httpx.ReadError("the answer was lost", request=request)
        return response


def test_a_text_property_becomes_a_dropdown_even_when_the_answer_is_lost(tmp_path: Path) -> None:
    """A product property an older version made as text is turned into a dropdown; answers lost every time, the
    update is found made by looking it up (no error), with each option once."""
    with world(Data(records=60, seed=3), tmp_path, SYNCS) as w:
        asyncio.run(_convert(w))


async def _convert(w: World) -> None:
    h = w.config.connections.hubspot
    assert h is not None
    transport = LosingTransport()
    settings = HubSpotSettings(token=h.token, base_url=h.base_url, requests_per_10s=h.requests_per_10s)
    async with HubSpotClient(settings, http=httpx.AsyncClient(transport=transport), sleep=no_sleep,
                             retry=FAST_RETRY) as hs:  # fmt: skip
        await hs.create_property(
            "products",
            name="connectwise_region",
            label="Region",
            type="string",
            field_type="text",
            group_name="productinformation",
        )
        current = {p["name"]: p for p in await hs.properties("products")}["connectwise_region"]
        options = await sync_options(hs, "products", "connectwise_region", ["East", "West"], definition=current)
    assert options is not None
    assert transport.patches >= 1  # every answer lost: the look-up found the update made
    assert visible(w, "products", "connectwise_region") == ["East", "West"]
