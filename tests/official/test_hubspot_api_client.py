"""hubspot-api-client (HubSpot's own Python SDK, 12.x, generated from its OpenAPI specs) driving the HubSpot
emulator over real HTTP: create/read/update/archive, paging (`get_all`), search, batch create (201 and 207) and
upsert, associations v4, properties, and the errors 401, 404, 409. The SDK validates required fields and enums of
every answer it parses (with `client_side_validation` on), so a missing `links` or `startedAt` fails here."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import BatchInputPublicDefaultAssociationMultiPost
from hubspot.crm.associations.v4.models import BatchInputPublicFetchAssociationsBatchRequest
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import SimplePublicObjectInputForCreate
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
)
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactInput

from cwsync_sandbox.connectwise.app import SandboxSettings
from cwsync_sandbox.hubspot import HubSpotSandboxSettings
from cwsync_sandbox.server import RunningSandbox, running_sandbox

pytestmark = pytest.mark.loopback


@pytest.fixture(scope="module")
def served() -> Iterator[RunningSandbox]:
    hubspot = HubSpotSandboxSettings(rate_limit_per_10s=100_000, search_per_second=100_000)
    with running_sandbox(SandboxSettings(records=100, seed=7), hubspot=hubspot) as running:
        yield running


@pytest.fixture
def client(served: RunningSandbox) -> HubSpot:
    token = served.hubspot.settings.token
    # client_side_validation: the generated models then refuse answers missing a required field or off an enum
    # (the SDK's default is off).
    return HubSpot(
        access_token=token, host=served.hubspot_url, base_url=served.hubspot_url, client_side_validation=True
    )


def test_create_read_update_archive_and_page(client: HubSpot) -> None:
    """The basic API round trip, and `get_all` following `paging.next.after` to the end."""
    companies = client.crm.companies
    made = companies.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"name": "SDK Co"})
    )
    assert made.properties["name"] == "SDK Co"
    updated = companies.basic_api.update(
        made.id, simple_public_object_input=SimplePublicObjectInput(properties={"city": "Austin"})
    )
    assert updated.properties["city"] == "Austin"
    assert companies.basic_api.get_by_id(made.id, properties=["city"]).properties["city"] == "Austin"
    for i in range(3):
        companies.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"name": f"Page {i}"})
        )
    page = companies.basic_api.get_page(limit=2)
    assert page.paging.next.after
    everything = companies.get_all()
    assert {"SDK Co", "Page 0", "Page 1", "Page 2"} <= {c.properties["name"] for c in everything}
    companies.basic_api.archive(made.id)
    with pytest.raises(CompaniesApiException) as gone:
        companies.basic_api.get_by_id(made.id)
    assert gone.value.status == 404


def test_batch_create_upsert_and_search(client: HubSpot) -> None:
    """Batch create (201, then 207 with per-input errors when traced), upsert by email, and search."""
    contacts = client.crm.contacts
    inputs = [{"properties": {"email": f"sdk{i}@example.com", "firstname": "Sdk"}} for i in range(3)]
    created = contacts.batch_api.create(
        batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=inputs
        )
    )
    assert created.status == "COMPLETE"
    assert len(created.results) == 3
    traced = [
        {"properties": {"email": "sdk0@example.com"}, "objectWriteTraceId": "dup"},
        {"properties": {"email": "sdk9@example.com"}, "objectWriteTraceId": "fresh"},
    ]
    partial = contacts.batch_api.create(
        batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=traced
        )
    )
    assert [r.properties["email"] for r in partial.results] == ["sdk9@example.com"]
    assert [(e.category, e.context["objectWriteTraceId"]) for e in partial.errors] == [("CONFLICT", ["dup"])]
    upserted = contacts.batch_api.upsert(
        batch_input_simple_public_object_batch_input_upsert=BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                {"id": "sdk1@example.com", "idProperty": "email", "properties": {"lastname": "Kept"}},
                {"id": "sdk-new@example.com", "idProperty": "email", "properties": {"lastname": "New"}},
            ]
        )
    )
    assert sorted(r.new for r in upserted.results) == [False, True]
    search = contacts.search_api.do_search(
        public_object_search_request=PublicObjectSearchRequest(
            filter_groups=[FilterGroup(filters=[Filter(property_name="firstname", operator="EQ", value="Sdk")])],
            properties=["email"],
            limit=2,
        )
    )
    assert search.total == 3
    assert len(search.results) == 2
    assert search.paging.next.after


def test_associations_and_properties(client: HubSpot) -> None:
    """Associations v4 default associate and batch read; properties list (unique email) through the SDK."""
    company = client.crm.companies.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"name": "Assoc SDK"})
    )
    contact = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=ContactInput(properties={"email": "assoc-sdk@example.com"})
    )
    v4 = client.crm.associations.v4.batch_api
    v4.create_default(
        "contacts",
        "companies",
        batch_input_public_default_association_multi_post=BatchInputPublicDefaultAssociationMultiPost(
            inputs=[{"from": {"id": contact.id}, "to": {"id": company.id}}]
        ),
    )
    read = v4.get_page(
        "contacts",
        "companies",
        batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[{"id": contact.id}]
        ),
    )
    assert [str(t.to_object_id) for r in read.results for t in r.to] == [company.id]
    properties = client.crm.properties.core_api.get_all("contacts")
    assert any(p.name == "email" and p.has_unique_value for p in properties.results)


def test_errors_401_404_409(client: HubSpot, served: RunningSandbox) -> None:
    """A wrong token is 401, an unknown id 404, a duplicate email 409 CONFLICT (the SDK's ApiException)."""
    wrong = HubSpot(access_token="not-the-token", host=served.hubspot_url)
    with pytest.raises(ContactsApiException) as unauthorized:
        wrong.crm.contacts.basic_api.get_page(limit=1)
    assert unauthorized.value.status == 401
    with pytest.raises(ContactsApiException) as missing:
        client.crm.contacts.basic_api.get_by_id("987654321")
    assert missing.value.status == 404
    body = ContactInput(properties={"email": "conflict-sdk@example.com"})
    client.crm.contacts.basic_api.create(simple_public_object_input_for_create=body)
    with pytest.raises(ContactsApiException) as conflict:
        client.crm.contacts.basic_api.create(simple_public_object_input_for_create=body)
    assert conflict.value.status == 409
    assert "CONFLICT" in conflict.value.body
