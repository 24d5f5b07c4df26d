"""`cwsync sandbox ...`: serve the local ConnectWise Manage emulator.

The emulators (`cwsync_sandbox`) are imported inside the functions only: `cwsync --help` and the other commands never
load them. The options' defaults are the emulator's (`SandboxSettings()`), spelled out here; a test checks they agree.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Protocol

import typer

if TYPE_CHECKING:
    from rich.table import Table

from cwsync.cli.output import console, new_table

app = typer.Typer(no_args_is_help=True, help="A local, faithful ConnectWise Manage emulator with generated MSP data.")


class Credentials(Protocol):
    """What a client needs to log in to the ConnectWise emulator (its `SandboxSettings`)."""

    @property
    def base_url(self) -> str: ...
    @property
    def company_id(self) -> str: ...
    @property
    def public_key(self) -> str: ...
    @property
    def private_key(self) -> str: ...
    @property
    def client_id(self) -> str: ...


class _Defaults:
    """`cwsync_sandbox.connectwise.app.SandboxSettings()`'s values (tests/cli/test_sandbox_cli.py compares them)."""

    records = 2000
    seed = 1
    company_id = "cwsandbox"
    public_key = "SbxPublicKey0001"
    private_key = "SbxPrivateKey001"
    client_id = "3f2c1b6e-0d4a-4c8e-9b1f-5a7d2e8c0f11"


DEFAULTS = _Defaults()
SANDBOX_API_TOKEN = "sandbox-api-token-0001"


def sandbox_config_values(base_url: str, *, server_port: int = 8720) -> dict[str, str]:
    """Values for `render_template` that point a configuration at sandboxes served at `base_url` (default keys)."""
    from cwsync_sandbox.connectwise.app import SandboxSettings
    from cwsync_sandbox.hubspot import HubSpotSandboxSettings
    from cwsync_sandbox.hudu import SANDBOX_HUDU_API_KEY
    from cwsync_sandbox.server import HUBSPOT_PREFIX, HUDU_PREFIX

    cw, hs = SandboxSettings(), HubSpotSandboxSettings()
    base = base_url.rstrip("/")
    return {
        "cw_site": base,
        "cw_company": cw.company_id,
        "cw_public": cw.public_key,
        "cw_private_default": f":-{cw.private_key}",
        "cw_client": cw.client_id,
        "hs_token_default": f":-{hs.token}",
        "hs_base": base + HUBSPOT_PREFIX,
        "server_port": str(server_port),
        "api_default": f":-{SANDBOX_API_TOKEN}",
        "hs_secret_default": f":-{hs.client_secret}",
        "http_key_urls": base,
        "hudu_base": base + HUDU_PREFIX,
        "hudu_key_default": f":-{SANDBOX_HUDU_API_KEY}",
    }


