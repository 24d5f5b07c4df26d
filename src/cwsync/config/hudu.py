"""Configuration of the ConnectWise → Hudu documentation sync (HU-1 … HU-5): `connections.hudu` and `syncs.hudu`.

::

    connections:
      hudu: {base_url: https://acme.huducloud.com, api_key: "${HUDU_API_KEY}"}
    syncs:
      hudu:
        skip: [agreements]                       # data types not to import
        skip_company_types: [Prospect]
        skip_configuration_types: [Domain Name]
        layouts:
          contacts: People
          locations: Locations
          configurations: Configurations       # the default layout: types no sort rule names
          agreements: Agreements
          sort_rules:                           # first matching rule wins
            - {types: [Managed Workstation, Laptop], layout: Computer}
        auto_update_asset_names: false
        update_company_details: true
        match_assets_on_serial: true
        connected_fields:                       # ConnectWise fields → layout custom fields (HU-3)
          configurations:
            - {connectwise: customFields/Tier, hudu: Tier}
            - {connectwise: vendor/name, hudu: Vendor}
        schedule: {every_hours: 3, incremental_minutes: 15}

Layout names are checked against Hudu when the sync connects (`cwsync hudu test`), not here: the file cannot know
which layouts an instance has.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "CONNECTWISE_FIELDS",
    "DATA_TYPES",
    "ConnectedField",
    "ConnectedFields",
    "DataType",
    "HuduConnection",
    "HuduDeletePolicy",
    "HuduLayouts",
    "HuduSchedule",
    "HuduSync",
    "SortRule",
]

DataType = Literal["companies", "contacts", "sites", "configurations", "agreements"]
DATA_TYPES: tuple[DataType, ...] = ("companies", "sites", "contacts", "configurations", "agreements")
"""Every data type, in the order a run syncs them (sites first: contacts and configurations point at them)."""

CALLBACK_DATA_TYPES: dict[str, DataType] = {
    "company": "companies",
    "contact": "contacts",
    "configuration": "configurations",
    "agreement": "agreements",
}
"""ConnectWise callback types that re-sync a data type into Hudu (sites have no callback: the schedule brings them)."""


HuduDeletePolicy = Literal["archive", "ignore", "unlink"]
HUDU_DELETE_POLICIES: tuple[HuduDeletePolicy, ...] = ("archive", "ignore", "unlink")
"""What a ConnectWise deletion can do in Hudu (`config.vocabulary.DeletePolicy`, narrowed)."""

AssetType = Literal["contacts", "sites", "configurations", "agreements"]

_FIELD_NAMES: dict[AssetType, str] = {
    "contacts": "id firstName lastName company site addressLine1 addressLine2 city state zip country"
    " relationship relationshipOverride department inactiveFlag securityIdentifier managerContact"
    " assistantContact title school nickName marriedFlag childrenFlag children significantOther"
    " portalSecurityLevel disablePortalLoginFlag unsubscribeFlag gender birthDay anniversary presence"
    " facebookUrl twitterUrl linkedInUrl defaultPhoneType defaultPhoneNbr defaultPhoneExtension"
    " defaultBillingFlag defaultFlag companyLocation communicationItems types typeIds integratorTags",
    "sites": "id name addressLine1 addressLine2 city stateReference zip country addressFormat phoneNumber"
    " phoneNumberExt faxNumber taxCode entityType expenseReimbursement primaryAddressFlag defaultShippingFlag"
    " defaultBillingFlag defaultMailingFlag inactiveFlag billSeparateFlag calendar timeZone company",
    "configurations": "id name type status company contact site locationId location businessUnitId department"
    " deviceIdentifier serialNumber modelNumber tagNumber purchaseDate installationDate installedBy"
    " warrantyExpirationDate vendorNotes notes macAddress lastLoginName billFlag backupSuccesses"
    " backupIncomplete backupFailed backupRestores lastBackupDate backupServerName backupBillableSpaceGb"
    " backupProtectedDeviceList backupYear backupMonth ipAddress defaultGateway osType osInfo cpuSpeed ram"
    " localHardDrives parentConfigurationId vendor manufacturer questions activeFlag managementLink"
    " remoteLink sla displayVendorFlag companyLocationId showRemoteFlag showAutomateFlag needsRenewalFlag"
    " manufacturerPartNumber",
    "agreements": "id name type company contact site subContractCompany subContractContact parentAgreement"
    " customerPO location department opportunity startDate endDate noEndingDateFlag cancelledFlag"
    " dateCancelled reasonCancelled sla workOrder internalNotes applicationUnits applicationLimit"
    " applicationCycle applicationUnlimitedFlag oneTimeFlag coverAgreementTime coverAgreementProduct"
    " coverAgreementExpense coverSalesTax carryOverUnused allowOverruns expiredDays limit expireWhenZero"
    " chargeToFirm billingCycle billingTerms billToCompany billToContact billToSite billAmount taxable"
    " prorateFirstBill billStartDate taxCode workRole workType projectType invoiceTemplate billTime"
    " billExpenses billProducts currency periodType autoInvoiceFlag nextInvoiceDate companyLocation"
    " shipToCompany shipToContact shipToSite agreementStatus",
}
CONNECTWISE_FIELDS: dict[AssetType, frozenset[str]] = {
    kind: frozenset(names.split()) for kind, names in _FIELD_NAMES.items()
}
"""The top-level fields of the ConnectWise records each asset data type reads (REST API 3.0), for connected fields."""
CUSTOM_PREFIX = "customFields/"
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class HuduConnection(_Model):
    """A Hudu instance and its API key (Admin → Basic Information → API Keys)."""

    base_url: str = Field(min_length=1, description="the instance URL, e.g. https://acme.huducloud.com")
    api_key: SecretStr
    requests_per_minute: int = Field(280, ge=1, description="Hudu allows 300 a minute; keep a little headroom")
    max_concurrency: int = Field(4, ge=1, le=32)
    timeout: float = Field(30.0, gt=0)


class SortRule(_Model):
    """ConnectWise configuration types → the Hudu asset layout their configurations go into."""

    types: list[str] = Field(min_length=1, alias="type")
    layout: str = Field(min_length=1)

    @field_validator("types", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    def covers(self, configuration_type: str) -> bool:
        """Whether this rule names the type (case-insensitive)."""
        wanted = configuration_type.strip().lower()
        return any(t.strip().lower() == wanted for t in self.types)


class HuduLayouts(_Model):
    """Which asset layout each data type goes into (they must exist and be active in Hudu)."""

    contacts: str = Field("People", min_length=1)
    locations: str = Field("Locations", min_length=1)
    configurations: str = Field("Configurations", min_length=1, description="default layout: types no rule names")
    agreements: str = Field("Agreements", min_length=1)
    sort_rules: list[SortRule] = Field(default_factory=list)

    def for_configuration(self, configuration_type: str) -> str:
        """The layout a configuration of this type goes into: the first rule naming it, else the default."""
        for rule in self.sort_rules:
            if rule.covers(configuration_type):
                return rule.layout
        return self.configurations

    def names(self, types: set[DataType]) -> list[str]:
        """Every layout name the enabled data types use, each once, in a stable order."""
        wanted: list[str] = []
        if "contacts" in types:
            wanted.append(self.contacts)
        if "sites" in types:
            wanted.append(self.locations)
        if "configurations" in types:
            wanted.extend([self.configurations, *(rule.layout for rule in self.sort_rules)])
        if "agreements" in types:
            wanted.append(self.agreements)
        return list(dict.fromkeys(wanted))


class ConnectedField(_Model):
    """A ConnectWise field (standard, by path, or custom, by caption) shown in a layout's custom field (HU-3)."""

    connectwise: str = Field(min_length=1, description="`customFields/<caption>`, or a path such as `vendor/name`")
    hudu: str = Field(min_length=1, max_length=255, description="the layout field's label (created when missing)")
    field_type: Literal["Text", "RichText", "Number", "Date", "CheckBox", "Email", "Phone", "Website"] = "Text"
    show_in_list: bool = Field(True, description="a created field shows in Hudu's list views")

    @property
    def caption(self) -> str | None:
        """The custom field's caption, or None for a standard field."""
        return self.connectwise[len(CUSTOM_PREFIX) :] if self.connectwise.startswith(CUSTOM_PREFIX) else None


