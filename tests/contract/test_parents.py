"""A record that cannot sync because of its parent says so: its run item names the parent and why (#13).

For every pair with parents (HubSpot contacts and deals: their company, a deal's contact; Hudu assets: their
company), a parent that never syncs — filtered out, of a skipped type, or failing — leaves its dependents with a run
item whose reason names the parent (kind and ConnectWise id) and the parent's own reason, not "waits for ...": on
the first run, and again on an incremental run after the dependent changed (the parent is not read again then).
The pairs without parents (catalog products, devices, the mirror's tables) have nothing to wait for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from cwsync.store import Store
from tests.contract.pairs import HUBSPOT, HUDU, Pair
from tests.contract.rig import Data, World, world
from tests.contract.test_filters import GOLD_ONLY, hubspot_syncs, patch
from tests.syncs_hudu.conftest import hudu_sync_section

pytestmark = pytest.mark.loopback
Patches = list[tuple[str, int, list[dict[str, Any]]]]
"""ConnectWise JSON Patches: (path, record id, operations)."""


@dataclass(frozen=True)
class Orphan:
    """A dependent whose parent never syncs, and what its reason must name."""

    pair: str
    """The store's pair name of the dependent's run items."""
    record_id: int
    parent: str
    """The parent as the reason names it (`company 12`)."""
    why: str
    """A phrase of the parent's own reason."""
    change: tuple[str, list[dict[str, Any]]]
    """The dependent's ConnectWise path and a patch of a mapped field (for the incremental run)."""


@dataclass(frozen=True)
class Case:
    """A pair, a configuration where some parent never syncs, and how to find one of its dependents."""

    pair: Pair
    syncs: dict[str, Any]
    setup: Callable[[World], Patches]
    """Patches made before the first sync (what makes the parent fail, for instance)."""
    orphan: Callable[[World], Orphan]


def _records(w: World, entity: str) -> dict[int, dict[str, Any]]:
    return {i: r for i in w.cw_ids(entity) if (r := w.cw_record(entity, i)) is not None}


def _ref(record: dict[str, Any], name: str) -> int | None:
    ref = record.get(name) or {}
    return ref.get("id") if isinstance(ref, dict) else None


def _tier(record: dict[str, Any]) -> str | None:
    return next((f.get("value") for f in record.get("customFields") or [] if f.get("caption") == "Tier"), None)


def nothing(w: World) -> Patches:
    return []


def contact_of_a_filtered_company(w: World) -> Orphan:
    silver = {i for i, r in _records(w, "companies").items() if _tier(r) != "Gold"}
    contact, record = next((i, r) for i, r in sorted(_records(w, "contacts").items()) if _ref(r, "company") in silver)
    title = [{"op": "replace", "path": "title", "value": "Orphaned"}]
    return Orphan(
        "contacts", contact, f"company {_ref(record, 'company')}", "filtered out", ("company/contacts", title)
    )


def deal_of_a_filtered_company(w: World) -> Orphan:
    silver = {i for i, r in _records(w, "companies").items() if _tier(r) != "Gold"}
    deal, record = next((i, r) for i, r in sorted(_records(w, "opportunities").items()) if _ref(r, "company") in silver)
    name = [{"op": "replace", "path": "name", "value": "Orphaned deal"}]
    return Orphan("deals", deal, f"company {_ref(record, 'company')}", "filtered out", ("sales/opportunities", name))


def _contact_with_deal(w: World) -> tuple[int, int]:
    """A contact some opportunity names, and that opportunity (the lowest ids)."""
    contacts = _records(w, "contacts")
    return next(
        (c, i) for i, r in sorted(_records(w, "opportunities").items()) if (c := _ref(r, "contact")) in contacts
    )


def invalid_email(w: World) -> Patches:
    """The contact of a deal gets an address HubSpot refuses (INVALID_EMAIL): its create fails on every run."""
    contact, _ = _contact_with_deal(w)
    items = [
        {**c, "value": "not an address"} if c["communicationType"] == "Email" else c
        for c in _records(w, "contacts")[contact]["communicationItems"]
    ]
    return [("company/contacts", contact, [{"op": "replace", "path": "communicationItems", "value": items}])]


