"""What a new Hudu instance holds before anyone writes to it: plain data, deterministic from a seed.

The seeded dataset mirrors what the ConnectWise → Hudu integration fills (seed 004): client companies, the default
layouts it needs (People/Contacts, Locations, Configurations, Agreements) and a few configuration layouts sorted by
type (Computer, Server, Network Device), with people, locations, devices and websites per company. The empty dataset has
nothing at all (no layouts either), like a new instance.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SEED_START = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)
FIELD_TYPES = frozenset(
    {
        "Text",
        "RichText",
        "Heading",
        "CheckBox",
        "Website",
        "Password",
        "Email",
        "Number",
        "Date",
        "Phone",
        "AssetTag",
        "ListSelect",
        # Older names (T-HUDUPY) and the address format, whose field_type name is UNCONFIRMED (B4).
        "Dropdown",
        "Embed",
        "AssetLink",
        "AddressData",
    }
)


def iso(moment: datetime) -> str:
    """Hudu's (Rails') timestamp form: ISO 8601, UTC, milliseconds, `Z`."""
    m = moment.astimezone(UTC)
    return f"{m:%Y-%m-%dT%H:%M:%S}.{m.microsecond // 1000:03d}Z"


def label_key(label: str) -> str:
    """The `custom_fields` key of a field label: lowercase, spaces → `_` (B3)."""
    return re.sub(r"\s+", "_", label.strip().lower())


def loose_key(label: str) -> str:
    """A looser form (every run of non-alphanumerics → `_`), also accepted (UNCONFIRMED: punctuation in labels)."""
    return re.sub(r"[^a-z0-9]+", "_", label.strip().lower()).strip("_")


def parameterize(text: str) -> str:
    """A slug stem like Rails' `parameterize`: lowercase words joined by `-`."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "record"


def _field(label: str, field_type: str = "Text", **extra: Any) -> dict[str, Any]:
    return {"label": label, "field_type": field_type, "show_in_list": extra.pop("show_in_list", False), **extra}


_DEVICE_ICONS = (("Computer", "fas fa-laptop"), ("Server", "fas fa-server"), ("Network Device", "fas fa-wifi"))
LAYOUTS: list[dict[str, Any]] = [
    {
        "name": "People",
        "icon": "fas fa-user",
        "color": "#2563eb",
        "icon_color": "#ffffff",
        "include_passwords": True,
        "fields": [
            _field("Title", show_in_list=True),
            _field("Email", "Email", show_in_list=True),
            _field("Phone", "Phone"),
            _field("Mobile", "Phone"),
            _field("Location", "AssetTag"),
            _field("ConnectWise Contact ID", "Number"),
            _field("Notes", "RichText"),
        ],
    },
    {
        "name": "Locations",
        "icon": "fas fa-building",
        "color": "#16a34a",
        "icon_color": "#ffffff",
        "fields": [
            _field("Address", "AddressData"),
            _field("Phone", "Phone"),
            _field("Primary", "CheckBox", show_in_list=True),
            _field("ConnectWise Site ID", "Number"),
        ],
    },
    {
        "name": "Configurations",
        "icon": "fas fa-cogs",
        "color": "#64748b",
        "icon_color": "#ffffff",
        "fields": [
            _field("Configuration Type", show_in_list=True),
            _field("Status"),
            _field("Installed On", "Date"),
            _field("ConnectWise Configuration ID", "Number"),
            _field("Notes", "RichText"),
        ],
    },
    *(
        {
            "name": name,
            "icon": icon,
            "color": "#7c3aed",
            "icon_color": "#ffffff",
            "include_passwords": True,
            "fields": [
                _field("IP Address", show_in_list=True),
                _field("MAC Address"),
                _field("Operating System", show_in_list=name != "Network Device"),
                _field("Managed", "CheckBox"),
                _field("Purchase Date", "Date"),
                _field("Warranty Expiration", "Date", expiration=True),
                _field("Location", "AssetTag"),
                _field("ConnectWise Configuration ID", "Number"),
                _field("Notes", "RichText"),
            ],
        }
        for name, icon in _DEVICE_ICONS
    ),
    {
        "name": "Agreements",
        "icon": "fas fa-file-contract",
        "color": "#b45309",
        "icon_color": "#ffffff",
        "fields": [
            _field("Agreement Type", show_in_list=True),
            _field("Status", show_in_list=True),
            _field("Start Date", "Date"),
            _field("End Date", "Date", expiration=True),
            _field("Billing Cycle"),
            _field("Bill Amount", "Number"),
            _field("ConnectWise Agreement ID", "Number"),
        ],
    },
]

