"""Quote → ConnectWise opportunity (SB-5), from a quote document or from a HubSpot deal, with refusals (SB-6).

One workflow, two entry points: `submit(quote)` (REST `POST /api/quotes`, `cwsync quotes submit`) and
`submit_deal(deal_id)` (a HubSpot deal in the configured stage with line items). Steps: refuse a quote that is not
approved; resolve its company, contact and products — from cwsync's own links (`_known`) or what a recent quote
resolved (`Recent`), else in ConnectWise (concurrently: one round trip) —; plan (pure,
`quotes.plan_quote`) against the link of pair `quotes` (left id = external quote id, right id = opportunity id,
values = the opportunity and each line's forecast id and hash) and the journal of an attempt that did not finish;
write: the opportunity (once, ever, per external id), then the forecast items to add/replace/remove, each a journaled
step (`cwsync.workflows.steps`, scope `quotes`, key the external id) whose result is kept as it completes. An
attempt that failed or lost an answer is completed by submitting the quote again: the opportunity is found by the
marker in its notes (`(cwsync: quote <external id>)`), a line by its position, catalog item, description and
quantity. Refusals write nothing in ConnectWise; answered to an API caller (a 4xx with the code and reason) they
write nothing at all, from the CLI or a HubSpot webhook they are kept as run items of pair `quotes`, so
`cwsync history` and `cwsync quotes explain` show why a quote did not become an opportunity.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from cwsync.config.catalog import lookup
from cwsync.config.model import Config
from cwsync.connectors.connectwise import ConnectWiseClient
from cwsync.connectors.connectwise.client import replace_ops
from cwsync.connectors.connectwise.conditions import Condition, F, all_of
from cwsync.connectors.http import CwsyncApiError, NotFoundError, ValidationError
from cwsync.connectors.hubspot import HubSpotClient
from cwsync.core.plan import EXCLUDED, GONE
from cwsync.core.priority import company_type_names, pick_company_type
from cwsync.engine.oneway import DELETED
from cwsync.integrations.catalog.engine import CATALOG_PATH, catalog_sync_config
from cwsync.integrations.catalog.products import PRODUCTS_PAIR
from cwsync.store import JournalEntry, Link, Reads, Store, Trigger, Tx
from cwsync.workflows import Step, StepRunner, WorkflowRun, workflow_run
from cwsync.workflows.quotes.document import (
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

__all__ = ["QuoteWorkflow", "Recent"]

log = structlog.get_logger("cwsync.quotes")
Record = dict[str, Any]
OPPORTUNITIES = "sales/opportunities"
QUOTES_SCOPE = "quotes"
"""Journal scope of the quote workflow (key: the external quote id)."""
HUBSPOT_COMPANIES_PAIR, HUBSPOT_CONTACTS_PAIR = "companies", "contacts"
Writer = Callable[[Callable[[Tx], Awaitable[None]]], Awaitable[None]]
"""Commits a body's writes in one transaction (`Store.write`, or a run's `write`, which starts the run in it)."""
REMEMBER_SECONDS = 300.0
"""How long a company, contact and catalog item a quote resolved in ConnectWise stand in for links (`Recent`)."""


class QuoteWorkflow:
    """Quotes into opportunities for one configuration (the CLI, the API and the HubSpot entry share it)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        cw: ConnectWiseClient,
        hs: HubSpotClient | None = None,
        *,
        remember_seconds: float = REMEMBER_SECONDS,
    ) -> None:
        self.config, self.sync, self.store, self.cw, self.hs = config, catalog_sync_config(config), store, cw, hs
        self.tenant = config.tenant
        self.recent = Recent(remember_seconds)
        """What recent quotes resolved in ConnectWise, standing in for links (`Recent`; `remember_seconds` 0: off)."""
        self._statuses: dict[str, int] | None = None
        self._rep: dict[str, Any] | None = None
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    # -- entry points --------------------------------------------------------------------------------------------

    async def plan(self, quote: Quote) -> QuotePlan:
        """What submitting the quote would write (what an unfinished attempt wrote counts as written); no writes.

        Raises:
            QuoteRefused: not approved, unknown company / contact / product, no shipping product.
        """
        return (await self._plan(quote))[0]

    async def _plan(
        self, quote: Quote, opening: Opening | None = None, *, fresh: bool = False
    ) -> tuple[QuotePlan, list[JournalEntry]]:
        """Resolve and plan a quote. With `opening` (a submit), a new quote whose company, contact and products are
        all linked or recently resolved has its opportunity created by `opening` while its products are read (see
        `_known` and `Recent`). With `fresh`, its company and contact are read from ConnectWise whatever is linked
        or remembered (`_afresh`). A refusal naming its company, contact or products forgets what was remembered of
        them."""
        try:
            return await self._resolve_and_plan(quote, opening, fresh)
        except QuoteRefused as refused:
            self.recent.forget(quote, refused, self.sync.shipping_product)
            raise
        except _Unfinished as unfinished:
            if isinstance(unfinished.error, QuoteRefused):
                self.recent.forget(quote, unfinished.error, self.sync.shipping_product)
            raise

    async def _resolve_and_plan(
        self, quote: Quote, opening: Opening | None, fresh: bool
    ) -> tuple[QuotePlan, list[JournalEntry]]:
        if quote.status not in APPROVED:
            raise QuoteRefused(
                "not_approved", f"the quote is {quote.status}: only approved quotes become opportunities"
            )
        link, entries, known = await self.store.read(self._local(quote))
        known = self.recent.fill(quote, known, self.sync.shipping_product)
        if fresh:  # the products keep their ids: the catalog read checks them anyway
            known = Known(products=known.products)
        catalog_read = asyncio.ensure_future(self._catalog(quote, known.products))
        try:
            early = opening is not None and link is None and not entries and known.covers(quote, self.sync)
            found = await asyncio.gather(
                self._company_and_contact(quote, known),
                *(() if early else (catalog_read,)),
                self._status_id(quote),
                self._sales_rep(),
                return_exceptions=True,
            )
            for outcome in found:  # the first problem in a fixed order: company, contact, products, status, sales rep
                if isinstance(outcome, BaseException):
                    raise outcome
            pair, status_id, rep = found[0], found[-2], found[-1]
            assert not isinstance(pair, BaseException)
            assert not isinstance(status_id, BaseException)
            assert not isinstance(rep, BaseException)
            company, contact = pair
            opportunity = {
                "name": quote.name or f"Quote {quote.external_id}",
                "company": {"id": int(company["id"])},
                "contact": {"id": int(contact["id"])},
                "status": {"id": status_id},
                "primarySalesRep": {"id": int(rep["id"])},
                "notes": f"{quote.notes or f'From quote {quote.external_id}'}\n\n{_marker(quote.external_id)}",
            }
            made: int | None = None
            if early:
                assert opening is not None
                made, catalog = await _together(opening(opportunity), catalog_read, quote.external_id)
            else:
                catalog = catalog_read.result()
        finally:
            await _settle(catalog_read)
        lines = self._lines(quote, catalog)
        stored, opportunity_id = _written(link, entries)
        company_view = {
            "id": int(company["id"]),
            "identifier": company.get("identifier"),
            "name": company.get("name"),
            "type": company.get("type")
            if company.get(_FROM_LINK)
            else pick_company_type(company_type_names(company), self.sync.company_type_priority),
        }
        contact_view = {"id": int(contact["id"]), "name": _person(contact)}
        read = (known.company is None, known.contact is None)  # what `_company_and_contact` read in ConnectWise
        self.recent.keep(quote, company_view if read[0] else None, contact if read[1] else None, lines)
        plan = plan_quote(
            quote,
            opportunity=opportunity,
            lines=lines,
            status_id=status_id,
            company=company_view,
            contact=contact_view,
            stored=stored,
            opportunity_id=opportunity_id,
        )
        if link is None:
            plan.action = "create"  # an unfinished first attempt is still the quote's opportunity being created
        if made is not None:
            plan.opportunity_id = made  # created already, beside the products' read
        return plan, entries

    def _local(self, quote: Quote) -> Callable[[Reads], Awaitable[tuple[Link | None, list[JournalEntry], Known]]]:
        """What the store knows of a quote, in one read: its link, the journal of an unfinished attempt, and the
        links of its company, contact and products (`_known`)."""
        written = self._written_so_far(quote.external_id)

        async def read(reads: Reads) -> tuple[Link | None, list[JournalEntry], Known]:
            link, entries = await written(reads)
            return link, entries, await _known(reads, self.tenant, quote, self.sync.shipping_product)

        return read

    def _written_so_far(self, external_id: str) -> Callable[[Reads], Awaitable[tuple[Link | None, list[JournalEntry]]]]:
        """The quote's link and the journal of an unfinished attempt, read together (one store read)."""

        async def read(reads: Reads) -> tuple[Link | None, list[JournalEntry]]:
            links = await reads.links_by_left(self.tenant, QUOTES_PAIR, [external_id])
            return links.get(external_id), await reads.journal(self.tenant, QUOTES_SCOPE, [external_id])

        return read

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
        async with self._run(trigger) as run:
            runner: StepRunner | None = None

            async def opening(opportunity: Record) -> int:
                nonlocal runner
                # its journal writes start no run: a create ConnectWise refuses leaves no trace (`_afresh`); the
                # run starts with the outcome (`_save`) or the record of a failure
                runner = self._runner(quote.external_id, [], run, write=self.store.write)
                return await self._open(runner, quote.external_id, opportunity)

            try:
                try:
                    plan, entries = await self._plan(quote, opening)
                except QuoteRefused:
                    if runner is None:
                        raise
                    stale, runner = runner, None  # `_open`: ConnectWise refused the linked/remembered records
                    plan, entries = await self._afresh(quote, run, stale)
            except QuoteRefused as refused:
                if not _answered(trigger):
                    _refused(run, quote.external_id, refused, source=quote)
                raise
            except _Unfinished as unfinished:
                run.item(
                    action="fail",
                    status="failed",
                    left_id=quote.external_id,
                    right_id=str(unfinished.opportunity_id),
                    reason=unfinished.reason,
                    source_values=quote.model_dump(mode="json"),
                )
                if runner is not None:
                    await runner.flush()  # the opportunity's done entry: the next submit takes it as written
                raise unfinished.error from None
            except CwsyncApiError as exc:
                if runner is not None:  # the opportunity's create (beside the products' read) failed
                    _failed(run, quote, exc, None)
                raise
            try:
                await self._apply(plan, entries, run, source=quote, runner=runner)
            except CwsyncApiError as exc:
                _failed(run, quote, exc, plan.opportunity_id)
                raise
        log.info("quote.applied", external_id=quote.external_id, action=plan.action, opportunity=plan.opportunity_id)
        return plan

    async def _afresh(self, quote: Quote, run: WorkflowRun, stale: StepRunner) -> tuple[QuotePlan, list[JournalEntry]]:
        """ConnectWise refused the create of a new quote's opportunity (`_open`): the company or contact a link or a
        recent quote gave is not ConnectWise's any more (deleted, or its id holds another record). Nothing was
        created, so the create's intent is dropped from the journal, and the quote is resolved from ConnectWise as
        one nothing is known of: found there, it becomes its opportunity; not found, it is refused as any quote is
        (the refusal recorded, nothing in ConnectWise, nothing left in the journal for the next submit to look up).
        """
        log.info("quote.stale_records", external_id=quote.external_id)
        await self.store.write(stale.clear)
        return await self._plan(quote, fresh=True)

    def _run(self, trigger: Trigger) -> AbstractAsyncContextManager[WorkflowRun]:
        return workflow_run(
            self.store,
            tenant=self.tenant,
            pair=QUOTES_PAIR,
            trigger=trigger,
            refusals=(QuoteRefused,),
            quiet_refusals=_answered(trigger),
        )

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
        if latest is not None and latest["action"] == "fail":
            answer = f"{latest['reason']} (what was written is kept)"
        elif latest is not None and latest["status"] == "failed":
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
            if not plan_only and not _answered(trigger):
                async with self._run(trigger) as run:
                    _refused(run, f"hubspot-deal-{deal_id}", refused, source=None)
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

    async def _company_and_contact(self, quote: Quote, known: Known) -> tuple[Record, Record]:
        """The quote's company and contact: from their links when cwsync's syncs linked them (no ConnectWise read;
        ConnectWise's answer to the opportunity's create checks a stale one), else read from ConnectWise."""
        if known.company is not None and known.contact is not None:
            return known.company, known.contact
        if known.company is not None:
            company, contacts = known.company, await self._contacts(quote.contact)
        else:
            company, contacts = await asyncio.gather(self._company(quote.company), self._contacts(quote.contact))
        mine = [c for c in contacts if int((c.get("company") or {}).get("id") or 0) == int(company["id"])]
        if not mine:
            where = f"of company {company.get('identifier')!r}"
            raise QuoteRefused("unknown_contact", f"no ConnectWise contact {where} matches {quote.contact!r}")
        return company, mine[0]

    async def _company(self, key: str | int) -> Record:
        text = str(key).strip()
        if not text:  # `identifier = ""` would be a search for companies without one
            raise QuoteRefused("unknown_company", "the quote names no company")
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
        if not text:  # none: refused as no contact of the company (a blank value names no one)
            return []
        if text.isdigit():
            try:
                return [await self.cw.get("company/contacts", int(text))]
            except NotFoundError:
                return []
        rows = await self.cw.list_page(
            "company/contacts", child_conditions=F("communicationItems/value") == text, page_size=25
        )
        return rows

    async def _catalog(self, quote: Quote, known: Mapping[str, int]) -> dict[str, Record]:
        """The catalog items a quote names, by lower-cased identifier. Those whose id is `known` (linked or
        remembered) are read by id — ConnectWise's cheapest look-up —, the others, and any whose identifier is no
        longer what was known, by identifier."""
        wanted = {line.product.strip() for line in quote.lines}
        if quote.shipping > 0:
            if not self.sync.shipping_product:
                raise QuoteRefused(
                    "no_shipping_product", "the quote has shipping but syncs.catalog.shipping_product is unset"
                )
            wanted.add(self.sync.shipping_product)
        ids = sorted({known[w.lower()] for w in wanted if w.lower() in known})
        named = sorted(w for w in wanted if w and w.lower() not in known)  # a blank identifier names no item
        reads = ([F("id").in_(ids)] if ids else []) + ([F("identifier").in_(named)] if named else [])
        found: dict[str, Record] = {}
        for page in await asyncio.gather(*(self._catalog_where(where) for where in reads)):  # at once
            found |= page
        changed = sorted(w for w in wanted if w.lower() not in found and w.lower() in known)
        if changed:  # its id holds another identifier now (or is gone): look it up by identifier after all
            found |= await self._catalog_where(F("identifier").in_(changed))
        missing = sorted(w for w in wanted if not w or w.lower() not in found)
        if missing:
            listed = ", ".join(w or repr(w) for w in missing)
            raise QuoteRefused("unknown_product", f"not in the ConnectWise catalog: {listed}")
        return found

    async def _catalog_where(self, conditions: Condition) -> dict[str, Record]:
        found: dict[str, Record] = {}
        async for page in self.cw.stream(CATALOG_PATH, conditions=conditions):
            found.update({str(i["identifier"]).lower(): i for i in page})
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

    def _runner(
        self, external_id: str, entries: list[JournalEntry], run: WorkflowRun, *, write: Writer | None = None
    ) -> StepRunner:
        return StepRunner(
            self.cw,
            self.store,
            tenant=self.tenant,
            scope=QUOTES_SCOPE,
            key=external_id,
            entries=entries,
            write=write or run.write,  # the run is recorded started with the first intent
        )

    async def _open(self, runner: StepRunner, external_id: str, opportunity: Record) -> int:
        """Create a new quote's opportunity (journaled like any create). ConnectWise refusing the company or the
        contact it names means a stale link (deleted or changed since cwsync's syncs last saw it): a refusal, and
        nothing was written."""
        step = self._create_step(external_id, opportunity)
        try:
            [made] = await runner.run_all([step], defer_done=True)
        except ValidationError as exc:
            named = f"{exc.field or ''} {exc.message}".lower()
            for what in ("contact", "company"):
                if what in named:
                    raise QuoteRefused(
                        f"unknown_{what}", f"ConnectWise refused the linked {what} ({exc.message}): is it deleted?"
                    ) from exc
            raise
        assert made.record_id is not None
        return made.record_id

    async def _apply(
        self,
        plan: QuotePlan,
        entries: list[JournalEntry],
        run: WorkflowRun,
        *,
        source: Quote,
        runner: StepRunner | None = None,
    ) -> None:
        """Write the plan step by step (each result journaled as it completes), then keep it in the link; `runner`
        is the one that already created the opportunity, when `_plan` did (`opening`)."""
        runner = runner or self._runner(plan.external_id, entries, run)
        by_position = {line.position: line for line in plan.lines}
        done: dict[str, int | None] = {}
        if plan.action != "unchanged" or entries:
            if plan.opportunity_id is None:
                # its done entry is written with the lines' intents, before any line is sent
                [made] = await runner.run_all([self._opportunity_step(plan)], defer_done=True)
                assert made.record_id is not None
                plan.opportunity_id = made.record_id
            elif plan.opportunity_changes:
                await runner.run_all([self._opportunity_step(plan)], defer_done=True)
            path = f"{OPPORTUNITIES}/{plan.opportunity_id}/forecast"
            steps = [self._line_step(path, c, by_position, plan) for c in plan.changes if c.op != "keep"]
            # The lines' done entries are dropped by `_save`, which clears the journal with the link.
            lines_done = await runner.run_all(steps, concurrently=True, defer_done=True)
            done = {r.key: r.record_id for r in lines_done}
        reason = f"opportunity {plan.opportunity_id}: " + ", ".join(f"{c.op} line {c.position}" for c in plan.changes)
        run.item(
            action=plan.action,
            status="applied",
            left_id=plan.external_id,
            right_id=str(plan.opportunity_id),
            reason=reason,
            source_values=source.model_dump(mode="json"),
        )
        if plan.action == "unchanged" and not entries:
            return
        lines = []
        for change in plan.changes:
            if change.op == "remove":
                continue
            line = by_position[change.position]
            forecast_id = change.forecast_id if change.op == "keep" else done[f"line:{change.position}"]
            lines.append({"position": line.position, "forecast_id": forecast_id, "hash": line.digest(plan.status_id)})
        await self._save(plan, lines, runner, run)

    def _opportunity_step(self, plan: QuotePlan) -> Step:
        if plan.opportunity_id is not None:
            data = {"opportunity": plan.opportunity}
            changes = replace_ops(plan.opportunity_changes or {})
            return Step(
                "opportunity", "update", OPPORTUNITIES, changes, record_id=plan.opportunity_id, data=data, intent=True
            )
        return self._create_step(plan.external_id, plan.opportunity)

    def _create_step(self, external_id: str, opportunity: Record) -> Step:
        wanted = _opportunity_lookup(int(opportunity["company"]["id"]), external_id)

        async def find() -> int | None:
            rows = await self.cw.list_page(OPPORTUNITIES, conditions=wanted, fields="id", order_by="id", page_size=1)
            return int(rows[0]["id"]) if rows else None

        data = {"opportunity": opportunity}
        return Step("opportunity", "create", OPPORTUNITIES, opportunity, find=find, match=wanted, data=data)

    def _line_step(self, path: str, change: LineChange, lines: Mapping[int, PlannedLine], plan: QuotePlan) -> Step:
        if change.op == "remove":
            assert change.forecast_id is not None
            return Step(f"remove:{change.position}", "delete", path, record_id=change.forecast_id)
        line = lines[change.position]
        body, digest = line.body(plan.status_id), line.digest(plan.status_id)
        key, data = f"line:{change.position}", {"hash": digest}
        if change.op == "replace":
            assert change.forecast_id is not None
            return Step(
                key,
                "update",
                path,
                body,
                record_id=change.forecast_id,
                method="PUT",
                digest=digest,
                data=data,
                id_of=_line_id,
                intent=True,  # `_written` reads a begun replace back: the line is there, its content unknown
            )

        async def find() -> int | None:
            return _line_in(await self._forecast_items(path), body)

        def made(answer: Record) -> int | None:
            return _line_in(_items_of([answer]), body)

        # A POST to …/forecast takes and answers a whole `Forecast` (spec 2025.8): the line goes in `forecastItems`
        # and its id is read from the answer's items. PUT and DELETE name the line: …/forecast/{id}.
        forecast = {"forecastItems": [body]}
        return Step(key, "create", path, forecast, find=find, digest=digest, data=data, id_of=made)

    async def _forecast_items(self, path: str) -> list[Record]:
        """The forecast items of an opportunity (the lines an earlier attempt may have made)."""
        return _items_of([row async for row in self.cw.stream_records(path)])

    async def _save(self, plan: QuotePlan, lines: list[dict[str, Any]], runner: StepRunner, run: WorkflowRun) -> None:
        values = {"opportunity": plan.opportunity, "lines": lines, "totals": plan.totals}
        opportunity = str(plan.opportunity_id)
        link = run.recorder.link(plan.external_id, opportunity, match_key="external_id", left_values=values)
        link = replace(link, left_hash=plan.digest)  # the quote's digest: what the next submit compares

        async def save(tx: Tx) -> None:  # the link, the journal gone, the run's item and its end: together
            await run.recorder.record_in(tx, links=[link])
            await runner.clear(tx)
            await run.finish_in(tx)

        await run.write(save)


