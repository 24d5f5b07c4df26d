"""A deterministic, lazily generated ConnectWise Manage data set: one fictional MSP and its customers.

The sandbox emulator stands for an MSP's real ConnectWise instance and this module is its world. Nothing is
stored: every record is a pure function of ``(seed, entity, id)``, so a Dataset of 250k records costs a few
hundred kB (lookup tables, a table of day strings) and any record is rebuilt on demand in microseconds.
Field names, reference shapes, ``_info`` and custom fields follow ``shared/reference/connectwise/api-notes.md`` §5.

How it is built:

- Randomness: ``shake_256(f"{seed}:{entity}:{id}")`` read as little-endian 64-bit words, one per draw
  (:class:`_Draw`). Stable across processes, platforms and Python versions (no builtin ``hash``).
- Parent/child spreads (sites, contacts and configurations per company, notes per ticket, forecast items per
  opportunity, statuses per board): :class:`_Fanout`. One parent's children have consecutive ids, and the
  cumulative count is a closed formula over a periodic weight pattern, so ``child_ids``/``parent_id`` need no scan.
- Names that references embed (company name and identifier, contact and member names, catalog identifiers) come
  from affine permutations of the id, without hashing, so building a reference is cheap and unique fields
  (company identifiers, member logins, serial and MAC addresses) are unique by construction.
- A company's role (customer, prospect, vendor, ...) and size come from its position in a seed-shuffled pattern
  of 40, so "pick a customer, weighted by size" is arithmetic too.

Timestamps of things that happened (``_info``, notes, time and schedule entries, closing and cancel dates) are
all before ``anchor``. Forward-looking business dates (``warrantyExpirationDate``, an agreement's ``endDate``,
an open opportunity's ``expectedCloseDate``) may lie after it, as they do in a live instance.
"""

from __future__ import annotations

import random
import struct
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from hashlib import shake_256
from itertools import accumulate
from math import gcd
from typing import Any, ClassVar, NamedTuple

__all__ = ["ENTITIES", "Dataset"]

Record = dict[str, Any]

ENTITIES: tuple[str, ...] = (
    "companies",
    "company_types",
    "company_statuses",
    "sites",
    "contacts",
    "configurations",
    "configuration_types",
    "configuration_statuses",
    "agreements",
    "agreement_types",
    "opportunities",
    "opportunity_statuses",
    "opportunity_types",
    "opportunity_stages",
    "sales_probabilities",
    "forecast_items",
    "catalog_items",
    "product_categories",
    "product_subcategories",
    "manufacturers",
    "product_types",
    "boards",
    "board_statuses",
    "tickets",
    "ticket_notes",
    "members",
    "schedule_entries",
    "time_entries",
)

# Share of `records` per sized entity; lookup tables are fixed. Sums to 1.0. Notes outnumber tickets so that
# every ticket has its initial description note, as in a live instance.
_SHARES: Mapping[str, float] = {
    "companies": 0.035,
    "sites": 0.045,
    "contacts": 0.12,
    "configurations": 0.40,
    "agreements": 0.02,
    "opportunities": 0.03,
    "forecast_items": 0.045,
    "catalog_items": 0.015,
    "tickets": 0.11,
    "ticket_notes": 0.125,
    "time_entries": 0.035,
    "schedule_entries": 0.015,
    "members": 0.005,
}

# API paths; a child's path has a "{}" for its parent id.
_PATHS: Mapping[str, str] = {
    "companies": "/company/companies",
    "company_types": "/company/companies/types",
    "company_statuses": "/company/companies/statuses",
    "sites": "/company/companies/{}/sites",
    "contacts": "/company/contacts",
    "configurations": "/company/configurations",
    "configuration_types": "/company/configurations/types",
    "configuration_statuses": "/company/configurations/statuses",
    "agreements": "/finance/agreements",
    "agreement_types": "/finance/agreements/types",
    "opportunities": "/sales/opportunities",
    "opportunity_statuses": "/sales/opportunities/statuses",
    "opportunity_types": "/sales/opportunities/types",
    "opportunity_stages": "/sales/stages",
    "sales_probabilities": "/sales/probabilities",
    "forecast_items": "/sales/opportunities/{}/forecast",
    "catalog_items": "/procurement/catalog",
    "product_categories": "/procurement/categories",
    "product_subcategories": "/procurement/subcategories",
    "manufacturers": "/procurement/manufacturers",
    "product_types": "/procurement/types",
    "boards": "/service/boards",
    "board_statuses": "/service/boards/{}/statuses",
    "tickets": "/service/tickets",
    "ticket_notes": "/service/tickets/{}/notes",
    "members": "/system/members",
    "schedule_entries": "/schedule/entries",
    "time_entries": "/time/entries",
}

# ---------------------------------------------------------------------------------------------------------------
# Name pools
# ---------------------------------------------------------------------------------------------------------------

_MSPS: tuple[tuple[str, str, str], ...] = (
    ("Cobalt Technology Group", "COBALTMSP", "cobalttg.com"),
    ("Summit Peak IT", "SUMMITMSP", "summitpeakit.com"),
    ("Bluewave Managed Services", "BLUEWAVEMSP", "bluewavems.com"),
    ("Front Range Computer Services", "FRCSMSP", "frcs.net"),
    ("Ironclad IT Solutions", "IRONCLADMSP", "ironcladit.com"),
)

_PLACES: tuple[str, ...] = (
    "Summit", "Harbor", "Riverside", "Blue Ridge", "Cedar", "Pinecrest", "Lakeside", "Granite", "Maple",
    "Oakwood", "Silverline", "Redwood", "Evergreen", "Northgate", "Westfield", "Brookside", "Canyon", "Frontier",
    "Heritage", "Keystone", "Liberty", "Meridian", "Pioneer", "Prairie", "Sterling", "Timberline", "Valley",
    "Willow", "Aspen", "Bayview", "Copper", "Crescent", "Eagle", "Falcon", "Golden", "Highland", "Ironwood",
    "Juniper", "Lighthouse", "Mesa", "Mountain View", "Oak Park", "Parkside", "Quarry", "Ridgeview", "Sagebrush",
    "Stonebridge", "Sunrise", "Trailhead", "Union", "Vista", "Whitestone", "Anderson", "Bennett", "Carter",
    "Delgado", "Ellis", "Fischer", "Garcia", "Hoffman", "Iverson", "Jensen", "Kowalski", "Larsen", "Martinez",
    "Nguyen", "Patel", "Quintero", "Reyes", "Schmidt", "Thompson", "Walsh",
)  # fmt: skip

# (name phrase, identifier word, market)
_INDUSTRIES: tuple[tuple[str, str, str], ...] = (
    ("Dental Care", "Dental", "Healthcare"),
    ("Family Dentistry", "Dentistry", "Healthcare"),
    ("Orthodontics", "Ortho", "Healthcare"),
    ("Medical Clinic", "Medical", "Healthcare"),
    ("Physical Therapy", "PT", "Healthcare"),
    ("Chiropractic", "Chiro", "Healthcare"),
    ("Veterinary Hospital", "Vet", "Healthcare"),
    ("Law Group", "Law", "Legal"),
    ("Legal Services", "Legal", "Legal"),
    ("Accounting", "Acct", "Financial Services"),
    ("CPA Group", "CPA", "Financial Services"),
    ("Wealth Advisors", "Wealth", "Financial Services"),
    ("Insurance Agency", "Insurance", "Financial Services"),
    ("Credit Union", "CU", "Financial Services"),
    ("Construction", "Construction", "Construction"),
    ("Builders", "Builders", "Construction"),
    ("Roofing", "Roofing", "Construction"),
    ("Electric", "Electric", "Construction"),
    ("Plumbing & Heating", "Plumbing", "Construction"),
    ("Engineering", "Eng", "Engineering"),
    ("Architects", "Arch", "Engineering"),
    ("Realty", "Realty", "Real Estate"),
    ("Property Management", "Property", "Real Estate"),
    ("Title & Escrow", "Title", "Real Estate"),
    ("Logistics", "Logistics", "Transportation"),
    ("Trucking", "Trucking", "Transportation"),
    ("Manufacturing", "Mfg", "Manufacturing"),
    ("Machine Works", "Machine", "Manufacturing"),
    ("Brewing Company", "Brewing", "Hospitality"),
    ("Hotel & Suites", "Hotel", "Hospitality"),
    ("Auto Group", "Auto", "Retail"),
    ("Outfitters", "Outfitters", "Retail"),
    ("Community Foundation", "Foundation", "Nonprofit"),
    ("Community Church", "Church", "Nonprofit"),
    ("Academy", "Academy", "Education"),
    ("Montessori School", "Montessori", "Education"),
    ("Marketing", "Marketing", "Professional Services"),
    ("Consulting", "Consulting", "Professional Services"),
    ("Staffing", "Staffing", "Professional Services"),
    ("Landscaping", "Landscape", "Professional Services"),
)

_MARKETS: tuple[str, ...] = (*dict.fromkeys(m for _, _, m in _INDUSTRIES), "Technology")
_MARKET_IDS: tuple[int, ...] = tuple(_MARKETS.index(m) + 1 for _, _, m in _INDUSTRIES)
_TECH_MARKET = len(_MARKETS)
_SUFFIXES: tuple[tuple[str, str], ...] = (("", "com"), (" LLC", "net"), (" Inc.", "co"), (" Ltd.", "us"))

_VENDORS: tuple[tuple[str, str, str], ...] = (
    ("Ingram Micro", "IngramMicro", "ingrammicro.com"),
    ("TD SYNNEX", "TDSynnex", "tdsynnex.com"),
    ("Pax8", "Pax", "pax8.com"),
    ("D&H Distributing", "DandH", "dandh.com"),
    ("CDW", "CDW", "cdw.com"),
    ("Dell Technologies", "DellTech", "dell.com"),
    ("Amazon Business", "AmazonBusiness", "amazon.com"),
    ("SHI International", "SHI", "shi.com"),
    ("Sherweb", "Sherweb", "sherweb.com"),
    ("Provantage", "Provantage", "provantage.com"),
    ("Arrow Electronics", "Arrow", "arrow.com"),
    ("Insight Enterprises", "Insight", "insight.com"),
)
_PARTNERS: tuple[tuple[str, str, str], ...] = (
    ("Front Range Cabling", "FRCabling", "frcabling.com"),
    ("Peak Voice & Data", "PeakVoice", "peakvoicedata.com"),
    ("Mile High Print Solutions", "MileHighPrint", "milehighprint.com"),
    ("Rocky Mountain AV", "RockyMountainAV", "rmav.com"),
    ("Continental Security Integrators", "ContinentalSec", "csintegrators.com"),
)

# (city, state id, state code, state name, zip prefix, area code); Colorado-heavy, as a regional MSP's book is.
_CITIES: tuple[tuple[str, int, str, str, str, str], ...] = (
    ("Denver", 6, "CO", "Colorado", "802", "303"),
    ("Denver", 6, "CO", "Colorado", "802", "720"),
    ("Aurora", 6, "CO", "Colorado", "800", "303"),
    ("Lakewood", 6, "CO", "Colorado", "802", "303"),
    ("Boulder", 6, "CO", "Colorado", "803", "303"),
    ("Fort Collins", 6, "CO", "Colorado", "805", "970"),
    ("Colorado Springs", 6, "CO", "Colorado", "809", "719"),
    ("Golden", 6, "CO", "Colorado", "804", "303"),
    ("Littleton", 6, "CO", "Colorado", "801", "720"),
    ("Longmont", 6, "CO", "Colorado", "805", "303"),
    ("Loveland", 6, "CO", "Colorado", "805", "970"),
    ("Greeley", 6, "CO", "Colorado", "806", "970"),
    ("Castle Rock", 6, "CO", "Colorado", "801", "303"),
    ("Parker", 6, "CO", "Colorado", "801", "720"),
    ("Broomfield", 6, "CO", "Colorado", "800", "303"),
    ("Westminster", 6, "CO", "Colorado", "800", "303"),
    ("Englewood", 6, "CO", "Colorado", "801", "303"),
    ("Pueblo", 6, "CO", "Colorado", "810", "719"),
    ("Cheyenne", 51, "WY", "Wyoming", "820", "307"),
    ("Laramie", 51, "WY", "Wyoming", "820", "307"),
    ("Santa Fe", 32, "NM", "New Mexico", "875", "505"),
    ("Albuquerque", 32, "NM", "New Mexico", "871", "505"),
    ("Salt Lake City", 45, "UT", "Utah", "841", "801"),
)
_STREETS: tuple[str, ...] = (
    "Main St", "Broadway", "Colfax Ave", "Market St", "Pearl St", "Federal Blvd", "Wadsworth Blvd", "Alameda Ave",
    "Evans Ave", "Hampden Ave", "Arapahoe Rd", "College Ave", "Academy Blvd", "Mountain Ave", "Elm St", "Oak St",
    "Park Ave", "Lincoln St", "Grant St", "Washington St", "Industrial Pkwy", "Commerce Dr", "Tech Center Dr",
    "Research Blvd", "Union Blvd", "Kipling St", "Santa Fe Dr", "Quebec St",
)  # fmt: skip
_SITE_NAMES: tuple[str, ...] = (
    "Warehouse", "Branch Office", "North Campus", "Downtown Office", "Satellite Office", "Distribution Center",
    "East Office", "West Office", "Annex", "Remote Office", "Training Center", "Field Office", "Data Center",
    "Storage Facility", "Retail Store", "Second Location",
)  # fmt: skip

_FIRST_NAMES: tuple[str, ...] = (
    "Aaron", "Abigail", "Adam", "Alicia", "Amanda", "Andrew", "Angela", "Anthony", "Benjamin", "Brandon", "Brenda",
    "Brian", "Brittany", "Caleb", "Carlos", "Catherine", "Chloe", "Christopher", "Cody", "Courtney", "Daniel",
    "David", "Deborah", "Derek", "Diana", "Dylan", "Eleanor", "Elijah", "Emily", "Eric", "Ethan", "Evelyn",
    "Fatima", "Felix", "Fiona", "Frank", "Gabriel", "Grace", "Gregory", "Hannah", "Heather", "Hector", "Henry",
    "Ian", "Irene", "Isaac", "Isabella", "Jacob", "James", "Jasmine", "Jennifer", "Jessica", "Jordan", "Joseph",
    "Julia", "Justin", "Karen", "Kayla", "Kevin", "Kimberly", "Kyle", "Laura", "Lauren", "Leah", "Liam", "Logan",
    "Lucas", "Madison", "Maria", "Mark", "Matthew", "Megan", "Melissa", "Michael", "Miguel", "Natalie", "Nathan",
    "Nicole", "Noah", "Olivia", "Omar", "Oscar", "Owen", "Patricia", "Patrick", "Paul", "Priya", "Quentin",
    "Quinn", "Rachel", "Rebecca", "Ricardo", "Robert", "Ryan", "Samantha", "Samuel", "Sarah", "Scott", "Sofia",
    "Stephanie", "Steven", "Tanya", "Taylor", "Thomas", "Tiffany", "Tyler", "Uma", "Ulysses", "Valerie",
    "Vanessa", "Victor", "Vincent", "Wendy", "William", "Wyatt", "Xavier", "Ximena", "Yolanda", "Yusuf",
    "Zachary", "Zoe",
)  # fmt: skip
_LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker",
    "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson",
    "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Gomez", "Phillips", "Evans",
    "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy",
    "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey", "Reed", "Kelly", "Howard",
    "Ramos", "Kim", "Cox", "Ward", "Richardson", "Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray",
    "Mendoza", "Ruiz", "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross",
    "Foster", "Jimenez", "Novak", "Larsen", "Schmidt", "Okafor", "Yamamoto", "Kowalski", "Brennan", "Fischer",
)  # fmt: skip
_FIRST_BY_INITIAL: tuple[tuple[str, ...], ...] = tuple(
    tuple(n for n in _FIRST_NAMES if n[0] == chr(65 + i)) for i in range(26)
)
_LEAD_TITLES: tuple[str, ...] = (
    "Owner", "Office Manager", "Practice Administrator", "President", "CEO", "Operations Manager",
    "Managing Partner", "Controller",
)  # fmt: skip
_VENDOR_TITLES: tuple[str, ...] = ("Account Manager", "Inside Sales Representative", "Partner Manager")
_STAFF_TITLES: tuple[str, ...] = (
    "Receptionist", "Office Assistant", "Accountant", "Bookkeeper", "Sales Associate", "Project Manager",
    "Office Coordinator", "Estimator", "Dispatcher", "Marketing Coordinator", "HR Manager",
    "Analyst", "Associate", "Technician", "Administrative Assistant", "Billing Specialist", "Designer",
)  # fmt: skip

# ---------------------------------------------------------------------------------------------------------------
# Lookup tables (fixed rows; an override above the table size adds numbered copies nothing refers to)
# ---------------------------------------------------------------------------------------------------------------

