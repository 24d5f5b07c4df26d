"""`cwsync tenants list | add | check`: the tenant files of a many-tenant deployment (docs/cli.md)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from cwsync.cli.output import console, fail, new_table

if TYPE_CHECKING:
    from cwsync.config import Config

app = typer.Typer(no_args_is_help=True, help="The tenants of a deployment: one configuration file each in a directory.")

TENANTS = typer.Option(
    Path("tenants"), "--tenants", "-t", envvar="CWSYNC_TENANTS", help="The directory of tenant files."
)
JSON = typer.Option(False, "--json", help="Machine-readable output.")


def load_all(directory: Path) -> list[Config]:
    """Every tenant of `directory`, checked; exit 2 naming each file, line and field at fault."""
    from cwsync.config import ConfigError, load_config
    from cwsync.config.model import secret_values
    from cwsync.config.tenants import check_tenants, tenant_files
    from cwsync.logs import register_secrets

    try:
        configs = [load_config(path) for path in tenant_files(directory)]
    except ConfigError as exc:
        fail(2, str(exc), kind="ConfigError", fix="correct the file (docs/configuration.md, docs/deploy.md)")
    for config in configs:
        register_secrets(secret_values(config))
    problems = check_tenants(configs)
    if problems:
        message = "\n".join(str(p) for p in problems)
        fail(2, message, kind="ConfigError", fix="see the rules of a tenants directory in docs/deploy.md")
    return configs


def _integrations(config: Config) -> list[str]:
    return [name for name, sync in config.syncs if sync is not None and getattr(sync, "enabled", True)]


@app.command("list")
def list_tenants(tenants: Path = TENANTS, as_json: bool = JSON) -> None:
    """The tenants: file, ConnectWise site and company, integrations, public URL."""
    configs = load_all(tenants)
    rows: list[dict[str, Any]] = [
        {
            "tenant": c.tenant,
            "file": c.source,
            "connectwise": f"{c.connections.connectwise.site} ({c.connections.connectwise.company_id})",
            "integrations": _integrations(c),
            "public_url": c.server.public_url,
        }
        for c in configs
    ]
    if as_json:
        print(json.dumps({"tenants": rows, "store": configs[0].store.split("://", 1)[0]}))
        return
    table = new_table("tenant", "ConnectWise", "integrations", "public URL")
    for row in rows:
        table.add_row(row["tenant"], row["connectwise"], ", ".join(row["integrations"]), row["public_url"])
    console.print(table)


@app.command()
def check(tenants: Path = TENANTS, as_json: bool = JSON) -> None:
    """Check every tenant file and the deployment's rules (names, one store, URLs, tokens); exit 2 on a problem."""
    from cwsync.integrations.hubspot.run import mappings

    configs = load_all(tenants)
    for config in configs:
        try:
            mappings(config)
        except Exception as exc:  # a MappingError: the file's own mapping problem
            fail(2, f"{config.source}: {exc}", kind="MappingError", fix="correct the mapping (docs/configuration.md)")
    if as_json:
        print(json.dumps({"ok": True, "tenants": [c.tenant for c in configs]}))
        return
    console.print(f"{len(configs)} tenant(s), one store: ok")


NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@app.command()
def add(
    name: str = typer.Argument(..., help="The tenant's name (letters, digits, . _ -): also its file's name."),
    tenants: Path = TENANTS,
    public_url: str = typer.Option(..., help="The deployment's public URL (https://sync.example.com)."),
    store: str = typer.Option(..., help="The deployment's store (postgresql://...); every tenant shares it."),
    as_json: bool = JSON,
) -> None:
    """Write a new tenant file (placeholders to fill in; its secrets from its own CWSYNC_<NAME>_* variables)."""
    from cwsync.config.template import render_template
    from cwsync.config.tenants import tenant_path

    if not NAME.match(name):
        fail(1, f"{name!r} is not a tenant name", kind="InvalidName", fix="use letters, digits, '.', '_' or '-'")
    path = tenants / f"{name}.yaml"
    if path.exists():
        fail(1, f"{path} exists", kind="FileExists", fix="choose another name, or edit that file")
    url = public_url.rstrip("/") + tenant_path(name)
    prefix = "CWSYNC_" + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_"
    text = (
        render_template(store=store).replace("tenant: default", f"tenant: {name}").replace("${CWSYNC_", "${" + prefix)
    )
    text = re.sub(r"public_url: \S+", f"public_url: {url}", text)
    tenants.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if as_json:
        print(json.dumps({"path": str(path), "tenant": name, "public_url": url, "secrets_prefix": prefix}))
        return
    console.print(f"wrote {path}: fill in the placeholders; its secrets come from {prefix}* variables")
    console.print(f"its callbacks and webhooks: {url}/hooks/...; its REST API: {url}/api/...")
