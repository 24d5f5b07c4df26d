"""ConnectWise Manage response schemas, written from the published spec (facts only: names, types, required, enums).

Source: the OpenAPI document "Connectwise Manage Public Endpoints" version 2025.8, read through the Go client
generated from it, `ai-connor/connectwise` @ a3f48015240291288fc85ef2dc18b066e4ef082a (`model_*.go`: a field is
required where its JSON tag has no `omitempty`; `api_*.go`: what each route takes and answers). The spec's enums do
not survive in Go, so they come from `pyconnectwise` 0.6.1.2 (`models/manage/__init__.py`, generated from an older
ConnectWise spec); where the two differ it is said. Required fields are checked on records the API answers with,
except `Member.lastName`, which API members lack on the real API (api-notes §5.8, pyconnectwise#26).

Every model allows unknown fields (the API adds fields with each release) and checks types strictly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

Number = StrictInt | StrictFloat
Info = dict[str, StrictStr]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


# -- references (`*Reference`: every field optional) --------------------------------------------------------------


class Reference(_Model):
    """The plain reference: ContactReference, SiteReference, BoardReference, CompanyTypeReference, ..."""

    id: StrictInt | None = None
    name: StrictStr | None = None
    info: Info | None = Field(None, alias="_info")


class CompanyReference(Reference):
    identifier: StrictStr | None = None


class MemberReference(Reference):
    identifier: StrictStr | None = None
    dailyCapacity: Number | None = None


class ServiceStatusReference(Reference):
    sort: StrictInt | None = None


class PriorityReference(Reference):
    sort: StrictInt | None = None
    level: StrictStr | None = None


class IvItemReference(Reference):
    """The catalog item of a forecast line (no `name`)."""

    identifier: StrictStr | None = None
    serializedFlag: StrictBool | None = None


class ScheduleTypeReference(Reference):
    identifier: StrictStr | None = None


# -- records ------------------------------------------------------------------------------------------------------


class CustomFieldValue(_Model):
    id: StrictInt | None = None
    caption: StrictStr | None = None
    type: (
        Literal[
            "TextArea",
            "Button",
            "Currency",
            "Date",
            "Hyperlink",
            "IPAddress",
            "Checkbox",
            "Number",
            "Percent",
            "Text",
            "Password",
        ]
        | None
    ) = None
    entryMethod: Literal["Date", "EntryField", "List", "Option"] | None = None
    numberOfDecimals: StrictInt | None = None


class Company(_Model):
    """`Company`; required: identifier, name. `country` is a CountryReference."""

    id: StrictInt
    identifier: StrictStr
    name: StrictStr
    status: Reference | None = None
    types: list[Reference] | None = None
    addressLine1: StrictStr | None = None
    addressLine2: StrictStr | None = None
    city: StrictStr | None = None
    state: StrictStr | None = None
    zip: StrictStr | None = None
    country: CompanyReference | None = None
    phoneNumber: StrictStr | None = None
    website: StrictStr | None = None
    site: Reference | None = None
    defaultContact: Reference | None = None
    deletedFlag: StrictBool | None = None
    customFields: list[CustomFieldValue] | None = None


class CompanySite(_Model):
    """`CompanySite`; required: name."""

    id: StrictInt
    name: StrictStr
    stateReference: CompanyReference | None = None
    primaryAddressFlag: StrictBool | None = None
    inactiveFlag: StrictBool | None = None
    company: CompanyReference | None = None


class ContactCommunicationItem(_Model):
    id: StrictInt | None = None
    type: Reference | None = None
    value: StrictStr | None = None
    defaultFlag: StrictBool | None = None
    communicationType: Literal["Email", "Fax", "Phone"] | None = None


class Contact(_Model):
    """`Contact`: no required field."""

    id: StrictInt
    firstName: StrictStr | None = None
    lastName: StrictStr | None = None
    company: CompanyReference | None = None
    site: Reference | None = None
    inactiveFlag: StrictBool | None = None
    defaultFlag: StrictBool | None = None
    gender: Literal["Female", "Male"] | None = None
    communicationItems: list[ContactCommunicationItem] | None = None
    customFields: list[CustomFieldValue] | None = None


class CompanyConfiguration(_Model):
    """`CompanyConfiguration`; required: name, type, company."""

    id: StrictInt
    name: StrictStr
    type: Reference
    company: CompanyReference
    status: Reference | None = None
    contact: Reference | None = None
    serialNumber: StrictStr | None = None
    activeFlag: StrictBool | None = None
    manufacturer: Reference | None = None


class Agreement(_Model):
    """`Agreement`; required: name, type, company, contact."""

    id: StrictInt
    name: StrictStr
    type: Reference
    company: CompanyReference
    contact: Reference
    agreementStatus: Literal["Active", "Cancelled", "Expired", "Inactive"] | None = None
    applicationUnits: Literal["Amount", "Hours", "Incidents"] | None = None
    billTime: Literal["Billable", "DoNotBill", "NoCharge", "NoDefault"] | None = None
    billExpenses: Literal["Billable", "DoNotBill", "NoCharge", "NoDefault"] | None = None
    billProducts: Literal["Billable", "DoNotBill", "NoCharge", "NoDefault"] | None = None


class AgreementType(_Model):
    """`AgreementType`; required: name and (nullable) employeeCompRate, employeeCompNotExceed, invoicingCycle,
    billTime, billExpenses, billProducts."""

    id: StrictInt
    name: StrictStr
    employeeCompRate: Literal["Actual", "Hourly"] | None
    employeeCompNotExceed: Literal["Billing", "Amount", "Percent"] | None
    invoicingCycle: Literal["ContractYear", "CalendarYear"] | None
    billTime: Literal["Billable", "DoNotBill", "NoCharge", "NoDefault"] | None
    billExpenses: Literal["Billable", "DoNotBill", "NoCharge", "NoDefault"] | None
    billProducts: Literal["Billable", "DoNotBill", "NoCharge", "NoDefault"] | None


class Opportunity(_Model):
    """`Opportunity`; required: name, primarySalesRep, company, contact. `contact` is checked as optional: the
    emulator's dataset leaves it off opportunities of companies without a contact to give (a known difference,
    docs/sandbox.md). `closedBy` is a MemberReference."""

    id: StrictInt
    name: StrictStr
    primarySalesRep: MemberReference
    company: CompanyReference
    contact: Reference | None = None
    status: Reference | None = None
    stage: Reference | None = None
    type: Reference | None = None
    expectedCloseDate: StrictStr | None = None
    closedDate: StrictStr | None = None
    closedBy: MemberReference | None = None
    notes: StrictStr | None = None


class ForecastItem(_Model):
    """`ForecastItem`; required: opportunity, status, forecastType."""

    id: StrictInt
    opportunity: Reference
    status: Reference
    forecastType: Literal["Other1", "Other2", "Agreement", "Product", "Service"]
    catalogItem: IvItemReference | None = None
    forecastDescription: StrictStr | None = None
    quantity: Number | None = None
    revenue: Number | None = None
    cost: Number | None = None
    sequenceNumber: Number | None = None
    recurringFlag: StrictBool | None = None


class Forecast(_Model):
    """`Forecast`: what POST …/forecast answers (GET answers an array of them). No required field; `forecastItems`
    is what cwsync reads."""

    id: StrictInt | None = None
    forecastItems: list[ForecastItem]
    recurringTotal: Number | None = None


class CatalogItem(_Model):
    """`CatalogItem`; required: identifier, description, subcategory, type, customerDescription. The billing
    period is `recurringBillCycle` (BillingCycleReference); `recurringCycleType` is ContractYear | CalendarYear."""

    id: StrictInt
    identifier: StrictStr
    description: StrictStr
    subcategory: Reference
    type: Reference
    customerDescription: StrictStr
    inactiveFlag: StrictBool | None = None
    productClass: Literal["Agreement", "Bundle", "Inventory", "NonInventory", "Service"] | None = None
    priceAttribute: Literal["FixedFee", "NotToExceed", "OverrideRate", "TimeAndMaterials"] | None = None
    price: Number | None = None
    cost: Number | None = None
    category: Reference | None = None
    manufacturer: Reference | None = None
    vendor: CompanyReference | None = None
    recurringFlag: StrictBool | None = None
    recurringBillCycle: Reference | None = None
    recurringCycleType: Literal["ContractYear", "CalendarYear"] | None = None


class Ticket(_Model):
    """`Ticket`; required: summary, company. `closedBy` is a string on tickets."""

    id: StrictInt
    summary: StrictStr
    company: CompanyReference
    recordType: Literal["ServiceTicket", "ProjectTicket", "ProjectIssue"] | None = None
    board: Reference | None = None
    status: ServiceStatusReference | None = None
    priority: PriorityReference | None = None
    owner: MemberReference | None = None
    contact: Reference | None = None
    closedFlag: StrictBool | None = None
    closedBy: StrictStr | None = None
    severity: Literal["Low", "Medium", "High"] | None = None
    impact: Literal["Low", "Medium", "High"] | None = None


class ServiceNote(_Model):
    """`ServiceNote`: no required field."""

    id: StrictInt
    ticketId: StrictInt | None = None
    text: StrictStr | None = None
    detailDescriptionFlag: StrictBool | None = None
    internalAnalysisFlag: StrictBool | None = None
    resolutionFlag: StrictBool | None = None
    member: MemberReference | None = None


class BoardStatus(_Model):
    """`BoardStatus`; required: name. `inactive` (not inactiveFlag), `closedStatus`."""

    id: StrictInt
    name: StrictStr
    board: Reference | None = None
    sortOrder: StrictInt | None = None
    inactive: StrictBool | None = None
    closedStatus: StrictBool | None = None
    defaultFlag: StrictBool | None = None
    escalationStatus: Literal["NotResponded", "Responded", "ResolutionPlan", "Resolved", "NoEscalation"] | None = None


class Member(_Model):
    """`Member`; required: identifier, licenseClass, firstName, lastName (see the module note), hireDate,
    defaultEmail, defaultPhone, securityRole. The three invoicing options are optional in 2025.8 and required (with
    these enums) in pyconnectwise's older spec."""

    id: StrictInt
    identifier: StrictStr
    licenseClass: Literal["A", "C", "F", "X"] | None
    firstName: StrictStr
    lastName: StrictStr | None = None
    hireDate: StrictStr
    defaultEmail: Literal["Office", "Mobile", "Home"] | None
    defaultPhone: Literal["Office", "Mobile", "Home"] | None
    securityRole: Reference
    primaryEmail: StrictStr | None = None
    inactiveFlag: StrictBool | None = None
    agreementInvoicingDisplayOptions: Literal["RemainOnInvoicingScreen", "ShowRecentInvoices"] | None = None
    invoiceScreenDefaultTabFormat: Literal["ShowInvoicingTab", "ShowAgreementInvoicingTab"] | None = None
    invoicingDisplayOptions: Literal["RemainOnInvoicingScreen", "ShowRecentInvoices"] | None = None


