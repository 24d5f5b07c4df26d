"""Connection settings for one ConnectWise Manage site, and how a site as typed becomes an API host (CW-1)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

from cwsync.connectors.http import ConfigurationError, RequestLimits

__all__ = ["ConnectWiseSettings", "SiteAddress", "normalize_site"]

_CLOUD_REGION = re.compile(r"(na|eu|au|za|aus)\.myconnectwise\.net")
_CLOUD_API = re.compile(r"api-(na|eu|au|za|aus)\.myconnectwise\.net|api-staging\.connectwisedev\.com")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_DEFAULT_PORTS: Mapping[str, int] = MappingProxyType({"http": 80, "https": 443})
_EXAMPLES = "e.g. na.myconnectwise.net, cw.example.com or https://cw.example.com:8443"


@dataclass(frozen=True, slots=True)
class SiteAddress:
    """Where the API lives: scheme, host and port (None for the scheme's default)."""

    scheme: str
    host: str
    port: int | None = None

    @property
    def origin(self) -> str:
        """`scheme://host[:port]`, the prefix of every URL on the site."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + (f":{self.port}" if self.port else "")

    @property
    def is_cloud(self) -> bool:
        """True for ConnectWise-hosted API hosts (always HTTPS)."""
        return _CLOUD_API.fullmatch(self.host) is not None


def normalize_site(site: str) -> SiteAddress:
    """Turn a site as a user types it into the API host.

    Accepts a bare host (`na.myconnectwise.net`, `cw.example.com`), an URL with any path (which is dropped:
    `https://na.myconnectwise.net/v4_6_release/apis/3.0`), an `api-` host, or an explicit `http://` URL (kept,
    for local sandboxes). No scheme means https. Cloud login hosts map to their `api-` host.

    Raises:
        ConfigurationError: the text is not a usable site; the message shows what one looks like.
    """
    text = site.strip() if isinstance(site, str) else ""
    if not text or any(ch.isspace() for ch in text):
        raise _bad_site(site, "it is empty or contains spaces")
    scheme, has_scheme, rest = text.partition("://")
    scheme, rest = (scheme.lower(), rest) if has_scheme else ("https", text)
    if scheme not in _DEFAULT_PORTS:
        raise _bad_site(site, f"the scheme must be http or https, not {scheme!r}")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise _bad_site(site, "it must not contain a user name or password")
    host, port = _host_and_port(site, authority)
    if _CLOUD_REGION.fullmatch(host) or host == "staging.connectwisedev.com":
        host = f"api-{host}"
    address = SiteAddress(scheme, host, None if port == _DEFAULT_PORTS[scheme] else port)
    if address.is_cloud:
        # ConnectWise cloud answers plain HTTP with "SSL is required"; http:// there is always a typo.
        address = SiteAddress("https", host, address.port)
    return address


def _host_and_port(site: str, authority: str) -> tuple[str, int | None]:
    try:
        parts = urlsplit(f"//{authority}")
        host, port = (parts.hostname or ""), parts.port
    except ValueError as exc:
        raise _bad_site(site, f"the host or port is invalid ({exc})") from exc
    if port == 0:
        raise _bad_site(site, "port 0 is not a port")
    if not _valid_host(host):
        raise _bad_site(site, f"{host or authority!r} is not a host name")
    return host, port


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
    return True


def _bad_site(site: object, reason: str) -> ConfigurationError:
    shown = re.sub(r"(?<=://)[^/@]*@|^[^/@]*@", "***@", site) if isinstance(site, str) else site
    return ConfigurationError(
        f"{shown!r} is not a valid ConnectWise site: {reason}",
        hint=f"Give the host you log in at, {_EXAMPLES}.",
    )


class ConnectWiseSettings(BaseModel):
    """How to reach and authenticate with one ConnectWise Manage site (an API member's keys)."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    site: str
    company_id: str
    public_key: str
    private_key: SecretStr
    client_id: str
    api_version: str = "2025.8"
    codebase: str | None = None
    page_size: int = 1000
    timeout: float = 30.0
    max_concurrency: int = 8
    requests_per_minute: int | None = 900

    @field_validator("site")
    @classmethod
    def _site_is_usable(cls, value: str) -> str:
        try:
            normalize_site(value)
        except ConfigurationError as exc:
            raise ValueError(f"{exc.message}. {exc.hint}") from None
        return value

    @field_validator("company_id")
    @classmethod
    def _company_id_is_login_company(cls, value: str) -> str:
        if not value or any(ch.isspace() or ch in "+:/" for ch in value):
            raise ValueError(
                "company_id is the company you type on the ConnectWise login screen: "
                "it cannot be empty or contain spaces, '+', ':' or '/'"
            )
        return value

    @field_validator("public_key")
    @classmethod
    def _public_key_present(cls, value: str) -> str:
        if not value or ":" in value:
            raise ValueError("public_key is the API member's public key and cannot be empty or contain ':'")
        return value

    @field_validator("private_key")
    @classmethod
    def _private_key_present(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("private_key is the API member's private key and cannot be empty")
        return value

    @field_validator("client_id")
    @classmethod
    def _client_id_present(cls, value: str) -> str:
        if not value:
            raise ValueError("client_id cannot be empty: register one at developer.connectwise.com/ClientID")
        return value

    @field_validator("api_version")
    @classmethod
    def _api_version_is_release(cls, value: str) -> str:
        if not re.fullmatch(r"\d+(\.\d+){1,2}", value):
            raise ValueError(f"api_version must be a ConnectWise release such as '2025.8', not {value!r}")
        return value

    @field_validator("codebase")
    @classmethod
    def _codebase_ends_in_slash(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip("/")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"codebase looks like 'v2025_1' or 'v4_6_release', not {value!r}")
        return f"{name}/"

    @field_validator("page_size")
    @classmethod
    def _page_size_in_range(cls, value: int) -> int:
        if not 1 <= value <= 1000:
            raise ValueError(f"page_size must be between 1 and 1000 (ConnectWise's maximum), not {value}")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"timeout is in seconds and must be above 0, not {value}")
        return value

    @field_validator("max_concurrency")
    @classmethod
    def _concurrency_positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"max_concurrency must be at least 1, not {value}")
        return value

    @field_validator("requests_per_minute")
    @classmethod
    def _rate_positive(cls, value: int | None) -> int | None:
        if value is not None and value < 1:
            raise ValueError(f"requests_per_minute must be at least 1 (or null for no limit), not {value}")
        return value

    @property
    def address(self) -> SiteAddress:
        """The API host the site maps to."""
        return normalize_site(self.site)

    @property
    def limits(self) -> RequestLimits:
        """The per-connection concurrency cap and rate limit."""
        return RequestLimits(max_concurrency=self.max_concurrency, requests_per_minute=self.requests_per_minute)
