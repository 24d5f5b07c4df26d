"""HubSpot emulator, CRM objects v3: shapes, paging, reads, writes, errors, auth, versioned paths (notes A1, A2, A5)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from cwsync_sandbox.hubspot import HubSpotSandbox, HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app

BASE = "http://hubspot.test"
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def box() -> HubSpotSandbox:
    """A small seeded portal: 6 companies, 14 contacts, 5 deals."""
    return build_hubspot_sandbox(HubSpotSandboxSettings(base_url=BASE, companies=6, contacts=14, deals=5, seed=3))


def assert_error(response: httpx.Response, status: int, category: str) -> dict[str, Any]:
    """The response is a HubSpot error: status code, `status: error`, a uuid correlationId, the category."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert isinstance(body["message"], str)
    assert body["message"]
    uuid.UUID(body["correlationId"])
    return body


async def create_contact(hs: httpx.AsyncClient, **props: Any) -> dict[str, Any]:
    """POST a contact and return the body (asserting 201)."""
    response = await hs.post("/crm/v3/objects/contacts", json={"properties": props})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_list_defaults_to_ten_with_default_contact_properties(hs: httpx.AsyncClient) -> None:
    """GET a list returns 10 records, each with exactly the documented default contact properties."""
    body = (await hs.get("/crm/v3/objects/contacts")).json()
    assert len(body["results"]) == 10
    first = body["results"][0]
    defaults = {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}
    assert set(first["properties"]) == defaults
    assert set(first) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert first["id"].isdigit()
    assert first["properties"]["hs_object_id"] == first["id"]
    assert ISO_MS.match(first["createdAt"])
    assert ISO_MS.match(first["updatedAt"])
    assert first["updatedAt"] == first["properties"]["lastmodifieddate"]
    assert first["archived"] is False


async def test_paging_visits_every_record_once_and_ends_without_paging(hs: httpx.AsyncClient) -> None:
    """Following paging.next.after walks all records; the last page has no `paging` key."""
    seen: list[str] = []
    after: str | None = None
    for _ in range(10):
        params = {"limit": "4", **({"after": after} if after else {})}
        body = (await hs.get("/crm/v3/objects/companies", params=params)).json()
        seen += [r["id"] for r in body["results"]]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
        assert f"after={after}" in body["paging"]["next"]["link"]
    assert len(seen) == len(set(seen)) == 6


