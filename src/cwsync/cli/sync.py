"""`cwsync init | plan | sync | status | history | explain` (PL-2, BY-1, BY-2)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich import box

from cwsync.cli.output import ProgressBars, console, fail, new_table

if TYPE_CHECKING:
    from cwsync.config import Config
    from cwsync.integrations.hubspot.run import SyncReport
    from cwsync.store import RunRecord

T = TypeVar("T")

CONFIG = typer.Option(Path("cwsync.yaml"), "--config", "-c", envvar="CWSYNC_CONFIG", help="The configuration file.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def init(
    path: Path = typer.Argument(Path("cwsync.yaml"), help="Where to write the configuration."),
    sandbox: bool = typer.Option(False, "--sandbox", help="Point it at the local sandbox (ready to run)."),
    sandbox_url: str = typer.Option("http://127.0.0.1:8710", help="Where `cwsync sandbox serve` listens."),
    store: str = typer.Option("sqlite:///cwsync.db", help="Store URL (SQLite file or postgresql://...)."),
    server_port: int = typer.Option(8720, help="The port `cwsync serve` listens on."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
    as_json: bool = JSON,
) -> None:
    """Write a commented starting configuration (a relative SQLite store path is relative to the file's folder)."""
    from cwsync.config.template import render_template

    if path.exists() and not force:
        fail(1, f"{path} exists", kind="FileExists", fix="use --force to overwrite it")
    values: dict[str, str] = {"server_port": str(server_port)}
    if sandbox:
        from cwsync.cli.sandbox import sandbox_config_values

        values = sandbox_config_values(sandbox_url, server_port=server_port)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_template(store=store, **values), encoding="utf-8")
    if as_json:
        print(json.dumps({"path": str(path), "sandbox": sandbox, "store": store}))
        return
    console.print(f"wrote {path}" + (" (for `cwsync sandbox serve`)" if sandbox else ": fill in the placeholders"))


def load(path: Path) -> Config:
    """The configuration with its mappings checked, or exit 2 naming file, line and field."""
    from cwsync.config import ConfigError, load_config
    from cwsync.config.model import secret_values
    from cwsync.core.mapping import MappingError
    from cwsync.integrations.hubspot.run import mappings
    from cwsync.logs import register_secrets

    try:
        config = load_config(path)
        register_secrets(secret_values(config))  # no log line of this command shows them
        from cwsync.integrations.root import on_secrets

        on_secrets(register_secrets)  # nor the stored secrets `${secret:NAME}` resolves to
        mappings(config)
    except ConfigError as exc:
        fail(2, str(exc), kind="ConfigError", fix="correct the file (see docs/configuration.md)")
    except MappingError as exc:
        fail(2, f"in {path}: {exc}", kind="MappingError", fix="correct the mapping (see docs/configuration.md)")
    return config


