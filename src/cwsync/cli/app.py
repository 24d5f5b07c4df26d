"""The `cwsync` command line: Typer commands, Rich output, meaningful exit codes.

The command modules import the engines, the server, the clients, the store and the sandbox inside the commands, so
building this tree (`cwsync --help`, a shell completion) loads none of them (`benchmarks/cli_startup.py`).
"""

from __future__ import annotations

import typer
from rich.console import Console

from cwsync.cli import callbacks as callbacks_cli
from cwsync.cli import catalog as catalog_cli
from cwsync.cli import changes as changes_cli
from cwsync.cli import demo as demo_cli
from cwsync.cli import doctor as doctor_cli
from cwsync.cli import hudu as hudu_cli
from cwsync.cli import mirror as mirror_cli
from cwsync.cli import sandbox as sandbox_cli
from cwsync.cli import sync as sync_cli

app = typer.Typer(
    no_args_is_help=True,
    help="cwsync: sync ConnectWise Manage with the tools an MSP runs on.",
    pretty_exceptions_enable=False,
)
app.add_typer(sandbox_cli.app, name="sandbox")
app.add_typer(sync_cli.hubspot_app, name="hubspot")
app.add_typer(callbacks_cli.app, name="callbacks")
app.add_typer(changes_cli.app, name="changes")
app.add_typer(hudu_cli.app, name="hudu")
app.add_typer(catalog_cli.catalog_app, name="catalog")
app.add_typer(catalog_cli.quotes_app, name="quotes")
app.add_typer(mirror_cli.app, name="mirror")
for _name in ("init", "plan", "sync", "status", "history", "explain", "serve"):
    app.command(_name)(getattr(sync_cli, _name))
app.command("demo")(demo_cli.demo)


@app.callback()
def _root(
    log_level: str = typer.Option(
        "warning", envvar="CWSYNC_LOG_LEVEL", help="Events to show on stderr: debug, info, warning, error."
    ),
) -> None:
    """cwsync: sync ConnectWise Manage with the tools an MSP runs on."""
    from cwsync.logs import configure_logging

    try:
        configure_logging(log_level)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--log-level") from exc


app.command("doctor")(doctor_cli.doctor)
console = Console()


def main() -> None:
    """Entry point of the console script."""
    app()
