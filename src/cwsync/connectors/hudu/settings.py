"""Connection settings for one Hudu instance."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from cwsync.connectors.http.checks import present_secret, usable_base_url

__all__ = ["API_PATH", "HuduSettings"]

API_PATH = "/api/v1"


class HuduSettings(BaseModel):
    """How to reach one Hudu instance with an API key (Admin → Basic Information → API Keys).

    `base_url` is the instance URL (`https://acme.huducloud.com`); a trailing `/api/v1` is accepted and dropped.
    Hudu allows 300 requests a minute (notes B1); `requests_per_minute` defaults a little below that so a sync
    never runs into 429s and leaves room for other users of the same key. `rate_limit_pause` is how long to hold
    off after a 429 that carries no Retry-After (UNCONFIRMED whether Hudu sends one).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    api_key: SecretStr
    base_url: str
    timeout: float = 30.0
    max_concurrency: int = 4
    requests_per_minute: int = 280
    rate_limit_pause: float = 60.0
    page_size: int = 100

    @field_validator("api_key")
    @classmethod
    def _key_present(cls, value: SecretStr) -> SecretStr:
        return present_secret(value, "api_key is the Hudu API key and cannot be empty or contain spaces")

    @field_validator("base_url")
    @classmethod
    def _base_url_usable(cls, value: str) -> str:
        trimmed = usable_base_url(value, "https://acme.huducloud.com")
        return trimmed[: -len(API_PATH)] if trimmed.endswith(API_PATH) else trimmed

    @field_validator("timeout", "rate_limit_pause")
    @classmethod
    def _positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"must be above 0 seconds, not {value}")
        return value

    @field_validator("max_concurrency", "requests_per_minute", "page_size")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1, not {value}")
        return value

    @property
    def api_url(self) -> str:
        """Where the API lives: `base_url` + `/api/v1`."""
        return self.base_url + API_PATH
