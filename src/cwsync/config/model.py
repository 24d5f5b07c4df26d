"""The configuration file, as one pydantic model (PL-1).

One YAML file holds connections (secrets may come from `${ENV_VARS}`), the sync integrations with their objects,
field mapping changes on top of the documented defaults, value maps, filters and schedules. `load_config` (in
`loader.py`) turns it into a `Config`; every error names the file, line and field.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, SecretStr, field_validator

from cwsync.config.catalog import CatalogSync
from cwsync.config.changes import ChangesConfig
from cwsync.config.hudu import HuduConnection, HuduSync
from cwsync.config.mirror import MirrorSync
from cwsync.config.vocabulary import ConflictPolicy, Direction


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConnectWiseConnection(_Model):
    """ConnectWise Manage credentials (see docs/connectwise.md)."""

    site: str
    company_id: str
    public_key: str
    private_key: SecretStr
    client_id: str
    api_version: str = "2025.8"
    max_concurrency: int = Field(8, ge=1, le=64)
    requests_per_minute: int | None = Field(900, ge=1)


class HubSpotConnection(_Model):
    """HubSpot private-app (or project app) token and where to reach the API."""

    token: SecretStr
    base_url: str = "https://api.hubapi.com"
    api_version: str = "v3"
    requests_per_10s: int = Field(190, ge=1)


class Connections(_Model):
    """Every external system the engine talks to."""

    connectwise: ConnectWiseConnection
    hubspot: HubSpotConnection | None = None
    hudu: HuduConnection | None = None


class FieldChange(_Model):
    """A mapping added on top of the defaults: a ConnectWise field and the other side's field."""

    connectwise: str = Field(min_length=1)
    other: str = Field(min_length=1, alias="hubspot")
    direction: str = "<->"
    type: str | None = None
    other_type: str | None = None
    value_map: dict[str, str] | None = None
    transform: str | None = None
    label: str | None = Field(None, min_length=1, max_length=100, description="the HubSpot property's label (HS-5)")
    group: str | None = Field(
        None, pattern=r"^[a-z0-9_]{1,100}$", description="the HubSpot property group it goes in (made when missing)"
    )

    @field_validator("direction")
    @classmethod
    def _direction(cls, value: str) -> str:
        return Direction.parse(value).value


class FieldsConfig(_Model):
    """Changes to an object's default field mappings."""

    add: list[FieldChange] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)
    direction: dict[str, str] = Field(default_factory=dict)

    @field_validator("direction")
    @classmethod
    def _directions(cls, value: dict[str, str]) -> dict[str, str]:
        return {name: Direction.parse(text).value for name, text in value.items()}


FilterOp = Literal["eq", "ne", "in", "not_in", "contains", "not_contains", "exists", "not_exists", "gt", "lt"]


class FilterRule(_Model):
    """Only records that pass every rule of their side sync (HS-7)."""

    field: str = Field(min_length=1)
    op: FilterOp = "eq"
    value: Any = None


class FiltersConfig(_Model):
    """Filters per side; the object's standard filters always apply too."""

    connectwise: list[FilterRule] = Field(default_factory=list)
    other: list[FilterRule] = Field(default_factory=list, alias="hubspot")


class ObjectSync(_Model):
    """One object pair of an integration (e.g. ConnectWise companies ↔ HubSpot companies)."""

    enabled: bool = True
    direction: str | None = None
    match: list[str] | None = None
    fields: FieldsConfig = Field(default_factory=FieldsConfig)
    value_maps: dict[str, dict[str, str]] = Field(default_factory=dict)
    filters: FiltersConfig = Field(default_factory=FiltersConfig)
    conflict_policy: str | None = None
    on_delete: Literal["archive", "flag", "unlink", "ignore"] = Field(
        "archive",
        description="when the ConnectWise record is deleted: archive its counterpart; flag it (`cw_deleted` set in"
        " HubSpot, the link kept and no longer synced); unlink it (the link dropped, the counterpart left as it is);"
        " or ignore it (the link kept and no longer synced)",
    )
    on_hubspot_delete: Literal["ignore", "recreate"] = Field(
        "ignore",
        description="when the counterpart of a linked record is deleted (archived) in HubSpot: leave the ConnectWise"
        " record unsynced until the counterpart is restored, or drop the link so it is created again",
    )
    on_filtered: Literal["keep", "archive"] = Field(
        "keep",
        description="when a linked record stops passing the filters (or turns inactive): keep its counterpart and"
        " stop syncing it, or archive the counterpart",
    )

    @field_validator("direction")
    @classmethod
    def _direction(cls, value: str | None) -> str | None:
        return None if value is None else Direction.parse(value).value

    @field_validator("conflict_policy")
    @classmethod
    def _policy(cls, value: str | None) -> str | None:
        return None if value is None else ConflictPolicy.parse(value).value


class Schedule(_Model):
    """How often the scheduler runs the integration."""

    incremental_minutes: float = Field(5, gt=0)
    full_hours: float = Field(24, gt=0)


HubSpotObject = Literal["companies", "contacts", "deals"]


def _every_object() -> dict[HubSpotObject, ObjectSync]:
    return {"companies": ObjectSync(), "contacts": ObjectSync(), "deals": ObjectSync()}


