"""The Hudu emulator's state backend: companies, assets, asset layouts, websites and relations, in memory.

Records are plain dicts; ids are integers from one counter per table (as in a Rails app). Every refusal is a
`HuduError` carrying Hudu's status and error body (B1). Assets are indexed by company so per-company reads stay
cheap with tens of thousands of assets.

Choices where the notes are silent or UNCONFIRMED (each marked where it is made):
- lists are in id order; archived companies and assets are left out unless `archived=true` asks for only them;
- text filters (`name`, `slug`, ...) match exactly, ignoring case; `search` matches a substring of the name;
- company names are unique (ignoring case);
- `custom_fields` keys that match no layout field are ignored (422 with `strict_custom_fields`);
- custom field values come back typed: CheckBox as a boolean, Number as a number, Date as `YYYY-MM-DD`,
  AssetTag as a list of asset ids, ListSelect as a list of names, AddressData as an object; unset fields are omitted;
- an asset PUT merges `custom_fields` into the stored values (keys not sent keep their value; null clears one);
- deleting a relation deletes its inverse too; deleting a company deletes its assets and websites.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from cwsync_sandbox.hudu import dataset
from cwsync_sandbox.hudu.dataset import FIELD_TYPES, iso, label_key, loose_key, parameterize

Record = dict[str, Any]

COMPANY_FIELDS = (
    "name",
    "nickname",
    "company_type",
    "address_line_1",
    "address_line_2",
    "city",
    "state",
    "zip",
    "country_name",
    "phone_number",
    "fax_number",
    "website",
    "id_number",
    "notes",
)
ASSET_FIELDS = ("name", "primary_serial", "primary_mail", "primary_model", "primary_manufacturer")
LAYOUT_FLAGS = ("include_passwords", "include_photos", "include_comments", "include_files", "active")
LAYOUT_TEXT = ("icon", "color", "icon_color")
FIELD_FLAGS = ("show_in_list", "required", "expiration", "multiple_options")
FIELD_OTHER = ("hint", "min", "max", "options", "linkable_id", "list_id")
WEBSITE_FLAGS = (
    "paused",
    "disable_dns",
    "disable_ssl",
    "disable_whois",
    "enable_dmarc_tracking",
    "enable_dkim_tracking",
    "enable_spf_tracking",
)
RELATABLE_TYPES = frozenset(
    {"Asset", "Website", "Procedure", "AssetPassword", "Company", "Article"}
    | {"VlanZone", "Vlan", "RackStorage", "Network", "IpAddress"}
)
ADDRESS_KEYS = ("address_line_1", "address_line_2", "city", "state", "zip", "country_name")
URL = re.compile(r"^https?://[^\s/]+\.[^\s]+$", re.IGNORECASE)
CUSTOM_FIELDS_SHAPE = "custom_fields must be an array of objects (use [ ] not { })"


class HuduError(Exception):
    """A request Hudu refuses: the HTTP status and its error body."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        """`{"error": ...}` as observed for 4xx; 5xx as `{"status": 500, "error": "Internal Server Error"}` (B1)."""
        if self.status >= 500:
            return {"status": self.status, "error": "Internal Server Error"}
        return {"error": self.message}


def not_found() -> HuduError:
    """404 for a missing record (UNCONFIRMED: the message text; the `{"error": ...}` shape is observed)."""
    return HuduError(404, "Record not found")


def unprocessable(message: str) -> HuduError:
    """422 "Unable to process request" with the reason (B1)."""
    return HuduError(422, message)


# -- value helpers -------------------------------------------------------------------------------------------------


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or datetime (naive: UTC); 422 when unreadable."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise unprocessable(f"updated_at: {text!r} is not an ISO 8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_range(text: str) -> tuple[datetime | None, datetime | None]:
    """`start,end`, `start,`, `,end` or one exact time (B1); bounds are inclusive."""
    if "," not in text:
        exact = parse_time(text)
        return exact, exact
    start, _, end = text.partition(",")
    return (parse_time(start) if start.strip() else None), (parse_time(end) if end.strip() else None)


def in_range(moment: datetime, bounds: tuple[datetime | None, datetime | None]) -> bool:
    """True when `moment` lies within the inclusive bounds."""
    start, end = bounds
    return (start is None or moment >= start) and (end is None or moment <= end)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise unprocessable(f"expected text, got {type(value).__name__}")


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def _int_or_none(value: Any, what: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise unprocessable(f"{what} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise unprocessable(f"{what} must be an integer") from None


def coerce_value(field: Mapping[str, Any], value: Any) -> Any:
    """A custom field value as stored (UNCONFIRMED: the typed forms, see the module docstring); 422 if invalid."""
    if value is None or value == "" or value == []:
        return None
    kind, label = field["field_type"], field["label"]
    coerce = _COERCERS.get(kind, _coerce_text)
    return coerce(label, value)


def _coerce_text(label: str, value: Any) -> Any:
    if isinstance(value, Mapping | list):
        raise unprocessable(f"{label} must be text")
    return _text(value)


def _coerce_checkbox(label: str, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise unprocessable(f"{label} must be true or false")


def _coerce_number(label: str, value: Any) -> Any:
    if isinstance(value, bool | Mapping | list):
        raise unprocessable(f"{label} must be a number")
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise unprocessable(f"{label} must be a number") from None


def _coerce_date(label: str, value: Any) -> Any:
    text = str(value).strip().replace("/", "-")[:10]
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise unprocessable(f"{label} must be a date (YYYY/MM/DD)") from None


def _coerce_asset_tag(label: str, value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    ids = [_int_or_none(item.get("id") if isinstance(item, Mapping) else item, label) for item in items]
    return [i for i in ids if i is not None]


def _coerce_list_select(label: str, value: Any) -> Any:
    items = value if isinstance(value, list) else [value]
    return [str(item) for item in items if item not in (None, "")]


def _coerce_address(label: str, value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise unprocessable(f"{label} must be an address object ({', '.join(ADDRESS_KEYS)})")
    return {key: _text(value.get(key)) or "" for key in ADDRESS_KEYS}


_COERCERS: dict[str, Callable[[str, Any], Any]] = {
    "CheckBox": _coerce_checkbox,
    "Number": _coerce_number,
    "Date": _coerce_date,
    "AssetTag": _coerce_asset_tag,
    "AssetLink": _coerce_asset_tag,
    "ListSelect": _coerce_list_select,
    "AddressData": _coerce_address,
}


# -- the state -----------------------------------------------------------------------------------------------------


class HuduState:
    """One Hudu instance's records, with the write rules of the API."""

    def __init__(
        self,
        *,
        base_url: str,
        seed: int = 1,
        strict_custom_fields: bool = False,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.seed = seed
        self.strict_custom_fields = strict_custom_fields
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.companies: dict[int, Record] = {}
        self.assets: dict[int, Record] = {}
        self.layouts: dict[int, Record] = {}
        self.websites: dict[int, Record] = {}
        self.relations: dict[int, Record] = {}
        self.assets_by_company: dict[int, dict[int, None]] = {}
        self.next_ids: dict[str, int] = {}

    def counts(self) -> dict[str, int]:
        """How many records of each kind."""
        return {
            "companies": len(self.companies),
            "assets": len(self.assets),
            "asset_layouts": len(self.layouts),
            "websites": len(self.websites),
            "relations": len(self.relations),
        }

    # -- plumbing ------------------------------------------------------------------------------------------------

    def _stamp(self) -> datetime:
        moment = self.now().astimezone(UTC)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def _new_id(self, table: str) -> int:
        value = self.next_ids.get(table, 1)
        self.next_ids[table] = value + 1
        return value

    def _slug(self, table: str, name: str, record_id: int) -> str:
        digest = hashlib.blake2b(f"{self.seed}:{table}:{record_id}".encode(), digest_size=6).hexdigest()
        return f"{parameterize(name)[:40]}-{digest}"

    @staticmethod
    def _get(table: Mapping[int, Record], record_id: int) -> Record:
        found = table.get(record_id)
        if found is None:
            raise not_found()
        return found

    # -- companies (B2) ------------------------------------------------------------------------------------------

    def company(self, company_id: int) -> Record:
        """A stored company; 404 if unknown."""
        return self._get(self.companies, company_id)

    def create_company(self, body: Mapping[str, Any]) -> Record:
        """Create a company; 422 without a name or with a taken one."""
        record_id = self._new_id("companies")
        stamp = self._stamp()
        record: Record = {key: None for key in COMPANY_FIELDS}
        record.update(id=record_id, archived=False, parent_company_id=None, integrations=[])
        record.update(created_at=stamp, updated_at=stamp)
        self._apply_company(record, body, creating=True)
        record["slug"] = self._slug("companies", record["name"], record_id)
        self.companies[record_id] = record
        self.assets_by_company[record_id] = {}
        return record

    def update_company(self, company_id: int, body: Mapping[str, Any]) -> Record:
        """Change a company's fields."""
        record = self.company(company_id)
        self._apply_company(record, body, creating=False)
        record["updated_at"] = self._stamp()
        return record

    def _apply_company(self, record: Record, body: Mapping[str, Any], *, creating: bool) -> None:
        changes = {key: _text(body[key]) for key in COMPANY_FIELDS if key in body}
        if creating or "name" in changes:
            name = (changes.get("name") or "").strip()
            if not name:
                raise unprocessable("Name can't be blank")
            self._check_name_free(name, record["id"])
            changes["name"] = name
        if "parent_company_id" in body:
            parent = _int_or_none(body["parent_company_id"], "parent_company_id")
            if parent is not None and (parent == record["id"] or parent not in self.companies):
                raise unprocessable("Parent company must exist")
            record["parent_company_id"] = parent
        record.update(changes)

    def _check_name_free(self, name: str, own_id: int) -> None:
        # UNCONFIRMED: Hudu refusing a second company of the same name.
        lowered = name.lower()
        if any(c["name"].lower() == lowered and c["id"] != own_id for c in self.companies.values()):
            raise unprocessable("Name has already been taken")

    def set_company_archived(self, company_id: int, archived: bool) -> Record:
        """Archive or unarchive a company."""
        record = self.company(company_id)
        record.update(archived=archived, updated_at=self._stamp())
        return record

    def delete_company(self, company_id: int) -> None:
        """Delete a company with its assets and websites (and their relations)."""
        self.company(company_id)
        for asset_id in list(self.assets_by_company.pop(company_id, {})):
            self._drop_asset(asset_id)
        for website_id in [w["id"] for w in self.websites.values() if w["company_id"] == company_id]:
            self.delete_website(website_id)
        self._drop_relations("Company", company_id)
        del self.companies[company_id]

    def add_integration(self, company_id: int, body: Mapping[str, Any]) -> Record:
        """Attach an integration marker, as Hudu's own integrations do (not possible through the API, B7)."""
        record = self.company(company_id)
        entry = {
            "id": self._new_id("integrations"),
            "integrator_id": _int_or_none(body.get("integrator_id"), "integrator_id") or 1,
            "integrator_name": _text(body.get("integrator_name")) or "cw_manage",
            "sync_id": _int_or_none(body.get("sync_id"), "sync_id"),
            "identifier": _text(body.get("identifier")),
            "name": record["name"],
            "potential_company_id": None,
            "company_id": company_id,
            "company_name": record["name"],
        }
        record["integrations"].append(entry)
        return record

    def find_companies(self, filters: Mapping[str, str]) -> list[Record]:
        """Companies matching the list filters, in id order."""
        archived = _flag(filters.get("archived", "false"))
        checks = _text_checks(filters, ("name", "phone_number", "website", "city", "id_number", "state", "slug"))
        bounds = parse_range(filters["updated_at"]) if filters.get("updated_at") else None
        search = (filters.get("search") or "").lower()
        integration = filters.get("id_in_integration")
        found = []
        for record in self.companies.values():
            if record["archived"] != archived or not all(check(record) for check in checks):
                continue
            if bounds and not in_range(record["updated_at"], bounds):
                continue
            if search and search not in record["name"].lower():
                continue
            if integration and not _in_integration(record, integration):
                continue
            found.append(record)
        return found

    def company_json(self, record: Record) -> Record:
        """A company as the API shows it."""
        parent = self.companies.get(record["parent_company_id"] or 0)
        url = f"/c/{record['slug']}"
        return {
            **{k: v for k, v in record.items() if k not in ("created_at", "updated_at", "integrations")},
            "object_type": "Company",
            "parent_company_name": parent["name"] if parent else None,
            "url": url,
            "full_url": self.base_url + url,
            "passwords_url": f"{self.base_url}{url}/passwords",
            "knowledge_base_url": f"{self.base_url}{url}/knowledge_base",
            "created_at": iso(record["created_at"]),
            "updated_at": iso(record["updated_at"]),
            "integrations": [dict(i) for i in record["integrations"]],
        }

    # -- asset layouts (B4) --------------------------------------------------------------------------------------

    def layout(self, layout_id: int) -> Record:
        """A stored layout; 404 if unknown."""
        return self._get(self.layouts, layout_id)

    def create_layout(self, body: Mapping[str, Any]) -> Record:
        """Create a layout with its fields; 422 without a name, with a taken name or a bad field."""
        name = (_text(body.get("name")) or "").strip()
        if not name:
            raise unprocessable("Name can't be blank")
        if any(layout["name"].lower() == name.lower() for layout in self.layouts.values()):
            raise unprocessable("Name has already been taken")
        record_id = self._new_id("asset_layouts")
        stamp = self._stamp()
        record: Record = {"id": record_id, "name": name, "slug": self._slug("asset_layouts", name, record_id)}
        record.update({key: None for key in LAYOUT_TEXT}, sidebar_folder_id=None, password_types="")
        record.update({key: key == "active" for key in LAYOUT_FLAGS}, fields=[], created_at=stamp, updated_at=stamp)
        self._apply_layout(record, body)
        self._merge_fields(record, body.get("fields") or [])
        self.layouts[record_id] = record
        return record

    def update_layout(self, layout_id: int, body: Mapping[str, Any]) -> Record:
        """Change a layout; `fields` are merged by id, new ones appended (B4)."""
        record = self.layout(layout_id)
        if "name" in body:
            name = (_text(body["name"]) or "").strip()
            taken = any(x["name"].lower() == name.lower() and x["id"] != layout_id for x in self.layouts.values())
            if not name or taken:
                raise unprocessable("Name can't be blank" if not name else "Name has already been taken")
            record["name"] = name
        self._apply_layout(record, body)
        if "fields" in body:
            self._merge_fields(record, body["fields"] or [])
        record["updated_at"] = self._stamp()
        return record

    @staticmethod
    def _apply_layout(record: Record, body: Mapping[str, Any]) -> None:
        record.update({key: _text(body[key]) for key in LAYOUT_TEXT if key in body})
        record.update({key: _flag(body[key]) for key in LAYOUT_FLAGS if key in body})
        if "password_types" in body:
            record["password_types"] = _text(body["password_types"]) or ""
        if "sidebar_folder_id" in body:
            record["sidebar_folder_id"] = _int_or_none(body["sidebar_folder_id"], "sidebar_folder_id")

    def _merge_fields(self, record: Record, fields: Any) -> None:
        if not isinstance(fields, list) or not all(isinstance(f, Mapping) for f in fields):
            raise unprocessable("fields must be an array of objects")
        by_id = {f["id"]: f for f in record["fields"]}
        for raw in fields:
            field_id = _int_or_none(raw.get("id"), "field id")
            if field_id is not None and field_id not in by_id:
                raise unprocessable(f"Field {field_id} does not belong to this layout")
            target = by_id[field_id] if field_id is not None else self._new_field(record, raw)
            self._apply_field(record, target, raw)
        record["fields"] = [f for f in record["fields"] if not f["is_destroyed"]]
        record["fields"].sort(key=lambda f: (f["position"], f["id"]))

    def _new_field(self, record: Record, raw: Mapping[str, Any]) -> Record:
        label = (_text(raw.get("label")) or "").strip()
        if not label:
            raise unprocessable("Fields label can't be blank")
        if any(label_key(f["label"]) == label_key(label) for f in record["fields"]):
            raise unprocessable("Fields label has already been taken")
        position = max((f["position"] for f in record["fields"]), default=0) + 1
        new: Record = {"id": self._new_id("asset_layout_fields"), "label": label, "field_type": "Text"}
        new.update({key: False for key in FIELD_FLAGS}, hint=None, min=None, max=None, options=None)
        new.update(linkable_id=None, list_id=None, position=position, is_destroyed=False)
        record["fields"].append(new)
        return new

    @staticmethod
    def _apply_field(record: Record, target: Record, raw: Mapping[str, Any]) -> None:
        kind = raw.get("field_type", target["field_type"])
        if kind not in FIELD_TYPES:
            raise unprocessable(f"Fields field type {kind!r} is not one of {', '.join(sorted(FIELD_TYPES))}")
        if "label" in raw:
            label = (_text(raw["label"]) or "").strip()
            clash = any(label_key(f["label"]) == label_key(label) and f is not target for f in record["fields"])
            if not label or clash:
                raise unprocessable("Fields label has already been taken" if label else "Fields label can't be blank")
            target["label"] = label
        target["field_type"] = kind
        target.update({key: _flag(raw[key]) for key in FIELD_FLAGS if key in raw})
        target.update({key: raw[key] for key in FIELD_OTHER if key in raw})
        if "position" in raw:
            target["position"] = _int_or_none(raw["position"], "position") or target["position"]
        target["is_destroyed"] = _flag(raw.get("_destroy", False)) or _flag(raw.get("is_destroyed", False))

    def find_layouts(self, filters: Mapping[str, str]) -> list[Record]:
        """Layouts matching `name` (exact, observed), `slug`, `active` and `updated_at`."""
        checks = _text_checks(filters, ("name", "slug"))
        bounds = parse_range(filters["updated_at"]) if filters.get("updated_at") else None
        active = filters.get("active")
        return [
            r
            for r in self.layouts.values()
            if all(check(r) for check in checks)
            and (active is None or r["active"] == _flag(active))
            and (bounds is None or in_range(r["updated_at"], bounds))
        ]

    @staticmethod
    def layout_json(record: Record) -> Record:
        """A layout as the API shows it."""
        return {
            **{k: v for k, v in record.items() if k not in ("fields", "created_at", "updated_at")},
            "fields": [dict(f) for f in record["fields"]],
            "created_at": iso(record["created_at"]),
            "updated_at": iso(record["updated_at"]),
        }

    # -- assets (B3) ---------------------------------------------------------------------------------------------

    def asset(self, company_id: int, asset_id: int) -> Record:
        """An asset of a company; 404 if either is unknown or the asset belongs elsewhere."""
        self.company(company_id)
        record = self._get(self.assets, asset_id)
        if record["company_id"] != company_id:
            raise not_found()
        return record

    def create_asset(self, company_id: int, body: Mapping[str, Any]) -> Record:
        """Create an asset; 422 without a name, without an existing layout, or with bad custom fields."""
        self.company(company_id)
        name = (_text(body.get("name")) or "").strip()
        if not name:
            raise unprocessable("Name can't be blank")
        layout_id = _int_or_none(body.get("asset_layout_id"), "asset_layout_id")
        if layout_id is None or layout_id not in self.layouts:
            raise unprocessable("Asset layout must exist")
        values = self._custom_values(self.layouts[layout_id], body.get("custom_fields"))
        record_id = self._new_id("assets")
        stamp = self._stamp()
        record: Record = {key: None for key in ASSET_FIELDS}
        record.update({key: _text(body[key]) for key in ASSET_FIELDS if key in body}, name=name)
        record.update(id=record_id, company_id=company_id, asset_layout_id=layout_id, archived=False, cards=[])
        record.update(slug=self._slug("assets", name, record_id), created_at=stamp, updated_at=stamp)
        record["values"] = {k: v for k, v in values.items() if v is not None}
        self.assets[record_id] = record
        self.assets_by_company[company_id][record_id] = None
        return record

    def update_asset(self, company_id: int, asset_id: int, body: Mapping[str, Any]) -> Record:
        """Change an asset; sent `custom_fields` are merged into the stored values."""
        record = self.asset(company_id, asset_id)
        if "name" in body and not (_text(body["name"]) or "").strip():
            raise unprocessable("Name can't be blank")
        values = self._custom_values(self.layouts[record["asset_layout_id"]], body.get("custom_fields"))
        # UNCONFIRMED: an asset_layout_id in a PUT is ignored (moving layouts is PUT .../move_layout).
        record.update({key: _text(body[key]) for key in ASSET_FIELDS if key in body})
        record["name"] = record["name"].strip()
        for field_id, value in values.items():
            if value is None:
                record["values"].pop(field_id, None)
            else:
                record["values"][field_id] = value
        record["updated_at"] = self._stamp()
        return record

    def set_asset_archived(self, company_id: int, asset_id: int, archived: bool) -> Record:
        """Archive or unarchive an asset."""
        record = self.asset(company_id, asset_id)
        record.update(archived=archived, updated_at=self._stamp())
        return record

    def delete_asset(self, company_id: int, asset_id: int) -> None:
        """Delete an asset (and its relations)."""
        self.asset(company_id, asset_id)
        self.assets_by_company[company_id].pop(asset_id, None)
        self._drop_asset(asset_id)

    def _drop_asset(self, asset_id: int) -> None:
        self.assets.pop(asset_id, None)
        self._drop_relations("Asset", asset_id)

    def _custom_values(self, layout: Record, raw: Any) -> dict[int, Any]:
        """`custom_fields` (an array of single-key objects, B3) as {field id: stored value}."""
        if raw is None:
            return {}
        if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
            raise unprocessable(CUSTOM_FIELDS_SHAPE)
        index: dict[str, Record] = {}
        for field in layout["fields"]:
            index.setdefault(label_key(field["label"]), field)
            index.setdefault(loose_key(field["label"]), field)
        values: dict[int, Any] = {}
        for item in raw:
            for key, value in item.items():
                field = index.get(label_key(str(key))) or index.get(loose_key(str(key)))
                if field is None:
                    if self.strict_custom_fields:
                        raise unprocessable(f"custom field {key!r} matches no field of layout {layout['name']!r}")
                    continue
                if field["field_type"] != "Heading":
                    values[field["id"]] = coerce_value(field, value)
        return values

    def find_assets(self, filters: Mapping[str, str], *, company_id: int | None = None) -> list[Record]:
        """Assets matching the list filters (B3), in id order; `company_id` narrows by the company index."""
        archived = _flag(filters.get("archived", "false"))
        pool: Iterable[int] = self.assets.keys()
        if company_id is not None:
            pool = list(self.assets_by_company.get(company_id, {}))
        wanted = {key: _int_or_none(filters.get(key), key) for key in ("id", "asset_layout_id")}
        checks = _text_checks(filters, ("name", "primary_serial", "slug"))
        bounds = parse_range(filters["updated_at"]) if filters.get("updated_at") else None
        search = (filters.get("search") or "").lower()
        found = []
        for asset_id in pool:
            record = self.assets[asset_id]
            if record["archived"] != archived or not all(check(record) for check in checks):
                continue
            if any(value is not None and record[key] != value for key, value in wanted.items()):
                continue
            if bounds and not in_range(record["updated_at"], bounds):
                continue
            if search and search not in record["name"].lower():
                continue
            found.append(record)
        return sorted(found, key=lambda r: r["id"]) if company_id is not None else found

    def asset_json(self, record: Record) -> Record:
        """An asset as the API shows it: `fields` in layout order, only those with a value."""
        layout = self.layouts[record["asset_layout_id"]]
        company = self.companies[record["company_id"]]
        values = record["values"]
        fields = [
            {"id": f["id"], "label": f["label"], "value": values[f["id"]], "position": f["position"]}
            | {"field_type": f["field_type"]}
            for f in layout["fields"]
            if f["id"] in values
        ]
        url = f"/a/{record['slug']}"
        return {
            **{k: v for k, v in record.items() if k not in ("values", "created_at", "updated_at", "cards")},
            "company_name": company["name"],
            "object_type": "Asset",
            "asset_type": layout["name"],
            "url": self.base_url + url,
            "fields": fields,
            "cards": [dict(c) for c in record["cards"]],
            "created_at": iso(record["created_at"]),
            "updated_at": iso(record["updated_at"]),
        }

    # -- websites (B5) -------------------------------------------------------------------------------------------

    def website(self, website_id: int) -> Record:
        """A stored website; 404 if unknown."""
        return self._get(self.websites, website_id)

    def create_website(self, body: Mapping[str, Any]) -> Record:
        """Create a website; 422 without an existing company or with a name that is not a URL."""
        company_id = _int_or_none(body.get("company_id"), "company_id")
        if company_id is None or company_id not in self.companies:
            raise unprocessable("Company must exist")
        name = self._website_name(body.get("name"))
        record_id = self._new_id("websites")
        stamp = self._stamp()
        record: Record = {"id": record_id, "name": name, "company_id": company_id, "notes": None, "archived": False}
        record.update({key: False for key in WEBSITE_FLAGS}, slug=self._slug("websites", name, record_id))
        record.update(created_at=stamp, updated_at=stamp, discarded_at=None)
        self._apply_website(record, body)
        self.websites[record_id] = record
        return record

    def update_website(self, website_id: int, body: Mapping[str, Any]) -> Record:
        """Change a website; 422 if the new name is not a URL (observed)."""
        record = self.website(website_id)
        if "name" in body:
            record["name"] = self._website_name(body["name"])
        if "company_id" in body:
            company_id = _int_or_none(body["company_id"], "company_id")
            if company_id is None or company_id not in self.companies:
                raise unprocessable("Company must exist")
            record["company_id"] = company_id
        self._apply_website(record, body)
        record["updated_at"] = self._stamp()
        return record

    @staticmethod
    def _website_name(raw: Any) -> str:
        name = (_text(raw) or "").strip()
        if not URL.match(name):
            raise unprocessable("Name must be a valid URL (https://...)")
        return name

    @staticmethod
    def _apply_website(record: Record, body: Mapping[str, Any]) -> None:
        record.update({key: _flag(body[key]) for key in WEBSITE_FLAGS if key in body})
        if "notes" in body:
            record["notes"] = _text(body["notes"])
        if "archived" in body:
            record["archived"] = _flag(body["archived"])

    def delete_website(self, website_id: int) -> None:
        """Delete a website (and its relations)."""
        self.website(website_id)
        del self.websites[website_id]
        self._drop_relations("Website", website_id)

    def find_websites(self, filters: Mapping[str, str]) -> list[Record]:
        """Websites matching `name`, `slug`, `search`, `updated_at` (and `company_id`, UNCONFIRMED)."""
        checks = _text_checks(filters, ("name", "slug"))
        bounds = parse_range(filters["updated_at"]) if filters.get("updated_at") else None
        search = (filters.get("search") or "").lower()
        company_id = _int_or_none(filters.get("company_id"), "company_id")
        return [
            r
            for r in self.websites.values()
            if all(check(r) for check in checks)
            and (bounds is None or in_range(r["updated_at"], bounds))
            and (not search or search in r["name"].lower())
            and (company_id is None or r["company_id"] == company_id)
        ]

    def website_json(self, record: Record) -> Record:
        """A website as the API shows it (monitoring results are fixed: nothing is monitored)."""
        company = self.companies[record["company_id"]]
        return {
            **{k: v for k, v in record.items() if k not in ("created_at", "updated_at")},
            "company_name": company["name"],
            "account_id": 1,
            "url": f"{self.base_url}/websites/{record['slug']}",
            "asset_field_id": None,
            "code": None,
            "message": None,
            "keyword": None,
            "headers": None,
            "monitor_type": "http",
            "status": None,
            "monitoring_status": "pending",
            "refreshed_at": None,
            "monitored_at": None,
            "sent_notifications": False,
            "object_type": "Website",
            "icon": "fas fa-globe",
            "asset_type": "Website",
            "created_at": iso(record["created_at"]),
            "updated_at": iso(record["updated_at"]),
        }

    # -- relations (B6) ------------------------------------------------------------------------------------------

    def create_relation(self, body: Mapping[str, Any]) -> Record:
        """Create a relation and its inverse (B6); 422 for an unknown type or an end that does not exist."""
        ends = []
        for side in ("fromable", "toable"):
            kind = _text(body.get(f"{side}_type")) or ""
            end_id = _int_or_none(body.get(f"{side}_id"), f"{side}_id")
            if kind not in RELATABLE_TYPES:
                raise unprocessable(f"{side.capitalize()} type must be one of {', '.join(sorted(RELATABLE_TYPES))}")
            if end_id is None or self._relatable(kind, end_id) is None:
                raise unprocessable(f"{side.capitalize()} must exist")
            ends.append((kind, end_id))
        description = _text(body.get("description"))
        (from_type, from_id), (to_type, to_id) = ends
        forward = self._add_relation(from_type, from_id, to_type, to_id, description, inverse=False)
        self._add_relation(to_type, to_id, from_type, from_id, description, inverse=True)
        return forward

    def _add_relation(
        self, from_type: str, from_id: int, to_type: str, to_id: int, description: str | None, *, inverse: bool
    ) -> Record:
        record_id = self._new_id("relations")
        record: Record = {"id": record_id, "description": description, "is_inverse": inverse}
        record.update(fromable_type=from_type, fromable_id=from_id, toable_type=to_type, toable_id=to_id)
        self.relations[record_id] = record
        return record

    def delete_relation(self, relation_id: int) -> None:
        """Delete a relation and its inverse."""
        record = self._get(self.relations, relation_id)
        ends = {(record["fromable_type"], record["fromable_id"]), (record["toable_type"], record["toable_id"])}
        for other in list(self.relations.values()):
            if {(other["fromable_type"], other["fromable_id"]), (other["toable_type"], other["toable_id"])} == ends:
                del self.relations[other["id"]]

    def _drop_relations(self, kind: str, record_id: int) -> None:
        end = (kind, record_id)
        for other in list(self.relations.values()):
            if end in ((other["fromable_type"], other["fromable_id"]), (other["toable_type"], other["toable_id"])):
                del self.relations[other["id"]]

    def _relatable(self, kind: str, record_id: int) -> Record | None:
        table = {"Asset": self.assets, "Website": self.websites, "Company": self.companies}.get(kind)
        return None if table is None else table.get(record_id)

    def relation_json(self, record: Record) -> Record:
        """A relation as the API shows it (`name` is the target's name)."""
        target = self._relatable(record["toable_type"], record["toable_id"])
        return {
            **record,
            "name": target["name"] if target else None,
            "fromable_url": self._url_of(record["fromable_type"], record["fromable_id"]),
            "toable_url": self._url_of(record["toable_type"], record["toable_id"]),
        }

    def _url_of(self, kind: str, record_id: int) -> str | None:
        record = self._relatable(kind, record_id)
        if record is None:
            return None
        prefix = {"Asset": "a", "Website": "websites", "Company": "c"}[kind]
        return f"{self.base_url}/{prefix}/{record['slug']}"

    # -- the seeded dataset ----------------------------------------------------------------------------------------

    def load_seeded(self, extra_assets: int = 0) -> None:
        """Fill the instance with the seeded dataset (see `dataset`); timestamps start at `SEED_START`."""
        clock = self.now
        self.now = lambda: dataset.SEED_START
        try:
            layouts = {body["name"]: self.create_layout(body) for body in dataset.LAYOUTS}
            companies = [self.create_company(body) for body in dataset.COMPANIES]
            for item in dataset.seed_assets(self.seed, extra_assets):
                body = {**item.body, "asset_layout_id": layouts[item.layout]["id"]}
                self.create_asset(companies[item.company]["id"], body)
            for index, body in dataset.seed_websites():
                self.create_website({**body, "company_id": companies[index]["id"]})
        finally:
            self.now = clock


def _text_checks(filters: Mapping[str, str], keys: Iterable[str]) -> list[Callable[[Record], bool]]:
    """Exact, case-insensitive matches for the text filters present (UNCONFIRMED: case-insensitive)."""
    checks: list[Callable[[Record], bool]] = []
    for key in keys:
        wanted = filters.get(key)
        if wanted:
            checks.append(_equals_ignoring_case(key, wanted))
    return checks


def _equals_ignoring_case(key: str, wanted: str) -> Callable[[Record], bool]:
    lowered = wanted.lower()

    def check(record: Record) -> bool:
        return str(record.get(key) or "").lower() == lowered

    return check


def _in_integration(record: Record, external_id: str) -> bool:
    return any(external_id in (str(i.get("sync_id")), str(i.get("identifier"))) for i in record["integrations"])
