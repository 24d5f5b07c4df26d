"""`cwsync hudu test | match | sync`: the ConnectWise → Hudu documentation sync (HU-1 … HU-5).

Exit codes: 0 done, 1 a remote or setup problem (the message says how to fix it), 2 a configuration problem.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer
from rich import box

from cwsync.cli.output import ProgressBars, console, fail, new_table
from cwsync.cli.sync import CONFIG, JSON, load, run_async

if TYPE_CHECKING:
    from cwsync.config import Config
    from cwsync.config.hudu import DataType
    from cwsync.integrations.hudu.matching import Decision, Suggestion
    from cwsync.integrations.hudu.run import HuduRunReport, HuduSyncEngine

__all__ = ["app"]

T = TypeVar("T")
app = typer.Typer(no_args_is_help=True, help="ConnectWise → Hudu IT documentation: test, match companies, sync.")
#: `cwsync.config.hudu.DATA_TYPES`, for the help text (the configuration is imported when a command runs; a test
#: checks they agree).
HELP_DATA_TYPES = ("companies", "sites", "contacts", "configurations", "agreements")


def _load(path: Path) -> Config:
    from cwsync.config import ConfigError
    from cwsync.integrations.hudu.context import hudu_sync_config

    config = load(path)
    try:
        hudu_sync_config(config)
    except ConfigError as exc:
        fail(2, str(exc), kind="ConfigError", fix="add connections.hudu and syncs.hudu (docs/hudu.md)")
    return config


def _with_engine(config: Config, work: Callable[[HuduSyncEngine], Awaitable[T]], *, progress: bool = False) -> T:
    """Open the store and both clients, run `work`; expected failures become a message and an exit code.

    With `progress`, a bar per data type counts the records done (drawn on a terminal only)."""
    from cwsync.config import ConfigError
    from cwsync.integrations.hudu.context import opened
    from cwsync.integrations.hudu.layouts import LayoutError
    from cwsync.integrations.hudu.run import HuduSyncEngine

    async def run() -> T:
        async with opened(config) as ctx:
            with ProgressBars(quiet=not progress) as bars:
                engine = HuduSyncEngine(config, ctx.store, ctx.cw, ctx.hudu, progress=bars.advance, totals=bars.total)
                return await work(engine)

    try:
        return run_async(run)
    except ConfigError as exc:
        fail(2, str(exc), kind="ConfigError", fix="correct the configuration (docs/hudu.md)")
    except LayoutError as exc:
        fix = (
            "activate the layout in Hudu (Admin → Asset Layouts), then run this again"
            if exc.inactive
            else "fix syncs.hudu.layouts, or run `cwsync hudu test --create-layouts`"
        )
        fail(1, str(exc), kind="LayoutError", fix=fix)


@app.command("test")
def check_connection(
    config: Path = CONFIG,
    create_layouts: bool = typer.Option(False, "--create-layouts", help="Create missing layouts with default fields."),
    as_json: bool = JSON,
) -> None:
    """Test both connections and check that every configured asset layout exists in Hudu."""
    cfg = _load(config)
    result = _with_engine(cfg, lambda engine: engine.test(create_missing=create_layouts))
    denied = [c for c in result["permissions"] if c["status"] == "fail"]
    if as_json:
        print(json.dumps(result, indent=2))
        if denied:
            raise typer.Exit(7)
        return
    if denied:
        console.print(
            f"[red]connected, but the API member cannot read what the sync needs[/red] (Hudu {result['hudu_version']})"
        )
        for check in denied:
            console.print(f"  [red]✗[/red] {check['name']}: {check['detail']}", markup=True)
            if check["fix"]:
                console.print(f"    [yellow]fix:[/yellow] {check['fix']}")
        raise typer.Exit(7)  # as `cwsync doctor`: a missing permission
    console.print(f"[green]connection successful[/green]: Hudu {result['hudu_version']}, ConnectWise ok")
    for check in result["permissions"]:
        console.print(f"  ConnectWise {check['name']} ({check['detail']})")
    for name, layout_id in result["layouts"].items():
        console.print(f"  layout {name!r} (id {layout_id})")


def _parse_set(values: list[str]) -> list[Decision]:
    from cwsync.integrations.hudu.matching import Decision

    decisions = []
    for text in values:
        cw_id, _, choice = text.partition("=")
        try:
            key = int(cw_id)
            if choice in ("create", "unmatched"):
                decisions.append(Decision(key, choice, None))  # type: ignore[arg-type]
            else:
                decisions.append(Decision(key, "match", int(choice)))
        except ValueError as exc:
            message = f"{text!r}: expected CW_ID=HUDU_ID, CW_ID=create or CW_ID=unmatched"
            raise typer.BadParameter(message, param_hint="--set") from exc
    return decisions


@app.command("match")
def match(
    config: Path = CONFIG,
    auto: bool = typer.Option(False, "--auto", help="Accept every exact suggestion (identifier or same name)."),
    decide: list[str] = typer.Option([], "--set", help="Decide one: CW_ID=HUDU_ID, CW_ID=create, CW_ID=unmatched."),
    as_json: bool = typer.Option(False, "--json", help="Print suggestions and decisions; ask nothing."),
) -> None:
    """Match ConnectWise companies to Hudu companies (or create them, or leave them out): HU-2."""
    cfg = _load(config)
    given = _parse_set(decide)
    if auto or given:

        async def apply(engine: HuduSyncEngine) -> list[Decision]:
            done = await engine.decide(given) if given else []
            return done + (await engine.auto_match() if auto else [])

        try:
            decided = _with_engine(cfg, apply)
        except ValueError as exc:
            fail(1, str(exc), kind="Refused")
        if not as_json:
            for d in decided:
                console.print(f" {d.cw_id}: {d.kind}" + (f" → Hudu {d.hudu_id}" if d.hudu_id else ""))
            console.print(f"{len(decided)} decision(s) stored")
    suggestions = _with_engine(cfg, lambda engine: engine.suggestions())
    if as_json:
        print(json.dumps([s.as_json() for s in suggestions], indent=2))
        return
    if auto or given:
        _print_pending(suggestions)
        return
    chosen = _ask(suggestions)
    if chosen:
        _with_engine(cfg, lambda engine: engine.decide(chosen))
    console.print(f"{len(chosen)} decision(s) stored; run `cwsync hudu sync` to import the matched companies")


def _print_pending(suggestions: list[Suggestion]) -> None:
    pending = [s for s in suggestions if s.decision is None]
    console.print(f"{len(pending)} compan{'y' if len(pending) == 1 else 'ies'} still without a decision")


def _ask(suggestions: list[Suggestion]) -> list[Decision]:
    """One prompt per undecided company: the suggestion, create, unmatched, a Hudu id, or skip for now."""
    chosen: list[Decision] = []
    taken: set[int] = set()
    for s in suggestions:
        if s.decision is not None:
            continue
        best = next((c for c in s.candidates if c.hudu_id not in taken), None)
        console.print(f"\n[bold]{s.cw_name}[/bold] (ConnectWise {s.cw_id}, {s.cw_identifier})")
        for c in s.candidates[:5]:
            console.print(f"   Hudu {c.hudu_id}: {c.name} ({c.reason}, {c.score:.2f})")
        hint = f"[m]atch Hudu {best.hudu_id}, " if best else ""
        answer = typer.prompt(f"  {hint}[c]reate, [u]nmatched, a Hudu id, [s]kip, [q]uit", default="s")
        answer = answer.strip().lower()
        if answer == "q":
            break
        decision = _answer(s, answer, best.hudu_id if best else None)
        if decision is not None:
            chosen.append(decision)
            taken.update([decision.hudu_id] if decision.hudu_id else [])
    return chosen


def _answer(s: Suggestion, answer: str, best: int | None) -> Decision | None:
    from cwsync.integrations.hudu.matching import Decision

    if answer == "m" and best is not None:
        return Decision(s.cw_id, "match", best)
    if answer == "c":
        return Decision(s.cw_id, "create")
    if answer == "u":
        return Decision(s.cw_id, "unmatched")
    if answer.isdigit():
        return Decision(s.cw_id, "match", int(answer))
    return None


@app.command("sync")
def sync(
    config: Path = CONFIG,
    only: list[str] = typer.Option(
        [], "--only", help=f"Only these data types, comma-separated or repeated ({', '.join(HELP_DATA_TYPES)})."
    ),
    plan: bool = typer.Option(False, "--plan", help="Show what would change; write nothing."),
    show: int = typer.Option(30, "--show", help="How many planned records to list."),
    incremental: bool = typer.Option(
        False, "--incremental", help="Read only what changed in ConnectWise since the last run (a callback's re-sync)."
    ),
    record: list[str] = typer.Option(
        [],
        "--record",
        help="Only this ConnectWise record, now, as DATA_TYPE:ID (e.g. contacts:123; repeatable): replay; the"
        " cursors stay where they are.",
    ),
    as_json: bool = JSON,
) -> None:
    """Sync: companies first, then the matched companies' sites, contacts, configurations and agreements."""
    from cwsync.config.hudu import DATA_TYPES
    from cwsync.core.selection import UnknownTypeError, select_types

    cfg = _load(config)
    assert cfg.syncs.hudu is not None
    enabled = cfg.syncs.hudu.data_types()
    if record:
        if only or incremental:
            why = "replays these records only: it takes no --only or --incremental"
            raise typer.BadParameter(why, param_hint="--record")
        records: dict[DataType, list[str]] = {}
        for ref in record:
            kind, _, record_id = ref.partition(":")
            if kind not in enabled or not record_id.isdigit():
                expected = f"expected DATA_TYPE:ID with DATA_TYPE one of {', '.join(enabled)}"
                raise typer.BadParameter(f"{ref!r}: {expected}", param_hint="--record")
            records.setdefault(kind, []).append(record_id)
        replayed = _with_engine(cfg, lambda engine: engine.run(records=records, dry_run=plan))
        _print_report(replayed, as_json=as_json, show=show)
        return
    try:
        kinds: list[DataType] = select_types(only, enabled, what="data type", off=DATA_TYPES)  # type: ignore[assignment]
    except UnknownTypeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from exc
    report = _with_engine(
        cfg, lambda engine: engine.run(only=kinds or None, dry_run=plan, full=not incremental), progress=True
    )
    _print_report(report, as_json=as_json, show=show if plan else 0)


