"""`cwsync callbacks install | status | repair | remove` (CW-5): the ConnectWise callbacks the syncs need."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cwsync.cli.output import console
from cwsync.cli.sync import CONFIG, JSON, load, run_async

if TYPE_CHECKING:
    from cwsync.config import Config
    from cwsync.runtime.callbacks import CallbackSpec, CallbackState

app = typer.Typer(no_args_is_help=True, help="ConnectWise callbacks (real-time change notices) cwsync needs.")


def specs_for(config: Config) -> list[CallbackSpec]:
    """The callbacks the enabled integrations need (each registry entry names its callback types), pointing at the
    server's public URL (no secret in it)."""
    from cwsync.runtime.callbacks import desired_callbacks
    from cwsync.server.registry import REGISTRY

    types = list(dict.fromkeys(t for entry in REGISTRY for t in entry.callback_types(config)))
    return desired_callbacks(types=types, public_url=config.server.public_url, tenant=config.tenant)


def _act(config_path: Path, action: str, as_json: bool) -> None:
    from cwsync.integrations.hubspot.context import opened
    from cwsync.runtime.callbacks import CallbackManager

    config = load(config_path)
    specs = [] if action == "remove" else specs_for(config)

    async def work() -> list[CallbackState] | int:
        async with opened(config, require_hubspot=False) as ctx:
            manager = CallbackManager(ctx.cw, tenant=config.tenant)
            if action == "remove":
                return await manager.remove()
            return await getattr(manager, action)(specs)  # type: ignore[no-any-return]

    result = run_async(work)
    if isinstance(result, int):
        print(json.dumps({"removed": result})) if as_json else console.print(f"removed {result} callback(s)")
        return
    _show(result, as_json=as_json)
    if action == "status" and any(state.status != "ok" for state in result):
        raise typer.Exit(1)


def _show(states: list[CallbackState], *, as_json: bool) -> None:
    rows: list[dict[str, Any]] = [
        {
            "type": s.spec.type,
            "status": s.status,
            "id": (s.entry or {}).get("id"),
            "differences": s.differences,
            "url": s.spec.url,  # holds no secret
        }
        for s in states
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table  # here, not at import: completion and --help stay light

    table = Table(title="ConnectWise callbacks")
    for column in ("type", "status", "id", "differences", "url"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["type"], row["status"], str(row["id"] or "-"), ", ".join(row["differences"]), row["url"])
    console.print(table)


@app.command()
def install(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Register the callbacks the enabled objects need (idempotent: running it twice changes nothing)."""
    _act(config, "install", as_json)


@app.command()
def status(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Show each callback: ok, missing, drifted or inactive (exit 1 unless all are ok)."""
    _act(config, "status", as_json)


@app.command()
def repair(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Install, fix drifted ones and reactivate callbacks ConnectWise disabled after failures."""
    _act(config, "repair", as_json)


@app.command()
def remove(config: Path = CONFIG, as_json: bool = JSON) -> None:
    """Delete every callback this tenant registered (others are left alone)."""
    _act(config, "remove", as_json)
