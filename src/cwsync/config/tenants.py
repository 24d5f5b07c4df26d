"""Many tenants in one deployment: a directory of tenant files, one configuration file per tenant.

::

    tenants/
      acme.yaml        # tenant: acme  — its own connections, integrations, schedules, secrets
      globex.yaml      # tenant: globex

Each file is an ordinary configuration (`load_config`), so a single-tenant file moves in unchanged. The
deployment's rules, checked by `load_tenants` (and `cwsync tenants check`), every problem named with its file:

- a tenant's name is its file's name (`acme.yaml` holds `tenant: acme`), so names are unique;
- every tenant uses the same `store:` (one database; every table is keyed by tenant);
- each tenant's `server.public_url` ends in `/t/<tenant>`: the tenant's webhook URLs and REST API live under that
  path of the one server (`/t/acme/hooks/connectwise/acme`, `/t/acme/api/runs`), never a secret in them;
- no two tenants share a REST API token (a token opens its own tenant's API only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from cwsync.config.loader import ConfigError, ConfigProblem, load_config
from cwsync.config.model import Config

__all__ = ["TENANT_PREFIX", "TENANT_SCOPE_KEY", "check_tenants", "load_tenants", "tenant_files", "tenant_path"]

TENANT_PREFIX = "/t"
"""Where each tenant's routes live on a many-tenant server: `/t/<tenant>/...`."""
TENANT_SCOPE_KEY = "cwsync.tenant"
"""The ASGI scope key of the tenant a `/t/<tenant>/...` console page names (`server.deployment.TenantRoutes`)."""

SUFFIXES = (".yaml", ".yml")


def tenant_path(tenant: str) -> str:
    """The path prefix of a tenant's routes (`/t/acme`)."""
    return f"{TENANT_PREFIX}/{tenant}"


def tenant_files(directory: Path) -> list[Path]:
    """The tenant files of a directory, by name; a ConfigError when there is no such directory or no file in it."""
    if not directory.is_dir():
        raise ConfigError(directory, [ConfigProblem(None, "", "no such directory of tenant files")])
    files = sorted(p for p in directory.iterdir() if p.suffix in SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(directory, [ConfigProblem(None, "", "no tenant file (*.yaml) in this directory")])
    return files


def load_tenants(directory: Path, *, environ: Mapping[str, str] | None = None) -> list[Config]:
    """Every tenant of a directory, checked (`check_tenants`); the first file's or the deployment's ConfigError."""
    configs = [load_config(path, environ=environ) for path in tenant_files(directory)]
    problems = check_tenants(configs)
    if problems:
        raise problems[0]
    return configs


def check_tenants(configs: Sequence[Config]) -> list[ConfigError]:
    """What breaks the deployment's rules (module docstring), one ConfigError per file at fault."""
    found: list[ConfigError] = []
    stores = {c.store for c in configs}
    tokens: dict[str, str] = {}
    for config in configs:
        problems = _own_problems(config, stores, configs[0])
        token = config.server.api_token.get_secret_value() if config.server.api_token else ""
        if token and token in tokens:
            problems.append(ConfigProblem(None, "server.api_token", f"the same token as tenant {tokens[token]!r}"))
        if token:
            tokens.setdefault(token, config.tenant)
        if problems:
            found.append(ConfigError(config.source or config.tenant, problems))
    return found


def _own_problems(config: Config, stores: set[str], first: Config) -> list[ConfigProblem]:
    problems = []
    stem = Path(config.source).stem if config.source else config.tenant
    if config.tenant != stem:
        problems.append(ConfigProblem(None, "tenant", f"{config.tenant!r} is not its file's name ({stem!r})"))
    if len(stores) > 1 and config.store != first.store:
        problems.append(ConfigProblem(None, "store", f"every tenant needs the same store (the first is {first.store})"))
    if not config.server.public_url.rstrip("/").endswith(tenant_path(config.tenant)):
        want = f"https://<your server>{tenant_path(config.tenant)}"
        problems.append(ConfigProblem(None, "server.public_url", f"must end in {tenant_path(config.tenant)} ({want})"))
    return problems
