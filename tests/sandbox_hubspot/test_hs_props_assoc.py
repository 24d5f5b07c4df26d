"""HubSpot emulator: Properties API (notes A8), associations v4 (A7), pipelines (A9) and owners."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cwsync_sandbox.hubspot import HubSpotSandbox, HubSpotSandboxSettings, build_hubspot_sandbox
from tests.sandbox_hubspot.conftest import assert_error

BASE = "http://hubspot.test"


@pytest.fixture
def box() -> HubSpotSandbox:
    """An empty portal with six owners."""
    return build_hubspot_sandbox(HubSpotSandboxSettings(base_url=BASE, seed=9, owners=6))


async def create(hs: httpx.AsyncClient, object_type: str, body: dict[str, Any]) -> str:
    """POST a record and return its id."""
    response = await hs.post(f"/crm/v3/objects/{object_type}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def prop(name: str, kind: str, field_type: str, **extra: Any) -> dict[str, Any]:
    """A PropertyCreate body in the companies' default group."""
    body = {"name": name, "label": name.title(), "type": kind, "fieldType": field_type}
    return body | {"groupName": "companyinformation"} | extra


# -- properties --------------------------------------------------------------------------------------------------


async def test_default_properties_have_types_and_options(hs: httpx.AsyncClient) -> None:
    """Default company, contact and deal properties are listed with type, fieldType and options."""
    companies = {p["name"]: p for p in (await hs.get("/crm/v3/properties/companies")).json()["results"]}
    for name in ("name", "domain", "phone", "city", "state", "country", "industry", "lifecyclestage"):
        assert name in companies
    assert (companies["industry"]["type"], companies["industry"]["fieldType"]) == ("enumeration", "select")
    assert companies["industry"]["options"][0].keys() >= {"label", "value", "displayOrder", "hidden"}
    assert companies["hs_lastmodifieddate"]["modificationMetadata"]["readOnlyValue"] is True
    contacts = {p["name"]: p for p in (await hs.get("/crm/v3/properties/contacts")).json()["results"]}
    assert {"email", "firstname", "lastname", "phone", "mobilephone", "jobtitle", "company"} <= set(contacts)
    assert contacts["email"]["hasUniqueValue"] is True
    deals = {p["name"]: p for p in (await hs.get("/crm/v3/properties/deals")).json()["results"]}
    assert {"dealname", "amount", "closedate", "dealstage", "pipeline", "hubspot_owner_id"} <= set(deals)
    assert deals["closedate"]["type"] == "datetime"
    assert "closedwon" in [o["value"] for o in deals["dealstage"]["options"]]


async def test_get_one_property_and_404_for_unknown(hs: httpx.AsyncClient) -> None:
    """GET a property by name; an unknown name is a 404."""
    assert (await hs.get("/crm/v3/properties/contacts/email")).json()["type"] == "string"
    assert_error(await hs.get("/crm/v3/properties/contacts/shoe_size"), 404, "OBJECT_NOT_FOUND")


@pytest.mark.parametrize(
    ("kind", "field_type"),
    [
        ("bool", "booleancheckbox"),
        ("enumeration", "checkbox"),
        ("enumeration", "radio"),
        ("date", "date"),
        ("datetime", "date"),
        ("string", "textarea"),
        ("string", "phonenumber"),
        ("number", "number"),
        ("phone_number", "phonenumber"),
    ],
)
async def test_valid_type_field_type_pairs_are_created(hs: httpx.AsyncClient, kind: str, field_type: str) -> None:
    """Each documented type/fieldType pair creates a property (201)."""
    options = [{"label": "A", "value": "a", "hidden": False}] if kind == "enumeration" else None
    body = prop("custom_thing", kind, field_type, **({"options": options} if options else {}))
    response = await hs.post("/crm/v3/properties/companies", json=body)
    assert response.status_code == 201, response.text
    assert (response.json()["type"], response.json()["fieldType"]) == (kind, field_type)
    assert response.json()["hubspotDefined"] is False