_MANUFACTURERS: tuple[str, ...] = (
    "Dell", "HP Inc.", "Hewlett Packard Enterprise", "Lenovo", "Apple", "Cisco", "Cisco Meraki", "Fortinet",
    "SonicWall", "WatchGuard", "Ubiquiti", "Aruba", "Brother", "Xerox", "APC", "Eaton", "Synology", "Datto",
    "Microsoft", "Yealink", "Poly", "Samsung", "Logitech", "Jabra", "Adobe", "SentinelOne", "Huntress", "KnowBe4",
    "VMware",
)  # fmt: skip
_LOOKUPS: Mapping[str, tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]] = {
    "company_types": (
        ("name", "defaultFlag", "vendorFlag", "serviceAlertFlag"),
        (
            ("Owner", False, False, False),
            ("Customer", True, False, False),
            ("Prospect", False, False, False),
            ("Vendor", False, True, False),
            ("Partner", False, False, False),
            ("Former Customer", False, False, True),
            ("Competitor", False, False, False),
            ("Subcontractor", False, True, False),
        ),
    ),
    "company_statuses": (
        ("name", "defaultFlag", "inactiveFlag", "notifyFlag", "disallowSavingFlag", "customNoteFlag"),
        (
            ("Active", True, False, False, False, False),
            ("Inactive", False, True, False, False, False),
            ("Not-Approved", False, False, True, False, True),
            ("Credit Hold", False, False, True, False, True),
            ("Imported", False, False, False, False, False),
        ),
    ),
    "configuration_types": (
        ("name", "inactiveFlag", "systemFlag"),
        (
            ("Managed Server", False, False),
            ("Managed Workstation", False, False),
            ("Laptop", False, False),
            ("Firewall", False, False),
            ("Switch", False, False),
            ("Wireless AP", False, False),
            ("Printer", False, False),
            ("Microsoft 365 Tenant", False, False),
            ("Backup Appliance", False, False),
            ("UPS", False, False),
            ("NAS", False, False),
            ("VoIP Phone", False, False),
            ("Mobile Device", False, False),
            ("Virtual Machine", False, False),
            ("Domain Name", False, False),
            ("ISP Circuit", False, False),
            ("SSL Certificate", False, False),
            ("Legacy Server", True, False),
        ),
    ),
    "configuration_statuses": (
        ("description", "closedFlag", "defaultFlag"),
        (
            ("Active", False, True),
            ("Inactive", True, False),
            ("Retired", True, False),
            ("In Stock", False, False),
            ("On Order", False, False),
            ("RMA", False, False),
            ("Lost/Stolen", True, False),
        ),
    ),
    "agreement_types": (
        ("name", "defaultFlag", "inactiveFlag", "prePaymentFlag", "applicationUnits", "applicationUnlimitedFlag"),
        (
            ("Managed Services - Gold", True, False, False, "Amount", True),
            ("Managed Services - Silver", False, False, False, "Amount", True),
            ("Managed Services - Bronze", False, False, False, "Amount", False),
            ("Block Hours", False, False, True, "Hours", False),
            ("Backup as a Service", False, False, False, "Amount", True),
            ("Microsoft 365 Licensing", False, False, False, "Amount", True),
            ("Security Suite", False, False, False, "Amount", True),
            ("Hosted VoIP", False, False, False, "Amount", True),
            ("Break/Fix", False, False, False, "Hours", False),
            ("Project Retainer", False, True, True, "Hours", False),
        ),
    ),
    "opportunity_statuses": (
        ("name", "wonFlag", "lostFlag", "closedFlag", "inactiveFlag", "defaultFlag"),
        (
            ("Open", False, False, False, False, True),
            ("Won", True, False, True, False, False),
            ("Lost", False, True, True, False, False),
            ("No Decision", False, False, True, False, False),
            ("Pending Review", False, False, False, False, False),
        ),
    ),
    "opportunity_types": (
        ("description", "inactiveFlag"),
        (
            ("New Business", False),
            ("Existing Client - Upsell", False),
            ("Renewal", False),
            ("Project", False),
            ("Hardware Refresh", False),
            ("Managed Services", False),
            ("Trade Show Lead", True),
        ),
    ),
    "opportunity_stages": (
        ("name", "probability", "color", "sequenceNumber"),
        (
            ("Lead", 2, "#9E9E9E", 1),
            ("Qualified", 3, "#2196F3", 2),
            ("Proposal", 4, "#FF9800", 3),
            ("Negotiation", 5, "#9C27B0", 4),
            ("Verbal Commit", 6, "#4CAF50", 5),
            ("Closed", 7, "#607D8B", 6),
        ),
    ),
    "sales_probabilities": (("probability",), ((0,), (10,), (25,), (50,), (75,), (90,), (100,))),
    "product_categories": (
        ("name", "inactiveFlag", "defaultFlag"),
        (
            ("Hardware", False, True),
            ("Software", False, False),
            ("Services", False, False),
            ("Cloud Services", False, False),
            ("Managed Services", False, False),
            ("Miscellaneous", False, False),
        ),
    ),
    "manufacturers": (("name", "inactiveFlag"), tuple((n, n == "Xerox") for n in _MANUFACTURERS)),
    "product_types": (
        ("name", "inactiveFlag", "typeXref", "defaultFlag"),
        (
            ("Hardware", False, "InventoryPart", True),
            ("Software", False, "NonInventoryPart", False),
            ("Service", False, "Service", False),
            ("Cloud Subscription", False, "NonInventoryPart", False),
            ("Fee", False, "OtherCharge", False),
            ("Agreement", False, "Service", False),
        ),
    ),
}
_M = {n: i + 1 for i, (n, _) in enumerate(_LOOKUPS["manufacturers"][1])}  # manufacturer id by name

# Product subcategories, per category (same order as product_categories).
_SUBCATEGORIES: tuple[tuple[str, ...], ...] = (
    ("Desktops", "Laptops", "Servers", "Networking", "Printers", "Power & UPS", "Accessories"),
    ("Operating Systems", "Productivity", "Security"),
    ("Labor", "Projects", "Installation"),
    ("Microsoft 365", "Backup", "Hosting"),
    ("Agreements", "Monitoring"),
    ("Shipping", "Fees"),
)

# Boards: (name, project flag, statuses); a status is (name, closed, escalation status, display on board).
_Status = tuple[str, bool, str, bool]
_BOARDS: tuple[tuple[str, bool, tuple[_Status, ...]], ...] = (
    (
        "Help Desk",
        False,
        (
            ("New", False, "NotResponded", True),
            ("Assigned", False, "NotResponded", True),
            ("In Progress", False, "Responded", True),
            ("Waiting on Client", False, "Responded", True),
            ("Waiting on Vendor", False, "Responded", True),
            ("Scheduled", False, "ResolutionPlan", True),
            ("Completed", True, "Resolved", False),
            ("Closed", True, "NoEscalation", False),
        ),
    ),
    (
        "Alerts",
        False,
        (
            ("New", False, "NotResponded", True),
            ("Acknowledged", False, "Responded", True),
            ("In Progress", False, "Responded", True),
            ("Auto-Resolved", True, "Resolved", False),
            ("Closed", True, "NoEscalation", False),
        ),
    ),
    (
        "Projects",
        True,
        (
            ("New", False, "NotResponded", True),
            ("Planning", False, "Responded", True),
            ("In Progress", False, "ResolutionPlan", True),
            ("On Hold", False, "ResolutionPlan", True),
            ("Completed", True, "Resolved", False),
        ),
    ),
    (
        "Onboarding",
        False,
        (
            ("New", False, "NotResponded", True),
            ("Discovery", False, "Responded", True),
            ("Documentation", False, "ResolutionPlan", True),
            ("Deployment", False, "ResolutionPlan", True),
            ("Completed", True, "Resolved", False),
        ),
    ),
    (
        "Escalations",
        False,
        (
            ("New", False, "NotResponded", True),
            ("Escalated - Tier 2", False, "Responded", True),
            ("Escalated - Tier 3", False, "Responded", True),
            ("Waiting on Vendor", False, "ResolutionPlan", True),
            ("Resolved", True, "Resolved", False),
        ),
    ),
    (
        "Procurement",
        False,
        (
            ("New", False, "NotResponded", True),
            ("Quote Sent", False, "Responded", True),
            ("Ordered", False, "ResolutionPlan", True),
            ("Received", False, "ResolutionPlan", True),
            ("Delivered", True, "Resolved", False),
            ("Cancelled", True, "NoEscalation", False),
        ),
    ),
)
_BOARD_OPEN: tuple[tuple[int, ...], ...] = tuple(tuple(i for i, s in enumerate(st) if not s[1]) for _, _, st in _BOARDS)
_BOARD_CLOSED: tuple[tuple[int, ...], ...] = tuple(tuple(i for i, s in enumerate(st) if s[1]) for _, _, st in _BOARDS)
_ALERTS = 1  # board index of Alerts
_BOARD_PICK: tuple[int, ...] = (0,) * 52 + (1,) * 28 + (2,) * 5 + (3,) * 3 + (4,) * 7 + (5,) * 5  # board index

# Constant references that are not entities of this data set: (id, name[, ...]).
_PRIORITIES: tuple[tuple[int, str, int, str], ...] = (
    (1, "Priority 1 - Critical", 1, "Priority1"),
    (2, "Priority 2 - High", 2, "Priority2"),
    (3, "Priority 3 - Normal Response", 3, "Priority3"),
    (4, "Priority 4 - Low", 4, "Priority4"),
    (5, "Do Not Respond", 5, "NotApplicable"),
)
_SOURCES: tuple[str, ...] = ("Email", "Phone", "Portal", "Monitoring", "Walk-in")
_LOCATIONS: tuple[str, ...] = ("Denver", "Fort Collins", "Remote")
_DEPARTMENTS: tuple[str, ...] = ("Service", "Projects", "Sales", "Administration")
_WORK_TYPES: tuple[str, ...] = ("Remote Support", "Onsite Support", "After Hours", "Project Work", "Admin")
_WORK_ROLES: tuple[str, ...] = ("Technician", "Senior Engineer", "Project Manager", "Dispatcher")
_SECURITY_ROLES: tuple[str, ...] = ("Admin", "Technician", "Dispatch", "Sales", "Finance", "API Member")
_SERVICE_LOCATIONS: tuple[str, ...] = ("On-Site", "Remote", "In-house")
_CONTACT_TYPES: tuple[str, ...] = ("Decision Maker", "Billing", "Technical", "End User")

# Members after the API member cycle through these roles: (title, department, security role, work role).
_MEMBER_ROLES: tuple[tuple[str, int, int, int], ...] = (
    ("Account Manager", 3, 4, 0),
    ("Service Desk Technician", 1, 2, 1),
    ("Systems Engineer", 1, 2, 2),
    ("Senior Engineer", 1, 2, 2),
    ("Dispatcher", 1, 3, 4),
    ("Service Desk Technician", 1, 2, 1),
    ("Project Manager", 2, 2, 3),
    ("Field Technician", 1, 2, 1),
    ("Account Manager", 3, 4, 0),
    ("Network Engineer", 2, 2, 2),
)
_SALES_SLOTS: tuple[int, ...] = tuple(i for i, r in enumerate(_MEMBER_ROLES) if r[3] == 0)
_TECH_SLOTS: tuple[int, ...] = tuple(i for i, r in enumerate(_MEMBER_ROLES) if r[3] in (1, 2, 3))

# Company profile pattern (role, size); size weights contacts and configurations and drives site count.
_CUSTOMER_SIZES: tuple[int, ...] = (2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 6, 6, 7, 8, 8, 9, 10, 12, 12, 14, 16, 18, 20, 25)
_PROFILE_BASE: tuple[tuple[str, int], ...] = (
    *(("customer", s) for s in _CUSTOMER_SIZES),
    ("customer", 30),
    ("customer", 40),
    ("customer", 55),
    ("customer", 80),
    ("customer+prospect", 3),
    ("customer+prospect", 6),
    ("customer+prospect", 10),
    *(("prospect", 0),) * 4,
    *(("vendor", 0),) * 3,
    ("partner", 0),
    ("former", 0),
)
_ROLE_TYPES: Mapping[str, tuple[int, ...]] = {
    "owner": (1,),
    "customer": (2,),
    "customer+prospect": (2, 3),
    "prospect": (3,),
    "vendor": (4,),
    "partner": (5,),
    "former": (6,),
}

# Configurations ------------------------------------------------------------------------------------------------
# Type ids (configuration_types row numbers).
_SERVER, _WORKSTATION, _LAPTOP, _FIREWALL, _SWITCH, _AP, _PRINTER, _M365 = 1, 2, 3, 4, 5, 6, 7, 8
_BACKUP, _UPS, _NAS, _PHONE, _MOBILE, _VM, _DOMAIN, _CIRCUIT, _SSL, _LEGACY = range(9, 19)


def _models(spec: str) -> tuple[tuple[int, str], ...]:
    """``"Maker:model|Maker:model"`` -> ((manufacturer id, model number), ...)."""
    return tuple((_M[maker], model) for maker, model in (item.split(":", 1) for item in spec.split("|")))


# Per type: (name code, models as (manufacturer id, model number), warranty years, endpoint)
_KINDS: Mapping[int, tuple[str, tuple[tuple[int, str], ...], tuple[int, ...], bool]] = {
    _SERVER: ("SRV", _models("Dell:PowerEdge R650|Dell:PowerEdge T350|Hewlett Packard Enterprise:ProLiant DL380 Gen10"
                             "|Lenovo:ThinkSystem SR630 V2"), (3, 5), False),
    _WORKSTATION: ("WS", _models("Dell:OptiPlex 7010 Micro|Dell:OptiPlex 7090|HP Inc.:EliteDesk 800 G6"
                                 "|HP Inc.:ProDesk 400 G9|Lenovo:ThinkCentre M70q Gen 3"), (1, 3), True),
    _LAPTOP: ("LT", _models("Dell:Latitude 5440|Dell:Latitude 7440|HP Inc.:EliteBook 840 G9|Lenovo:ThinkPad T14 Gen 3"
                            "|Lenovo:ThinkPad X1 Carbon Gen 11|Apple:MacBook Pro 14 (M3)"), (1, 3), True),
    _FIREWALL: ("FW", _models("Fortinet:FortiGate 60F|Fortinet:FortiGate 100F|SonicWall:TZ470|WatchGuard:Firebox T45"
                              "|Cisco Meraki:MX68"), (1, 3, 5), False),
    _SWITCH: ("SW", _models("Cisco:Catalyst 9200L-24P-4G|Cisco Meraki:MS120-24P|Ubiquiti:USW-Pro-24-PoE"
                            "|Aruba:2930F-24G-PoE+"), (3, 5), False),
    _AP: ("AP", _models("Ubiquiti:U6-Pro|Cisco Meraki:MR36|Aruba:AP-515"), (1, 3), False),
    _PRINTER: ("PRN", _models("HP Inc.:LaserJet Pro M404dn|Brother:HL-L8360CDW|Xerox:VersaLink C405"), (1,), False),
    _M365: ("M365", _models("Microsoft:"), (1,), False),
    _BACKUP: ("BDR", _models("Datto:SIRIS S5-4|Datto:ALTO 4|Synology:RS1221+"), (3, 5), False),
    _UPS: ("UPS", _models("APC:SMT1500RM2U|APC:BX1500M|Eaton:5PX1500RT"), (2, 3), False),
    _NAS: ("NAS", _models("Synology:DS920+|Synology:RS1221+"), (2, 3), False),
    _PHONE: ("PH", _models("Yealink:SIP-T54W|Poly:VVX 450"), (1,), True),
    _MOBILE: ("MOB", _models("Apple:iPhone 15|Samsung:Galaxy S24"), (1,), True),
    _VM: ("VM", _models("VMware:Virtual Platform|Microsoft:Hyper-V Virtual Machine"), (1,), False),
    _DOMAIN: ("DNS", ((0, ""),), (1,), False),
    _CIRCUIT: ("ISP", ((0, ""),), (1,), False),
    _SSL: ("SSL", ((0, ""),), (1,), False),
    _LEGACY: ("OLD", _models("Dell:PowerEdge R720|Hewlett Packard Enterprise:ProLiant ML350 G6"), (3,), False),
}  # fmt: skip
# A company's first configurations are its infrastructure; the rest are end-user devices.
_INFRA: tuple[tuple[int, str], ...] = (
    (_FIREWALL, "FW01"),
    (_M365, ""),
    (_SERVER, "DC01"),
    (_SWITCH, "SW01"),
    (_AP, "AP01"),
    (_DOMAIN, ""),
    (_BACKUP, "BDR01"),
    (_PRINTER, "PRN01"),
    (_UPS, "UPS01"),
    (_SERVER, "FS01"),
    (_CIRCUIT, ""),
    (_AP, "AP02"),
    (_VM, "APP01"),
    (_SWITCH, "SW02"),
    (_SSL, ""),
    (_NAS, "NAS01"),
    (_LEGACY, "SQL01"),
)
_SERVER_ORDINALS: tuple[int, ...] = tuple(
    i for i, (kind, _) in enumerate(_INFRA) if kind in (_SERVER, _VM, _LEGACY, _BACKUP)
)
_ENDPOINT_PICK: tuple[int, ...] = (
    (_WORKSTATION,) * 42 + (_LAPTOP,) * 38 + (_PHONE,) * 8 + (_MOBILE,) * 5 + (_PRINTER,) * 4 + (_AP,) * 3
)
_STATUS_PICK: tuple[int, ...] = (1,) * 88 + (2,) * 4 + (3,) * 5 + (4,) * 2 + (6,)  # configuration status ids
_SERIAL_PREFIX: Mapping[int, str] = {
    _M["Dell"]: "",
    _M["HP Inc."]: "5CG",
    _M["Hewlett Packard Enterprise"]: "CZJ",
    _M["Lenovo"]: "PF",
    _M["Apple"]: "C02",
    _M["Cisco"]: "FOC",
    _M["WatchGuard"]: "80D",
    _M["Aruba"]: "CNF",
    _M["Brother"]: "U6",
    _M["Xerox"]: "XRX",
    _M["APC"]: "AS",
    _M["Eaton"]: "GA",
    _M["Synology"]: "SY",
    _M["Datto"]: "DT",
    _M["Yealink"]: "YL",
    _M["Poly"]: "PL",
    _M["Samsung"]: "R5C",
    _M["VMware"]: "VMW",
    _M["Microsoft"]: "MSV",
}
_MERAKI, _FORTINET, _APPLE = _M["Cisco Meraki"], _M["Fortinet"], _M["Apple"]
_MAC_SERIALS = (_M["SonicWall"], _M["Ubiquiti"])  # these makers use the MAC as the serial
_MAC_OUI: Mapping[int, str] = {
    _M["SonicWall"]: "2C:B8:ED",
    _M["Ubiquiti"]: "F4:E2:C6",
    _M["Cisco Meraki"]: "E0:55:3D",
    _M["Fortinet"]: "90:6C:AC",
    _M["Dell"]: "B0:7B:25",
    _M["HP Inc."]: "A8:B1:3B",
    _M["Lenovo"]: "8C:16:45",
    _M["Apple"]: "F0:18:98",
}
_OS_SERVER: tuple[tuple[str, str], ...] = (
    ("Microsoft Windows Server 2022 Standard", "10.0.20348"),
    ("Microsoft Windows Server 2022 Standard", "10.0.20348"),
    ("Microsoft Windows Server 2019 Standard", "10.0.17763"),
    ("Microsoft Windows Server 2016 Standard", "10.0.14393"),
)
_OS_DESKTOP: tuple[tuple[str, str], ...] = (
    ("Microsoft Windows 11 Pro x64", "10.0.22631"),
    ("Microsoft Windows 11 Pro x64", "10.0.22631"),
    ("Microsoft Windows 11 Pro x64", "10.0.26100"),
    ("Microsoft Windows 10 Pro x64", "10.0.19045"),
    ("Microsoft Windows 11 Enterprise x64", "10.0.22631"),
)
_OS_MAC: tuple[tuple[str, str], ...] = (("macOS Sonoma", "14.6.1"), ("macOS Sequoia", "15.1"))
_CPU: tuple[str, ...] = ("2.40 GHz", "2.60 GHz", "2.90 GHz", "3.10 GHz", "3.40 GHz")
_RAM: tuple[str, ...] = ("8 GB", "16 GB", "16 GB", "32 GB", "64 GB")
_ISPS: tuple[str, ...] = ("Comcast Business 300/30", "Lumen Fiber 500/500", "Zayo DIA 1G", "Spectrum Business 600/35")

