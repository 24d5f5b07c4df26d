"""Connection settings for one Hudu instance."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

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
        text = value.get_secret_value()
        if not text.strip() or any(ch.isspace() for ch in text):
            raise ValueError("api_key is the Hudu API key and cannot be empty or contain spaces")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url_usable(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError as exc:
            raise ValueError(f"base_url {value!r} is not a URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL such as https://acme.huducloud.com, not {value!r}")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("base_url must not carry a user name, password, query or fragment")
        trimmed = value.rstrip("/")
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