class PropertyGroup(_Model):
    """The HubSpot property group cwsync's own properties go in (created when missing)."""

    name: str = Field("cwsync", pattern=r"^[a-z0-9_]{1,100}$")
    label: str = Field("ConnectWise (cwsync)", min_length=1, max_length=100)


class HubSpotSync(_Model):
    """Two-way CRM sync with HubSpot (HS-1..11)."""

    enabled: bool = True
    conflict_policy: str = "connectwise-wins"
    mass_delete_share: float = Field(0.9, gt=0, le=1, description="a full run archiving more than this share stops")
    property_group: PropertyGroup = Field(default_factory=PropertyGroup)
    schedule: Schedule = Field(default_factory=Schedule)
    objects: dict[HubSpotObject, ObjectSync] = Field(default_factory=lambda: _every_object())

    @field_validator("conflict_policy")
    @classmethod
    def _policy(cls, value: str) -> str:
        return ConflictPolicy.parse(value).value


class Syncs(_Model):
    """Every integration that can be switched on."""

    hubspot: HubSpotSync | None = None
    changes: ChangesConfig | None = None
    hudu: HuduSync | None = None
    catalog: CatalogSync | None = None
    mirror: MirrorSync | None = None


class ServerLimits(_Model):
    """What one request to `cwsync serve` may carry (docs/security.md); larger or deeper is refused with 413/400."""

    webhook_body_bytes: int = Field(256 * 1024, ge=1024, le=64 * 1024 * 1024, description="/hooks/* bodies")
    api_body_bytes: int = Field(1024 * 1024, ge=1024, le=256 * 1024 * 1024, description="/api/* and other bodies")
    json_depth: int = Field(64, ge=4, le=512, description="nesting levels of a JSON body")


class ServerConfig(_Model):
    """`cwsync serve`: where it listens, how the outside world reaches it, and the secrets webhooks carry."""

    host: str = "127.0.0.1"
    port: int = Field(8720, ge=0, le=65535)
    public_url: str = Field("http://127.0.0.1:8720", description="how ConnectWise and HubSpot reach this server")
    callback_token: SecretStr | None = Field(
        None,
        description="deprecated: only for callbacks installed before 0.2, whose URL held it; `cwsync callbacks install`"
        " moves them to the URL without it (callbacks are authenticated by ConnectWise's signature)",
    )
    hubspot_client_secret: SecretStr | None = Field(None, description="verifies X-HubSpot-Signature-v3")
    api_token: SecretStr | None = Field(None, description="Bearer token the REST API requires (none set: API closed)")
    allow_http_key_urls: list[str] = Field(
        default_factory=list, description="hosts whose plain-http callback key URLs are trusted (the local sandbox)"
    )
    limits: ServerLimits = Field(default_factory=ServerLimits)
    cors_origins: list[str] = Field(
        default_factory=list, description="origins (scheme://host[:port]) browsers may call the API from; none: no CORS"
    )


class Config(_Model):
    """The whole configuration file."""

    version: Literal[1] = 1
    tenant: str = Field("default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    store: str = "sqlite:///cwsync.db"
    connections: Connections
    syncs: Syncs = Field(default_factory=Syncs)
    server: ServerConfig = Field(default_factory=ServerConfig)
    _source: str | None = PrivateAttr(default=None)
    """The file it was loaded from (`load_config`): checks made later (schemas) name its lines too."""

    @property
    def source(self) -> str | None:
        """The file the configuration was loaded from, if any."""
        return self._source

    @field_validator("store")
    @classmethod
    def _store(cls, value: str) -> str:
        return check_store_url(value)


STORE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgres", "postgresql+asyncpg")
"""The `store:` URL schemes the store opens (`cwsync.store.store` maps each to its async driver)."""

_STORE_FORMS = "use sqlite:///path/to/cwsync.db or postgresql://user@host/database"


def check_store_url(value: str) -> str:
    """`value` when it is a store URL the store can open (scheme, and a file for SQLite); else ValueError saying
    which forms work. Reachability is checked where the store is opened (`cwsync doctor`, start)."""
    scheme, sep, rest = value.strip().partition("://")
    if not sep or not scheme:
        raise ValueError(f"not a database URL: {_STORE_FORMS}")
    if scheme.lower() not in STORE_SCHEMES:
        raise ValueError(f"unsupported database URL scheme {scheme!r}: {_STORE_FORMS}")
    if scheme.lower().startswith("sqlite"):
        path = rest.removeprefix("/").split("?", 1)[0]
        if not path or path == ":memory:":
            raise ValueError(f"SQLite needs a file (in-memory SQLite is not supported): {_STORE_FORMS}")
    elif not rest.split("?", 1)[0].strip("/"):
        raise ValueError(f"PostgreSQL needs a host or a database: {_STORE_FORMS}")
    return value.strip()


def secret_values(model: BaseModel) -> list[str]:
    """Every secret a configuration holds (each `SecretStr`, nested models and containers walked): what logs and
    URLs must never show (`cwsync.logs.register_secrets`)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            if value.get_secret_value():
                found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(model)
    return found
