"""`cwsync catalog sync | explain` and `cwsync quotes submit | show | explain | from-hubspot` (SB-1 … SB-6).

Exit codes: 0 done, 1 a remote problem or a refused quote (the message says why; nothing was written), 2 a
configuration problem.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich import box

from cwsync.cli.output import console, fail, new_table
from cwsync.cli.sync import CONFIG, JSON, load, run_async

if TYPE_CHECKING:
    from cwsync.config import Config
    from cwsync.integrations.catalog.engine import CatalogEngine, CatalogReport
    from cwsync.workflows.quotes.document import Quote, QuotePlan
    from cwsync.workflows.quotes.workflow import QuoteWorkflow

__all__ = ["catalog_app", "quotes_app"]

T = TypeVar("T")
catalog_app = typer.Typer(no_args_is_help=True, help="ConnectWise product catalog → HubSpot products.")
quotes_app = typer.Typer(no_args_is_help=True, help="Approved quotes → ConnectWise opportunities.")


def _load(path: Path) -> Config:
    config = load(path)
    if config.syncs.catalog is None or not config.syncs.catalog.enabled:
        fail(
            2,
            f"{path}: syncs.catalog: the catalog sync is not configured or off",
            kind="ConfigError",
            fix="add a syncs.catalog section (docs/catalog.md)",
        )
    return config


def _catalog(config: Config, work: Callable[[CatalogEngine], Awaitable[T]], *, progress: bool = False) -> T:
    """Run `work` on the catalog engine; with `progress`, a bar of the items done out of ConnectWise's count (on a
    terminal only)."""
    from cwsync.cli.output import ProgressBars
    from cwsync.integrations.catalog.engine import CatalogEngine
    from cwsync.integrations.hubspot.context import opened

    async def run() -> T:
        async with opened(config) as ctx:
            with ProgressBars(quiet=not progress, unit="items") as bars:
                engine = CatalogEngine(config, ctx.store, ctx.cw, ctx.hs, progress=bars.advance, totals=bars.total)
                return await work(engine)

    return run_async(run)


def _quotes(config: Config, work: Callable[[QuoteWorkflow], Awaitable[T]]) -> T:
    from cwsync.integrations.hubspot.context import opened
    from cwsync.workflows.quotes.document import QuoteRefused
    from cwsync.workflows.quotes.workflow import QuoteWorkflow

    async def run() -> T:
        async with opened(config, require_hubspot=False) as ctx:
            return await work(QuoteWorkflow(config, ctx.store, ctx.cw, ctx.hubspot))

    try:
        return run_async(run)
    except QuoteRefused as refused:
        fail(
            1,
            f"refused ({refused.code}): {refused.reason}; nothing was written to ConnectWise",
            kind="QuoteRefused",
            fix="correct the quote (docs/catalog.md: the quote document) and submit it again",
        )


@catalog_app.command("sync")
def catalog_sync(
    config: Path = CONFIG,
    full: bool = typer.Option(False, "--full", help="Every catalog item, not only those changed since the last run."),
    plan: bool = typer.Option(False, "--plan", help="Dry run: show what would change, write nothing."),
    only: list[str] = typer.Option(
        [], "--only", help="Only options (ConnectWise's lists as HubSpot dropdown options) or products."
    ),
    record: list[int] = typer.Option(
        [], "--record", help="Only this catalog item id, now (repeatable): replay; the cursor stays where it is."
    ),
    as_json: bool = JSON,
) -> None:
    """Sync the ConnectWise procurement catalog to HubSpot products."""
    from cwsync.core.selection import UnknownTypeError, select_types
    from cwsync.integrations.catalog.engine import CATALOG_TYPES

    if record and (full or only):
        raise typer.BadParameter(
            "replays these catalog items only: it takes no --full or --only", param_hint="--record"
        )
    cfg = _load(config)
    if record:
        report = _catalog(cfg, lambda engine: engine.sync_products(record, dry_run=plan, trigger="cli"))
        if as_json:
            print(json.dumps(report.as_json(), indent=2, default=str))
        else:
            _print_report(report)
        return
    try:
        chosen = select_types(only, CATALOG_TYPES, what="catalog data type")
    except UnknownTypeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from exc
    if chosen == ["options"]:
        changed = _catalog(cfg, lambda engine: engine.ensure_properties(dry_run=plan, options_only=True))
        if as_json:
            print(json.dumps({"dry_run": plan, "options": changed}, indent=2))
        else:
            console.print(f"dropdown options {'to import' if plan else 'imported'}: {', '.join(changed) or 'none'}")
        return
    report = _catalog(cfg, lambda engine: engine.run(full=full, dry_run=plan), progress=True)
    if as_json:
        print(json.dumps(report.as_json(), indent=2, default=str))
        return
    _print_report(report)


def _print_report(report: CatalogReport) -> None:
    what = "plan" if report.dry_run else f"run {report.run_id}"
    counts = ", ".join(f"{k} {v}" for k, v in report.counts.as_dict().items() if v)
    console.print(f"catalog {what} ({'full' if report.full else 'incremental'}): {counts or 'nothing to do'}")
    if report.cancelled:
        from cwsync.cli.runs import CANCELLED

        console.print(CANCELLED)
    table = new_table(box=box.SIMPLE)
    for column in ("action", "identifier", "hubspot id", "why"):
        table.add_column(column)
    for item in report.items[:50]:
        table.add_row(item.action, item.identifier, item.hubspot_id or "", "; ".join([item.reason, *item.notes]))
    if report.items:
        console.print(table)
    if len(report.items) > 50:
        console.print(f"... and {len(report.items) - 50} more (use --json)")


@catalog_app.command("explain")
def catalog_explain(identifier: str, config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Why a product is (not) in HubSpot: not in the catalog, no access, inactive, category unmapped."""
    cfg = _load(config)
    answer = _catalog(cfg, lambda engine: engine.explain(identifier))
    _print_answer(answer, as_json)