# Catalog: (identifier, description, category index, subcategory ordinal, product type id, manufacturer,
#           productClass, price, cost)
_CATALOG: tuple[tuple[str, str, int, int, int, str, str, float, float], ...] = (
    ("DELL-OPT7010", "Dell OptiPlex 7010 Micro i5/16GB/256GB", 0, 0, 1, "Dell", "Inventory", 1049.0, 869.0),
    ("HP-ED800G9", "HP EliteDesk 800 G9 Mini i5/16GB/512GB", 0, 0, 1, "HP Inc.", "Inventory", 1129.0, 941.0),
    ("LEN-M70Q", "Lenovo ThinkCentre M70q Gen 4", 0, 0, 1, "Lenovo", "Inventory", 899.0, 745.0),
    ("DELL-LAT5440", "Dell Latitude 5440 i5/16GB/512GB", 0, 1, 1, "Dell", "Inventory", 1349.0, 1118.0),
    ("DELL-LAT7440", "Dell Latitude 7440 i7/32GB/512GB", 0, 1, 1, "Dell", "Inventory", 1899.0, 1602.0),
    ("HP-EB840G10", "HP EliteBook 840 G10 i7/16GB/512GB", 0, 1, 1, "HP Inc.", "Inventory", 1749.0, 1466.0),
    ("LEN-T14G4", "Lenovo ThinkPad T14 Gen 4 i5/16GB/512GB", 0, 1, 1, "Lenovo", "Inventory", 1429.0, 1190.0),
    ("APL-MBP14-M3", "Apple MacBook Pro 14in M3 Pro 18GB/512GB", 0, 1, 1, "Apple", "Inventory", 1999.0, 1840.0),
    ("DELL-R660XS", "Dell PowerEdge R660xs Rack Server", 0, 2, 1, "Dell", "Inventory", 7850.0, 6540.0),
    ("DELL-T360", "Dell PowerEdge T360 Tower Server", 0, 2, 1, "Dell", "Inventory", 4290.0, 3560.0),
    ("HPE-DL380G11", "HPE ProLiant DL380 Gen11", 0, 2, 1, "Hewlett Packard Enterprise", "Inventory", 9450.0, 7920.0),
    ("FTNT-FG60F", "Fortinet FortiGate 60F Firewall", 0, 3, 1, "Fortinet", "Inventory", 745.0, 560.0),
    ("FTNT-FG100F", "Fortinet FortiGate 100F Firewall", 0, 3, 1, "Fortinet", "Inventory", 3295.0, 2540.0),
    ("SNWL-TZ470", "SonicWall TZ470 Firewall", 0, 3, 1, "SonicWall", "Inventory", 1095.0, 830.0),
    ("MER-MS120-24P", "Cisco Meraki MS120-24P Switch", 0, 3, 1, "Cisco Meraki", "Inventory", 1480.0, 1150.0),
    ("UBNT-USW24POE", "Ubiquiti UniFi Switch Pro 24 PoE", 0, 3, 1, "Ubiquiti", "Inventory", 799.0, 659.0),
    ("UBNT-U6PRO", "Ubiquiti UniFi U6 Pro Access Point", 0, 3, 1, "Ubiquiti", "Inventory", 189.0, 149.0),
    ("MER-MR36", "Cisco Meraki MR36 Access Point", 0, 3, 1, "Cisco Meraki", "Inventory", 649.0, 505.0),
    ("HP-M404DN", "HP LaserJet Pro M404dn", 0, 4, 1, "HP Inc.", "Inventory", 389.0, 312.0),
    ("BRO-HLL8360", "Brother HL-L8360CDW Color Laser", 0, 4, 1, "Brother", "Inventory", 549.0, 433.0),
    ("APC-SMT1500RM", "APC Smart-UPS 1500VA Rackmount", 0, 5, 1, "APC", "Inventory", 1150.0, 905.0),
    ("APC-BX1500M", "APC Back-UPS Pro 1500VA", 0, 5, 1, "APC", "Inventory", 229.0, 181.0),
    ("DELL-P2423D", "Dell 24in Monitor P2423D", 0, 6, 1, "Dell", "Inventory", 269.0, 214.0),
    ("DELL-WD19S", "Dell WD19S USB-C Dock", 0, 6, 1, "Dell", "Inventory", 239.0, 188.0),
    ("LOGI-MK540", "Logitech MK540 Wireless Keyboard/Mouse", 0, 6, 1, "Logitech", "Inventory", 59.0, 41.0),
    ("JAB-EVOLVE2-65", "Jabra Evolve2 65 Headset", 0, 6, 1, "Jabra", "Inventory", 249.0, 196.0),
    ("MS-WIN11PRO-UPG", "Windows 11 Pro Upgrade License", 1, 0, 2, "Microsoft", "NonInventory", 199.0, 159.0),
    ("MS-WS2022-STD16", "Windows Server 2022 Standard 16-Core", 1, 0, 2, "Microsoft", "NonInventory", 1099.0, 902.0),
    ("MS-WS2022-UCAL", "Windows Server 2022 User CAL", 1, 0, 2, "Microsoft", "NonInventory", 54.0, 41.0),
    ("ADOBE-ACRO-PRO", "Adobe Acrobat Pro (annual)", 1, 1, 2, "Adobe", "NonInventory", 239.88, 203.0),
    ("SEC-S1-COMPLETE", "SentinelOne Complete EDR (per endpoint)", 1, 2, 4, "SentinelOne", "NonInventory", 9.0, 4.5),
    ("SEC-HUNTRESS", "Huntress Managed EDR (per endpoint)", 1, 2, 4, "Huntress", "NonInventory", 6.5, 3.25),
    ("SEC-KNOWBE4", "KnowBe4 Security Awareness (per user)", 1, 2, 4, "KnowBe4", "NonInventory", 3.0, 1.6),
    ("LAB-REMOTE", "Remote Support Labor (hourly)", 2, 0, 3, "", "Service", 150.0, 55.0),
    ("LAB-ONSITE", "Onsite Support Labor (hourly)", 2, 0, 3, "", "Service", 175.0, 60.0),
    ("LAB-AFTERHRS", "After-Hours Emergency Labor (hourly)", 2, 0, 3, "", "Service", 250.0, 75.0),
    ("PRJ-SRVMIG", "Server Migration Project", 2, 1, 3, "", "Service", 4500.0, 1800.0),
    ("PRJ-M365MIG", "Microsoft 365 Migration (per mailbox)", 2, 1, 3, "", "Service", 95.0, 35.0),
    ("PRJ-FWREPL", "Firewall Replacement Project", 2, 1, 3, "", "Service", 1200.0, 480.0),
    ("INST-WS", "Workstation Setup and Deployment", 2, 2, 3, "", "Service", 175.0, 70.0),
    ("INST-NET", "Network Equipment Installation", 2, 2, 3, "", "Service", 650.0, 260.0),
    ("M365-BP", "Microsoft 365 Business Premium (monthly)", 3, 0, 4, "Microsoft", "NonInventory", 22.0, 19.8),
    ("M365-BS", "Microsoft 365 Business Standard (monthly)", 3, 0, 4, "Microsoft", "NonInventory", 12.5, 11.25),
    ("M365-E3", "Microsoft 365 E3 (monthly)", 3, 0, 4, "Microsoft", "NonInventory", 36.0, 32.4),
    ("M365-EXO-P1", "Exchange Online Plan 1 (monthly)", 3, 0, 4, "Microsoft", "NonInventory", 4.0, 3.6),
    ("BKP-DATTO-S5", "Datto SIRIS S5 4TB Appliance", 3, 1, 1, "Datto", "Inventory", 3995.0, 3100.0),
    ("BKP-SAAS-M365", "SaaS Protection for Microsoft 365 (per user)", 3, 1, 4, "Datto", "NonInventory", 4.0, 2.1),
    ("BKP-CLOUD-TB", "Cloud Backup Storage (per TB)", 3, 1, 4, "", "NonInventory", 45.0, 18.0),
    ("HOST-VM-STD", "Hosted Virtual Server - Standard", 3, 2, 4, "", "NonInventory", 189.0, 74.0),
    ("HOST-DOMAIN", "Domain Registration (annual)", 3, 2, 4, "", "NonInventory", 25.0, 12.0),
    ("HOST-SSL", "SSL Certificate (annual)", 3, 2, 4, "", "NonInventory", 129.0, 59.0),
    ("MSP-GOLD-USER", "Managed Services Gold (per user)", 4, 0, 6, "", "Agreement", 165.0, 62.0),
    ("MSP-SILVER-USER", "Managed Services Silver (per user)", 4, 0, 6, "", "Agreement", 125.0, 48.0),
    ("MSP-BRONZE-DEV", "Managed Services Bronze (per device)", 4, 0, 6, "", "Agreement", 45.0, 17.0),
    ("MSP-SERVER", "Managed Server (per server)", 4, 0, 6, "", "Agreement", 225.0, 80.0),
    ("MON-NETWORK", "Network Monitoring (per site)", 4, 1, 6, "", "Agreement", 99.0, 30.0),
    ("MON-DARKWEB", "Dark Web Monitoring (per domain)", 4, 1, 6, "", "Agreement", 49.0, 15.0),
    ("SHIP-GROUND", "Shipping and Handling", 5, 0, 5, "", "NonInventory", 35.0, 28.0),
    ("FEE-RECYCLE", "Equipment Recycling Fee", 5, 1, 5, "", "NonInventory", 40.0, 15.0),
    ("FEE-TRIP", "Trip Charge", 5, 1, 5, "", "NonInventory", 75.0, 0.0),
)  # fmt: skip

_CUSTOMER_BLURBS: Mapping[str, str] = {
    "Inventory": "Includes manufacturer warranty.",
    "NonInventory": "Licensed per term; renews automatically.",
    "Service": "Billed per the current rate sheet.",
    "Agreement": "Billed monthly under your managed services agreement.",
}

# Custom field definitions: id -> (caption, type, entryMethod, connectWiseId).
_CUSTOM_FIELDS: Mapping[int, tuple[str, str, str, str]] = {
    1: ("Tier", "Text", "List", "6f1d2c40-8a51-4e0b-9c2d-1b7e3a900001"),
    2: ("Onboarded", "Date", "Date", "6f1d2c40-8a51-4e0b-9c2d-1b7e3a900002"),
    3: ("Documentation URL", "Hyperlink", "EntryField", "6f1d2c40-8a51-4e0b-9c2d-1b7e3a900003"),
    10: ("RMM Agent Installed", "Checkbox", "EntryField", "6f1d2c40-8a51-4e0b-9c2d-1b7e3a900010"),
    11: ("Monitoring Policy", "Text", "List", "6f1d2c40-8a51-4e0b-9c2d-1b7e3a900011"),
}

_OPPORTUNITY_NAMES: tuple[str, ...] = (
    "Server refresh", "Microsoft 365 migration", "Firewall upgrade", "Managed Services - Gold",
    "Laptop refresh", "Backup and DR", "Wi-Fi upgrade", "Security bundle", "VoIP phone system",
    "New office build-out", "Co-managed IT", "Compliance assessment", "Azure migration", "Network redesign",
)  # fmt: skip
_OPPORTUNITY_NOTES: tuple[str, ...] = (
    "Budget approved for Q1.", "Waiting on board approval.", "Competing with incumbent MSP.",
    "Client asked for a phased rollout.", "Needs to align with lease renewal.",
)  # fmt: skip
_OPPORTUNITY_SOURCES: tuple[str, ...] = ("Referral", "Website", "Existing Client", "Trade Show", "Cold Call", "Vendor")

# Ticket summaries per board index; {f} contact first name, {c} company, {d} device, {s} site.
_SUMMARIES: tuple[tuple[str, ...], ...] = (
    (
        "Outlook not syncing for {f}", "Printer offline at {s}", "New user setup - {f}", "Password reset for {f}",
        "VPN disconnects frequently", "Teams audio cutting out on calls", "Shared drive mapping missing for {f}",
        "Slow computer - {d}", "MFA prompt loop for {f}", "Scanner not sending to email", "Wi-Fi drops at {s}",
        "QuickBooks will not open", "Laptop docking station not detecting monitors", "Phishing email reported by {f}",
        "Request: install Adobe Acrobat for {f}", "Mailbox full - {f}", "User offboarding - {f}",
    ),
    (
        "[RMM] Disk space low on {d}", "[RMM] Agent offline: {d}", "[Backup] Backup failed: {d}",
        "[RMM] High CPU usage on {d}", "[Firewall] WAN link down at {s}", "[RMM] Pending reboot: {d}",
        "[EDR] Threat quarantined on {d}", "[UPS] On battery at {s}", "[RMM] Windows updates failed on {d}",
    ),
    (
        "Server migration to Windows Server 2022", "Microsoft 365 tenant migration", "Firewall replacement at {s}",
        "Wi-Fi refresh at {s}", "Workstation refresh - phase 2", "Backup appliance deployment",
    ),
    ("Onboard new client: {c}", "Onboarding - network documentation", "Onboarding - RMM agent rollout"),
    ("Recurring BSOD on {d}", "Email delivery failures to external domains", "Intermittent network outage at {s}"),
    ("Quote: laptops for {c}", "Order: replacement UPS batteries", "Quote: switch upgrade at {s}"),
)  # fmt: skip
_NOTE_OPEN: tuple[str, ...] = (
    "Reported by {f}: {x}. Started this morning and is affecting work.",
    "{f} called in: {x}. Please call back when someone is available.",
    "From {f} via the portal: {x}. Not urgent, but please look today.",
)
_NOTE_ALERT = "Automated alert from RMM: {x}. Monitor threshold exceeded; see the agent's monitor history."
_NOTE_WORK: tuple[str, ...] = (
    "Connected remotely and reviewed event logs. Gathering more information.",
    "Called {f}, left voicemail. Will follow up this afternoon.",
    "Checked RMM monitors and recent patches; no related failures found.",
    "Escalated to vendor support, case opened.",
    "Rebooted the device and cleared the print spooler; monitoring.",
    "Reviewed with {f}; scheduled onsite visit.",
)
_NOTE_RESOLVE: tuple[str, ...] = (
    "Resolved: cleared cached credentials and re-created the Outlook profile. {f} confirmed working.",
    "Resolved: replaced failing drive and verified backups completed.",
    "Resolved: applied pending updates and rebooted. Alert cleared.",
    "Resolved: reset MFA registration; {f} signed in successfully.",
)
_TIME_NOTES: tuple[str, ...] = (
    "Remote session to troubleshoot and resolve issue.",
    "Reviewed alert, checked logs, remediated.",
    "Onsite visit: replaced hardware and tested.",
    "Worked with user to reconfigure settings.",
    "Documentation and follow-up with client.",
)