def _print_report(report: HuduRunReport, *, as_json: bool, show: int) -> None:
    if as_json:
        print(json.dumps(report.as_json(), indent=2, default=str))
        return
    title = "Plan (nothing written)" if report.dry_run else f"Run {report.run_id}"
    table = new_table(title=title, box=box.SIMPLE_HEAD, title_justify="left", padding=(0, 1), pad_edge=False)
    for column in ("data type", "created", "updated", "linked", "same", "skipped", "archived", "failed"):
        table.add_column(column, justify="left" if column == "data type" else "right")
    for t in report.types:
        c = t.counts
        values = (c.created, c.updated, c.linked, c.unchanged, c.skipped, c.deleted, c.failed)
        table.add_row(t.kind, *(str(v) for v in values))
    console.print(table)
    if report.cancelled:
        from cwsync.cli.runs import CANCELLED

        console.print(CANCELLED)
    if report.awaiting_decision:
        console.print(
            f"[yellow]{report.awaiting_decision} ConnectWise companies have no match decision[/yellow]:"
            " nothing of them is imported until `cwsync hudu match` decides"
        )
    listed = [(t.kind, i) for t in report.types for i in t.items][:show]
    for kind, item in listed:
        console.print(
            f" [bold]{item.action:>7}[/bold] {kind:<14} cw {item.cw_id} → hudu {item.hudu_id or '-'}: {item.reason}"
        )
        for name, (old, new) in list(item.diff.items())[:6]:
            console.print(f"          {name}: {old!r} → {new!r}")
