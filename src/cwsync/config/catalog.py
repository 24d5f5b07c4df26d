"""Configuration of the product catalog sync and the quote → opportunity workflow (SB-1 … SB-6): `syncs.catalog`.

::

    syncs:
      catalog:
        target: hubspot
        categories: {Hardware: Hardware, Software: Software}        # ConnectWise category → HubSpot value
        subcategories: {Laptops: Laptops}
        product_types: {Hardware: Hardware, Service: Service}
        product_statuses: {Active: active, Inactive: archive}      # active | archive | skip | <custom value>
        status_field: null                                         # a catalog custom field holding a custom status
        product_terms: {Monthly: P1M, Yearly: P12M}                # recurringBillCycle name → hs_…billing_period
        default_product_type: Other
        default_category: Uncategorized
        shipping_product: SHIP-GROUND                              # a ConnectWise catalog identifier
        company_type_priority: [Customer, Prospect, Partner, Vendor]
        opportunity_statuses: {Open: Open, Won: Won, Lost: Lost}   # quote-side status → ConnectWise status name
        quote_deal_stage: closedwon                                # HubSpot deal stage that submits the quote
        primary_sales_rep: Admin1                                  # ConnectWise member identifier
        schedule: {every_minutes: 60}

Every mapping is read when a product is synced, so a change affects future syncs only (what HubSpot holds stays until
the product changes or `cwsync catalog sync --full` runs). Names compare case-insensitively.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DEFAULT_COMPANY_TYPE_PRIORITY",
    "STATUS_ACTIONS",
    "CatalogSchedule",
    "CatalogSync",
    "lookup",
]

DEFAULT_COMPANY_TYPE_PRIORITY: tuple[str, ...] = (
    "Customer",
    "Prospect",
    "Partner",
    "Reseller",
    "Vendor",
    "Subcontractor",
    "Former Customer",
    "Competitor",
    "Owner",
)
"""The seeds' example order: a company that is both Customer and Prospect imports as Customer (SB-2)."""

STATUS_ACTIONS = ("active", "archive", "skip")
"""Product status targets with a meaning of their own; any other value is kept as a custom HubSpot status."""


def lookup(mapping: Mapping[str, str], key: str | None) -> str | None:
    """`mapping[key]` compared case-insensitively (None when the key is absent or unmapped)."""
    if key is None:
        return None
    wanted = key.strip().lower()
    return next((v for k, v in mapping.items() if k.strip().lower() == wanted), None)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CatalogSchedule(_Model):
    """How often `cwsync serve` re-syncs the catalog incrementally (callbacks bring single products sooner)."""

    every_minutes: float = Field(60, gt=0)


class CatalogSync(_Model):
    """ConnectWise procurement catalog → HubSpot products, and quotes → ConnectWise opportunities."""

    enabled: bool = True
    target: Literal["hubspot"] = "hubspot"
    categories: dict[str, str] = Field(default_factory=dict, description="ConnectWise category → HubSpot category")
    subcategories: dict[str, str] = Field(default_factory=dict)
    product_types: dict[str, str] = Field(default_factory=dict)
    product_statuses: dict[str, str] = Field(
        default_factory=lambda: {"Active": "active", "Inactive": "archive"},
        description="ConnectWise status (Active, Inactive or a custom one) → active | archive | skip | custom value",
    )
    status_field: str | None = Field(None, description="catalog custom field whose value is a custom status")
    product_terms: dict[str, str] = Field(
        default_factory=lambda: {"Monthly": "P1M", "Quarterly": "P3M", "Yearly": "P12M", "Annually": "P12M"}
    )
    default_product_type: str = Field("Other", min_length=1)
    default_category: str = Field("Uncategorized", min_length=1)
    shipping_product: str | None = Field(None, description="ConnectWise catalog identifier of the shipping product")
    company_type_priority: list[str] = Field(default_factory=lambda: list(DEFAULT_COMPANY_TYPE_PRIORITY))
    opportunity_statuses: dict[str, str] = Field(
        default_factory=lambda: {"Open": "Open", "Won": "Won", "Lost": "Lost"},
        description="quote-side opportunity status → ConnectWise opportunity status name",
    )
    quote_opportunity_status: str = Field("Won", description="the quote-side status an approved quote carries")
    quote_deal_stage: str = Field("closedwon", description="HubSpot deal stage id that turns a deal into a quote")
    primary_sales_rep: str | None = Field(None, description="ConnectWise member identifier (default: the API member)")
    on_delete: Literal["archive", "flag", "ignore", "unlink"] = Field(
        "archive",
        description="when a catalog item is deleted in ConnectWise (found by callbacks and replays): archive its"
        " HubSpot product; flag it (`cw_deleted` set, the link kept and no longer synced); ignore (the link kept,"
        " marked, no longer synced); or unlink (the link dropped, the product left as it is)",
    )
    mass_delete_share: float = Field(
        0.9, gt=0, le=1, description="deletions that would archive, flag, mark or unlink more than this share stop"
    )
    schedule: CatalogSchedule = Field(default_factory=CatalogSchedule)

    @field_validator("product_statuses")
    @classmethod
    def _statuses_named(cls, value: dict[str, str]) -> dict[str, str]:
        for status, target in value.items():
            if not status.strip() or not target.strip():
                raise ValueError(f"product_statuses: empty status or target in {status!r}: {target!r}")
        return value

    @field_validator("company_type_priority")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        seen = [v.strip().lower() for v in value]
        if len(seen) != len(set(seen)):
            raise ValueError("company_type_priority names a type twice")
        return value

    def status_target(self, status: str) -> str:
        """What a product with this ConnectWise status becomes (unmapped: active when `Active`, else skip)."""
        found = lookup(self.product_statuses, status)
        if found is not None:
            return found
        return "active" if status.strip().lower() == "active" else "skip"

    def opportunity_status(self, quote_status: str) -> str:
        """The ConnectWise opportunity status name for a quote-side status (unmapped: the same name)."""
        return lookup(self.opportunity_statuses, quote_status) or quote_status