async def test_limit_is_capped_at_one_hundred(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """A list `limit` above 100 returns at most 100 records."""
    for index in range(110):
        box.state.create("companies", {"name": f"Extra {index}"}, source="INTEGRATION")
    body = (await hs.get("/crm/v3/objects/companies", params={"limit": "500"})).json()
    assert len(body["results"]) == 100
    assert "paging" in body


async def test_properties_param_selects_and_nulls_unset_values(hs: httpx.AsyncClient) -> None:
    """`properties=` returns those (unset ones as null) plus the id and timestamps."""
    created = await create_contact(hs, email="sel@example.com", firstname="Sel")
    body = (
        await hs.get(f"/crm/v3/objects/contacts/{created['id']}", params={"properties": "firstname,jobtitle"})
    ).json()
    assert body["properties"]["firstname"] == "Sel"
    assert body["properties"]["jobtitle"] is None
    assert "email" not in body["properties"]
    assert {"hs_object_id", "createdate", "lastmodifieddate"} <= set(body["properties"])


async def test_get_by_id_property_email(hs: httpx.AsyncClient) -> None:
    """`idProperty=email` reads a contact by its email, case-insensitively."""
    created = await create_contact(hs, email="Jane.Doe@Example.com", firstname="Jane")
    assert created["properties"]["email"] == "jane.doe@example.com"
    body = (await hs.get("/crm/v3/objects/contacts/JANE.DOE@example.com", params={"idProperty": "email"})).json()
    assert body["id"] == created["id"]


async def test_unknown_id_is_404_with_error_body(hs: httpx.AsyncClient) -> None:
    """A GET of an unknown id answers 404 with the standard error body."""
    assert_error(await hs.get("/crm/v3/objects/contacts/999"), 404, "OBJECT_NOT_FOUND")


async def test_create_returns_201_with_numeric_id_and_system_properties(hs: httpx.AsyncClient) -> None:
    """POST creates a record: 201, numeric-string id, hs_object_id/createdate/lastmodified kept in step."""
    response = await hs.post("/crm/v3/objects/companies", json={"properties": {"name": "Acme", "domain": "acme.com"}})
    assert response.status_code == 201
    body = response.json()
    props = body["properties"]
    assert body["id"].isdigit()
    assert props["hs_object_id"] == body["id"]
    assert props["createdate"] == props["hs_lastmodifieddate"] == body["createdAt"] == body["updatedAt"]
    assert props["name"] == "Acme"


async def test_ids_are_deterministic_for_a_seed() -> None:
    """Two portals built from the same seed hand out the same ids and generate the same records."""
    ids = []
    names = []
    for _ in range(2):
        box = build_hubspot_sandbox(HubSpotSandboxSettings(companies=3, seed=11))
        names.append([p["name"] for _, p in box.state.live("companies")])
        ids.append(box.state.create("contacts", {"email": "d@example.com"}, source="INTEGRATION").record_id)
    assert ids[0] == ids[1]
    assert names[0] == names[1]
    other = build_hubspot_sandbox(HubSpotSandboxSettings(companies=3, seed=12))
    assert other.state.next_id != build_hubspot_sandbox(HubSpotSandboxSettings(companies=3, seed=11)).state.next_id


async def test_number_values_come_back_as_strings(hs: httpx.AsyncClient) -> None:
    """JSON numbers and booleans are stored and returned as strings."""
    body = (await hs.post("/crm/v3/objects/deals", json={"properties": {"dealname": "D", "amount": 1500}})).json()
    assert body["properties"]["amount"] == "1500"


async def test_update_moves_last_modified_and_empty_string_clears(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """PATCH updates values and the modified timestamps; "" clears a value."""
    created = await create_contact(hs, email="upd@example.com", firstname="Old", jobtitle="CTO")
    box.state.now = lambda: datetime(2030, 1, 1, tzinfo=UTC)
    response = await hs.patch(
        f"/crm/v3/objects/contacts/{created['id']}", json={"properties": {"firstname": "New", "jobtitle": ""}}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["properties"]["firstname"] == "New"
    assert "jobtitle" not in body["properties"] or body["properties"]["jobtitle"] is None
    assert body["updatedAt"] == "2030-01-01T00:00:00.000Z" == body["properties"]["lastmodifieddate"]
    assert body["createdAt"] == created["createdAt"]


async def test_update_by_id_property(hs: httpx.AsyncClient) -> None:
    """PATCH with `idProperty=email` updates the contact with that email."""
    created = await create_contact(hs, email="byemail@example.com")
    response = await hs.patch(
        "/crm/v3/objects/contacts/byemail@example.com",
        params={"idProperty": "email"},
        json={"properties": {"lastname": "Mail"}},
    )
    assert response.json()["id"] == created["id"]
    assert response.json()["properties"]["lastname"] == "Mail"


async def test_archive_is_204_then_404_and_visible_with_archived(hs: httpx.AsyncClient) -> None:
    """DELETE archives (204); GET is 404 unless archived=true, which shows archived and archivedAt."""
    created = await create_contact(hs, email="gone@example.com")
    assert (await hs.delete(f"/crm/v3/objects/contacts/{created['id']}")).status_code == 204
    assert (await hs.get(f"/crm/v3/objects/contacts/{created['id']}")).status_code == 404
    body = (await hs.get(f"/crm/v3/objects/contacts/{created['id']}", params={"archived": "true"})).json()
    assert body["archived"] is True
    assert ISO_MS.match(body["archivedAt"])
    listed = (await hs.get("/crm/v3/objects/contacts", params={"archived": "true"})).json()
    assert [r["id"] for r in listed["results"]] == [created["id"]]
    assert (await hs.delete("/crm/v3/objects/contacts/424242")).status_code == 204


async def test_duplicate_email_is_409_conflict_naming_existing_id(hs: httpx.AsyncClient) -> None:
    """Creating a contact with an existing email (any case) is 409 CONFLICT with `Existing ID: <id>`."""
    created = await create_contact(hs, email="dup@example.com")
    response = await hs.post("/crm/v3/objects/contacts", json={"properties": {"email": "DUP@example.com"}})
    body = assert_error(response, 409, "CONFLICT")
    assert body["message"] == f"Contact already exists. Existing ID: {created['id']}"


async def test_companies_are_not_deduplicated_by_domain(hs: httpx.AsyncClient) -> None:
    """Two companies with the same domain are both created (API does not de-duplicate)."""
    for _ in range(2):
        response = await hs.post("/crm/v3/objects/companies", json={"properties": {"domain": "same.com"}})
        assert response.status_code == 201


async def test_unknown_property_is_400_property_doesnt_exist(hs: httpx.AsyncClient) -> None:
    """Writing an unknown property is a 400 VALIDATION_ERROR listing PROPERTY_DOESNT_EXIST."""
    response = await hs.post("/crm/v3/objects/contacts", json={"properties": {"email": "x@example.com", "shoe": "9"}})
    body = assert_error(response, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Property values were not valid: ")
    assert '"error":"PROPERTY_DOESNT_EXIST"' in body["message"]
    assert '"name":"shoe"' in body["message"]
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert (await hs.get("/crm/v3/objects/contacts/x@example.com", params={"idProperty": "email"})).status_code == 404


@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"hs_object_id": "1"}, "READ_ONLY_VALUE"),
        ({"createdate": "2024-01-01T00:00:00Z"}, "READ_ONLY_VALUE"),
        ({"lastmodifieddate": "2024-01-01T00:00:00Z"}, "READ_ONLY_VALUE"),
        ({"lifecyclestage": "wizard"}, "INVALID_OPTION"),
        ({"email": "not-an-email"}, "INVALID_EMAIL"),
        ({"hubspot_owner_id": "1"}, "INVALID_OPTION"),
    ],
)
async def test_invalid_values_are_400_with_their_code(hs: httpx.AsyncClient, props: dict[str, str], code: str) -> None:
    """Read-only, bad enumeration option, bad email and unknown owner are each refused with their code."""
    body = assert_error(await hs.post("/crm/v3/objects/contacts", json={"properties": props}), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == code


async def test_deal_values_are_checked_by_type(hs: httpx.AsyncClient) -> None:
    """A deal's amount must be a number, dealstage a stage id; closedate accepts epoch ms and is returned ISO."""
    bad = await hs.post("/crm/v3/objects/deals", json={"properties": {"amount": "lots", "dealstage": "nope"}})
    codes = {e["code"] for e in assert_error(bad, 400, "VALIDATION_ERROR")["errors"]}
    assert codes == {"INVALID_DECIMAL", "INVALID_OPTION"}
    good = await hs.post(
        "/crm/v3/objects/deals", json={"properties": {"closedate": "1704067200000", "dealstage": "closedwon"}}
    )
    assert good.json()["properties"]["closedate"] == "2024-01-01T00:00:00.000Z"


async def test_unknown_object_type_is_400(hs: httpx.AsyncClient) -> None:
    """An object type HubSpot cannot infer is a 400 VALIDATION_ERROR."""
    body = assert_error(await hs.get("/crm/v3/objects/widgets"), 400, "VALIDATION_ERROR")
    assert "widgets" in body["message"]


async def test_object_types_accept_singular_and_type_ids(hs: httpx.AsyncClient) -> None:
    """`contact` and `0-1` name the same object type as `contacts` (and `0-2`, `0-3` the others)."""
    first = (await hs.get("/crm/v3/objects/contacts", params={"limit": "1"})).json()["results"][0]["id"]
    for name in ("contact", "0-1"):
        assert (await hs.get(f"/crm/v3/objects/{name}/{first}")).status_code == 200
    assert (await hs.get("/crm/v3/objects/0-3")).status_code == 200


async def test_missing_or_wrong_token_is_401_invalid_authentication(box: HubSpotSandbox) -> None:
    """No Authorization header, or an unknown token, is 401 INVALID_AUTHENTICATION without rate-limit headers."""
    transport = httpx.ASGITransport(app=create_hubspot_app(box))
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as anonymous:
        for headers in ({}, {"Authorization": "Bearer pat-na1-wrong"}, {"Authorization": box.settings.token}):
            response = await anonymous.get("/crm/v3/objects/contacts", headers=headers)
            body = assert_error(response, 401, "INVALID_AUTHENTICATION")
            assert body["message"].startswith("Authentication credentials not found.")
            assert "x-hubspot-ratelimit-remaining" not in response.headers


async def test_token_without_scope_is_403_missing_scopes(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """A token registered without a scope gets 403 MISSING_SCOPES naming the scope it needs."""
    token = "pat-na1-readonly"
    r = await hs.post("/_sandbox/tokens", json={"token": token, "scopes": ["crm.objects.contacts.read"]})
    assert r.status_code == 200
    headers = {"Authorization": f"Bearer {token}"}
    assert (await hs.get("/crm/v3/objects/contacts", headers=headers)).status_code == 200
    response = await hs.post("/crm/v3/objects/contacts", json={"properties": {}}, headers=headers)
    body = assert_error(response, 403, "MISSING_SCOPES")
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.contacts.write"]
    assert body["links"] == {"scopes": "https://developers.hubspot.com/scopes"}
    denied = await hs.get("/crm/v3/properties/companies", headers=headers)
    assert assert_error(denied, 403, "MISSING_SCOPES")["errors"][0]["context"]["requiredGranularScopes"] == [
        "crm.schemas.companies.read"
    ]


async def test_date_versioned_paths_answer_like_v3(hs: httpx.AsyncClient) -> None:
    """`/crm/objects/2026-03/...` lists, creates, reads, updates and archives exactly like `/crm/v3/objects/...`."""
    legacy = (await hs.get("/crm/v3/objects/deals", params={"limit": "3"})).json()
    dated = (await hs.get("/crm/objects/2026-03/deals", params={"limit": "3"})).json()
    assert [r["id"] for r in dated["results"]] == [r["id"] for r in legacy["results"]]
    assert "/crm/objects/2026-03/deals?" in dated["paging"]["next"]["link"]
    created = await hs.post("/crm/objects/2026-03/contacts", json={"properties": {"email": "v@example.com"}})
    assert created.status_code == 201
    record = f"/crm/objects/2026-03/contacts/{created.json()['id']}"
    assert (await hs.patch(record, json={"properties": {"firstname": "V"}})).json()["properties"]["firstname"] == "V"
    assert (await hs.get(f"/crm/v3/objects/contacts/{created.json()['id']}")).json()["id"] == created.json()["id"]
    assert (await hs.delete(record)).status_code == 204


async def test_properties_with_history_lists_changes_newest_first(hs: httpx.AsyncClient) -> None:
    """`propertiesWithHistory` returns each value with its timestamp and source, newest first."""
    created = await create_contact(hs, email="hist@example.com", firstname="One")
    await hs.patch(f"/crm/v3/objects/contacts/{created['id']}", json={"properties": {"firstname": "Two"}})
    body = (
        await hs.get(f"/crm/v3/objects/contacts/{created['id']}", params={"propertiesWithHistory": "firstname"})
    ).json()
    history = body["propertiesWithHistory"]["firstname"]
    assert [h["value"] for h in history] == ["Two", "One"]
    assert {"value", "timestamp", "sourceType"} <= set(history[0])


async def test_merge_keeps_primary_and_redirects_merged_id(hs: httpx.AsyncClient) -> None:
    """Merging fills the primary's empty values, archives the other, and its id then reads as the primary."""
    primary = await create_contact(hs, email="p@example.com", firstname="Pat")
    other = await create_contact(hs, email="o@example.com", jobtitle="CFO")
    response = await hs.post(
        "/crm/v3/objects/contacts/merge", json={"primaryObjectId": primary["id"], "objectIdToMerge": other["id"]}
    )
    assert response.status_code == 200
    merged = response.json()
    assert merged["id"] == primary["id"]
    assert merged["properties"]["jobtitle"] == "CFO"
    assert merged["properties"]["email"] == "p@example.com"
    assert merged["properties"]["hs_merged_object_ids"] == other["id"]
    assert (await hs.get(f"/crm/v3/objects/contacts/{other['id']}")).json()["id"] == primary["id"]


async def test_unknown_route_and_wrong_method_have_error_bodies(hs: httpx.AsyncClient) -> None:
    """Unknown path is 404 (401 without a token), wrong method 405; body correlationId matches the header."""
    missing = await hs.get("/crm/v3/nothing/here")
    body = assert_error(missing, 404, "OBJECT_NOT_FOUND")
    assert missing.headers["X-HubSpot-Correlation-Id"] == body["correlationId"]
    assert_error(await hs.get("/crm/v3/nothing/here", headers={"Authorization": ""}), 401, "INVALID_AUTHENTICATION")
    assert_error(await hs.put("/crm/v3/objects/contacts"), 405, "VALIDATION_ERROR")


async def test_invalid_json_is_400(hs: httpx.AsyncClient) -> None:
    """A body that is not JSON is a 400 VALIDATION_ERROR."""
    response = await hs.post("/crm/v3/objects/contacts", content=b"{nope", headers={"content-type": "application/json"})
    assert assert_error(response, 400, "VALIDATION_ERROR")["message"].startswith("Invalid input JSON")


async def test_app_serves_below_a_mount_point(box: HubSpotSandbox) -> None:
    """Mounted at /hubspot (as the CLI does), the API answers under the mount."""
    outer = Starlette(routes=[Mount("/hubspot", app=create_hubspot_app(box))])
    headers = {"Authorization": f"Bearer {box.settings.token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=outer), base_url=BASE + "/hubspot", headers=headers
    ) as client:
        assert (await client.get("/crm/v3/objects/companies")).status_code == 200
        assert (await client.get("/_sandbox")).json()["portal_id"] == box.settings.portal_id


async def test_reset_returns_to_the_seeded_portal(box: HubSpotSandbox, hs: httpx.AsyncClient) -> None:
    """POST /_sandbox/reset forgets writes and restarts the id counter."""
    first = await create_contact(hs, email="r@example.com")
    assert (await hs.post("/_sandbox/reset")).status_code == 200
    assert (await hs.get(f"/crm/v3/objects/contacts/{first['id']}")).status_code == 404
    again = await create_contact(hs, email="r@example.com")
    assert again["id"] == first["id"]
    state = (await hs.get("/_sandbox")).json()
    assert state["counts"]["contacts"]["live"] == 15
    assert state["counts"]["companies"]["live"] == 6


async def test_seeded_records_are_realistic(box: HubSpotSandbox) -> None:
    """Seeded companies have names and domains, contacts emails at their company, deals a stage of the pipeline."""
    companies = dict(box.state.live("companies"))
    stages = {s["id"] for s in box.state.pipelines["default"]["stages"]}
    for company in companies.values():
        assert company["name"]
        assert "." in company["domain"]
    for record_id, contact in box.state.live("contacts"):
        links = box.state.associations_of("contacts", record_id, "companies")
        assert len(links) == 1
        (company_id,) = links
        assert contact["email"].endswith("@" + companies[company_id]["domain"])
    for _, deal in box.state.live("deals"):
        assert deal["pipeline"] == "default"
        assert deal["dealstage"] in stages