class ScheduleEntry(_Model):
    """`ScheduleEntry`; required: type (ScheduleTypeReference)."""

    id: StrictInt
    type: ScheduleTypeReference
    objectId: StrictInt | None = None
    member: MemberReference | None = None
    dateStart: StrictStr | None = None
    dateEnd: StrictStr | None = None
    doneFlag: StrictBool | None = None


class TimeEntry(_Model):
    """`TimeEntry`; required: timeStart."""

    id: StrictInt
    timeStart: StrictStr
    chargeToId: StrictInt | None = None
    chargeToType: Literal["ServiceTicket", "ProjectTicket", "ChargeCode", "Activity"] | None = None
    member: MemberReference | None = None
    billableOption: Literal["Billable", "DoNotBill", "NoCharge", "NoDefault"] | None = None
    status: (
        Literal[
            "Open",
            "Rejected",
            "PendingApproval",
            "ErrorsCorrected",
            "PendingProjectApproval",
            "ApprovedByTierOne",
            "RejectBySecondTier",
            "ApprovedByTierTwo",
            "ReadyToBill",
            "Billed",
            "WrittenOff",
            "BilledAgreement",
        ]
        | None
    ) = None


class CallbackEntry(_Model):
    """`CallbackEntry`; required: url, objectId (nullable), type, level."""

    id: StrictInt
    url: StrictStr
    objectId: StrictInt | None
    type: StrictStr
    level: StrictStr
    inactiveFlag: StrictBool | None = None


class Count(_Model):
    count: StrictInt


class LicenseBit(_Model):
    name: StrictStr | None = None
    activeFlag: StrictBool | None = None


class SystemInfo(_Model):
    """`Info` (GET /system/info)."""

    version: StrictStr | None = None
    isCloud: StrictBool | None = None
    serverTimeZone: StrictStr | None = None
    licenseBits: list[LicenseBit] | None = None
    cloudRegion: StrictStr | None = None


class ValidationError(_Model):
    code: StrictStr | None = None
    message: StrictStr | None = None
    resource: StrictStr | None = None
    field: StrictStr | None = None


class ErrorResponseMessage(_Model):
    """The error body of every refusal but 429 (api-notes §3)."""

    code: StrictStr
    message: StrictStr
    errors: list[ValidationError] | None


class CompanyInfo(_Model):
    """`GET /login/companyinfo/{id}` (DG, not in the spec): Codebase ends in `/`, IsCloud is a string."""

    CompanyName: StrictStr
    Codebase: StrictStr
    VersionCode: StrictStr
    CompanyID: StrictStr
    IsCloud: Literal["True", "False"]
