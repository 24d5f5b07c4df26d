"""Filters decide for every record, linked or not, for every pair that has filters (#13).

Each case configures a pair's own filter (HubSpot `filters` and the inactive standard filter, Hudu's skipped
configuration types, the catalog's product status mapping, the device sync's mapped types) and checks, in one
world:

- **excluded records are never linked or written**: after a first sync, no record the filter excludes (computed here
  from the ConnectWise data, not from cwsync) has a link or a counterpart in the target;
- **the filter decides for linked records too**: a linked record changed so that the filter now excludes it (and
  changed in a mapped field at the same time) gets the pair's policy — its counterpart `kept` as it was (the change
  does not reach it) or `removed` (archived, deleted) — and, for pairs that record per-record items, a run item with
  the action and the reason.

The SQL mirror has no filters (it copies every record of the objects it is given): its id says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import pytest

from cwsync.config.mirror import MirrorSync
from cwsync.store import Store
from tests.contract.pairs import CATALOG, DEVICE_TYPES, DEVICES, HUBSPOT, HUDU, Pair
from tests.contract.rig import Data, World, world
from tests.syncs_hudu.conftest import SKIPPED_TYPES, hudu_sync_section

pytestmark = pytest.mark.loopback
LEFT = "Left the filter"
Target = dict[str, Any]
"""A target's records by the ConnectWise id of the record they stand for (what a comparison needs of each)."""


@dataclass(frozen=True)
class Case:
    """One pair's filter: the configuration, what it excludes, and how a linked record leaves it."""

    pair: Pair
    syncs: dict[str, Any]
    links: str | None
    """The store's pair name whose links hold the filtered entity (None: the pair keeps no links)."""
    entity: str
    excluded: Callable[[World], set[str]]
    """ConnectWise ids of `entity` the filter excludes, read from the sandbox."""
    target: Callable[[World], Target]
    leave: Callable[[World, int], list[dict[str, Any]]]
    """The JSON Patch that takes a record out of the filter and changes a mapped field."""
    path: str
    policy: Literal["kept", "removed"]
    reason: str
    """A phrase of the run item's reason (for pairs that item each record)."""
    itemized: bool = True
    setup: Callable[[World], list[tuple[int, list[dict[str, Any]]]]] | None = None
    """Patches made before the first sync, where the data has no record the filter excludes (record id, patch)."""


def _tier(record: dict[str, Any]) -> str | None:
    fields = record.get("customFields") or []
    return next((f.get("value") for f in fields if f.get("caption") == "Tier"), None)


def _records(w: World, entity: str) -> dict[str, dict[str, Any]]:
    return {str(i): r for i in w.cw_ids(entity) if (r := w.cw_record(entity, i)) is not None}


# -- HubSpot: a Gold-only company filter ------------------------------------------------------------------------------


GOLD_ONLY = {"connectwise": [{"field": "customFields/Tier", "op": "eq", "value": "Gold"}]}


def hubspot_syncs(**companies: Any) -> dict[str, Any]:
    """Every HubSpot object, companies filtered to Tier Gold."""
    return {"hubspot": {"objects": {"companies": {"filters": GOLD_ONLY, **companies}, "contacts": {}, "deals": {}}}}


def hubspot_companies(w: World) -> Target:
    by_identifier = {r["identifier"]: i for i, r in _records(w, "companies").items()}
    live = w.hubspot.state.records["companies"].values()
    return {by_identifier[p["connectwise_company_id"]]: dict(p) for p in live if p.get("connectwise_company_id")}


def not_gold(w: World) -> set[str]:
    return {i for i, r in _records(w, "companies").items() if _tier(r) != "Gold"}


def leave_gold(w: World, record_id: int) -> list[dict[str, Any]]:
    record = w.cw_record("companies", record_id)
    assert record is not None
    fields = [{**f, "value": "Silver"} if f.get("caption") == "Tier" else f for f in record["customFields"]]
    return [
        {"op": "replace", "path": "customFields", "value": fields},
        {"op": "replace", "path": "name", "value": LEFT},
    ]


def deactivate_some(w: World) -> list[tuple[int, list[dict[str, Any]]]]:
    """Every tenth contact inactive (the generated data has none)."""
    return [(i, [{"op": "replace", "path": "inactiveFlag", "value": True}]) for i in sorted(w.cw_ids("contacts"))[::10]]


def hubspot_contacts(w: World) -> Target:
    live = w.hubspot.state.records["contacts"].values()
    emails = {(p.get("email") or "").lower(): dict(p) for p in live}
    out = {}
    for i, r in _records(w, "contacts").items():
        email = next((c["value"] for c in r.get("communicationItems") or [] if c["communicationType"] == "Email"), "")
        if email.lower() in emails:
            out[i] = emails[email.lower()]
    return out


