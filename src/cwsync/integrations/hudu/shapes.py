"""ConnectWise records → what cwsync writes into Hudu (pure: no I/O).

Each ConnectWise record becomes a `Source`: its name, the layout it belongs in, Hudu's built-in asset fields and a
superset of custom field values by label. `asset_values` keeps only the labels the chosen layout has, so any layout
works, whatever fields an MSP gave it: a label the layout lacks is simply not written. Values are in Hudu's write
forms (B3): dates `YYYY/MM/DD`, check boxes `"true"`/`"false"`, numbers as strings, addresses as objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cwsync.config.hudu import ConnectedField, DataType, HuduSync
from cwsync.connectors.hudu import label_key

__all__ = [
    "DEFAULT_LAYOUT_FIELDS",
    "Source",
    "active_agreement",
    "agreement_source",
    "asset_values",
    "company_details",
    "company_type_names",
    "configuration_source",
    "connected_values",
    "contact_source",
    "site_source",
]

Record = Mapping[str, Any]


def _field(label: str, field_type: str = "Text", **extra: Any) -> dict[str, Any]:
    return {"label": label, "field_type": field_type, "show_in_list": extra.pop("show_in_list", False), **extra}


DEFAULT_LAYOUT_FIELDS: dict[DataType, list[dict[str, Any]]] = {
    "contacts": [
        _field("Title", show_in_list=True),
        _field("Email", "Email", show_in_list=True),
        _field("Phone", "Phone"),
        _field("Mobile", "Phone"),
        _field("Location", "AssetTag"),
        _field("ConnectWise Contact ID", "Number"),
    ],
    "sites": [
        _field("Address", "AddressData"),
        _field("Phone", "Phone"),
        _field("Primary", "CheckBox", show_in_list=True),
        _field("ConnectWise Site ID", "Number"),
    ],
    "configurations": [
        _field("Configuration Type", show_in_list=True),
        _field("Status"),
        _field("IP Address"),
        _field("MAC Address"),
        _field("Operating System"),
        _field("Installed On", "Date"),
        _field("Warranty Expiration", "Date", expiration=True),
        _field("Location", "AssetTag"),
        _field("ConnectWise Configuration ID", "Number"),
        _field("Notes", "RichText"),
    ],
    "agreements": [
        _field("Agreement Type", show_in_list=True),
        _field("Status", show_in_list=True),
        _field("Start Date", "Date"),
        _field("End Date", "Date", expiration=True),
        _field("Billing Cycle"),
        _field("Bill Amount", "Number"),
        _field("ConnectWise Agreement ID", "Number"),
    ],
}
"""The fields of a layout cwsync creates when `create_missing_layouts` is on (and the labels it fills)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """One ConnectWise record as cwsync would document it; `skip` is the reason it is left out, if it is."""

    kind: DataType
    cw_id: str
    cw_company_id: int
    name: str
    layout: str
    builtins: dict[str, str | None] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    site_id: int | None = None
    skip: str | None = None


# -- small value helpers --------------------------------------------------------------------------------------------


def _ref_id(record: Record, key: str) -> int | None:
    ref = record.get(key)
    return int(ref["id"]) if isinstance(ref, Mapping) and ref.get("id") is not None else None


def _ref_name(record: Record, key: str) -> str | None:
    ref = record.get(key)
    return str(ref["name"]) if isinstance(ref, Mapping) and ref.get("name") else None


def _date(value: Any) -> str | None:
    """ConnectWise `2021-04-06T00:00:00Z` → Hudu `2021/04/06`."""
    if not value:
        return None
    return str(value)[:10].replace("-", "/")


def _flag(value: Any) -> str:
    return "true" if value else "false"


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _communication(contact: Record, kinds: tuple[str, ...], *, email: bool) -> str | None:
    """The contact's first (default first) communication item of one of these types."""
    items = [i for i in contact.get("communicationItems") or [] if isinstance(i, Mapping)]
    wanted = [
        i
        for i in items
        if (i.get("communicationType") == "Email") == email
        and (email or str((i.get("type") or {}).get("name", "")) in kinds)
    ]
    wanted.sort(key=lambda i: not i.get("defaultFlag"))
    return _text(wanted[0].get("value")) if wanted else None


