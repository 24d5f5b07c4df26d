"""What a new HubSpot portal holds before anyone writes to it, deterministic from a seed.

- object types with their ids and default properties (notes A2);
- the default property definitions and groups (A8), the HUBSPOT_DEFINED association types (A7);
- the default deal pipeline "Sales Pipeline" with id `default` (A9) and a few owners;
- generated companies, contacts and deals (each record a plain dict of strings) with their associations.

Points the notes mark UNCONFIRMED and that are chosen here: the companies/deals/products/line-items default property
lists, the stage list of the default pipeline and its `metadata.isClosed`, the line-item association ids (19/20),
the v3 association type names (`contact_to_company_unlabeled`, ...), and the option lists of `industry` and
`lifecyclestage`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH_ISO = "1970-01-01T00:00:00.000Z"
SEED_START = datetime(2023, 1, 2, 9, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    """HubSpot's timestamp form: ISO 8601, UTC, milliseconds, `Z`."""
    m = moment.astimezone(UTC)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}."
        f"{m.microsecond // 1000:03d}Z"
    )


def iso_ms(millis: int) -> str:
    """`iso` of epoch milliseconds."""
    return iso(datetime.fromtimestamp(millis / 1000, tz=UTC))


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type: its names, its type id and the properties returned when none are asked for."""

    name: str
    singular: str
    type_id: str
    group: str
    group_label: str
    defaults: tuple[str, ...]
    text_search: tuple[str, ...]

    @property
    def modified_property(self) -> str:
        """`lastmodifieddate` for contacts, `hs_lastmodifieddate` for the others (A2)."""
        return "lastmodifieddate" if self.name == "contacts" else "hs_lastmodifieddate"


OBJECT_TYPES: dict[str, ObjectType] = {
    t.name: t
    for t in (
        ObjectType(
            "contacts",
            "contact",
            "0-1",
            "contactinformation",
            "Contact information",
            ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
            ("firstname", "lastname", "email", "phone", "company"),
        ),
        ObjectType(
            "companies",
            "company",
            "0-2",
            "companyinformation",
            "Company information",
            ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"),
            ("name", "domain", "website", "phone"),
        ),
        ObjectType(
            "deals",
            "deal",
            "0-3",
            "dealinformation",
            "Deal information",
            (
                "dealname",
                "amount",
                "closedate",
                "pipeline",
                "dealstage",
                "createdate",
                "hs_lastmodifieddate",
                "hs_object_id",
            ),
            ("dealname",),
        ),
        ObjectType(
            "products",
            "product",
            "0-7",
            "productinformation",
            "Product information",
            ("name", "description", "price", "createdate", "hs_lastmodifieddate", "hs_object_id"),
            ("name", "hs_sku", "description"),
        ),
        ObjectType(
            "line_items",
            "line_item",
            "0-8",
            "lineiteminformation",
            "Line item information",
            ("name", "quantity", "price", "amount", "createdate", "hs_lastmodifieddate", "hs_object_id"),
            ("name",),
        ),
    )
}
SYSTEM_PROPERTIES = frozenset({"hs_object_id", "createdate", "hs_lastmodifieddate", "lastmodifieddate"})
READ_ONLY_PROPERTIES = SYSTEM_PROPERTIES | {"hs_merged_object_ids"}


def resolve_type(name: str) -> ObjectType | None:
    """The object type named by its plural, singular or type id (`contacts`, `contact`, `0-1`)."""
    key = name.strip().lower()
    for object_type in OBJECT_TYPES.values():
        if key in (object_type.name, object_type.singular, object_type.type_id):
            return object_type
    return None


# -- association types (A7) --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssociationType:
    """A HUBSPOT_DEFINED association type between two object types, with its inverse and v3 name."""

    type_id: int
    from_type: str
    to_type: str
    label: str | None
    inverse: int
    v3_name: str
    category: str = "HUBSPOT_DEFINED"


ASSOCIATION_TYPES: dict[int, AssociationType] = {
    a.type_id: a
    for a in (
        AssociationType(279, "contacts", "companies", None, 280, "contact_to_company_unlabeled"),
        AssociationType(1, "contacts", "companies", "Primary", 2, "contact_to_company"),
        AssociationType(280, "companies", "contacts", None, 279, "company_to_contact_unlabeled"),
        AssociationType(2, "companies", "contacts", "Primary", 1, "company_to_contact"),
        AssociationType(3, "deals", "contacts", None, 4, "deal_to_contact"),
        AssociationType(4, "contacts", "deals", None, 3, "contact_to_deal"),
        AssociationType(341, "deals", "companies", None, 342, "deal_to_company_unlabeled"),
        AssociationType(5, "deals", "companies", "Primary", 6, "deal_to_company"),
        AssociationType(342, "companies", "deals", None, 341, "company_to_deal_unlabeled"),
        AssociationType(6, "companies", "deals", "Primary", 5, "company_to_deal"),
        AssociationType(450, "companies", "companies", None, 450, "company_to_company"),
        AssociationType(13, "companies", "companies", "Parent Company", 14, "parent_to_child_company"),
        AssociationType(14, "companies", "companies", "Child Company", 13, "child_to_parent_company"),
        AssociationType(449, "contacts", "contacts", None, 449, "contact_to_contact"),
        AssociationType(451, "deals", "deals", None, 451, "deal_to_deal"),
        AssociationType(19, "deals", "line_items", None, 20, "deal_to_line_item"),
        AssociationType(20, "line_items", "deals", None, 19, "line_item_to_deal"),
    )
}
# Primary labels that a record may hold towards one record only (a contact's primary company, a deal's).
EXCLUSIVE_TYPES = frozenset({1, 5})


def default_association(from_type: str, to_type: str) -> AssociationType | None:
    """The unlabelled type between two object types (what `associations/default` creates)."""
    for assoc in ASSOCIATION_TYPES.values():
        if assoc.from_type == from_type and assoc.to_type == to_type and assoc.label is None:
            return assoc
    return None


# -- pipelines and owners (A9) -----------------------------------------------------------------------------------

DEFAULT_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2", False),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", False),
    ("presentationscheduled", "Presentation Scheduled", "0.6", False),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
    ("contractsent", "Contract Sent", "0.9", False),
    ("closedwon", "Closed Won", "1.0", True),
    ("closedlost", "Closed Lost", "0.0", True),
)


def default_pipelines() -> dict[str, dict[str, Any]]:
    """The deal pipelines of a new portal: the "Sales Pipeline" (`default`, createdAt 0 as the notes say)."""
    stages = [
        {
            "id": stage_id,
            "label": label,
            "displayOrder": order,
            "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
            "createdAt": EPOCH_ISO,
            "updatedAt": EPOCH_ISO,
            "archived": False,
            "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        }
        for order, (stage_id, label, probability, closed) in enumerate(DEFAULT_STAGES)
    ]
    pipeline = {
        "id": "default",
        "label": "Sales Pipeline",
        "displayOrder": 0,
        "stages": stages,
        "createdAt": EPOCH_ISO,
        "updatedAt": EPOCH_ISO,
        "archived": False,
    }
    return {"default": pipeline}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "Ava Liam Noah Emma Olivia Mason Lucas Mia Amelia Ethan Harper James Isla Leo Grace Henry Chloe Jack Zoe Owen "
    "Nora Caleb Ruby Elliot Maya Felix Iris Theo Hazel Samuel Clara Miles Lena Jonah Alice Victor Priya Omar Sofia Ken"
)
LAST_NAMES = _words(
    "Smith Johnson Brown Garcia Miller Davis Wilson Anderson Thomas Taylor Moore Martin Lee Walker Hall Young King "
    "Wright Lopez Hill Scott Green Adams Baker Nelson Carter Mitchell Perez Roberts Turner Phillips Campbell Parker "
    "Evans Edwards Collins Stewart Morris Reed Cook Bell Murphy Bailey Rivera Cooper Howard Ward Cox Diaz Nguyen Patel"
)
NAME_STEMS = _words(
    "Northwind Bluefin Cedar Harbor Summit Ironwood Brightline Keystone Redwood Silverlake Granite Maple Beacon "
    "Pioneer Lakeside Crescent Evergreen Riverbend Oakridge Highland Westfield Stonebridge Clearwater Fairview "
    "Pinecrest Meridian Sterling Horizon Cobalt Juniper Aspen Willow Falcon Orchard Lighthouse Quarry Prairie"
)
NAME_KINDS = (
    ("Dental Group", "HOSPITAL_HEALTH_CARE"),
    ("Logistics", "LOGISTICS_AND_SUPPLY_CHAIN"),
    ("Legal LLP", "LAW_PRACTICE"),
    ("Accounting", "ACCOUNTING"),
    ("Manufacturing", "MACHINERY"),
    ("Realty", "REAL_ESTATE"),
    ("Engineering", "CIVIL_ENGINEERING"),
    ("Insurance", "INSURANCE"),
    ("Veterinary Clinic", "VETERINARY"),
    ("Architects", "ARCHITECTURE_PLANNING"),
    ("Credit Union", "BANKING"),
    ("Software", "COMPUTER_SOFTWARE"),
)
INDUSTRIES = tuple(sorted({kind[1] for kind in NAME_KINDS} | {"INFORMATION_TECHNOLOGY_AND_SERVICES", "RETAIL"}))
CITIES = (
    ("Austin", "TX"),
    ("Denver", "CO"),
    ("Columbus", "OH"),
    ("Raleigh", "NC"),
    ("Portland", "OR"),
    ("Tampa", "FL"),
    ("Madison", "WI"),
    ("Boise", "ID"),
    ("Omaha", "NE"),
    ("Albany", "NY"),
)
JOB_TITLES = (
    "Office Manager",
    "IT Director",
    "Operations Manager",
    "Owner",
    "CFO",
    "Practice Manager",
    "Systems Administrator",
    "Controller",
    "COO",
    "Facilities Lead",
)
DEAL_ITEMS = ("Managed Services", "Firewall Refresh", "M365 Migration", "Backup Renewal", "Laptop Rollout", "VoIP")
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


def generate_owners(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """HubSpot users who can own records (`/crm/v3/owners`)."""
    owners: list[dict[str, Any]] = []
    used: set[int] = set()
    for index in range(count):
        owner_id = rng.randrange(10_000_000, 99_999_999)
        while owner_id in used:
            owner_id += 1
        used.add(owner_id)
        first = FIRST_NAMES[(index * 7 + 3) % len(FIRST_NAMES)]
        last = LAST_NAMES[(index * 11 + 5) % len(LAST_NAMES)]
        stamp = iso(SEED_START - timedelta(days=400 - index))
        owners.append(
            {
                "id": str(owner_id),
                "email": f"{first}.{last}@sandbox-msp.example".lower(),
                "type": "PERSON",
                "firstName": first,
                "lastName": last,
                "userId": rng.randrange(1_000_000, 9_999_999),
                "userIdIncludingInactive": None,
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
                "teams": [],
            }
        )
        owners[-1]["userIdIncludingInactive"] = owners[-1]["userId"]
    return owners


@dataclass(frozen=True)
class SeedRecord:
    """One generated record: its type, its properties (strings), and its associations as (type id, to id)."""

    object_type: str
    properties: dict[str, str]
    links: tuple[tuple[int, int], ...] = ()


@dataclass
class SeedPlan:
    """How many records of each type to generate, from a seed."""

    seed: int
    companies: int
    contacts: int
    deals: int

    def records(self, next_id: Iterator[int], owner_ids: list[str]) -> Iterator[tuple[int, SeedRecord]]:
        """Generated records with their ids, companies first (contacts and deals point at earlier ids)."""
        rng = random.Random(f"hubspot-records:{self.seed}")
        companies: list[tuple[int, str, str]] = []
        for index in range(self.companies):
            record_id = next(next_id)
            record = _company(rng, index, owner_ids)
            companies.append((record_id, record.properties["name"], record.properties["domain"]))
            yield record_id, record
        contacts_of: dict[int, list[int]] = {}
        for index in range(self.contacts):
            record_id = next(next_id)
            company = companies[rng.randrange(len(companies))] if companies else None
            if company is not None:
                contacts_of.setdefault(company[0], []).append(record_id)
            yield record_id, _contact(rng, index, company, owner_ids)
        for index in range(self.deals):
            company = companies[rng.randrange(len(companies))] if companies else None
            contact = None
            if company is not None and contacts_of.get(company[0]):
                contact = rng.choice(contacts_of[company[0]])
            yield next(next_id), _deal(rng, index, company, contact, owner_ids)


_SEED_START_MS = int(SEED_START.timestamp() * 1000)
_DAY_MS = 86_400_000


def _phone(rng: random.Random) -> str:
    n = int(rng.random() * 2**40)
    return f"+1 {200 + n % 800} {200 + n // 800 % 800} {1000 + n // 640_000 % 9000}"


def _stamps(rng: random.Random) -> tuple[str, str]:
    created = _SEED_START_MS + int(rng.random() * 700 * _DAY_MS)
    modified = created + int(rng.random() * 90 * _DAY_MS)
    return iso_ms(created), iso_ms(modified)


def _company(rng: random.Random, index: int, owner_ids: list[str]) -> SeedRecord:
    stem = NAME_STEMS[index % len(NAME_STEMS)]
    kind, industry = NAME_KINDS[(index // len(NAME_STEMS) + rng.randrange(3)) % len(NAME_KINDS)]
    suffix = "" if index < len(NAME_STEMS) * len(NAME_KINDS) else f" {index // (len(NAME_STEMS) * len(NAME_KINDS))}"
    name = f"{stem} {kind}{suffix}"
    domain = (stem + kind.split()[0] + suffix.strip()).lower() + rng.choice((".com", ".net", ".io", ".co"))
    city, state = rng.choice(CITIES)
    created, modified = _stamps(rng)
    props = {
        "name": name,
        "domain": domain,
        "website": f"https://www.{domain}",
        "phone": _phone(rng),
        "city": city,
        "state": state,
        "country": "United States",
        "industry": industry,
        "lifecyclestage": rng.choice(("lead", "opportunity", "customer", "customer")),
        "numberofemployees": str(rng.choice((5, 12, 25, 40, 80, 150, 300))),
        "createdate": created,
        "hs_lastmodifieddate": modified,
    }
    if owner_ids:
        props["hubspot_owner_id"] = rng.choice(owner_ids)
    return SeedRecord("companies", props)


def _contact(rng: random.Random, index: int, company: tuple[int, str, str] | None, owner_ids: list[str]) -> SeedRecord:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    domain = company[2] if company else "example.com"
    created, modified = _stamps(rng)
    props = {
        "email": f"{first}.{last}{index}@{domain}".lower(),
        "firstname": first,
        "lastname": last,
        "phone": _phone(rng),
        "jobtitle": rng.choice(JOB_TITLES),
        "lifecyclestage": rng.choice(("lead", "customer", "customer", "opportunity")),
        "createdate": created,
        "lastmodifieddate": modified,
        "hs_lastmodifieddate": modified,
    }
    if company is not None:
        props["company"] = company[1]
    if owner_ids:
        props["hubspot_owner_id"] = rng.choice(owner_ids)
    links = ((1, company[0]), (279, company[0])) if company else ()
    return SeedRecord("contacts", props, links)


def _deal(
    rng: random.Random,
    index: int,
    company: tuple[int, str, str] | None,
    contact: int | None,
    owner_ids: list[str],
) -> SeedRecord:
    created, modified = _stamps(rng)
    stage = rng.choice(DEFAULT_STAGES)[0]
    close = datetime.fromisoformat(created.replace("Z", "+00:00")) + timedelta(days=rng.randrange(14, 120))
    title = f"{company[1] if company else 'Walk-in'} - {rng.choice(DEAL_ITEMS)} #{index + 1}"
    props = {
        "dealname": title,
        "amount": str(rng.randrange(10, 500) * 100),
        "closedate": iso(close.replace(hour=0, minute=0, second=0, microsecond=0)),
        "pipeline": "default",
        "dealstage": stage,
        "dealtype": rng.choice(("newbusiness", "existingbusiness")),
        "createdate": created,
        "hs_lastmodifieddate": modified,
    }
    if owner_ids:
        props["hubspot_owner_id"] = rng.choice(owner_ids)
    links: list[tuple[int, int]] = []
    if company is not None:
        links += [(5, company[0]), (341, company[0])]
    if contact is not None:
        links.append((3, contact))
    return SeedRecord("deals", props, tuple(links))


# -- property definitions (A8) -----------------------------------------------------------------------------------

_STRING = ("string", "text")
_PHONE = ("string", "phonenumber")
_NUMBER = ("number", "number")
_DATETIME = ("datetime", "date")
_TEXTAREA = ("string", "textarea")
_SELECT = ("enumeration", "select")
_RADIO = ("enumeration", "radio")

_COMMON: tuple[tuple[str, str, tuple[str, str]], ...] = (
    ("hs_object_id", "Record ID", _NUMBER),
    ("createdate", "Create Date", _DATETIME),
    ("hs_lastmodifieddate", "Last Modified Date", _DATETIME),
    ("hs_merged_object_ids", "Merged record IDs", _STRING),
)
_BY_TYPE: dict[str, tuple[tuple[str, str, tuple[str, str]], ...]] = {
    "companies": (
        ("name", "Company name", _STRING),
        ("domain", "Company Domain Name", _STRING),
        ("website", "Website URL", _STRING),
        ("phone", "Phone Number", _PHONE),
        ("address", "Street Address", _STRING),
        ("city", "City", _STRING),
        ("state", "State/Region", _STRING),
        ("zip", "Postal Code", _STRING),
        ("country", "Country/Region", _STRING),
        ("industry", "Industry", _SELECT),
        ("lifecyclestage", "Lifecycle Stage", _RADIO),
        ("hubspot_owner_id", "Company owner", _SELECT),
        ("numberofemployees", "Number of Employees", _NUMBER),
        ("annualrevenue", "Annual Revenue", _NUMBER),
        ("description", "Description", _TEXTAREA),
        ("type", "Type", _SELECT),
    ),
    "contacts": (
        ("lastmodifieddate", "Last Modified Date", _DATETIME),
        ("email", "Email", _STRING),
        ("firstname", "First Name", _STRING),
        ("lastname", "Last Name", _STRING),
        ("phone", "Phone Number", _PHONE),
        ("mobilephone", "Mobile Phone Number", _PHONE),
        ("jobtitle", "Job Title", _STRING),
        ("company", "Company Name", _STRING),
        ("website", "Website URL", _STRING),
        ("address", "Street Address", _STRING),
        ("city", "City", _STRING),
        ("state", "State/Region", _STRING),
        ("zip", "Postal Code", _STRING),
        ("country", "Country/Region", _STRING),
        ("lifecyclestage", "Lifecycle Stage", _RADIO),
        ("hubspot_owner_id", "Contact owner", _SELECT),
        ("hs_lead_status", "Lead Status", _RADIO),
    ),
    "deals": (
        ("dealname", "Deal Name", _STRING),
        ("amount", "Amount", _NUMBER),
        ("closedate", "Close Date", _DATETIME),
        ("dealstage", "Deal Stage", _RADIO),
        ("pipeline", "Pipeline", _SELECT),
        ("hubspot_owner_id", "Deal owner", _SELECT),
        ("dealtype", "Deal Type", _RADIO),
        ("description", "Deal Description", _TEXTAREA),
    ),
    "products": (
        ("name", "Name", _STRING),
        ("description", "Description", _TEXTAREA),
        ("price", "Unit price", _NUMBER),
        ("hs_sku", "SKU", _STRING),
        ("hs_cost_of_goods_sold", "Unit cost", _NUMBER),
        ("hs_recurring_billing_period", "Term", _STRING),
    ),
    "line_items": (
        ("name", "Name", _STRING),
        ("description", "Description", _TEXTAREA),
        ("quantity", "Quantity", _NUMBER),
        ("price", "Unit price", _NUMBER),
        ("amount", "Net price", _NUMBER),
        ("discount", "Unit discount", _NUMBER),
        ("hs_product_id", "Product ID", _NUMBER),
        ("hs_sku", "SKU", _STRING),
    ),
}
_FIXED_OPTIONS: dict[str, tuple[str, ...]] = {
    "industry": INDUSTRIES,
    "lifecyclestage": LIFECYCLE_STAGES,
    "type": ("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER"),
    "hs_lead_status": ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED"),
    "dealtype": ("newbusiness", "existingbusiness"),
}


def option(label: str, value: str, order: int) -> dict[str, Any]:
    """One enumeration option as the Properties API shows it."""
    return {"label": label, "value": value, "displayOrder": order, "hidden": False}


def _options(name: str, owners: list[dict[str, Any]], pipelines: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    if name == "hubspot_owner_id":
        return [option(f"{o['firstName']} {o['lastName']}", o["id"], i) for i, o in enumerate(owners)]
    if name == "pipeline":
        return [option(p["label"], p["id"], p["displayOrder"]) for p in pipelines.values()]
    if name == "dealstage":
        stages = [s for p in pipelines.values() for s in p["stages"]]
        return [option(s["label"], s["id"], i) for i, s in enumerate(stages)]
    values = _FIXED_OPTIONS.get(name, ())
    return [option(v.replace("_", " ").title(), v, i) for i, v in enumerate(values)]


def property_definition(object_type: ObjectType, name: str, label: str, kind: tuple[str, str]) -> dict[str, Any]:
    """A HubSpot-defined property in the Properties API's `Property` shape."""
    read_only = name in READ_ONLY_PROPERTIES
    return {
        "name": name,
        "label": label,
        "type": kind[0],
        "fieldType": kind[1],
        "description": "",
        "groupName": object_type.group,
        "options": [],
        "displayOrder": -1,
        "calculated": False,
        "externalOptions": name in ("hubspot_owner_id", "pipeline", "dealstage"),
        "hasUniqueValue": name == "email" and object_type.name == "contacts",
        "hidden": False,
        "hubspotDefined": True,
        "modificationMetadata": {
            "archivable": False,
            "readOnlyDefinition": True,
            "readOnlyValue": read_only,
        },
        "formField": not read_only,
        "dataSensitivity": "non_sensitive",
        "createdAt": EPOCH_ISO,
        "updatedAt": EPOCH_ISO,
        "archived": False,
    }


def default_properties(
    object_type: ObjectType, owners: list[dict[str, Any]], pipelines: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The HubSpot-defined properties of an object type."""
    out: dict[str, dict[str, Any]] = {}
    for name, label, kind in _COMMON + _BY_TYPE[object_type.name]:
        definition = property_definition(object_type, name, label, kind)
        if kind[0] == "enumeration":
            definition["options"] = _options(name, owners, pipelines)
        out[name] = definition
    return out


def default_groups(object_type: ObjectType) -> dict[str, dict[str, Any]]:
    """The property groups of a new portal for an object type."""
    return {
        object_type.group: {
            "name": object_type.group,
            "label": object_type.group_label,
            "displayOrder": 0,
            "archived": False,
        }
    }