def inactive_contacts(w: World) -> set[str]:
    return {i for i, r in _records(w, "contacts").items() if r.get("inactiveFlag")}


def deactivate(w: World, record_id: int) -> list[dict[str, Any]]:
    return [{"op": "replace", "path": "inactiveFlag", "value": True}, {"op": "replace", "path": "title", "value": LEFT}]


# -- Hudu: skipped configuration types --------------------------------------------------------------------------------


def hudu_configurations(w: World) -> Target:
    state = w.hudu.state
    out: Target = {}
    for asset in state.assets.values():
        labels = {f["id"]: f["label"] for f in state.layouts[asset["asset_layout_id"]]["fields"]}
        values = {labels.get(k, k): v for k, v in asset["values"].items()}
        if (cw_id := values.get("ConnectWise Configuration ID")) and not asset["archived"]:
            out[str(cw_id)] = {"name": asset["name"], "layout": asset["asset_layout_id"], "values": values}
    return out


def skipped_types(w: World) -> set[str]:
    skipped = {t.lower() for t in SKIPPED_TYPES}
    return {i for i, r in _records(w, "configurations").items() if str(r["type"]["name"]).lower() in skipped}


def to_type(name: str) -> Callable[[World, int], list[dict[str, Any]]]:
    """Patch a configuration to the type `name` and a new IP address."""

    def patch(w: World, record_id: int) -> list[dict[str, Any]]:
        types = {r["name"]: int(i) for i, r in _records(w, "configuration_types").items()}
        return [
            {"op": "replace", "path": "type", "value": {"id": types[name]}},
            {"op": "replace", "path": "ipAddress", "value": "10.99.99.99"},
        ]

    return patch


def hudu_companies(w: World) -> Target:
    by_identifier = {r["identifier"].lower(): i for i, r in _records(w, "companies").items()}
    live = [c for c in w.hudu.state.companies.values() if not c["archived"]]
    return {
        by_identifier[key]: dict(c) for c in live if (key := str(c.get("id_number") or "").lower()) in by_identifier
    }


def former_customers(w: World) -> set[str]:
    return {i for i, r in _records(w, "companies").items() if "Former Customer" in [t["name"] for t in r["types"]]}


def to_former_customer(w: World, record_id: int) -> list[dict[str, Any]]:
    types = {r["name"]: int(i) for i, r in _records(w, "company_types").items()}
    return [
        {"op": "replace", "path": "types", "value": [{"id": types["Former Customer"]}]},
        {"op": "replace", "path": "phoneNumber", "value": "555-0199"},
    ]


# -- catalog: the product status mapping ------------------------------------------------------------------------------


def hubspot_products(w: World) -> Target:
    live = w.hubspot.state.records["products"].values()
    return {p["connectwise_catalog_id"]: dict(p) for p in live if p.get("connectwise_catalog_id")}


def inactive_items(w: World) -> set[str]:
    return {i for i, r in _records(w, "catalog_items").items() if r.get("inactiveFlag")}


def deactivate_item(w: World, record_id: int) -> list[dict[str, Any]]:
    return [
        {"op": "replace", "path": "inactiveFlag", "value": True},
        {"op": "replace", "path": "description", "value": LEFT},
    ]


# -- devices: mapped configuration types ------------------------------------------------------------------------------


def devices(w: World) -> Target:
    rows = DEVICES._rows(w, "SELECT cw_id, name, cw_type FROM devices")
    return {str(cw_id): (name, cw_type) for cw_id, name, cw_type in rows}


def unmapped_types(w: World) -> set[str]:
    return {i for i, r in _records(w, "configurations").items() if r["type"]["name"] not in DEVICE_TYPES}