@pytest.mark.parametrize(
    ("kind", "field_type"),
    [("number", "text"), ("string", "number"), ("date", "text"), ("bool", "select"), ("phone_number", "text")],
)
async def test_invalid_type_field_type_pairs_are_400(hs: httpx.AsyncClient, kind: str, field_type: str) -> None:
    """A fieldType not allowed for the type is a 400."""
    response = await hs.post("/crm/v3/properties/companies", json=prop("custom_bad", kind, field_type))
    assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "no_label", "type": "string", "fieldType": "text", "groupName": "companyinformation"},
        prop("Bad-Name", "string", "text"),
        prop("no_options", "enumeration", "select"),
        prop("no_group", "string", "text", groupName="nowhere"),
        prop("weird", "colour", "text"),
    ],
)
async def test_property_create_validation(hs: httpx.AsyncClient, body: dict[str, Any]) -> None:
    """Missing required fields, a bad name, an enumeration without options, an unknown group or type: 400."""
    assert_error(await hs.post("/crm/v3/properties/companies", json=body), 400, "VALIDATION_ERROR")


async def test_existing_property_name_is_409(hs: httpx.AsyncClient) -> None:
    """Creating a property whose name exists (custom or HubSpot-defined) is a 409 CONFLICT."""
    assert (await hs.post("/crm/v3/properties/companies", json=prop("psa_id", "string", "text"))).status_code == 201
    assert_error(await hs.post("/crm/v3/properties/companies", json=prop("psa_id", "string", "text")), 409, "CONFLICT")
    assert_error(await hs.post("/crm/v3/properties/companies", json=prop("domain", "string", "text")), 409, "CONFLICT")


async def test_custom_property_is_writable_and_searchable(hs: httpx.AsyncClient) -> None:
    """Values of a new custom property can be written, read and searched."""
    await hs.post("/crm/v3/properties/companies", json=prop("cw_company_id", "number", "number"))
    company = await create(hs, "companies", {"properties": {"name": "Acme", "cw_company_id": 42}})
    read = await hs.get(f"/crm/v3/objects/companies/{company}", params={"properties": "cw_company_id"})
    assert read.json()["properties"]["cw_company_id"] == "42"
    body = {"filterGroups": [{"filters": [{"propertyName": "cw_company_id", "operator": "EQ", "value": "42"}]}]}
    assert [r["id"] for r in (await hs.post("/crm/v3/objects/companies/search", json=body)).json()["results"]] == [
        company
    ]


async def test_unique_custom_property_supports_id_property_and_rejects_duplicates(hs: httpx.AsyncClient) -> None:
    """A `hasUniqueValue` property works as idProperty (GET, upsert) and refuses a second record with its value."""
    await hs.post("/crm/v3/properties/companies", json=prop("cw_id", "string", "text", hasUniqueValue=True))
    company = await create(hs, "companies", {"properties": {"name": "Acme", "cw_id": "CW-1"}})
    assert (await hs.get("/crm/v3/objects/companies/CW-1", params={"idProperty": "cw_id"})).json()["id"] == company
    duplicate = await hs.post("/crm/v3/objects/companies", json={"properties": {"cw_id": "CW-1"}})
    assert_error(duplicate, 409, "CONFLICT")
    upsert = await hs.post(
        "/crm/v3/objects/companies/batch/upsert",
        json={"inputs": [{"id": "CW-1", "idProperty": "cw_id", "properties": {"name": "Acme Inc"}}]},
    )
    assert upsert.json()["results"][0]["id"] == company
    assert upsert.json()["results"][0]["new"] is False


