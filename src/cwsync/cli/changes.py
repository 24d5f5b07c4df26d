"""`cwsync changes search | link | event | show | devices`: the change workflow from the command line (CB-2 … CB-7).

Every command checks the `changes:` configuration against ConnectWise first (unknown boards, statuses or companies
are refused with the valid names listed). Exit codes: 0 done, 1 refused or ConnectWise failed (nothing half-done
is hidden: the message says what), 2 the configuration or the arguments are wrong.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from cwsync.cli.output import console, fail, json_mode_active, new_table
from cwsync.cli.sync import run_async

if TYPE_CHECKING:
    from pydantic import BaseModel, TypeAdapter

    from cwsync.config import Config
    from cwsync.config.changes import ChangesConfig
    from cwsync.workflows.changes.models import ChangeEvent, EventResult
    from cwsync.workflows.changes.workflow import ChangeWorkflow

app = typer.Typer(
    no_args_is_help=True,
    help="Change management → ConnectWise tickets: search tickets, link changes, send lifecycle events.",
)
devices_app = typer.Typer(
    no_args_is_help=True, help="The device inventory: ConnectWise configurations of mapped types (CB-7)."
)
app.add_typer(devices_app, name="devices")
errors = Console(stderr=True)
T = TypeVar("T")

CONFIG = typer.Option(Path("cwsync.yaml"), "--config", "-c", envvar="CWSYNC_CONFIG", help="The configuration file.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")
DRY_RUN = typer.Option(False, "--dry-run", help="Show the writes it would make; write nothing.")
FILE = typer.Option(None, "--file", "-f", help="The request as a JSON file ('-' reads stdin); options override it.")
_NAMED = re.compile(r"^\s*(?P<name>[^<]*?)\s*<(?P<email>[^>]+)>\s*$")


@functools.cache
def _events() -> TypeAdapter[ChangeEvent]:
    """The validator of a lifecycle event (built on first use: pydantic stays out of `cwsync --help`)."""
    from pydantic import TypeAdapter

    from cwsync.workflows.changes.models import ChangeEvent

    event_type: Any = ChangeEvent  # an Annotated union: typed as Any so mypy (cached or not) takes it the same way
    return TypeAdapter(event_type)


# -- commands -----------------------------------------------------------------------------------------------------


@app.command()
def search(
    company: str = typer.Argument(..., help="The change tool's company key (a key of changes.companies)."),
    query: str = typer.Argument("", help="A ticket number (#123 or 123) or words of its summary."),
    limit: int = typer.Option(25, min=1, max=100, help="How many tickets to list."),
    include_closed: bool = typer.Option(False, "--include-closed", help="Closed tickets too."),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Find tickets of a company on its allowed boards, by number or summary."""
    tickets = _run(config, lambda wf: wf.search_tickets(company, query, limit=limit, include_closed=include_closed))
    if as_json:
        _echo([t.model_dump(mode="json") for t in tickets])
        return
    table = new_table("ticket", "summary", "board", "status", "company")
    for t in tickets:
        table.add_row(f"#{t.id}", t.summary, t.board or "", t.status or "", t.company or "")
    console.print(table if tickets else "no tickets found")


