"""Checks the connectors' settings share: an API base URL, a secret that is present."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import SecretStr


def usable_base_url(value: str, example: str) -> str:
    """`value` as an API base URL without a trailing slash; ValueError (naming `example`) when it cannot be one."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise ValueError(f"base_url {value!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http(s) URL such as {example}, not {value!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError("base_url must not carry a user name, password, query or fragment")
    return value.rstrip("/")


def present_secret(value: SecretStr, message: str) -> SecretStr:
    """`value`, unless it is empty or holds whitespace (ValueError with `message`)."""
    text = value.get_secret_value()
    if not text.strip() or any(ch.isspace() for ch in text):
        raise ValueError(message)
    return value
