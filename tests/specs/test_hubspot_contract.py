"""The HubSpot emulator's answers, on every route cwsync's client calls, against the spec's schemas
(`tests/specs/hubspot.py`): objects, batches (with their 207 form), search, associations v4, properties,
pipelines, owners, and error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cwsync_sandbox.hubspot import HubSpotSandbox, HubSpotSandboxSettings, build_hubspot_sandbox, create_hubspot_app
from tests.specs import hubspot as hs

BASE = "http://hubspot.test"
V3 = "/crm/v3/objects"


@pytest.fixture
def box() -> HubSpotSandbox:
    return build_hubspot_sandbox(HubSpotSandboxSettings(base_url=BASE, seed=5, rate_limit_per_10s=10_000))


@pytest.fixture
async def api(box: HubSpotSandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_hubspot_app(box))
    headers = {"Authorization": f"Bearer {box.settings.token}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
        yield client


async def _batch(api: httpx.AsyncClient, path: str, inputs: list[dict[str, object]]) -> httpx.Response:
    return await api.post(path, json={"inputs": inputs})


async def test_objects_and_batches_match_the_spec(api: httpx.AsyncClient) -> None:
    """Create, read, update, list, batch create/read/update/upsert (200/201 and 207), search."""
    made = await api.post(f"{V3}/companies", json={"properties": {"name": "Spec Co", "city": "Austin"}})
    assert made.status_code == 201
    company = hs.SimplePublicObject.model_validate(made.json())
    hs.SimplePublicObject.model_validate((await api.get(f"{V3}/companies/{company.id}")).json())
    patched = await api.patch(f"{V3}/companies/{company.id}", json={"properties": {"phone": "555"}})
    assert hs.SimplePublicObject.model_validate(patched.json()).properties["phone"] == "555"
    created = await _batch(
        api, f"{V3}/contacts/batch/create", [{"properties": {"email": f"p{i}@spec.example"}} for i in range(3)]
    )
    assert created.status_code == 201
    ids = [r.id for r in hs.BatchResponse.model_validate(created.json()).results]
    page = await api.get(f"{V3}/contacts", params={"limit": 2})
    listed = hs.CollectionResponse.model_validate(page.json())
    assert listed.paging is not None
    assert listed.paging.next is not None
    read = await api.post(f"{V3}/contacts/batch/read", json={"inputs": [{"id": ids[0]}, {"id": "999999"}]})
    assert read.status_code == 207
    partial = hs.BatchResponseWithErrors.model_validate(read.json())
    assert partial.errors[0].context["ids"] == ["999999"]
    updated = await _batch(api, f"{V3}/contacts/batch/update", [{"id": ids[1], "properties": {"firstname": "Bo"}}])
    hs.BatchResponse.model_validate(updated.json())
    upserted = await _batch(
        api,
        f"{V3}/contacts/batch/upsert",
        [
            {"id": "p0@spec.example", "idProperty": "email", "properties": {"lastname": "Old"}},
            {"id": "new@spec.example", "idProperty": "email", "properties": {"lastname": "New"}},
        ],
    )
    assert [r.new for r in hs.BatchUpsertResponse.model_validate(upserted.json()).results] == [False, True]
    traced = await _batch(
        api,
        f"{V3}/contacts/batch/create",
        [
            {"properties": {"email": "p1@spec.example"}, "objectWriteTraceId": "a"},
            {"properties": {"email": "other@spec.example"}, "objectWriteTraceId": "b"},
        ],
    )
    assert traced.status_code == 207
    [conflict] = hs.BatchResponseWithErrors.model_validate(traced.json()).errors
    assert (conflict.category, conflict.context["objectWriteTraceId"]) == ("CONFLICT", ["a"])
    search = await api.post(
        f"{V3}/contacts/search",
        json={
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*spec.example"}]}
            ]
        },
    )
    assert hs.SearchResponse.model_validate(search.json()).total >= 4
    assert (await _batch(api, f"{V3}/contacts/batch/archive", [{"id": ids[2]}])).status_code == 204


async def test_associations_properties_pipelines_owners_match_the_spec(api: httpx.AsyncClient) -> None:
    """Associations v4 (default associate, batch read), properties, pipelines and owners."""
    company = (await api.post(f"{V3}/companies", json={"properties": {"name": "Assoc Co"}})).json()["id"]
    contact = (await api.post(f"{V3}/contacts", json={"properties": {"email": "a@assoc.example"}})).json()["id"]
    linked = await api.post(
        "/crm/v4/associations/contacts/companies/batch/associate/default",
        json={"inputs": [{"from": {"id": contact}, "to": {"id": company}}]},
    )
    assert linked.status_code in (200, 201), linked.text
    hs.DefaultAssociationBatch.model_validate(linked.json())
    read = await api.post("/crm/v4/associations/contacts/companies/batch/read", json={"inputs": [{"id": contact}]})
    [result] = hs.AssociationBatchRead.model_validate(read.json()).results
    assert str(result.to[0].toObjectId) == company
    properties = hs.PropertyCollection.model_validate((await api.get("/crm/v3/properties/contacts")).json())
    assert any(p.name == "email" and p.hasUniqueValue for p in properties.results)
    made = await api.post(
        "/crm/v3/properties/companies",
        json={
            "name": "spec_prop",
            "label": "Spec",
            "type": "string",
            "fieldType": "text",
            "groupName": "companyinformation",
        },
    )
    assert made.status_code == 201, made.text
    hs.Property.model_validate(made.json())
    pipelines = hs.PipelineCollection.model_validate((await api.get("/crm/v3/pipelines/deals")).json())
    assert pipelines.results[0].stages
    hs.OwnerCollection.model_validate((await api.get("/crm/v3/owners")).json())


async def test_error_bodies_match_the_spec(api: httpx.AsyncClient, box: HubSpotSandbox) -> None:
    """401, 404, 409 and 400 answer the `Error` schema."""
    async with httpx.AsyncClient(transport=api._transport, base_url=BASE) as anonymous:
        unauthorized = await anonymous.get(f"{V3}/contacts")
    await api.post(f"{V3}/contacts", json={"properties": {"email": "dup@spec.example"}})
    for status, response in [
        (401, unauthorized),
        (404, await api.get(f"{V3}/contacts/999999")),
        (409, await api.post(f"{V3}/contacts", json={"properties": {"email": "dup@spec.example"}})),
        (400, await api.post(f"{V3}/contacts", json={"properties": {"no_such_property": "x"}})),
        (400, await api.post(f"{V3}/contacts", json={})),
    ]:
        assert response.status_code == status, response.text
        hs.Error.model_validate(response.json())


def test_the_schemas_can_fail() -> None:
    """A 207 error without `links`, a batch answer without `startedAt`, a number as a property value: refused."""
    error = {"status": "error", "category": "CONFLICT", "message": "m", "context": {}, "errors": []}
    with pytest.raises(ValueError, match="links"):
        hs.StandardError.model_validate(error)
    with pytest.raises(ValueError, match="startedAt"):
        hs.BatchResponse.model_validate({"status": "COMPLETE", "results": [], "completedAt": "x"})
    record = {"id": "1", "properties": {"n": 1}, "createdAt": "x", "updatedAt": "x", "archived": False}
    with pytest.raises(ValueError, match="properties"):
        hs.SimplePublicObject.model_validate(record)