def deal_of_a_failing_contact(w: World) -> Orphan:
    contact, deal = _contact_with_deal(w)
    name = [{"op": "replace", "path": "name", "value": "Orphaned deal"}]
    return Orphan("deals", deal, f"contact {contact}", "INVALID_EMAIL", ("sales/opportunities", name))


def _former_customer(w: World) -> int:
    return next(
        i for i, r in sorted(_records(w, "companies").items()) if "Former Customer" in [t["name"] for t in r["types"]]
    )


def asset_of_a_skipped_company(w: World) -> Orphan:
    """A configuration (else a contact) of a company whose type is skipped."""
    company = _former_customer(w)
    for entity, path, field, value in (
        ("configurations", "company/configurations", "ipAddress", "10.1.2.3"),
        ("contacts", "company/contacts", "title", "Orphaned"),
    ):
        mine = [i for i, r in sorted(_records(w, entity).items()) if _ref(r, "company") == company]
        if mine:
            change = (path, [{"op": "replace", "path": field, "value": value}])
            return Orphan(f"hudu:{entity}", mine[0], f"company {company}", "skip_company_types", change)
    raise AssertionError(f"company {company} has no configuration or contact")


SMALL = Data(records=300, seed=3)
HS = replace(HUBSPOT, data=SMALL)
CASES = [
    pytest.param(
        Case(HS, hubspot_syncs(), nothing, contact_of_a_filtered_company), id="hubspot-contact-company-filtered"
    ),
    pytest.param(Case(HS, hubspot_syncs(), nothing, deal_of_a_filtered_company), id="hubspot-deal-company-filtered"),
    pytest.param(Case(HS, {"hubspot": {}}, invalid_email, deal_of_a_failing_contact), id="hubspot-deal-contact-fails"),
    pytest.param(
        Case(
            HUDU, {"hudu": hudu_sync_section(skip_company_types=["Former Customer"])}, nothing,
            asset_of_a_skipped_company,
        ),
        id="hudu-asset-company-skipped-type",
    ),
]  # fmt: skip
assert GOLD_ONLY  # the HubSpot cases' company filter (test_filters.GOLD_ONLY)


async def last_item(w: World, pair: str, left_id: int) -> Any:
    """The newest run item of one ConnectWise record, or None."""
    store = await Store.open(w.config.store)
    try:
        items = await store.items_for_record(w.config.tenant, pair, left_id=str(left_id), limit=1)
    finally:
        await store.close()
    return items[0] if items else None


def assert_names_parent(item: Any, orphan: Orphan) -> None:
    """The item is a skip whose reason names the parent and its reason."""
    assert item is not None, f"no run item for {orphan.pair} {orphan.record_id}"
    assert item.action == "skip", item
    assert not item.reason.startswith("waits for"), item.reason
    assert orphan.parent in item.reason, item.reason
    assert orphan.why in item.reason, item.reason


@pytest.mark.parametrize("case", CASES)
def test_a_record_whose_parent_never_syncs_names_it(case: Case, tmp_path: Path) -> None:
    """First run and an incremental run after the dependent changed: the item names the parent and why."""
    pair = case.pair
    with world(pair.data, tmp_path, case.syncs) as w:
        pair.prepare(w)
        for path, record_id, ops in case.setup(w):
            patch(w, path, [(record_id, ops)])
        orphan = case.orphan(w)
        asyncio.run(pair.run_counts(w))
        assert_names_parent(asyncio.run(last_item(w, orphan.pair, orphan.record_id)), orphan)
        path, ops = orphan.change
        patch(w, path, [(orphan.record_id, ops)])
        asyncio.run(pair.run_counts(w))
        again = asyncio.run(last_item(w, orphan.pair, orphan.record_id))
        assert_names_parent(again, orphan)
        assert again.run_id != 1, "the incremental run left no item for the changed record"
