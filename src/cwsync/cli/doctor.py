"""`cwsync doctor`: check a ConnectWise Manage connection (CW-2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cwsync.cli.output import console

if TYPE_CHECKING:
    from cwsync.connectors.connectwise import ConnectWiseSettings
    from cwsync.connectors.hubspot import HubSpotSettings
    from cwsync.diagnostics.connectwise import CheckResult, DoctorReport

_MARKS = {"ok": "[green]✔[/green]", "fail": "[red]✘[/red]", "skipped": "[dim]–[/dim]"}


def render_check(result: CheckResult) -> None:
    """Print one checklist line (and how to fix it)."""
    console.print(f" {_MARKS[result.status]} {result.name}  [dim]{result.detail}[/dim]")
    if result.fix:
        console.print(f"     [yellow]fix:[/yellow] {result.fix}")


def settings_from_options(
    site: str, company: str, public_key: str, private_key: str, client_id: str
) -> ConnectWiseSettings:
    """Build validated settings or exit 2 with a message naming the field."""
    from pydantic import ValidationError as PydanticValidationError

    from cwsync.connectors.connectwise import ConnectWiseSettings
    from cwsync.connectors.http import ConfigurationError
    from cwsync.diagnostics.connectwise import ExitCode

    try:
        return ConnectWiseSettings(
            site=site, company_id=company, public_key=public_key, private_key=private_key, client_id=client_id
        )
    except PydanticValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        console.print(f"[red]invalid ConnectWise settings:[/red] {problems}")
        raise typer.Exit(ExitCode.BAD_SETTINGS) from exc
    except ConfigurationError as exc:
        console.print(f"[red]invalid ConnectWise settings:[/red] {exc.message}")
        raise typer.Exit(ExitCode.BAD_SETTINGS) from exc


def print_report(report: DoctorReport, *, as_json: bool) -> None:
    """The summary line, or the whole report as JSON."""
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return
    failed = sum(1 for c in report.checks if c.status == "fail")
    if report.ok:
        console.print(f"[green]All {len(report.checks)} checks passed.[/green]")
    else:
        console.print(f"[red]{failed} check(s) failed[/red] (exit code {int(report.exit_code)}).")


def doctor(
    config: Path | None = typer.Option(
        None, "--config", "-c", envvar="CWSYNC_CONFIG", help="Take the connections from this configuration file."
    ),
    site: str | None = typer.Option(None, envvar="CWSYNC_CW_SITE", help="Site host, e.g. na.myconnectwise.net."),
    company: str | None = typer.Option(None, envvar="CWSYNC_CW_COMPANY", help="Company ID used to log in."),
    public_key: str | None = typer.Option(None, envvar="CWSYNC_CW_PUBLIC_KEY", help="API member public key."),
    private_key: str | None = typer.Option(
        None, envvar="CWSYNC_CW_PRIVATE_KEY", help="API member private key (prefer the env var)."
    ),
    client_id: str | None = typer.Option(
        None, envvar="CWSYNC_CW_CLIENT_ID", help="clientId from developer.connectwise.com."
    ),
    read_only: bool = typer.Option(False, "--read-only", help="Skip the add/edit permission probes."),
    public_url: bool = typer.Option(
        False,
        "--public-url",
        help="With --config: also check that server.public_url answers (`cwsync serve` behind it) and can take "
        "HubSpot webhooks (exit 8 if not).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check the ConnectWise Manage connection and every permission cwsync needs (and HubSpot's, from a config)."""
    import asyncio  # here, not at import: `--help` and completion stay light

    from cwsync.diagnostics.connectwise import ExitCode
    from cwsync.runtime.memory import tune_gc

    hubspot: HubSpotSettings | None = None
    loaded: Any = None
    store: str | None = None
    server_url: str | None = None
    if public_url and config is None:
        raise typer.BadParameter(
            "--public-url needs --config (server.public_url comes from it)", param_hint="--public-url"
        )
    if config is not None:
        settings, hubspot = settings_from_config(config)
        store = _store_url(config)
        server_url = _public_url(config) if public_url else None
        from cwsync.config import load_config

        loaded = load_config(config)
    else:
        given = {"--site": site, "--company": company, "--public-key": public_key, "--private-key": private_key}
        given["--client-id"] = client_id
        missing = [name for name, value in given.items() if not value]
        if missing:
            console.print(f"[red]missing:[/red] {', '.join(missing)} (or their CWSYNC_CW_* variables, or --config)")
            raise typer.Exit(ExitCode.BAD_SETTINGS)
        settings = settings_from_options(str(site), str(company), str(public_key), str(private_key), str(client_id))
    if not as_json:
        console.print(f"Checking ConnectWise Manage at [bold]{settings.site}[/bold], company {settings.company_id}")
    render = None if as_json else render_check
    tune_gc()  # see cwsync.runtime.memory
    report = asyncio.run(
        _run(
            settings,
            hubspot,
            check_writes=not read_only,
            render=render,
            store=store,
            config=loaded,
            public_url=server_url,
        )
    )
    print_report(report, as_json=as_json)
    raise typer.Exit(int(report.exit_code))


