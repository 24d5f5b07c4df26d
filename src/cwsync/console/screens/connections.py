"""Connections: ConnectWise, HubSpot and Hudu credentials entered once, secrets sealed in the store (write-only),
and **Test connection** with the `doctor` checklist.

Plain fields (site, company id, public key, clientId, URLs) are written to the configuration file; a secret field
(private key, token, API key) is encrypted into the store and the file gets `${secret:<name>}` in its place. A
secret field left empty keeps the secret it has: the page only ever says "set" or "not set".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import SecretStr

from cwsync.config import Config, ConfigError, load_config
from cwsync.connectors.http import CwsyncApiError
from cwsync.connectors.hudu import HuduClient
from cwsync.console.configfile import update_config_file
from cwsync.console.nav import Screen, add_screen
from cwsync.console.reload import apply_saved
from cwsync.console.web import ConsoleError, Ctx, require_user
from cwsync.diagnostics.connectwise import CheckResult, check_hubspot, run_doctor
from cwsync.integrations.root import (
    SECRET_REF,
    connectwise_settings,
    hubspot_settings,
    hudu_settings,
    resolve_secrets,
)
from cwsync.logs import register_secrets

router = APIRouter()
add_screen(Screen("connections", "/connections", "Connections", "Configure", order=10))


@dataclass(frozen=True)
class Field:
    """One input of the connections form."""

    key: str
    label: str
    secret: bool = False
    hint: str = ""


SYSTEMS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "connectwise": (
        "ConnectWise Manage",
        (
            Field("site", "Site", hint="e.g. na.myconnectwise.net"),
            Field("company_id", "Company ID"),
            Field("public_key", "Public key"),
            Field("private_key", "Private key", secret=True, hint="shown once by ConnectWise; stored encrypted"),
            Field("client_id", "clientId", hint="from developer.connectwise.com"),
        ),
    ),
    "hubspot": (
        "HubSpot",
        (
            Field("token", "Private app token", secret=True),
            Field("base_url", "API URL", hint="https://api.hubapi.com"),
        ),
    ),
    "hudu": (
        "Hudu",
        (
            Field("base_url", "URL", hint="e.g. https://acme.huducloud.com"),
            Field("api_key", "API key", secret=True),
        ),
    ),
}
REQUIRED = {"connectwise": ("site", "company_id", "public_key", "private_key", "client_id")}


def secret_name(system: str, key: str) -> str:
    """The stored secret a connection field goes to: `connectwise.private_key`, `hubspot.token` ..."""
    return f"{system}.{key}"


def _config_path(ctx: Ctx) -> Path:
    source = ctx.server.config.source
    if source is None:
        raise ConsoleError(409, "No configuration file", "this server was started without one (`cwsync serve -c`)")
    return Path(source)


def _current(ctx: Ctx) -> Config:
    try:
        return load_config(_config_path(ctx))
    except ConfigError as exc:
        raise ConsoleError(422, "The configuration file does not load", exc.render()) from None


def _shown(config: Config, system: str, key: str) -> str:
    """A plain field's value as the file has it (secret fields are never shown)."""
    section = getattr(config.connections, system, None)
    if section is None:
        return ""
    value = getattr(section, key, "")
    return "" if isinstance(value, SecretStr) else str(value or "")


async def _view(ctx: Ctx, checks: list[CheckResult] | None = None, tested: str | None = None) -> Response:
    config = _current(ctx)
    stored = await ctx.state.vault.names(ctx.tenant)
    systems: list[dict[str, Any]] = []
    for system, (title, fields) in SYSTEMS.items():
        rows = []
        section = getattr(config.connections, system, None)
        for field in fields:
            row: dict[str, Any] = {"field": field, "name": f"{system}.{field.key}"}
            if field.secret:
                raw = getattr(section, field.key, None) if section is not None else None
                text = raw.get_secret_value() if isinstance(raw, SecretStr) else ""
                ref = SECRET_REF.match(text)
                row["state"] = (
                    ("set" if ref.group(1) in stored else "not set")
                    if ref
                    else ("in the file or environment" if text else "not set")
                )
            else:
                row["value"] = _shown(config, system, field.key)
            rows.append(row)
        systems.append({"key": system, "title": title, "rows": rows, "configured": section is not None})
    return ctx.render(
        "connections.html", title="Connections", systems=systems, checks=checks, tested=tested, file=_config_path(ctx)
    )