# ---------------------------------------------------------------------------------------------------------------
# Field names per entity (api-notes §5; boards and agreement types are not in the notes: fields as in the API)
# ---------------------------------------------------------------------------------------------------------------


def _udf(prefix: str) -> str:
    return " ".join(f"{prefix}{i}" for i in range(1, 11))


_FIELDS: Mapping[str, frozenset[str]] = {
    entity: frozenset(names.split())
    for entity, names in {
        "companies": "id identifier name status types addressLine1 addressLine2 city state zip country phoneNumber"
        " faxNumber website territory market accountNumber defaultContact site billingSite billingContact"
        " billToCompany parentCompany sicCode ownershipType timeZoneSetup calendar taxCode billingTerms"
        " invoiceTemplate pricingSchedule companyEntityType invoiceDeliveryMethod currency territoryManager"
        " leadSource leadFlag unsubscribeFlag dateAcquired annualRevenue numberOfEmployees yearEstablished"
        f" revenueYear {_udf('userDefinedField')} vendorIdentifier taxIdentifier invoiceToEmailAddress"
        " invoiceCCEmailAddress deletedFlag dateDeleted deletedBy mobileGuid facebookUrl twitterUrl linkedInUrl"
        " resellerIdentifier isVendorFlag integratorTags customFields _info",
        "company_types": "id name defaultFlag vendorFlag serviceAlertFlag serviceAlertMessage _info",
        "company_statuses": "id name defaultFlag inactiveFlag notifyFlag disallowSavingFlag notificationMessage"
        " customNoteFlag cancelOpenTracksFlag track _info",
        "sites": "id name addressLine1 addressLine2 city stateReference zip country addressFormat phoneNumber"
        " phoneNumberExt faxNumber taxCode entityType expenseReimbursement primaryAddressFlag defaultShippingFlag"
        " defaultBillingFlag defaultMailingFlag inactiveFlag billSeparateFlag mobileGuid calendar timeZone company"
        " _info customFields",
        "contacts": "id firstName lastName company site addressLine1 addressLine2 city state zip country"
        " relationship relationshipOverride department inactiveFlag defaultMergeContactId securityIdentifier"
        " managerContact assistantContact title school nickName marriedFlag childrenFlag children"
        " significantOther portalPassword portalSecurityLevel disablePortalLoginFlag unsubscribeFlag gender"
        " birthDay anniversary presence mobileGuid facebookUrl twitterUrl linkedInUrl defaultPhoneType"
        f" defaultPhoneNbr defaultPhoneExtension defaultBillingFlag defaultFlag {_udf('userDefinedField')}"
        " companyLocation communicationItems types typeIds integratorTags customFields photo ignoreDuplicates"
        " _info",
        "configurations": "id name type status company contact site locationId location businessUnitId department"
        " deviceIdentifier serialNumber modelNumber tagNumber purchaseDate installationDate installedBy"
        " warrantyExpirationDate vendorNotes notes macAddress lastLoginName billFlag backupSuccesses"
        " backupIncomplete backupFailed backupRestores lastBackupDate backupServerName backupBillableSpaceGb"
        " backupProtectedDeviceList backupYear backupMonth ipAddress defaultGateway osType osInfo cpuSpeed ram"
        " localHardDrives parentConfigurationId vendor manufacturer questions activeFlag managementLink"
        " remoteLink sla mobileGuid displayVendorFlag companyLocationId showRemoteFlag showAutomateFlag"
        " needsRenewalFlag manufacturerPartNumber _info customFields",
        "configuration_types": "id name inactiveFlag systemFlag _info",
        "configuration_statuses": "id description closedFlag defaultFlag _info",
        "agreements": "id name type company contact site subContractCompany subContractContact parentAgreement"
        " customerPO location department opportunity startDate endDate noEndingDateFlag cancelledFlag"
        " dateCancelled reasonCancelled sla workOrder internalNotes applicationUnits applicationLimit"
        " applicationCycle applicationUnlimitedFlag oneTimeFlag coverAgreementTime coverAgreementProduct"
        " coverAgreementExpense coverSalesTax carryOverUnused allowOverruns expiredDays limit expireWhenZero"
        " chargeToFirm billingCycle billingTerms billToCompany billToContact billToSite billAmount taxable"
        " prorateFirstBill billStartDate taxCode workRole workType projectType invoiceTemplate billTime"
        " billExpenses billProducts currency periodType autoInvoiceFlag nextInvoiceDate companyLocation"
        " shipToCompany shipToContact shipToSite agreementStatus _info customFields",
        "agreement_types": "id name defaultFlag inactiveFlag prePaymentFlag applicationUnits applicationLimit"
        " applicationCycle applicationUnlimitedFlag oneTimeFlag billingCycle billTime billExpenses billProducts"
        " coverAgreementTime coverAgreementProduct coverAgreementExpense taxable employeeCompRate"
        " employeeCompNotExceed invoicingCycle _info",
        "opportunities": "id name expectedCloseDate type stage status priority probability rating campaign notes"
        " source primarySalesRep secondarySalesRep company contact site technicalContact locationId"
        " businessUnitId companyLocationId customerPO pipelineChangeDate dateBecameLead closedDate closedBy"
        " totalSalesTax shipToCompany shipToContact shipToSite billToCompany billToContact billToSite billingTerms"
        " taxCode currency _info customFields",
        "opportunity_statuses": "id name wonFlag lostFlag closedFlag inactiveFlag defaultFlag enteredBy"
        " dateEntered _info",
        "opportunity_types": "id description inactiveFlag _info",
        "opportunity_stages": "id name probability color sequenceNumber _info",
        "sales_probabilities": "id probability _info",
        "forecast_items": "id forecastDescription opportunity quantity status catalogItem productDescription"
        " productClass revenue cost margin percentage includeFlag linkFlag quoteWerksDocNo quoteWerksDocName"
        " quoteWerksQuantity forecastType recurringRevenue recurringCost recurringDateStart recurringDateEnd"
        " billCycle cycleBasis cycles recurringFlag sequenceNumber subNumber taxableFlag _info",
        "catalog_items": "id identifier description inactiveFlag subcategory type productClass serializedFlag"
        " serializedCostFlag phaseProductFlag unitOfMeasure minStockLevel price cost priceAttribute taxableFlag"
        " dropShipFlag specialOrderFlag customerDescription manufacturer manufacturerPartNumber vendor vendorSku"
        " notes integrationXRef sla entityType recurringFlag recurringRevenue recurringCost recurringOneTimeFlag"
        " recurringBillCycle recurringCycleType calculatedPriceFlag calculatedCostFlag category calculatedPrice"
        " calculatedCost billableOption connectWiseID agreementType markupPercentage markupFlag"
        " autoUpdateUnitCostFlag autoUpdateUnitPriceFlag _info customFields",
        "product_categories": "id name inactiveFlag priceLevelXref integrationXref locationIds defaultFlag"
        " addAllLocations removeAllLocations _info",
        "product_subcategories": "id name inactiveFlag integrationXref defaultFlag category _info",
        "manufacturers": "id name inactiveFlag _info",
        "product_types": "id name inactiveFlag typeXref defaultFlag _info",
        "boards": "id name location department inactiveFlag projectFlag showDependenciesFlag showEstimatesFlag"
        " signOffTemplate billTicketsAfterClosedFlag billTicketSeparatelyFlag billUnapprovedTimeExpenseFlag"
        " dispatchMember serviceManagerMember dutyManagerMember workRole workType billTime billExpense"
        " billProduct autoCloseStatus autoAssignNewTicketsFlag _info",
        "board_statuses": "id name board sortOrder displayOnBoard inactive closedStatus timeEntryNotAllowed"
        " roundRobinCatchall defaultFlag escalationStatus customerPortalDescription customerPortalFlag"
        " emailTemplate statusIndicator customStatusIndicatorName saveTimeAsNote _info",
        "tickets": "id summary recordType board status workRole workType company site siteName addressLine1"
        " addressLine2 city stateIdentifier zip country contact contactName contactPhoneNumber"
        " contactPhoneExtension contactEmailAddress type subType item team owner priority serviceLocation source"
        " requiredDate budgetHours opportunity agreement agreementType severity impact externalXRef poNumber"
        " knowledgeBaseCategoryId knowledgeBaseSubCategoryId allowAllClientsPortalView customerUpdatedFlag"
        " automaticEmailContactFlag automaticEmailResourceFlag automaticEmailCcFlag automaticEmailCc"
        " initialDescription initialInternalAnalysis initialResolution initialDescriptionFrom contactEmailLookup"
        " processNotifications skipCallback closedDate closedBy closedFlag actualHours approved"
        " estimatedExpenseCost estimatedExpenseRevenue estimatedProductCost estimatedProductRevenue"
        " estimatedTimeCost estimatedTimeRevenue billingMethod billingAmount hourlyRate subBillingMethod"
        " subBillingAmount subDateAccepted dateResolved dateResplan dateResponded resolveMinutes resPlanMinutes"
        " respondMinutes isInSla knowledgeBaseLinkId knowledgeBaseLinkType resources parentTicketId"
        " hasChildTicket hasMergedChildTicketFlag billTime billExpenses billProducts predecessorType predecessorId"
        " predecessorClosedFlag lagDays lagNonworkingDaysFlag estimatedStartDate duration location department"
        " mobileGuid sla slaStatus requestForChangeFlag currency mergedParentTicket integratorTags"
        " escalationStartDateUTC escalationLevel minutesBeforeWaiting respondedSkippedMinutes"
        " resplanSkippedMinutes respondedHours respondedBy resplanHours resplanBy resolutionHours resolvedBy"
        " minutesWaiting _info customFields",
        "ticket_notes": "id ticketId text detailDescriptionFlag internalAnalysisFlag resolutionFlag issueFlag"
        " member contact customerUpdatedFlag processNotifications dateCreated createdBy internalFlag externalFlag"
        " sentimentScore _info",
        "members": "id identifier firstName lastName hireDate licenseClass defaultEmail defaultPhone securityRole"
        " primaryEmail officeEmail mobileEmail homeEmail inactiveFlag inactiveDate title timeZone defaultLocation"
        " defaultDepartment serviceDefaultBoard dailyCapacity hourlyRate type agreementInvoicingDisplayOptions"
        " invoiceScreenDefaultTabFormat invoicingDisplayOptions _info customFields",
        "schedule_entries": "id objectId name member where dateStart dateEnd reminder status type span doneFlag"
        " acknowledgedFlag ownerFlag meetingFlag allowScheduleConflictsFlag addMemberToProjectFlag projectRoleId"
        " mobileGuid acknowledgedDate closeDate notifyResource notificationSent notificationResponse hours"
        " startTimeSet endTimeSet _info",
        "time_entries": "id company companyType chargeToId chargeToType member locationId businessUnitId workType"
        " workRole agreement activity timeStart timeEnd hoursDeduct actualHours billableOption notes"
        " internalNotes addToDetailDescriptionFlag addToInternalAnalysisFlag addToResolutionFlag"
        " emailResourceFlag emailContactFlag emailCcFlag emailCc hoursBilled invoiceHours hourlyCost hourlyRate"
        " overageRate agreementHours agreementAmount extendedInvoiceAmount enteredBy dateEntered invoice"
        " mobileGuid status ticket project phase timeSheet taxCode _info customFields",
    }.items()
}

# ---------------------------------------------------------------------------------------------------------------
# Small machinery: randomness, permutations, parent/child spreads, time strings
# ---------------------------------------------------------------------------------------------------------------

_WORDS = 32  # 64-bit words per digest; most records need fewer draws
_unpack_words = struct.Struct(f"<{_WORDS}Q").unpack
_DAY = 86_400
_WORKDAY_START = 14 * 3600
_YEAR = 365 * _DAY
_DAYS_BACK = 12 * 366
_DAYS_AHEAD = 8 * 366
_HOURS: tuple[str, ...] = tuple(f"{h:02d}:" for h in range(24))
_MINSEC: tuple[str, ...] = tuple(f"{m:02d}:{s:02d}Z" for m in range(60) for s in range(60))
_B36 = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O, as on service tags
_B36_PAIRS: tuple[str, ...] = tuple(a + b for a in _B36 for b in _B36)


class _Draw:
    """A stream of deterministic random words for one record: SHAKE-256 of its key, read 64 bits at a time.

    Each draw is one word modulo ``n`` (bias below 2**-32 for the small ``n`` used here). A record that needs
    more than ``_WORDS`` draws reads on into a longer digest of the same key.
    """

    __slots__ = ("_i", "_key", "_words")

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._i = 0
        self._words: tuple[int, ...] = _unpack_words(shake_256(key).digest(_WORDS * 8))

    def _next(self) -> int:
        i = self._i
        if i >= len(self._words):
            more = shake_256(self._key).digest(i * 8 + _WORDS * 8)[i * 8 :]
            self._words = self._words + _unpack_words(more)
        self._i = i + 1
        return self._words[i]

    # below, pick and chance inline the fast path of _next: they run ~30 times per record.
    def below(self, n: int) -> int:
        """An integer in ``[0, n)``."""
        i = self._i
        if i < _WORDS:
            self._i = i + 1
            return self._words[i] % n
        return self._next() % n

    def pick(self, seq: Sequence[Any]) -> Any:
        i = self._i
        if i < _WORDS:
            self._i = i + 1
            return seq[self._words[i] % len(seq)]
        return seq[self._next() % len(seq)]

    def chance(self, percent: int) -> bool:
        """True with ``percent`` % probability."""
        i = self._i
        if i < _WORDS:
            self._i = i + 1
            return self._words[i] % 100 < percent
        return self._next() % 100 < percent

    def guid(self) -> str:
        h = f"{self._next():016x}{self._next():016x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