async def test_archived_property_cannot_be_written(hs: httpx.AsyncClient) -> None:
    """After DELETE (204) a custom property is archived: listed with archived=true, refused on write."""
    await hs.post("/crm/v3/properties/companies", json=prop("old_field", "string", "text"))
    assert (await hs.delete("/crm/v3/properties/companies/old_field")).status_code == 204
    archived = (await hs.get("/crm/v3/properties/companies", params={"archived": "true"})).json()["results"]
    assert [p["name"] for p in archived] == ["old_field"]
    response = await hs.post("/crm/v3/objects/companies", json={"properties": {"old_field": "x"}})
    assert assert_error(response, 400, "VALIDATION_ERROR")["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"


async def test_hubspot_defined_property_cannot_be_archived_or_changed(hs: httpx.AsyncClient) -> None:
    """A HubSpot-defined property can be neither archived nor redefined (400)."""
    assert_error(await hs.delete("/crm/v3/properties/companies/name"), 400, "VALIDATION_ERROR")
    assert_error(await hs.patch("/crm/v3/properties/companies/name", json={"label": "X"}), 400, "VALIDATION_ERROR")


async def test_patch_custom_property_options(hs: httpx.AsyncClient) -> None:
    """PATCH replaces a custom enumeration's options, which then govern writes."""
    options = [{"label": "Gold", "value": "gold", "hidden": False}]
    await hs.post("/crm/v3/properties/companies", json=prop("tier", "enumeration", "select", options=options))
    patched = await hs.patch(
        "/crm/v3/properties/companies/tier", json={"options": [{"label": "Silver", "value": "silver", "hidden": False}]}
    )
    assert [o["value"] for o in patched.json()["options"]] == ["silver"]
    refused = await hs.post("/crm/v3/objects/companies", json={"properties": {"tier": "gold"}})
    assert assert_error(refused, 400, "VALIDATION_ERROR")["errors"][0]["code"] == "INVALID_OPTION"


async def test_property_groups(hs: httpx.AsyncClient) -> None:
    """Groups can be created (201, 409 on an existing name), listed, read and used by new properties."""
    group = {"name": "cwsync", "label": "ConnectWise sync", "displayOrder": 3}
    created = await hs.post("/crm/v3/properties/contacts/groups", json=group)
    assert created.status_code == 201
    assert created.json() == {**group, "archived": False}
    assert_error(await hs.post("/crm/v3/properties/contacts/groups", json=group), 409, "CONFLICT")
    names = [g["name"] for g in (await hs.get("/crm/v3/properties/contacts/groups")).json()["results"]]
    assert names == ["contactinformation", "cwsync"]
    body = {"name": "cw_contact_id", "label": "CW id", "type": "string", "fieldType": "text", "groupName": "cwsync"}
    assert (await hs.post("/crm/v3/properties/contacts", json=body)).status_code == 201


async def test_properties_batch_endpoints(hs: httpx.AsyncClient) -> None:
    """Batch create (201), read (207 naming unknown ones) and archive (204) properties."""
    inputs = [prop("one_field", "string", "text"), prop("two_field", "number", "number")]
    assert (await hs.post("/crm/v3/properties/companies/batch/create", json={"inputs": inputs})).status_code == 201
    read = await hs.post(
        "/crm/v3/properties/companies/batch/read", json={"inputs": [{"name": "one_field"}, {"name": "missing"}]}
    )
    assert read.status_code == 207
    assert [p["name"] for p in read.json()["results"]] == ["one_field"]
    archive = await hs.post("/crm/v3/properties/companies/batch/archive", json={"inputs": [{"name": "one_field"}]})
    assert archive.status_code == 204


async def test_properties_on_date_versioned_path(hs: httpx.AsyncClient) -> None:
    """`/crm/properties/2026-03/{type}` answers like `/crm/v3/properties/{type}`."""
    legacy = (await hs.get("/crm/v3/properties/deals")).json()
    assert (await hs.get("/crm/properties/2026-03/deals")).json() == legacy


# -- associations ------------------------------------------------------------------------------------------------


async def test_create_with_association_shows_both_directions(hs: httpx.AsyncClient) -> None:
    """Creating a contact with a 279 association links it to the company; the company sees 280 back."""
    company = await create(hs, "companies", {"properties": {"name": "Acme"}})
    spec = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]
    body = {"properties": {"email": "a@acme.com"}, "associations": [{"to": {"id": company}, "types": spec}]}
    contact = await create(hs, "contacts", body)
    forward = (await hs.get(f"/crm/v4/objects/contacts/{contact}/associations/companies")).json()
    unlabelled = {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}
    assert forward == {"results": [{"toObjectId": int(company), "associationTypes": [unlabelled]}]}
    backward = (await hs.get(f"/crm/v4/objects/companies/{company}/associations/contacts")).json()
    assert backward["results"][0]["toObjectId"] == int(contact)
    assert backward["results"][0]["associationTypes"][0]["typeId"] == 280
    shown = (await hs.get(f"/crm/v3/objects/contacts/{contact}", params={"associations": "companies"})).json()
    assert shown["associations"]["companies"]["results"] == [{"id": company, "type": "contact_to_company_unlabeled"}]


