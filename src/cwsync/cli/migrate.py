"""`cwsync migrate upgrade | current | history`: the store's schema, explicitly.

`cwsync sync` and `cwsync serve` still migrate the store to the newest schema when they open it (a first run needs
no extra step); `plan`, `status`, `history` and `explain` never do (they write nothing and say to run
`cwsync migrate upgrade` when the store is behind). Exit codes: 0 done, 1 the store cannot be reached, 2 a bad
configuration.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import typer

from cwsync.cli.output import console, fail, new_table
from cwsync.cli.sync import CONFIG, JSON, load, run_async

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, help="The store's schema: upgrade it, show its revision and the migrations.")


async def _current(url: str) -> str | None:
    from cwsync.store import Store
    from cwsync.store.schema import sqlite_file

    file = sqlite_file(url)
    if file is not None and not file.exists():
        return None  # no database yet: nothing is created to say so
    store = await Store.open(url, migrate=False)
    try:
        return await store.revision()
    finally:
        await store.close()


def _state(url: str, current: str | None) -> dict[str, Any]:
    from cwsync.store.schema import head

    return {"store": _shown(url), "current": current, "head": head(), "up_to_date": current == head()}


def _shown(url: str) -> str:
    """The store URL without a password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command()
def upgrade(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Migrate the store to the newest schema (creates the database if it does not exist; idempotent); on
    PostgreSQL also procrastinate's job tables (the scale-out runner's) when missing."""
    from cwsync.store import Store

    cfg = load(config)
    queue: list[bool] = []

    async def work() -> tuple[str | None, str | None]:
        before = await _current(cfg.store)
        store = await Store.open(cfg.store)
        try:
            if store.dialect == "postgresql":
                from cwsync.runtime.procrastinate_runner import apply_schema
                from cwsync.store import JobStore

                queue.append(await apply_schema(JobStore(store)))
            return before, await store.revision()
        finally:
            await store.close()

    try:
        before, after = run_async(work)
    except OSError as exc:
        _unreachable(cfg.store, exc)
    data = {**_state(cfg.store, after), "previous": before}
    if queue:
        data["procrastinate_schema"] = "created" if queue[0] else "present"
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    if before == after:
        console.print(f"{data['store']}: already at {after} (the newest)", markup=False)
    else:
        console.print(f"{data['store']}: migrated {before or '(empty)'} → {after}", markup=False)


@app.command()
def current(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """The store's revision and whether it is the newest (reads only; exit 0 either way)."""
    cfg = load(config)
    try:
        revision = run_async(lambda: _current(cfg.store))
    except OSError as exc:
        _unreachable(cfg.store, exc)
    data = _state(cfg.store, revision)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    if revision is None:
        console.print(f"{data['store']}: not migrated yet (newest {data['head']}): run `cwsync migrate upgrade`")
    elif data["up_to_date"]:
        console.print(f"{data['store']}: at {revision} (the newest)", markup=False)
    else:
        console.print(f"{data['store']}: at {revision}, newest {data['head']}: run `cwsync migrate upgrade`")


@app.command()
def history(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Every migration, oldest first, marking the store's current one."""
    from cwsync.store.schema import history as migrations

    cfg = load(config)
    try:
        revision = run_async(lambda: _current(cfg.store))
    except OSError as exc:
        _unreachable(cfg.store, exc)
    rows = [
        {"revision": m.revision, "description": m.description, "current": m.revision == revision} for m in migrations()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = new_table(title="Store migrations")
    for column in ("revision", "description", ""):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["revision"]), str(row["description"]), "← current" if row["current"] else "")
    console.print(table)


def _unreachable(url: str, exc: OSError) -> NoReturn:
    fail(
        1, f"cannot reach the store {_shown(url)}: {exc}", kind="StoreError", fix="check `store:` in the configuration"
    )