# -- what the store knows of a quote's records -------------------------------------------------------------------

Opening = Callable[[Record], Awaitable[int]]
"""Creates a new quote's opportunity from its body; the opportunity's id."""

_FROM_LINK = "_from_link"
"""Set on a company or contact record built from its link (its type is the one the HubSpot sync carried)."""


@dataclass(frozen=True)
class Known:
    """A quote's company, contact and products as cwsync's own syncs linked them (the HubSpot sync: pairs
    `companies` and `contacts`, left id = ConnectWise id; the catalog sync: `catalog:products`). None / missing:
    not linked (or the link is marked deleted, excluded, gone or archived), read from ConnectWise instead."""

    company: Record | None = None
    contact: Record | None = None
    products: Mapping[str, int] = field(default_factory=dict)
    """The wanted catalog items that have a live link: lower-cased identifier → ConnectWise catalog item id."""

    def covers(self, quote: Quote, sync: Any) -> bool:
        """Whether every record the quote names is linked (then nothing needs reading before its opportunity)."""
        wanted = {line.product.strip().lower() for line in quote.lines}
        if quote.shipping > 0 and sync.shipping_product:
            wanted.add(str(sync.shipping_product).lower())
        return self.company is not None and self.contact is not None and wanted <= self.products.keys()


async def _known(reads: Reads, tenant: str, quote: Quote, shipping: str | None) -> Known:
    """The links of a quote's company (by id or identifier), contact (by id or e-mail, of that company) and
    products (by identifier), read inside the quote's one store read. The identifier, e-mail and SKU are the
    values the syncs keep in the links (`connectwise_company_id`, `email`, `hs_sku`), found by the store's link
    value indexes (`Reads.links_by_value`, migration 0012): a mapping without them finds nothing here, and the
    quote is resolved in ConnectWise as before."""
    company = await _linked_one(reads, tenant, HUBSPOT_COMPANIES_PAIR, quote.company, "connectwise_company_id")
    contact = None
    if company is not None:
        contact = await _linked_one(reads, tenant, HUBSPOT_CONTACTS_PAIR, quote.contact, "email", company=company["id"])
    wanted = _wanted(quote, shipping)
    links = await reads.links_by_value(tenant, PRODUCTS_PAIR, "hs_sku", wanted)
    products = {
        sku: int(link.left_id)
        for link in links
        if (sku := str(link.left_values.get("hs_sku") or "").lower()) in wanted
        and link.left_id.isdigit()
        and _live(link.left_values, link.right_values)
    }
    return Known(_company_of(company), _contact_of(contact), products)