SMALL = Data(records=300, seed=3)
CASES = [
    pytest.param(
        Case(
            replace(HUBSPOT, data=SMALL), hubspot_syncs(), "companies", "companies", not_gold, hubspot_companies,
            leave_gold, "company/companies", "kept", "filtered out: customFields/Tier",
        ),
        id="hubspot-companies-filter-keep",
    ),
    pytest.param(
        Case(
            replace(HUBSPOT, data=SMALL), hubspot_syncs(on_filtered="archive"), "companies", "companies", not_gold,
            hubspot_companies, leave_gold, "company/companies", "removed", "filtered out: customFields/Tier",
        ),
        id="hubspot-companies-filter-archive",
    ),
    pytest.param(
        Case(
            replace(HUBSPOT, data=SMALL), {"hubspot": {}}, "contacts", "contacts", inactive_contacts,
            hubspot_contacts, deactivate, "company/contacts", "kept", "inactive", setup=deactivate_some,
        ),
        id="hubspot-contacts-inactive-keep",
    ),
    pytest.param(
        Case(
            HUDU, {"hudu": hudu_sync_section()}, "hudu:configurations", "configurations", skipped_types,
            hudu_configurations, to_type(SKIPPED_TYPES[0]), "company/configurations", "kept",
            "skip_configuration_types",
        ),
        id="hudu-configurations-skipped-type-keep",
    ),
    pytest.param(
        Case(
            HUDU, {"hudu": hudu_sync_section(skip_company_types=["Former Customer"])}, "hudu:companies",
            "companies", former_customers, hudu_companies, to_former_customer, "company/companies", "kept",
            "skip_company_types",
        ),
        id="hudu-companies-skipped-type-keep",
    ),
    pytest.param(
        Case(
            CATALOG, {"catalog": {**CATALOG.syncs["catalog"], "product_statuses": {"Active": "active",
            "Inactive": "skip"}}}, "catalog:products", "catalog_items", inactive_items, hubspot_products,
            deactivate_item, "procurement/catalog", "kept", "Inactive",
        ),
        id="catalog-status-skip-keep",
    ),
    pytest.param(
        Case(
            CATALOG, CATALOG.syncs, "catalog:products", "catalog_items", inactive_items, hubspot_products,
            deactivate_item, "procurement/catalog", "removed", "Inactive",
        ),
        id="catalog-status-archive",
    ),
    pytest.param(
        Case(
            replace(DEVICES, data=Data(records=600, seed=7)), DEVICES.syncs, None, "configurations", unmapped_types,
            devices, to_type("Domain Name"), "company/configurations", "removed", "is not mapped to a device type",
            itemized=False,
        ),
        id="devices-mapped-types-remove",
    ),
]  # fmt: skip
EXCLUDED = [
    pytest.param(None, id="mirror-excluded-it-has-no-filters-and-copies-every-record"),
]


def patch(w: World, path: str, patches: list[tuple[int, list[dict[str, Any]]]]) -> None:
    """JSON Patches of ConnectWise records, through the API (their `lastUpdated` moves)."""

    async def run() -> None:
        async with w.cw_client() as cw:
            for record_id, ops in patches:
                await cw.patch(path, record_id, ops)

    asyncio.run(run())


async def linked(w: World, pair: str) -> set[str]:
    """ConnectWise ids the store links for `pair`."""
    store = await Store.open(w.config.store)
    try:
        return {left async for batch in store.iter_link_ids(w.config.tenant, pair) for left, _ in batch}
    finally:
        await store.close()


async def last_item(w: World, pair: str, left_id: str) -> Any:
    """The newest run item of one record."""
    store = await Store.open(w.config.store)
    try:
        items = await store.items_for_record(w.config.tenant, pair, left_id=left_id, limit=1)
    finally:
        await store.close()
    assert items, f"no run item for {pair} {left_id}"
    return items[0]


@pytest.mark.parametrize("case", CASES)
def test_filters_decide_for_linked_records_and_excluded_records_are_never_written(case: Case, tmp_path: Path) -> None:
    """Nothing excluded is linked or written; a linked record that leaves the filter gets the policy, with a reason."""
    pair = case.pair
    with world(pair.data, tmp_path, case.syncs) as w:
        pair.prepare(w)
        if case.setup is not None:
            patch(w, case.path, case.setup(w))
        seeded = case.target(w)  # what the target held before (the Hudu sandbox has assets of its own)
        assert asyncio.run(pair.run_counts(w))["failed"] == 0
        excluded, before = case.excluded(w), case.target(w)
        written = {k for k, v in before.items() if seeded.get(k) != v}
        assert excluded, "the filter excludes nothing here: the case tests nothing"
        assert written, "nothing synced"
        assert excluded & written == set()
        if case.links is not None:
            held = asyncio.run(linked(w, case.links))
            assert held & excluded == set()
            assert written <= held
        record_id = sorted(written, key=int)[len(written) // 2]
        patch(w, case.path, [(int(record_id), case.leave(w, int(record_id)))])
        assert record_id in case.excluded(w), "the patch did not take the record out of the filter"
        assert asyncio.run(pair.run_counts(w))["failed"] == 0
        after = case.target(w)
        if case.policy == "kept":
            assert after.get(record_id) == before[record_id]
        else:
            assert record_id not in after
        assert {k: v for k, v in after.items() if k != record_id} == {k: v for k, v in before.items() if k != record_id}
        if case.itemized:
            assert case.links is not None
            item = asyncio.run(last_item(w, case.links, record_id))
            assert item.action == ("skip" if case.policy == "kept" else "delete"), item
            assert case.reason in item.reason, item.reason


@pytest.mark.parametrize("case", EXCLUDED)
def test_pairs_without_filters(case: None) -> None:
    """The mirror has no filter setting: its configuration refuses one (so excluding it from the property is right)."""
    with pytest.raises(ValueError, match="filters"):
        MirrorSync.model_validate({"objects": ["companies"], "filters": []})