def _path_of(kind: AssetType) -> Callable[[ConnectedField], ConnectedField]:
    """The check of one data type's connected field (an error is reported at that entry's line)."""

    def check(entry: ConnectedField) -> ConnectedField:
        _check_path(kind, entry)
        return entry

    return check


def _check_path(kind: AssetType, entry: ConnectedField) -> None:
    """Raise ValueError naming the field when the path cannot name a field of the data type's records."""
    if entry.caption is not None:
        if not entry.caption.strip():
            raise ValueError(f"{kind}: {entry.connectwise!r}: name the custom field's caption after customFields/")
        return
    parts = entry.connectwise.split("/")
    if not all(_SEGMENT.fullmatch(p) for p in parts):
        raise ValueError(f"{kind}: {entry.connectwise!r} is not a field path (e.g. vendor/name or customFields/Tier)")
    known = CONNECTWISE_FIELDS[kind]
    if parts[0] not in known:
        raise ValueError(
            f"ConnectWise {kind} have no field {parts[0]!r}{_close(parts[0], known)}: name a field of the record"
            " (a path such as type/name) or a custom field as customFields/<caption>"
        )


def _close(name: str, known: frozenset[str]) -> str:
    near = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


class ConnectedFields(_Model):
    """Per asset data type, the ConnectWise fields connected to layout custom fields (HU-3)."""

    contacts: list[Annotated[ConnectedField, AfterValidator(_path_of("contacts"))]] = Field(default_factory=list)
    sites: list[Annotated[ConnectedField, AfterValidator(_path_of("sites"))]] = Field(default_factory=list)
    configurations: list[Annotated[ConnectedField, AfterValidator(_path_of("configurations"))]] = Field(
        default_factory=list
    )
    agreements: list[Annotated[ConnectedField, AfterValidator(_path_of("agreements"))]] = Field(default_factory=list)

    @field_validator("contacts", "sites", "configurations", "agreements")
    @classmethod
    def _labels_once(cls, entries: list[ConnectedField]) -> list[ConnectedField]:
        labels = [e.hudu.strip().lower() for e in entries]
        twice = sorted({label for label in labels if labels.count(label) > 1})
        if twice:
            raise ValueError(f"the Hudu field {twice[0]!r} is connected twice")
        return entries

    def of(self, kind: DataType) -> list[ConnectedField]:
        """The connected fields of a data type (none for companies)."""
        found: list[ConnectedField] = getattr(self, kind, []) if kind != "companies" else []
        return found


