"""The composition root: the store and the clients a configuration names, opened once, closed together.

::

    async with opened(config, hubspot="required") as ctx:     # or "optional" / "none"; hudu=True opens Hudu too
        await HubSpotSync(config, ctx.store, ctx.cw, ctx.hs).run()

The CLI commands, `cwsync serve` and the integrations' helpers all open through here, so a connection is built
from its configuration section in one place.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, SecretStr

from cwsync.config import Config, ConfigError, ConfigProblem
from cwsync.connectors.connectwise import ConnectWiseClient, ConnectWiseSettings
from cwsync.connectors.hubspot import HubSpotClient, HubSpotSettings
from cwsync.connectors.hudu import HuduClient, HuduSettings
from cwsync.store import Store, schema
from cwsync.store.secrets import KeyRing, SecretKeyError, SecretStore, key_file_for

__all__ = [
    "SECRET_REF",
    "Opened",
    "connectwise_settings",
    "hubspot_settings",
    "hudu_settings",
    "on_secrets",
    "opened",
    "resolve_secrets",
    "secret_refs",
]

NO_HUBSPOT = ConfigProblem(None, "connections.hubspot", "the HubSpot sync needs a HubSpot connection")


@dataclass
class Opened:
    """Open connections for one command or server."""

    config: Config
    store: Store
    cw: ConnectWiseClient
    hubspot: HubSpotClient | None = None
    hudu: HuduClient | None = None

    @property
    def hs(self) -> HubSpotClient:
        """The HubSpot client (a ConfigError saying what to add when the configuration has none)."""
        if self.hubspot is None:
            raise ConfigError("<config>", [NO_HUBSPOT])
        return self.hubspot


def connectwise_settings(config: Config) -> ConnectWiseSettings:
    """Client settings from `connections.connectwise`."""
    c = config.connections.connectwise
    return ConnectWiseSettings(
        site=c.site,
        company_id=c.company_id,
        public_key=c.public_key,
        private_key=c.private_key,
        client_id=c.client_id,
        api_version=c.api_version,
        max_concurrency=c.max_concurrency,
        requests_per_minute=c.requests_per_minute,
    )


def hubspot_settings(config: Config) -> HubSpotSettings | None:
    """Client settings from `connections.hubspot` (None when the configuration has no HubSpot connection)."""
    h = config.connections.hubspot
    if h is None:
        return None
    return HubSpotSettings(
        token=h.token, base_url=h.base_url, api_version=h.api_version, requests_per_10s=h.requests_per_10s
    )


def hudu_settings(config: Config) -> HuduSettings:
    """Client settings from `connections.hudu`, or a ConfigError when it is missing or unusable."""
    h = config.connections.hudu
    if h is None:
        raise ConfigError("<config>", [ConfigProblem(None, "connections.hudu", "the Hudu sync needs a connection")])
    try:
        return HuduSettings(
            base_url=h.base_url,
            api_key=h.api_key,
            requests_per_minute=h.requests_per_minute,
            max_concurrency=h.max_concurrency,
            timeout=h.timeout,
        )
    except ValueError as exc:
        raise ConfigError("<config>", [ConfigProblem(None, "connections.hudu", str(exc))]) from exc


SECRET_REF = re.compile(r"^\$\{secret:([A-Za-z0-9_.-]{1,128})\}$")
"""A configuration value that names a stored secret: `${secret:connectwise.private_key}` (the whole value)."""

M = TypeVar("M", bound=BaseModel)
_OBSERVERS: list[Callable[[Sequence[str]], None]] = []


def on_secrets(observer: Callable[[Sequence[str]], None]) -> None:
    """Call `observer` with the plaintext of the stored secrets a configuration resolves (the CLI registers the log
    redactor: no log line shows them)."""
    if observer not in _OBSERVERS:
        _OBSERVERS.append(observer)


def secret_refs(model: BaseModel, where: str = "") -> dict[str, str]:
    """Every `${secret:NAME}` value of a configuration: its dotted field → NAME."""
    found: dict[str, str] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        dotted = f"{where}.{name}" if where else name
        if isinstance(value, BaseModel):
            found.update(secret_refs(value, dotted))
        else:
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if isinstance(text, str) and (match := SECRET_REF.match(text)):
                found[dotted] = match.group(1)
    return found


def _replaced(model: M, values: dict[str, str], where: str = "") -> M:
    update: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        dotted = f"{where}.{name}" if where else name
        if isinstance(value, BaseModel):
            inner = _replaced(value, values, dotted)
            if inner is not value:
                update[name] = inner
        elif dotted in values:
            update[name] = SecretStr(values[dotted]) if isinstance(value, SecretStr) else values[dotted]
    return model.model_copy(update=update) if update else model


async def resolve_secrets(
    config: Config, store: Store, *, keys: KeyRing | None = None, missing: Literal["error", "placeholder"] = "error"
) -> Config:
    """The configuration with each `${secret:NAME}` replaced by the stored secret's plaintext (decrypted here, when
    clients are opened; never written anywhere). A secret not set is a ConfigError naming the field and how to set
    it (with `missing="placeholder"`, the text `not-set:NAME`: `serve` starts so the console can take it, and
    ConnectWise refuses the placeholder until then)."""
    refs = secret_refs(config)
    if not refs:
        return config
    try:
        # `serve` makes the key on first run (the console then seals what is entered); other commands only read it.
        ring = keys or KeyRing.load(key_file_for(config.store), create=missing == "placeholder")
    except SecretKeyError as exc:
        raise ConfigError(config.source or "<config>", [ConfigProblem(None, next(iter(refs)), str(exc))]) from None
    vault = SecretStore(store, ring)
    values: dict[str, str] = {}
    problems = []
    for dotted, name in refs.items():
        try:
            value = await vault.get(config.tenant, name)
        except SecretKeyError as exc:
            raise ConfigError(config.source or "<config>", [ConfigProblem(None, dotted, str(exc))]) from None
        if value is None and missing == "error":
            fix = f"enter it in the console (Connections) or run `cwsync secrets set {name}`"
            problems.append(ConfigProblem(None, dotted, f"the stored secret {name} is not set: {fix}"))
        values[dotted] = value if value is not None else f"not-set:{name}"
    if problems:
        raise ConfigError(config.source or "<config>", problems)
    for observer in _OBSERVERS:
        observer([v for v in values.values() if v and not v.startswith("not-set:")])
    resolved = _replaced(config, values)
    resolved._source = config.source
    return resolved


@asynccontextmanager
async def opened(
    config: Config,
    *,
    hubspot: Literal["required", "optional", "none"] = "optional",
    hudu: bool = False,
    read_only: bool = False,
    missing_secrets: Literal["error", "placeholder"] = "error",
) -> AsyncIterator[Opened]:
    """The store and clients of a configuration, closed afterwards (in reverse order, whatever happens).

    `hubspot="required"` raises a ConfigError without `connections.hubspot`; "optional" opens it when configured.
    `hudu=True` opens the Hudu client (a ConfigError without `connections.hudu`). `read_only` (plans) opens the store
    without creating or migrating it (`cwsync.store.schema.read_only`). Values that name a stored secret
    (`${secret:NAME}`) are decrypted from the store first (`resolve_secrets`; `missing_secrets="placeholder"` for
    `serve`), and `Opened.config` is the resolved configuration.
    """
    if hubspot == "required" and config.connections.hubspot is None:
        raise ConfigError("<config>", [NO_HUBSPOT])
    async with AsyncExitStack() as stack:
        if read_only:
            store = await stack.enter_async_context(schema.read_only(config.store))
        else:
            store = await Store.open(config.store)
            stack.push_async_callback(store.close)
        config = await resolve_secrets(config, store, missing=missing_secrets)
        hs_settings = hubspot_settings(config) if hubspot != "none" else None
        hudu_config = hudu_settings(config) if hudu else None
        cw = await stack.enter_async_context(ConnectWiseClient(connectwise_settings(config)))
        hs = await stack.enter_async_context(HubSpotClient(hs_settings)) if hs_settings is not None else None
        hd = await stack.enter_async_context(HuduClient(hudu_config)) if hudu_config is not None else None
        yield Opened(config, store, cw, hs, hd)