async def _run(
    settings: ConnectWiseSettings,
    hubspot: HubSpotSettings | None,
    *,
    check_writes: bool,
    render: Any,
    store: str | None = None,
    config: Any = None,
    public_url: str | None = None,
) -> DoctorReport:
    from cwsync.diagnostics.connectwise import ExitCode, check_hubspot, run_doctor
    from cwsync.diagnostics.public_url import check_public_url

    report = await run_doctor(settings, check_writes=check_writes, on_check=render)
    if hubspot is not None:
        checks = await check_hubspot(hubspot, on_check=render)
        sync = config.syncs.hubspot if config is not None else None
        if all(c.status == "ok" for c in checks) and sync is not None and sync.enabled:
            checks.append(await check_mappings(config))
            if render:
                render(checks[-1])
        report.add_hubspot(checks)
    if store is not None:
        from cwsync.diagnostics.store import check_store

        result = await check_store(store)
        report.checks.append(result)
        if render is not None:
            render(result)
        if result.status == "fail" and report.exit_code is ExitCode.OK:
            report.exit_code = ExitCode.UNREACHABLE
    if public_url is not None:
        results = await check_public_url(public_url, hubspot_base_url=hubspot.base_url if hubspot else None)
        for result in results:
            if render:
                render(result)
        report.add_public_url(results)
    return report


async def check_mappings(config: Any) -> Any:
    """The HubSpot mappings and filters against HubSpot's property definitions and ConnectWise's fields (#13.10):
    what `sync` would refuse at its start, found by `doctor` first."""

    from cwsync.config import problems_at
    from cwsync.connectors.connectwise import ConnectWiseClient
    from cwsync.connectors.http import CwsyncApiError
    from cwsync.connectors.hubspot import HubSpotClient
    from cwsync.core.mapping import MappingError
    from cwsync.diagnostics.connectwise import CheckResult
    from cwsync.integrations.hubspot.run import mappings
    from cwsync.integrations.hubspot.schema import check_schemas, property_definitions
    from cwsync.integrations.root import connectwise_settings, hubspot_settings

    name = "HubSpot mappings fit the schemas"
    try:
        maps = mappings(config)
        settings = hubspot_settings(config)
        assert settings is not None
        async with ConnectWiseClient(connectwise_settings(config)) as cw, HubSpotClient(settings) as hs:
            problems = await check_schemas(config, maps, cw, await property_definitions(hs, maps))
    except MappingError as exc:
        return CheckResult(name, "fail", str(exc), fix="correct the mapping in the configuration file")
    except CwsyncApiError as exc:
        return CheckResult(name, "fail", f"could not read the schemas: {exc.message}", fix=exc.hint)
    if not problems:
        fields = sum(len(m.fields) for m in maps.values())
        return CheckResult(name, "ok", f"{fields} mapped fields of {', '.join(maps)} fit HubSpot's properties")
    error = problems_at(config, [(p.loc, p.message) for p in problems])
    return CheckResult(name, "fail", str(error), fix="change the lines named (docs/configuration.md, type rules)")


def _store_url(path: Path) -> str:
    from cwsync.config import load_config

    return load_config(path).store  # already loaded once by settings_from_config: its errors are reported there


def _public_url(path: Path) -> str:
    from cwsync.config import load_config

    return load_config(path).server.public_url  # the file was read (and checked) by settings_from_config


def settings_from_config(path: Path) -> tuple[ConnectWiseSettings, HubSpotSettings | None]:
    """Both connections from a configuration file, or exit 2 naming file, line and field."""
    from cwsync.config import ConfigError, load_config
    from cwsync.connectors.hubspot import HubSpotSettings
    from cwsync.diagnostics.connectwise import ExitCode

    try:
        config = load_config(path)
    except ConfigError as exc:
        console.print(f"[red]configuration error[/red]\n{exc}", soft_wrap=True)  # file:line stays whole
        raise typer.Exit(ExitCode.BAD_SETTINGS) from exc
    c = config.connections.connectwise
    settings = settings_from_options(c.site, c.company_id, c.public_key, c.private_key.get_secret_value(), c.client_id)
    h = config.connections.hubspot
    hubspot = None if h is None else HubSpotSettings(token=h.token, base_url=h.base_url, api_version=h.api_version)
    return settings, hubspot
