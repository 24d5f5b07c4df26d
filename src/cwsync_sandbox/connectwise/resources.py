"""The ConnectWise Manage endpoints the emulator serves, declared once.

Each `Resource` names the API path, the backing entity of the dataset, what a POST must carry, which fields are
references to other entities, the callback `Type` its changes are announced under, and the security module an API
member needs (so a denied module answers 403 exactly where the real API would).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Resource:
    """One collection of the API, e.g. `company/companies` or `service/tickets/{parentId}/notes`."""

    entity: str
    path: str
    module: str
    permission: str
    required: tuple[str, ...] = ()
    any_required: tuple[str, ...] = ()
    enums: dict[str, tuple[str, ...]] = field(default_factory=dict)
    references: dict[str, str] = field(default_factory=dict)
    max_lengths: dict[str, int] = field(default_factory=dict)
    unique: str | None = None
    callback_type: str | None = None
    parent_field: str | None = None
    soft_delete: bool = False
    deletable: bool = True
    label: str = ""

    @property
    def is_child(self) -> bool:
        """Whether the path carries a parent id (`.../{parentId}/...`)."""
        return "{parentId}" in self.path

    def matcher(self) -> re.Pattern[str]:
        """A regex matching the collection path and capturing `parent` where the path has one."""
        return re.compile("^" + self.path.replace("{parentId}", r"(?P<parent>\d+)") + "$", re.IGNORECASE)


def _r(entity: str, path: str, module: str, permission: str, **kw: object) -> Resource:
    return Resource(entity, path, module, permission, **kw)  # type: ignore[arg-type]


RESOURCES: tuple[Resource, ...] = (
    _r(
        "companies",
        "company/companies",
        "Companies",
        "Company Maintenance",
        required=("identifier", "name"),
        # "At least one address field is required -- addressLine1, addressLine2, city, state, zip and/or country"
        # (the field docs of Company, ai-connor/connectwise 2025.8 model_company.go). Whether a `site` stands in for
        # them is UNCONFIRMED; it does not here.
        any_required=("addressLine1", "addressLine2", "city", "state", "zip", "country"),
        references={
            "status": "company_statuses",
            "types": "company_types",
            "defaultContact": "contacts",
            "site": "sites",
        },
        max_lengths={
            "identifier": 30,
            "name": 50,
            "addressLine1": 50,
            "addressLine2": 50,
            "city": 50,
            "state": 50,
            "zip": 12,
            "phoneNumber": 30,
            "website": 255,
        },
        unique="identifier",
        callback_type="company",
        soft_delete=True,
        label="Company",
    ),
    _r("company_types", "company/companies/types", "System", "Table Setup", required=("name",)),
    _r("company_statuses", "company/companies/statuses", "System", "Table Setup", required=("name",)),
    _r(
        "sites",
        "company/companies/{parentId}/sites",
        "Companies",
        "Company Maintenance",
        required=("name",),
        parent_field="company",
        max_lengths={"name": 50},
    ),
    _r(
        "contacts",
        "company/contacts",
        "Companies",
        "Contacts",
        references={"company": "companies", "site": "sites"},
        callback_type="contact",
        label="Contact",
    ),
    _r(
        "configurations",
        "company/configurations",
        "Companies",
        "Configurations",
        required=("name", "type", "company"),
        references={
            "type": "configuration_types",
            "status": "configuration_statuses",
            "company": "companies",
            "contact": "contacts",
            "site": "sites",
            "manufacturer": "manufacturers",
        },
        max_lengths={"name": 100, "serialNumber": 250, "modelNumber": 50, "tagNumber": 50, "macAddress": 25},
        callback_type="configuration",
        label="Configuration",
    ),
    _r("configuration_types", "company/configurations/types", "System", "Table Setup", required=("name",)),
    _r(
        "configuration_statuses",
        "company/configurations/statuses",
        "System",
        "Table Setup",
        required=("description",),
    ),
    _r(
        "agreements",
        "finance/agreements",
        "Finance",
        "Agreements",
        required=("name", "type", "company", "contact"),
        references={"type": "agreement_types", "company": "companies", "contact": "contacts"},
        max_lengths={"name": 100},
        callback_type="agreement",
        label="Agreement",
    ),
    _r("agreement_types", "finance/agreements/types", "System", "Table Setup", required=("name",)),
    _r(
        "opportunities",
        "sales/opportunities",
        "Sales",
        "Opportunity",
        required=("name", "primarySalesRep", "company", "contact"),
        references={
            "primarySalesRep": "members",
            "company": "companies",
            "contact": "contacts",
            "status": "opportunity_statuses",
            "stage": "opportunity_stages",
            "type": "opportunity_types",
        },
        max_lengths={"name": 100},
        callback_type="opportunity",
        label="Opportunity",
    ),
    _r("opportunity_statuses", "sales/opportunities/statuses", "System", "Table Setup", required=("name",)),
    _r("opportunity_types", "sales/opportunities/types", "System", "Table Setup", required=("description",)),
    _r("opportunity_stages", "sales/stages", "System", "Table Setup", required=("name",)),
    _r("sales_probabilities", "sales/probabilities", "System", "Table Setup", required=("probability",)),
    _r(
        "forecast_items",
        "sales/opportunities/{parentId}/forecast",
        "Sales",
        "Opportunity",
        required=("status", "forecastType"),
        references={"status": "opportunity_statuses", "catalogItem": "catalog_items"},
        enums={"forecastType": ("Other1", "Other2", "Agreement", "Product", "Service")},
        parent_field="opportunity",
    ),
    _r(
        "catalog_items",
        "procurement/catalog",
        "Procurement",
        "Product Catalog",
        required=("identifier", "description", "subcategory", "type"),
        references={
            "subcategory": "product_subcategories",
            "category": "product_categories",
            "type": "product_types",
            "manufacturer": "manufacturers",
        },
        max_lengths={"identifier": 60, "description": 60},
        # Enums from pyconnectwise 0.6.1.2 `CatalogItem` (generated from the ConnectWise spec); api-notes §5.6.
        enums={
            "productClass": ("Agreement", "Bundle", "Inventory", "NonInventory", "Service"),
            "priceAttribute": ("FixedFee", "NotToExceed", "OverrideRate", "TimeAndMaterials"),
            "recurringCycleType": ("ContractYear", "CalendarYear"),
        },
        unique="identifier",
        callback_type="productcatalog",
        label="Catalog item",
    ),
    _r("product_categories", "procurement/categories", "System", "Table Setup", required=("name",)),
    _r(
        "product_subcategories",
        "procurement/subcategories",
        "System",
        "Table Setup",
        required=("name", "category"),
        references={"category": "product_categories"},
    ),
    _r("manufacturers", "procurement/manufacturers", "System", "Table Setup", required=("name",)),
    _r("product_types", "procurement/types", "System", "Table Setup", required=("name",)),
    _r("boards", "service/boards", "System", "Table Setup", required=("name",)),
    _r(
        "board_statuses",
        "service/boards/{parentId}/statuses",
        "System",
        "Table Setup",
        required=("name",),
        parent_field="board",
    ),
    _r(
        "tickets",
        "service/tickets",
        "Service Desk",
        "Service Tickets",
        required=("summary", "company"),
        references={
            "company": "companies",
            "contact": "contacts",
            "board": "boards",
            "status": "board_statuses",
            "owner": "members",
        },
        max_lengths={"summary": 100},
        callback_type="ticket",
        label="Ticket",
    ),
    _r(
        "ticket_notes",
        "service/tickets/{parentId}/notes",
        "Service Desk",
        "Service Tickets",
        references={"member": "members", "contact": "contacts"},
        parent_field="ticketId",
    ),
    _r(
        "members",
        "system/members",
        "System",
        "Member Maintenance",
        required=("identifier", "firstName", "lastName"),
        max_lengths={"identifier": 15, "firstName": 30, "lastName": 30},
        unique="identifier",
        callback_type="member",
        deletable=False,
        label="Member",
    ),
    _r(
        "schedule_entries",
        "schedule/entries",
        "Schedule",
        "Schedule Entries",
        required=("type",),
        references={"member": "members"},
        callback_type="schedule",
    ),
    _r(
        "time_entries",
        "time/entries",
        "Time & Expense",
        "Time Entry",
        required=("timeStart",),
        references={"member": "members", "company": "companies"},
        callback_type="time",
    ),
    _r(
        "callbacks",
        "system/callbacks",
        "System",
        "Table Setup",
        required=("url", "objectId", "type", "level"),
        max_lengths={"description": 100},
    ),
)

BY_ENTITY: dict[str, Resource] = {r.entity: r for r in RESOURCES}

_MATCHERS = tuple((r.matcher(), r) for r in RESOURCES)


@dataclass(frozen=True, slots=True)
class Route:
    """What a request path names: a resource, perhaps a parent id, a record id and a suffix (`count`)."""

    resource: Resource
    parent_id: int | None
    record_id: int | None
    suffix: str | None


def _match(path: str) -> tuple[Resource, int | None] | None:
    for matcher, resource in _MATCHERS:
        m = matcher.match(path)
        if m:
            return resource, (int(m.group("parent")) if resource.is_child else None)
    return None


def route(path: str) -> Route | None:
    """Resolve an API path relative to `apis/3.0/` (trailing and double slashes tolerated, as the real API does)."""
    parts = [p for p in path.split("/") if p]
    found = _match("/".join(parts))
    if found:
        return Route(found[0], found[1], None, None)
    found = _match("/".join(parts[:-1])) if len(parts) > 1 else None
    if not found:
        return None
    last = parts[-1]
    if last.lower() == "count":
        return Route(found[0], found[1], None, "count")
    if last.isdigit():
        return Route(found[0], found[1], int(last), None)
    return None