def _print_answer(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(answer, indent=2, default=str))
        return
    for reason in answer.get("reasons") or [answer.get("answer")]:
        console.print(f"- {reason}")
    for item in answer.get("history") or []:
        console.print(f"  run {item['run_id']}: {item['action']} ({item['status']}) {item['reason']}")


def _read_quote(path: Path) -> Quote:
    from pydantic import ValidationError

    from cwsync.workflows.quotes.document import Quote

    try:
        return Quote.model_validate_json(path.read_text(encoding="utf-8"))
    except (OSError, ValidationError) as exc:
        fail(
            2,
            f"not a quote document ({path}): {exc}",
            kind="QuoteDocumentError",
            fix="see docs/catalog.md for the quote document (examples/quote.json)",
        )


@quotes_app.command("submit")
def quotes_submit(
    file: Path = typer.Argument(..., help="A quote document (JSON)."),
    config: Path = CONFIG,
    plan: bool = typer.Option(False, "--plan", help="Dry run: show the opportunity and lines, write nothing."),
    as_json: bool = JSON,
) -> None:
    """Turn an approved quote into a ConnectWise opportunity (again: updates the same one)."""
    cfg = _load(config)
    quote = _read_quote(file)
    result = _quotes(cfg, lambda workflow: workflow.submit(quote, plan_only=plan, trigger="cli"))
    _print_plan(result, plan, as_json)


@quotes_app.command("from-hubspot")
def quotes_from_hubspot(
    deal_id: str,
    config: Path = CONFIG,
    plan: bool = typer.Option(False, "--plan", help="Dry run."),
    as_json: bool = JSON,
) -> None:
    """Turn a HubSpot deal (in the configured stage, with line items) into its ConnectWise opportunity."""
    cfg = _load(config)
    result = _quotes(cfg, lambda workflow: workflow.submit_deal(deal_id, plan_only=plan, trigger="cli"))
    _print_plan(result, plan, as_json)


def _print_plan(plan: QuotePlan, dry_run: bool, as_json: bool) -> None:
    if as_json:
        print(json.dumps(plan.as_json(), indent=2, default=str))
        return
    verb = "would" if dry_run else "did"
    target = f"opportunity {plan.opportunity_id}" if plan.opportunity_id else "a new opportunity"
    console.print(f"quote {plan.external_id}: {verb} {plan.action} {target} ({plan.opportunity['name']})")
    company, contact = plan.company, plan.contact
    console.print(f"  company {company['identifier']} ({company['type']}), contact {contact['name']}")
    table = new_table(box=box.SIMPLE)
    for column in ("#", "product", "qty", "price", "cost", "total", "change"):
        table.add_column(column)
    ops = {c.position: c.op for c in plan.changes}
    for line in plan.lines:
        row = (line.position, line.product, line.quantity, line.price, line.cost, line.revenue, ops.get(line.position))
        table.add_row(*(str(v) for v in row))
    console.print(table)
    totals = plan.totals
    console.print(f"  total {totals['revenue']:.2f}, cost {totals['cost']:.2f}, margin {totals['margin']:.2f}")


@quotes_app.command("show")
def quotes_show(
    external_id: str,
    config: Path = CONFIG,
    _as_json: bool = typer.Option(False, "--json", help="Machine-readable output (the output is always JSON)."),
) -> None:
    """The opportunity a quote became, its lines and history (JSON)."""
    cfg = _load(config)
    print(json.dumps(_quotes(cfg, lambda workflow: workflow.show(external_id)), indent=2, default=str))


@quotes_app.command("explain")
def quotes_explain(external_id: str, config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Why a quote did (not) become an opportunity (the stored refusal reason)."""
    cfg = _load(config)
    _print_answer(_quotes(cfg, lambda workflow: workflow.explain(external_id)), as_json)
