"""The `cwsync` command line: Typer commands, Rich output, meaningful exit codes."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

from cwsync.cli import doctor as doctor_cli
from cwsync.cli import sandbox as sandbox_cli
from cwsync.cli import sync as sync_cli
from cwsync.logs import configure_logging

app = typer.Typer(
    no_args_is_help=True,
    help="cwsync: sync ConnectWise Manage with the tools an MSP runs on.",
    pretty_exceptions_enable=False,
)
app.add_typer(sandbox_cli.app, name="sandbox")
app.add_typer(sync_cli.hubspot_app, name="hubspot")
for _name in ("init", "plan", "sync", "status", "history", "explain"):
    app.command(_name)(getattr(sync_cli, _name))


@app.callback()
def _root(
    log_level: str = typer.Option(
        "warning", envvar="CWSYNC_LOG_LEVEL", help="Events to show on stderr: debug, info, warning, error."
    ),
) -> None:
    """cwsync: sync ConnectWise Manage with the tools an MSP runs on."""
    try:
        configure_logging(log_level)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log-level") from exc


app.command("doctor")(doctor_cli.doctor)
console = Console()


@app.command()
def demo(
    records: int = typer.Option(2000, min=10, help="Approximate number of generated records."),
    seed: int = typer.Option(1, help="Seed of the data generator."),
    as_json: bool = typer.Option(False, "--json", help="Print the doctor report as JSON."),
) -> None:
    """Start the sandbox with generated data and run `cwsync doctor` against it."""
    from cwsync.connectors.connectwise import ConnectWiseSettings
    from cwsync.diagnostics.connectwise import run_doctor
    from cwsync.sandbox.connectwise.app import SandboxSettings
    from cwsync.sandbox.server import running_sandbox

    with running_sandbox(SandboxSettings(records=records, seed=seed)) as running:
        s = running.sandbox.settings
        if not as_json:
            console.print(sandbox_cli.credentials_table(s, running.sandbox.api_root))
        settings = ConnectWiseSettings(
            site=running.base_url,
            company_id=s.company_id,
            public_key=s.public_key,
            private_key=s.private_key,
            client_id=s.client_id,
        )
        render = None if as_json else doctor_cli.render_check
        report = asyncio.run(run_doctor(settings, on_check=render))
        doctor_cli.print_report(report, as_json=as_json)
    raise typer.Exit(int(report.exit_code))


def main() -> None:
    """Entry point of the console script."""
    app()
