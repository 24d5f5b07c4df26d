"""`cwsync demo`: the sandboxes, the doctor's checklist, a first HubSpot sync, and a change arriving."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cwsync.cli import doctor as doctor_cli
from cwsync.cli import sandbox as sandbox_cli
from cwsync.cli.callbacks import specs_for
from cwsync.cli.output import console
from cwsync.cli.sync import _print_report

if TYPE_CHECKING:
    from cwsync.connectors.connectwise import ConnectWiseSettings
    from cwsync.diagnostics.connectwise import DoctorReport
    from cwsync.integrations.hubspot.context import Context

NEW_PHONE = "+1 555 010 4242"


def demo(
    records: int = typer.Option(2000, min=10, help="Approximate number of generated ConnectWise records."),
    seed: int = typer.Option(1, help="Seed of the data generator."),
    sync: bool = typer.Option(True, "--sync/--no-sync", help="Also run a first HubSpot sync and show a change arrive."),
    once: bool = typer.Option(False, "--once", help="Exit after the tour instead of serving until Ctrl+C."),
    as_json: bool = typer.Option(False, "--json", help="Print the doctor report as JSON (and skip the sync tour)."),
) -> None:
    """Start the sandboxes with a generated MSP, check the connection, sync to HubSpot, and show a change arrive."""
    import asyncio  # here, not at import: `--help` and completion stay light

    from cwsync.connectors.connectwise import ConnectWiseSettings
    from cwsync.runtime.memory import tune_gc
    from cwsync_sandbox.connectwise.app import SandboxSettings
    from cwsync_sandbox.server import running_sandbox

    with running_sandbox(SandboxSettings(records=records, seed=seed)) as running:
        s = running.sandbox.settings
        if not as_json:
            token = running.hubspot.settings.token if running.hubspot else None
            console.print(sandbox_cli.credentials_table(s, running.sandbox.api_root, token))
        settings = ConnectWiseSettings(
            site=running.base_url,
            company_id=s.company_id,
            public_key=s.public_key,
            private_key=s.private_key,
            client_id=s.client_id,
        )
        tune_gc()  # see cwsync.runtime.memory
        report = asyncio.run(_doctor(settings, as_json=as_json))
        doctor_cli.print_report(report, as_json=as_json)
        if report.ok and sync and not as_json:
            with tempfile.TemporaryDirectory() as folder, contextlib.suppress(KeyboardInterrupt):
                asyncio.run(_sync_tour(running.base_url, Path(folder), once=once))
    raise typer.Exit(int(report.exit_code))


async def _doctor(settings: ConnectWiseSettings, *, as_json: bool) -> DoctorReport:
    from cwsync.diagnostics.connectwise import run_doctor

    return await run_doctor(settings, on_check=None if as_json else doctor_cli.render_check)


async def _sync_tour(base_url: str, folder: Path, *, once: bool) -> None:
    """`base_url`: where the sandboxes are served."""
    from cwsync.config import load_config
    from cwsync.config.template import render_template
    from cwsync.integrations.hubspot.context import opened
    from cwsync.integrations.hubspot.run import HubSpotSync

    port = _free_port()
    path = folder / "cwsync.yaml"
    values = sandbox_cli.sandbox_config_values(base_url, server_port=port)
    path.write_text(render_template(store=f"sqlite:///{folder / 'cwsync.db'}", **values), encoding="utf-8")
    config = load_config(path)
    console.rule("First sync: ConnectWise → HubSpot")
    async with opened(config) as ctx:
        with console.status("syncing companies, contacts and deals"):
            started = time.perf_counter()
            report = await HubSpotSync(config, ctx.store, ctx.cw, ctx.hs).run()
        _print_report(report, as_json=False, show=0)
        console.print(f"first sync took {time.perf_counter() - started:.1f} s")
        await _real_time(ctx, base_url, port, once=once)


async def _pick_contact(ctx: Context) -> dict[str, Any]:
    """An active contact with a company and an e-mail (so it was synced)."""
    from cwsync.connectors.connectwise.conditions import F
    from cwsync.diagnostics.connectwise import ExitCode

    async for page in ctx.cw.stream("company/contacts", conditions=F("inactiveFlag") == False, page_size=50):  # noqa: E712
        for contact in page:
            items = contact.get("communicationItems", [])
            if contact.get("company") and any(i.get("communicationType") == "Email" for i in items):
                return contact
    raise typer.Exit(int(ExitCode.UNEXPECTED))


async def _real_time(ctx: Context, base_url: str, port: int, *, once: bool) -> None:
    """Serve, register the ConnectWise callbacks, change a contact, and time its arrival in HubSpot."""
    import asyncio  # here, not at import: `--help` and completion stay light

    import uvicorn

    from cwsync.connectors.http.clients import new_client
    from cwsync.runtime.callbacks import CallbackManager
    from cwsync.server.app import Server, create_app

    config = ctx.config
    async with new_client(timeout=10) as key_http:
        server = Server(config, ctx.store, ctx.cw, ctx.hs, key_http)
        await server.start()
        uvi = uvicorn.Server(uvicorn.Config(create_app(server), port=port, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(uvi.serve())
        try:
            specs = specs_for(config)
            await CallbackManager(ctx.cw, tenant=config.tenant).install(specs)
            console.rule("Real time: cwsync serve + ConnectWise callbacks")
            await _change_arrives(ctx)
            if not once:
                console.print(
                    f"serving: cwsync at http://127.0.0.1:{port} (API token {sandbox_cli.SANDBOX_API_TOKEN},"
                    f" OpenAPI at /openapi.json), ConnectWise and HubSpot sandboxes at {base_url};"
                    " Ctrl+C stops"
                )
                await serving
        finally:
            uvi.should_exit = True
            await asyncio.gather(serving, return_exceptions=True)
            await server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _change_arrives(ctx: Context) -> None:
    """Change a contact's phone in ConnectWise; the callback brings it to HubSpot; print how long it took."""
    import asyncio  # here, not at import: `--help` and completion stay light

    from cwsync.diagnostics.connectwise import ExitCode

    contact = await _pick_contact(ctx)
    items = [dict(i) for i in contact["communicationItems"]]
    phone = next((i for i in items if i.get("communicationType") == "Phone"), None)
    if phone is None:
        phone = {"type": {"name": "Direct"}, "communicationType": "Phone", "defaultFlag": True}
        items.append(phone)
    phone["value"] = NEW_PHONE
    links = await ctx.store.links_by_left(ctx.config.tenant, "contacts", [str(contact["id"])])
    link = links.get(str(contact["id"]))
    if link is None:
        console.print("[red]the contact was not linked[/red]")
        raise typer.Exit(int(ExitCode.UNEXPECTED))
    name = f"{contact.get('firstName', '')} {contact.get('lastName', '')}".strip()
    console.print(f"ConnectWise contact {contact['id']} ({name}): phone → {NEW_PHONE}")
    started = time.perf_counter()
    ops = [{"op": "replace", "path": "communicationItems", "value": items}]
    await ctx.cw.patch("company/contacts", contact["id"], ops)
    deadline = started + 30
    while True:
        got = await ctx.hs.get("contacts", link.right_id, properties=["phone"])
        if got["properties"].get("phone") == NEW_PHONE or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    arrived = got["properties"].get("phone") == NEW_PHONE
    colour = "green" if arrived else "red"
    console.print(
        f"HubSpot contact {link.right_id} phone: [bold]{got['properties'].get('phone')}[/bold] —"
        f" [{colour}]{'arrived' if arrived else 'not arrived'} {elapsed:.2f} s after the change[/{colour}]"
        " (callback → cwsync serve → record job)"
    )