COMPANIES: list[dict[str, Any]] = [
    {
        "name": "Acme Dental Group",
        "nickname": "Acme",
        "company_type": "Client",
        "address_line_1": "12 Harbour Road",
        "city": "Portsmouth",
        "state": "NH",
        "zip": "03801",
        "country_name": "United States",
        "phone_number": "603-555-0101",
        "website": "https://acmedental.example",
        "id_number": "ACME001",
    },
    {
        "name": "Northwind Logistics",
        "company_type": "Client",
        "address_line_1": "400 Freight Way",
        "city": "Columbus",
        "state": "OH",
        "zip": "43215",
        "country_name": "United States",
        "phone_number": "614-555-0144",
        "website": "https://northwind.example",
        "id_number": "NORTH01",
    },
    {
        "name": "Contoso Legal LLP",
        "company_type": "Client",
        "address_line_1": "1 Court Square",
        "address_line_2": "Suite 300",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "country_name": "United States",
        "phone_number": "512-555-0199",
        "website": "https://contosolegal.example",
        "id_number": "CONTOSO",
    },
    {
        "name": "Fabrikam Manufacturing",
        "company_type": "Prospect",
        "city": "Grand Rapids",
        "state": "MI",
        "country_name": "United States",
        "id_number": "FABRIKAM",
    },
]

_FIRST = ("Ana", "Ben", "Chloe", "Dev", "Erin", "Farid", "Grace", "Hugo", "Ines", "Jon")
_LAST = ("Alvarez", "Brooks", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Hansen", "Ito", "Jensen")
_TITLES = ("Office Manager", "Owner", "Accountant", "Receptionist", "IT Contact", "Director")
_OS = ("Windows 11 Pro", "Windows 10 Pro", "macOS 14", "Ubuntu 22.04")
_SERVER_OS = ("Windows Server 2022", "Windows Server 2019", "Ubuntu 22.04 LTS")
_MAKERS = {"Computer": ("Dell", "Lenovo", "HP"), "Server": ("Dell", "HPE"), "Network Device": ("Ubiquiti", "Cisco")}
_MODELS = {
    "Computer": ("OptiPlex 7010", "ThinkPad T14", "EliteBook 840"),
    "Server": ("PowerEdge R650", "ProLiant DL360"),
    "Network Device": ("USW-Pro-24", "Catalyst 9200", "UDM-Pro"),
}
_DEVICE_PREFIX = {"Computer": "WS", "Server": "SRV", "Network Device": "NET"}


@dataclass(frozen=True)
class SeedAsset:
    """One asset to create: the index of its company in `COMPANIES`, its layout's name and its write body."""

    company: int
    layout: str
    body: dict[str, Any]


def seed_assets(seed: int, extra: int = 0) -> Iterator[SeedAsset]:
    """The assets of the seeded dataset: per company a location, people and devices, then `extra` devices."""
    rng = random.Random(seed)
    for index, company in enumerate(COMPANIES):
        yield SeedAsset(index, "Locations", _location(company, index))
        for n in range(3):
            yield SeedAsset(index, "People", _person(rng, index, n))
        for n, layout in enumerate(("Computer", "Computer", "Server", "Network Device")):
            yield SeedAsset(index, layout, _device(rng, layout, index, n))
    for n in range(extra):
        layout = ("Computer", "Computer", "Computer", "Server", "Network Device")[n % 5]
        yield SeedAsset(n % len(COMPANIES), layout, _device(rng, layout, n % len(COMPANIES), 100 + n))


def _location(company: dict[str, Any], index: int) -> dict[str, Any]:
    address = {k: company.get(k, "") for k in ("address_line_1", "address_line_2", "city", "state", "zip")}
    address["country_name"] = company.get("country_name", "")
    fields = [{"address": address}, {"primary": "true"}, {"connectwise_site_id": str(index + 1)}]
    return {"name": "Main Office", "custom_fields": fields}


def _person(rng: random.Random, company: int, n: int) -> dict[str, Any]:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    email = f"{first}.{last}{n}@client{company + 1}.example".lower()
    fields = [
        {"title": rng.choice(_TITLES)},
        {"email": email},
        {"phone": f"555-01{company:01d}{n:01d}"},
        {"connectwise_contact_id": str(1000 + company * 10 + n)},
    ]
    return {"name": f"{first} {last}", "primary_mail": email, "custom_fields": fields}


def _device(rng: random.Random, layout: str, company: int, n: int) -> dict[str, Any]:
    maker, model = rng.choice(_MAKERS[layout]), rng.choice(_MODELS[layout])
    serial = f"{maker[:2].upper()}{rng.randrange(16**8):08X}"
    os_name = rng.choice(_SERVER_OS if layout == "Server" else _OS)
    purchased = f"20{rng.randrange(19, 24)}/{rng.randrange(1, 13):02d}/{rng.randrange(1, 28):02d}"
    fields: list[dict[str, Any]] = [
        {"ip_address": f"10.{company}.{n // 250}.{n % 250 + 2}"},
        {"mac_address": ":".join(f"{rng.randrange(256):02x}" for _ in range(6))},
        {"managed": "true" if rng.random() < 0.8 else "false"},
        {"purchase_date": purchased},
        {"connectwise_configuration_id": str(5000 + company * 1000 + n)},
    ]
    if layout != "Network Device":
        fields.append({"operating_system": os_name})
    return {
        "name": f"{_DEVICE_PREFIX[layout]}-{company + 1:02d}-{n + 1:03d}",
        "primary_serial": serial,
        "primary_manufacturer": maker,
        "primary_model": model,
        "custom_fields": fields,
    }


def seed_websites() -> Iterator[tuple[int, dict[str, Any]]]:
    """One website per company that has one: (company index, write body)."""
    for index, company in enumerate(COMPANIES):
        if company.get("website"):
            yield index, {"name": company["website"], "notes": "Main site"}