def _website(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    return text if re.match(r"^https?://", text, re.I) else f"https://{text}"


# -- companies -----------------------------------------------------------------------------------------------------


def company_type_names(company: Record) -> list[str]:
    """The names of a ConnectWise company's types."""
    return [str(t["name"]) for t in company.get("types") or [] if isinstance(t, Mapping) and t.get("name")]


def company_details(company: Record) -> dict[str, str | None]:
    """The basic details of a Hudu company, from the ConnectWise company."""
    country = company.get("country")
    return {
        "name": _text(company.get("name")),
        "id_number": _text(company.get("identifier")),
        "company_type": ", ".join(company_type_names(company)) or None,
        "address_line_1": _text(company.get("addressLine1")),
        "address_line_2": _text(company.get("addressLine2")),
        "city": _text(company.get("city")),
        "state": _text(company.get("state")),
        "zip": _text(company.get("zip")),
        "country_name": _text(country.get("name")) if isinstance(country, Mapping) else None,
        "phone_number": _text(company.get("phoneNumber")),
        "website": _website(company.get("website")),
    }


# -- assets --------------------------------------------------------------------------------------------------------


def site_source(site: Record, company_id: int, sync: HuduSync) -> Source:
    """A ConnectWise site → a location asset."""
    state = site.get("stateReference")
    country = site.get("country")
    address = {
        "address_line_1": _text(site.get("addressLine1")) or "",
        "address_line_2": _text(site.get("addressLine2")) or "",
        "city": _text(site.get("city")) or "",
        "state": (_text(state.get("identifier")) if isinstance(state, Mapping) else None) or "",
        "zip": _text(site.get("zip")) or "",
        "country_name": (_text(country.get("name")) if isinstance(country, Mapping) else None) or "",
    }
    values = {
        "Address": address,
        "Phone": _text(site.get("phoneNumber")),
        "Primary": _flag(site.get("primaryAddressFlag")),
        "ConnectWise Site ID": str(site["id"]),
    }
    return Source(
        kind="sites",
        cw_id=str(site["id"]),
        cw_company_id=company_id,
        name=_text(site.get("name")) or f"Site {site['id']}",
        layout=sync.layouts.locations,
        values=values,
        skip="the site is inactive in ConnectWise" if site.get("inactiveFlag") else None,
    )


def contact_source(contact: Record, sync: HuduSync) -> Source:
    """A ConnectWise contact → a person asset."""
    name = " ".join(p for p in (_text(contact.get("firstName")), _text(contact.get("lastName"))) if p)
    email = _communication(contact, (), email=True)
    values = {
        "Title": _text(contact.get("title")),
        "Email": email,
        "Phone": _communication(contact, ("Direct", "Phone", "Main"), email=False),
        "Mobile": _communication(contact, ("Cell", "Mobile"), email=False),
        "ConnectWise Contact ID": str(contact["id"]),
    }
    return Source(
        kind="contacts",
        cw_id=str(contact["id"]),
        cw_company_id=_ref_id(contact, "company") or 0,
        name=name or f"Contact {contact['id']}",
        layout=sync.layouts.contacts,
        builtins={"primary_mail": email},
        values=values,
        site_id=_ref_id(contact, "site"),
        skip="the contact is inactive in ConnectWise" if contact.get("inactiveFlag") else None,
    )


def configuration_source(configuration: Record, sync: HuduSync) -> Source:
    """A ConnectWise configuration → an asset in the layout its type's sort rule names (or the default one)."""
    type_name = _ref_name(configuration, "type") or ""
    values = {
        "Configuration Type": type_name or None,
        "Status": _ref_name(configuration, "status"),
        "IP Address": _text(configuration.get("ipAddress")),
        "MAC Address": _text(configuration.get("macAddress")),
        "Operating System": _text(configuration.get("osType")),
        "Installed On": _date(configuration.get("installationDate")),
        "Purchase Date": _date(configuration.get("purchaseDate")),
        "Warranty Expiration": _date(configuration.get("warrantyExpirationDate")),
        "Serial Number": _text(configuration.get("serialNumber")),
        "Model": _text(configuration.get("modelNumber")),
        "Manufacturer": _ref_name(configuration, "manufacturer"),
        "Tag Number": _text(configuration.get("tagNumber")),
        "ConnectWise Configuration ID": str(configuration["id"]),
        "Notes": _text(configuration.get("notes")),
    }
    builtins = {
        "primary_serial": _text(configuration.get("serialNumber")),
        "primary_model": _text(configuration.get("modelNumber")),
        "primary_manufacturer": _ref_name(configuration, "manufacturer"),
    }
    skipped = sync.skips_configuration_type(type_name)
    return Source(
        kind="configurations",
        cw_id=str(configuration["id"]),
        cw_company_id=_ref_id(configuration, "company") or 0,
        name=_text(configuration.get("name")) or f"Configuration {configuration['id']}",
        layout=sync.layouts.for_configuration(type_name),
        builtins=builtins,
        values=values,
        site_id=_ref_id(configuration, "site"),
        skip=f"configuration type {type_name!r} is skipped (skip_configuration_types)" if skipped else None,
    )


def active_agreement(agreement: Record, today: datetime | None = None) -> str | None:
    """None for an active agreement, else why it is not active."""
    status = str(agreement.get("agreementStatus") or "Active")
    if agreement.get("cancelledFlag"):
        return "the agreement is cancelled"
    if status.lower() != "active":
        return f"the agreement is {status}, not active"
    end = agreement.get("endDate")
    now = today or datetime.now(UTC)
    if end and not agreement.get("noEndingDateFlag") and str(end)[:10] < now.strftime("%Y-%m-%d"):
        return f"the agreement ended on {str(end)[:10]}"
    return None


def agreement_source(agreement: Record, sync: HuduSync, today: datetime | None = None) -> Source:
    """A ConnectWise agreement → an agreement asset (only active agreements are documented)."""
    values = {
        "Agreement Type": _ref_name(agreement, "type"),
        "Status": _text(agreement.get("agreementStatus")) or "Active",
        "Start Date": _date(agreement.get("startDate")),
        "End Date": None if agreement.get("noEndingDateFlag") else _date(agreement.get("endDate")),
        "Billing Cycle": _ref_name(agreement, "billingCycle"),
        "Bill Amount": None if agreement.get("billAmount") is None else str(agreement["billAmount"]),
        "ConnectWise Agreement ID": str(agreement["id"]),
    }
    return Source(
        kind="agreements",
        cw_id=str(agreement["id"]),
        cw_company_id=_ref_id(agreement, "company") or 0,
        name=_text(agreement.get("name")) or f"Agreement {agreement['id']}",
        layout=sync.layouts.agreements,
        values=values,
        skip=active_agreement(agreement, today),
    )


def connected_values(record: Record, fields: Sequence[ConnectedField]) -> dict[str, Any]:
    """The connected fields' values of a ConnectWise record, by Hudu label (HU-3): a custom field by its caption, a
    standard one by its path (a reference gives its name or identifier; a list its items' joined), in the Hudu
    field's write form (dates `YYYY/MM/DD`, check boxes `"true"`/`"false"`)."""
    out: dict[str, Any] = {}
    for entry in fields:
        value = _custom_value(record, entry.caption) if entry.caption is not None else _at(record, entry.connectwise)
        out[entry.hudu] = _written(value, entry.field_type)
    return out


def _custom_value(record: Record, caption: str) -> Any:
    for custom in record.get("customFields") or []:
        if isinstance(custom, Mapping) and str(custom.get("caption", "")).strip().lower() == caption.strip().lower():
            return custom.get("value")
    return None


def _at(record: Any, path: str) -> Any:
    value = record
    for part in path.split("/"):
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _written(value: Any, field_type: str) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("name") or value.get("identifier") or value.get("id")
    elif isinstance(value, list):
        value = ", ".join(str(_written(v, "Text")) for v in value if _written(v, "Text") is not None) or None
    if value is None or value == "":
        return None
    if field_type == "CheckBox":
        return _flag(value is True or str(value).lower() in ("true", "1", "yes"))
    if field_type == "Date":
        return _date(value)
    return _text(value)


def asset_values(source: Source, layout_labels: Mapping[str, str], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The custom field values to write: the source's (plus `extra`) whose label the layout has, by its label.

    `layout_labels` maps `label_key(label)` → the layout's own spelling. None values are dropped (nothing to write).
    """
    out: dict[str, Any] = {}
    for label, value in {**source.values, **extra}.items():
        own = layout_labels.get(label_key(label))
        if own is not None and value is not None:
            out[own] = value
    return out