async def test_create_with_wrong_association_type_is_400(hs: httpx.AsyncClient) -> None:
    """An association type that does not fit the object types, or a missing target, is a 400."""
    company = await create(hs, "companies", {"properties": {"name": "Acme"}})
    wrong = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}]  # deal -> company
    response = await hs.post(
        "/crm/v3/objects/contacts",
        json={"properties": {"email": "w@acme.com"}, "associations": [{"to": {"id": company}, "types": wrong}]},
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    good = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]
    missing = await hs.post(
        "/crm/v3/objects/contacts",
        json={"properties": {"email": "w@acme.com"}, "associations": [{"to": {"id": "12"}, "types": good}]},
    )
    assert_error(missing, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    ("from_type", "to_type", "forward", "backward"),
    [
        ("contacts", "companies", 279, 280),
        ("deals", "companies", 341, 342),
        ("deals", "contacts", 3, 4),
        ("line_items", "deals", 20, 19),
    ],
)
async def test_default_association_type_ids(
    hs: httpx.AsyncClient, from_type: str, to_type: str, forward: int, backward: int
) -> None:
    """PUT .../associations/default/... creates the documented unlabelled type and its inverse (200)."""
    from_id = await create(hs, from_type, {"properties": {}})
    to_id = await create(hs, to_type, {"properties": {}})
    response = await hs.put(f"/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "COMPLETE"
    specs = [(r["from"]["id"], r["to"]["id"], r["associationSpec"]["associationTypeId"]) for r in body["results"]]
    assert specs == [(from_id, to_id, forward), (to_id, from_id, backward)]


async def test_labelled_association_adds_unlabelled_and_primary_is_exclusive(hs: httpx.AsyncClient) -> None:
    """PUT with the Primary type (1) returns 201 with labels and keeps 279; a new primary replaces the old one."""
    first = await create(hs, "companies", {"properties": {"name": "First"}})
    second = await create(hs, "companies", {"properties": {"name": "Second"}})
    contact = await create(hs, "contacts", {"properties": {}})
    primary = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]
    response = await hs.put(f"/crm/v4/objects/contacts/{contact}/associations/companies/{first}", json=primary)
    assert response.status_code == 201
    assert response.json() == {
        "fromObjectTypeId": "0-1",
        "fromObjectId": int(contact),
        "toObjectTypeId": "0-2",
        "toObjectId": int(first),
        "labels": ["Primary"],
    }
    await hs.put(f"/crm/v4/objects/contacts/{contact}/associations/companies/{second}", json=primary)
    listed = (await hs.get(f"/crm/v4/objects/contacts/{contact}/associations/companies")).json()["results"]
    types = {r["toObjectId"]: sorted(t["typeId"] for t in r["associationTypes"]) for r in listed}
    assert types == {int(first): [279], int(second): [1, 279]}


async def test_delete_removes_both_directions(hs: httpx.AsyncClient) -> None:
    """DELETE between two records (204) removes the association seen from either side."""
    company = await create(hs, "companies", {"properties": {}})
    contact = await create(hs, "contacts", {"properties": {}})
    await hs.put(f"/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}")
    assert (await hs.delete(f"/crm/v4/objects/contacts/{contact}/associations/companies/{company}")).status_code == 204
    assert (await hs.get(f"/crm/v4/objects/companies/{company}/associations/contacts")).json() == {"results": []}


async def test_association_batch_create_read_archive(hs: httpx.AsyncClient) -> None:
    """Batch create (201), read (207 for a record without associations) and archive (204) in v4."""
    company = await create(hs, "companies", {"properties": {}})
    contacts = [await create(hs, "contacts", {"properties": {}}) for _ in range(3)]
    spec = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]
    inputs = [{"from": {"id": c}, "to": {"id": company}, "types": spec} for c in contacts[:2]]
    created = await hs.post("/crm/v4/associations/contacts/companies/batch/create", json={"inputs": inputs})
    assert created.status_code == 201
    assert [r["toObjectId"] for r in created.json()["results"]] == [int(company)] * 2
    read = await hs.post(
        "/crm/v4/associations/contacts/companies/batch/read", json={"inputs": [{"id": c} for c in contacts]}
    )
    assert read.status_code == 207
    body = read.json()
    assert [r["from"]["id"] for r in body["results"]] == contacts[:2]
    assert body["results"][0]["to"][0]["toObjectId"] == int(company)
    assert body["errors"][0]["context"] == {"fromObjectId": [contacts[2]]}
    archive = await hs.post(
        "/crm/v4/associations/contacts/companies/batch/archive",
        json={"inputs": [{"from": {"id": contacts[0]}, "to": [{"id": company}]}]},
    )
    assert archive.status_code == 204
    left = (await hs.get(f"/crm/v4/objects/companies/{company}/associations/contacts")).json()["results"]
    assert [r["toObjectId"] for r in left] == [int(contacts[1])]


