"""ConnectWise and HubSpot record shapes ↔ the flat fields the mappings speak. Pure functions.

ConnectWise nests: `communicationItems` hold e-mails and phones, references are `{id, name}` objects, a company
has a list of `types`. HubSpot is flat: every property a string. Reading flattens both; writing turns canonical
values back into a ConnectWise body or JSON-patch operations, or HubSpot properties.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from cwsync.core.mapping import ObjectMapping
from cwsync.core.priority import order_types

_MOBILE_TYPES = {"cell", "mobile"}
_KINDS = {"email": "Email", "phone": "Phone"}
"""A communication item's type (lower-cased) → ConnectWise's spelling of the kinds a contact's fields come from."""


def _is_mapping(value: Any) -> bool:
    """`isinstance(value, Mapping)`, a dict (what JSON decodes to) told without the ABC's check."""
    return type(value) is dict or isinstance(value, Mapping)


def ref_name(value: Any) -> str | None:
    """The name of a ConnectWise reference (`{"id": 1, "name": "Customer"}`), None when it has none."""
    if _is_mapping(value):
        name = value.get("name") or value.get("identifier") or value.get("description")
        return str(name) if name is not None else None
    return None


def _ref_id(value: Any) -> str | None:
    if _is_mapping(value) and value.get("id") is not None:
        return str(value["id"])
    return None


def _communications(record: Mapping[str, Any]) -> list[Mapping[str, Any] | None]:
    """A contact's default e-mail, office phone and mobile items (each: the first with `defaultFlag` among
    its kind, else the first of its kind; a phone is a mobile when its type is Cell or Mobile), in one pass."""
    chosen: list[Mapping[str, Any] | None] = [None, None, None]
    default = [False, False, False]
    for item in record.get("communicationItems") or ():
        if not _is_mapping(item):
            continue
        kind = item.get("communicationType", "")
        if kind != "Email" and kind != "Phone":  # ConnectWise's spelling, told without lower-casing
            kind = _KINDS.get(str(kind).lower())
            if kind is None:
                continue
        slot = 0 if kind == "Email" else _phone_slot(item)
        if default[slot]:
            continue
        if item.get("defaultFlag"):
            chosen[slot], default[slot] = item, True
        elif chosen[slot] is None:
            chosen[slot] = item
    return chosen


def _phone_slot(item: Mapping[str, Any]) -> int:
    """A phone item's slot: 2 for a mobile (its type is Cell or Mobile), else 1."""
    return 2 if str(ref_name(item.get("type")) or "").lower() in _MOBILE_TYPES else 1


CUSTOM = "customFields/"
"""Custom fields flatten to `customFields/<caption>` (map them with `fields.add`: `connectwise: customFields/Tier`)."""


