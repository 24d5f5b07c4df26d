"""Tests for the sandbox's generated ConnectWise data set."""

from __future__ import annotations

import gc
import json
import os
import random
import re
import subprocess
import sys
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from cwsync_sandbox.connectwise.dataset import ENTITIES, Dataset

BASE = "https://sandbox.local/v4_6_release/apis/3.0"
ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
ANCHOR_TEXT = "2026-11-01T00:00:00Z"

# API path (after the base) -> entity, as in api-notes §5; "{}" is a parent id.
PATHS = {
    "/company/companies/types": "company_types",
    "/company/companies/statuses": "company_statuses",
    "/company/companies/{}/sites": "sites",
    "/company/companies": "companies",
    "/company/contacts": "contacts",
    "/company/configurations/types": "configuration_types",
    "/company/configurations/statuses": "configuration_statuses",
    "/company/configurations": "configurations",
    "/finance/agreements/types": "agreement_types",
    "/finance/agreements": "agreements",
    "/sales/opportunities/statuses": "opportunity_statuses",
    "/sales/opportunities/types": "opportunity_types",
    "/sales/opportunities/{}/forecast": "forecast_items",
    "/sales/opportunities": "opportunities",
    "/sales/stages": "opportunity_stages",
    "/sales/probabilities": "sales_probabilities",
    "/procurement/catalog": "catalog_items",
    "/procurement/categories": "product_categories",
    "/procurement/subcategories": "product_subcategories",
    "/procurement/manufacturers": "manufacturers",
    "/procurement/types": "product_types",
    "/service/boards/{}/statuses": "board_statuses",
    "/service/boards": "boards",
    "/service/tickets/{}/notes": "ticket_notes",
    "/service/tickets": "tickets",
    "/system/members": "members",
}
HREF = re.compile(
    "^"
    + re.escape(BASE)
    + "(?P<path>"
    + "|".join(re.escape(p).replace(r"\{\}", rf"(?P<parent{i}>\d+)") for i, p in enumerate(PATHS))
    + r")/(?P<id>\d+)$"
)


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return Dataset(seed=7, records=3000)


def sample_ids(ds: Dataset, entity: str, k: int = 40) -> list[int]:
    n = ds.count(entity)
    return sorted(random.Random(entity).sample(range(1, n + 1), min(k, n)))


def sample(ds: Dataset, k: int = 40) -> Iterator[tuple[str, dict[str, Any]]]:
    for entity in ENTITIES:
        for rid in sample_ids(ds, entity, k):
            yield entity, ds.record(entity, rid)


def references(value: Any, top: bool = True) -> Iterator[tuple[dict[str, Any], str]]:
    """Every nested reference object ({id, ..., _info: {x_href}}) with its href, below the top level."""
    if isinstance(value, dict):
        info = value.get("_info")
        if not top and "id" in value and isinstance(info, dict):
            for key, href in info.items():
                if key.endswith("_href") and "?" not in href:
                    yield value, href
        for key, item in value.items():
            if key != "_info":
                yield from references(item, top=False)
    elif isinstance(value, list):
        for item in value:
            yield from references(item, top=False)


def resolve(ds: Dataset, href: str) -> tuple[str, int] | None:
    """(entity, id) an href names, checking any parent id in it; None for a non-entity resource."""
    match = HREF.match(href)
    if not match:
        return None
    template = next(p for p in PATHS if re.fullmatch(re.escape(p).replace(r"\{\}", r"\d+"), match["path"]))
    entity, rid = PATHS[template], int(match["id"])
    parent = next((v for k, v in match.groupdict().items() if k.startswith("parent") and v), None)
    if parent is not None:
        assert ds.parent_id(entity, rid) == int(parent), href
    return entity, rid


def display_name(entity: str, rec: dict[str, Any]) -> str:
    if entity in ("contacts", "members"):
        return f"{rec['firstName']} {rec.get('lastName', '')}".strip()
    if entity == "sales_probabilities":
        return str(rec["probability"])
    return str(rec.get("name", rec.get("description")))