class HuduSchedule(_Model):
    """How often `cwsync serve` re-syncs: a full re-sync every `every_hours` (Hudu's own integrations: every 3 hours),
    which also re-creates assets deleted in Hudu and finds records deleted in ConnectWise; between them, every
    `incremental_minutes`, a quick one that reads only what changed in ConnectWise since its cursor (null: none)."""

    every_hours: float = Field(3, gt=0)
    incremental_minutes: float | None = Field(15, gt=0)


class HuduSync(_Model):
    """ConnectWise → Hudu IT documentation (one way; ConnectWise is the source)."""

    enabled: bool = True
    skip: list[DataType] = Field(default_factory=list, description="data types not to import")
    skip_company_types: list[str] = Field(default_factory=list)
    skip_configuration_types: list[str] = Field(default_factory=list)
    layouts: HuduLayouts = Field(default_factory=HuduLayouts)
    create_missing_layouts: bool = Field(False, description="create a missing layout with cwsync's default fields")
    auto_update_asset_names: bool = Field(False, description="rename the Hudu asset when ConnectWise renames it")
    update_company_details: bool = Field(True, description="false: never change a company's details in Hudu")
    match_assets_on_serial: bool = Field(False, description="link a Hudu asset with the same primary serial")
    connected_fields: ConnectedFields = Field(
        default_factory=ConnectedFields, description="ConnectWise fields shown in the layouts' custom fields"
    )
    schedule: HuduSchedule = Field(default_factory=HuduSchedule)
    on_delete: dict[DataType, HuduDeletePolicy] = Field(
        default_factory=dict,
        description="when a ConnectWise record is deleted (found by callbacks and replays): archive its Hudu company"
        " or asset; ignore (the link kept, marked, no longer synced; the default); or unlink (the link dropped,"
        " the Hudu record left as it is). One policy for every data type, or one per data type",
    )

    mass_delete_share: float = Field(
        0.9, gt=0, le=1, description="deletions that would archive, mark or unlink more than this share stop"
    )

    @field_validator("on_delete", mode="before")
    @classmethod
    def _one_policy_or_each(cls, value: object) -> object:
        """`on_delete: archive` is that policy for every data type; a mapping names data types (the rest: ignore).
        A policy Hudu cannot carry out is refused naming the ones it can."""
        given = {"": value} if isinstance(value, str) else value if isinstance(value, dict) else {}
        for kind, policy in given.items():
            if policy not in HUDU_DELETE_POLICIES:
                raise ValueError(
                    f"{f'{kind}: ' if kind else ''}on_delete {policy!r} is not a policy Hudu can carry out; use one of"
                    f" {', '.join(HUDU_DELETE_POLICIES)} (Hudu archives rather than deletes, and its archive is"
                    " its flag)"
                )
            if policy == "unlink" and kind == "companies":
                raise ValueError(
                    "companies: on_delete 'unlink' is not offered for Hudu companies (a company is linked by its match"
                    " decision, and one that came back would collide with the Hudu company left behind); use archive"
                    " or ignore"
                )
        if isinstance(value, str):  # one policy for all; companies cannot unlink, so they keep theirs (ignore)
            return {kind: value for kind in DATA_TYPES if not (kind == "companies" and value == "unlink")}
        return value

    def on_delete_of(self, kind: DataType) -> HuduDeletePolicy:
        """The deletion policy of one data type (`ignore` unless configured)."""
        return self.on_delete.get(kind, "ignore")

    @model_validator(mode="after")
    def _companies_needed(self) -> HuduSync:
        if "companies" in self.skip and len(set(self.skip)) < len(DATA_TYPES):
            raise ValueError("companies cannot be skipped while other data types sync: everything hangs off them")
        return self

    def data_types(self) -> list[DataType]:
        """The enabled data types, in sync order."""
        return [t for t in DATA_TYPES if t not in self.skip]

    def skips_company_type(self, type_names: list[str]) -> str | None:
        """The first of a company's types that is skipped, or None."""
        skipped = {t.strip().lower() for t in self.skip_company_types}
        return next((name for name in type_names if name.strip().lower() in skipped), None)

    def skips_configuration_type(self, type_name: str) -> bool:
        """Whether configurations of this type are left out."""
        return type_name.strip().lower() in {t.strip().lower() for t in self.skip_configuration_types}
