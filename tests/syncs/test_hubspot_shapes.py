"""HubSpot integration defaults and shapes: flattening ConnectWise records and writing them back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cwsync.config.model import ObjectSync
from cwsync.core.mapping import build_mapping
from cwsync.integrations.hubspot.defaults import OBJECTS
from cwsync.integrations.hubspot.shapes import (
    company_identifier,
    connectwise_body,
    connectwise_patch,
    flatten_company,
    flatten_contact,
    hubspot_properties,
)

CONTACT = {
    "id": 5,
    "firstName": "Ann",
    "lastName": "Lee",
    "company": {"id": 7, "name": "Acme"},
    "communicationItems": [
        {"type": {"id": 2, "name": "Direct"}, "value": "555-0100", "communicationType": "Phone", "defaultFlag": True},
        {"type": {"id": 4, "name": "Cell"}, "value": "555-0199", "communicationType": "Phone"},
        {
            "type": {"id": 1, "name": "Email"},
            "value": "ann@acme.com",
            "communicationType": "Email",
            "defaultFlag": True,
        },
    ],
}


def mapping(pair: str):  # type: ignore[no-untyped-def]
    """The default mapping of a pair."""
    d = OBJECTS[pair]
    return build_mapping(
        pair=pair,
        left_object=d.left_object,
        right_object=d.right_object,
        defaults=d.fields,
        match=d.match,
        config=ObjectSync(),
        references=d.references,
        default_direction=d.default_direction,
    )


def test_contact_flattens_communication_items() -> None:
    """Default e-mail, office phone and mobile come out of communicationItems; company becomes its id."""
    flat = flatten_contact(CONTACT)
    assert (flat["email"], flat["phone"], flat["mobile"], flat["company"]) == (
        "ann@acme.com",
        "555-0100",
        "555-0199",
        "7",
    )


def test_contact_patch_replaces_the_whole_array_keeping_other_items() -> None:
    """Changing the e-mail replaces communicationItems whole, with the other items kept."""
    ops = connectwise_patch("contacts", mapping("contacts"), {"email": "ann@new.com", "firstname": "Annie"}, CONTACT)
    by_path = {op["path"]: op["value"] for op in ops}
    assert by_path["firstName"] == "Annie"
    items = by_path["communicationItems"]
    assert len(items) == 3
    assert [i["value"] for i in items if i["communicationType"] == "Email"] == ["ann@new.com"]


def test_contact_body_for_create() -> None:
    """A contact created from HubSpot gets its company reference and an e-mail item."""
    body = connectwise_body(
        "contacts", mapping("contacts"), {"firstname": "Bo", "email": "bo@x.com", "company": "7"}, "9"
    )
    assert body["company"] == {"id": 7}
    assert body["communicationItems"][0]["value"] == "bo@x.com"


def test_company_with_several_types_gets_the_mapped_one() -> None:
    """A company that is both Prospect and Customer is a HubSpot customer (the higher priority) (SB-2), and its
    `type` follows the same one type (Customer has no HubSpot type: OTHER), not Prospect (#17)."""
    flat = flatten_company(
        {"id": 3, "name": "Acme", "types": [{"id": 2, "name": "Prospect"}, {"id": 1, "name": "Customer"}]}
    )
    projection = mapping("companies").project_left(flat)
    assert projection["lifecyclestage"] == "customer"
    assert projection["type"] == "OTHER"


def test_website_becomes_domain() -> None:
    """A ConnectWise website maps to HubSpot's bare domain."""
    projection = mapping("companies").project_left({"website": "https://www.Acme.com/about"})
    assert projection["domain"] == "acme.com"


def test_hubspot_properties_exclude_references() -> None:
    """References become associations, not properties; empty values clear the property."""
    props = hubspot_properties(mapping("contacts"), {"email": "a@x.com", "company": "7", "jobtitle": None})
    assert props == {"email": "a@x.com", "jobtitle": ""}


def test_company_identifier_is_valid() -> None:
    """Identifiers made for companies created from HubSpot fit ConnectWise's rules."""
    identifier = company_identifier("Acme Dental & Co. of Greater Springfield", "123456789")
    assert len(identifier) <= 30
    assert " " not in identifier
    assert identifier.endswith("456789")


def test_the_configured_type_priority_orders_a_company_s_types() -> None:
    """With `company_type_priority` [Prospect, Customer] a Customer+Prospect company is carried as a Prospect."""
    record = {"id": 3, "name": "Acme", "types": [{"id": 1, "name": "Customer"}, {"id": 2, "name": "Prospect"}]}
    assert flatten_company(record)["company_type"] == "Customer"
    flat = flatten_company(record, priority=["Prospect", "Customer"])
    assert (flat["types"], flat["company_type"]) == (["Prospect", "Customer"], "Prospect")


def test_company_body_needs_an_address_field() -> None:
    """ConnectWise needs one address field on a company POST: none is a ValueError (a record-level failure)."""
    with pytest.raises(ValueError, match="at least one address field"):
        connectwise_body("companies", mapping("companies"), {"name": "Acme", "phone": "555"}, "9")
    body = connectwise_body("companies", mapping("companies"), {"name": "Acme", "zip": "33602"}, "9")
    assert body["zip"] == "33602"
    assert body["identifier"]


@given(
    pair=st.sampled_from(sorted(OBJECTS)),
    values=st.dictionaries(
        st.one_of(st.sampled_from(["email", "company", "name", "phone", "dealname", "x"]), st.text(max_size=4)),
        st.one_of(st.none(), st.text(max_size=4)),
        max_size=8,
    ),
    create=st.booleans(),
)
def test_hubspot_properties_name_what_the_fields_by_name_name(pair: str, values: dict[str, Any], create: bool) -> None:
    """The properties come from the mapping's cached names as they came from its fields looked up by name."""
    m = mapping(pair)
    fields = m.by_name()
    expected = {
        fields[name].right: "" if value is None else value
        for name, value in values.items()
        if name in fields and name not in m.references and not (create and value is None)
    }
    assert hubspot_properties(m, values, create=create) == expected