def strings(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield key, item
            else:
                yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def test_same_seed_gives_same_data() -> None:
    """Two data sets built with the same arguments return identical records."""
    a, b = Dataset(seed=3, records=1500), Dataset(seed=3, records=1500)
    assert a.describe() == b.describe()
    assert list(sample(a, 15)) == list(sample(b, 15))


def test_same_data_in_another_process() -> None:
    """Records do not depend on the process (string hash randomisation, import order)."""
    script = (
        "import json; from cwsync_sandbox.connectwise.dataset import Dataset; ds = Dataset(seed=3, records=1500); "
        "print(json.dumps([ds.record(e, 5) for e in ('companies', 'contacts', 'configurations', 'tickets')]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    ds = Dataset(seed=3, records=1500)
    assert json.loads(out.stdout) == [ds.record(e, 5) for e in ("companies", "contacts", "configurations", "tickets")]


def test_different_seed_gives_different_data() -> None:
    """A different seed changes the content of the records."""
    a, b = Dataset(seed=3, records=1500), Dataset(seed=4, records=1500)
    for entity in ("companies", "contacts", "configurations", "tickets", "catalog_items", "members"):
        assert a.record(entity, 2) != b.record(entity, 2), entity


def test_records_are_split_in_realistic_proportions() -> None:
    """`records` is split over the main entities; lookup tables keep their fixed size."""
    counts = Dataset(records=100_000).describe()
    assert list(counts) == list(ENTITIES)
    assert counts["configurations"] == 40_000
    assert counts["contacts"] == 12_000
    assert counts["tickets"] == 11_000
    assert counts["ticket_notes"] >= counts["tickets"]
    assert counts["companies"] == 3_500
    assert counts["members"] == 500
    assert counts["company_statuses"] == Dataset(records=10).count("company_statuses")
    assert 100_000 <= sum(counts.values()) <= 100_300


def test_counts_override_and_minimums() -> None:
    """`counts` overrides an entity's count; minimums keep every reference resolvable."""
    big = Dataset(records=2000, counts={"configurations": 100_000, "tickets": 0})
    assert big.count("configurations") == 100_000
    assert big.count("companies") == 70
    assert big.count("tickets") == big.count("ticket_notes") == big.count("time_entries") == 0
    tiny = Dataset(records=0).describe()
    assert tiny["companies"] == 3
    assert tiny["members"] == 2
    assert tiny["sites"] >= 3
    assert tiny["contacts"] >= 3
    assert tiny["board_statuses"] >= 6
    assert tiny["product_subcategories"] >= 6
    with pytest.raises(ValueError, match="unknown"):
        Dataset(counts={"widgets": 1})


def test_unknown_entity_and_out_of_range_ids_raise(ds: Dataset) -> None:
    """Unknown entities raise KeyError; ids outside 1..count raise IndexError."""
    with pytest.raises(KeyError):
        ds.record("widgets", 1)
    with pytest.raises(KeyError):
        ds.child_ids("contacts", 1)
    for bad in (0, ds.count("tickets") + 1):
        with pytest.raises(IndexError):
            ds.record("tickets", bad)
    with pytest.raises(IndexError):
        ds.parent_id("sites", ds.count("sites") + 1)


def test_references_point_at_existing_records_with_matching_names(ds: Dataset) -> None:
    """Every entity reference resolves to an existing record and carries that record's name/identifier."""
    seen = Counter[str]()
    for _, rec in sample(ds, 25):
        for ref, href in references(rec):
            target = resolve(ds, href)
            if target is None:
                continue
            entity, rid = target
            assert ref["id"] == rid, href
            assert 1 <= rid <= ds.count(entity), href
            other = ds.record(entity, rid)
            if "name" in ref:
                assert ref["name"] == display_name(entity, other), href
            if "identifier" in ref:
                assert ref["identifier"] == other["identifier"], href
            if "sort" in ref:
                assert ref["sort"] == other["sortOrder"], href
            seen[entity] += 1
    assert set(seen) >= {"companies", "contacts", "sites", "members", "board_statuses", "catalog_items"}


def test_plain_id_links_point_at_existing_records(ds: Dataset) -> None:
    """ticketId, chargeToId and objectId name existing tickets; notes only follow their ticket."""
    for entity, key in (("ticket_notes", "ticketId"), ("time_entries", "chargeToId"), ("schedule_entries", "objectId")):
        for rid in sample_ids(ds, entity):
            rec = ds.record(entity, rid)
            ticket = ds.record("tickets", rec[key])
            assert rec.get("company", ticket["company"]) == ticket["company"]
            started = rec.get("dateCreated") or rec.get("timeStart") or rec["dateStart"]
            assert started >= ticket["_info"]["dateEntered"], (entity, rid)


def test_child_ids_and_parent_id_agree_with_records(ds: Dataset) -> None:
    """child_ids/parent_id partition each child entity and match the parent field in the records."""
    parent_field = {
        "sites": lambda r: r["company"]["id"],
        "ticket_notes": lambda r: r["ticketId"],
        "forecast_items": lambda r: r["opportunity"]["id"],
        "board_statuses": lambda r: r["board"]["id"],
        "product_subcategories": lambda r: r["category"]["id"],
    }
    assert set(Dataset.CHILD_PARENTS) == set(parent_field)
    for entity, parent in Dataset.CHILD_PARENTS.items():
        ids = [c for p in range(1, ds.count(parent) + 1) for c in ds.child_ids(entity, p)]
        assert ids == list(range(1, ds.count(entity) + 1)), entity
        for p in sample_ids(ds, parent, 15):
            for c in ds.child_ids(entity, p):
                assert ds.parent_id(entity, c) == p
                assert parent_field[entity](ds.record(entity, c)) == p


def test_every_ticket_opens_with_a_description_note(ds: Dataset) -> None:
    """With default proportions each ticket has notes, the first being its detail description."""
    for tid in sample_ids(ds, "tickets", 60):
        notes = [ds.record("ticket_notes", n) for n in ds.child_ids("ticket_notes", tid)]
        assert notes, tid
        assert notes[0]["detailDescriptionFlag"]
        assert [n["dateCreated"] for n in notes] == sorted(n["dateCreated"] for n in notes)
        assert all(n["resolutionFlag"] for n in notes[1:][-1:] if ds.record("tickets", tid)["closedFlag"])


def test_child_lookup_is_exact_at_scale() -> None:
    """parent_id and child_ids stay consistent on a 250k-record data set."""
    big = Dataset(seed=11, records=250_000)
    rng = random.Random(5)
    for entity in ("sites", "ticket_notes", "forecast_items"):
        for c in rng.sample(range(1, big.count(entity) + 1), 300):
            assert c in big.child_ids(entity, big.parent_id(entity, c))


def test_company_identifiers_are_unique_and_valid() -> None:
    """Company identifiers are unique, at most 30 characters without spaces; names fit in 50."""
    big = Dataset(seed=2, records=2000, counts={"companies": 4000})
    identifiers = set()
    for cid in range(1, 4001):
        rec = big.record("companies", cid)
        assert len(rec["identifier"]) <= 30
        assert " " not in rec["identifier"]
        assert len(rec["name"]) <= 50
        identifiers.add(rec["identifier"])
    assert len(identifiers) == 4000


def test_configuration_serials_and_macs_are_unique() -> None:
    """Serial numbers and MAC addresses of configurations do not repeat."""
    big = Dataset(seed=2, records=2000, counts={"configurations": 8_000})
    serials, macs = Counter[str](), Counter[str]()
    for cfg in range(1, 8_001):
        rec = big.record("configurations", cfg)
        serials.update([rec["serialNumber"]] if "serialNumber" in rec else [])
        macs.update([rec["macAddress"]] if "macAddress" in rec else [])
    assert len(serials) > 6_000
    assert serials.most_common(1)[0][1] == 1
    assert macs.most_common(1)[0][1] == 1


def test_records_only_carry_documented_field_names(ds: Dataset) -> None:
    """Every record's keys are among field_names(entity), and the key fields of api-notes §5 are there."""
    for entity, rec in sample(ds, 30):
        assert {"id", "_info"} <= set(rec), entity
        assert set(rec) <= ds.field_names(entity), (entity, set(rec) - ds.field_names(entity))
    expected = {
        "companies": {"identifier", "name", "status", "types", "deletedFlag", "site", "defaultContact", "customFields"},
        "sites": {"name", "stateReference", "primaryAddressFlag", "company"},
        "contacts": {"firstName", "lastName", "company", "defaultFlag", "inactiveFlag", "communicationItems"},
        "configurations": {"name", "type", "status", "company", "activeFlag", "questions", "customFields"},
        "configuration_statuses": {"description", "closedFlag"},
        "agreements": {"name", "type", "company", "agreementStatus", "startDate", "billAmount"},
        "opportunities": {"name", "company", "primarySalesRep", "status", "stage", "probability", "expectedCloseDate"},
        "opportunity_types": {"description", "inactiveFlag"},
        "sales_probabilities": {"probability"},
        "forecast_items": {"opportunity", "catalogItem", "quantity", "revenue", "cost", "forecastType", "status"},
        "catalog_items": {"identifier", "description", "subcategory", "type", "inactiveFlag", "price", "cost"},
        "board_statuses": {"name", "board", "sortOrder", "inactive", "closedStatus"},
        "tickets": {"summary", "recordType", "board", "status", "company", "priority", "closedFlag"},
        "ticket_notes": {"ticketId", "text", "detailDescriptionFlag", "internalAnalysisFlag", "resolutionFlag"},
        "members": {"identifier", "firstName", "licenseClass", "primaryEmail", "inactiveFlag", "securityRole"},
        "schedule_entries": {"objectId", "member", "type", "dateStart", "dateEnd"},
        "time_entries": {"chargeToId", "chargeToType", "member", "timeStart", "timeEnd", "actualHours", "notes"},
    }
    for entity, fields in expected.items():
        assert fields <= set(ds.record(entity, 2)), (entity, fields - set(ds.record(entity, 2)))
    assert "name" not in ds.field_names("configuration_statuses")
    assert "inactiveFlag" not in ds.field_names("board_statuses")


def test_reference_shapes_follow_the_api(ds: Dataset) -> None:
    """Company/member refs carry identifier, priority carries sort and level, schedule type {id:4, S}."""
    ticket = ds.record("tickets", 5)
    assert set(ticket["company"]) == {"id", "identifier", "name", "_info"}
    assert set(ticket["priority"]) == {"id", "name", "sort", "level", "_info"}
    assert set(ticket["status"]) == {"id", "name", "sort", "_info"}
    assert ticket["recordType"] == "ServiceTicket"
    assert len(ticket["summary"]) <= 100
    assert ticket["company"]["_info"]["company_href"] == f"{BASE}/company/companies/{ticket['company']['id']}"
    entry = ds.record("schedule_entries", 1)
    assert entry["type"]["id"] == 4
    assert entry["type"]["identifier"] == "S"
    assert set(ds.record("opportunities", 1)["primarySalesRep"]) == {"id", "identifier", "name", "_info"}
    forecast = ds.record("forecast_items", 1)
    assert set(forecast["catalogItem"]) >= {"id", "identifier", "_info"}
    assert forecast["forecastType"] in ("Product", "Service")


def test_ticket_statuses_belong_to_the_ticket_board(ds: Dataset) -> None:
    """A ticket's status is one of its board's statuses, and closedFlag follows closedStatus."""
    boards = Counter[str]()
    for tid in sample_ids(ds, "tickets", 80):
        ticket = ds.record("tickets", tid)
        status = ds.record("board_statuses", ticket["status"]["id"])
        assert status["board"]["id"] == ticket["board"]["id"]
        assert ticket["closedFlag"] == status["closedStatus"]
        assert ("closedDate" in ticket) == ticket["closedFlag"]
        boards[ticket["board"]["name"]] += 1
    assert len(boards) >= 3


def test_datetimes_are_formatted_and_ordered(ds: Dataset) -> None:
    """Datetimes are yyyy-MM-ddTHH:mm:ssZ; audit and event times are before the anchor and in order."""
    events = ("dateCreated", "timeStart", "timeEnd", "dateStart", "dateEnd", "closedDate", "dateDeleted")
    for entity, rec in sample(ds, 30):
        for key, text in strings(rec):
            if key.startswith("date") or key.endswith(("Date", "Start", "End", "Updated")):
                assert DATETIME.match(text), (entity, key, text)
        info = rec["_info"]
        assert DATETIME.match(info["dateEntered"])
        assert DATETIME.match(info["lastUpdated"])
        assert info["dateEntered"] <= info["lastUpdated"] < ANCHOR_TEXT, (entity, rec["id"])
        for key in events:
            if key in rec:
                assert rec[key] < ANCHOR_TEXT, (entity, key)
        assert rec.get("timeStart", "") <= rec.get("timeEnd", "~")
        assert rec.get("dateStart", "") <= rec.get("dateEnd", "~")


def test_anchor_and_href_base_are_honoured() -> None:
    """All audit times fall before a custom anchor, and hrefs start with the given base."""
    ds = Dataset(records=500, anchor=datetime(2020, 1, 1, 12, 0, tzinfo=UTC), href_base="http://x/apis/3.0/")
    for _, rec in sample(ds, 10):
        assert rec["_info"]["lastUpdated"] < "2020-01-01T12:00:00Z"
        for _, href in references(rec):
            assert href.startswith("http://x/apis/3.0/")
            assert "3.0//" not in href


def test_msp_and_api_member(ds: Dataset) -> None:
    """Company 1 is the MSP (type Owner); member 1 is the API member with license class A and no lastName."""
    msp = ds.record("companies", 1)
    assert [t["name"] for t in msp["types"]] == ["Owner"]
    assert msp["identifier"].endswith("MSP")
    assert not msp["deletedFlag"]
    api = ds.record("members", 1)
    assert api["identifier"] == "cwsync-api"
    assert api["licenseClass"] == "A"
    assert "lastName" not in api
    assert len({ds.record("members", m)["identifier"] for m in range(1, ds.count("members") + 1)}) == ds.count(
        "members"
    )
    assert all(len(ds.record("members", m)["identifier"]) <= 15 for m in range(1, ds.count("members") + 1))


def test_companies_look_like_an_msp_book() -> None:
    """Mostly active customers, some prospects and vendors, a few deleted, custom fields without empty values."""
    ds = Dataset(seed=5, records=20_000)
    companies = [ds.record("companies", c) for c in range(1, ds.count("companies") + 1)]
    types = Counter(t["name"] for c in companies for t in c["types"])
    assert types["Customer"] > types["Prospect"] > 0
    assert types["Vendor"] > 0
    assert any({"Customer", "Prospect"} <= {t["name"] for t in c["types"]} for c in companies)
    statuses = Counter(c["status"]["name"] for c in companies)
    assert statuses["Active"] > 0.7 * len(companies)
    assert statuses["Inactive"] > 0
    deleted = [c for c in companies if c["deletedFlag"]]
    assert 0 < len(deleted) < 0.1 * len(companies)
    assert all("dateDeleted" in c and "deletedBy" in c for c in deleted)
    fields = [f for c in companies for f in c["customFields"]]
    assert {f["caption"] for f in fields} >= {"Tier", "Onboarded"}
    assert all(f.get("value", "x") != "" for f in fields)
    assert any("value" not in f for f in fields)
    assert {f["value"] for f in fields if f["caption"] == "Tier" and "value" in f} == {"Gold", "Silver", "Bronze"}


def test_every_company_has_a_main_site_and_one_default_contact(ds: Dataset) -> None:
    """Each company's first site is Main (primary address) and exactly one of its contacts is the default."""
    contacts_by_company: dict[int, list[dict[str, Any]]] = {}
    for ct in range(1, ds.count("contacts") + 1):
        rec = ds.record("contacts", ct)
        contacts_by_company.setdefault(rec["company"]["id"], []).append(rec)
    for cid in sample_ids(ds, "companies", 30):
        company = ds.record("companies", cid)
        main = ds.record("sites", ds.child_ids("sites", cid)[0])
        assert main["name"] == "Main"
        assert main["primaryAddressFlag"]
        assert company["site"]["id"] == main["id"]
        defaults = [c for c in contacts_by_company[cid] if c["defaultFlag"]]
        assert [c["id"] for c in defaults] == [company["defaultContact"]["id"]]


def test_contacts_have_realistic_communication_items(ds: Dataset) -> None:
    """Most contacts have one e-mail at their company's domain; a few have none, a few have two."""
    emails = []
    for ct in range(1, ds.count("contacts") + 1):
        rec = ds.record("contacts", ct)
        items = rec["communicationItems"]
        mails = [i for i in items if i["communicationType"] == "Email"]
        emails.append(len(mails))
        for item in mails:
            assert item["type"] == {"id": 1, "name": "Email"}
            assert item["value"].endswith(item["domain"])
        assert all(i["communicationType"] in ("Email", "Phone") for i in items)
    counts = Counter(emails)
    assert counts[1] > 0.8 * len(emails)
    assert counts[0] > 0
    assert counts[2] > 0


def test_records_are_fresh_dicts(ds: Dataset) -> None:
    """Mutating a returned record does not change the next one built."""
    first = ds.record("configurations", 3)
    first["company"]["name"] = "changed"
    first["_info"].clear()
    assert ds.record("configurations", 3)["company"]["name"] != "changed"
    assert ds.record("configurations", 3)["_info"]


def test_memory_stays_small_for_a_large_data_set() -> None:
    """A 250k-record data set plus 10k generated records retains only a few MB."""
    gc.collect()
    tracemalloc.start()
    try:
        big = Dataset(seed=9, records=250_000)
        for i in range(10_000):  # every entity in turn, ids spread over the whole range
            entity = ENTITIES[i % len(ENTITIES)]
            big.record(entity, 1 + (i * 7919) % big.count(entity))
        gc.collect()
        retained, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert big.count("configurations") == 100_000
    assert retained < 5 * 1024 * 1024, retained