def custom_fields(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record's custom fields as `customFields/<caption>` → value (None when empty: ConnectWise omits `value`)."""
    out: dict[str, Any] = {}
    for item in record.get("customFields") or ():
        if _is_mapping(item) and item.get("caption"):
            out[f"{CUSTOM}{item['caption']}"] = item.get("value")
    return out


def flatten_company(record: Mapping[str, Any], *, priority: Sequence[str] | None = None) -> dict[str, Any]:
    """A ConnectWise company as flat fields; `types` most important first (`priority`, else the default: SB-2)."""
    flat = {k: record.get(k) for k in ("identifier", "name", "phoneNumber", "website", "addressLine1", "city", "state")}
    flat.update(
        id=str(record["id"]),
        zip=record.get("zip"),
        country=ref_name(record.get("country")),
        types=order_types(
            (str(ref_name(t)) for t in record.get("types") or [] if ref_name(t)),
            *([priority] if priority is not None else []),
        ),
        status=ref_name(record.get("status")),
        deletedFlag=bool(record.get("deletedFlag")),
    )
    # SB-2: the one type the company is carried as (the highest in the priority), for `fields.add` mappings.
    flat["company_type"] = flat["types"][0] if flat["types"] else None
    flat.update(custom_fields(record))
    return flat


def flatten_contact(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ConnectWise contact as flat fields (default e-mail, office phone, mobile, company id)."""
    email, phone, mobile = [item.get("value") if item else None for item in _communications(record)]
    return custom_fields(record) | {
        "id": str(record["id"]),
        "firstName": record.get("firstName"),
        "lastName": record.get("lastName"),
        "title": record.get("title"),
        "email": email,
        "phone": phone,
        "mobile": mobile,
        "company": _ref_id(record.get("company")),
        "inactiveFlag": bool(record.get("inactiveFlag")),
    }


def flatten_opportunity(record: Mapping[str, Any]) -> dict[str, Any]:
    """A ConnectWise opportunity as flat fields (with its forecast total when the side read it: `FORECAST`)."""
    return (
        custom_fields(record)
        | {
            "id": str(record["id"]),
            "name": record.get("name"),
            "expectedCloseDate": record.get("expectedCloseDate"),
            "status": ref_name(record.get("status")),
            "notes": record.get("notes"),
            "company": _ref_id(record.get("company")),
            "contact": _ref_id(record.get("contact")),
            "primarySalesRep": _ref_id(record.get("primarySalesRep")),
            "pipeline": "default",
        }
        | ({FORECAST: forecast_total(record["_forecast"])} if isinstance(record.get("_forecast"), list) else {})
    )


FORECAST = "forecast/revenue"
"""An opportunity's forecast total (HS-1/HS-2, opt-in: map it, e.g. `fields.add: {connectwise: forecast/revenue,
hubspot: amount, type: number}`): the revenue of its included forecast items, None when it has none. Read with one
`GET …/forecast` per opportunity, and only when a mapping names it (`reads_forecast`)."""

FORECAST_LINE = "HubSpot deal amount"
"""The description of the one forecast item cwsync writes (and finds again on every later write: never a second)."""


def reads_forecast(mapping: ObjectMapping | None) -> bool:
    """Whether a pair's mapping needs its opportunities' forecasts read (`FORECAST`)."""
    return mapping is not None and any(f.left == FORECAST for f in mapping.fields)


def _included(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The forecast items that count towards the total (ConnectWise's `includeFlag`; absent counts as included)."""
    return [i for i in items if i.get("includeFlag") is not False]


def _revenue(item: Mapping[str, Any]) -> Decimal:
    try:
        return Decimal(str(item.get("revenue") or 0))
    except InvalidOperation:
        return Decimal(0)


def forecast_total(items: Sequence[Mapping[str, Any]]) -> str | None:
    """The forecast's total revenue as canonical number text (None: no item counts)."""
    included = _included(items)
    if not included:
        return None
    return _plain_number(sum((_revenue(i) for i in included), Decimal(0)))


def _plain_number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class ForecastWrite:
    """What to do to an opportunity's forecast so that its total is the deal's amount (`plan_forecast`)."""

    op: str
    """`add` a cwsync line, `update` its revenue, `remove` cwsync's lines, or `keep` (already right)."""
    line_id: int | None = None
    revenue: float | None = None
    extra: tuple[int, ...] = ()
    """Further cwsync lines (an earlier write whose answer was lost): removed, so nothing is doubled."""


def plan_forecast(items: Sequence[Mapping[str, Any]], amount: str | None) -> ForecastWrite:
    """How cwsync's own forecast line (`FORECAST_LINE`) changes so that the forecast totals `amount`: the other
    lines stay as ConnectWise users made them, cwsync's line holds the difference. An empty amount removes cwsync's
    line. Raises ValueError when the other lines already total more than the amount (a negative line would hide
    it): the record fails with the reason, and the next change retries."""
    mine = sorted((i for i in items if i.get("forecastDescription") == FORECAST_LINE), key=lambda i: int(i["id"]))
    line = mine[0] if mine else None  # the first written; any later one is a lost answer's twin
    extra = tuple(int(i["id"]) for i in mine[1:])
    if amount is None or str(amount).strip() == "":
        return ForecastWrite("remove", extra=tuple(int(i["id"]) for i in mine)) if mine else ForecastWrite("keep")
    others = sum((_revenue(i) for i in _included(items) if i not in mine), Decimal(0))
    try:
        wanted = Decimal(str(amount)) - others
    except InvalidOperation as exc:
        raise ValueError(f"the deal's amount {amount!r} is not a number") from exc
    if wanted < 0:
        raise ValueError(
            f"the opportunity's other forecast lines total {_plain_number(others)}, more than the deal's amount"
            f" {amount}: change those lines in ConnectWise (cwsync only writes its own line, {FORECAST_LINE!r})"
        )
    if line is None:
        return ForecastWrite("keep" if wanted == 0 else "add", revenue=float(wanted), extra=extra)
    if line.get("includeFlag") is not False and _revenue(line) == wanted:
        return ForecastWrite("keep", int(line["id"]), float(wanted), extra)
    return ForecastWrite("update", int(line["id"]), float(wanted), extra)


def forecast_line(revenue: float, status_id: int | None) -> dict[str, Any]:
    """The `ForecastItem` body of cwsync's line (ConnectWise requires its status and forecast type)."""
    body: dict[str, Any] = {
        "forecastDescription": FORECAST_LINE,
        "forecastType": "Other1",
        "quantity": 1,
        "revenue": revenue,
        "includeFlag": True,
    }
    if status_id is not None:
        body["status"] = {"id": status_id}
    return body


FLATTENERS = {"companies": flatten_company, "contacts": flatten_contact, "deals": flatten_opportunity}

READS = {
    "companies": "id,identifier,name,phoneNumber,website,addressLine1,city,state,zip,country,types,status,deletedFlag,"
    "customFields,_info/lastUpdated",
    "contacts": "id,firstName,lastName,title,communicationItems,company/id,inactiveFlag,customFields,_info/lastUpdated",
    "deals": "id,name,expectedCloseDate,status,notes,company/id,contact/id,primarySalesRep/id,customFields,"
    "_info/lastUpdated",
}
"""The ConnectWise fields each pair reads (`fields=`): what its flattener takes, the arrays a patch rewrites whole
(communication items, custom fields) and when the record last changed — nothing else of a record is used (filters
and mappings see the flat fields). A page of whole contacts is mostly what no mapping uses (links to other
resources, site, portal flags): read and decoded for nothing, it was a large share of a first sync's CPU
(`tests/syncs/test_hubspot_reads.py` checks that a record read so flattens, filters and patches as a whole one)."""


def flatten_hubspot(record: Mapping[str, Any], references: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """A HubSpot object as flat fields: its properties, its id, and resolved references (left ids)."""
    flat: dict[str, Any] = dict(record.get("properties") or {})
    flat["id"] = str(record["id"])
    flat.update(references or {})
    return flat


# -- writing -------------------------------------------------------------------------------------------------------


def hubspot_properties(
    mapping: ObjectMapping, values: Mapping[str, str | None], *, create: bool = False
) -> dict[str, str]:
    """HubSpot properties for canonical values (references excluded: they become associations).

    On update an empty value clears the property (`""`); on create it is simply left out.
    """
    right = mapping.written_names
    if create:
        return {right[name]: value for name, value in values.items() if name in right and value is not None}
    return {right[name]: "" if value is None else value for name, value in values.items() if name in right}


def connectwise_body(
    pair: str,
    mapping: ObjectMapping,
    values: Mapping[str, str | None],
    right_id: str,
    context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The POST body creating a ConnectWise record from canonical values (`context`: what an opportunity needs
    that a deal does not say, `sides.opportunity_defaults`)."""
    fields = mapping.by_name()
    plain = {fields[n].left: fields[n].to_left(v) for n, v in values.items() if n in fields and v is not None}
    body: dict[str, Any]
    if pair == "companies":
        body = {k: v for k, v in plain.items() if k in _COMPANY_PLAIN}
        if not any(body.get(k) for k in _COMPANY_ADDRESS):
            # ConnectWise refuses a company without one of its address fields (Company, spec 2025.8): this record
            # fails with the reason (the caller turns a ValueError into a record-level error), the rest go on.
            raise ValueError(
                "ConnectWise needs at least one address field (address, city, state or zip) to create a company;"
                " this HubSpot company has none: add one in HubSpot and it is created on the next sync"
            )
        body["identifier"] = company_identifier(str(plain.get("name") or "Company"), right_id)
        return body
    if pair == "contacts":
        body = {k: v for k, v in plain.items() if k in ("firstName", "lastName", "title")}
        company = plain.get("company")
        if company:
            body["company"] = {"id": int(company)}
        body["communicationItems"] = _communication_items([], plain)
        return body
    if pair == "deals":
        return _opportunity_body(plain, context or {})
    raise ValueError(f"cwsync does not create ConnectWise {pair}")


def _opportunity_body(plain: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """An opportunity from a HubSpot deal: its company and contact (both required by ConnectWise: HS-8), the status
    its stage maps to, the owner's member as sales rep (else the configured or first member)."""
    for key in ("company", "contact"):
        if not plain.get(key):
            raise ValueError(
                f"ConnectWise needs the opportunity's {key}: associate the HubSpot deal with a synced {key}"
                " and it is created on the next sync"
            )
    body: dict[str, Any] = {k: v for k, v in plain.items() if k in ("name", "notes", FORECAST) and v}
    body["company"], body["contact"] = {"id": int(plain["company"])}, {"id": int(plain["contact"])}
    if plain.get("expectedCloseDate"):
        body["expectedCloseDate"] = _cw_date(str(plain["expectedCloseDate"]))
    rep = plain.get("primarySalesRep")
    rep = int(rep) if rep is not None and str(rep).isdigit() and str(rep) != "0" else context.get("rep")
    if rep is None:
        raise ValueError("no ConnectWise member to be the opportunity's sales rep (syncs.catalog.primary_sales_rep)")
    body["primarySalesRep"] = {"id": int(rep)}
    status = _status_id(plain.get("status"), context)
    if status is not None:
        body["status"] = {"id": status}
    return body


def _status_id(name: Any, context: Mapping[str, Any]) -> int | None:
    """The ConnectWise status id of a status name (a stage no status maps back to gets the default status)."""
    statuses: Mapping[str, int] = context.get("statuses") or {}
    found = statuses.get(str(name).lower()) if name else None
    return found if found is not None else context.get("default_status")


def _cw_date(value: str) -> str:
    """A canonical date (`2026-03-01`) as ConnectWise writes dates (`2026-03-01T00:00:00Z`)."""
    return f"{value[:10]}T00:00:00Z" if re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", value) else value


_COMPANY_PLAIN = ("name", "phoneNumber", "website", "addressLine1", "city", "state", "zip")
_COMPANY_ADDRESS = ("addressLine1", "city", "state", "zip")  # of ConnectWise's six, those cwsync maps


def connectwise_patch(
    pair: str,
    mapping: ObjectMapping,
    values: Mapping[str, str | None],
    current: Mapping[str, Any] | None,
    context: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """JSON-patch operations updating a ConnectWise record (communication items replaced whole, as CW requires; an
    opportunity's status by id and its close date as ConnectWise writes dates)."""
    fields = mapping.by_name()
    plain = {fields[n].left: fields[n].to_left(v) for n, v in values.items() if n in fields}
    ops: list[dict[str, Any]] = []
    if pair == "deals":
        if "status" in plain:
            status = _status_id(plain.pop("status"), context or {})
            if status is not None:
                ops.append({"op": "replace", "path": "status", "value": {"id": status}})
        if plain.get("expectedCloseDate"):
            plain["expectedCloseDate"] = _cw_date(str(plain["expectedCloseDate"]))
        plain.pop("primarySalesRep", None)
    comm: dict[str, Any] = {k: plain.pop(k) for k in ("email", "phone", "mobile") if k in plain}
    if comm:
        items = _communication_items(list((current or {}).get("communicationItems") or []), comm)
        ops.append({"op": "replace", "path": "communicationItems", "value": items})
    custom = {k[len(CUSTOM) :]: plain.pop(k) for k in list(plain) if k.startswith(CUSTOM)}
    if custom:
        ops.append({"op": "replace", "path": "customFields", "value": _custom_values(current, custom)})
    for key in ("company", "contact"):
        if key in plain:
            value = plain.pop(key)
            ops.append({"op": "replace", "path": key, "value": {"id": int(value)} if value else None})
    for key, value in plain.items():
        if key in ("id", "identifier", "types", "country", "status", "pipeline"):
            continue
        ops.append({"op": "replace", "path": key, "value": value})
    return ops


def _custom_values(current: Mapping[str, Any] | None, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The whole customFields array with some values changed (ConnectWise cannot patch one element)."""
    items = [dict(i) for i in (current or {}).get("customFields") or []]
    by_caption = {str(i.get("caption")): i for i in items}
    for caption, value in values.items():
        item = by_caption.get(caption)
        if item is None:
            raise ValueError(f"ConnectWise has no custom field {caption!r} on this record")
        if value is None:
            item.pop("value", None)
        else:
            item["value"] = value
    return items


def needs_current(values: Mapping[str, Any], mapping: ObjectMapping) -> bool:
    """Whether writing these values needs the record as it is now (arrays ConnectWise replaces whole)."""
    fields = mapping.by_name()
    lefts = [fields[name].left for name in values if name in fields]
    return any(left in ("email", "phone", "mobile") or left.startswith(CUSTOM) for left in lefts)


def _communication_items(items: list[Mapping[str, Any]], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The whole communicationItems array with the default e-mail, phone and mobile set to `values`."""
    out = [dict(i) for i in items]
    for key, kind, type_name in (
        ("email", "Email", "Email"),
        ("phone", "Phone", "Direct"),
        ("mobile", "Phone", "Cell"),
    ):
        if key not in values:
            continue
        target = _slot(out, key)
        value = values[key]
        if target is not None and value:
            target["value"] = value
        elif target is not None:
            out.remove(target)
        elif value:
            entry = {"type": {"name": type_name}, "value": value, "communicationType": kind, "defaultFlag": True}
            out.append(entry)
    return out


def _slot(items: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    found = _communications({"communicationItems": items})[("email", "phone", "mobile").index(key)]
    return next((i for i in items if i is found), None)


def company_identifier(name: str, right_id: str) -> str:
    """A ConnectWise company identifier (≤ 30 chars, no spaces) for a company created from HubSpot."""
    stem = re.sub(r"[^A-Za-z0-9]", "", name)[:22] or "Company"
    return f"{stem}{right_id[-6:]}"
