"""ConnectWise settings: site normalisation (CW-1), validation messages, and secrets kept out of sight."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from cwsync.connectors.connectwise import ConfigurationError, ConnectWiseSettings, normalize_site
from cwsync.connectors.http import RequestLimits

SECRET = "Pr1vateKeyValue"


def settings(**overrides: Any) -> ConnectWiseSettings:
    values: dict[str, Any] = {
        "site": "na.myconnectwise.net",
        "company_id": "acme",
        "public_key": "PubKey123",
        "private_key": SECRET,
        "client_id": "8a1c0e2b-1111-2222-3333-444455556666",
    }
    return ConnectWiseSettings(**(values | overrides))


@pytest.mark.parametrize(
    ("site", "origin"),
    [
        ("na.myconnectwise.net", "https://api-na.myconnectwise.net"),
        ("https://na.myconnectwise.net/", "https://api-na.myconnectwise.net"),
        ("https://na.myconnectwise.net/v4_6_release/apis/3.0", "https://api-na.myconnectwise.net"),
        ("https://na.myconnectwise.net/v4_6_release/apis/3.0/?x=1#top", "https://api-na.myconnectwise.net"),
        ("api-na.myconnectwise.net", "https://api-na.myconnectwise.net"),
        ("HTTPS://NA.MyConnectWise.NET", "https://api-na.myconnectwise.net"),
        ("  eu.myconnectwise.net  ", "https://api-eu.myconnectwise.net"),
        ("au.myconnectwise.net", "https://api-au.myconnectwise.net"),
        ("za.myconnectwise.net", "https://api-za.myconnectwise.net"),
        ("aus.myconnectwise.net", "https://api-aus.myconnectwise.net"),
        ("staging.connectwisedev.com", "https://api-staging.connectwisedev.com"),
        ("http://na.myconnectwise.net", "https://api-na.myconnectwise.net"),
        ("cw.example.com", "https://cw.example.com"),
        ("https://cw.example.com:443/", "https://cw.example.com"),
        ("https://cw.example.com:8443/v4_6_release", "https://cw.example.com:8443"),
        ("http://127.0.0.1:8710", "http://127.0.0.1:8710"),
        ("http://localhost:8710/", "http://localhost:8710"),
        ("10.0.0.5", "https://10.0.0.5"),
        ("https://[::1]:8443", "https://[::1]:8443"),
    ],
)
def test_site_normalisation_accepts_what_users_type(site: str, origin: str) -> None:
    """Hosts, URLs with paths, api- hosts, on-premise hosts and explicit http sandboxes all normalise."""
    assert normalize_site(site).origin == origin


@pytest.mark.parametrize(
    "site",
    [
        "ht!tp://na.myconnectwise.net",
        "",
        "   ",
        "na myconnectwise.net",
        "na.myconnectwise.net:99999",
        "cw.example.com:0",
        "ftp://cw.example.com",
        "https://",
        "https://user:pw@cw.example.com",
        "-bad-.example.com",
        "cw..example.com",
        "https://cw.example.com:port/",
    ],
)
def test_site_normalisation_rejects_garbage_with_an_example(site: str) -> None:
    """Unusable sites raise ConfigurationError saying what a valid site looks like."""
    with pytest.raises(ConfigurationError) as caught:
        normalize_site(site)
    assert "is not a valid ConnectWise site" in caught.value.message
    assert caught.value.hint is not None
    assert "na.myconnectwise.net" in caught.value.hint


def test_credentials_typed_into_the_site_are_not_echoed() -> None:
    """A site with user:password is refused without repeating the password."""
    with pytest.raises(ConfigurationError) as caught:
        normalize_site("https://admin:hunter2@cw.example.com")
    assert "hunter2" not in str(caught.value)
    assert "user name or password" in caught.value.message


def test_bad_site_in_settings_is_a_clear_validation_error() -> None:
    """Settings with a garbage site fail validation with the same explanation."""
    with pytest.raises(pydantic.ValidationError) as caught:
        settings(site="ht!tp://na.myconnectwise.net")
    text = str(caught.value)
    assert "site" in text
    assert "not a valid ConnectWise site" in text
    assert "cw.example.com" in text


def test_settings_keep_the_site_as_typed_and_expose_the_api_host() -> None:
    """`site` stays as the user typed it; `address` is the API host it maps to."""
    cfg = settings(site="na.myconnectwise.net/")
    assert cfg.site == "na.myconnectwise.net/"
    assert cfg.address.origin == "https://api-na.myconnectwise.net"
    assert cfg.address.is_cloud


def test_defaults() -> None:
    """Unset values take the documented defaults."""
    cfg = settings()
    assert (cfg.api_version, cfg.codebase, cfg.page_size, cfg.timeout) == ("2025.8", None, 1000, 30.0)
    assert cfg.limits == RequestLimits(max_concurrency=8, requests_per_minute=900)


def test_limits_follow_the_settings() -> None:
    """`limits` carries max_concurrency and requests_per_minute (None turns the rate limit off)."""
    assert settings(max_concurrency=2, requests_per_minute=None).limits == RequestLimits(2, None)


@pytest.mark.parametrize("size", [0, 1001, -5])
def test_page_size_must_fit_connectwise(size: int) -> None:
    """page_size outside 1..1000 is refused with the range in the message."""
    with pytest.raises(pydantic.ValidationError, match="between 1 and 1000"):
        settings(page_size=size)


@pytest.mark.parametrize("size", [1, 1000])
def test_page_size_bounds_are_allowed(size: int) -> None:
    """1 and 1000 are both valid page sizes."""
    assert settings(page_size=size).page_size == size


@pytest.mark.parametrize(("given", "stored"), [("v2025_1", "v2025_1/"), ("/v4_6_release/", "v4_6_release/")])
def test_codebase_override_is_normalised(given: str, stored: str) -> None:
    """A configured codebase always ends in exactly one slash."""
    assert settings(codebase=given).codebase == stored


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("codebase", "v2025 1", "codebase looks like"),
        ("company_id", "my company", "login screen"),
        ("company_id", "acme+x", "login screen"),
        ("company_id", "", "login screen"),
        ("public_key", "", "public key"),
        ("private_key", "  ", "private key"),
        ("client_id", "", "developer.connectwise.com/ClientID"),
        ("api_version", "latest", "such as '2025.8'"),
        ("timeout", 0, "above 0"),
        ("max_concurrency", 0, "at least 1"),
        ("requests_per_minute", 0, "at least 1"),
    ],
)
def test_validation_messages_say_what_is_expected(field: str, value: object, message: str) -> None:
    """Each invalid value is refused with a message naming what a valid one looks like."""
    with pytest.raises(pydantic.ValidationError, match=message.replace("(", r"\(").replace("+", r"\+")):
        settings(**{field: value})


def test_unknown_fields_are_refused() -> None:
    """A typo in a setting name is an error, not silently ignored."""
    with pytest.raises(pydantic.ValidationError, match="pagesize"):
        settings(pagesize=10)


def test_settings_are_frozen() -> None:
    """Settings are a value: they cannot be changed after construction."""
    cfg = settings()
    with pytest.raises(pydantic.ValidationError):
        cfg.page_size = 10  # type: ignore[misc]


def test_private_key_never_shows() -> None:
    """repr, str and JSON dumps of the settings hide the private key."""
    cfg = settings()
    assert SECRET not in repr(cfg)
    assert SECRET not in str(cfg)
    assert SECRET not in cfg.model_dump_json()
    assert cfg.private_key.get_secret_value() == SECRET


def test_private_key_never_shows_in_validation_errors() -> None:
    """A validation failure elsewhere does not echo the private key."""
    with pytest.raises(pydantic.ValidationError) as caught:
        settings(page_size=0)
    assert SECRET not in str(caught.value)
