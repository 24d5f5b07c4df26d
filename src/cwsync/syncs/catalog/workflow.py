"""Quote → ConnectWise opportunity (SB-5), from a quote document or from a HubSpot deal, with refusals (SB-6).

One workflow, two entry points: `submit(quote)` (REST `POST /api/quotes`, `cwsync quotes submit`) and
`submit_deal(deal_id)` (a HubSpot deal in the configured stage with line items). Steps: refuse a quote that is not
approved; resolve its company, contact and products in ConnectWise (concurrently: one round trip); plan (pure,
`quotes.plan_quote`) against the link of pair `quotes` (left id = external quote id, right id = opportunity id,
values = the opportunity and each line's forecast id and hash); write: the opportunity (once, ever, per external id),
then the forecast items to add/replace/remove. Refusals write nothing in ConnectWise and are kept as run items of
pair `quotes`, so `cwsync history` and `cwsync quotes explain` show why a quote did not become an opportunity.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.client import replace_ops
from cwsync.connectors.connectwise.conditions import F
from cwsync.connectors.http import NotFoundError
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.store import Counts, Link, RunItem, Store, Trigger
from cwsync.syncs.catalog.config import lookup
from cwsync.syncs.catalog.engine import CATALOG_PATH, catalog_sync_config
from cwsync.syncs.catalog.priority import company_type_names, pick_company_type
from cwsync.syncs.catalog.quotes import (
    APPROVED,
    QUOTES_PAIR,
    LineChange,
    PlannedLine,
    Quote,
    QuoteLine,
    QuotePlan,
    QuoteRefused,
    plan_quote,
)

__all__ = ["QuoteWorkflow"]

log = structlog.get_logger("cwsync.quotes")
Record = dict[str, Any]
OPPORTUNITIES = "sales/opportunities"
HUBSPOT_COMPANIES_PAIR, HUBSPOT_CONTACTS_PAIR = "companies", "contacts"


class QuoteWorkflow:
    """Quotes into opportunities for one configuration (the CLI, the API and the HubSpot entry share it)."""

    def __init__(self, config: Config, store: Store, cw: ConnectWiseClient, hs: HubSpotClient | None = None) -> None:
        self.config, self.sync, self.store, self.cw, self.hs = config, catalog_sync_config(config), store, cw, hs
        self.tenant = config.tenant
        self._statuses: dict[str, int] | None = None
        self._rep: dict[str, Any] | None = None
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    # -- entry points --------------------------------------------------------------------------------------------

    async def plan(self, quote: Quote) -> QuotePlan:
        """What submitting the quote would write; nothing is written.

        Raises:
            QuoteRefused: not approved, unknown company / contact / product, no shipping product.
        """
        if quote.status not in APPROVED:
            raise QuoteRefused(
                "not_approved", f"the quote is {quote.status}: only approved quotes become opportunities"
            )
        found = await asyncio.gather(
            self._company_and_contact(quote),
            self._catalog(quote),
            self._status_id(quote),
            self._sales_rep(),
            return_exceptions=True,
        )
        for outcome in found:  # the first problem in a fixed order: company, contact, products, status, sales rep
            if isinstance(outcome, BaseException):
                raise outcome
        pair, catalog, status_id, rep = found
        assert not isinstance(pair, BaseException)
        assert not isinstance(catalog, BaseException)
        assert not isinstance(status_id, BaseException)
        assert not isinstance(rep, BaseException)
        company, contact = pair
        lines = self._lines(quote, catalog)
        link = (await self.store.links_by_left(self.tenant, QUOTES_PAIR, [quote.external_id])).get(quote.external_id)
        opportunity = {
            "name": quote.name or f"Quote {quote.external_id}",
            "company": {"id": int(company["id"])},
            "contact": {"id": int(contact["id"])},
            "status": {"id": status_id},
            "primarySalesRep": {"id": int(rep["id"])},
            "notes": quote.notes or f"From quote {quote.external_id} (cwsync)",
        }
        company_view = {
            "id": int(company["id"]),
            "identifier": company.get("identifier"),
            "name": company.get("name"),
            "type": pick_company_type(company_type_names(company), self.sync.company_type_priority),
        }
        contact_view = {"id": int(contact["id"]), "name": _person(contact)}
        return plan_quote(
            quote,
            opportunity=opportunity,
            lines=lines,
            status_id=status_id,
            company=company_view,
            contact=contact_view,
            stored=link.left_values if link else None,
            opportunity_id=int(link.right_id) if link else None,
        )

    async def submit(self, quote: Quote, *, plan_only: bool = False, trigger: Trigger = "api") -> QuotePlan:
        """Turn an approved quote into its opportunity (or, with `plan_only`, say what would be written).

        Raises:
            QuoteRefused: as `plan`; the refusal is recorded (unless `plan_only`) and nothing is written.
            CwsyncApiError: ConnectWise failed mid-way; what was written is kept in the link, so submitting the same
                quote again completes it.
        """
        if plan_only:
            return await self.plan(quote)
        # One submit of a quote at a time (per process): two approvals racing must not both create an opportunity.
        key = quote.external_id
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                return await self._submit(quote, trigger)
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def _submit(self, quote: Quote, trigger: Trigger) -> QuotePlan:
        try:
            plan = await self.plan(quote)
        except QuoteRefused as refused:
            await self._record(quote.external_id, None, refused=refused, trigger=trigger, source=quote)
            raise
        await self._apply(plan)
        await self._record(quote.external_id, plan, refused=None, trigger=trigger, source=quote)
        log.info("quote.applied", external_id=quote.external_id, action=plan.action, opportunity=plan.opportunity_id)
        return plan

    async def show(self, external_id: str) -> dict[str, Any]:
        """The opportunity a quote became (with its lines) and the latest decisions about it.

        Raises:
            QuoteRefused: `unknown_quote` when cwsync has never seen the quote.
        """
        link = (await self.store.links_by_left(self.tenant, QUOTES_PAIR, [external_id])).get(external_id)
        history = await self.store.items_for_record(self.tenant, QUOTES_PAIR, left_id=external_id, limit=10)
        if link is None and not history:
            raise QuoteRefused("unknown_quote", f"no quote {external_id!r} has been submitted")
        return {
            "external_id": external_id,
            "opportunity_id": int(link.right_id) if link else None,
            "opportunity": link.left_values.get("opportunity") if link else None,
            "lines": link.left_values.get("lines") if link else [],
            "totals": link.left_values.get("totals") if link else None,
            "history": [
                {"run_id": i.run_id, "action": i.action, "status": i.status, "reason": i.reason, "at": i.created_at}
                for i in history
            ],
        }

    async def explain(self, external_id: str) -> dict[str, Any]:
        """Why a quote did (not) become an opportunity: its latest recorded decision, in words."""
        shown = await self.show(external_id)
        latest = shown["history"][0] if shown["history"] else None
        if latest is not None and latest["status"] == "failed":
            answer = f"refused: {latest['reason']} (nothing was written to ConnectWise)"
        elif shown["opportunity_id"] is not None:
            answer = f"became ConnectWise opportunity {shown['opportunity_id']} with {len(shown['lines'])} line(s)"
        else:
            answer = latest["reason"] if latest else "no decision recorded"
        return {**shown, "answer": answer}

    # -- the HubSpot entry ---------------------------------------------------------------------------------------

    async def quote_from_deal(self, deal_id: str) -> Quote:
        """The quote document of a HubSpot deal in the configured stage, built from its line items.

        Raises:
            QuoteRefused: the deal is not in the stage, has no line items, or its company/contact is not linked.
        """
        hs = self._hubspot()
        deal = await hs.get("deals", deal_id, properties=["dealname", "dealstage", "amount"])
        props = deal.get("properties") or {}
        external_id = f"hubspot-deal-{deal_id}"
        if props.get("dealstage") != self.sync.quote_deal_stage:
            raise QuoteRefused(
                "not_approved",
                f"deal {deal_id} is in stage {props.get('dealstage')!r}, not {self.sync.quote_deal_stage!r}",
            )
        associated = await asyncio.gather(
            *(hs.batch_read_associations("deals", kind, [deal_id]) for kind in ("line_items", "companies", "contacts"))
        )
        item_ids, company_ids, contact_ids = (a.get(str(deal_id), []) for a in associated)
        if not item_ids:
            raise QuoteRefused("no_lines", f"deal {deal_id} has no line items")
        company = await self._linked(HUBSPOT_COMPANIES_PAIR, company_ids, "company", deal_id)
        contact = await self._deal_contact(contact_ids, deal_id)
        lines, shipping = await self._deal_lines(item_ids)
        return Quote(
            external_id=external_id,
            name=str(props.get("dealname") or external_id)[:100],
            company=int(company),
            contact=contact,
            lines=lines,
            shipping=shipping,
            status="approved",
        )

    async def submit_deal(self, deal_id: str, *, plan_only: bool = False, trigger: Trigger = "api") -> QuotePlan:
        """`quote_from_deal` then `submit`; a refusal while building the quote is recorded too."""
        try:
            quote = await self.quote_from_deal(deal_id)
        except QuoteRefused as refused:
            if not plan_only:
                await self._record(f"hubspot-deal-{deal_id}", None, refused=refused, trigger=trigger, source=None)
            raise
        return await self.submit(quote, plan_only=plan_only, trigger=trigger)

    def _hubspot(self) -> HubSpotClient:
        if self.hs is None:
            raise QuoteRefused("no_hubspot", "the HubSpot entry needs connections.hubspot")
        return self.hs

    async def _linked(self, pair: str, hs_ids: Sequence[str], what: str, deal_id: str) -> str:
        links = await self.store.links_by_right(self.tenant, pair, list(hs_ids))
        for hs_id in hs_ids:
            if hs_id in links:
                return links[hs_id].left_id
        code = f"unknown_{what}"
        if not hs_ids:
            raise QuoteRefused(code, f"deal {deal_id} has no associated {what}")
        raise QuoteRefused(code, f"HubSpot {what} {hs_ids[0]} is not linked to ConnectWise (run the HubSpot sync)")

    async def _deal_contact(self, contact_ids: Sequence[str], deal_id: str) -> str | int:
        links = await self.store.links_by_right(self.tenant, HUBSPOT_CONTACTS_PAIR, list(contact_ids))
        for hs_id in contact_ids:
            if hs_id in links:
                return int(links[hs_id].left_id)
        if not contact_ids:
            raise QuoteRefused("unknown_contact", f"deal {deal_id} has no associated contact")
        found = await self._hubspot().get("contacts", contact_ids[0], properties=["email"])
        email = (found.get("properties") or {}).get("email")
        if not email:
            raise QuoteRefused("unknown_contact", f"HubSpot contact {contact_ids[0]} has no e-mail and no link")
        return str(email)

    async def _deal_lines(self, item_ids: Sequence[str]) -> tuple[list[QuoteLine], float]:
        props = ["name", "quantity", "price", "hs_sku", "hs_product_id", "description"]
        items = await self._hubspot().batch_read("line_items", item_ids, properties=props)
        skus = await self._product_skus(items)
        lines: list[QuoteLine] = []
        shipping = 0.0
        for item in sorted(items, key=lambda i: int(i["id"])):
            p = item.get("properties") or {}
            sku = p.get("hs_sku") or skus.get(str(p.get("hs_product_id") or ""))
            quantity, price = float(p.get("quantity") or 1), float(p.get("price") or 0)
            if not sku:
                raise QuoteRefused("unknown_product", f"line item {item['id']} ({p.get('name')}) has no product SKU")
            if self.sync.shipping_product and sku.lower() == self.sync.shipping_product.lower():
                shipping += quantity * price
                continue
            lines.append(QuoteLine(product=sku, quantity=quantity, price=price))
        return lines, round(shipping, 2)

    async def _product_skus(self, items: Sequence[Record]) -> dict[str, str]:
        wanted = [
            str(p["hs_product_id"])
            for p in (i.get("properties") or {} for i in items)
            if not p.get("hs_sku") and p.get("hs_product_id")
        ]
        if not wanted:
            return {}
        products = await self._hubspot().batch_read("products", wanted, properties=["hs_sku"])
        return {str(p["id"]): str((p.get("properties") or {}).get("hs_sku") or "") for p in products}

    # -- resolving -----------------------------------------------------------------------------------------------

    async def _company_and_contact(self, quote: Quote) -> tuple[Record, Record]:
        company, contacts = await asyncio.gather(self._company(quote.company), self._contacts(quote.contact))
        mine = [c for c in contacts if int((c.get("company") or {}).get("id") or 0) == int(company["id"])]
        if not mine:
            where = f"of company {company.get('identifier')!r}"
            raise QuoteRefused("unknown_contact", f"no ConnectWise contact {where} matches {quote.contact!r}")
        return company, mine[0]

    async def _company(self, key: str | int) -> Record:
        text = str(key).strip()
        try:
            if text.isdigit():
                found: Record | None = await self.cw.get("company/companies", int(text))
            else:
                rows = await self.cw.list_page("company/companies", conditions=F("identifier") == text, page_size=2)
                found = rows[0] if rows else None
        except NotFoundError:
            found = None
        if found is None or found.get("deletedFlag"):
            raise QuoteRefused("unknown_company", f"no ConnectWise company has the id or identifier {text!r}")
        return found

    async def _contacts(self, key: str | int) -> list[Record]:
        text = str(key).strip()
        if text.isdigit():
            try:
                return [await self.cw.get("company/contacts", int(text))]
            except NotFoundError:
                return []
        rows = await self.cw.list_page(
            "company/contacts", child_conditions=F("communicationItems/value") == text, page_size=25
        )
        return rows

    async def _catalog(self, quote: Quote) -> dict[str, Record]:
        wanted = {line.product.strip() for line in quote.lines}
        if quote.shipping > 0:
            if not self.sync.shipping_product:
                raise QuoteRefused(
                    "no_shipping_product", "the quote has shipping but syncs.catalog.shipping_product is unset"
                )
            wanted.add(self.sync.shipping_product)
        found: dict[str, Record] = {}
        async for page in self.cw.stream(CATALOG_PATH, conditions=F("identifier").in_(sorted(wanted))):
            found.update({str(i["identifier"]).lower(): i for i in page})
        missing = sorted(w for w in wanted if w.lower() not in found)
        if missing:
            raise QuoteRefused("unknown_product", f"not in the ConnectWise catalog: {', '.join(missing)}")
        return found

    def _lines(self, quote: Quote, catalog: Mapping[str, Record]) -> list[PlannedLine]:
        lines = [_planned(n + 1, line, catalog[line.product.strip().lower()]) for n, line in enumerate(quote.lines)]
        if quote.shipping > 0 and self.sync.shipping_product:
            item = catalog[self.sync.shipping_product.lower()]
            ship = QuoteLine(product=self.sync.shipping_product, quantity=1, price=quote.shipping, cost=quote.shipping)
            lines.append(_planned(len(lines) + 1, ship, item, shipping=True))
        return lines

    async def _status_id(self, quote: Quote) -> int:
        if self._statuses is None:
            rows = [s async for page in self.cw.stream("sales/opportunities/statuses") for s in page]
            self._statuses = {str(s["name"]): int(s["id"]) for s in rows}
        name = self.sync.opportunity_status(quote.opportunity_status or self.sync.quote_opportunity_status)
        found = lookup({k: str(v) for k, v in self._statuses.items()}, name)
        if found is None:
            known = ", ".join(self._statuses)
            raise QuoteRefused("unknown_status", f"ConnectWise has no opportunity status {name!r} (it has: {known})")
        return int(found)

    async def _sales_rep(self) -> Record:
        if self._rep is None:
            wanted = self.sync.primary_sales_rep
            cond = (F("identifier") == wanted) if wanted else None
            rows = await self.cw.list_page("system/members", conditions=cond, fields="id,identifier", page_size=1)
            if not rows:
                raise QuoteRefused(
                    "unknown_member", f"no ConnectWise member {wanted!r} (syncs.catalog.primary_sales_rep)"
                )
            self._rep = rows[0]
        return self._rep

    # -- writing and recording -----------------------------------------------------------------------------------

    async def _apply(self, plan: QuotePlan) -> None:
        if plan.action == "unchanged":
            return
        if plan.opportunity_id is None:
            created = await self.cw.create(OPPORTUNITIES, plan.opportunity)
            plan.opportunity_id = int(created["id"])
            await self._save(plan, [])  # the opportunity is never created twice, even if the lines fail
        elif plan.opportunity_changes:
            await self.cw.patch(OPPORTUNITIES, plan.opportunity_id, replace_ops(plan.opportunity_changes))
        path = f"{OPPORTUNITIES}/{plan.opportunity_id}/forecast"
        by_position = {line.position: line for line in plan.lines}
        results = await asyncio.gather(*(self._line(path, change, by_position, plan) for change in plan.changes))
        await self._save(plan, [r for r in results if r is not None])

    async def _line(
        self, path: str, change: LineChange, lines: Mapping[int, PlannedLine], plan: QuotePlan
    ) -> dict[str, Any] | None:
        if change.op == "remove":
            assert change.forecast_id is not None
            await self.cw.delete(path, change.forecast_id)
            return None
        line = lines[change.position]
        if change.op == "keep":
            forecast_id = change.forecast_id
        elif change.op == "replace":
            assert change.forecast_id is not None
            forecast_id = int((await self.cw.put(path, change.forecast_id, line.body(plan.status_id)))["id"])
        else:
            forecast_id = int((await self.cw.create(path, line.body(plan.status_id)))["id"])
        return {"position": line.position, "forecast_id": forecast_id, "hash": line.digest(plan.status_id)}

    async def _save(self, plan: QuotePlan, lines: list[dict[str, Any]]) -> None:
        values = {"opportunity": plan.opportunity, "lines": lines, "totals": plan.totals}
        link = Link(
            tenant=self.tenant,
            pair=QUOTES_PAIR,
            left_id=plan.external_id,
            right_id=str(plan.opportunity_id),
            match_key="external_id",
            left_values=values,
            left_hash=plan.digest,
            last_writer="left",
            synced_at=datetime.now(UTC),
        )
        async with self.store.transaction() as tx:
            await tx.upsert_links([link])

    async def _record(
        self,
        external_id: str,
        plan: QuotePlan | None,
        *,
        refused: QuoteRefused | None,
        trigger: Trigger,
        source: Quote | None,
    ) -> None:
        run_id = await self.store.start_run(self.tenant, pairs=[QUOTES_PAIR], kind="record", trigger=trigger)
        action: Any = "skip" if plan is None else plan.action
        counts = Counts()
        counts.add(action)
        if refused is not None:
            reason = f"{refused.code}: {refused.reason}"
        else:
            assert plan is not None
            reason = f"opportunity {plan.opportunity_id}: " + ", ".join(
                f"{c.op} line {c.position}" for c in plan.changes
            )
        item = RunItem(
            run_id=run_id,
            tenant=self.tenant,
            pair=QUOTES_PAIR,
            direction="left_to_right",
            action=action,
            status="failed" if refused else "applied",
            left_id=external_id,
            right_id=str(plan.opportunity_id) if plan and plan.opportunity_id else None,
            reason=reason,
            source_values=source.model_dump(mode="json") if source else {},
        )
        async with self.store.transaction() as tx:
            await tx.add_run_items([item])
        await self.store.finish_run(run_id, status="succeeded", counts=counts, error=None)


def _planned(position: int, line: QuoteLine, item: Record, *, shipping: bool = False) -> PlannedLine:
    pclass = str(item.get("productClass") or "")
    cost = line.cost if line.cost is not None else float(item.get("cost") or 0)
    return PlannedLine(
        position=position,
        product=str(item["identifier"]),
        catalog_id=int(item["id"]),
        description=(line.description or str(item.get("description") or line.product))[:60],
        quantity=line.quantity,
        price=line.price,
        cost=cost,
        forecast_type="Service" if pclass in ("Service", "Agreement") else "Product",
        shipping=shipping,
    )


def _person(contact: Mapping[str, Any]) -> str:
    return f"{contact.get('firstName') or ''} {contact.get('lastName') or ''}".strip()
