"""`cwsync worker`: run jobs of every tenant on procrastinate (PostgreSQL); as many processes as wanted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cwsync.cli.output import console, fail

if TYPE_CHECKING:
    from cwsync.config import Config


def worker(
    config: Path | None = typer.Option(
        None, "--config", "-c", envvar="CWSYNC_CONFIG", help="One configuration file (one tenant)."
    ),
    tenants: Path | None = typer.Option(
        None, "--tenants", "-t", envvar="CWSYNC_TENANTS", help="A directory of tenant files (many tenants)."
    ),
    concurrency: int = typer.Option(4, min=1, max=256, help="Jobs (tenants) this process runs at once."),
    grace: float = typer.Option(30.0, min=0, help="Seconds running jobs get to finish after SIGTERM/SIGINT."),
    schedule: bool = typer.Option(True, "--schedule/--no-schedule", help="Take part in the periodic runs."),
    as_json: bool = typer.Option(False, "--json", help="Print what it runs as one JSON line (then work)."),
) -> None:
    """Run the tenants' jobs (callbacks, webhooks, replays, schedules) until SIGTERM / SIGINT, then drain."""
    from cwsync.cli.sync import run_async
    from cwsync.server.run import follow_every, work

    configs = deployment_configs(config, tenants)
    if as_json:
        print(json.dumps({"tenants": [c.tenant for c in configs], "concurrency": concurrency}), flush=True)
    console.print(f"cwsync worker: {len(configs)} tenant(s), {concurrency} at once")
    try:
        run_async(
            lambda: work(
                configs,
                concurrency=concurrency,
                grace=grace,
                schedule=schedule,
                directory=tenants,
                every=follow_every(),
            )
        )
    except ValueError as exc:
        fail(2, str(exc), kind="ConfigError", fix="set store: postgresql://... (docs/deploy.md)")
    console.print("stopped")


def deployment_configs(config: Path | None, tenants: Path | None) -> list[Config]:
    """The tenants of `--tenants DIR`, else the one of `--config FILE` (default cwsync.yaml)."""
    from cwsync.cli.sync import load
    from cwsync.cli.tenants import load_all

    if tenants is not None and config is not None:
        fail(1, "give --config or --tenants, not both", kind="UsageError")
    if tenants is not None:
        return load_all(tenants)
    return [load(config or Path("cwsync.yaml"))]