async def test_association_batch_with_missing_record_is_207(hs: httpx.AsyncClient) -> None:
    """A batch create input naming a missing record is reported in `errors` while the others are made (207)."""
    company = await create(hs, "companies", {"properties": {}})
    contact = await create(hs, "contacts", {"properties": {}})
    spec = [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]
    inputs = [
        {"from": {"id": contact}, "to": {"id": company}, "types": spec},
        {"from": {"id": "999"}, "to": {"id": company}, "types": spec},
    ]
    response = await hs.post("/crm/v4/associations/contacts/companies/batch/create", json={"inputs": inputs})
    assert response.status_code == 207
    assert response.json()["numErrors"] == 1


async def test_association_labels_and_dated_paths(hs: httpx.AsyncClient) -> None:
    """Labels list the defined types; the 2026-03 association paths answer like v4."""
    labels = (await hs.get("/crm/v4/associations/contacts/companies/labels")).json()["results"]
    assert {(t["typeId"], t["label"]) for t in labels} == {(1, "Primary"), (279, None)}
    assert (await hs.get("/crm/associations/v4/contacts/companies/labels")).json()["results"] == labels
    company = await create(hs, "companies", {"properties": {}})
    contact = await create(hs, "contacts", {"properties": {}})
    inputs = [{"from": {"id": contact}, "to": {"id": company}}]
    path = "/crm/associations/2026-03/contacts/companies/batch/associate/default"
    dated = await hs.post(path, json={"inputs": inputs})
    assert dated.status_code == 200
    listed = (await hs.get(f"/crm/objects/2026-03/contacts/{contact}/associations/companies")).json()
    assert listed["results"][0]["toObjectId"] == int(company)


async def test_archiving_a_record_drops_its_associations(hs: httpx.AsyncClient) -> None:
    """An archived contact no longer shows among a company's associations."""
    company = await create(hs, "companies", {"properties": {}})
    contact = await create(hs, "contacts", {"properties": {}})
    await hs.put(f"/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}")
    await hs.delete(f"/crm/v3/objects/contacts/{contact}")
    assert (await hs.get(f"/crm/v4/objects/companies/{company}/associations/contacts")).json() == {"results": []}


# -- pipelines and owners ----------------------------------------------------------------------------------------


async def test_default_deal_pipeline_and_stages(hs: httpx.AsyncClient) -> None:
    """`/crm/v3/pipelines/deals` has the "Sales Pipeline" (`default`) with the standard stage ids."""
    (pipeline,) = (await hs.get("/crm/v3/pipelines/deals")).json()["results"]
    assert (pipeline["id"], pipeline["label"]) == ("default", "Sales Pipeline")
    stage_ids = [s["id"] for s in pipeline["stages"]]
    assert stage_ids[0] == "appointmentscheduled"
    assert {"closedwon", "closedlost"} <= set(stage_ids)
    stage = (await hs.get("/crm/v3/pipelines/deals/default/stages/closedwon")).json()
    assert stage["metadata"]["probability"] == "1.0"
    assert stage["writePermissions"] == "CRM_PERMISSIONS_ENFORCEMENT"
    assert len((await hs.get("/crm/v3/pipelines/deals/default/stages")).json()["results"]) == len(stage_ids)
    assert_error(await hs.get("/crm/v3/pipelines/deals/nope"), 404, "OBJECT_NOT_FOUND")
    assert (await hs.get("/crm/pipelines/2026-03/deals/default")).json() == pipeline


async def test_owners_page_filter_and_read(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """Owners page with `limit`/`after`, filter by `email`, and read by id or user id."""
    first = (await hs.get("/crm/v3/owners", params={"limit": "4"})).json()
    assert len(first["results"]) == 4
    rest = (await hs.get("/crm/v3/owners", params={"limit": "4", "after": first["paging"]["next"]["after"]})).json()
    assert len(rest["results"]) == 2
    assert "paging" not in rest
    owner = first["results"][1]
    assert set(owner) >= {"id", "email", "firstName", "lastName", "userId", "createdAt", "updatedAt", "archived"}
    by_email = (await hs.get("/crm/v3/owners", params={"email": owner["email"]})).json()["results"]
    assert [o["id"] for o in by_email] == [owner["id"]]
    assert (await hs.get(f"/crm/v3/owners/{owner['id']}")).json() == owner
    by_user = await hs.get(f"/crm/v3/owners/{owner['userId']}", params={"idProperty": "userId"})
    assert by_user.json() == owner
    deal = await create(hs, "deals", {"properties": {"hubspot_owner_id": owner["id"]}})
    assert deal.isdigit()