@app.command()
def link(
    change_id: str | None = typer.Option(None, "--change-id", help="The change's id in the change tool."),
    company: str | None = typer.Option(None, "--company", help="The change tool's company key."),
    ticket: int | None = typer.Option(None, "--ticket", help="The ConnectWise ticket number."),
    title: str | None = typer.Option(None, "--title"),
    description: str | None = typer.Option(None, "--description"),
    url: str | None = typer.Option(None, "--url", help="Link to the change in the change tool."),
    creator: str | None = typer.Option(None, "--creator", help="E-mail, or 'Name <email>'."),
    technical_approver: str | None = typer.Option(None, "--technical-approver"),
    operational_approver: str | None = typer.Option(None, "--operational-approver"),
    committee: list[str] = typer.Option([], "--committee", help="A vCAB member (repeat for each)."),
    event_id: str | None = typer.Option(None, "--event-id", help="De-duplication id (default: <change-id>:created)."),
    file: str | None = FILE,
    dry_run: bool = DRY_RUN,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Link a change to a ticket: status, internal note, resources (creator, approvers, vCAB)."""
    from cwsync.workflows.changes.models import LinkRequest

    values = _read(file) | _given(
        change_id=change_id,
        company=company,
        ticket_id=ticket,
        title=title,
        description=description,
        url=url,
        creator=_person(creator),
        technical_approver=_person(technical_approver),
        operational_approver=_person(operational_approver),
        committee=[_person(p) for p in committee] or None,
        event_id=event_id,
    )
    request = _validated(lambda: LinkRequest.model_validate(values))
    result = _run(config, lambda wf: wf.link(request, plan=dry_run, trigger="cli"))
    _print_result(result, as_json=as_json)


@app.command()
def event(
    change_id: str = typer.Argument(..., help="The change's id."),
    kind: str | None = typer.Argument(
        None,
        help="technical_approval, operational_approval, fully_approved, scheduled, implementation_started, "
        "completed, failed, cancelled or time_entry.",
    ),
    event_id: str | None = typer.Option(
        None,
        "--event-id",
        help="De-duplication id: the same id is applied once (default: <change-id>:<kind>:<hash of the values>).",
    ),
    at: str | None = typer.Option(None, "--at", help="When it happened (ISO 8601 with a timezone)."),
    approver: str | None = typer.Option(None, "--approver", help="E-mail or 'Name <email>'."),
    comment: str | None = typer.Option(None, "--comment"),
    committee: list[str] = typer.Option([], "--committee", help="A vCAB member (repeat for each)."),
    start: str | None = typer.Option(None, "--start", help="Window or time entry start (with a timezone)."),
    end: str | None = typer.Option(None, "--end", help="Window or time entry end (with a timezone)."),
    plan: str | None = typer.Option(None, "--plan", help="The implementation plan ('@file' reads a file)."),
    engineer: list[str] = typer.Option([], "--engineer", help="An engineer for the window (repeat for each)."),
    implementer: str | None = typer.Option(None, "--implementer"),
    results: str | None = typer.Option(None, "--results"),
    test_results: str | None = typer.Option(None, "--test-results"),
    reason: str | None = typer.Option(None, "--reason"),
    rollback_notes: str | None = typer.Option(None, "--rollback-notes"),
    member: str | None = typer.Option(None, "--member", help="Time entry: the member's e-mail."),
    notes: str | None = typer.Option(None, "--notes", help="Time entry: the work done."),
    file: str | None = FILE,
    dry_run: bool = DRY_RUN,
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Apply one lifecycle event of a linked change to its ticket."""
    values = _read(file) | _given(
        kind=kind,
        event_id=event_id,
        at=at,
        approver=_person(approver),
        comment=comment,
        committee=[_person(p) for p in committee] or None,
        start=start,
        end=end,
        plan=_text(plan),
        engineers=[_person(p) for p in engineer] or None,
        implementer=_person(implementer),
        results=results,
        test_results=test_results,
        reason=reason,
        rollback_notes=rollback_notes,
        member=_person(member),
        notes=notes,
    )
    if "event_id" not in values and values.get("kind"):
        values["event_id"] = _default_event_id(change_id, values)
    parsed = _validated(lambda: _events().validate_python(values))
    result = _run(config, lambda wf: wf.apply(change_id, parsed, plan=dry_run, trigger="cli"))
    _print_result(result, as_json=as_json)


@app.command()
def show(
    change_id: str = typer.Argument(..., help="The change's id."),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """A change, its processed events and its ticket as ConnectWise shows it now."""
    view = _run(config, lambda wf: wf.show(change_id))
    if as_json:
        _echo(view.model_dump(mode="json"))
        return
    change = view.change
    console.print(f"change [bold]{change.change_id}[/bold] ({change.company}): {change.state}")
    if view.ticket:
        t = view.ticket
        console.print(f"ticket #{t.id} {t.summary!r} on {t.board}, status {t.status}", markup=False)
        if t.url:
            console.print(f"  open in ConnectWise: [link={t.url}]{t.url}[/link]")
    table = new_table("event", "kind", "status", "writes", "received")
    for e in change.events:
        table.add_row(e["event_id"], e["kind"], e["status"], str(e["writes"]), e["received_at"])
    console.print(table)
    for resource in change.data.resources.values():
        who = resource.member_identifier or "not a ConnectWise member"
        console.print(f"resource {resource.email} ({', '.join(resource.roles)}): {who}")
    if view.devices:
        console.print("devices: " + ", ".join(f"{d.name} ({d.device_type})" for d in view.devices), markup=False)


# -- devices ------------------------------------------------------------------------------------------------------


@devices_app.command("sync")
def devices_sync(
    full: bool = typer.Option(False, "--full", help="Read every configuration (and remove devices gone since)."),
    record: list[int] = typer.Option(
        [], "--record", help="Only this configuration id, now (repeatable): replay; the cursor stays where it is."
    ),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Sync ConnectWise configurations of mapped types into the device inventory (incremental unless --full)."""
    from cwsync.cli.output import ProgressBars
    from cwsync.workflows.changes.devices import sync_of

    async def work(wf: ChangeWorkflow) -> Any:
        sync = sync_of(wf.device_sync)
        if record:
            return await sync.run(records=record, trigger="cli")
        with ProgressBars(unit="configurations") as bars:  # quiet off a terminal and with --json
            return await sync.run(full=full, trigger="cli", progress=bars.advance, totals=bars.total)

    report = _run(config, work)
    if as_json:
        _echo(_dump(report))
        return
    since = f" since {report.since}" if report.since else ""
    console.print(
        f"device sync ({report.kind}{since}), run {report.run_id}: {report.read} configurations read", markup=False
    )
    console.print(
        f"  created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"skipped {report.skipped}, removed {report.deleted}",
        markup=False,
    )
    for cw_type, n in report.skipped_types.items():
        console.print(f"  skipped {n}: {cw_type} (not mapped)", markup=False)
    if report.cancelled:
        from cwsync.cli.runs import CANCELLED

        console.print(CANCELLED)


@devices_app.command("list")
def devices_list(
    hostname: str | None = typer.Option(None, "--hostname", help="Hostnames containing this (any case)."),
    company: str | None = typer.Option(None, "--company", help="ConnectWise company identifier or id."),
    limit: int = typer.Option(100, min=1, max=1000),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """List devices of the inventory."""
    found = _run(config, lambda wf: wf.devices.find(hostname=hostname, company=company, limit=limit))
    if as_json:
        _echo([_dump(d) for d in found])
        return
    table = new_table("hostname", "device type", "ConnectWise type", "company", "serial", "status")
    for d in found:
        table.add_row(d.name, d.device_type, d.cw_type, d.company or "", d.serial or "", d.status or "")
    console.print(table if found else "no devices found")


@devices_app.command("show")
def devices_show(
    hostname: str = typer.Argument(..., help="The device's hostname (its ConnectWise configuration name)."),
    company: str | None = typer.Option(None, "--company", help="When companies share the hostname."),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """One device by hostname, and the changes that mention it."""
    from cwsync.workflows.changes.devices import device_view

    view = _run(config, lambda wf: device_view(wf.devices, hostname, company=company))
    if as_json:
        _echo(_dump(view))
        return
    d = view.device
    console.print(f"{d.name}: {d.device_type} (ConnectWise {d.cw_type} #{d.cw_id})", markup=False)
    console.print(f"  company {d.company}, serial {d.serial or '-'}, status {d.status or '-'}", markup=False)
    console.print(f"  changes: {', '.join(view.changes) or '(none)'}", markup=False)


# -- plumbing -----------------------------------------------------------------------------------------------------


def _run(config_path: Path, work: Callable[[ChangeWorkflow], Awaitable[T]]) -> T:
    """Open the workflow for a configuration and run `work`; refusals and setup errors exit with a message."""
    from cwsync.workflows.changes.errors import ChangeRefused, SetupError

    config = _load(config_path)
    changes = config.syncs.changes
    if changes is None or not changes.enabled:
        _fail(2, f"{config_path}: no `syncs.changes` section (see docs/changes.md)", kind="ConfigError")

    async def run() -> T:
        async with _opened(config, changes) as workflow:
            return await work(workflow)

    try:
        return run_async(run)
    except SetupError as exc:
        _fail(2, str(exc), kind="SetupError")
    except ChangeRefused as exc:
        _fail(1, f"refused ({exc.code}): {exc.reason}", kind="ChangeRefused")


@asynccontextmanager
async def _opened(config: Config, changes: ChangesConfig) -> AsyncIterator[ChangeWorkflow]:
    from cwsync.integrations.root import opened
    from cwsync.workflows.changes.workflow import ChangeWorkflow

    async with opened(config, hubspot="none") as ctx:
        yield await ChangeWorkflow.start(client=ctx.cw, store=ctx.store, config=changes, tenant=config.tenant)


def _load(path: Path) -> Config:
    from cwsync.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        _fail(2, f"configuration error\n{exc}", kind="ConfigError")


def _fail(code: int, message: str, *, kind: str = "ChangeError") -> NoReturn:
    if json_mode_active():
        fail(code, message, kind=kind)
    errors.print(message, style="red", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)


def _validated(build: Callable[[], T]) -> T:
    from pydantic import ValidationError

    try:
        return build()
    except ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or 'request'}: {e['msg']}" for e in exc.errors()]
        _fail(2, "invalid request:\n" + "\n".join(lines), kind="InvalidRequest")


def _read(file: str | None) -> dict[str, Any]:
    if file is None:
        return {}
    try:
        text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        _fail(2, f"cannot read {file}: {exc}", kind="FileError")
    if not isinstance(data, dict):
        _fail(2, f"{file} must hold a JSON object", kind="InvalidRequest")
    return data


def _default_event_id(change_id: str, values: dict[str, Any]) -> str:
    """`<change-id>:<kind>:<8 hex>`: the same command given twice is one event; other values make another one."""
    import hashlib

    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{change_id}:{values['kind']}:{digest}"


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _person(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    named = _NAMED.match(text)
    if named:
        return {"email": named["email"].strip(), "name": named["name"]} if named["name"] else {"email": named["email"]}
    return {"email": text.strip()}


def _text(value: str | None) -> str | None:
    if value is None or not value.startswith("@"):
        return value
    try:
        return Path(value[1:]).read_text(encoding="utf-8")
    except OSError as exc:
        _fail(2, f"cannot read {value[1:]}: {exc.strerror or exc}", kind="FileError")


def _echo(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2))


def _print_result(result: EventResult, *, as_json: bool) -> None:
    if as_json:
        _echo(_dump(result))
        return
    verb = "would write" if not result.applied else "wrote"
    head = f"{result.kind} ({result.event_id}) on change {result.change_id}, ticket #{result.ticket_id}"
    replayed = " (replayed: already applied, nothing written)" if result.replayed else ""
    console.print(f"{head}: {result.state_before or '-'} -> {result.state_after}{replayed}", markup=False)
    for w in result.writes:
        console.print(f"  {verb if w.outcome != 'already_done' else 'already done'}: {w.summary}", markup=False)
    for p in result.unmatched:
        console.print(f"  not a ConnectWise member: {p.email} ({', '.join(p.roles)})", markup=False)
    if result.devices:
        console.print(f"  devices: {', '.join(result.devices)}", markup=False)
    for warning in result.warnings:
        console.print(f"  [yellow]warning[/yellow]: {warning}")
    if not result.writes:
        console.print("  nothing to write")


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json")
