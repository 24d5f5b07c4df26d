"""Connection settings for one HubSpot account, and the URL paths each API version uses.

HubSpot serves two path families from the same root (notes §0.1, A1): the legacy `/crm/v3/...` (associations
`/crm/v4/...`) and the date-based `/crm/objects/2026-03/...`, `/crm/associations/2026-03/...`,
`/crm/properties/2026-03/...`, `/crm/pipelines/2026-03/...`. `api_version` picks the family; `HubSpotPaths`
builds every path from it so the client never spells a version itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from cwsync.connectors.http import RequestLimits
from cwsync.connectors.http.checks import present_secret, usable_base_url

__all__ = ["HubSpotPaths", "HubSpotSettings"]

_DATE_VERSION = re.compile(r"\d{4}-\d{2}(-beta)?")


@dataclass(frozen=True, slots=True)
class HubSpotPaths:
    """Path prefixes (relative to the base URL) for one API version: `"v3"` or a date such as `"2026-03"`."""

    api_version: str

    @property
    def is_date_based(self) -> bool:
        """True for the date-versioned API (`/crm/objects/2026-03/...`)."""
        return self.api_version != "v3"

    def objects(self, object_type: str) -> str:
        """`/crm/v3/objects/{type}` or `/crm/objects/{date}/{type}`."""
        return self._crm("objects", "v3") + f"/{object_type}"

    def properties(self, object_type: str) -> str:
        """`/crm/v3/properties/{type}` or `/crm/properties/{date}/{type}`."""
        return self._crm("properties", "v3") + f"/{object_type}"

    def pipelines(self, object_type: str) -> str:
        """`/crm/v3/pipelines/{type}` or `/crm/pipelines/{date}/{type}`."""
        return self._crm("pipelines", "v3") + f"/{object_type}"

    def associations(self, from_type: str, to_type: str) -> str:
        """Batch associations: `/crm/v4/associations/{from}/{to}` or `/crm/associations/{date}/{from}/{to}`."""
        return self._crm("associations", "v4") + f"/{from_type}/{to_type}"

    def owners(self) -> str:
        """`/crm/v3/owners`: the notes give no date-based form for owners, so both families use v3."""
        return "/crm/v3/owners"

    def _crm(self, api: str, legacy: str) -> str:
        return f"/crm/{api}/{self.api_version}" if self.is_date_based else f"/crm/{legacy}/{api}"


class HubSpotSettings(BaseModel):
    """How to reach one HubSpot account with a private-app (or service-key) token.

    `requests_per_10s` is the per-app burst budget (190 on Professional/Enterprise, 100 on Free/Starter;
    the client also adopts a lower `X-HubSpot-RateLimit-Max` when the server sends one). `search_per_second`
    is the search API's own per-account limit (5/s).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    token: SecretStr
    base_url: str = "https://api.hubapi.com"
    api_version: str = "v3"
    timeout: float = 30.0
    max_concurrency: int = 6
    requests_per_10s: int = 190
    search_per_second: int = 5

    @field_validator("token")
    @classmethod
    def _token_present(cls, value: SecretStr) -> SecretStr:
        return present_secret(value, "token is the private app's access token and cannot be empty or contain spaces")

    @field_validator("base_url")
    @classmethod
    def _base_url_usable(cls, value: str) -> str:
        return usable_base_url(value, "https://api.hubapi.com")

    @field_validator("api_version")
    @classmethod
    def _api_version_known(cls, value: str) -> str:
        if value != "v3" and not _DATE_VERSION.fullmatch(value):
            raise ValueError(f"api_version is 'v3' or a date version such as '2026-03', not {value!r}")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"timeout is in seconds and must be above 0, not {value}")
        return value

    @field_validator("max_concurrency", "requests_per_10s", "search_per_second")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, not {value}")
        return value

    @property
    def paths(self) -> HubSpotPaths:
        """The path builder for `api_version`."""
        return HubSpotPaths(self.api_version)

    @property
    def limits(self) -> RequestLimits:
        """The concurrency cap; request pacing is HubSpot's own (`ratelimit.HubSpotPacer`), so no shared rate."""
        return RequestLimits(max_concurrency=self.max_concurrency, requests_per_minute=None)