@router.get("/connections")
async def connections(ctx: Annotated[Ctx, Depends(require_user())]) -> Response:
    """The three connections, plain fields filled in, secrets "set" / "not set"."""
    return await _view(ctx)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and len(v) <= 4096}


@router.post("/connections/{system}")
async def save(system: str, ctx: Annotated[Ctx, Depends(require_user("admin"))]) -> Response:
    """Save one connection: plain fields to the file, secrets sealed in the store (the file names them)."""
    if system not in SYSTEMS:
        raise ConsoleError(404, "Unknown connection", f"one of {', '.join(SYSTEMS)}")
    form = await _form(ctx.request)
    current = _current(ctx)
    section = getattr(current.connections, system, None)
    changes: dict[tuple[str, ...], Any] = {}
    secrets: dict[str, str] = {}
    stored = await ctx.state.vault.names(ctx.tenant)
    for field in SYSTEMS[system][1]:
        value = form.get(field.key, "")
        path = ("connections", system, field.key)
        if field.secret:
            name = secret_name(system, field.key)
            if value:
                secrets[name] = value
                changes[path] = f"${{secret:{name}}}"
            elif section is None or getattr(section, field.key, None) is None:
                if name not in stored:
                    raise ConsoleError(422, "Missing value", f"{field.label} is required the first time")
                changes[path] = f"${{secret:{name}}}"
        elif value:
            changes[path] = value
        elif field.key in REQUIRED.get(system, ()):
            raise ConsoleError(422, "Missing value", f"{field.label} is required")
    for name, value in secrets.items():  # sealed first: the file may only name secrets that exist
        await ctx.state.vault.put(ctx.tenant, name, value)
    register_secrets(list(secrets.values()))  # no log line shows them
    try:
        update_config_file(_config_path(ctx), changes)
    except ConfigError as exc:
        raise ConsoleError(422, "Not saved: the configuration would not load", exc.render()) from None
    title = SYSTEMS[system][0]
    return ctx.redirect("/connections", f"{title} saved ({await apply_saved(ctx)}). Test it below.")


@router.post("/connections/{system}/test")
async def test(system: str, ctx: Annotated[Ctx, Depends(require_user(viewer_may_post=True))]) -> Response:
    """Run the checklist of one connection with what the file and the store hold now (writes nothing)."""
    if system not in SYSTEMS:
        raise ConsoleError(404, "Unknown connection", f"one of {', '.join(SYSTEMS)}")
    try:
        config = await resolve_secrets(_current(ctx), ctx.server.store, keys=ctx.state.vault.keys)
    except ConfigError as exc:
        checks = [CheckResult("Settings complete", "fail", exc.render(), fix="enter the missing values above")]
        return await _view(ctx, checks, system)
    checks = await _checks(system, config)
    if ctx.request.headers.get("hx-request"):
        return ctx.render("checklist.html", checks=checks, tested=system, title=SYSTEMS[system][0])
    return await _view(ctx, checks, system)


async def _checks(system: str, config: Config) -> list[CheckResult]:
    try:
        if system == "connectwise":
            return (await run_doctor(connectwise_settings(config))).checks
        if system == "hubspot":
            settings = hubspot_settings(config)
            if settings is None:
                return [CheckResult("HubSpot configured", "fail", "no connections.hubspot", fix="save the form above")]
            return await check_hubspot(settings)
        settings_hudu = hudu_settings(config)
        async with HuduClient(settings_hudu) as hudu:
            info = await hudu.test_connection()
        return [CheckResult("Hudu reachable and key valid", "ok", f"Hudu {info.get('version', '?')}")]
    except ConfigError as exc:
        return [CheckResult("Settings complete", "fail", exc.render(), fix="enter the missing values above")]
    except CwsyncApiError as exc:
        return [CheckResult("Connection", "fail", exc.message, fix=exc.hint)]
    except ValueError as exc:
        return [CheckResult("Settings valid", "fail", str(exc), fix="correct the values above")]