def _wanted(quote: Quote, shipping: str | None) -> set[str]:
    """The lower-cased catalog identifiers a quote names (its lines', and the shipping product's when it ships);
    a blank one is no identifier (never looked up in links nor remembered: the catalog read refuses it)."""
    wanted = {line.product.strip().lower() for line in quote.lines}
    return (wanted | ({shipping.lower()} if shipping and quote.shipping > 0 else set())) - {""}


async def _linked_one(
    reads: Reads, tenant: str, pair: str, key: str | int, field_name: str, *, company: str | None = None
) -> dict[str, Any] | None:
    """The one live link of `pair` whose left id is `key` (digits) or whose `field_name` value is `key`
    (case-insensitive); None for none or several. With `company`, only a link whose `company` value is it. A blank
    key is none: it would find the links whose value is empty."""
    text = str(key).strip()
    if not text:
        return None
    if text.isdigit():
        links = list((await reads.links_by_left(tenant, pair, [text])).values())
    else:
        links = await reads.links_by_value(tenant, pair, field_name, [text])
    found = [
        {"id": link.left_id, **link.left_values}
        for link in links
        if _live(link.left_values, link.right_values)
        and (text.isdigit() or str(link.left_values.get(field_name) or "").strip().lower() == text.lower())
        and (company is None or str(link.left_values.get("company") or "") == str(company))
    ]
    return found[0] if len(found) == 1 else None