class _Affine:
    """A seed-chosen permutation of ``range(m)``: ``x -> (a*x + b) % m``."""

    __slots__ = ("_a", "_b", "_m")

    def __init__(self, m: int, rng: random.Random) -> None:
        a = rng.randrange(m // 3 + 1, m) | 1 if m > 2 else 1
        while gcd(a, m) != 1:
            a += 1
        self._a, self._b, self._m = a, rng.randrange(m), m

    def __call__(self, x: int) -> int:
        return (self._a * x + self._b) % self._m


class _Fanout:
    """Spreads ``children`` consecutive ids over ``parents`` (ids from 1), with no stored table.

    Every parent gets ``minimum`` children (less if there are too few); the rest are shared in proportion to a
    periodic weight pattern, so the cumulative count ``end(p)`` is a closed formula and ``locate`` inverts it.
    The last parent located is remembered (one tuple, replaced atomically), as callers stream ids in order.
    """

    __slots__ = (
        "_extra",
        "_in_block",
        "_last",
        "_min",
        "_per_block",
        "_period",
        "_prefix",
        "_sum",
        "_total",
        "children",
        "parents",
    )

    def __init__(self, parents: int, children: int, weights: Sequence[int], minimum: int = 0) -> None:
        self.parents, self.children = parents, children
        self._sum: int = 0
        self._min = min(minimum, children // parents) if parents else 0
        self._extra = children - self._min * parents
        self._use(weights)
        if self._sum == 0:
            self._use((1,))
        self._sum = self._sum or 1  # no parents at all: every end() is 0
        self._last = (0, range(0))
        # end() without the floor, within one period of parents, for _parent's first guess
        share = self._extra / self._sum
        self._in_block = tuple(self._min * r + share * self._prefix[r] for r in range(1, self._period + 1))
        self._per_block = self._in_block[-1] or 1.0

    def _use(self, weights: Sequence[int]) -> None:
        self._period = len(weights)
        self._prefix = (0, *accumulate(weights))
        self._total = self._prefix[-1]
        self._sum = self._cumulative(self.parents)

    def _cumulative(self, p: int) -> int:
        blocks, rest = divmod(p, self._period)
        return blocks * self._total + self._prefix[rest]

    def end(self, p: int) -> int:
        """How many children parents ``1..p`` have together."""
        return self._min * p + self._extra * self._cumulative(p) // self._sum

    def span(self, p: int) -> range:
        """The ids of parent ``p``'s children."""
        last = self._last
        if last[0] == p:
            return last[1]
        found = range(self.end(p - 1) + 1, self.end(p) + 1)
        self._last = (p, found)
        return found

    def locate(self, c: int) -> tuple[int, range]:
        """(parent of child ``c``, the ids of that parent's children)."""
        last = self._last
        if c in last[1]:
            return last
        p = self._parent(c)
        self._last = found = (p, range(self.end(p - 1) + 1, self.end(p) + 1))
        return found

    def _parent(self, c: int) -> int:
        """The smallest ``p`` with ``end(p) >= c``: invert the formula without its rounding, then step."""
        blocks, rest = divmod(c - 1, self._per_block)
        p = int(blocks) * self._period + bisect_right(self._in_block, rest) + 1
        p = min(max(p, 1), self.parents)
        while self.end(p) < c:
            p += 1
        while p > 1 and self.end(p - 1) >= c:
            p -= 1
        return p


class _Clock:
    """Seconds since a day ``_DAYS_BACK`` before ``anchor``, formatted by table lookup."""

    def __init__(self, anchor: datetime) -> None:
        at = (anchor if anchor.tzinfo else anchor.replace(tzinfo=UTC)).astimezone(UTC)
        start = at.date() - timedelta(days=_DAYS_BACK)
        self.now = _DAYS_BACK * _DAY + at.hour * 3600 + at.minute * 60 + at.second
        self._days = tuple((start + timedelta(days=i)).isoformat() + "T" for i in range(_DAYS_BACK + _DAYS_AHEAD))

    def ts(self, t: int) -> str:
        day, rest = divmod(t, _DAY)
        hour, rest = divmod(rest, 3600)
        return self._days[day] + _HOURS[hour] + _MINSEC[rest]

    def date(self, t: int) -> str:
        return self._days[t // _DAY] + "00:00:00Z"


_City = tuple[str, int, str, str, str, str]
_Address = tuple[_City, str, str, str]


class _Company(NamedTuple):
    name: str
    identifier: str
    code: str
    domain: str
    role: str
    size: int
    market: int


class _Ticket(NamedTuple):
    draw: _Draw
    opened: int
    closed_at: int  # 0 while open
    board: int  # board index in _BOARDS
    company: int
    contact: int  # 0 if none
    site: int  # 0 if none
    summary: str


class _Opportunity(NamedTuple):
    draw: _Draw
    entered: int
    name: str
    status: int
    company: int
    stage: int
    probability: int  # sales_probabilities id


class _CatalogItem(NamedTuple):
    draw: _Draw
    item_id: int
    row: tuple[str, str, int, int, int, str, str, float, float]
    identifier: str
    description: str
    price: float
    cost: float


# ---------------------------------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------------------------------


class Dataset:
    """A deterministic MSP's ConnectWise data, generated per record on demand.

    ``records`` is an approximate total split over the main entities (see ``_SHARES``); ``counts`` overrides any
    entity's count. Minimums keep references valid: at least 3 companies and 2 members, a site and a contact per
    company, and lookup tables no smaller than their fixed rows. Same arguments, same data.
    """

    CHILD_PARENTS: ClassVar[dict[str, str]] = {
        "sites": "companies",
        "ticket_notes": "tickets",
        "forecast_items": "opportunities",
        "board_statuses": "boards",
        "product_subcategories": "product_categories",
    }

    def __init__(
        self,
        *,
        seed: int = 1,
        records: int = 2000,
        counts: Mapping[str, int] | None = None,
        href_base: str = "https://sandbox.local/v4_6_release/apis/3.0",
        anchor: datetime = datetime(2026, 11, 1, tzinfo=UTC),
    ) -> None:
        self.seed = seed
        self._base = href_base.rstrip("/")
        self._clock = _Clock(anchor)
        self._counts = _resolve_counts(records, counts or {})
        rng = random.Random(f"cwsync-dataset:{seed}")
        self._keys = {e: f"{seed}:{e}:".encode() for e in ENTITIES}
        self._href = {e: f"{self._base}{p}/" for e, p in _PATHS.items() if "{}" not in p}
        self._lookup_refs = {
            e: tuple((str(row[0]), f"{self._href[e]}{i}") for i, row in enumerate(rows, 1))
            for e, (_, rows) in _LOOKUPS.items()
        }
        self._setup_companies(rng)
        self._setup_people(rng)
        self._setup_children()
        self._catalog_perm = _Affine(len(_CATALOG), rng)
        self._serial_perm = _Affine(len(_B36) ** 7, rng)
        self._mac_perm = _Affine(1 << 24, rng)
        # Streams touch the same few companies and members over and over; their identities are pure.
        self._co = lru_cache(maxsize=256)(self._company)
        self._ident = lru_cache(maxsize=256)(self._member_ident)
        self._builders = {e: getattr(self, "_" + e) for e in ENTITIES if e not in _LOOKUPS}

    # --- public API ---------------------------------------------------------------------------------------

    def count(self, entity: str) -> int:
        """How many records ``entity`` has; their ids are ``1..count``. Raises KeyError for an unknown entity."""
        return self._counts[entity]

    def describe(self) -> dict[str, int]:
        """Entity -> count, in ``ENTITIES`` order."""
        return dict(self._counts)

    def field_names(self, entity: str) -> frozenset[str]:
        """Every top-level field a record of ``entity`` may carry (api-notes §5), for validating conditions."""
        return _FIELDS[entity]

    def record(self, entity: str, record_id: int) -> Record:
        """A fresh dict for one record. Raises KeyError for an unknown entity, IndexError for an id out of range."""
        count = self._counts[entity]
        if not 1 <= record_id <= count:
            raise IndexError(f"{entity} id {record_id} is outside 1..{count}")
        builder = self._builders.get(entity)
        return builder(record_id) if builder else self._lookup(entity, record_id)

    def child_ids(self, entity: str, parent_id: int) -> list[int]:
        """Ids of ``entity`` records whose parent is ``parent_id``, computed arithmetically."""
        parent = self.CHILD_PARENTS[entity]
        if not 1 <= parent_id <= self._counts[parent]:
            raise IndexError(f"{parent} id {parent_id} is outside 1..{self._counts[parent]}")
        return list(self._fanouts[entity].span(parent_id))

    def parent_id(self, entity: str, record_id: int) -> int:
        """The parent id of a child record (a site's company, a note's ticket, ...)."""
        self.CHILD_PARENTS[entity]  # KeyError for an entity that is not a child
        fanout = self._fanouts[entity]
        if not 1 <= record_id <= fanout.children:
            raise IndexError(f"{entity} id {record_id} is outside 1..{fanout.children}")
        return fanout.locate(record_id)[0]

    # --- setup --------------------------------------------------------------------------------------------

    def _setup_companies(self, rng: random.Random) -> None:
        rest = list(_PROFILE_BASE[1:])
        rng.shuffle(rest)
        for slot in (0, 1):  # companies 2 and 3 are customers, so even 3 companies have somewhere to sell to
            if rest[slot][1] == 0:
                swap = next(i for i, p in enumerate(rest) if p[1] > 0 and i > 1)
                rest[slot], rest[swap] = rest[swap], rest[slot]
        self._profiles: tuple[tuple[str, int], ...] = (_PROFILE_BASE[0], *rest)
        period = len(self._profiles)
        self._role_ordinal = tuple(
            sum(1 for q in self._profiles[:i] if q[0] == p[0]) for i, p in enumerate(self._profiles)
        )
        self._role_count = {r: sum(1 for p in self._profiles if p[0] == r) for r, _ in self._profiles}
        self._customer_slots = tuple(i for i, (_, s) in enumerate(self._profiles) for _ in range(s))
        self._prospect_slots = tuple(i for i, (r, _) in enumerate(self._profiles) if "prospect" in r)
        self._vendor_slots = tuple(i for i, (r, _) in enumerate(self._profiles) if r == "vendor")
        self._name_perm = _Affine(len(_PLACES) * len(_INDUSTRIES) * len(_SUFFIXES), rng)
        self._msp = _MSPS[rng.randrange(len(_MSPS))]
        self._period = period

    def _setup_people(self, rng: random.Random) -> None:
        self._contact_perm = _Affine(len(_FIRST_NAMES) * len(_LAST_NAMES), rng)
        self._member_perm = _Affine(26 * len(_LAST_NAMES), rng)

    def _setup_children(self) -> None:
        n = self._counts
        sizes = tuple(s for _, s in self._profiles)
        self._fanouts = {
            "sites": _Fanout(n["companies"], n["sites"], tuple(s // 8 for s in sizes), 1),
            "contacts": _Fanout(n["companies"], n["contacts"], sizes, 1),
            "configurations": _Fanout(n["companies"], n["configurations"], sizes),
            "ticket_notes": _Fanout(n["tickets"], n["ticket_notes"], (0, 1, 0, 2, 1, 0, 4, 0, 1, 3), 1),
            "forecast_items": _Fanout(n["opportunities"], n["forecast_items"], (0, 1, 2, 0, 1, 3, 0, 1), 1),
            "board_statuses": _Fanout(n["boards"], n["board_statuses"], tuple(len(b[2]) for b in _BOARDS)),
            "product_subcategories": _Fanout(
                n["product_categories"], n["product_subcategories"], tuple(len(s) for s in _SUBCATEGORIES)
            ),
        }

    # --- shared pieces --------------------------------------------------------------------------------------

    def _draw(self, entity: str, record_id: int) -> _Draw:
        return _Draw(self._keys[entity] + str(record_id).encode())

    def _when(self, d: _Draw, record_id: int, entity: str, years: float) -> tuple[int, int]:
        """(dateEntered, lastUpdated): entry time grows with the id over ``years``; updates lean recent."""
        now = self._clock.now
        span = int(years * _YEAR)
        step = max(1, span // self._counts[entity])
        entered = self._office_hours(now - span + (record_id - 1) * step + d.below(step))
        if d.chance(35):
            return entered, max(entered, now - 1 - d.below(30 * _DAY))
        return entered, entered + d.below(now - entered)

    def _office_hours(self, t: int) -> int:
        """``t`` moved into the MSP's working day (08:00-18:00 Mountain, 14:00-24:00 UTC), before the anchor."""
        day_start = t - t % _DAY
        return min(day_start + _WORKDAY_START + (t - day_start) * 10 // 24, self._clock.now - 60)

    def _stamp(self, d: _Draw, entered: int, updated: int) -> Record:
        ts = self._clock.ts
        return {
            "lastUpdated": ts(updated),
            "updatedBy": self._ident(self._any_member(d))[0],
            "dateEntered": ts(entered),
            "enteredBy": self._ident(self._any_member(d))[0],
        }

    def _ref(self, entity: str, ref_id: int, name: str, href_key: str) -> Record:
        return {"id": ref_id, "name": name, "_info": {href_key: self._href[entity] + str(ref_id)}}

    def _lookup_ref(self, entity: str, ref_id: int, href_key: str) -> Record:
        """A reference to a row of a fixed lookup table (only template rows are ever referenced)."""
        name, href = self._lookup_refs[entity][ref_id - 1]
        return {"id": ref_id, "name": name, "_info": {href_key: href}}

    def _const_ref(self, path: str, ref_id: int, name: str, href_key: str) -> Record:
        return {"id": ref_id, "name": name, "_info": {href_key: f"{self._base}{path}/{ref_id}"}}

    @staticmethod
    def _custom(field_id: int, value: Any) -> Record:
        """A CustomFieldValue; ``value`` is left out when empty, as the API does."""
        caption, kind, method, cw_id = _CUSTOM_FIELDS[field_id]
        item: Record = {
            "id": field_id,
            "caption": caption,
            "type": kind,
            "entryMethod": method,
            "numberOfDecimals": 0,
            "connectWiseId": cw_id,
        }
        if value != "":
            item["value"] = value
        return item

    # --- companies ------------------------------------------------------------------------------------------

    def _company(self, cid: int) -> _Company:
        """Identity fields of a company, with no hashing (references embed them)."""
        block, slot = divmod(cid - 1, self._period)
        role, size = self._profiles[slot]
        if cid == 1:
            name, ident, domain = self._msp
            return _Company(name, ident, ident[:4], domain, "owner", size, _TECH_MARKET)
        if role in ("vendor", "partner"):
            pool = _VENDORS if role == "vendor" else _PARTNERS
            n = block * self._role_count[role] + self._role_ordinal[slot]
            name, base, domain = pool[n % len(pool)]
            if n >= len(pool):
                name, domain = f"{name} ({n // len(pool) + 1})", f"{n // len(pool) + 1}{domain}"
            return _Company(name, f"{base}{cid}", base[:4].upper(), domain, role, size, _TECH_MARKET)
        return self._customer_company(cid, role, size)

    def _customer_company(self, cid: int, role: str, size: int) -> _Company:
        combos = len(_PLACES) * len(_INDUSTRIES) * len(_SUFFIXES)
        lap, rest = divmod(cid - 2, combos)
        rest, suffix = divmod(self._name_perm(rest), len(_SUFFIXES))
        place_i, industry_i = divmod(rest, len(_INDUSTRIES))
        place, (phrase, word, _) = _PLACES[place_i], _INDUSTRIES[industry_i]
        compact = place.replace(" ", "")
        name = f"{place} {phrase}{_SUFFIXES[suffix][0]}"[:50]
        ident = f"{compact}{word}"[: 30 - len(str(cid))] + str(cid)
        initials = "".join(w[0] for w in f"{place} {phrase}".split() if w[0].isalpha())
        code = initials if len(initials) >= 3 else (compact[:3] + word[0]).upper()
        domain = f"{compact.lower()}{word.lower()}{lap or ''}.{_SUFFIXES[suffix][1]}"
        return _Company(name, ident, code, domain, role, size, _MARKET_IDS[industry_i])

    def _company_ref(self, cid: int) -> Record:
        co = self._co(cid)
        return {
            "id": cid,
            "identifier": co.identifier,
            "name": co.name,
            "_info": {"company_href": self._href["companies"] + str(cid)},
        }

    def _pick_company(self, d: _Draw, slots: tuple[int, ...], fallback: int = 2) -> int:
        """A company whose pattern slot is in ``slots`` (repeats weight it), never company 1."""
        if not slots:
            return fallback
        blocks = -(-self._counts["companies"] // self._period)
        for _ in range(6):
            cid = d.below(blocks) * self._period + slots[d.below(len(slots))] + 1
            if 1 < cid <= self._counts["companies"]:
                return cid
        return fallback

    def _address(self, d: _Draw, city_i: int | None = None) -> _Address:
        """(city row, addressLine1, addressLine2 or "", zip)."""
        city = _CITIES[d.below(len(_CITIES)) if city_i is None else city_i]
        line1 = f"{100 + d.below(9800)} {d.pick(_STREETS)}"
        line2 = f"Suite {100 * (1 + d.below(6)) + d.below(20)}" if d.chance(30) else ""
        return city, line1, line2, f"{city[4]}{d.below(100):02d}"

    def _company_address(self, cid: int) -> _Address:
        """The company's address: the first draws of its stream, replayed (its Main site shares it)."""
        return self._address(self._draw("companies", cid), 0 if cid == 1 else None)

    def _country_ref(self) -> Record:
        href = f"{self._base}/company/countries/1"
        return {"id": 1, "identifier": "US", "name": "United States", "_info": {"country_href": href}}

    def _phone(self, d: _Draw, area: str) -> str:
        return f"{area}{200 + d.below(790)}{d.below(10000):04d}"

    def _companies(self, cid: int) -> Record:
        co = self._co(cid)
        d = self._draw("companies", cid)
        city, line1, line2, zip_code = self._address(d, 0 if cid == 1 else None)  # see _company_address
        entered, updated = self._when(d, cid, "companies", 10)
        sites, contacts = self._fanouts["sites"].span(cid), self._fanouts["contacts"].span(cid)
        territory = 1 + d.below(2)
        rec: Record = {
            "id": cid,
            "identifier": co.identifier,
            "name": co.name,
            "status": self._lookup_ref("company_statuses", self._company_status(d, co.role), "status_href"),
            "types": [self._lookup_ref("company_types", t, "type_href") for t in self._company_types(d, co.role)],
            "addressLine1": line1,
            "city": city[0],
            "state": city[2],
            "zip": zip_code,
            "country": self._country_ref(),
            "phoneNumber": self._phone(d, city[5]),
            "website": f"www.{co.domain}",
            "territory": self._const_ref("/system/locations", territory, _LOCATIONS[territory - 1], "location_href"),
            "market": self._const_ref("/company/marketDescriptions", co.market, _MARKETS[co.market - 1], "market_href"),
            "defaultContact": self._contact_ref(contacts[0]),  # every company has a contact and a site
            "site": self._site_ref(cid, sites[0]),
            "leadFlag": co.role == "prospect",
            "unsubscribeFlag": False,
            "dateAcquired": self._clock.date(entered),
            "mobileGuid": d.guid(),
            "isVendorFlag": co.role == "vendor",
            "deletedFlag": False,
        }
        if line2:
            rec["addressLine2"] = line2
        if d.chance(25):
            rec["faxNumber"] = self._phone(d, city[5])
        if co.size:
            rec["numberOfEmployees"] = co.size * 3 + d.below(co.size * 2 + 3)
        if co.role.startswith("customer"):
            rec["accountNumber"] = f"{10000 + cid}"
        updated = self._maybe_delete(d, rec, co.role, entered, updated)
        rec["customFields"] = self._company_custom(d, co.role, entered)
        rec["_info"] = self._company_info(d, cid, entered, updated)
        return rec

    def _company_status(self, d: _Draw, role: str) -> int:
        pct = d.below(100)
        if role == "former":
            return 2
        if role == "prospect":
            return 3 if pct < 25 else 1
        if role.startswith("customer"):
            return 4 if pct < 3 else 5 if pct < 5 else 1
        return 1

    def _company_types(self, d: _Draw, role: str) -> tuple[int, ...]:
        if role == "partner" and d.chance(40):
            return (5, 4)
        if role == "customer" and d.chance(4):
            return (2, 5)
        return _ROLE_TYPES[role]

    def _maybe_delete(self, d: _Draw, rec: Record, role: str, entered: int, updated: int) -> int:
        odds = {"former": 35, "prospect": 15}.get(role, 0)
        if not d.chance(odds):
            return updated
        deleted = entered + d.below(self._clock.now - entered)
        rec["deletedFlag"] = True
        rec["dateDeleted"] = self._clock.ts(deleted)
        rec["deletedBy"] = self._ident(self._any_member(d))[0]
        return max(updated, deleted)

    def _company_custom(self, d: _Draw, role: str, entered: int) -> list[Record]:
        customer = role.startswith("customer")
        tier = d.pick(("Gold", "Silver", "Silver", "Bronze", "Bronze", "")) if customer else ""
        onboarded = self._clock.date(entered + d.below(60) * _DAY) if customer and d.chance(85) else ""
        docs = f"https://docs.example-msp.com/org/{d.below(900000) + 100000}" if customer and d.chance(60) else ""
        return [
            self._custom(1, tier),
            self._custom(2, onboarded),
            self._custom(3, docs),
        ]

    def _company_info(self, d: _Draw, cid: int, entered: int, updated: int) -> Record:
        info = self._stamp(d, entered, updated)
        base, cond = self._base, f"?conditions=company/id={cid}"
        own = f"{base}/company/companies/{cid}"
        info.update(
            contacts_href=f"{base}/company/contacts{cond}",
            agreements_href=f"{base}/finance/agreements{cond}",
            tickets_href=f"{base}/service/tickets{cond}",
            opportunities_href=f"{base}/sales/opportunities{cond}",
            activities_href=f"{base}/sales/activities{cond}",
            projects_href=f"{base}/project/projects{cond}",
            configurations_href=f"{base}/company/configurations{cond}",
            orders_href=f"{base}/sales/orders{cond}",
            documents_href=f"{base}/system/documents?recordType=Company&recordId={cid}",
            sites_href=f"{own}/sites",
            teams_href=f"{own}/teams",
            reports_href=f"{own}/managementSummaryReports",
            notes_href=f"{own}/notes",
        )
        return info

    # --- sites ----------------------------------------------------------------------------------------------

    def _site_name(self, cid: int, ordinal: int) -> str:
        if ordinal == 0:
            return "Main"
        name = _SITE_NAMES[(cid * 5 + ordinal) % len(_SITE_NAMES)]
        return name if ordinal <= len(_SITE_NAMES) else f"{name} {ordinal}"

    def _site_ref(self, cid: int, sid: int) -> Record:
        ordinal = sid - self._fanouts["sites"].span(cid).start
        href = f"{self._base}/company/companies/{cid}/sites/{sid}"
        return {"id": sid, "name": self._site_name(cid, ordinal), "_info": {"site_href": href}}

    def _sites(self, sid: int) -> Record:
        cid, ids = self._fanouts["sites"].locate(sid)
        ordinal = sid - ids.start
        d = self._draw("sites", sid)
        city, line1, line2, zip_code = self._company_address(cid) if ordinal == 0 else self._address(d)
        entered, updated = self._when(d, sid, "sites", 10)
        rec: Record = {
            "id": sid,
            "name": self._site_name(cid, ordinal),
            "addressLine1": line1,
            "city": city[0],
            "stateReference": {
                "id": city[1],
                "identifier": city[2],
                "name": city[3],
                "_info": {"state_href": f"{self._base}/company/states/{city[1]}"},
            },
            "zip": zip_code,
            "country": self._country_ref(),
            "phoneNumber": self._phone(d, city[5]),
            "primaryAddressFlag": ordinal == 0,
            "defaultShippingFlag": ordinal == 0,
            "defaultBillingFlag": ordinal == 0,
            "defaultMailingFlag": ordinal == 0,
            "inactiveFlag": ordinal > 0 and d.chance(5),
            "billSeparateFlag": False,
            "mobileGuid": d.guid(),
            "company": self._company_ref(cid),
            "customFields": [],
        }
        if line2:
            rec["addressLine2"] = line2
        rec["_info"] = self._stamp(d, entered, updated)
        return rec

    # --- contacts -------------------------------------------------------------------------------------------

    def _contact_name(self, ct: int) -> tuple[str, str]:
        first, last = divmod(self._contact_perm((ct - 1) % (len(_FIRST_NAMES) * len(_LAST_NAMES))), len(_LAST_NAMES))
        return _FIRST_NAMES[first], _LAST_NAMES[last]

    def _contact_ref(self, ct: int) -> Record:
        first, last = self._contact_name(ct)
        return {"id": ct, "name": f"{first} {last}", "_info": {"contact_href": self._href["contacts"] + str(ct)}}

    def _company_contact(self, d: _Draw, cid: int, default_bias: int = 40) -> int:
        """A contact of company ``cid`` (0 if it has none), often its default contact."""
        ids = self._fanouts["contacts"].span(cid)
        if not ids:
            return 0
        return ids[0] if d.chance(default_bias) else ids[d.below(len(ids))]

    def _company_site(self, d: _Draw, cid: int) -> int:
        ids = self._fanouts["sites"].span(cid)
        if not ids:
            return 0
        return ids[0] if d.chance(80) else ids[d.below(len(ids))]

    def _contacts(self, ct: int) -> Record:
        cid, ids = self._fanouts["contacts"].locate(ct)
        is_default = ct == ids.start
        first, last = self._contact_name(ct)
        co = self._co(cid)
        d = self._draw("contacts", ct)
        entered, updated = self._when(d, ct, "contacts", 8)
        area = self._company_address(cid)[0][5]
        items = self._communication_items(d, ct, first, last, co.domain, area)
        phone = next((i for i in items if i["communicationType"] == "Phone"), None)
        kind = 1 if is_default else 2 + d.below(3)
        rec: Record = {
            "id": ct,
            "firstName": first,
            "lastName": last,
            "company": self._company_ref(cid),
            "title": d.pick(
                _VENDOR_TITLES if co.role in ("vendor", "partner") else _LEAD_TITLES if is_default else _STAFF_TITLES
            ),
            "inactiveFlag": not is_default and d.chance(6),
            "defaultFlag": is_default,
            "defaultBillingFlag": is_default and d.chance(60),
            "disablePortalLoginFlag": d.chance(70),
            "unsubscribeFlag": d.chance(4),
            "mobileGuid": d.guid(),
            "communicationItems": items,
            "types": [self._const_ref("/company/contacts/types", kind, _CONTACT_TYPES[kind - 1], "type_href")],
            "customFields": [],
        }
        sid = self._company_site(d, cid)
        if sid:
            rec["site"] = self._site_ref(cid, sid)
        if phone:
            rec["defaultPhoneType"] = phone["type"]["name"]
            rec["defaultPhoneNbr"] = phone["value"]
        info = self._stamp(d, entered, updated)
        info["communications_href"] = f"{self._base}/company/contacts/{ct}/communications"
        info["notes_href"] = f"{self._base}/company/contacts/{ct}/notes"
        rec["_info"] = info
        return rec

    def _communication_items(self, d: _Draw, ct: int, first: str, last: str, domain: str, area: str) -> list[Record]:
        items: list[Record] = []
        roll = d.below(100)
        if roll >= 5:  # a few contacts have no e-mail at all
            items.append(self._comm(ct * 4, 1, "Email", f"{first}.{last}@{domain}".lower(), True, "Email"))
            items[-1]["domain"] = "@" + domain
        if roll >= 95:
            items.append(self._comm(ct * 4 + 1, 1, "Email", f"{first[0]}{last}@{domain}".lower(), False, "Email"))
            items[-1]["domain"] = "@" + domain
        direct = self._comm(ct * 4 + 2, 2, "Direct", self._phone(d, area), True, "Phone")
        if d.chance(30):
            direct["extension"] = str(100 + d.below(400))
        items.append(direct)
        if d.chance(55):
            items.append(self._comm(ct * 4 + 3, 4, "Cell", self._phone(d, area), False, "Phone"))
        return items

    @staticmethod
    def _comm(item_id: int, type_id: int, type_name: str, value: str, default: bool, kind: str) -> Record:
        return {
            "id": item_id,
            "type": {"id": type_id, "name": type_name},
            "value": value,
            "defaultFlag": default,
            "communicationType": kind,
        }

    # --- members --------------------------------------------------------------------------------------------

    def _member_ident(self, mid: int) -> tuple[str, str, str]:
        """(identifier, firstName, lastName); identifiers are unique (initial + last name, per 26*N block)."""
        if mid == 1:
            return "cwsync-api", "cwsync", ""
        lap, rest = divmod(mid - 2, 26 * len(_LAST_NAMES))
        initial, last_i = divmod(self._member_perm(rest), len(_LAST_NAMES))
        group = _FIRST_BY_INITIAL[initial]
        first, last = group[(last_i + lap) % len(group)], _LAST_NAMES[last_i]
        return f"{first[0]}{last}".lower() + (str(lap + 1) if lap else ""), first, last

    def _member_ref(self, mid: int) -> Record:
        ident, first, last = self._ident(mid)
        return {
            "id": mid,
            "identifier": ident,
            "name": f"{first} {last}".strip(),
            "_info": {"member_href": self._href["members"] + str(mid)},
        }

    def _any_member(self, d: _Draw) -> int:
        """A human member (never the API member)."""
        return 2 + d.below(self._counts["members"] - 1)

    def _member_in(self, d: _Draw, slots: tuple[int, ...]) -> int:
        """A member whose role slot is in ``slots`` (falls back to member 2, the owner)."""
        n = self._counts["members"]
        for _ in range(4):
            mid = 3 + d.below(-(-(n - 2) // len(_MEMBER_ROLES)) or 1) * len(_MEMBER_ROLES) + slots[d.below(len(slots))]
            if mid <= n:
                return mid
        return 2

    def _members(self, mid: int) -> Record:
        ident, first, last = self._ident(mid)
        d = self._draw("members", mid)
        entered, updated = self._when(d, mid, "members", 9)
        api = mid == 1
        title, dept, security, _ = (
            ("API Integration", 4, 6, 0)
            if api
            else ("CEO", 4, 1, 0)
            if mid == 2
            else _MEMBER_ROLES[(mid - 3) % len(_MEMBER_ROLES)]
        )
        msp_domain = self._msp[2]
        rec: Record = {"id": mid, "identifier": ident, "firstName": first}
        if last:  # API members come back without lastName (api-notes §5.8)
            rec["lastName"] = last
        rec.update(
            title=title,
            licenseClass="A" if api else "X" if d.chance(6) else "F",
            hireDate=self._clock.date(entered),
            primaryEmail=f"{ident}@{msp_domain}" if api else f"{first}.{last}@{msp_domain}".lower(),
            defaultEmail="Office",
            defaultPhone="Office",
            securityRole=self._const_ref("/security/roles", security, _SECURITY_ROLES[security - 1], "role_href"),
            inactiveFlag=mid > 2 and not api and d.chance(8),
            timeZone=self._const_ref("/system/timeZoneSetups", 1, "US Mountain", "timeZone_href"),
            defaultLocation=self._const_ref("/system/locations", 1, _LOCATIONS[0], "location_href"),
            defaultDepartment=self._const_ref("/system/departments", dept, _DEPARTMENTS[dept - 1], "department_href"),
            dailyCapacity=0.0 if api else 8.0,
            hourlyRate=0.0 if api else float(45 + d.below(8) * 5),
            # Member invoicing preferences, API members included (enums of pyconnectwise 0.6.1.2 `Member`, whose
            # older spec marks them required; optional in 2025.8 model_member.go). Their defaults are UNCONFIRMED.
            agreementInvoicingDisplayOptions="RemainOnInvoicingScreen",
            invoiceScreenDefaultTabFormat="ShowInvoicingTab",
            invoicingDisplayOptions="RemainOnInvoicingScreen",
            customFields=[],
        )
        if not api:
            rec["officeEmail"] = rec["primaryEmail"]
            rec["serviceDefaultBoard"] = self._ref("boards", 1, _BOARDS[0][0], "board_href")
        if rec["inactiveFlag"]:
            rec["inactiveDate"] = self._clock.ts(max(entered, updated - d.below(90) * _DAY))
        rec["_info"] = self._stamp(d, entered, updated)
        return rec

    # --- configurations -------------------------------------------------------------------------------------

    @staticmethod
    def _config_kind(d: _Draw, ordinal: int) -> tuple[int, str]:
        """(type id, fixed name label); must stay the first draw of a configuration's stream."""
        if ordinal < len(_INFRA):
            return _INFRA[ordinal]
        return d.pick(_ENDPOINT_PICK), ""

    def _serial(self, cfg: int, maker: int, model: str) -> str:
        """A serial in the maker's style; unique because the 7-character code is a permutation of the id."""
        x = self._serial_perm(cfg)
        pairs = len(_B36_PAIRS)
        code = (
            _B36_PAIRS[x % pairs]
            + _B36_PAIRS[x // pairs % pairs]
            + _B36_PAIRS[x // pairs**2 % pairs]
            + _B36[x // pairs**3 % len(_B36)]
        )
        if maker == _MERAKI:
            return f"Q2{code[:2]}-{code[2:6]}-{code[6]}K9P"
        if maker == _FORTINET:
            return f"FGT{model.split()[-1]}TK{code}"
        if maker in _MAC_SERIALS:
            return self._mac(cfg, maker).replace(":", "")
        return _SERIAL_PREFIX.get(maker, "ZZ") + code

    def _mac(self, cfg: int, maker: int) -> str:
        h = f"{self._mac_perm(cfg % (1 << 24)):06X}"
        return f"{_MAC_OUI.get(maker, '00:50:56')}:{h[:2]}:{h[2:4]}:{h[4:]}"

    def _configurations(self, cfg: int) -> Record:
        cid, ids = self._fanouts["configurations"].locate(cfg)
        ordinal = cfg - ids.start
        co = self._co(cid)
        d = self._draw("configurations", cfg)
        type_id, label = self._config_kind(d, ordinal)
        code, models, warranty, endpoint = _KINDS[type_id]
        maker, model = d.pick(models)
        status = d.pick(_STATUS_PICK) if ordinal else 1
        entered, updated = self._when(d, cfg, "configurations", 6)
        if d.chance(50):  # the RMM integration touches live devices often
            updated = max(updated, self._clock.now - 1 - d.below(7 * _DAY))
        rec: Record = {
            "id": cfg,
            "name": self._config_name(co, type_id, code, label, ordinal, cfg),
            "type": self._lookup_ref("configuration_types", type_id, "type_href"),
            "status": self._lookup_ref("configuration_statuses", status, "status_href"),
            "company": self._company_ref(cid),
            "activeFlag": not _LOOKUPS["configuration_statuses"][1][status - 1][1],
            "billFlag": type_id not in (_DOMAIN, _SSL, _CIRCUIT),
            "questions": [],
        }
        if maker:
            rec["manufacturer"] = self._lookup_ref("manufacturers", maker, "manufacturer_href")
        if model:  # hardware
            rec["modelNumber"] = model
            rec["serialNumber"] = self._serial(cfg, maker, model)
            if d.chance(40):
                rec["tagNumber"] = f"{co.code}-{cfg:05d}"
            vendor = self._pick_company(d, self._vendor_slots, 0) if d.chance(30) else 0
            if vendor:
                rec["vendor"] = self._company_ref(vendor)
        self._config_dates(d, rec, type_id, entered, warranty)
        self._config_details(d, rec, co, (cid, cfg, type_id, maker), endpoint)
        rec["customFields"] = self._config_custom(d, type_id)
        rec["_info"] = self._stamp(d, entered, updated)
        if d.chance(20):
            rec["_info"]["updatedBy"] = "Automate"
        return rec

    def _config_dates(self, d: _Draw, rec: Record, type_id: int, entered: int, warranty: tuple[int, ...]) -> None:
        """Purchase, install and warranty dates for hardware; the next renewal for domains and certificates."""
        now, date = self._clock.now, self._clock.date
        if type_id in (_DOMAIN, _SSL):
            renewal = entered + -(-(now - entered) // _YEAR) * _YEAR
        elif "modelNumber" in rec:
            purchased = entered - d.below(60) * _DAY
            renewal = purchased + d.pick(warranty) * _YEAR
            rec["purchaseDate"] = date(purchased)
            rec["installationDate"] = date(min(entered, purchased + (3 + d.below(18)) * _DAY))
        else:
            return
        rec["warrantyExpirationDate"] = date(renewal)
        rec["needsRenewalFlag"] = renewal < now + 60 * _DAY

    @staticmethod
    def _config_name(co: _Company, type_id: int, code: str, label: str, ordinal: int, cfg: int) -> str:
        if type_id == _M365:
            return f"{co.name} - Microsoft 365"[:100]
        if type_id == _DOMAIN:
            return co.domain
        if type_id == _SSL:
            return f"*.{co.domain}"
        if type_id == _CIRCUIT:
            return f"{co.code} - {_ISPS[cfg % len(_ISPS)]}"
        if label:
            return f"{co.code}-{label}"
        return f"{co.code}-{code}-{ordinal + 1:04d}"

    def _config_details(
        self, d: _Draw, rec: Record, co: _Company, ids: tuple[int, int, int, int], endpoint: bool
    ) -> None:
        cid, cfg, type_id, maker = ids
        sid = self._company_site(d, cid)
        if sid:
            rec["site"] = self._site_ref(cid, sid)
        ct = self._company_contact(d, cid, 10) if endpoint else 0
        if ct:
            rec["contact"] = self._contact_ref(ct)
            first, last = self._contact_name(ct)
            if type_id == _MOBILE:
                rec["name"] = f"{first} {last}'s {rec['modelNumber'].split()[0]}"
            elif type_id in (_WORKSTATION, _LAPTOP):
                rec["lastLoginName"] = f"{co.code}\\{first[0]}{last}".lower()
        if type_id == _M365:
            rec["deviceIdentifier"] = d.guid()
            rec["managementLink"] = "https://admin.microsoft.com"
        elif type_id not in (_DOMAIN, _SSL, _CIRCUIT):
            self._network(d, rec, cid, cfg, type_id, maker)

    def _network(self, d: _Draw, rec: Record, cid: int, cfg: int, type_id: int, maker: int) -> None:
        subnet = f"10.{cid // 256 % 256}.{cid % 256}."
        dhcp = type_id in (_WORKSTATION, _LAPTOP, _PHONE, _MOBILE)
        rec["ipAddress"] = subnet + str(100 + d.below(150) if dhcp else 2 + d.below(40))
        rec["defaultGateway"] = subnet + "1"
        rec["macAddress"] = self._mac(cfg, maker)
        if type_id in (_SERVER, _WORKSTATION, _LAPTOP, _VM, _LEGACY):
            self._computer(d, rec, type_id, maker)
        elif type_id == _BACKUP:
            rec["backupSuccesses"] = 20 + d.below(10)
            rec["backupFailed"] = d.below(3)
            rec["backupIncomplete"] = d.below(2)
            rec["backupRestores"] = d.below(2)
            rec["backupServerName"] = rec["name"]
            rec["backupBillableSpaceGb"] = float(200 + d.below(4000))
            rec["lastBackupDate"] = self._clock.ts(self._clock.now - 1 - d.below(_DAY))

    def _computer(self, d: _Draw, rec: Record, type_id: int, maker: int) -> None:
        server = type_id in (_SERVER, _VM, _LEGACY)
        os_type, os_info = d.pick(_OS_SERVER if server else _OS_MAC if maker == _APPLE else _OS_DESKTOP)
        if type_id == _LEGACY:
            os_type, os_info = "Microsoft Windows Server 2012 R2 Standard", "6.3.9600"
        size = (480, 960, 1920)[d.below(3)] if server else (256, 512)[d.below(2)]
        rec["osType"] = os_type
        rec["osInfo"] = os_info
        rec["cpuSpeed"] = d.pick(_CPU)
        rec["ram"] = d.pick(_RAM[2:] if server else _RAM)
        rec["localHardDrives"] = f"C: {size} GB ({size * (20 + d.below(70)) // 100} GB free)"
        rec["showRemoteFlag"] = True
        rec["showAutomateFlag"] = True

    def _config_custom(self, d: _Draw, type_id: int) -> list[Record]:
        agent = type_id in (_SERVER, _WORKSTATION, _LAPTOP, _VM, _LEGACY)
        if type_id in (_SERVER, _VM, _LEGACY):
            policy = "Servers - Critical"
        elif agent:
            policy = "Workstations - Standard"
        else:
            policy = "Network - Standard" if type_id in (_FIREWALL, _SWITCH, _AP) else ""
        return [
            self._custom(10, d.chance(96) if agent else ""),
            self._custom(11, policy),
        ]

    def _device_name(self, d: _Draw, cid: int, server: bool) -> str:
        """The name of one of the company's real configurations (a server, or a workstation or laptop)."""
        co = self._co(cid)
        ids = self._fanouts["configurations"].span(cid)
        if server:
            ordinals = [o for o in _SERVER_ORDINALS if o < len(ids)]
            return f"{co.code}-{_INFRA[d.pick(ordinals)][1]}" if ordinals else f"{co.code}-DC01"
        if len(ids) > len(_INFRA):
            ordinal = len(_INFRA) + d.below(len(ids) - len(_INFRA))
            type_id, _ = self._config_kind(self._draw("configurations", ids[ordinal]), ordinal)
            if type_id in (_WORKSTATION, _LAPTOP):
                return self._config_name(co, type_id, _KINDS[type_id][0], "", ordinal, ids[ordinal])
        return f"{co.code}-WS-{1 + d.below(40):04d}"

    # --- agreements -----------------------------------------------------------------------------------------

    def _agreements(self, aid: int) -> Record:
        d = self._draw("agreements", aid)
        cid = self._pick_company(d, self._customer_slots)
        types = _LOOKUPS["agreement_types"][1]
        type_id = 1 + d.below(len(types))
        entered, updated = self._when(d, aid, "agreements", 7)
        start = entered - entered % _DAY
        users = len(self._fanouts["contacts"].span(cid))
        rec: Record = {
            "id": aid,
            "name": types[type_id - 1][0] if d.chance(70) else f"{types[type_id - 1][0]} ({self._co(cid).code})",
            "type": self._lookup_ref("agreement_types", type_id, "type_href"),
            "company": self._company_ref(cid),
            "startDate": self._clock.date(start),
            "applicationUnits": types[type_id - 1][4],
            "applicationUnlimitedFlag": types[type_id - 1][5],
            "billingCycle": self._const_ref("/finance/billingCycles", 1, "Monthly", "billingCycle_href"),
            "billAmount": round(max(1, users) * (35.0 + d.below(14) * 10.0), 2),
            "taxable": False,
            "billTime": d.pick(("Billable", "DoNotBill", "NoCharge")),
            "billExpenses": "Billable",
            "billProducts": "Billable",
            "customFields": [],
        }
        ct = self._company_contact(d, cid, 80)
        if ct:
            rec["contact"] = self._contact_ref(ct)
        sid = self._company_site(d, cid)
        if sid:
            rec["site"] = self._site_ref(cid, sid)
        updated = self._agreement_term(d, rec, start, updated)
        rec["_info"] = self._stamp(d, entered, updated)
        return rec

    def _agreement_term(self, d: _Draw, rec: Record, start: int, updated: int) -> int:
        """Sets status, end and cancel fields; returns lastUpdated (not before a cancellation)."""
        now, roll = self._clock.now, d.below(100)
        rec.update(cancelledFlag=False, noEndingDateFlag=False)
        if roll < 12 and start < now - _DAY:
            cancelled = start + d.below(now - start)
            rec.update(agreementStatus="Cancelled", cancelledFlag=True, dateCancelled=self._clock.ts(cancelled))
            rec["reasonCancelled"] = d.pick(("Switched providers", "Business closed", "Budget", "Merged"))
            rec["endDate"] = self._clock.date(cancelled)
            return max(updated, cancelled)
        end = start + (1 + d.below(3)) * _YEAR
        if roll < 24 and end < now:
            rec["agreementStatus"] = "Expired"
        else:
            rec["agreementStatus"] = "Active"
            while end < now:
                end += _YEAR  # renewed each year
            rec["noEndingDateFlag"] = roll > 70
        if not rec["noEndingDateFlag"]:
            rec["endDate"] = self._clock.date(end)
        return updated

    # --- opportunities and forecasts ------------------------------------------------------------------------

    def _opportunity(self, oid: int) -> _Opportunity:
        """The parts of an opportunity that its forecast items also need."""
        d = self._draw("opportunities", oid)
        entered, _ = self._when(d, oid, "opportunities", 3)
        prospect = d.chance(30)
        cid = self._pick_company(d, self._prospect_slots if prospect else self._customer_slots)
        roll = d.below(100)
        if self._clock.now - entered > 120 * _DAY:
            status = 2 if roll < 45 else 3 if roll < 85 else 4
        else:
            status = 1 if roll < 80 else 5 if roll < 90 else 2
        closed = _LOOKUPS["opportunity_statuses"][1][status - 1][3]
        stage = 6 if closed else 1 + d.below(5)
        probability = (7 if status == 2 else 1) if closed else _LOOKUPS["opportunity_stages"][1][stage - 1][1]
        name = f"{d.pick(_OPPORTUNITY_NAMES)} - {self._co(cid).name}"[:100]
        return _Opportunity(d, entered, name, status, cid, stage, probability)

    def _probability_ref(self, pid: int) -> Record:
        name = str(_LOOKUPS["sales_probabilities"][1][(pid - 1) % 7][0])
        return self._ref("sales_probabilities", pid, name, "probability_href")

    def _opportunities(self, oid: int) -> Record:
        opp = self._opportunity(oid)
        d, cid, status = opp.draw, opp.company, opp.status
        closed = _LOOKUPS["opportunity_statuses"][1][status - 1][3]
        expected = opp.entered + (30 + d.below(90)) * _DAY
        rep = self._member_ref(self._member_in(d, _SALES_SLOTS))
        rec: Record = {
            "id": oid,
            "name": opp.name,
            "expectedCloseDate": self._clock.date(expected),
            "type": self._lookup_ref("opportunity_types", 1 + d.below(6), "type_href"),
            "stage": self._lookup_ref("opportunity_stages", opp.stage, "stage_href"),
            "status": self._lookup_ref("opportunity_statuses", status, "status_href"),
            "probability": self._probability_ref(opp.probability),
            "source": d.pick(_OPPORTUNITY_SOURCES),
            "primarySalesRep": rep,
            "company": self._company_ref(cid),
            "dateBecameLead": self._clock.ts(opp.entered),
            "customFields": [],
        }
        if d.chance(70):
            rec["notes"] = d.pick(_OPPORTUNITY_NOTES)
        ct = self._company_contact(d, cid, 85)
        if ct:
            rec["contact"] = self._contact_ref(ct)
        sid = self._company_site(d, cid)
        if sid:
            rec["site"] = self._site_ref(cid, sid)
        now = self._clock.now
        moved = opp.entered + d.below(max(1, now - opp.entered))
        if closed:
            moved = max(opp.entered, min(now - 1, expected + (d.below(30) - 15) * _DAY))
            rec["closedDate"] = self._clock.ts(moved)
            rec["closedBy"] = rep  # a MemberReference on opportunities (2025.8 model_opportunity.go); tickets: a string
        updated = min(now - 1, moved + d.below(3 * _DAY))
        rec["pipelineChangeDate"] = self._clock.ts(moved)
        rec["_info"] = self._stamp(d, opp.entered, updated)
        return rec

    def _catalog_item(self, item: int) -> _CatalogItem:
        """A catalog item's template row, identifier and prices (forecast items embed them)."""
        lap, slot = divmod(item - 1, len(_CATALOG))
        row = _CATALOG[self._catalog_perm(slot)]
        d = self._draw("catalog_items", item)
        factor = (96 + d.below(9)) / 100 if lap else 1.0
        ident = f"{row[0]}-R{lap + 1}" if lap else row[0]
        desc = f"{row[1]} (rev {lap + 1})" if lap else row[1]
        return _CatalogItem(d, item, row, ident, desc[:60], round(row[7] * factor, 2), round(row[8] * factor, 2))

    def _forecast_items(self, fid: int) -> Record:
        oid, ids = self._fanouts["forecast_items"].locate(fid)
        opp = self._opportunity(oid)
        d = self._draw("forecast_items", fid)
        qty = float(d.pick((1, 1, 1, 2, 3, 5, 10, 12, 25)))
        rec: Record = {"id": fid, "opportunity": self._ref("opportunities", oid, opp.name, "opportunity_href")}
        price, cost, pclass, desc = 150.0, 55.0, "Service", "Professional services"
        if self._counts["catalog_items"]:
            cat = self._catalog_item(1 + d.below(self._counts["catalog_items"]))
            price, cost, pclass, desc = cat.price, cat.cost, cat.row[6], cat.description
            rec["catalogItem"] = {
                "id": cat.item_id,
                "identifier": cat.identifier,
                "serializedFlag": pclass == "Inventory",
                "_info": {"catalog_href": self._href["catalog_items"] + str(cat.item_id)},
            }
        revenue, total_cost = round(price * qty, 2), round(cost * qty, 2)
        rec.update(
            forecastDescription=desc,
            quantity=qty,
            status=self._lookup_ref("opportunity_statuses", opp.status, "status_href"),
            productDescription=desc,
            productClass=pclass,
            revenue=revenue,
            cost=total_cost,
            margin=round(revenue - total_cost, 2),
            percentage=float(_LOOKUPS["sales_probabilities"][1][opp.probability - 1][0]),
            includeFlag=True,
            linkFlag=False,
            forecastType="Service" if pclass in ("Service", "Agreement") else "Product",
            recurringFlag=pclass == "Agreement",
            sequenceNumber=fid - ids.start + 1,
            subNumber=0,
            taxableFlag=pclass == "Inventory",
        )
        if pclass == "Agreement":
            rec.update(recurringRevenue=revenue, recurringCost=total_cost, billCycle={"id": 1, "name": "Monthly"})
            rec["cycles"] = 12
        updated = opp.entered + d.below(max(1, self._clock.now - opp.entered))
        rec["_info"] = self._stamp(d, opp.entered, updated)
        rec["_info"]["opportunity_href"] = self._href["opportunities"] + str(oid)
        return rec

    # --- catalog --------------------------------------------------------------------------------------------

    def _catalog_items(self, item: int) -> Record:
        cat = self._catalog_item(item)
        d, row = cat.draw, cat.row
        category, pclass = row[2] + 1, row[6]
        entered, updated = self._when(d, item, "catalog_items", 8)
        rec: Record = {
            "id": item,
            "identifier": cat.identifier,
            "description": cat.description,
            "inactiveFlag": d.chance(7),
            "subcategory": self._subcategory_ref(category, row[3]),
            "type": self._lookup_ref("product_types", row[4], "type_href"),
            "productClass": pclass,
            "serializedFlag": pclass == "Inventory" and row[5] not in ("Logitech", "Jabra"),
            "unitOfMeasure": self._const_ref("/procurement/unitOfMeasures", 1, "Each", "uom_href"),
            "price": cat.price,
            "cost": cat.cost,
            "priceAttribute": "FixedFee",
            "taxableFlag": pclass == "Inventory",
            "dropShipFlag": pclass == "Inventory" and d.chance(30),
            "specialOrderFlag": False,
            "customerDescription": f"{cat.description}. {_CUSTOMER_BLURBS[pclass]}",
            "category": self._lookup_ref("product_categories", category, "category_href"),
            "recurringFlag": pclass == "Agreement" or "(monthly)" in row[1],
            "billableOption": "Billable",
            "customFields": [],
        }
        if row[5]:
            rec["manufacturer"] = self._lookup_ref("manufacturers", _M[row[5]], "manufacturer_href")
            rec["manufacturerPartNumber"] = row[0].split("-", 1)[1]
        if pclass in ("Inventory", "NonInventory"):
            vendor = self._pick_company(d, self._vendor_slots, 0)
            if vendor:
                rec["vendor"] = self._company_ref(vendor)
            rec["vendorSku"] = str(10_000_000 + d.below(90_000_000))
        if rec["recurringFlag"]:
            # The billing period is the `recurringBillCycle` reference (BillingCycleReference, /finance/billingCycles);
            # `recurringCycleType` is the year basis, ContractYear or CalendarYear (ai-connor/connectwise 2025.8
            # model_catalog_item.go; the enum from pyconnectwise 0.6.1.2 CatalogItem).
            rec.update(
                recurringRevenue=cat.price,
                recurringCost=cat.cost,
                recurringBillCycle=self._const_ref("/finance/billingCycles", 1, "Monthly", "billingCycle_href"),
                recurringCycleType="ContractYear",
            )
        rec["_info"] = self._stamp(d, entered, updated)
        return rec

    def _subcategory_ref(self, category: int, ordinal: int) -> Record:
        sub = self._fanouts["product_subcategories"].span(category).start + ordinal
        return self._ref("product_subcategories", sub, _SUBCATEGORIES[category - 1][ordinal], "subcategory_href")

    # --- lookup tables and their children -------------------------------------------------------------------

    def _lookup(self, entity: str, rid: int) -> Record:
        fields, rows = _LOOKUPS[entity]
        lap, slot = divmod(rid - 1, len(rows))
        rec: Record = {"id": rid, **dict(zip(fields, rows[slot], strict=True))}
        if lap and isinstance(rec[fields[0]], str):
            rec[fields[0]] = f"{rec[fields[0]]} ({lap + 1})"
        if entity == "opportunity_stages":
            rec["probability"] = self._probability_ref(rec["probability"])
        elif entity == "agreement_types":
            rec["billingCycle"] = self._const_ref("/finance/billingCycles", 1, "Monthly", "billingCycle_href")
            # Required (nullable) in AgreementType (ai-connor/connectwise 2025.8 model_agreement_type.go); values
            # from the enums of pyconnectwise 0.6.1.2 `AgreementType`.
            rec.update(
                employeeCompRate="Actual",
                employeeCompNotExceed="Billing",
                invoicingCycle="ContractYear",
                billTime="Billable",
                billExpenses="Billable",
                billProducts="Billable",
            )
        elif entity == "company_statuses" and rec["notifyFlag"]:
            rec["notificationMessage"] = f"Company is {rec['name']} - check with Accounting before doing work."
        elif entity == "company_types" and rec["serviceAlertFlag"]:
            rec["serviceAlertMessage"] = "Former customer: confirm billing before doing work."
        rec["_info"] = self._fixed_stamp(entity, rid)
        if entity == "opportunity_statuses":
            rec["enteredBy"], rec["dateEntered"] = rec["_info"]["enteredBy"], rec["_info"]["dateEntered"]
        return rec

    def _fixed_stamp(self, entity: str, rid: int) -> Record:
        """``_info`` for set-up data: entered when the MSP went live, edited now and then since."""
        d = self._draw(entity, rid)
        entered = self._clock.now - 9 * _YEAR + d.below(30 * _DAY)
        return self._stamp(d, entered, entered + d.below(6 * _YEAR))

    def _product_subcategories(self, sid: int) -> Record:
        category, ids = self._fanouts["product_subcategories"].locate(sid)
        ordinal = sid - ids.start
        names = _SUBCATEGORIES[(category - 1) % len(_SUBCATEGORIES)]
        return {
            "id": sid,
            "name": names[ordinal] if ordinal < len(names) else f"Other {ordinal + 1}",
            "inactiveFlag": False,
            "defaultFlag": ordinal == 0,
            "category": self._lookup_ref("product_categories", category, "category_href"),
            "_info": self._fixed_stamp("product_subcategories", sid),
        }

    @staticmethod
    def _board_name(bid: int) -> str:
        lap, slot = divmod(bid - 1, len(_BOARDS))
        return f"{_BOARDS[slot][0]} ({lap + 1})" if lap else _BOARDS[slot][0]

    def _boards(self, bid: int) -> Record:
        project = _BOARDS[(bid - 1) % len(_BOARDS)][1]
        dept = 2 if project else 1
        return {
            "id": bid,
            "name": self._board_name(bid),
            "location": self._const_ref("/system/locations", 1, _LOCATIONS[0], "location_href"),
            "department": self._const_ref("/system/departments", dept, _DEPARTMENTS[dept - 1], "department_href"),
            "inactiveFlag": False,
            "projectFlag": project,
            "showDependenciesFlag": project,
            "showEstimatesFlag": project,
            "billTicketsAfterClosedFlag": False,
            "billTicketSeparatelyFlag": False,
            "billUnapprovedTimeExpenseFlag": False,
            "billTime": "Billable",
            "billExpense": "Billable",
            "billProduct": "Billable",
            "autoAssignNewTicketsFlag": False,
            "_info": self._fixed_stamp("boards", bid),
        }

    @staticmethod
    def _board_status(board: int, ordinal: int) -> _Status:
        statuses = _BOARDS[(board - 1) % len(_BOARDS)][2]
        if ordinal < len(statuses):
            return statuses[ordinal]
        return f"Custom Status {ordinal + 1}", False, "NoEscalation", True

    def _status_ref(self, board: int, ordinal: int) -> Record:
        sid = self._fanouts["board_statuses"].span(board).start + ordinal
        href = f"{self._base}/service/boards/{board}/statuses/{sid}"
        name = self._board_status(board, ordinal)[0]
        return {"id": sid, "name": name, "sort": ordinal, "_info": {"status_href": href}}

    def _board_statuses(self, sid: int) -> Record:
        board, ids = self._fanouts["board_statuses"].locate(sid)
        ordinal = sid - ids.start
        name, closed, escalation, display = self._board_status(board, ordinal)
        return {
            "id": sid,
            "name": name,
            "board": self._ref("boards", board, self._board_name(board), "board_href"),
            "sortOrder": ordinal,
            "displayOnBoard": display,
            "inactive": False,
            "closedStatus": closed,
            "timeEntryNotAllowed": closed,
            "roundRobinCatchall": False,
            "defaultFlag": ordinal == 0,
            "escalationStatus": escalation,
            "customerPortalDescription": name,
            "customerPortalFlag": not closed,
            "saveTimeAsNote": False,
            "_info": self._fixed_stamp("board_statuses", sid),
        }

    # --- tickets and notes ----------------------------------------------------------------------------------

    def _ticket(self, tid: int) -> _Ticket:
        """The parts of a ticket that its notes and time and schedule entries also need."""
        d = self._draw("tickets", tid)
        entered, _ = self._when(d, tid, "tickets", 3)
        board = d.pick(_BOARD_PICK)
        cid = 1 if board == _ALERTS and d.chance(4) else self._pick_company(d, self._customer_slots)
        ct = self._company_contact(d, cid, 30)
        sid = self._company_site(d, cid)
        age = self._clock.now - entered
        closed_at = 0
        if d.chance(96 if age > 21 * _DAY else 55 if age > 2 * _DAY else 25):
            spent = (15 + d.below(240)) * 60 if d.chance(60) else d.below(min(age, 20 * _DAY))
            closed_at = min(self._clock.now - 1, entered + max(spent, 60))
        template = d.pick(_SUMMARIES[board])
        first = self._contact_name(ct)[0] if ct else "user"
        site = "main office" if not sid or sid == self._fanouts["sites"].span(cid).start else "branch office"
        device = self._device_name(d, cid, "[" in template) if "{d}" in template else ""
        summary = template.format(f=first, c=self._co(cid).name, d=device, s=site)[:100]
        return _Ticket(d, entered, closed_at, board, cid, ct, sid, summary)

    def _tickets(self, tid: int) -> Record:
        t = self._ticket(tid)
        d, now = t.draw, self._clock.now
        board = t.board + 1
        ordinal = d.pick(_BOARD_CLOSED[t.board] if t.closed_at else _BOARD_OPEN[t.board])
        priority = _PRIORITIES[d.pick((0, 1, 1, 2, 2, 4) if t.board == _ALERTS else (0, 1, 1, 2, 2, 2, 2, 2, 3, 3))]
        source = 4 if t.board == _ALERTS else 1 + d.below(3)
        rec: Record = {
            "id": tid,
            "summary": t.summary,
            "recordType": "ServiceTicket",
            "board": self._ref("boards", board, self._board_name(board), "board_href"),
            "status": self._status_ref(board, ordinal),
            "company": self._company_ref(t.company),
            "priority": {
                "id": priority[0],
                "name": priority[1],
                "sort": priority[2],
                "level": priority[3],
                "_info": {"priority_href": f"{self._base}/service/priorities/{priority[0]}"},
            },
            "source": self._const_ref("/service/sources", source, _SOURCES[source - 1], "source_href"),
            "severity": d.pick(("Low", "Medium", "Medium", "High")),
            "impact": d.pick(("Low", "Medium", "Medium", "High")),
            "closedFlag": bool(t.closed_at),
            "customerUpdatedFlag": not t.closed_at and d.chance(10),
            "mobileGuid": d.guid(),
            "customFields": [],
        }
        self._ticket_people(d, rec, t)
        updated = max(t.closed_at, t.opened + d.below(max(1, (t.closed_at or now) - t.opened)))
        if t.closed_at:
            closer = rec["owner"] if "owner" in rec else self._member_ref(self._any_member(d))
            rec["closedDate"] = rec["dateResolved"] = self._clock.ts(t.closed_at)
            rec["closedBy"] = closer["identifier"]
            rec["actualHours"] = 0.25 * (1 + d.below(16))
        if t.board in (2, 3):  # projects and onboarding carry a budget
            rec["budgetHours"] = float(4 * (1 + d.below(20)))
        rec["_info"] = self._ticket_info(d, tid, t.opened, updated)
        return rec

    def _ticket_people(self, d: _Draw, rec: Record, t: _Ticket) -> None:
        if t.site:
            rec["site"] = self._site_ref(t.company, t.site)
            rec["siteName"] = rec["site"]["name"]
        if t.contact:
            first, last = self._contact_name(t.contact)
            rec["contact"] = self._contact_ref(t.contact)
            rec["contactName"] = f"{first} {last}"
            rec["contactEmailAddress"] = f"{first}.{last}@{self._co(t.company).domain}".lower()
        if t.closed_at or d.chance(70):
            rec["owner"] = self._member_ref(self._member_in(d, _TECH_SLOTS))

    def _ticket_info(self, d: _Draw, tid: int, entered: int, updated: int) -> Record:
        info = self._stamp(d, entered, updated)
        base = self._base
        info.update(
            notes_href=f"{base}/service/tickets/{tid}/notes",
            timeentries_href=f'{base}/time/entries?conditions=(chargeToType="ServiceTicket" OR '
            f'chargeToType="ProjectTicket") AND chargeToId={tid}',
            scheduleentries_href=f"{base}/schedule/entries?conditions=type/id=4 AND objectId={tid}",
            configurations_href=f"{base}/service/tickets/{tid}/configurations",
            tasks_href=f"{base}/service/tickets/{tid}/tasks",
            documents_href=f"{base}/system/documents?recordType=Ticket&recordId={tid}",
        )
        return info

    def _ticket_notes(self, nid: int) -> Record:
        tid, ids = self._fanouts["ticket_notes"].locate(nid)
        ordinal, total = nid - ids.start, len(ids)
        t = self._ticket(tid)
        d = self._draw("ticket_notes", nid)
        end = t.closed_at or self._clock.now - 1
        created = min(end, t.opened + (end - t.opened) * ordinal // total + d.below(600))
        detail = ordinal == 0
        resolution = bool(t.closed_at) and ordinal == total - 1 and not detail
        internal = not detail and not resolution
        rec: Record = {
            "id": nid,
            "ticketId": tid,
            "text": self._note_text(d, t, detail, resolution),
            "detailDescriptionFlag": detail,
            "internalAnalysisFlag": internal,
            "resolutionFlag": resolution,
            "issueFlag": False,
            "customerUpdatedFlag": False,
            "processNotifications": False,
            "dateCreated": self._clock.ts(created),
            "internalFlag": internal,
            "externalFlag": not internal,
        }
        if detail and t.contact and t.board != _ALERTS:
            rec["contact"] = self._contact_ref(t.contact)
            rec["createdBy"] = d.pick(("Email Connector", "Portal", "Email Connector"))
        else:
            rec["member"] = self._member_ref(self._member_in(d, _TECH_SLOTS))
            rec["createdBy"] = rec["member"]["identifier"]
        rec["_info"] = self._stamp(d, created, created + d.below(min(3600, self._clock.now - created)))
        rec["_info"]["ticket_href"] = self._href["tickets"] + str(tid)
        return rec

    def _note_text(self, d: _Draw, t: _Ticket, detail: bool, resolution: bool) -> str:
        first = self._contact_name(t.contact)[0] if t.contact else "the user"
        if detail:
            return str(_NOTE_ALERT if t.board == _ALERTS else d.pick(_NOTE_OPEN)).format(f=first, x=t.summary)
        return str(d.pick(_NOTE_RESOLVE if resolution else _NOTE_WORK)).format(f=first)

    # --- time and schedule ----------------------------------------------------------------------------------

    def _work_window(self, d: _Draw, t: _Ticket, grain: int) -> tuple[int, int]:
        """A (start, end) on the ticket while it was open, on a ``grain``-second grid, before the anchor."""
        now = self._clock.now
        start = self._office_hours(t.opened + d.below(max(1, (t.closed_at or now - 1) - t.opened)))
        start = max(t.opened, start - start % grain)
        end = min(start + 900 * (1 + d.below(12)), now - 1)
        return start, max(start, end - end % grain)

    def _time_entries(self, eid: int) -> Record:
        d = self._draw("time_entries", eid)
        tid = 1 + d.below(self._counts["tickets"])
        t = self._ticket(tid)
        start, end = self._work_window(d, t, 60)
        hours = round((end - start) / 3600, 2)
        mid = self._member_in(d, _TECH_SLOTS)
        billable = d.pick(("Billable", "Billable", "DoNotBill", "NoCharge"))
        work_type = 2 if d.chance(20) else 1
        entered = min(end + d.below(3600), self._clock.now - 1)
        rec: Record = {
            "id": eid,
            "company": self._company_ref(t.company),
            "chargeToId": tid,
            "chargeToType": "ServiceTicket",
            "member": self._member_ref(mid),
            "workType": self._const_ref("/time/workTypes", work_type, _WORK_TYPES[work_type - 1], "workType_href"),
            "workRole": self._const_ref("/time/workRoles", 1, _WORK_ROLES[0], "workRole_href"),
            "timeStart": self._clock.ts(start),
            "timeEnd": self._clock.ts(end),
            "hoursDeduct": 0.0,
            "actualHours": hours,
            "billableOption": billable,
            "notes": d.pick(_TIME_NOTES),
            "addToDetailDescriptionFlag": d.chance(50),
            "addToInternalAnalysisFlag": False,
            "addToResolutionFlag": False,
            "emailResourceFlag": False,
            "emailContactFlag": False,
            "emailCcFlag": False,
            "hoursBilled": hours if billable == "Billable" else 0.0,
            "hourlyRate": 150.0 if billable == "Billable" else 0.0,
            "status": "Billed" if t.closed_at and d.chance(70) else "Open",
            "ticket": {"id": tid, "summary": t.summary, "_info": {"ticket_href": self._href["tickets"] + str(tid)}},
            "enteredBy": self._ident(mid)[0],
            "dateEntered": self._clock.ts(entered),
            "customFields": [],
        }
        rec["_info"] = self._stamp(d, entered, entered + d.below(max(1, self._clock.now - entered)))
        rec["_info"]["enteredBy"] = rec["enteredBy"]
        return rec

    def _schedule_entries(self, eid: int) -> Record:
        d = self._draw("schedule_entries", eid)
        tid = 1 + d.below(self._counts["tickets"])
        t = self._ticket(tid)
        start, end = self._work_window(d, t, 900)
        where = 1 if d.chance(30) else 2
        entered = max(t.opened, start - d.below(3 * _DAY))
        rec: Record = {
            "id": eid,
            "objectId": tid,
            "name": f"{self._co(t.company).name} / {t.summary}",
            "member": self._member_ref(self._member_in(d, _TECH_SLOTS)),
            "where": self._const_ref("/service/locations", where, _SERVICE_LOCATIONS[where - 1], "where_href"),
            "dateStart": self._clock.ts(start),
            "dateEnd": self._clock.ts(end),
            "status": self._const_ref("/schedule/statuses", 2, "Firm", "status_href"),
            "type": {"id": 4, "identifier": "S", "_info": {"type_href": f"{self._base}/schedule/types/4"}},
            "doneFlag": bool(t.closed_at) or d.chance(60),
            "acknowledgedFlag": d.chance(80),
            "ownerFlag": False,
            "meetingFlag": False,
            "allowScheduleConflictsFlag": False,
            "addMemberToProjectFlag": False,
            "hours": round((end - start) / 3600, 2),
        }
        rec["_info"] = self._stamp(d, entered, entered + d.below(max(1, self._clock.now - entered)))
        return rec


def _pattern_total(weights: Sequence[int], n: int) -> int:
    """The sum of a periodic weight pattern over its first ``n`` positions."""
    blocks, rest = divmod(n, len(weights))
    return blocks * sum(weights) + sum(weights[:rest])


def _resolve_counts(records: int, overrides: Mapping[str, int]) -> dict[str, int]:
    """Counts per entity: shares of ``records``, overrides, then the minimums that keep references valid."""
    unknown = set(overrides) - set(ENTITIES)
    if unknown:
        raise ValueError(f"unknown entities in counts: {sorted(unknown)}")
    if records < 0 or any(v < 0 for v in overrides.values()):
        raise ValueError("records and counts must not be negative")
    sized = {e: round(records * share) for e, share in _SHARES.items()}
    fixed = {e: len(rows) for e, (_, rows) in _LOOKUPS.items()} | {"boards": len(_BOARDS)}
    counts = {e: max(overrides.get(e, sized.get(e, 0)), fixed.get(e, 0)) for e in ENTITIES}
    counts["companies"] = max(counts["companies"], 3)
    counts["members"] = max(counts["members"], 2)
    counts["sites"] = max(counts["sites"], counts["companies"])
    counts["contacts"] = max(counts["contacts"], counts["companies"])
    statuses = _pattern_total([len(b[2]) for b in _BOARDS], counts["boards"])
    counts["board_statuses"] = max(overrides.get("board_statuses", 0), statuses)
    subcategories = _pattern_total([len(s) for s in _SUBCATEGORIES], counts["product_categories"])
    counts["product_subcategories"] = max(overrides.get("product_subcategories", 0), subcategories)
    if counts["tickets"] == 0:
        counts.update(ticket_notes=0, time_entries=0, schedule_entries=0)
    if counts["opportunities"] == 0:
        counts["forecast_items"] = 0
    return counts