def credentials_table(
    settings: Credentials, api_root: str, hubspot_token: str | None = None, hudu_api_key: str | None = None
) -> Table:
    """The values a client needs, as a table."""
    from cwsync_sandbox.server import HUBSPOT_PREFIX, HUDU_PREFIX

    table = new_table(title="ConnectWise Manage sandbox", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for label, value in (
        ("site", settings.base_url),
        ("company id", settings.company_id),
        ("public key", settings.public_key),
        ("private key", settings.private_key),
        ("clientId", settings.client_id),
        ("API root", api_root),
    ):
        table.add_row(label, value)
    if hubspot_token:
        table.add_row("HubSpot base URL", settings.base_url + HUBSPOT_PREFIX)
        table.add_row("HubSpot token", hubspot_token)
    if hudu_api_key:
        table.add_row("Hudu base URL", settings.base_url + HUDU_PREFIX)
        table.add_row("Hudu API key", hudu_api_key)
    return table


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8710, help="Port to listen on (0 picks a free one)."),
    records: int = typer.Option(DEFAULTS.records, min=0, help="Approximate number of generated records."),
    seed: int = typer.Option(DEFAULTS.seed, help="Seed of the data generator: same seed, same data."),
    company_id: str = typer.Option(DEFAULTS.company_id, help="Company id to log in with."),
    public_key: str = typer.Option(DEFAULTS.public_key, help="API member public key."),
    private_key: str = typer.Option(DEFAULTS.private_key, help="API member private key."),
    client_id: str = typer.Option(DEFAULTS.client_id, help="clientId the sandbox accepts."),
    deny: list[str] = typer.Option(
        [],
        help="Deny a module/entity to the API member, e.g. 'configurations', 'Procurement:write'. Repeatable.",
    ),
    latency_ms: float = typer.Option(0, help="Fault: added latency per request (ms)."),
    rate_limit_share: float = typer.Option(0, help="Fault: share of requests answered 429 with Retry-After."),
    error_share: float = typer.Option(0, help="Fault: share of requests answered 500/502/503."),
    drop_share: float = typer.Option(0, help="Fault: share of connections dropped before processing."),
    lost_response_share: float = typer.Option(0, help="Fault: share of responses lost after processing."),
    slow_ms: float = typer.Option(0, help="Fault: trickle each response body over this many ms."),
    hubspot_contacts: int = typer.Option(0, min=0, help="Contacts already in the HubSpot sandbox (pre-existing)."),
    hubspot_rate_limit: int = typer.Option(190, min=1, help="HubSpot requests per 10 s per token."),
    examples: bool = typer.Option(
        True, "--examples/--no-examples", help="Add the README tour's records (company Acme, ticket 1234, ...)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the credentials as one JSON line (then serve)."),
) -> None:
    """Serve the ConnectWise Manage emulator and print the credentials to use."""
    import asyncio  # here, not at import: `--help` and completion stay light

    from cwsync.runtime.memory import tune_gc
    from cwsync_sandbox.connectwise.app import SandboxSettings, check_deny_spec
    from cwsync_sandbox.faults import FaultSettings
    from cwsync_sandbox.hubspot import HubSpotSandboxSettings
    from cwsync_sandbox.hudu import SANDBOX_HUDU_API_KEY
    from cwsync_sandbox.server import HUBSPOT_PREFIX, HUDU_PREFIX, base_url_of, bind, build_all, make_server

    try:
        for spec in deny:
            check_deny_spec(spec)
        faults = FaultSettings(
            latency_ms=latency_ms,
            rate_limit_share=rate_limit_share,
            error_share=error_share,
            drop_share=drop_share,
            lost_response_share=lost_response_share,
            slow_ms=slow_ms,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        sock = bind(host, port)
    except OSError as exc:
        console.print(f"[red]cannot listen on {host}:{port}: {exc.strerror or exc}[/red] (try --port 0)")
        raise typer.Exit(3) from exc
    settings = SandboxSettings(
        company_id=company_id,
        public_key=public_key,
        private_key=private_key,
        client_id=client_id,
        base_url=base_url_of(sock),
        seed=seed,
        records=records,
        deny=deny,
        faults=faults,
        examples=examples,
    )
    hs_settings = HubSpotSandboxSettings(contacts=hubspot_contacts, seed=seed, rate_limit_per_10s=hubspot_rate_limit)
    with console.status("generating data"):
        box, hs_box, app = build_all(settings, hs_settings)
    counts = box.store.dataset.describe()
    if as_json:
        info = {
            "site": settings.base_url,
            "company_id": settings.company_id,
            "public_key": settings.public_key,
            "private_key": settings.private_key,
            "client_id": settings.client_id,
            "api_root": box.api_root,
            "hubspot": {"base_url": settings.base_url + HUBSPOT_PREFIX, "token": hs_box.settings.token},
            "hudu": {"base_url": settings.base_url + HUDU_PREFIX, "api_key": SANDBOX_HUDU_API_KEY},
            "records": sum(counts.values()),
        }
        print(json.dumps(info), flush=True)
    console.print(credentials_table(settings, box.api_root, hs_box.settings.token, SANDBOX_HUDU_API_KEY))
    console.print(
        f"{sum(counts.values()):,} ConnectWise records; admin at {settings.base_url}/_sandbox"
        f", {settings.base_url}{HUBSPOT_PREFIX}/_sandbox and {settings.base_url}{HUDU_PREFIX}/_sandbox; Ctrl+C stops."
    )
    server = make_server(app, log_level="info")
    with contextlib.suppress(KeyboardInterrupt):
        tune_gc()  # see cwsync.runtime.memory
        asyncio.run(server.serve(sockets=[sock]))
