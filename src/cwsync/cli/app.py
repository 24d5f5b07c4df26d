"""The `cwsync` command line: Typer commands, Rich output, meaningful exit codes.

The command modules import the engines, the server, the clients, the store and the sandbox inside the commands, so
building this tree (`cwsync --help`, a shell completion) loads none of them (`benchmarks/cli_startup.py`).
"""

from __future__ import annotations

import typer

from cwsync.cli import callbacks as callbacks_cli
from cwsync.cli import catalog as catalog_cli
from cwsync.cli import changes as changes_cli
from cwsync.cli import demo as demo_cli
from cwsync.cli import doctor as doctor_cli
from cwsync.cli import hudu as hudu_cli
from cwsync.cli import migrate as migrate_cli
from cwsync.cli import mirror as mirror_cli
from cwsync.cli import sandbox as sandbox_cli
from cwsync.cli import secrets as secrets_cli
from cwsync.cli import sync as sync_cli
from cwsync.cli import users as users_cli
from cwsync.cli.output import JsonAwareGroup

app = typer.Typer(
    cls=JsonAwareGroup,
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
app.add_typer(migrate_cli.app, name="migrate")
app.add_typer(users_cli.app, name="users")
app.add_typer(secrets_cli.app, name="secrets")
for _name in ("init", "plan", "sync", "status", "history", "explain", "serve"):
    app.command(_name)(getattr(sync_cli, _name))
app.command("demo")(demo_cli.demo)


def version() -> str:
    """The installed package's version (the source tree's when it is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("cwsync")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
        from cwsync import __version__

        return __version__


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"cwsync {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    log_level: str = typer.Option(
        "warning", envvar="CWSYNC_LOG_LEVEL", help="Events to show on stderr: debug, info, warning, error."
    ),
    log_format: str = typer.Option(
        "console",
        envvar="CWSYNC_LOG_FORMAT",
        help="console (for people) or json (one JSON object per line, for log collectors; docs/logging.md).",
    ),
    _version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_show_version, help="Print cwsync's version and exit."
    ),
) -> None:
    """cwsync: sync ConnectWise Manage with the tools an MSP runs on."""
    from cwsync.logs import configure_logging

    try:
        configure_logging(log_level, log_format)
    except ValueError as exc:
        hint = "--log-format" if "format" in str(exc) else "--log-level"
        raise typer.BadParameter(str(exc), param_hint=hint) from exc


app.command("doctor")(doctor_cli.doctor)


def main() -> None:
    """Entry point of the console script."""
    app()
