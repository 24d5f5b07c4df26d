"""The quote document (SB-5) and the pure part of quote → opportunity: lines, totals, and the diff to what is stored.

A quote comes from any quoting tool (REST, CLI) or from a HubSpot deal. Once its company, contact and products are
resolved in ConnectWise (`workflow.py`), `plan_quote` says what to write: a new opportunity with one forecast item
per line plus shipping, or, for a quote seen before (same external id), which lines to keep, replace, add or remove
on the same opportunity.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "QUOTES_PAIR",
    "LineChange",
    "PlannedLine",
    "Quote",
    "QuoteLine",
    "QuotePlan",
    "QuoteRefused",
    "plan_quote",
]

QUOTES_PAIR = "quotes"
"""Store pair: left id = external quote id, right id = ConnectWise opportunity id; refusals are its run items."""

QuoteStatus = Literal["draft", "sent", "approved", "ordered", "declined", "expired"]
APPROVED: frozenset[str] = frozenset({"approved", "ordered"})


class QuoteRefused(Exception):
    """A quote that cannot become an opportunity; nothing was written. `code` names the case, `reason` explains."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code, self.reason = code, reason


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QuoteLine(_Doc):
    """One quoted product: the ConnectWise catalog identifier, quantity and unit price/cost."""

    product: str = Field(min_length=1, description="ConnectWise catalog identifier (HubSpot: the product's SKU)")
    description: str | None = Field(None, max_length=60, description="default: the catalog description")
    quantity: float = Field(gt=0)
    price: float = Field(ge=0, description="unit price")
    cost: float | None = Field(None, ge=0, description="unit cost (default: the catalog cost)")


class Quote(_Doc):
    """A quote from a quoting tool. Approving it again (same `external_id`) updates the same opportunity."""

    external_id: str = Field(min_length=1, max_length=200)
    name: str | None = Field(None, max_length=100, description="opportunity name (default: `Quote <external_id>`)")
    company: str | int = Field(description="ConnectWise company id or identifier")
    contact: str | int = Field(description="the contact's e-mail (or ConnectWise contact id)")
    lines: list[QuoteLine] = Field(min_length=1)
    shipping: float = Field(0, ge=0, description="shipping amount: its own line, with the configured product")
    status: QuoteStatus = "approved"
    opportunity_status: str | None = Field(None, description="quote-side status (Open/Won/Lost/...) to map")
    notes: str | None = None


@dataclass(frozen=True)
class PlannedLine:
    """A forecast item to be: one quote line (or shipping) with its catalog item resolved."""

    position: int
    product: str
    catalog_id: int
    description: str
    quantity: float
    price: float
    cost: float
    forecast_type: str
    shipping: bool = False

    @property
    def revenue(self) -> float:
        """Line total price."""
        return round(self.price * self.quantity, 2)

    @property
    def total_cost(self) -> float:
        """Line total cost."""
        return round(self.cost * self.quantity, 2)

    def body(self, status_id: int) -> dict[str, Any]:
        """The ConnectWise `ForecastItem` body."""
        return {
            "forecastDescription": self.description,
            "productDescription": self.description,
            "quantity": self.quantity,
            "status": {"id": status_id},
            "catalogItem": {"id": self.catalog_id},
            "revenue": self.revenue,
            "cost": self.total_cost,
            "margin": round(self.revenue - self.total_cost, 2),
            "includeFlag": True,
            "forecastType": self.forecast_type,
            "sequenceNumber": self.position,
        }

    def digest(self, status_id: int) -> str:
        """What tells a changed line from an unchanged one."""
        return _hash(self.body(status_id))

    def as_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "position": self.position,
            "product": self.product,
            "catalog_id": self.catalog_id,
            "description": self.description,
            "quantity": self.quantity,
            "price": self.price,
            "cost": self.cost,
            "revenue": self.revenue,
            "total_cost": self.total_cost,
            "shipping": self.shipping,
        }


@dataclass(frozen=True)
class LineChange:
    """What happens to one forecast line: add, replace (changed), keep, or remove."""

    op: Literal["add", "replace", "keep", "remove"]
    position: int
    forecast_id: int | None = None


@dataclass
class QuotePlan:
    """Everything a quote would write, before it is written (the dry run shows exactly this)."""

    external_id: str
    action: Literal["create", "update", "unchanged"]
    opportunity: dict[str, Any]
    lines: list[PlannedLine]
    changes: list[LineChange]
    status_id: int
    company: dict[str, Any]
    contact: dict[str, Any]
    opportunity_id: int | None = None
    opportunity_changes: dict[str, Any] | None = None

    @property
    def totals(self) -> dict[str, float]:
        """Revenue, cost and margin over every line."""
        revenue = round(sum(line.revenue for line in self.lines), 2)
        cost = round(sum(line.total_cost for line in self.lines), 2)
        return {"revenue": revenue, "cost": cost, "margin": round(revenue - cost, 2)}

    @property
    def digest(self) -> str:
        """The hash of everything written (opportunity and lines): equal means approving again changes nothing."""
        return _hash({"opportunity": self.opportunity, "lines": [line.digest(self.status_id) for line in self.lines]})

    def as_json(self) -> dict[str, Any]:
        """JSON-ready (the API and `--json`)."""
        return {
            "external_id": self.external_id,
            "action": self.action,
            "opportunity_id": self.opportunity_id,
            "opportunity": self.opportunity,
            "opportunity_changes": self.opportunity_changes,
            "company": self.company,
            "contact": self.contact,
            "lines": [line.as_json() for line in self.lines],
            "line_changes": [{"op": c.op, "position": c.position, "forecast_id": c.forecast_id} for c in self.changes],
            "totals": self.totals,
        }


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:32]


def plan_quote(
    quote: Quote,
    *,
    opportunity: dict[str, Any],
    lines: Sequence[PlannedLine],
    status_id: int,
    company: dict[str, Any],
    contact: dict[str, Any],
    stored: Mapping[str, Any] | None,
    opportunity_id: int | None,
) -> QuotePlan:
    """Create, update in place, or leave the opportunity of a quote, against what was stored for it (pure).

    `stored` is the link's `left_values` from the last time: `{"opportunity": {...}, "lines": [{"position",
    "forecast_id", "hash"}]}`.
    """
    plan = QuotePlan(quote.external_id, "create", opportunity, list(lines), [], status_id, company, contact)
    if stored is None or opportunity_id is None:
        plan.changes = [LineChange("add", line.position) for line in lines]
        return plan
    plan.opportunity_id = opportunity_id
    old = {int(entry["position"]): entry for entry in stored.get("lines") or []}
    for line in lines:
        held = old.pop(line.position, None)
        if held is None:
            plan.changes.append(LineChange("add", line.position))
        elif held.get("hash") == line.digest(status_id):
            plan.changes.append(LineChange("keep", line.position, int(held["forecast_id"])))
        else:
            plan.changes.append(LineChange("replace", line.position, int(held["forecast_id"])))
    plan.changes += [LineChange("remove", pos, int(entry["forecast_id"])) for pos, entry in sorted(old.items())]
    before = stored.get("opportunity") or {}
    changed = {k: v for k, v in opportunity.items() if before.get(k) != v}
    plan.opportunity_changes = changed or None
    writes = changed or any(c.op != "keep" for c in plan.changes)
    plan.action = "update" if writes else "unchanged"
    return plan