def run_async(work: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; API faults become a clear message and exit 1, never a traceback."""
    from cwsync.config import ConfigError
    from cwsync.connectors.http import CwsyncApiError
    from cwsync.runtime.memory import tune_gc
    from cwsync.store import StoreUnavailableError
    from cwsync.store.schema import SchemaNotCurrentError

    tune_gc()  # the command's modules are loaded now: keep them out of full collections (see cwsync.runtime.memory)
    try:
        import asyncio  # here, not at import: completion and --help never need an event loop

        return asyncio.run(work())  # type: ignore[arg-type]
    except ConfigError as exc:  # found once the systems were read: mappings the real schemas refuse
        fail(2, str(exc), kind="ConfigError", fix="change the lines named (docs/configuration.md)")
    except StoreUnavailableError as exc:  # at start: an unreachable store is named with the fix, no traceback
        fail(2, str(exc), kind=type(exc).__name__, fix=exc.fix)
    except SchemaNotCurrentError as exc:
        fail(2, str(exc), kind=type(exc).__name__, fix="cwsync migrate upgrade")
    except CwsyncApiError as exc:
        fail(1, exc.summary, kind=type(exc).__name__, fix=exc.hint or _fix_for(exc))  # the hint once, as the fix


_FIXES = {
    "TransportError": "check the URL in `connections:` and that the system is reachable from here (`cwsync doctor`)",
    "ServerError": "the system answered 5xx after every retry: try again later, or check its status page",
    "RateLimitedError": "the system kept answering 429: lower requests_per_minute / max_concurrency, or wait",
    "AuthenticationError": "check the keys or token in `connections:` (`cwsync doctor`)",
    "PermissionDeniedError": "grant the permission named above to the API member (`cwsync doctor` lists them)",
}


def _fix_for(exc: Exception) -> str:
    """A generic fix for an API error that carries no hint of its own."""
    for kind in type(exc).__mro__:
        if kind.__name__ in _FIXES:
            return _FIXES[kind.__name__]
    return "run `cwsync doctor`, then see `cwsync history` and `cwsync explain` for the failed run"


def _sync(
    config_path: Path, *, dry_run: bool, full: bool, objects: list[str], as_json: bool, record: str | None = None
) -> SyncReport:
    from cwsync.integrations.hubspot.context import opened
    from cwsync.integrations.hubspot.run import HubSpotSync, RecordRef, mappings

    config = load(config_path)
    try:
        ref = RecordRef.parse(record) if record else None
        if ref is not None and ref.pair not in mappings(config):
            raise ValueError(f"{ref.pair} is not an enabled object (enabled: {', '.join(mappings(config))})")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--record") from exc

    async def work() -> SyncReport:
        async with opened(config, read_only=dry_run) as ctx:
            with ProgressBars(quiet=as_json or ref is not None, unit="ConnectWise records") as bars:
                engine = HubSpotSync(
                    config,
                    ctx.store,
                    ctx.cw,
                    ctx.hs,
                    progress=bars.advance,
                    total=bars.total if bars.enabled else None,  # ConnectWise's count: asked only to draw the bar
                )
                return await engine.run(dry_run=dry_run, full=full, objects=objects or None, record=ref)

    return run_async(work)


ONLY_HELP = "Only these objects, comma-separated or repeated: companies, contacts, deals (--object is the same)."


def plan(
    config: Path = CONFIG,
    only: list[str] = typer.Option([], "--only", help=ONLY_HELP),
    objects: list[str] = typer.Option([], "--object", "-o", hidden=True),
    full: bool = typer.Option(False, "--full", help="Consider every record, not just changes since the last run."),
    show: int = typer.Option(50, "--show", help="How many planned records to list."),
    as_json: bool = JSON,
) -> None:
    """Show what a sync would do, record by record, and write nothing (BY-1)."""
    _every_sync(config, dry_run=True, full=full, objects=[*only, *objects], as_json=as_json, show=show)


def sync(
    config: Path = CONFIG,
    only: list[str] = typer.Option([], "--only", help=ONLY_HELP),
    objects: list[str] = typer.Option([], "--object", "-o", hidden=True),
    full: bool = typer.Option(False, "--full", help="Every record, not just changes since the last run."),
    record: str | None = typer.Option(
        None, "--record", help="Replay one record now: SYSTEM:OBJECT:ID, e.g. connectwise:contacts:123."
    ),
    as_json: bool = JSON,
) -> None:
    """Sync: plan every changed record, apply the plan, record every decision.

    Runs the HubSpot sync and, when `syncs.mirror` is configured, the SQL mirror after it (the other integrations
    have their own commands: `cwsync hudu sync`, `cwsync catalog sync`, `cwsync changes devices sync`)."""
    _every_sync(config, dry_run=False, full=full, objects=[*only, *objects], as_json=as_json, record=record, show=0)


def _every_sync(
    config_path: Path,
    *,
    dry_run: bool,
    full: bool,
    objects: list[str],
    as_json: bool,
    show: int,
    record: str | None = None,
) -> None:
    """The HubSpot sync (when configured) and the SQL mirror (when configured and no object or record is named)."""
    from cwsync.core.selection import UnknownTypeError, select_types
    from cwsync.integrations.hubspot.run import mappings

    config = load(config_path)
    try:
        objects = select_types(objects, list(mappings(config)), what="HubSpot object")
    except UnknownTypeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from exc
    hubspot = config.syncs.hubspot is not None and config.syncs.hubspot.enabled
    mirror = config.syncs.mirror is not None and config.syncs.mirror.enabled and not objects and not record
    mirrored = None
    if hubspot or not mirror:
        report = _sync(config_path, dry_run=dry_run, full=full, objects=objects, as_json=as_json, record=record)
    if mirror:
        from cwsync.cli.mirror import print_mirror, run_mirror

        mirrored = run_mirror(config, full=full, plan=dry_run, as_json=as_json)
    if hubspot or not mirror:
        _print_report(report, as_json=as_json, show=show, mirror=mirrored.as_json() if mirrored else None)
    if mirrored is not None and not (as_json and (hubspot or not mirror)):
        print_mirror(mirrored, plan=dry_run, as_json=as_json)


def _print_report(report: SyncReport, *, as_json: bool, show: int, mirror: dict[str, Any] | None = None) -> None:
    if as_json:
        data: dict[str, Any] = {
            "run_id": report.run_id,
            "dry_run": report.dry_run,
            "cancelled": report.cancelled,
            "counts": report.counts.as_dict(),
            "pairs": {
                p.pair: {
                    "counts": p.counts.as_dict(),
                    "items": [_item_json(i) for i in p.items if i.action.value != "unchanged"][: show or None],
                    "items_omitted": p.items_omitted,  # a sync lists its first items; all are in `cwsync history`
                }
                for p in report.pairs
            },
        }
        if mirror is not None:
            data["mirror"] = mirror
        print(json.dumps(data, indent=2, default=str))
        return
    title = "Plan (nothing written)" if report.dry_run else f"Run {report.run_id}"
    table = new_table(title=title, box=box.SIMPLE_HEAD, title_justify="left", padding=(0, 1), pad_edge=False)
    for column in ("object", "created", "updated", "linked", "same", "skipped", "failed", "conflicts"):
        table.add_column(column, justify="right" if column != "object" else "left")
    for p in report.pairs:
        c = p.counts
        table.add_row(
            p.pair, *(str(v) for v in (c.created, c.updated, c.linked, c.unchanged, c.skipped, c.failed, c.conflicts))
        )
    console.print(table)
    if report.cancelled:
        from cwsync.cli.runs import CANCELLED

        console.print(CANCELLED)
    listed = [i for p in report.pairs for i in p.items if i.action.value != "unchanged"][:show]
    for item in listed:
        ids = f"cw {item.left_id or '-'} ↔ hs {item.right_id or '-'}"
        console.print(f" [bold]{item.action.value:>7}[/bold] {item.pair:<9} {ids}: {item.reason}")
        for name, (old, new) in list(item.diff.items())[:6]:
            console.print(f"          {name}: {old!r} → {new!r}")


def _item_json(item: Any) -> dict[str, Any]:
    return {
        "action": item.action.value,
        "left_id": item.left_id,
        "right_id": item.right_id,
        "reason": item.reason,
        "diff": {k: list(v) for k, v in item.diff.items()},
        "conflicts": [c.field for c in item.conflicts],
    }


def history(
    config: Path = CONFIG,
    limit: int = typer.Option(10, min=1, max=10_000, help="How many runs."),
    offset: int = typer.Option(0, min=0, help="Skip this many (the next page)."),
    integration: str | None = typer.Option(
        None, "--integration", help="Only runs of one integration: hubspot pairs, hudu, catalog, mirror, devices."
    ),
    pair: str | None = typer.Option(
        None, "--object", help="Only runs that covered this object (contacts, hudu:sites)."
    ),
    status: str | None = typer.Option(None, help="succeeded, failed, running, interrupted or cancelled."),
    kind: str | None = typer.Option(None, help="full, incremental, record or plan."),
    trigger: str | None = typer.Option(None, help="cli, schedule, callback, webhook or api."),
    since: datetime | None = typer.Option(None, help="Started at or after (ISO date or time, UTC when naive)."),
    until: datetime | None = typer.Option(None, help="Started before."),
    as_json: bool = JSON,
) -> None:
    """The latest runs and their counts, filtered and paged (PL-4); `cwsync explain` shows one record's decisions."""
    from cwsync.core.values import as_utc
    from cwsync.store.schema import read_only

    cfg = load(config)

    async def work() -> list[Any]:
        async with read_only(cfg.store) as store:
            return await store.runs(
                cfg.tenant,
                limit=limit,
                offset=offset,
                integration=integration,
                pair=pair,
                status=status,
                kind=kind,
                trigger=trigger,
                since=as_utc(since),
                until=as_utc(until),
            )

    runs = run_async(work)
    if as_json:
        print(json.dumps([_run_json(r) for r in runs], indent=2, default=str))
        return
    table = new_table(title="Runs")
    for column in ("run", "kind", "status", "started", "objects", "counts"):
        table.add_column(column)
    for r in runs:
        counts = ", ".join(f"{k} {v}" for k, v in r.counts.as_dict().items() if v)
        table.add_row(
            str(r.run_id), r.kind, r.status, r.started_at.strftime("%Y-%m-%d %H:%M:%S"), ",".join(r.pairs), counts
        )
    console.print(table)


def status(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Links and cursors per object, and the last run."""
    from cwsync.integrations.hubspot.run import mappings
    from cwsync.store.schema import read_only

    cfg = load(config)

    async def work() -> dict[str, Any]:
        async with read_only(cfg.store) as store:
            pairs = {}
            for pair in mappings(cfg):
                pairs[pair] = {
                    "links": await store.link_count(cfg.tenant, pair),
                    "connectwise_cursor": await store.cursor(cfg.tenant, pair, "left"),
                    "hubspot_cursor": await store.cursor(cfg.tenant, pair, "right"),
                }
            last = await store.runs(cfg.tenant, limit=1)
            return {"objects": pairs, "last_run": _run_json(last[0]) if last else None}

    data = run_async(work)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    table = new_table(title="Sync status")
    for column in ("object", "linked records", "ConnectWise cursor", "HubSpot cursor"):
        table.add_column(column)
    for pair, info in data["objects"].items():
        table.add_row(pair, str(info["links"]), info["connectwise_cursor"] or "-", info["hubspot_cursor"] or "-")
    console.print(table)
    if data["last_run"]:
        r = data["last_run"]
        console.print(f"last run {r['run_id']}: {r['kind']} {r['status']} at {r['started_at']}")


def explain(
    system: str = typer.Argument(..., help="connectwise, hubspot or hudu"),
    obj: str = typer.Argument(
        ...,
        metavar="OBJECT",
        help="companies, contacts or deals (HubSpot); hudu:companies, hudu:configurations, ... (Hudu).",
    ),
    record_id: str = typer.Argument(..., metavar="ID"),
    live: bool = typer.Option(
        False, "--live", help="Read the record from its system now: raw source values through each field map."
    ),
    config: Path = CONFIG,
    as_json: bool = JSON,
) -> None:
    """Why did this record (not) sync? Its link, each field map applied to it with the planned diff, and every
    decision recorded for it with the remote answer (BY-2)."""
    from cwsync.integrations import explain as mapping_trace
    from cwsync.integrations import systems
    from cwsync.store.schema import read_only

    cfg = load(config)
    try:
        named = systems.resolve(system, obj)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="SYSTEM") from exc

    mapping = mapping_trace.mapping_for(cfg, named.pair)

    async def work() -> dict[str, Any]:
        flat = None
        if live:
            from cwsync.integrations.root import opened

            async with opened(cfg, hubspot="optional", read_only=True) as ctx:
                flat = await mapping_trace.read_record(cfg, named.pair, named.side, record_id, cw=ctx.cw, hs=ctx.hs)
        async with read_only(cfg.store) as store:
            return await systems.explain_record(store, cfg.tenant, named, record_id, mapping=mapping, flat=flat)

    data = run_async(work)
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    link = data["link"]
    other = systems.LABELS[named.counterpart]
    if link:
        how = f"matched on {link['match_key']}" if link["match_key"] else "created by cwsync"
        console.print(
            f"linked: ConnectWise {link['connectwise_id']} ↔ {other} {link[f'{named.counterpart}_id']} ({how}),"
            f" last synced {link['synced_at']}"
        )
    else:
        console.print(f"not linked: {system} {named.pair} {record_id} has no counterpart yet")
    _print_mapping(data["mapping"], other)
    if not data["decisions"]:
        console.print(
            "no decision recorded for it: it has not changed since it was synced, or never matched the filters' scope"
        )
    for d in data["decisions"]:
        console.print(f" run {d['run']} {d['at']}: [bold]{d['action']}[/bold] ({d['status']}) {d['reason']}")
        for name, (old, new) in list(d["diff"].items())[:8]:
            console.print(f"     {name}: {old!r} → {new!r}")
        if d["remote_response"]:
            console.print(f"     remote answer: {d['remote_status']} {d['remote_response']}")


def _print_mapping(trace: dict[str, Any], other: str) -> None:
    """The field maps applied to the record (`explain`): path → field, direction, value map, values."""
    if not trace["fields"]:
        return
    where = "as read now" if trace["source"] == "live" else "as last recorded (--live reads the record now)"
    table = new_table(title=f"Mapping, {where}", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("field", "ConnectWise", "dir", other, "value map", "source", "value", "last synced", "next run"):
        table.add_column(column)
    for f in trace["fields"]:
        value_map = ", ".join(f"{k}→{v}" for k, v in list((f["value_map"] or {}).items())[:4])
        cells = (f["field"], f["connectwise"], f["direction"], f["other"], value_map)
        values = (f["source_value"], f["value"], f["last_synced"])
        table.add_row(*(c or "" for c in cells), *("" if v is None else str(v) for v in values), "write" * f["planned"])
    console.print(table)


def _run_json(r: RunRecord) -> dict[str, Any]:
    return r.summary()


hubspot_app = typer.Typer(no_args_is_help=True, help="HubSpot integration helpers.")


@hubspot_app.command("create-properties")
def create_properties_command(
    config: Path = CONFIG,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what is missing."),
    as_json: bool = JSON,
) -> None:
    """Create the custom HubSpot properties the mappings need (HS-5). ConnectWise fields are never created."""
    from cwsync.integrations.hubspot.context import opened
    from cwsync.integrations.hubspot.properties import (
        create_properties,
        import_company_types,
        missing_properties,
        property_group,
    )
    from cwsync.integrations.hubspot.run import mappings

    cfg = load(config)

    async def work() -> dict[str, list[str]]:
        async with opened(cfg) as ctx:
            mapped = mappings(cfg)
            options = await import_company_types(ctx.cw, ctx.hs, mapped, dry_run=dry_run)  # dropdowns' options (SB-1)
            missing = await missing_properties(ctx.hs, mapped, sync=cfg.syncs.hubspot)
            names = [f"{p.object_type}.{p.name}" for p in missing]
            group = property_group(cfg.syncs.hubspot)
            created = [] if dry_run else await create_properties(ctx.hs, missing, options, group=group)
            return {"missing": names, "created": created}

    result = run_async(work)
    if as_json:
        print(json.dumps(result, indent=2))
        return
    if not result["missing"]:
        console.print("every property cwsync needs exists in HubSpot")
    for name in result["missing"]:
        console.print(f" {'created' if name in result['created'] else 'missing'}: {name}")


def serve(
    config: Path = CONFIG,
    schedule: bool = typer.Option(True, "--schedule/--no-schedule", help="Run the scheduled incremental/full syncs."),
    as_json: bool = typer.Option(False, "--json", help="Print where it listens as one JSON line (then serve)."),
    tenants: Path | None = typer.Option(
        None, "--tenants", "-t", help="Serve every tenant file of this directory (each under /t/<tenant>)."
    ),
    host: str = typer.Option("127.0.0.1", envvar="CWSYNC_HOST", help="With --tenants: where to listen."),
    port: int = typer.Option(8720, envvar="CWSYNC_PORT", help="With --tenants: the port."),
    worker: bool = typer.Option(
        True, "--worker/--no-worker", help="PostgreSQL: also run jobs in this process (else only `cwsync worker`)."
    ),
    grace: float = typer.Option(30.0, min=0, help="Seconds running jobs get to finish after SIGTERM/SIGINT."),
) -> None:
    """Serve webhooks (ConnectWise callbacks, HubSpot), the job runner, the scheduler and the REST API."""
    from cwsync.console import mount
    from cwsync.server.run import follow_every, serve_tenants

    if tenants is not None:
        from cwsync.cli.tenants import load_all

        configs = load_all(tenants)
    else:
        configs = [load(config)]
        host, port = configs[0].server.host, configs[0].server.port
    s = configs[0].server
    public = s.public_url if tenants is None else f"{len(configs)} tenants under /t/<tenant>"
    if as_json:
        url = f"http://{host}:{port}"
        print(json.dumps({"listening": url, "public_url": public, "docs": f"{url}/docs"}), flush=True)
    console.print(f"cwsync serving on http://{host}:{port} (public URL {public}); API docs at /docs")
    if any(c.server.api_token is None or not c.server.api_token.get_secret_value() for c in configs):
        console.print("[yellow]server.api_token is not set: the REST API refuses every request[/yellow]")
    from cwsync.workflows.changes.errors import SetupError

    many = tenants is not None
    try:
        run_async(
            lambda: serve_tenants(
                configs,
                many=many,
                host=host,
                port=port,
                schedule=schedule,
                worker=worker,
                grace=grace,
                mount=mount,
                directory=tenants,
                every=follow_every(),
            )
        )  # the web console at /
    except KeyboardInterrupt:
        console.print("stopped")
    except SetupError as exc:
        fail(2, f"{config}: syncs.changes: {exc}", kind="SetupError", fix="correct syncs.changes (docs/changes.md)")
