"""Default field mappings of the HubSpot integration (documented in docs/hubspot.md). Declared once, here.

Left is ConnectWise (flattened by `shapes.py`), right is HubSpot (properties). Companies match on the ConnectWise
company identifier (kept in the custom HubSpot property `connectwise_company_id`), contacts on e-mail, deals on
the opportunity rec id (`connectwise_opportunity_id`), as the SyncSmart guide users know describes (HS-6).
"""

from __future__ import annotations

from dataclasses import dataclass

from cwsync.config.vocabulary import Direction
from cwsync.core.mapping import FieldMap
from cwsync.core.values import FieldType as T

TO_RIGHT = Direction.TO_RIGHT

# ConnectWise company types → HubSpot, most important first (SB-2): a company with several types gets the first
# one listed here. HubSpot's `type` has no "customer" option, so being a customer is its lifecycle stage.
COMPANY_LIFECYCLE_MAP = {
    "Customer": "customer",
    "Prospect": "lead",
    "*": "other",
}
COMPANY_TYPE_MAP = {
    "Partner": "PARTNER",
    "Reseller": "RESELLER",
    "Vendor": "VENDOR",
    "Prospect": "PROSPECT",
    "*": "OTHER",
}

OPPORTUNITY_STAGE_MAP = {
    "No Decision": "closedlost",
    "Lost": "closedlost",
    "*": "appointmentscheduled",
    "Won": "closedwon",
    "Open": "appointmentscheduled",
}
"""Opportunity status → deal stage. Read backwards (a deal → an opportunity, HS-2) the last status naming a stage
wins, hence the order: closedlost → Lost, appointmentscheduled → Open, closedwon → Won."""


@dataclass(frozen=True)
class CustomProperty:
    """A HubSpot property cwsync needs and `cwsync hubspot create-properties` creates (HS-5)."""

    object_type: str
    name: str
    label: str
    type: str
    field_type: str
    unique: bool = False
    group: str | None = None
    """The property group it goes in; None: the integration's (`syncs.hubspot.property_group`, else `GROUP`)."""


GROUP = ("cwsync", "ConnectWise (cwsync)")

CUSTOM_PROPERTIES = (
    CustomProperty("companies", "connectwise_company_id", "ConnectWise Company ID", "string", "text", unique=True),
    CustomProperty("companies", "connectwise_rec_id", "ConnectWise Rec ID", "number", "number"),
    CustomProperty("contacts", "connectwise_contact_id", "ConnectWise Contact ID", "number", "number"),
    CustomProperty(
        "deals", "connectwise_opportunity_id", "ConnectWise Rec ID (Opportunity #)", "string", "text", unique=True
    ),
)

COMPANY_FIELDS = (
    FieldMap("connectwise_company_id", "identifier", "connectwise_company_id", TO_RIGHT, required_right=True),
    FieldMap("connectwise_rec_id", "id", "connectwise_rec_id", TO_RIGHT, T.NUMBER, T.NUMBER),
    FieldMap("name", "name", "name", required_right=True, required_left=True),
    FieldMap("phone", "phoneNumber", "phone", left_type=T.PHONE, right_type=T.PHONE),
    FieldMap("domain", "website", "domain", transform="domain"),
    FieldMap("address", "addressLine1", "address"),
    FieldMap("city", "city", "city"),
    FieldMap("state", "state", "state"),
    FieldMap("zip", "zip", "zip"),
    FieldMap("country", "country", "country", TO_RIGHT),
    # Both from the one type the company is carried as (SB-2: the first of `company_type_priority` it has), so they
    # always agree (a value map over every type picked its own first match: PROSPECT beside `customer`).
    FieldMap("type", "company_type", "type", TO_RIGHT, T.TEXT, T.ENUM, value_map=COMPANY_TYPE_MAP),
    FieldMap(
        "lifecyclestage", "company_type", "lifecyclestage", TO_RIGHT, T.TEXT, T.ENUM, value_map=COMPANY_LIFECYCLE_MAP
    ),
    # A dropdown whose options are ConnectWise's company types (SB-1): each run's prepare step imports them as the
    # options and as this value map (a type maps to itself; `properties.import_company_types`).
    FieldMap(
        "connectwise_company_type",
        "company_type",
        "connectwise_company_type",
        TO_RIGHT,
        T.TEXT,
        T.ENUM,
        value_map={"*": ""},
    ),
)

CONTACT_FIELDS = (
    FieldMap("email", "email", "email", left_type=T.EMAIL, right_type=T.EMAIL, required_right=True),
    FieldMap("connectwise_contact_id", "id", "connectwise_contact_id", TO_RIGHT, T.NUMBER, T.NUMBER),
    FieldMap("firstname", "firstName", "firstname", required_left=True),
    FieldMap("lastname", "lastName", "lastname"),
    FieldMap("jobtitle", "title", "jobtitle"),
    FieldMap("phone", "phone", "phone", left_type=T.PHONE, right_type=T.PHONE),
    FieldMap("mobilephone", "mobile", "mobilephone", left_type=T.PHONE, right_type=T.PHONE),
    FieldMap("company", "company", "company", left_type=T.REFERENCE, right_type=T.REFERENCE, required_left=True),
)

DEAL_FIELDS = (
    FieldMap("connectwise_opportunity_id", "id", "connectwise_opportunity_id", TO_RIGHT, required_right=True),
    FieldMap("dealname", "name", "dealname", required_right=True),
    FieldMap("closedate", "expectedCloseDate", "closedate", left_type=T.DATE, right_type=T.DATE),
    FieldMap("dealstage", "status", "dealstage", left_type=T.TEXT, right_type=T.ENUM, value_map=OPPORTUNITY_STAGE_MAP),
    FieldMap("pipeline", "pipeline", "pipeline", TO_RIGHT),
    FieldMap("description", "notes", "description"),
    # The value map is built each run: ConnectWise member id → HubSpot owner id, by e-mail (see run.owner_map).
    FieldMap(
        "hubspot_owner_id", "primarySalesRep", "hubspot_owner_id", TO_RIGHT, value_map={"*": ""}, write_empty=False
    ),
    # Two-way when the deals flow both ways (HS-1, HS-2): an opportunity needs its company and contact (HS-8).
    FieldMap("company", "company", "company", left_type=T.REFERENCE, right_type=T.REFERENCE, required_left=True),
    FieldMap("contact", "contact", "contact", left_type=T.REFERENCE, right_type=T.REFERENCE, required_left=True),
)


@dataclass(frozen=True)
class ObjectDefaults:
    """Everything built in about one object pair."""

    pair: str
    left_object: str
    right_object: str
    fields: tuple[FieldMap, ...]
    match: tuple[str, ...]
    references: dict[str, str]
    default_direction: Direction


OBJECTS: dict[str, ObjectDefaults] = {
    "companies": ObjectDefaults(
        "companies", "company/companies", "companies", COMPANY_FIELDS, ("connectwise_company_id",), {}, Direction.BOTH
    ),
    "contacts": ObjectDefaults(
        "contacts", "company/contacts", "contacts", CONTACT_FIELDS, ("email",), {"company": "companies"}, Direction.BOTH
    ),
    "deals": ObjectDefaults(
        "deals",
        "sales/opportunities",
        "deals",
        DEAL_FIELDS,
        ("connectwise_opportunity_id",),
        {"company": "companies", "contact": "contacts"},
        Direction.TO_RIGHT,
    ),
}

ORDER = ("companies", "contacts", "deals")
"""Parents first (HS-8): a run syncs companies, then contacts, then deals."""
