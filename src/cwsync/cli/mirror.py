"""`cwsync mirror sync | tables`: ConnectWise → SQL tables in the store's database (see docs/mirror.md).

Exit codes: 0 done, 1 a remote problem (or the mass-delete guard stopped the run: nothing was deleted), 2 a
configuration problem.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich import box

from cwsync.cli.output import console, fail, new_table
from cwsync.cli.sync import CONFIG, JSON, load, run_async

if TYPE_CHECKING:
    from cwsync.config import Config

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="ConnectWise → SQL tables (cw_companies, cw_tickets, ...) in the store.")


def _load(path: Path) -> Config:
    config = load(path)
    if config.syncs.mirror is None or not config.syncs.mirror.enabled:
        fail(
            2,
            f"{path}: syncs.mirror: the SQL mirror is not configured or off",
            kind="ConfigError",
            fix="add a syncs.mirror section (docs/mirror.md)",
        )
    return config


@app.command("sync")
def sync(
    config_path: Path = CONFIG,
    full: bool = typer.Option(False, "--full", help="Read everything (and remove rows deleted in ConnectWise)."),
    plan: bool = typer.Option(False, "--plan", help="Say what would be written; write nothing."),
    record: list[str] = typer.Option(
        [], "--record", help="Only these records, as OBJECT:ID (e.g. tickets:512); repeatable."
    ),
    only: list[str] = typer.Option(
        [], "--only", help="Only these objects, comma-separated or repeated (of syncs.mirror.objects)."
    ),
    as_json: bool = JSON,
) -> None:
    """Bring the mirror tables up to date: changes since the last run (or everything with --full)."""
    from cwsync.config.mirror import MIRROR_OBJECTS
    from cwsync.core.selection import UnknownTypeError, select_types

    config = _load(config_path)
    mirror = config.syncs.mirror
    assert mirror is not None
    try:
        chosen = select_types(only, list(mirror.objects), what="mirror object", off=MIRROR_OBJECTS)
    except UnknownTypeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--only") from exc
    records: dict[str, list[str]] = {}
    for ref in record:
        kind, _, record_id = ref.partition(":")
        if kind not in mirror.objects or not record_id.isdigit():
            enabled = ", ".join(mirror.objects)
            raise typer.BadParameter(f"{ref!r}: expected OBJECT:ID with OBJECT one of {enabled}", param_hint="--record")
        records.setdefault(f"mirror:{kind}", []).append(record_id)

    outcome = run_mirror(config, full=full, plan=plan, records=records, as_json=as_json, only=chosen)
    print_mirror(outcome, plan=plan, as_json=as_json)


def run_mirror(
    config: Config,
    *,
    full: bool,
    plan: bool,
    records: dict[str, list[str]] | None = None,
    as_json: bool = False,
    only: list[str] | None = None,
) -> Any:
    """One mirror run (or plan) of every configured object (or `only` those), or of `records` (pair → ConnectWise
    ids) only."""
    mirror = config.syncs.mirror
    assert mirror is not None

    async def work() -> Any:
        from cwsync.engine.engine import Engine
        from cwsync.integrations.mirror import mirror_pairs, pair_name
        from cwsync.integrations.root import opened

        async with opened(config, hubspot="none", read_only=plan) as ctx:
            pairs = mirror_pairs(mirror, ctx.cw, ctx.store, config.tenant)
            if records:
                pairs = [p for p in pairs if p.name in records]
            if only:
                pairs = [p for p in pairs if p.name in {pair_name(kind) for kind in only}]
            with console.status("mirroring ConnectWise…", spinner="dots") if not as_json else nullcontext():
                return await Engine(ctx.store, config.tenant).run(
                    pairs, dry_run=plan, full=full, records=records or None, trigger="cli"
                )

    return run_async(work)


def print_mirror(outcome: Any, *, plan: bool, as_json: bool) -> None:
    """A mirror run's counts per object (or its `--json` report), and its first failures."""
    if as_json:
        print(json.dumps(outcome.as_json(), default=str))
        return
    table = new_table(box=box.SIMPLE, title="mirror plan (nothing written)" if plan else f"mirror run {outcome.run_id}")
    for column in ("object", "read", "created", "updated", "unchanged", "deleted", "failed"):
        table.add_column(column, justify="left" if column == "object" else "right")
    for pair in outcome.pairs:
        c = pair.counts
        row = (pair.pair, pair.read, c.created, c.updated, c.unchanged, c.deleted, c.failed)
        table.add_row(*(str(v) for v in row))
    console.print(table)
    if outcome.cancelled:
        from cwsync.cli.runs import CANCELLED

        console.print(CANCELLED)
    failed = [i for p in outcome.pairs for i in p.items if i["action"] == "fail"][:10]
    for item in failed:
        console.print(f"[red]failed[/red] {item['connectwise_id']}: {item['reason']}")


@app.command("tables")
def tables(config_path: Path = CONFIG, as_json: bool = JSON) -> None:
    """The mirror tables, their row counts and columns (query them with any SQL client)."""
    config = _load(config_path)

    async def work() -> dict[str, Any]:
        from sqlalchemy import func, select

        from cwsync.store import Store
        from cwsync.store.mirror import MIRROR_COLUMNS, mirror_table

        store = await Store.open(config.store)
        try:
            out: dict[str, Any] = {}
            async with store._connect() as conn:
                for name, columns in MIRROR_COLUMNS.items():
                    table = mirror_table(name)
                    count = (await conn.execute(select(func.count()).where(table.c.tenant == config.tenant))).scalar()
                    out[name] = {"rows": int(count or 0), "columns": ["id", *columns, "last_updated", "raw"]}
            return out
        finally:
            await store.close()

    found = run_async(work)
    if as_json:
        print(json.dumps(found))
        return
    table = new_table(box=box.SIMPLE)
    for column in ("table", "rows", "columns"):
        table.add_column(column)
    for name, info in found.items():
        table.add_row(name, str(info["rows"]), ", ".join(info["columns"]))
    console.print(table)
    console.print(f"store: {config.store}   (rows of tenant {config.tenant!r})")