class Recent:
    """The companies, contacts and catalog items recent quotes resolved in ConnectWise, remembered `seconds` (at
    most `size` of each, the oldest forgotten first) to stand in for links where cwsync's syncs keep none.

    Without links every quote read its company, contact and products before its opportunity could be created
    (company and contact give the opportunity's ids; a refusal must write nothing): one more round trip than its
    writes, and ConnectWise's searches by identifier and e-mail are its slowest reads. A quoting tool names the
    same customers and products again and again; a quote whose records are all linked or remembered takes the
    links' path (`_plan`: its opportunity created while its products are read again, fresh), with the links'
    trade (docs/catalog.md): a remembered company or contact ConnectWise no longer has makes it refuse the create
    (nothing made; the quote is then resolved from ConnectWise, `_afresh`), a remembered product gone from the
    catalog is found by the read beside the create; a change made in ConnectWise in the last `seconds` (a contact
    moved to another company) is not seen. What a refusal names is forgotten; what was not found, or a blank text,
    is never remembered. 0 seconds: nothing is remembered. Per workflow, in memory: the server keeps one workflow
    per tenant."""

    def __init__(self, seconds: float, size: int = 4096, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.size, self.clock = seconds, size, clock
        self._companies: OrderedDict[str, tuple[float, Record]] = OrderedDict()
        self._contacts: OrderedDict[tuple[int, str], tuple[float, Record]] = OrderedDict()
        self._products: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def fill(self, quote: Quote, known: Known, shipping: str | None) -> Known:
        """`known` (what the links gave) with what is remembered for the rest of the quote's records."""
        if self.seconds <= 0:
            return known
        now = self.clock()
        company = known.company or self._get(self._companies, _key(quote.company), now)
        contact = known.contact
        if contact is None and company is not None:
            contact = self._get(self._contacts, (int(company["id"]), _key(quote.contact)), now)
        remembered = {
            sku: held[1]
            for sku in _wanted(quote, shipping) - known.products.keys()
            if (held := self._products.get(sku)) is not None and self._fresh(held[0], now)
        }
        return Known(company, contact, {**known.products, **remembered})

    def keep(self, quote: Quote, company: Record | None, contact: Record | None, lines: Sequence[PlannedLine]) -> None:
        """Remember what a quote read in ConnectWise: its company (`_plan`'s view, with the type), its contact (of
        the quote's company) and its lines' catalog identifiers. None: not read (linked or remembered), so not
        remembered again: a remembered record is forgotten `seconds` after it was read, however often it is used."""
        if self.seconds <= 0:
            return
        now = self.clock()
        if company is not None:
            kept = {key: company.get(key) for key in ("id", "identifier", "name", "type")}
            self._put(self._companies, _key(quote.company), (now, kept | {_FROM_LINK: True}))
        if contact is not None:
            owner = int((contact.get("company") or {}).get("id") or 0)
            person = {key: contact.get(key) for key in ("id", "firstName", "lastName")}
            self._put(self._contacts, (owner, _key(quote.contact)), (now, person))
        for line in lines:  # read again beside every create: fresh each time
            self._put(self._products, line.product.strip().lower(), (now, line.catalog_id))

    def forget(self, quote: Quote, refused: QuoteRefused, shipping: str | None) -> None:
        """Forget what a refusal names: the quote's company and contact, or its products (and shipping's)."""
        if refused.code in ("unknown_company", "unknown_contact"):
            company = self._companies.pop(_key(quote.company), None)
            if company is not None:
                self._contacts.pop((int(company[1]["id"]), _key(quote.contact)), None)
        elif refused.code == "unknown_product":
            for sku in _wanted(quote, shipping):
                self._products.pop(sku, None)

    def _fresh(self, since: float | None, now: float) -> bool:
        return since is not None and now - since < self.seconds

    def _get(self, held: OrderedDict[Any, tuple[float, Record]], key: Any, now: float) -> Record | None:
        if not _filled(key):
            return None
        found = held.get(key)
        if found is None or not self._fresh(found[0], now):
            return None
        return dict(found[1])

    def _put(self, held: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        if not _filled(key):  # a blank text names no record: nothing is remembered under it
            return
        held[key] = value
        held.move_to_end(key)
        while len(held) > self.size:
            held.popitem(last=False)


def _key(value: str | int) -> str:
    return str(value).strip().lower()


def _filled(key: str | tuple[int, str]) -> bool:
    """Whether a `Recent` key names a record: a blank company, contact or product text names none."""
    return bool(key[1] if isinstance(key, tuple) else key)


def _live(left: Mapping[str, Any], right: Mapping[str, Any]) -> bool:
    """A link whose ConnectWise record was, when last seen, there and synced (not marked deleted, excluded, gone
    in HubSpot, or archived)."""
    return not (DELETED in left or left.get(EXCLUDED) or right.get(GONE) or left.get("state") == "archived")


def _company_of(link: Mapping[str, Any] | None) -> Record | None:
    if link is None or not str(link["id"]).isdigit():
        return None
    kind = link.get("connectwise_company_type") or None
    name, identifier = link.get("name"), link.get("connectwise_company_id")
    return {"id": int(link["id"]), "identifier": identifier, "name": name, "type": kind, _FROM_LINK: True}


def _contact_of(link: Mapping[str, Any] | None) -> Record | None:
    if link is None or not str(link["id"]).isdigit():
        return None
    return {"id": int(link["id"]), "firstName": link.get("firstname"), "lastName": link.get("lastname")}


class _Unfinished(Exception):
    """The opportunity was created beside the products' read, and that read failed: refused the quote (a product's
    link was stale: gone from the catalog since the catalog sync saw it) or ConnectWise failed. The opportunity is
    kept and journaled; the quote (corrected, for a refusal) submitted again completes it."""

    def __init__(self, opportunity_id: int, error: QuoteRefused | CwsyncApiError) -> None:
        super().__init__(str(error))
        self.opportunity_id, self.error = opportunity_id, error
        if isinstance(error, QuoteRefused):
            self.reason = (
                f"{error.code}: {error.reason} (opportunity {opportunity_id} was created without lines; "
                "submitting the corrected quote again completes it)"
            )
        else:
            self.reason = (
                f"not finished ({error.message}): opportunity {opportunity_id} was created, submitting the quote "
                "again completes it"
            )


async def _together(
    opening: Awaitable[int], catalog: asyncio.Future[dict[str, Record]], external_id: str
) -> tuple[int, dict[str, Record]]:
    """The opportunity's create and the products' read, at once: both answers, the create's failure first."""
    made, items = await asyncio.gather(opening, catalog, return_exceptions=True)
    if isinstance(made, BaseException):
        raise made
    if isinstance(items, QuoteRefused | CwsyncApiError):
        log.warning("quote.products_unread", external_id=external_id, opportunity=made, reason=str(items))
        raise _Unfinished(made, items)
    if isinstance(items, BaseException):
        raise items
    return made, items


async def _settle(read: asyncio.Future[Any]) -> None:
    """End the products' read when planning stopped before using it (a refusal or failure came first)."""
    if not read.done():
        read.cancel()
        await asyncio.wait((read,))
    if not read.cancelled():
        read.exception()  # retrieved: not logged as never retrieved


def _failed(run: WorkflowRun, quote: Quote, exc: CwsyncApiError, opportunity_id: int | None) -> None:
    reason = f"not finished ({exc.message}): submitting the quote again completes it"
    right_id = str(opportunity_id) if opportunity_id else None
    source = quote.model_dump(mode="json")
    run.item(
        action="fail",
        status="failed",
        left_id=quote.external_id,
        right_id=right_id,
        reason=reason,
        source_values=source,
    )


def _answered(trigger: Trigger) -> bool:
    """Whether a refusal is answered to the one who asked (a REST 4xx with its code and reason): then it is not
    recorded, as no refused request writes anything (issue 20). Refused from the CLI or a HubSpot webhook (no one
    to answer), it is a run of pair `quotes` with one skipped item, for `quotes explain` and `cwsync history`."""
    return trigger == "api"


def _refused(run: WorkflowRun, external_id: str, refused: QuoteRefused, *, source: Quote | None) -> None:
    reason = f"{refused.code}: {refused.reason}"
    values = source.model_dump(mode="json") if source else {}
    run.item(action="skip", status="failed", left_id=external_id, reason=reason, source_values=values)


def _marker(external_id: str) -> str:
    """What the opportunity's notes carry so that a lost create can be found: `(cwsync: quote <external id>)`."""
    return f"(cwsync: quote {external_id})"


def _opportunity_lookup(company_id: int, external_id: str) -> Condition:
    """The opportunity of a quote in ConnectWise: its company, and the quote's marker in its notes."""
    return all_of(F("company/id") == company_id, F("notes").contains(_marker(external_id)))


def _line_id(answer: Record) -> int | None:
    """The forecast item's id in the answer to a PUT of …/forecast/{id} (a `ForecastItem`, by the spec)."""
    value = answer.get("id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _items_of(rows: list[Record]) -> list[Record]:
    """The forecast items in what …/forecast answers: `Forecast` objects (the spec: GET gives `[Forecast]`, POST
    one `Forecast`), each holding `forecastItems`; a row that is an item itself is taken as one (accepted too,
    as api-notes §5.5 leaves the GET's live shape UNCONFIRMED)."""
    items: list[Record] = []
    for row in rows:
        held = row.get("forecastItems")
        items += [i for i in held if isinstance(i, dict)] if isinstance(held, list) else [row]
    return items


def _line_in(items: list[Record], body: Mapping[str, Any]) -> int | None:
    """The id of the item that is the line `body` describes (the newest, should there be two)."""
    found = [line_id for i in items if _same_line(i, body) and (line_id := _line_id(i)) is not None]
    return max(found, default=None)


def _same_line(item: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """Whether a forecast item is the line `body` describes (position, catalog item, description, quantity)."""
    catalog = item.get("catalogItem") or {}
    return (
        item.get("sequenceNumber") == body["sequenceNumber"]
        and catalog.get("id") == body["catalogItem"]["id"]
        and item.get("forecastDescription") == body["forecastDescription"]
        and float(item.get("quantity") or 0) == float(body["quantity"])
    )


def _written(link: Link | None, entries: list[JournalEntry]) -> tuple[dict[str, Any] | None, int | None]:
    """What is written for a quote: the link's values, with the journal of an unfinished attempt laid over them.

    A step that finished counts as written (a created opportunity, a created or replaced line, a removed line); an
    update or delete that was begun counts as not yet written (its record is known, its content is not), so it is
    planned again; a create that was begun is left to the runner, which looks its record up before creating it.
    """
    stored = dict(link.left_values) if link else None
    opportunity_id = int(link.right_id) if link else None
    if not entries:
        return stored, opportunity_id
    stored = stored or {}
    lines = {int(entry["position"]): dict(entry) for entry in stored.get("lines") or []}
    removed: set[int] = set()
    for entry in entries:
        if entry.record_id is None:
            continue
        done, step = entry.status == "done", entry.step
        if step == "opportunity":
            opportunity_id = int(entry.record_id)
            stored["opportunity"] = entry.data.get("opportunity") if done else {}
        elif step.startswith("line:"):
            position = int(step.removeprefix("line:"))
            hashed = entry.data.get("hash") if done else None
            lines[position] = {"position": position, "forecast_id": int(entry.record_id), "hash": hashed}
        elif step.startswith("remove:") and done:
            removed.add(int(entry.record_id))
    stored["lines"] = [line for _, line in sorted(lines.items()) if line["forecast_id"] not in removed]
    return (stored if opportunity_id is not None else None), opportunity_id


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
